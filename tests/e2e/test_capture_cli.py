"""
`cartback capture` as an operator runs it: configure a store's widgets, SMS, marketing and
texts, and show them; bad input is one line and exit 2, and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from harness import Cli

pytestmark = pytest.mark.e2e

DEFAULT_WIDGETS = {
    "cart_page": True,
    "checkout_button": True,
    "cart_drawer": True,
    "checkout": True,
    "post_abandon": True,
    "exit_intent": False,
}


def _show(cli: Cli, store: str) -> dict[str, Any]:
    result = cli.run("capture", "show", "--store", store, "--json")
    assert 0 == result.returncode, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_show_gives_the_defaults(cli: Cli) -> None:
    """
    A new store: every widget but exit intent, no SMS, marketing on, no texts.
    """
    # given
    store = cli.create_store("--country", "US")["id"]
    # when
    config = _show(cli, store)
    # then
    assert {
        "widgets": DEFAULT_WIDGETS,
        "region": "us",
        "sms": {"enabled": False, "brand": "E2E Shop", "double_opt_in": False},
        "marketing": True,
        "texts": {},
        "abandon_after_seconds": 1800,
    } == config


def test_configure_changes_what_it_names(cli: Cli) -> None:
    """
    `--enable exit_intent --disable cart_drawer --sms --no-marketing --text …` is what
    `show` prints afterwards; an empty text restores the default.
    """
    # given
    store = cli.create_store()["id"]
    # when
    changed = cli.run(
        "capture",
        "configure",
        "--store",
        store,
        "--enable",
        "exit_intent",
        "--disable",
        "cart_drawer",
        "--sms",
        "--no-marketing",
        "--text",
        "de.cart_page.title=Warenkorb sichern",
        "--text",
        "fr.cart_page.title=Sauvegarder",
        "--json",
    )
    restored = cli.run("capture", "configure", "--store", store, "--text", "fr.cart_page.title=")
    # then
    assert 0 == changed.returncode, changed.stderr
    assert (
        {**DEFAULT_WIDGETS, "exit_intent": True, "cart_drawer": False},
        True,
        False,
        {"de": {"cart_page.title": "Warenkorb sichern"}, "fr": {"cart_page.title": "Sauvegarder"}},
    ) == (
        json.loads(changed.stdout)["widgets"],
        json.loads(changed.stdout)["sms"]["enabled"],
        json.loads(changed.stdout)["marketing"],
        json.loads(changed.stdout)["texts"],
    )
    assert (0, {"de": {"cart_page.title": "Warenkorb sichern"}}) == (
        restored.returncode,
        _show(cli, store)["texts"],
    )


def test_show_prints_a_table(cli: Cli) -> None:
    """
    Without `--json`, one setting per line.
    """
    # given
    store = cli.create_store()["id"]
    # when
    result = cli.run("capture", "show", "--store", store)
    # then
    lines = result.stdout.splitlines()
    assert (0, "exit_intent        off", "sms                off") == (
        result.returncode,
        lines[5],
        lines[6],
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--enable", "popup"), "unknown widget 'popup'"),
        (("--disable", "cart"), "unknown widget 'cart'"),
        (("--enable", "checkout", "--disable", "checkout"), "checkout both enabled and disabled"),
        (("--text", "de.title"), "is not LOCALE.KEY=TEXT"),
        (("--text", "title=Hallo"), "is not LOCALE.KEY=TEXT"),
        (("--text", "deutsch!.title=Hallo"), "texts.deutsch!.title"),
        (("--text", "de.Title=Hallo"), "texts.de.Title"),
        (("--text", "de.title=   "), "must not be blank"),
        ((), "nothing to change"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    """
    Unknown widgets, a widget both on and off, malformed or invalid texts, no change at all.
    """
    # given
    store = cli.create_store()["id"]
    # when
    # (with a valid `--sms` beside the bad option, which must not be applied either)
    result = cli.run("capture", "configure", "--store", store, *(("--sms", *args) if args else ()))
    # then
    assert (2, 1, True) == (
        result.returncode,
        len(result.stderr.strip().splitlines()),
        message in result.stderr,
    ), result.stderr
    config = _show(cli, store)
    assert (DEFAULT_WIDGETS, False, {}) == (
        config["widgets"],
        config["sms"]["enabled"],
        config["texts"],
    )


def test_an_unknown_store_is_one_line(cli: Cli) -> None:
    """
    Configuring or showing a store that does not exist fails without a trace.
    """
    # when
    shown = cli.run("capture", "show", "--store", "st_nope")
    configured = cli.run("capture", "configure", "--store", "st_nope", "--sms")
    # then
    assert [(1, ["cartback: no store 'st_nope'"])] * 2 == [
        (r.returncode, r.stderr.strip().splitlines()) for r in (shown, configured)
    ]
