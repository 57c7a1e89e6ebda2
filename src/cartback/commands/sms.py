"""
`cartback sms …`: a store's Twilio account, used to verify the inbound webhook's signatures
(STOP/START/HELP replies) and, by the SMS channel, to send.

    cartback sms configure --store ID --account-sid AC… --auth-token … [--from +1…] \
        [--help-text "…"] [--segment-budget 2] [--segment-price 0.0083] [--price-currency USD]
    cartback sms configure --store ID --segment-budget 3      # pricing only, account kept
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from cartback.commands._common import command_container

if TYPE_CHECKING:
    from cartback.services.sms_config import SmsPricing

sms_app = typer.Typer(help="Configure SMS (Twilio) for a store.", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", envvar="CARTBACK_DATABASE_URL", help="SQLAlchemy URL."),
]


@sms_app.command("configure")
def configure(
    store: Annotated[
        str, typer.Option("--store", envvar="CARTBACK_STORE_ID", help="The store's id (st_…).")
    ],
    account_sid: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_TWILIO_ACCOUNT_SID",
            help="The Twilio account SID (AC…); leave it and the token out to change only "
            "the budget or price.",
        ),
    ] = None,
    auth_token: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_TWILIO_AUTH_TOKEN",
            help="The account's auth token (sealed at rest, never printed); prefer the "
            "variable to the option.",
        ),
    ] = None,
    sender: Annotated[
        str | None,
        typer.Option(
            "--from",
            envvar="CARTBACK_TWILIO_FROM",
            help="The store's number (E.164) or Messaging Service SID (MG…) texts come from.",
        ),
    ] = None,
    help_text: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_SMS_HELP_TEXT",
            help="The answer to HELP/INFO (at most 320 characters); by default the store's "
            "name, its domain, how to stop and the rates notice.",
        ),
    ] = None,
    sender_kind: Annotated[
        str | None,
        typer.Option(
            help="long_code (1 segment/s, the default), toll_free (3/s) or short_code (100/s): "
            "the carrier's rate the worker paces texts to.",
        ),
    ] = None,
    sender_rate: Annotated[
        int | None,
        typer.Option(help="The sender's own rate in segments per second (e.g. a 10DLC tier)."),
    ] = None,
    segment_budget: Annotated[
        int | None,
        typer.Option(
            envvar="CARTBACK_SMS_SEGMENT_BUDGET",
            help="The most segments a recovery text may take (1 to 10, default 2); longer "
            "texts are shortened, never split further.",
        ),
    ] = None,
    segment_price: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_SMS_SEGMENT_PRICE",
            help="The price of one segment, for each text's cost estimate (default 0.0083, "
            "Twilio's US price).",
        ),
    ] = None,
    price_currency: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_SMS_PRICE_CURRENCY", help="The price's currency (default USD)."
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """
    Set the store's Twilio account, and its texts' segment budget and price. Point the number's
    "A message comes in" webhook (HTTP POST) at CARTBACK_BASE_URL/webhooks/twilio/STORE_ID/inbound.
    Without --account-sid and --auth-token only the budget, price and currency change.
    """
    from cartback.services.sms_config import (
        configure_sms,
        configure_sms_pricing,
        sms_credentials,
        sms_pricing,
    )

    if account_sid is None and auth_token is None:
        with command_container(database_url, name="sms") as container:
            saved_store = configure_sms_pricing(
                uow=container.uow_factory(),
                clock=container.clock,
                store_id=store,
                segment_budget=segment_budget,
                segment_price=_decimal(segment_price),
                price_currency=price_currency,
            )
        _echo_pricing(sms_pricing(saved_store), store)
        return
    if account_sid is None or auth_token is None:
        raise typer.BadParameter("give both --account-sid and --auth-token, or neither")
    with command_container(database_url, name="sms") as container:
        configure_sms(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            store_id=store,
            account_sid=account_sid,
            auth_token=auth_token,
            sender=sender,
            help_text=help_text,
            sender_kind=sender_kind,
            sender_rate=sender_rate,
            segment_budget=segment_budget,
            segment_price=_decimal(segment_price),
            price_currency=price_currency,
        )
        saved = sms_credentials(uow=container.uow_factory(), box=container.box, store_id=store)
        base_url = container.settings.base_url.rstrip("/")
    typer.echo(f"store {store} uses Twilio account {saved.account_sid}")
    typer.echo(f"inbound webhook: {base_url}/webhooks/twilio/{store}/inbound")
    typer.echo(f"HELP answer: {saved.help_text}")
    if (segment_budget, segment_price, price_currency) != (None, None, None):
        _echo_pricing(sms_pricing(saved.store), store)


def _decimal(raw: str | None) -> Decimal | str | None:
    """
    The price as given: the service validates it (a bad one is a clear error, not a crash).
    """
    return raw.strip() if raw is not None else None


def _echo_pricing(pricing: SmsPricing, store: str) -> None:
    typer.echo(
        f"store {store} texts: at most {pricing.segment_budget} segments, "
        f"{pricing.segment_price} {pricing.price_currency} per segment"
    )
