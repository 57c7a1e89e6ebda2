"""
Abandonment timers: how late carts are marked after they become due (the worker running for
real on the system clock), and whether the claim's cost stays flat as the table grows.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from bench._env import create_bench_store, fresh_database, machine, median_claim_ms, settings
from cartback.bootstrap import bootstrap
from cartback.domain.cart import new_cart
from cartback.domain.events import LineItem, Stage
from cartback.domain.ports import CartRecord
from cartback.kit.ids import new_id
from cartback.store.database import create_database_engine
from cartback.store.uow import SqlUnitOfWorkFactory


def _due_records(store_id: str, moments: list[datetime], prefix: str) -> list[CartRecord]:
    now = datetime.now(UTC)
    line = LineItem(product_id="p-1", quantity=1)
    return [
        CartRecord(
            id=new_id("ca"),
            store_id=store_id,
            cart=replace(
                new_cart(key=f"{prefix}-{n}", currency="USD"),
                lines=(line,),
                stage=Stage.CART,
                last_activity_at=moment - timedelta(minutes=30),
                check_at=moment,
            ),
            created_at=now,
        )
        for n, moment in enumerate(moments)
    ]


def _add(factory: SqlUnitOfWorkFactory, records: list[CartRecord]) -> None:
    for start in range(0, len(records), 5000):
        with factory() as uow:
            uow.carts.add(records[start : start + 5000], now=datetime.now(UTC))
            uow.commit()


def bench_lateness(
    backend: str, *, carts: int = 20_000, spread_seconds: int = 20
) -> dict[str, Any]:
    """
    Carts fall due evenly over `spread_seconds`; one worker marks them. Lateness is measured
    from the due moment to the commit that made the cart abandoned.
    """
    with fresh_database(backend) as url:
        store_id, _key = create_bench_store(url)
        container = bootstrap(settings(url))
        start = datetime.now(UTC) + timedelta(seconds=5)
        step = spread_seconds / carts
        moments = [start + timedelta(seconds=n * step) for n in range(carts)]
        _add(container.uow_factory, _due_records(store_id, moments, "late"))
        worker = container.new_worker(name="bench")
        lateness: list[float] = []
        deadline = time.monotonic() + spread_seconds + 60
        while len(lateness) < carts and time.monotonic() < deadline:
            before = datetime.now(UTC)
            report = worker.run_pass()
            committed = (datetime.now(UTC) - before).total_seconds()
            lateness.extend(seconds + committed for seconds in report.lateness)
            if report.processed < container.settings.worker_batch_size:
                time.sleep(worker.idle_seconds())
        container.close()
    ordered = sorted(lateness)
    return {
        "backend": backend,
        "machine": machine(),
        "carts": carts,
        "marked": len(ordered),
        "rate_per_second": round(carts / spread_seconds),
        "poll_interval_seconds": settings(url).worker_poll_interval.total_seconds(),
        "p50_s": round(ordered[len(ordered) // 2], 3),
        "p99_s": round(ordered[int(len(ordered) * 0.99) - 1], 3),
        "max_s": round(ordered[-1], 3),
    }


def _fill(engine: Engine, store_id: str, count: int, backend: str) -> None:
    """
    `count` carts that are not due: half closed (no timer), half waiting on a future timer.
    """
    if backend == "postgresql":
        sql = """
            INSERT INTO carts (id, store_id, cart_key, status, stage, currency, total, item_count,
                               is_bot, last_activity_at, check_at, signals, created_at, updated_at)
            SELECT 'fill_' || n, :store, 'fill-' || n, 'active', 'cart', 'USD', 10, 1, false,
                   now(), CASE WHEN n % 2 = 0 THEN NULL ELSE now() + interval '1 day' END,
                   '{}'::jsonb, now(), now()
            FROM generate_series(1, :count) AS n
        """
    else:
        sql = """
            WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :count)
            INSERT INTO carts (id, store_id, cart_key, status, stage, currency, total, item_count,
                               is_bot, last_activity_at, check_at, signals, created_at, updated_at)
            SELECT 'fill_' || n, :store, 'fill-' || n, 'active', 'cart', 'USD', 100000, 1, 0,
                   datetime('now'),
                   CASE WHEN n % 2 = 0 THEN NULL
                        ELSE strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 day') END,
                   '{}', datetime('now'), datetime('now')
            FROM seq
        """
    with engine.begin() as connection:
        connection.execute(text(sql), {"store": store_id, "count": count})
        if backend == "postgresql":
            connection.execute(text("ANALYZE carts"))
        else:
            connection.execute(text("ANALYZE"))


def _claim_ms(factory: SqlUnitOfWorkFactory, *, limit: int, repeats: int) -> float:
    return median_claim_ms(
        factory,
        lambda uow, now, n: uow.carts.claim_due(now=now, limit=n),
        limit=limit,
        repeats=repeats,
    )


def bench_claim_scaling(
    backend: str, *, sizes: tuple[int, ...] = (10_000, 1_000_000), due: int = 200, repeats: int = 50
) -> dict[str, Any]:
    """
    The cost of claiming `due` carts with the table at each size (the same due work each time).
    """
    results: dict[str, float] = {}
    for size in sizes:
        with fresh_database(backend) as url:
            store_id, _key = create_bench_store(url)
            engine = create_database_engine(url)
            factory = SqlUnitOfWorkFactory(engine)
            past = datetime.now(UTC) - timedelta(minutes=1)
            _add(factory, _due_records(store_id, [past] * due, "due"))
            _fill(engine, store_id, size - due, backend)
            _claim_ms(factory, limit=due, repeats=5)  # warm the caches
            results[str(size)] = round(_claim_ms(factory, limit=due, repeats=repeats), 3)
            engine.dispose()
    smallest, largest = results[str(sizes[0])], results[str(sizes[-1])]
    return {
        "backend": backend,
        "machine": machine(),
        "due_per_claim": due,
        "median_claim_ms": results,
        "ratio": round(largest / smallest, 3),
    }
