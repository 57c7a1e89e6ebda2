"""
Dispatch (issue #5): the real `cartback worker` process sending due touches through the outbox
channel, rendering and every guard included.

- **throughput**: a backlog of due touches drained by one worker process, touches per second
  from the worker's registration to its last `sent_at`;
- **latency**: touches fall due at a steady rate (open loop: the rows are written ahead, their
  `due_at` spread over time) while the worker runs its normal loop; due-to-sent is
  `sent_at - due_at` of every touch;
- **claim cost**: one claim of the same 200 due touches with 10 k and with 1 M scheduled
  touches not yet due, and its ratio;
- **memory**: the worker process's resident set after draining, with the 1 M backlog waiting.

Every seeded touch is one a real store would send: a US store (email on the opt-out model)
whose contacts also granted email consent at checkout, an abandoned cart with two lines, an
active `cart-recovery` enrollment whose first step is due and whose two later steps wait, one
due touch per contact (so the frequency cap has nothing to defer).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

from bench._env import SECRET, fresh_database, machine, median_claim_ms, settings
from cartback.bootstrap import bootstrap
from cartback.services.stores import StoreSettings, create_store
from cartback.store._bulk import BulkWriter
from cartback.store.database import create_database_engine
from cartback.store.tables import (
    cart_lines,
    carts,
    consent_ledger,
    contacts,
    enrollments,
    outbox_messages,
    touches,
    workers,
)
from cartback.store.uow import SqlUnitOfWorkFactory

#: Rows per insert statement while seeding.
_CHUNK = 20_000
#: Scheduled touches per filler enrollment (the backlog is many later steps of few people).
_FILLER_PER_ENROLLMENT = 10
_STEPS = (("cart-reminder", timedelta(0)), ("cart-support", timedelta(hours=23)))
_LAST_STEP = ("cart-resolution", timedelta(hours=71))


def _store(url: str) -> str:
    container = bootstrap(settings(url))
    created = create_store(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        settings=StoreSettings(
            name="Bench", platform="custom", domains=["bench.example"], country="US"
        ),
    )
    container.close()
    return created.store.id


def _person_rows(store_id: str, n: int, prefix: str, moment: datetime) -> dict[str, Any]:
    """
    One contact with an email consent grant, an abandoned two-line cart, and an active
    enrollment; ids derived from `prefix` and `n`.
    """
    contact_id, cart_id, enrollment_id = f"co_{prefix}{n}", f"ca_{prefix}{n}", f"en_{prefix}{n}"
    left = moment - timedelta(hours=2)
    return {
        "contact": {
            "id": contact_id,
            "store_id": store_id,
            "email": f"{prefix}{n}@shopper.example",
            "is_bot": False,
            "created_at": left,
            "updated_at": left,
        },
        "consent": {
            "store_id": store_id,
            "contact_id": contact_id,
            "channel": "email",
            "purpose": "recovery",
            "granted": True,
            "text": "Email me about my cart",
            "source": "checkout",
            "occurred_at": left,
            "recorded_at": left,
            "confirmed_at": left,
        },
        "cart": {
            "id": cart_id,
            "store_id": store_id,
            "cart_key": f"{prefix}-{n}",
            "contact_id": contact_id,
            "status": "abandoned",
            "stage": "cart",
            "currency": "USD",
            "total": Decimal("84.50"),
            "item_count": 3,
            "is_bot": False,
            "last_activity_at": left,
            "abandoned_at": left + timedelta(hours=1),
            "signals": {},
            "created_at": left,
            "updated_at": left,
        },
        "lines": [
            {
                "cart_id": cart_id,
                "position": 0,
                "product_id": "p-1",
                "sku": "TEE-M",
                "name": "Organic cotton tee",
                "quantity": 2,
                "unit_price": Decimal("24.50"),
            },
            {
                "cart_id": cart_id,
                "position": 1,
                "product_id": "p-2",
                "sku": "CAP",
                "name": "Canvas cap",
                "quantity": 1,
                "unit_price": Decimal("35.50"),
            },
        ],
        "enrollment": {
            "id": enrollment_id,
            "store_id": store_id,
            "contact_id": contact_id,
            "cart_id": cart_id,
            "flow": "cart-recovery",
            "flow_version": 0,
            "group": "treated",
            "status": "active",
            "stage": "cart",
            "triggered_at": left + timedelta(hours=1),
            "started_at": left + timedelta(hours=1),
        },
    }


def _touch_row(
    store_id: str, person: dict[str, Any], step: int, template: str, due_at: datetime
) -> dict[str, Any]:
    enrollment = person["enrollment"]
    return {
        "id": f"tc_{enrollment['id'][3:]}_{step}",
        "store_id": store_id,
        "enrollment_id": enrollment["id"],
        "cart_id": enrollment["cart_id"],
        "step": step,
        "channel": "email",
        "template": template,
        "status": "scheduled",
        "due_at": due_at,
        "attempts": 0,
        "created_at": enrollment["started_at"],
        "updated_at": enrollment["started_at"],
    }


def _write(engine: Engine, people: list[dict[str, Any]], touch_rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        writer = BulkWriter(connection)
        writer.insert(contacts, [p["contact"] for p in people])
        writer.insert(consent_ledger, [p["consent"] for p in people])
        writer.insert(carts, [p["cart"] for p in people])
        writer.insert(cart_lines, [line for p in people for line in p["lines"]])
        # `group` is a reserved word, which the bulk writer does not quote.
        connection.execute(enrollments.insert(), [p["enrollment"] for p in people])
        writer.insert(touches, touch_rows)


def seed_due(engine: Engine, store_id: str, moments: list[datetime], prefix: str) -> None:
    """
    One person per moment whose first touch falls due then (the two later steps wait).
    """
    for start in range(0, len(moments), _CHUNK // 3):
        people, rows = [], []
        for n, moment in enumerate(moments[start : start + _CHUNK // 3], start=start):
            person = _person_rows(store_id, n, prefix, moment)
            people.append(person)
            for step, (template, wait) in enumerate((*_STEPS, _LAST_STEP)):
                rows.append(_touch_row(store_id, person, step, template, moment + wait))
        _write(engine, people, rows)


def seed_backlog(engine: Engine, store_id: str, count: int) -> None:
    """
    `count` scheduled touches that are not due for a day or more.
    """
    later = datetime.now(UTC) + timedelta(days=1)
    per = _FILLER_PER_ENROLLMENT
    for start in range(0, count, _CHUNK):
        people, rows = [], []
        for n in range(start, min(start + _CHUNK, count), per):
            person = _person_rows(store_id, n, "f", later)
            people.append(person)
            for step in range(min(per, count - n)):
                due = later + timedelta(seconds=n + step)
                rows.append(_touch_row(store_id, person, step, "cart-support", due))
        _write(engine, people, rows)


def _analyze(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def _claim_ms(factory: SqlUnitOfWorkFactory, *, limit: int, repeats: int) -> float:
    return median_claim_ms(
        factory,
        lambda uow, now, n: uow.touches.claim_due(now=now, limit=n),
        limit=limit,
        repeats=repeats,
    )


@contextlib.contextmanager
def _worker_process(url: str) -> Iterator[subprocess.Popen[bytes]]:
    """
    `cartback worker` on the database (one claim loop), stopped with SIGTERM afterwards.
    """
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CARTBACK_")},
        "CARTBACK_DATABASE_URL": url,
        "CARTBACK_ENV": "test",
        "CARTBACK_SECRET_KEY": SECRET,
        "CARTBACK_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "cartback", "worker"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _memory_mb(pid: int) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": found["VmRSS"], "peak_rss_mb": found["VmHWM"]}


def _stored(engine: Engine) -> int:
    # The outbox is small: counting it does not load the database the way a scan of a
    # million touches would while the worker runs.
    # Read-only: on SQLite it takes no write lock from the worker.
    with engine.connect().execution_options(cartback_read_only=True) as connection:
        count = connection.execute(select(func.count()).select_from(outbox_messages)).scalar()
    return int(count or 0)


def _wait_for_sent(engine: Engine, expected: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _stored(engine) < expected and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(1)  # the last pass records its sends after the channel stored them


def _drain(engine: Engine, url: str, expected: int) -> dict[str, Any]:
    """
    Start a worker on `expected` due touches, wait until all are sent; rate and memory.
    """
    with _worker_process(url) as process:
        _wait_for_sent(engine, expected, timeout=600)
        memory = _memory_mb(process.pid)
    with engine.connect() as connection:
        started = connection.execute(select(func.min(workers.c.started_at))).scalar_one()
        last = connection.execute(select(func.max(touches.c.sent_at))).scalar_one()
        statuses: dict[str, int] = dict(
            connection.execute(select(touches.c.status, func.count()).group_by(touches.c.status))
            .tuples()
            .all()
        )
        stored = connection.execute(select(func.count()).select_from(outbox_messages)).scalar()
    seconds = (last - started).total_seconds()
    sent = statuses.get("sent", 0)
    return {
        "due": expected,
        "sent": sent,
        "outbox_messages": stored,
        "statuses": statuses,
        "seconds": round(seconds, 2),
        "touches_per_second": round(sent / seconds),
        **memory,
    }


def bench_dispatch(
    backend: str,
    *,
    sizes: tuple[int, ...] = (10_000, 1_000_000),
    due: int = 20_000,
    claim_due: int = 200,
    repeats: int = 50,
) -> dict[str, Any]:
    """
    For each backlog size: the claim's cost, then a drain of `due` touches by one worker.
    """
    claims: dict[str, float] = {}
    drains: dict[str, dict[str, Any]] = {}
    for size in sizes:
        with fresh_database(backend) as url:
            store_id = _store(url)
            engine = create_database_engine(url)
            seed_backlog(engine, store_id, size)
            past = datetime.now(UTC) - timedelta(minutes=5)
            seed_due(engine, store_id, [past] * claim_due, "c")
            _analyze(engine)
            factory = SqlUnitOfWorkFactory(engine)
            _claim_ms(factory, limit=claim_due, repeats=5)  # warm the caches
            claims[str(size)] = round(_claim_ms(factory, limit=claim_due, repeats=repeats), 3)
            moments = [past + timedelta(microseconds=n) for n in range(due)]
            seed_due(engine, store_id, moments, "d")
            _analyze(engine)
            drains[str(size)] = _drain(engine, url, due + claim_due)
            engine.dispose()
    smallest, largest = claims[str(sizes[0])], claims[str(sizes[-1])]
    return {
        "backend": backend,
        "machine": machine(),
        "due_per_claim": claim_due,
        "median_claim_ms": claims,
        "claim_ratio": round(largest / smallest, 3),
        "drain_by_backlog": drains,
    }


def bench_due_to_sent(
    backend: str, *, rate: int = 300, seconds: int = 20, backlog: int = 10_000
) -> dict[str, Any]:
    """
    `rate` touches fall due per second for `seconds` while one worker runs its normal loop.
    """
    total = rate * seconds
    with fresh_database(backend) as url:
        store_id = _store(url)
        engine = create_database_engine(url)
        seed_backlog(engine, store_id, backlog)
        start = datetime.now(UTC) + timedelta(seconds=10)
        moments = [start + timedelta(seconds=n / rate) for n in range(total)]
        seed_due(engine, store_id, moments, "l")
        _analyze(engine)
        if datetime.now(UTC) > start - timedelta(seconds=4):
            raise RuntimeError("seeding took too long: the first touches are due already")
        with _worker_process(url):
            _wait_for_sent(engine, total, timeout=seconds + 60)
        with engine.connect() as connection:
            rows = connection.execute(
                select(touches.c.due_at, touches.c.sent_at).where(touches.c.status == "sent")
            ).all()
        engine.dispose()
    delays = sorted((row.sent_at - row.due_at).total_seconds() for row in rows)
    return {
        "backend": backend,
        "machine": machine(),
        "rate_per_second": rate,
        "touches": total,
        "sent": len(delays),
        "p50_s": round(delays[len(delays) // 2], 3),
        "p99_s": round(delays[int(len(delays) * 0.99) - 1], 3),
        "max_s": round(delays[-1], 3),
    }
