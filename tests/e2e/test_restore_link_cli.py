"""
`cartback messages configure --restore-link-expiry`: how long a store's restore and short
links work, through the real CLI.
"""

from __future__ import annotations

import json

from harness import Cli


def test_the_restore_link_expiry_is_set_from_the_cli(cli: Cli) -> None:
    """
    `--restore-link-expiry 7d` is saved and shown back; the other settings keep their defaults.
    """
    # given
    store = cli.create_store()["id"]

    # when
    result = cli.run("messages", "configure", "--store", store, "--restore-link-expiry", "7d")

    # then
    assert 0 == result.returncode, result.stderr
    shown = json.loads(result.stdout)
    assert ("7d", "en-US") == (shown["restore_link_expiry"], shown["locale"])


def test_a_restore_link_expiry_out_of_bounds_is_one_line(cli: Cli) -> None:
    """
    Ten minutes is too short for a link: one line naming the setting, exit 2.
    """
    # given
    store = cli.create_store()["id"]

    # when
    result = cli.run("messages", "configure", "--store", store, "--restore-link-expiry", "10m")

    # then
    assert 2 == result.returncode
    [line] = result.stderr.strip().splitlines()
    assert "restore_link_expiry: must be between 1h and 365d" in line
