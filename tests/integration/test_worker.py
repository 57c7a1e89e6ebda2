"""
The abandonment worker on a real database (SQLite and PostgreSQL) and a simulated clock:
carts are abandoned at their due moment and not before, orders win, abandoned carts are lost
after the recovery window, `run(once=True)` drains everything due and keeps the workers table,
and two workers sharing the due carts never decide one cart twice.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from cartback.bootstrap import Container
from cartback.domain.cart import Cart, CartStatus
from cartback.domain.events import CartEvent, ItemAdded, LineItem, OrderPlaced, Stage
from cartback.domain.ingest import Inbound, MessageKind
from cartback.domain.ports import CartRecord, UnitOfWork
from cartback.domain.time import Clock
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker, WorkerConfig, run_workers
from cartback.kit.ids import new_id
from cartback.kit.metrics import Metrics
from cartback.services.ingest import ingest
from cartback.services.stores import CreatedStore
from cartback.store.tables import carts, workers

ABANDON_AFTER = timedelta(minutes=30)
RECOVERY_WINDOW = timedelta(days=7)


class TickingClock:
    """
    A simulated clock that moves one step forward every time it is read.
    """

    def __init__(self, start: datetime, step: timedelta) -> None:
        self._clock = SimulatedClock(start)
        self._step = step

    def now(self) -> datetime:
        """
        The next instant.
        """
        return self._clock.advance(self._step)


class WatchingFactory:
    """
    Hands out the container's units of work and, each time, notes which workers are alive.
    """

    def __init__(self, container: Container, since: datetime) -> None:
        self._container = container
        self._since = since
        self.alive_seen: set[str] = set()

    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        with self._container.uow_factory(read_only=True) as uow:
            self.alive_seen.update(w["id"] for w in uow.workers.alive(since=self._since))
        return self._container.uow_factory(read_only=read_only)


class _Failing:
    """
    A repository whose one method finds the database gone; its other methods work.
    """

    def __init__(self, inner: object, method: str) -> None:
        self._inner = inner
        self._method = method

    def __getattr__(self, name: str) -> Any:
        if name == self._method:
            return self._fail
        return getattr(self._inner, name)

    def _fail(self, *args: object, **kwargs: object) -> None:
        raise OperationalError(self._method, {}, ConnectionError("server closed the connection"))


class _UnitWithFailure:
    """
    A unit of work like the container's, with one repository method failing.
    """

    def __init__(self, inner: UnitOfWork, repository: str, method: str) -> None:
        self._inner = inner
        self._repository = repository
        self._method = method

    def __enter__(self) -> Any:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(None, None, None)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        return _Failing(value, self._method) if name == self._repository else value


class DatabaseFailing:
    """
    Hands out units of work whose `repository.method` always fails, as during an outage.
    """

    def __init__(self, container: Container, repository: str, method: str) -> None:
        self._container = container
        self._repository = repository
        self._method = method

    def __call__(self, *, read_only: bool = False) -> Any:
        unit = self._container.uow_factory(read_only=read_only)
        return _UnitWithFailure(unit, self._repository, self._method)


@pytest.fixture
def shop(store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    A store abandoning carts after 30 minutes and losing them 7 days later.
    """
    return store_factory(abandon_after=ABANDON_AFTER, recovery_window=RECOVERY_WINDOW)


@pytest.fixture
def send(container: Container, shop: CreatedStore) -> Callable[..., None]:
    """
    Ingests cart events for cart `c-1` of one visitor, each as its own batch.
    """

    def run(event: CartEvent, *, cart_key: str = "c-1", order_key: str | None = None) -> None:
        message = Inbound(
            source="segment",
            message_id=uuid.uuid4().hex,
            kind=MessageKind.TRACK,
            name=type(event).__name__,
            occurred_at=event.occurred_at,
            anonymous_id="anon-1",
            cart_key=cart_key,
            order_key=order_key,
            event=event,
        )
        ingest(
            uow=container.uow_factory(),
            clock=container.clock,
            store_id=shop.store.id,
            messages=[message],
        )

    return run


@pytest.fixture
def read_cart(container: Container, shop: CreatedStore) -> Callable[[str], Cart]:
    """
    Reads a cart of the store back by its key.
    """

    def read(key: str) -> Cart:
        with container.uow_factory(read_only=True) as uow:
            record = uow.carts.get(shop.store.id, key)
        assert record is not None
        return record.cart

    return read


@pytest.fixture
def worker_factory(container: Container) -> Callable[..., Worker]:
    """
    Builds a worker on the test's database (the container's clock unless another is given).
    """

    def make(
        *, batch_size: int = 200, clock: Clock | None = None, uow_factory: Any = None, **config: Any
    ) -> Worker:
        return Worker(
            uow_factory=uow_factory or container.uow_factory,
            clock=clock or container.clock,
            metrics=Metrics(),
            config=WorkerConfig(batch_size=batch_size, poll_interval=timedelta(0), **config),
        )

    return make


@pytest.fixture
def due_carts(
    container: Container, shop: CreatedStore, clock: SimulatedClock
) -> Callable[[int], list[CartRecord]]:
    """
    Stores `count` active carts, all due now (last active 30 minutes ago), in one transaction.
    """

    def make(count: int) -> list[CartRecord]:
        now = clock.now()
        due_at = now - timedelta(seconds=1)
        cart = Cart(
            key="",
            currency="USD",
            lines=(LineItem(product_id="p-1", unit_price=Decimal("9.90")),),
            stage=Stage.CART,
            last_activity_at=now - ABANDON_AFTER,
            check_at=due_at,
        )
        records = [
            CartRecord(
                id=new_id("ca"),
                store_id=shop.store.id,
                cart=replace(cart, key=f"bulk-{n}", check_at=due_at - timedelta(milliseconds=n)),
                created_at=now,
            )
            for n in range(count)
        ]
        with container.uow_factory() as uow:
            uow.carts.add(records, now=now)
            uow.commit()
        return records

    return make


def statuses(container: Container) -> dict[str, int]:
    """
    How many carts have each status.
    """
    with container.engine.connect() as connection:
        rows = connection.execute(select(carts.c.status, func.count()).group_by(carts.c.status))
        return dict(rows.all())


def abandoned(container: Container) -> int:
    """
    How many carts are abandoned, read without taking SQLite's write lock.
    """
    with container.engine.connect().execution_options(cartback_read_only=True) as connection:
        query = select(func.count()).where(carts.c.status == CartStatus.ABANDONED.value)
        return int(connection.execute(query).scalar_one())


def added(at: datetime) -> ItemAdded:
    """
    A Product Added event.
    """
    return ItemAdded(occurred_at=at, item=LineItem(product_id="p-1", unit_price=Decimal("25")))


def test_a_cart_is_not_abandoned_before_it_is_due(
    send: Callable[..., None],
    read_cart: Callable[[str], Cart],
    worker_factory: Callable[..., Worker],
    clock: SimulatedClock,
) -> None:
    """
    One second before the delay runs out, a pass leaves the cart active.
    """
    # given
    send(added(clock.now()))
    clock.advance(ABANDON_AFTER - timedelta(seconds=1))
    # when
    report = worker_factory().run_pass()
    # then
    assert (0, CartStatus.ACTIVE) == (report.processed, read_cart("c-1").status)


def test_a_cart_is_abandoned_at_the_moment_it_became_due(
    send: Callable[..., None],
    read_cart: Callable[[str], Cart],
    worker_factory: Callable[..., Worker],
    clock: SimulatedClock,
) -> None:
    """
    A pass after the delay marks the cart abandoned as of its due moment, not of the pass.
    """
    # given
    started = clock.now()
    send(added(started))
    clock.advance(ABANDON_AFTER + timedelta(minutes=5))
    # when
    report = worker_factory().run_pass()
    # then
    cart = read_cart("c-1")
    assert (CartStatus.ABANDONED, started + ABANDON_AFTER) == (cart.status, cart.abandoned_at)
    assert (300.0,) == report.lateness


def test_an_order_before_the_delay_converts_and_is_never_abandoned(
    send: Callable[..., None],
    read_cart: Callable[[str], Cart],
    worker_factory: Callable[..., Worker],
    clock: SimulatedClock,
) -> None:
    """
    A cart ordered within the delay is converted, and no later pass abandons or loses it.
    """
    # given
    started = clock.now()
    send(added(started))
    clock.advance(timedelta(minutes=10))
    send(OrderPlaced(occurred_at=clock.now(), order_id="o-1"), order_key="o-1")
    clock.advance(RECOVERY_WINDOW + timedelta(days=1))
    # when
    processed = worker_factory().run(once=True)
    # then
    cart = read_cart("c-1")
    assert (0, CartStatus.CONVERTED, None, None) == (
        processed,
        cart.status,
        cart.abandoned_at,
        cart.check_at,
    )


def test_an_abandoned_cart_is_lost_after_the_recovery_window(
    send: Callable[..., None],
    read_cart: Callable[[str], Cart],
    worker_factory: Callable[..., Worker],
    clock: SimulatedClock,
) -> None:
    """
    The recovery window after the abandonment ends with the cart lost.
    """
    # given
    started = clock.now()
    send(added(started))
    worker = worker_factory()
    clock.advance(ABANDON_AFTER)
    worker.run_pass()
    clock.advance(RECOVERY_WINDOW)
    # when
    worker.run_pass()
    # then
    cart = read_cart("c-1")
    lost_at = started + ABANDON_AFTER + RECOVERY_WINDOW
    assert (CartStatus.LOST, lost_at, None) == (cart.status, cart.lost_at, cart.check_at)


def test_a_returning_shopper_reopens_an_abandoned_cart(
    send: Callable[..., None],
    read_cart: Callable[[str], Cart],
    worker_factory: Callable[..., Worker],
    clock: SimulatedClock,
) -> None:
    """
    Activity after the abandonment makes the cart active again with a new timer.
    """
    # given
    send(added(clock.now()))
    clock.advance(ABANDON_AFTER)
    worker_factory().run_pass()
    clock.advance(timedelta(hours=1))
    # when
    send(added(clock.now()))
    # then
    cart = read_cart("c-1")
    assert (CartStatus.ACTIVE, clock.now() + ABANDON_AFTER) == (cart.status, cart.check_at)


def test_run_once_processes_everything_due(
    due_carts: Callable[[int], list[CartRecord]],
    worker_factory: Callable[..., Worker],
    container: Container,
) -> None:
    """
    `run(once=True)` returns after deciding every due cart.
    """
    # given
    due_carts(5)
    # when
    processed = worker_factory().run(once=True)
    # then
    assert (5, {"abandoned": 5}) == (processed, statuses(container))


def test_run_once_drains_more_than_one_batch(
    due_carts: Callable[[int], list[CartRecord]],
    worker_factory: Callable[..., Worker],
    container: Container,
    clock: SimulatedClock,
) -> None:
    """
    With more carts due than the batch size, passes continue until none is left.
    """
    # given
    due_carts(35)
    # when
    processed = worker_factory(batch_size=10).run(once=True)
    # then
    with container.uow_factory(read_only=True) as uow:
        left = uow.carts.due_count(now=clock.now())
    assert (35, 0, {"abandoned": 35}) == (processed, left, statuses(container))


def test_run_registers_beats_and_stops_in_the_workers_table(
    due_carts: Callable[[int], list[CartRecord]],
    worker_factory: Callable[..., Worker],
    container: Container,
    clock: SimulatedClock,
) -> None:
    """
    A worker is alive in the workers table while it runs, beats, and is marked stopped after.
    """
    # given
    due_carts(3)
    start = clock.now()
    watching = WatchingFactory(container, since=start)
    ticking = TickingClock(start, step=timedelta(seconds=1))
    worker = worker_factory(
        clock=ticking, uow_factory=watching, heartbeat_interval=timedelta(seconds=1)
    )
    # when
    worker.run(once=True)
    # then
    with container.engine.connect() as connection:
        row = connection.execute(select(workers).where(workers.c.id == worker.id)).mappings().one()
    assert {worker.id} == watching.alive_seen
    assert row["started_at"] < row["heartbeat_at"] <= row["stopped_at"]
    with container.uow_factory(read_only=True) as uow:
        assert [] == uow.workers.alive(since=start)


def test_two_workers_never_decide_a_cart_twice(
    due_carts: Callable[[int], list[CartRecord]],
    worker_factory: Callable[..., Worker],
    container: Container,
) -> None:
    """
    Two workers on two threads share 10,000 due carts: together they decide exactly 10,000
    and every cart ends abandoned, so none was decided by both (SKIP LOCKED on PostgreSQL,
    BEGIN IMMEDIATE on SQLite). They run as in service, not `once`: on SQLite one worker can
    hold the only write lock long enough for the other's pass to give up waiting, and a
    worker in service retries such a pass after a back-off where `once` would raise.
    """
    # given
    due_carts(10_000)
    pair = [worker_factory(batch_size=100), worker_factory(batch_size=100)]
    processed: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(pair))

    def run(worker: Worker) -> None:
        try:
            start.wait(timeout=10)
            processed.append(worker.run())
        except BaseException as error:  # reported below, so a thread cannot fail silently
            errors.append(error)

    threads = [threading.Thread(target=run, args=(w,)) for w in pair]
    # when
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while abandoned(container) < 10_000 and time.monotonic() < deadline:
        time.sleep(0.2)
    for worker in pair:
        worker.stop()
    for thread in threads:
        thread.join(timeout=30)
    # then
    assert [] == errors
    assert (10_000, {"abandoned": 10_000}) == (sum(processed), statuses(container))


def test_a_failed_heartbeat_does_not_stop_the_worker(
    due_carts: Callable[[int], list[CartRecord]],
    worker_factory: Callable[..., Worker],
    container: Container,
) -> None:
    """
    A heartbeat lost to a database error is logged and skipped; the worker goes on.
    """
    # given
    due_carts(3)
    worker = worker_factory(
        uow_factory=DatabaseFailing(container, "workers", "heartbeat"),
        heartbeat_interval=timedelta(0),
    )
    # when
    processed = worker.run(once=True)
    # then
    assert (3, {"abandoned": 3}) == (processed, statuses(container))


def test_run_workers_reports_a_loop_that_failed(
    due_carts: Callable[[int], list[CartRecord]],
    worker_factory: Callable[..., Worker],
    container: Container,
) -> None:
    """
    When one of several claim loops fails, `run_workers` raises its error instead of
    reporting success for the loops that were left.
    """
    # given
    due_carts(3)
    pair = [
        worker_factory(),
        worker_factory(uow_factory=DatabaseFailing(container, "carts", "claim_due")),
    ]
    # when
    with pytest.raises(OperationalError) as raised:
        run_workers(pair, once=True)
    # then
    assert "claim_due" in str(raised.value)


def test_a_slow_report_snapshot_does_not_hold_the_timers(
    due_carts: Callable[[int], list[CartRecord]],
    worker_factory: Callable[..., Worker],
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    In service, the overview snapshot (seconds over a big store) is computed beside the loop:
    carts falling due while it is still running are abandoned all the same.
    """
    # given: a snapshot refresh that does not finish until the test lets it
    release, started = threading.Event(), threading.Event()

    def slow_refresh(**_: Any) -> bool:
        started.set()
        release.wait(timeout=60)
        return True

    monkeypatch.setattr("cartback.engine.worker.refresh_stalest", slow_refresh)
    worker = worker_factory()
    loop = threading.Thread(target=worker.run)
    loop.start()
    try:
        assert started.wait(timeout=30)
        # when: carts fall due while the refresh still runs
        due_carts(3)
        deadline = time.monotonic() + 30
        while abandoned(container) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        # then
        assert 3 == abandoned(container)
        assert not release.is_set()
    finally:
        release.set()
        worker.stop()
        loop.join(timeout=30)
