"""
`cartback email …`: who a store's emails come from, the DKIM key that signs them, and the
secret its email provider signs bounce and complaint webhooks with.

    cartback email configure --store ID [--from 'Shop <orders@shop.example>'] \
        [--reply-to help@shop.example] [--dkim-selector s1 --dkim-key-file key.pem] \
        [--webhook-secret whsec_…]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cartback.commands._common import DatabaseOption, StoreOption, command_container, fail

email_app = typer.Typer(help="Configure a store's email identity.", no_args_is_help=True)

#: A PEM key is a few kilobytes; anything far larger is not one.
MAX_KEY_FILE = 64 * 1024
#: One string of a DNS TXT record holds at most this many characters (RFC 1035).
MAX_TXT_STRING = 255


@email_app.command("configure")
def configure(
    store: StoreOption,
    sender: Annotated[
        str | None,
        typer.Option(
            "--from",
            envvar="CARTBACK_EMAIL_FROM",
            help="The From of the store's emails, 'Shop <orders@shop.example>'; by default "
            "the store's name at no-reply@ its first domain.",
        ),
    ] = None,
    reply_to: Annotated[
        str | None,
        typer.Option(envvar="CARTBACK_EMAIL_REPLY_TO", help="Where replies go."),
    ] = None,
    dkim_selector: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_DKIM_SELECTOR",
            help="The DKIM selector (a DNS label, e.g. s1); give it with --dkim-key-file.",
        ),
    ] = None,
    dkim_key_file: Annotated[
        Path | None,
        typer.Option(
            envvar="CARTBACK_DKIM_KEY_FILE",
            help="The RSA private key (PEM, 2048 bits recommended), sealed at rest; e.g. "
            "`openssl genrsa -out key.pem 2048`.",
        ),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_EMAIL_WEBHOOK_SECRET",
            help="The signing secret (whsec_…) of the provider's webhook; sealed at rest, "
            "never printed; prefer the variable to the option.",
        ),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """
    Set the store's email identity. Prints the DNS TXT record that publishes the DKIM key, and
    the URL to give the email provider's webhook (Resend: delivered, bounced, complained).
    """
    from cartback.services.email_config import configure_email, email_settings

    key_pem = _read_key(dkim_key_file) if dkim_key_file is not None else None
    with command_container(database_url, name="email") as container:
        saved = configure_email(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            store_id=store,
            sender=sender,
            reply_to=reply_to,
            dkim_selector=dkim_selector,
            dkim_key_pem=key_pem,
            webhook_secret=webhook_secret,
        )
        shown = email_settings(saved, container.box)
        base_url = container.settings.base_url.rstrip("/")
    typer.echo(f"store {store} sends email from {shown.sender}")
    if shown.reply_to:
        typer.echo(f"replies go to {shown.reply_to}")
    if shown.dkim_record is not None:
        typer.echo("publish this DNS TXT record for DKIM:")
        typer.echo(f'  {shown.dkim_record.name}  TXT  "{shown.dkim_record.value}"')
        if len(shown.dkim_record.value) > MAX_TXT_STRING:
            typer.echo("  (zone files take it as several quoted strings of at most 255 characters)")
    typer.echo(f"email webhook: {base_url}/webhooks/email/{store}")
    if not shown.webhook_secret_set:
        typer.echo("no webhook secret yet: bounces and complaints are refused until one is set")


def _read_key(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_KEY_FILE:
            fail(f"--dkim-key-file: {path} is too large for a PEM key", 2)
        return path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        fail(f"--dkim-key-file: {path} is not a PEM file", 2)
    except OSError as error:
        fail(f"--dkim-key-file: {error.strerror or error}: {path}", 2)
