"""
`cartback messages …`, `cartback templates …` and `cartback preview`: what a store's messages
say about it, its own templates, and a look at a flow step's message before it goes out.

    cartback messages configure --store ID [--locale de-DE] [--postal-address "…"] \
        [--support-email …] [--returns-summary "…"] [--returns-url …] \
        [--payment-option Visa …] [--shipping "DE:4.90 free over 50:1-3" …] \
        [--logo-url …] [--brand-color "#0a7c59"] [--restore-link-expiry 30d] [--reset FIELD …]
    cartback templates set NAME --store ID [--channel email] [--locale de] \
        [--subject "…"] [--preheader "…"] [--html-file F] [--text-file F]
    cartback templates list --store ID [--json]
    cartback templates delete NAME --store ID [--channel email] [--locale de]
    cartback preview --store ID --flow F --step N [--cart CART] [--locale L] [--out DIR] [--png]
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

messages_app = typer.Typer(help="Configure what a store's messages say.", no_args_is_help=True)
templates_app = typer.Typer(help="A store's own message templates.", no_args_is_help=True)

ChannelOption = Annotated[
    str, typer.Option(envvar="CARTBACK_TEMPLATE_CHANNEL", help="email or sms.")
]


def _option(help_text: str, env: str) -> Any:
    return typer.Option(envvar=f"CARTBACK_MESSAGES_{env}", help=help_text)


@messages_app.command("configure")
def configure(
    store: StoreOption,
    locale: Annotated[str | None, _option("The messages' locale (en-US, de-DE).", "LOCALE")] = None,
    postal_address: Annotated[
        str | None, _option("The store's postal address (CAN-SPAM); \\n between lines.", "ADDRESS")
    ] = None,
    support_email: Annotated[
        str | None, _option("The address shoppers may write to (Reply-To fallback).", "SUPPORT")
    ] = None,
    returns_summary: Annotated[
        str | None, _option("The returns policy in a sentence.", "RETURNS_SUMMARY")
    ] = None,
    returns_url: Annotated[str | None, _option("The returns policy page.", "RETURNS_URL")] = None,
    payment_option: Annotated[
        list[str] | None, _option("A payment option (Visa, PayPal, Klarna); repeat.", "PAYMENT")
    ] = None,
    shipping: Annotated[
        list[str] | None,
        _option(
            "A shipping rate COUNTRY:COST[:DAYS] (`DE:4.90 free over 50:1-3`, `*:free:3-7`), in "
            "the store's currency; repeat. Replaces the whole table.",
            "SHIPPING",
        ),
    ] = None,
    logo_url: Annotated[str | None, _option("The logo image (https).", "LOGO_URL")] = None,
    brand_color: Annotated[str | None, _option("The brand colour, #rrggbb.", "BRAND_COLOR")] = None,
    restore_link_expiry: Annotated[
        str | None,
        _option(
            "How long restore and short links work after the message went (30d).",
            "RESTORE_LINK_EXPIRY",
        ),
    ] = None,
    reset: Annotated[
        list[str] | None, _option("A setting to put back to its default; repeat.", "RESET")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """
    Set what the store's emails say about it. Settings not given keep their value.
    """
    from cartback.services.message_settings import parse_shipping, update_message_settings

    changes: dict[str, Any] = {
        "locale": locale,
        "postal_address": postal_address.replace("\\n", "\n") if postal_address else None,
        "support_email": support_email,
        "returns_summary": returns_summary,
        "returns_url": returns_url,
        "payment_options": payment_option or None,
        "logo_url": logo_url,
        "brand_color": brand_color,
        "restore_link_expiry": restore_link_expiry,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if shipping:
        try:
            changes["shipping"] = [parse_shipping(rate) for rate in shipping]
        except ValueError as error:
            fail(f"--shipping: {error}", 2)
    changes.update(dict.fromkeys(reset or ()))
    if not changes:
        fail("nothing to change; give at least one setting", 2)
    with command_container(database_url, name="messages") as container:
        saved = update_message_settings(
            uow=container.uow_factory(), clock=container.clock, store_id=store, changes=changes
        )
    typer.echo(json.dumps(saved.to_json(), indent=2, ensure_ascii=False))


def _read(path: Path | None, option: str) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"{option}: cannot read {path}: {error}", 2)


@templates_app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="The template name a flow step uses.")],
    store: StoreOption,
    channel: ChannelOption = "email",
    locale: Annotated[
        str, typer.Option(envvar="CARTBACK_TEMPLATE_LOCALE", help="A locale, or * for any.")
    ] = "*",
    subject: Annotated[
        str | None, typer.Option(envvar="CARTBACK_TEMPLATE_SUBJECT", help="Jinja2 subject.")
    ] = None,
    preheader: Annotated[
        str | None, typer.Option(envvar="CARTBACK_TEMPLATE_PREHEADER", help="Jinja2 preheader.")
    ] = None,
    html_file: Annotated[
        Path | None,
        typer.Option(envvar="CARTBACK_TEMPLATE_HTML_FILE", help="The HTML body (Jinja2)."),
    ] = None,
    text_file: Annotated[
        Path | None,
        typer.Option(envvar="CARTBACK_TEMPLATE_TEXT_FILE", help="The text body (Jinja2)."),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """
    Save the store's template NAME (checked against an example cart first; an error names
    its part and line and nothing is saved).
    """
    from cartback.services.templates import set_template

    html = _read(html_file, "--html-file")
    text = _read(text_file, "--text-file") or ""
    with command_container(database_url, name="templates") as container:
        saved = set_template(
            uow=container.uow_factory(),
            clock=container.clock,
            store_id=store,
            name=name,
            channel=channel,
            locale=locale,
            subject=subject,
            preheader=preheader,
            html=html,
            text=text,
        )
    typer.echo(f"saved {saved.channel.value} template {saved.name} for locale {saved.locale}")


@templates_app.command("list")
def list_(
    store: StoreOption, as_json: JsonOption = False, database_url: DatabaseOption = None
) -> None:
    """
    The store's own templates.
    """
    from cartback.services.templates import list_templates

    with command_container(database_url, name="templates") as container:
        found = list_templates(uow=container.uow_factory(read_only=True), store_id=store)
    if as_json:
        rows = [
            {
                "name": t.name,
                "channel": t.channel.value,
                "locale": t.locale,
                "subject": t.subject,
                "updated_at": t.updated_at.isoformat(),
            }
            for t in found
        ]
        typer.echo(json.dumps({"data": rows, "count": len(rows)}, ensure_ascii=False))
        return
    if not found:
        typer.echo("no templates of its own: the built-in ones are used")
    for t in found:
        typer.echo(f"{t.name:<32} {t.channel.value:<6} {t.locale:<8} {t.subject or ''}")


@templates_app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="The template name.")],
    store: StoreOption,
    channel: ChannelOption = "email",
    locale: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_TEMPLATE_LOCALE", help="One locale (* included); all if none."
        ),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """
    Delete the store's template NAME; the built-in one is used again.
    """
    from cartback.services.templates import delete_template

    with command_container(database_url, name="templates") as container:
        count = delete_template(
            uow=container.uow_factory(),
            store_id=store,
            name=name,
            channel=channel,
            locale=locale,
        )
    typer.echo(f"deleted {count} template{'s' if count != 1 else ''}")


def preview(
    store: StoreOption,
    flow: Annotated[str, typer.Option(envvar="CARTBACK_PREVIEW_FLOW", help="The flow's name.")],
    step: Annotated[
        int,
        typer.Option(envvar="CARTBACK_PREVIEW_STEP", min=0, help="The step, from 0 (as touches)."),
    ],
    cart: Annotated[
        str | None,
        typer.Option(envvar="CARTBACK_PREVIEW_CART", help="A cart id; else an example cart."),
    ] = None,
    locale: Annotated[
        str | None, typer.Option(envvar="CARTBACK_PREVIEW_LOCALE", help="The shopper's locale.")
    ] = None,
    out: Annotated[
        Path, typer.Option(envvar="CARTBACK_PREVIEW_OUT", help="The directory to write to.")
    ] = Path(),
    png: Annotated[
        bool,
        typer.Option(
            "--png",
            envvar="CARTBACK_PREVIEW_PNG",
            help="Also screenshots at 375 and 1200 px (Chromium: CARTBACK_CHROMIUM).",
        ),
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """
    Render a flow step's message to DIR/FLOW-STEP.html and .txt (a text message: .txt only)
    and print the paths.
    """
    from cartback.commands._preview import write_preview
    from cartback.services.preview import preview_message

    with command_container(database_url, name="preview") as container:
        shown = preview_message(
            uow=container.uow_factory(read_only=True),
            clock=container.clock,
            store_id=store,
            flow=flow,
            step=step,
            cart_key=cart,
            locale=locale,
            base_url=container.settings.base_url,
        )
        for path in write_preview(shown, out, png=png):
            typer.echo(str(path))
