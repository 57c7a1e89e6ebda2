"""
Workers sharing one PostgreSQL: every due cart is decided exactly once, and the claims of a
worker that was killed (or hangs) go back to the others.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness import Cli
from sqlalchemy import func, select

from cartback.domain.cart import CartStatus, new_cart
from cartback.domain.events import LineItem, Stage
from cartback.domain.ports import CartRecord
from cartback.kit.ids import new_id
from cartback.store.database import create_database_engine
from cartback.store.tables import carts
from cartback.store.uow import SqlUnitOfWorkFactory
from helpers import BACKENDS

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL backend not selected"),
]

#: The issue's figure; `CARTBACK_FAULT_CARTS` runs it larger.
DUE_CARTS = int(os.environ.get("CARTBACK_FAULT_CARTS", "10000"))


@pytest.fixture
def backend() -> str:
    """
    These tests are about PostgreSQL's SKIP LOCKED claims.
    """
    return "postgresql"


def _seed_due_carts(database_url: str, store_id: str, count: int) -> None:
    """
    Insert `count` carts whose abandonment timer ran out a minute ago.
    """
    now = datetime.now(UTC)
    due = now - timedelta(minutes=1)
    line = LineItem(product_id="p", quantity=1)
    engine = create_database_engine(database_url)
    factory = SqlUnitOfWorkFactory(engine)
    for start in range(0, count, 2000):
        records = []
        for n in range(start, min(start + 2000, count)):
            cart = replace(
                new_cart(key=f"due-{n}", currency="USD"),
                lines=(line,),
                stage=Stage.CART,
                last_activity_at=due - timedelta(minutes=30),
                check_at=due,
            )
            records.append(
                CartRecord(id=new_id("ca"), store_id=store_id, cart=cart, created_at=now)
            )
        with factory() as uow:
            uow.carts.add(records, now=now)
            uow.commit()
    engine.dispose()


def _count(database_url: str, *conditions: object) -> int:
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        value = connection.execute(
            select(func.count()).select_from(carts).where(*conditions)  # type: ignore[arg-type]
        ).scalar_one()
    engine.dispose()
    return int(value)


def _abandon_decisions(logs: list[Path]) -> Counter[str]:
    decided: Counter[str] = Counter()
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"cart.abandoned"' in line:
                decided[json.loads(line)["cart_id"]] += 1
    return decided


@pytest.mark.slow
def test_two_worker_processes_abandon_each_due_cart_exactly_once(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """
    Two `cartback worker` processes drain 10,000 due carts; each cart is decided by exactly
    one of them, once.
    """
    # given
    store_id = cli.create_store()["id"]
    _seed_due_carts(database_url, store_id, DUE_CARTS)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    # when
    processes = [cli.start("worker", log=log, CARTBACK_WORKER_BATCH_SIZE="100") for log in logs]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if _count(database_url, carts.c.status == CartStatus.ABANDONED.value) == DUE_CARTS:
            break
        time.sleep(0.5)
    for process in processes:
        process.send_signal(signal.SIGTERM)
    codes = [process.wait(timeout=30) for process in processes]
    decided = _abandon_decisions(logs)
    # then
    assert [0, 0] == codes
    assert DUE_CARTS == len(decided)
    assert {1} == set(decided.values())
    assert DUE_CARTS == _count(database_url, carts.c.status == CartStatus.ABANDONED.value)
    per_worker = [len(_abandon_decisions([log])) for log in logs]
    assert all(n > 0 for n in per_worker), per_worker


_CLAIM_AND_HOLD = """
import sys, time
from datetime import UTC, datetime
from cartback.store.database import create_database_engine
from cartback.store.uow import SqlUnitOfWorkFactory
factory = SqlUnitOfWorkFactory(create_database_engine(sys.argv[1]))
with factory() as uow:
    claimed = uow.carts.claim_due(now=datetime.now(UTC), limit=1000)
    print(len(claimed), flush=True)
    time.sleep(600)
"""


def _start_claimer(database_url: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-c", _CLAIM_AND_HOLD, database_url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def _end(process: subprocess.Popen[str], how: signal.Signals = signal.SIGKILL) -> None:
    process.send_signal(how)
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def test_claims_of_a_killed_worker_return_to_the_others(cli: Cli, database_url: str) -> None:
    """
    A process that claimed due carts and was killed with SIGKILL leaves them claimable: a
    worker started afterwards decides all of them.
    """
    # given
    store_id = cli.create_store()["id"]
    _seed_due_carts(database_url, store_id, 50)
    claimer, claimed = _start_claimer(database_url)
    blocked = cli.run("worker", "--once")
    # when
    _end(claimer)
    after_kill = cli.run("worker", "--once")
    # then
    assert 50 == claimed
    assert "processed 0 due carts" == blocked.stdout.strip()
    assert "processed 50 due carts" == after_kill.stdout.strip()


@pytest.mark.slow
def test_claims_of_a_hung_worker_return_within_30_seconds(cli: Cli, database_url: str) -> None:
    """
    A process that claimed carts and then hangs (alive, silent) loses its claims when the
    database ends its idle transaction; a worker then takes them.
    """
    # given
    store_id = cli.create_store()["id"]
    _seed_due_carts(database_url, store_id, 20)
    claimer, claimed = _start_claimer(database_url)
    started = time.monotonic()
    # when
    processed = ""
    while time.monotonic() - started < 60 and processed != "processed 20 due carts":
        processed = cli.run("worker", "--once").stdout.strip()
    _end(claimer)
    # then
    assert 20 == claimed
    assert "processed 20 due carts" == processed


def test_every_session_ends_idle_transactions_within_30_seconds(database_url: str) -> None:
    """
    The bound on a hung worker's claims is the session's idle-in-transaction timeout.
    """
    # given
    engine = create_database_engine(database_url)
    # when
    with engine.connect() as connection:
        setting = connection.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar()
    engine.dispose()
    # then
    assert "20s" == setting
