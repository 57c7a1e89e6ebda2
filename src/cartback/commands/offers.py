"""
`cartback offers …`: a store's defaults for the offers its flows give.

    cartback offers configure --store ID [--expires-in 48h] [--max-per-contact N] \
        [--margin-floor 0.25] [--prefix CB-] [--reset FIELD …]
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cartback.commands._common import DatabaseOption, StoreOption, command_container, fail

offers_app = typer.Typer(help="Configure a store's offers.", no_args_is_help=True)


def _option(help_text: str, env: str) -> Any:
    return typer.Option(envvar=f"CARTBACK_OFFERS_{env}", help=help_text)


@offers_app.command("configure")
def configure(
    store: StoreOption,
    expires_in: Annotated[
        str | None,
        _option("How long a code lives unless the flow says (1h to 90d; 48h).", "EXPIRES_IN"),
    ] = None,
    max_per_contact: Annotated[
        int | None,
        _option("At most this many offers per contact in 90 days (no coupon farming).", "MAX"),
    ] = None,
    margin_floor: Annotated[
        str | None,
        _option(
            "The margin to keep after a discount, a fraction (0.25); checked when costs are known.",
            "MARGIN_FLOOR",
        ),
    ] = None,
    prefix: Annotated[
        str | None, _option("Put before every code: up to 8 of A-Z, 2-9, then - (CB-).", "PREFIX")
    ] = None,
    reset: Annotated[
        list[str] | None, _option("A setting to put back to its default; repeat.", "RESET")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """
    Set the store's offer defaults and print them. Settings not given keep their value.
    """
    from cartback.services.offer_settings import configure_offers, rules_json

    changes: dict[str, Any] = {
        "expires_in": expires_in,
        "max_per_contact": max_per_contact,
        "margin_floor": margin_floor,
        "prefix": prefix,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    changes.update(dict.fromkeys((name.replace("-", "_") for name in reset or ()), None))
    if not changes:
        fail("nothing to change; give at least one setting", 2)
    with command_container(database_url, name="offers") as container:
        rules = configure_offers(
            uow=container.uow_factory(), clock=container.clock, store_id=store, **changes
        )
    typer.echo(json.dumps(rules_json(rules), indent=2))
