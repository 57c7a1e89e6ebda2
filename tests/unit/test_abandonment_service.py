"""
The abandonment timer use case on in-memory fakes: due carts are decided once, oldest first,
at the moment they became due; nothing else is touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from cartback.domain.cart import Cart, CartStatus, TimerOutcome
from cartback.domain.events import LineItem, Stage
from cartback.domain.ports import CartRecord
from cartback.domain.stores import Platform, Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services.abandonment import TimerReport, process_due_carts
from fakes import FakeDatabase, FakeUnitOfWorkFactory

ABANDON_AFTER = timedelta(minutes=30)
RECOVERY_WINDOW = timedelta(days=7)


@pytest.fixture
def shop(database: FakeDatabase, clock: SimulatedClock) -> Store:
    """
    A store abandoning carts after 30 minutes and losing them after 7 days.
    """
    store = Store(
        id=new_id("st"),
        name="Fake Shop",
        platform=Platform.CUSTOM,
        domains=("shop.example.com",),
        currency="USD",
        timezone="UTC",
        abandon_after=ABANDON_AFTER,
        recovery_window=RECOVERY_WINDOW,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    database.stores[store.id] = store
    return store


@pytest.fixture
def cart_factory(database: FakeDatabase, shop: Store) -> Callable[..., CartRecord]:
    """
    Stores an active cart with one line, last active at `active_at` and due 30 minutes later.
    """

    def make(active_at: datetime, **overrides: Any) -> CartRecord:
        cart = Cart(
            key=new_id("cart"),
            currency="USD",
            lines=(LineItem(product_id="p-1"),),
            stage=Stage.CART,
            last_activity_at=active_at,
            check_at=active_at + ABANDON_AFTER,
        )
        record = CartRecord(
            id=new_id("ca"),
            store_id=shop.id,
            cart=replace(cart, **overrides),
            created_at=active_at,
        )
        database.carts[record.id] = record
        return record

    return make


@pytest.fixture
def run_pass(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> Callable[..., TimerReport]:
    """
    Runs one pass of the timer at the clock's time.
    """

    def run(limit: int = 100) -> TimerReport:
        return process_due_carts(uow=uow_factory(), clock=clock, limit=limit)

    return run


def test_a_due_cart_is_abandoned_at_the_moment_it_became_due(
    cart_factory: Callable[..., CartRecord],
    run_pass: Callable[..., TimerReport],
    clock: SimulatedClock,
    database: FakeDatabase,
) -> None:
    """
    The cart is abandoned as of its due moment, not as of the pass, and waits for its loss.
    """
    # given
    record = cart_factory(clock.now())
    due_at = clock.now() + ABANDON_AFTER
    clock.advance(ABANDON_AFTER + timedelta(minutes=3))
    # when
    report = run_pass()
    # then
    cart = database.carts[record.id].cart
    assert (CartStatus.ABANDONED, due_at, due_at + RECOVERY_WINDOW) == (
        cart.status,
        cart.abandoned_at,
        cart.check_at,
    )
    assert ({TimerOutcome.ABANDONED: 1}, (180.0,)) == (report.outcomes, report.lateness)


def test_a_cart_not_yet_due_is_left_alone(
    cart_factory: Callable[..., CartRecord],
    run_pass: Callable[..., TimerReport],
    clock: SimulatedClock,
    database: FakeDatabase,
) -> None:
    """
    One microsecond before its due moment a cart stays active and nothing is committed.
    """
    # given
    record = cart_factory(clock.now())
    clock.advance(ABANDON_AFTER - timedelta(microseconds=1))
    # when
    report = run_pass()
    # then
    assert (0, record) == (report.processed, database.carts[record.id])
    assert 0 == database.commits


def test_an_abandoned_cart_is_lost_when_its_recovery_window_ends(
    cart_factory: Callable[..., CartRecord],
    run_pass: Callable[..., TimerReport],
    clock: SimulatedClock,
    database: FakeDatabase,
) -> None:
    """
    A second firing, at the end of the recovery window, makes the cart lost.
    """
    # given
    record = cart_factory(clock.now())
    clock.advance(ABANDON_AFTER)
    run_pass()
    lost_at = clock.advance(RECOVERY_WINDOW)
    # when
    report = run_pass()
    # then
    cart = database.carts[record.id].cart
    assert (CartStatus.LOST, lost_at, None) == (cart.status, cart.lost_at, cart.check_at)
    assert {TimerOutcome.LOST: 1} == report.outcomes


def test_a_pass_takes_the_oldest_due_carts_first(
    cart_factory: Callable[..., CartRecord],
    run_pass: Callable[..., TimerReport],
    clock: SimulatedClock,
    database: FakeDatabase,
) -> None:
    """
    With more due than the limit, the carts due longest are decided first.
    """
    # given
    start = clock.now()
    newest, oldest, middle = (cart_factory(start + timedelta(minutes=m)) for m in (2, 0, 1))
    clock.advance(timedelta(hours=1))
    # when
    run_pass(limit=2)
    # then
    statuses = [database.carts[r.id].cart.status for r in (oldest, middle, newest)]
    assert [CartStatus.ABANDONED, CartStatus.ABANDONED, CartStatus.ACTIVE] == statuses


def test_a_bot_cart_with_a_timer_is_cleared_not_abandoned(
    cart_factory: Callable[..., CartRecord],
    run_pass: Callable[..., TimerReport],
    clock: SimulatedClock,
    database: FakeDatabase,
) -> None:
    """
    A timer left on a bot's cart fires once and is removed; the cart is never abandoned.
    """
    # given
    record = cart_factory(clock.now(), is_bot=True)
    clock.advance(timedelta(hours=1))
    # when
    report = run_pass()
    # then
    cart = database.carts[record.id].cart
    assert (CartStatus.ACTIVE, None) == (cart.status, cart.check_at)
    assert {TimerOutcome.CLEARED: 1} == report.outcomes


def test_a_pass_keeps_the_cart_lines(
    cart_factory: Callable[..., CartRecord],
    run_pass: Callable[..., TimerReport],
    clock: SimulatedClock,
    database: FakeDatabase,
) -> None:
    """
    Marking a cart abandoned does not lose what is in it.
    """
    # given
    lines = (LineItem(product_id="p-2", quantity=3), LineItem(product_id="p-1"))
    record = cart_factory(clock.now(), lines=lines)
    clock.advance(timedelta(hours=1))
    # when
    run_pass()
    # then
    assert lines == database.carts[record.id].cart.lines
