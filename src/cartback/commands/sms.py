"""
`cartback sms …`: a store's Twilio account, used to verify the inbound webhook's signatures
(STOP/START/HELP replies) and, by the SMS channel, to send.

    cartback sms configure --store ID --account-sid AC… --auth-token … [--from +1…] \
        [--help-text "…"]
"""

from __future__ import annotations

from typing import Annotated

import typer

from cartback.commands._common import command_container

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
        str,
        typer.Option(envvar="CARTBACK_TWILIO_ACCOUNT_SID", help="The Twilio account SID (AC…)."),
    ],
    auth_token: Annotated[
        str,
        typer.Option(
            envvar="CARTBACK_TWILIO_AUTH_TOKEN",
            help="The account's auth token (sealed at rest, never printed); prefer the "
            "variable to the option.",
        ),
    ],
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
    database_url: DatabaseUrl = None,
) -> None:
    """
    Set the store's Twilio account. Point the number's "A message comes in" webhook (HTTP POST)
    at CARTBACK_BASE_URL/webhooks/twilio/STORE_ID/inbound.
    """
    from cartback.services.sms_config import configure_sms, sms_credentials

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
        )
        saved = sms_credentials(uow=container.uow_factory(), box=container.box, store_id=store)
        base_url = container.settings.base_url.rstrip("/")
    typer.echo(f"store {store} uses Twilio account {saved.account_sid}")
    typer.echo(f"inbound webhook: {base_url}/webhooks/twilio/{store}/inbound")
    typer.echo(f"HELP answer: {saved.help_text}")
