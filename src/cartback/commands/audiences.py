"""
`cartback audiences …`: install and show a store's ad audience definitions.

    cartback audiences apply FILE --store ID
    cartback audiences list --store ID [--json]

An invalid file is refused whole: every error on stderr as `FILE:LINE:COLUMN: path: message`,
exit 2, nothing changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cartback.commands._common import (
    DatabaseOption,
    JsonOption,
    StoreOption,
    command_container,
    fail,
)
from cartback.domain.audiences import AudiencesInvalid

audiences_app = typer.Typer(help="Install and show a store's ad audiences.", no_args_is_help=True)


@audiences_app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="The audiences file (YAML).")],
    store: StoreOption,
    database_url: DatabaseOption = None,
) -> None:
    """
    Validate FILE and make it the store's audiences (audiences not in it are removed).
    """
    from cartback.services.audiences import apply_audiences

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read {file}: {error}", 2)
    with command_container(database_url, name="audiences") as container:
        try:
            listing = apply_audiences(
                uow=container.uow_factory(), clock=container.clock, store_id=store, text=text
            )
        except AudiencesInvalid as error:
            for problem in error.problems:
                where = f"{problem.path}: " if problem.path else ""
                typer.echo(
                    f"{file}:{problem.line}:{problem.column}: {where}{problem.message}", err=True
                )
            fail(f"{file}: {error.detail}; nothing changed", 2)
    names = ", ".join(view.name for view in listing.audiences)
    typer.echo(
        f"applied {len(listing.audiences)} audiences to store {store} "
        f"(version {listing.version}): {names}"
    )


@audiences_app.command("list")
def list_(
    store: StoreOption, as_json: JsonOption = False, database_url: DatabaseOption = None
) -> None:
    """
    Show the store's audiences, or the built-ins it fills while it has applied none.
    """
    from cartback.services.audiences import audience_definitions

    with command_container(database_url, name="audiences") as container:
        listing = audience_definitions(container.uow_factory(read_only=True), store)
    if as_json:
        typer.echo(json.dumps(_listing_json(listing)))
        return
    if listing.origin == "defaults":
        typer.echo("no audiences applied; the store fills the built-ins:")
    else:
        typer.echo(f"audiences applied (version {listing.version}):")
    for view in listing.audiences:
        typer.echo(_line(view.definition))


def _line(definition: Any) -> str:
    entry = "handed over" if definition["handed_over"] else "/".join(definition["stages"])
    extras = [
        f"when {definition['when']}" if definition["when"] else "",
        "contacts only" if not definition["anonymous"] else "",
        "+offer" if definition["offer"] else "",
    ]
    return (
        f"{definition['name']:<24} {entry:<32} window {definition['window']:<5} "
        + " ".join(e for e in extras if e)
    ).rstrip()


def _listing_json(listing: Any) -> dict[str, Any]:
    return {
        "origin": listing.origin,
        "version": listing.version,
        "audiences": [
            dict(view.definition) | {"version": view.version, "enabled": view.enabled}
            for view in listing.audiences
        ],
    }
