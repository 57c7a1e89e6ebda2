"""
`cartback sources alias …`: read a store's own event names as Cartback's e-commerce events,
from every sender (SDKs, the snippet, `/v1/t`). The same as `/v1/sources/aliases`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cartback.commands._common import (
    DatabaseOption,
    JsonOption,
    StoreOption,
    command_container,
    fail,
)
from cartback.sources.segment import alias_target, event_key

alias_app = typer.Typer(
    help="Map a store's own event names to Cartback's events.", no_args_is_help=True
)


@alias_app.command("set")
def set_alias(
    name: Annotated[str, typer.Argument(help="The store's event name, e.g. addToBasket.")],
    event: Annotated[str, typer.Argument(help="Cartback's event, e.g. 'Product Added'.")],
    store: StoreOption,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """
    Read events called NAME as EVENT (any case; underscores count as spaces).
    """
    try:
        target = alias_target(event)
    except ValueError as error:
        fail(f"EVENT: {error}", 2)
    _change(store, _key(name), target, as_json, database_url)


@alias_app.command("remove")
def remove_alias(
    name: Annotated[str, typer.Argument(help="The store's event name.")],
    store: StoreOption,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """
    Stop reading NAME as a Cartback event.
    """
    _change(store, _key(name), None, as_json, database_url)


@alias_app.command("list")
def list_aliases(
    store: StoreOption, as_json: JsonOption = False, database_url: DatabaseOption = None
) -> None:
    """
    The store's aliases.
    """
    from cartback.services.sources import event_aliases
    from cartback.services.stores import get_store

    with command_container(database_url, name="alias") as container:
        found = get_store(uow=container.uow_factory(read_only=True), store_id=store)
    _print(event_aliases(found), as_json)


def _change(
    store: str, name: str, target: str | None, as_json: bool, database_url: str | None
) -> None:
    from cartback.services.sources import set_event_alias

    with command_container(database_url, name="alias") as container:
        aliases = set_event_alias(
            uow=container.uow_factory(),
            clock=container.clock,
            store_id=store,
            name=name,
            target=target,
        )
    _print(aliases, as_json)


def _key(name: str) -> str:
    key = event_key(name)
    if not key or len(key) > 200:
        fail("NAME: must be 1 to 200 characters", 2)
    return key


def _print(aliases: dict[str, str], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"aliases": aliases}, sort_keys=True))
        return
    if not aliases:
        typer.echo("no aliases")
    for name, event in sorted(aliases.items()):
        typer.echo(f"{name}\t→ {event}")
