"""
`cartback sources alias` as an operator runs it: set, list and remove a store's event aliases;
bad input is one line and exit 2, and changes nothing.
"""

from __future__ import annotations

import json

import pytest
from harness import Cli

pytestmark = pytest.mark.e2e


def _aliases(cli: Cli, store: str) -> dict[str, str]:
    result = cli.run("sources", "alias", "list", "--store", store, "--json")
    assert 0 == result.returncode, result.stderr
    aliases: dict[str, str] = json.loads(result.stdout)["aliases"]
    return aliases


def test_set_list_and_remove_an_alias(cli: Cli) -> None:
    """
    `set addToBasket 'Product Added'` shows in `list`; `remove` takes it away.
    """
    # given
    store = cli.create_store()["id"]
    # when
    added = cli.run("sources", "alias", "set", "addToBasket", "Product Added", "--store", store)
    listed = _aliases(cli, store)
    removed = cli.run("sources", "alias", "remove", "addToBasket", "--store", store)
    # then
    assert (0, "addtobasket\t→ product added", {"addtobasket": "product added"}) == (
        added.returncode,
        added.stdout.strip(),
        listed,
    )
    assert (0, {}) == (removed.returncode, _aliases(cli, store))


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("set", "addToBasket", "Product Addded"), 2, "EVENT: 'Product Addded' is not an event"),
        (("set", "_", "Cart Viewed"), 2, "NAME: must be 1 to 200 characters"),
        (("remove", "never"), 1, "no alias for 'never'"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    cli: Cli, args: tuple[str, ...], code: int, message: str
) -> None:
    """
    A misspelt event, a blank name, removing what is not there.
    """
    # given
    store = cli.create_store()["id"]
    # when
    result = cli.run("sources", "alias", *args, "--store", store)
    # then
    assert (code, 1, True) == (
        result.returncode,
        len(result.stderr.strip().splitlines()),
        message in result.stderr,
    )
    assert {} == _aliases(cli, store)


def test_an_unknown_store_is_one_line(cli: Cli) -> None:
    """
    Setting an alias on a store that does not exist fails without a trace.
    """
    # when
    result = cli.run("sources", "alias", "set", "a", "Cart Viewed", "--store", "st_nope")
    # then
    assert (1, ["cartback: no store 'st_nope'"]) == (
        result.returncode,
        result.stderr.strip().splitlines(),
    )
