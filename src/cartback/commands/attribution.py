"""
`cartback attribution …`: a store's attribution windows (`docs/metrics.md`).

    cartback attribution configure --store ID [--click-window 7d] [--send-window 24h] \
        [--reset FIELD …]
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cartback.commands._common import DatabaseOption, StoreOption, command_container, fail

attribution_app = typer.Typer(
    help="Configure how orders are credited to messages.", no_args_is_help=True
)


@attribution_app.command("configure")
def configure(
    store: StoreOption,
    click_window: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_ATTRIBUTION_CLICK_WINDOW",
            help="Credit an order to a touch clicked this long before it (1h to 30d; 7d).",
        ),
    ] = None,
    send_window: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_ATTRIBUTION_SEND_WINDOW",
            help="Else to a touch sent this long before it (1h to 30d; 24h).",
        ),
    ] = None,
    reset: Annotated[
        list[str] | None,
        typer.Option(
            envvar="CARTBACK_ATTRIBUTION_RESET",
            help="A window to put back to its default (click-window, send-window); repeat.",
        ),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """
    Set the store's attribution windows and print them. Windows not given keep their value.
    """
    from cartback.services.attribution_settings import configure_attribution, windows_json

    changes: dict[str, Any] = {"click_window": click_window, "send_window": send_window}
    changes = {k: v for k, v in changes.items() if v is not None}
    changes.update(dict.fromkeys((name.replace("-", "_") for name in reset or ()), None))
    if not changes:
        fail("nothing to change; give at least one setting", 2)
    with command_container(database_url, name="attribution") as container:
        windows = configure_attribution(
            uow=container.uow_factory(), clock=container.clock, store_id=store, **changes
        )
    typer.echo(json.dumps(windows_json(windows), indent=2))
