"""
`cartback webhooks …` as an operator runs it: an endpoint added (id and secret printed once),
listed without its secret, removed; an unsafe URL or an unknown event type exits 2 with the
reason and writes nothing.
"""

from __future__ import annotations

import json

import pytest
from harness import Cli

pytestmark = pytest.mark.e2e

#: A public address written as one: nothing to resolve, nothing contacted when adding.
URL = "https://93.184.215.14/cartback"


def test_an_endpoint_is_added_listed_and_removed(cli: Cli) -> None:
    """
    The whole life of an endpoint through the real command.
    """
    # given
    store = cli.create_store()["id"]
    # when
    added = cli.run(
        "webhooks", "add", "--store", store, "--url", URL,
        "--event", "cart.abandoned", "--event", "cart.recovered", "--json",
    )  # fmt: skip
    listed = cli.run("webhooks", "list", "--store", store, "--json")
    # then
    assert 0 == added.returncode, added.stderr
    endpoint = json.loads(added.stdout)
    assert endpoint["secret"].startswith("whsec_")
    assert ["cart.abandoned", "cart.recovered"] == endpoint["event_types"]
    (row,) = json.loads(listed.stdout)["data"]
    assert (endpoint["id"], URL, True) == (row["id"], row["url"], row["enabled"])
    assert endpoint["secret"] not in listed.stdout
    removed = cli.run("webhooks", "remove", "--store", store, endpoint["id"])
    assert 0 == removed.returncode, removed.stderr
    assert "no webhook endpoints" in cli.run("webhooks", "list", "--store", store).stdout


def test_the_plain_output_prints_the_id_and_secret_once(cli: Cli) -> None:
    """
    Without --json: `id:` and `secret:` lines.
    """
    store = cli.create_store()["id"]
    added = cli.run("webhooks", "add", "--store", store, "--url", URL)
    assert 0 == added.returncode, added.stderr
    lines = dict(line.split(": ", 1) for line in added.stdout.strip().splitlines())
    assert lines["id"].startswith("we_")
    assert lines["secret"].startswith("whsec_")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--url", "https://169.254.169.254/latest"], "is a link-local address (169.254.169.254)"),
        (["--url", "http://93.184.215.14/x"], "must be an https URL"),
        (["--url", "https://0x7f.1/x"], "non-standard form"),
        (["--url", URL, "--event", "cart.exploded"], "unknown event type 'cart.exploded'"),
    ],
)
def test_bad_input_exits_2_with_the_reason_and_writes_nothing(
    cli: Cli, args: list[str], reason: str
) -> None:
    """
    One line on stderr naming the problem; no endpoint stored.
    """
    store = cli.create_store()["id"]
    result = cli.run("webhooks", "add", "--store", store, *args)
    assert 2 == result.returncode
    assert reason in result.stderr
    assert "no webhook endpoints" in cli.run("webhooks", "list", "--store", store).stdout


def test_removing_an_unknown_endpoint_fails(cli: Cli) -> None:
    """
    Exit 1 and the reason.
    """
    store = cli.create_store()["id"]
    result = cli.run("webhooks", "remove", "--store", store, "we_nothing")
    assert 1 == result.returncode
    assert "no webhook endpoint 'we_nothing'" in result.stderr
