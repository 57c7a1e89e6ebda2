"""
`cartback purge` as an operator runs it: a dry run counts what the store's retention has
expired and changes nothing; the real run purges it; an unknown store is one line.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from harness import Cli
from sqlalchemy import func, select

from cartback.bootstrap import Container
from cartback.store.tables import carts
from helpers import auth, track

pytestmark = pytest.mark.e2e


def _carts(container: Container) -> int:
    with container.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(carts)).scalar_one())


def test_a_dry_run_counts_and_the_real_run_purges(
    cli: Cli, client: TestClient, container: Container
) -> None:
    """
    An anonymous cart last active 40 days ago, a 30-day retention: the dry run reports one
    cart and keeps it; the purge removes it.
    """
    # given
    created = cli.create_store()
    assert 0 == cli.run("store", "update", created["id"], "--retention", "30d").returncode
    old = datetime.now(UTC) - timedelta(days=40)
    event = track("Product Added", cart_id="old-cart", product_id="mug", at=old)
    response = client.post("/v1/track", json=event, headers=auth(created["secret_key"]))
    assert 200 == response.status_code, response.text
    # when
    dry = cli.run("purge", "--store", created["id"], "--dry-run", "--json")
    kept = _carts(container)
    real = cli.run("purge", "--store", created["id"], "--json")
    # then
    assert (0, True, 1, 1) == (
        dry.returncode,
        json.loads(dry.stdout)["dry_run"],
        json.loads(dry.stdout)["carts"],
        kept,
    )
    assert (0, 1, 0) == (real.returncode, json.loads(real.stdout)["carts"], _carts(container))


def test_an_unknown_store_is_one_line(cli: Cli) -> None:
    """
    No traceback, exit 1.
    """
    # when
    result = cli.run("purge", "--store", "st_nope")
    # then
    assert (1, ["cartback: no store 'st_nope'"]) == (
        result.returncode,
        result.stderr.strip().splitlines(),
    )
