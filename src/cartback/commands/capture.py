"""
`cartback capture …`: which capture widgets a store shows, whether it offers the SMS and
marketing opt-ins, and its own wording. The same as `/v1/capture/settings`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cartback.commands._common import (
    DatabaseOption,
    JsonOption,
    StoreOption,
    command_container,
    fail,
)

capture_app = typer.Typer(
    help="Configure the storefront's lead capture widgets.", no_args_is_help=True
)

_WIDGET_HELP = "cart_page, checkout_button, cart_drawer, checkout, post_abandon, exit_intent"


@capture_app.command("configure")
def configure(
    store: StoreOption,
    enable: Annotated[
        list[str] | None,
        typer.Option("--enable", metavar="WIDGET", help=f"Show a widget ({_WIDGET_HELP})."),
    ] = None,
    disable: Annotated[
        list[str] | None,
        typer.Option("--disable", metavar="WIDGET", help="Hide a widget."),
    ] = None,
    sms: Annotated[
        bool | None,
        typer.Option("--sms/--no-sms", help="Offer the SMS opt-in (text me my checkout link)."),
    ] = None,
    marketing: Annotated[
        bool | None,
        typer.Option(
            "--marketing/--no-marketing",
            help="Offer marketing consent as a second step, after recovery consent.",
        ),
    ] = None,
    text: Annotated[
        list[str] | None,
        typer.Option(
            "--text",
            metavar="LOCALE.KEY=TEXT",
            help="Your own wording for a widget text, e.g. de.cart_page.title=Warenkorb "
            "sichern; an empty TEXT restores the widget's default.",
        ),
    ] = None,
    as_json: JsonOption = False,
    database_url: DatabaseOption = None,
) -> None:
    """
    Change the store's capture settings; what is not named stays as it is.
    """
    from cartback.services.capture_settings import (
        capture_change,
        capture_config,
        update_capture_settings,
    )

    widgets = _widgets(enable or [], disable or [])
    texts = dict(_text(raw) for raw in text or [])
    if not widgets and sms is None and marketing is None and not texts:
        fail("nothing to change; pass at least one option (see --help)", 2)
    with command_container(database_url, name="capture") as container:
        change = capture_change(widgets=widgets, sms_enabled=sms, marketing=marketing, texts=texts)
        saved = update_capture_settings(
            uow=container.uow_factory(),
            clock=container.clock,
            store_id=store,
            change=change,
        )
    _print(capture_config(saved), as_json)


@capture_app.command("show")
def show(
    store: StoreOption, as_json: JsonOption = False, database_url: DatabaseOption = None
) -> None:
    """
    The store's capture settings, as the widgets get them.
    """
    from cartback.services.capture_settings import read_capture_config

    with command_container(database_url, name="capture") as container:
        config = read_capture_config(uow=container.uow_factory(read_only=True), store_id=store)
    _print(config, as_json)


def _widgets(enable: list[str], disable: list[str]) -> dict[str, bool]:
    from cartback.domain.capture import Widget

    known = {w.value for w in Widget}
    for name in [*enable, *disable]:
        if name not in known:
            fail(f"--enable/--disable: unknown widget {name!r}; one of {_WIDGET_HELP}", 2)
    both = sorted(set(enable) & set(disable))
    if both:
        fail(f"--enable/--disable: {', '.join(both)} both enabled and disabled", 2)
    return {**dict.fromkeys(enable, True), **dict.fromkeys(disable, False)}


def _text(raw: str) -> tuple[tuple[str, str], str | None]:
    """
    `LOCALE.KEY=TEXT` as ((locale, key), text), None for an empty text.
    """
    where, equals, words = raw.partition("=")
    locale, dot, key = where.partition(".")
    if not equals or not dot or not locale or not key:
        fail(f"--text: {raw!r} is not LOCALE.KEY=TEXT (e.g. de.cart_page.title=Warenkorb)", 2)
    return (locale, key), words or None


def _print(config: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(config, sort_keys=True, ensure_ascii=False))
        return
    for name, on in config["widgets"].items():
        typer.echo(f"{name:<19}{'on' if on else 'off'}")
    sms = config["sms"]
    typer.echo(f"{'sms':<19}{'on' if sms['enabled'] else 'off'}")
    typer.echo(f"{'sms double opt-in':<19}{'on' if sms['double_opt_in'] else 'off'}")
    typer.echo(f"{'marketing':<19}{'on' if config['marketing'] else 'off'}")
    typer.echo(f"{'region':<19}{config['region']}")
    for locale, texts in config["texts"].items():
        for key, words in sorted(texts.items()):
            typer.echo(f"text {locale}.{key}={words}")
