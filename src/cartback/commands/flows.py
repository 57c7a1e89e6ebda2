"""
`cartback flows …`: install and show a store's flow definitions (`contract.md` §3, §7).

    cartback flows apply FILE --store ID
    cartback flows list --store ID [--json]
    cartback flows simulate FILE --store ID [--days 7] [--json]

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
from cartback.domain.flows import FlowsInvalid

flows_app = typer.Typer(help="Install and show a store's recovery flows.", no_args_is_help=True)


@flows_app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="The flow file (YAML, contract §7).")],
    store: StoreOption,
    database_url: DatabaseOption = None,
) -> None:
    """
    Validate FILE and make it the store's flows (flows not in it are removed).
    """
    from cartback.services.flows import apply_flows

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read {file}: {error}", 2)
    with command_container(database_url, name="flows") as container:
        try:
            listing = apply_flows(
                uow=container.uow_factory(), clock=container.clock, store_id=store, text=text
            )
        except FlowsInvalid as error:
            for problem in error.problems:
                where = f"{problem.path}: " if problem.path else ""
                typer.echo(
                    f"{file}:{problem.line}:{problem.column}: {where}{problem.message}", err=True
                )
            fail(f"{file}: {error.detail}; nothing changed", 2)
    names = ", ".join(view.name for view in listing.flows)
    typer.echo(
        f"applied {len(listing.flows)} flows to store {store} (version {listing.version}): {names}"
    )


@flows_app.command("list")
def list_(
    store: StoreOption, as_json: JsonOption = False, database_url: DatabaseOption = None
) -> None:
    """
    Show the store's flows, or the shipped defaults it runs while it has applied none.
    """
    from cartback.services.flows import list_flows

    with command_container(database_url, name="flows") as container:
        listing = list_flows(uow=container.uow_factory(read_only=True), store_id=store)
    if as_json:
        typer.echo(json.dumps(_listing_json(listing)))
        return
    if listing.origin == "defaults":
        typer.echo("no flows applied; the store runs the shipped defaults:")
    else:
        typer.echo(f"flows applied (version {listing.version}):")
    for view in listing.flows:
        typer.echo(_line(view.definition))


@flows_app.command("simulate")
def simulate(
    file: Annotated[Path, typer.Argument(help="The flow file to try (YAML, contract §7).")],
    store: StoreOption,
    days: Annotated[
        int, typer.Option("--days", help="Replay the carts left in the last DAYS days (1 to 90).")
    ] = 7,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """
    Replay the store's recent carts through FILE without sending or writing anything, and
    show what would have gone out: touches per step and channel, offers, skips and deferrals.
    """
    from cartback.commands._simulation import print_report
    from cartback.domain.errors import NotFound
    from cartback.domain.simulation_report import report_json
    from cartback.services.simulation import MAX_DAYS, MIN_DAYS, simulate_flows

    if not MIN_DAYS <= days <= MAX_DAYS:
        fail(f"--days must be {MIN_DAYS} to {MAX_DAYS}, not {days}", 2)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read {file}: {error}", 2)
    with command_container(database_url, name="flows") as container:
        try:
            report = simulate_flows(
                uow=container.uow_factory(read_only=True),
                clock=container.clock,
                store_id=store,
                text=text,
                days=days,
            )
        except FlowsInvalid as error:
            for problem in error.problems:
                where = f"{problem.path}: " if problem.path else ""
                typer.echo(
                    f"{file}:{problem.line}:{problem.column}: {where}{problem.message}", err=True
                )
            fail(f"{file}: {error.detail}; nothing simulated", 2)
        except NotFound as error:
            fail(error.detail, 2)
    if as_json:
        typer.echo(json.dumps(report_json(report)))
        return
    print_report(report)


def _line(definition: Any) -> str:
    trigger = definition["trigger"]
    steps = " → ".join(
        f"{s['wait']} {s['channel']}{' +offer' if s['offer'] else ''}" for s in definition["steps"]
    )
    return (
        f"{definition['name']:<24} priority {definition['priority']:<4} "
        f"{'/'.join(trigger['stages']):<24} holdout {definition['holdout']:<5} {steps}"
    )


def _listing_json(listing: Any) -> dict[str, Any]:
    return {
        "origin": listing.origin,
        "version": listing.version,
        "flows": [dict(view.definition) | {"version": view.version} for view in listing.flows],
        "defaults": dict(listing.defaults),
    }
