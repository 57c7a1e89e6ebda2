"""
Retention on both databases with the simulated clock: the worker purges anonymous carts (with
their lines) and raw events older than the store's retention, keeps carts with a contact or an
order, purges in batches, runs at most every `retention_interval`, and counts what it purged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from person import send
from sqlalchemy import func, select

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker, WorkerConfig
from cartback.kit.metrics import Metrics
from cartback.services.retention import purge_expired
from cartback.services.stores import CreatedStore
from cartback.store.tables import cart_lines, carts, raw_events
from helpers import identify, track

RETENTION = timedelta(days=30)


@pytest.fixture
def shop(store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    A store keeping anonymous carts and raw events for 30 days.
    """
    return store_factory(retention=RETENTION)


@pytest.fixture
def worker(container: Container) -> Worker:
    """
    A worker on the test's database and clock, purging at most every 5 minutes.
    """
    return Worker(
        uow_factory=container.uow_factory,
        clock=container.clock,
        metrics=Metrics(),
        config=WorkerConfig(poll_interval=timedelta(0), retention_interval=timedelta(minutes=5)),
    )


def _count(container: Container, table: Any) -> int:
    with container.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _cart_keys(container: Container) -> set[str]:
    with container.engine.connect() as connection:
        return set(connection.execute(select(carts.c.cart_key)).scalars())


def _old_and_new(client: TestClient, shop: CreatedStore, clock: SimulatedClock) -> None:
    """
    An anonymous cart, a cart with a contact and an anonymous ordered cart, all 31 days old;
    then one fresh anonymous cart.
    """
    send(
        client,
        shop,
        track("Product Added", anonymous_id="a-old", cart_id="anon-old", product_id="p", price=1),
        track("Product Added", anonymous_id="a-known", cart_id="known-old", product_id="p"),
        identify(anonymous_id="a-known", email="known@example.com"),
        track("Product Added", anonymous_id="a-buyer", cart_id="ordered-old", product_id="p"),
        track("Order Completed", anonymous_id="a-buyer", cart_id="ordered-old", order_id="o-1"),
    )
    clock.advance(RETENTION + timedelta(days=1))
    send(
        client,
        shop,
        track("Product Added", anonymous_id="a-new", cart_id="anon-new", product_id="p"),
    )


def test_the_worker_purges_old_anonymous_carts_and_raw_events(
    client: TestClient,
    container: Container,
    shop: CreatedStore,
    clock: SimulatedClock,
    worker: Worker,
) -> None:
    """
    The old anonymous cart and its line go, with the five old raw events; the cart with a
    contact, the ordered cart and everything recent stay.
    """
    # given
    _old_and_new(client, shop, clock)
    # when
    worker.run(once=True)
    # then
    assert ({"known-old", "ordered-old", "anon-new"}, 1) == (
        _cart_keys(container),
        _count(container, raw_events),
    )
    assert 3 == _count(container, cart_lines)  # one line in each cart kept


def test_nothing_is_purged_within_the_retention(
    client: TestClient,
    container: Container,
    shop: CreatedStore,
    clock: SimulatedClock,
    worker: Worker,
) -> None:
    """
    One second before the retention runs out, the anonymous cart and its events stay.
    """
    # given
    send(client, shop, track("Product Added", anonymous_id="a", cart_id="anon", product_id="p"))
    clock.advance(RETENTION - timedelta(seconds=1))
    # when
    worker.run(once=True)
    # then
    assert ({"anon"}, 1) == (_cart_keys(container), _count(container, raw_events))


def test_the_purge_runs_at_most_every_interval_and_is_counted(
    client: TestClient,
    container: Container,
    shop: CreatedStore,
    clock: SimulatedClock,
    worker: Worker,
) -> None:
    """
    Right after a purge, a cart that expired meanwhile stays; five minutes later the next purge
    takes it. The metric counts every purged row by kind.
    """
    # given
    send(client, shop, track("Product Added", anonymous_id="a", cart_id="c-1", product_id="p"))
    clock.advance(RETENTION + timedelta(days=1))
    worker.run(once=True)
    long_ago = clock.now() - RETENTION - timedelta(days=1)
    send(client, shop, track("Product Added", anonymous_id="b", cart_id="c-2", product_id="p",
                             at=long_ago))  # fmt: skip
    # when
    too_soon = (worker.purge_if_due(), _cart_keys(container))
    clock.advance(timedelta(minutes=5))
    later = (worker.purge_if_due(), _cart_keys(container))
    # then
    registry = worker._metrics.registry
    purged = {
        kind: registry.get_sample_value("cartback_retention_purged_total", {"kind": kind})
        for kind in ("carts", "raw_events")
    }
    assert ((False, {"c-2"}), (True, set()), {"carts": 2.0, "raw_events": 1.0}) == (
        too_soon,
        later,
        purged,
    )


def test_a_purge_works_in_batches_until_done(
    client: TestClient, container: Container, shop: CreatedStore, clock: SimulatedClock
) -> None:
    """
    Seven old carts with a batch size of three take three transactions and all go; a budget
    of two batches leaves the rest for the next run and says so.
    """
    # given
    send(
        client,
        shop,
        *(
            track("Product Added", anonymous_id=f"a-{n}", cart_id=f"c-{n}", product_id="p")
            for n in range(7)
        ),
    )
    clock.advance(RETENTION + timedelta(days=1))
    # when
    partial = purge_expired(
        uow_factory=container.uow_factory, clock=clock, batch_size=3, max_batches=2
    )
    rest = purge_expired(uow_factory=container.uow_factory, clock=clock, batch_size=3)
    # then
    assert ({"carts": 6, "raw_events": 6}, True, {"carts": 1, "raw_events": 1}, False) == (
        partial.purged,
        partial.more,
        rest.purged,
        rest.more,
    )


def test_a_dry_run_counts_and_changes_nothing(
    client: TestClient, container: Container, shop: CreatedStore, clock: SimulatedClock
) -> None:
    """
    `dry_run` reports what would go; every row stays.
    """
    # given
    _old_and_new(client, shop, clock)
    # when
    report = purge_expired(
        uow_factory=container.uow_factory, clock=clock, store_id=shop.store.id, dry_run=True
    )
    # then
    assert ({"carts": 1, "raw_events": 5}, 4) == (report.purged, _count(container, carts))


def test_each_store_keeps_rows_for_its_own_retention(
    client: TestClient,
    container: Container,
    store_factory: Callable[..., CreatedStore],
    clock: SimulatedClock,
) -> None:
    """
    After 31 days the 30-day store's cart is gone and the 90-day store's stays.
    """
    # given
    short, default = store_factory(retention=RETENTION), store_factory()
    send(client, short, track("Product Added", anonymous_id="a", cart_id="short", product_id="p"))
    send(client, default, track("Product Added", anonymous_id="a", cart_id="long", product_id="p"))
    clock.advance(RETENTION + timedelta(days=1))
    # when
    purge_expired(uow_factory=container.uow_factory, clock=clock)
    # then
    assert {"long"} == _cart_keys(container)
