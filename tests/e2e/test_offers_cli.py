"""
`cartback offers configure` as a merchant runs it: the store's offer defaults set, printed and
put back; bad input is one line with a non-zero exit and changes nothing.
"""

from __future__ import annotations

import json

import pytest
from harness import Cli

pytestmark = pytest.mark.e2e


def test_offer_settings_are_set_printed_and_reset(cli: Cli) -> None:
    """
    The options are stored and printed as JSON; `--reset` puts one back to its default.
    """
    # given
    store = cli.create_store()["id"]
    # when
    configured = cli.run(
        "offers",
        "configure",
        "--store",
        store,
        "--expires-in",
        "72h",
        "--max-per-contact",
        "2",
        "--margin-floor",
        "0.25",
        "--prefix",
        "cb-",
    )
    reset = cli.run("offers", "configure", "--store", store, "--reset", "max-per-contact")
    # then
    assert 0 == configured.returncode, configured.stderr
    assert {
        "expires_in": 259200,
        "expires_in_text": "3d",
        "max_per_contact": 2,
        "margin_floor": "0.25",
        "prefix": "CB-",
        "window": 7776000,
    } == json.loads(configured.stdout)
    assert 0 == reset.returncode, reset.stderr
    assert (None, "CB-") == (
        json.loads(reset.stdout)["max_per_contact"],
        json.loads(reset.stdout)["prefix"],
    )


def test_bad_input_is_one_line_and_changes_nothing(cli: Cli) -> None:
    """
    Every bad value is named on one line (exit 2); nothing given is refused too; the settings
    stay as they were.
    """
    # given
    store = cli.create_store()["id"]
    cli.run("offers", "configure", "--store", store, "--prefix", "KEEP")
    # when
    bad = cli.run(
        "offers", "configure", "--store", store, "--margin-floor", "1.2", "--prefix", "C0"
    )
    empty = cli.run("offers", "configure", "--store", store)
    after = cli.run("offers", "configure", "--store", store, "--expires-in", "48h")
    # then
    assert 2 == bad.returncode
    assert 1 == len(bad.stderr.strip().splitlines()), bad.stderr
    assert "margin_floor" in bad.stderr
    assert "prefix" in bad.stderr
    assert (2, "cartback: nothing to change; give at least one setting") == (
        empty.returncode,
        empty.stderr.strip(),
    )
    assert "KEEP" == json.loads(after.stdout)["prefix"]
