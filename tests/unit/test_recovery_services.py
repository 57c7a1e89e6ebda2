"""
Enrollment and dispatch on in-memory fakes: what is written when a cart is abandoned, and
how the send protocol treats guards, channel failures and ambiguous sends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from cartback.domain.cart import Cart, CartStatus
from cartback.domain.consent import Channel
from cartback.domain.events import LineItem, Stage
from cartback.domain.ports import CartRecord, Contact, OrderRecord, OutboundMessage
from cartback.domain.stores import Store
from cartback.domain.touches import (
    EnrollmentStatus,
    GiveUp,
    Retry,
    RetryPolicy,
    SendFailed,
    TouchStatus,
    retry_decision,
)
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services import enrollment
from cartback.services.abandonment import process_due_carts
from cartback.services.dispatch import DispatchConfig, DispatchReport, dispatch_due_touches
from fakes import FakeChannel, FakeDatabase, FakeUnitOfWorkFactory, OrderRow
from helpers import make_composer


@pytest.fixture
def abandoned(
    database: FakeDatabase, shop: Store, clock: SimulatedClock
) -> Callable[..., CartRecord]:
    """
    Stores a contact's 40 USD cart that became due for abandonment a minute ago.
    """

    def make(contact_id: str | None = None) -> CartRecord:
        now = clock.now()
        if contact_id is None:
            contact_id = new_id("ct")
            database.contacts[contact_id] = Contact(
                id=contact_id,
                store_id=shop.id,
                user_id=None,
                email=f"{contact_id}@example.com",
                phone=None,
                is_bot=False,
                created_at=now,
                updated_at=now,
            )
        cart = Cart(
            key=new_id("cart"),
            currency="USD",
            lines=(LineItem(product_id="p-1", name="Lamp", unit_price=Decimal(40)),),
            stage=Stage.CART,
            last_activity_at=now - timedelta(hours=1, minutes=1),
            check_at=now - timedelta(minutes=31),
        )
        record = CartRecord(
            id=new_id("ca"), store_id=shop.id, cart=cart, contact_id=contact_id, created_at=now
        )
        database.carts[record.id] = record
        return record

    return make


@pytest.fixture
def channel() -> FakeChannel:
    """
    A channel that records every call.
    """
    return FakeChannel()


@pytest.fixture
def dispatch(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, channel: FakeChannel
) -> Callable[[], DispatchReport]:
    """
    One dispatch pass of worker `wk_test` at the clock's time.
    """

    def run() -> DispatchReport:
        return dispatch_due_touches(
            uow_factory=uow_factory,
            clock=clock,
            channels={Channel.EMAIL: channel, Channel.SMS: channel},
            config=DispatchConfig(
                worker_id="wk_test", composer=make_composer(), retry=RetryPolicy(max_attempts=2)
            ),
        )

    return run


def _abandon(uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock) -> int:
    return process_due_carts(uow=uow_factory(), clock=clock, limit=100).enrolled


def test_abandonment_enrolls_the_contact_with_every_step_scheduled(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    abandoned: Callable[..., CartRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    The shipped `cart-recovery` flow (trigger after 1 h inactive) schedules touches 1 h, 24 h
    and 72 h after its trigger, in the abandonment's own transaction.
    """
    # given: nobody in the control group
    monkeypatch.setattr(enrollment, "is_withheld", lambda flow, contact_id: False)
    record = abandoned()
    # when
    enrolled = _abandon(uow_factory, clock)
    # then
    assert 1 == enrolled
    (only,) = database.enrollments.values()
    assert ("cart-recovery", EnrollmentStatus.ACTIVE) == (only.flow, only.status)
    trigger = record.cart.last_activity_at + timedelta(hours=1)  # type: ignore[operator]
    assert trigger == only.triggered_at
    touches = sorted(database.touches.values(), key=lambda t: t.step)
    assert [trigger + timedelta(hours=h) for h in (1, 24, 72)] == [t.due_at for t in touches]
    assert {TouchStatus.SCHEDULED} == {t.status for t in touches}


def test_control_group_touches_are_withheld(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    abandoned: Callable[..., CartRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    A control-group contact is enrolled with every touch `withheld`.
    """
    # given
    monkeypatch.setattr(enrollment, "is_withheld", lambda flow, contact_id: True)
    abandoned()
    # when
    _abandon(uow_factory, clock)
    # then
    assert "control" == next(iter(database.enrollments.values())).group.value
    assert {TouchStatus.WITHHELD} == {t.status for t in database.touches.values()}


def test_cart_without_contact_is_not_enrolled(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    abandoned: Callable[..., CartRecord],
) -> None:
    """
    Nobody to write to: the cart is abandoned, nothing is scheduled.
    """
    # given
    record = abandoned()
    database.carts[record.id] = dataclasses.replace(record, contact_id=None)
    # when
    enrolled = _abandon(uow_factory, clock)
    # then
    assert (0, {}) == (enrolled, database.touches)


@pytest.fixture
def first_due(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    abandoned: Callable[..., CartRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """
    An enrolled cart whose first touch is due now; its id.
    """
    monkeypatch.setattr(enrollment, "is_withheld", lambda flow, contact_id: False)
    abandoned()
    _abandon(uow_factory, clock)
    first = min(database.touches.values(), key=lambda t: t.step)
    clock.set(first.due_at)
    return first.id


def test_a_due_touch_is_sent_with_its_id_as_idempotency_key(
    database: FakeDatabase,
    first_due: str,
    channel: FakeChannel,
    dispatch: Callable[[], DispatchReport],
) -> None:
    """
    Sent once, recorded `sent` with the provider's id, and the cart is stamped touched.
    """
    # when
    report = dispatch()
    # then
    touch = database.touches[first_due]
    assert ([first_due], {"sent": 1}) == (channel.calls, report.statuses)
    assert (TouchStatus.SENT, f"fake-{first_due}") == (touch.status, touch.provider_id)
    assert database.carts[touch.cart_id].cart.touched_at == touch.sent_at


def test_transient_failure_backs_off_and_stays_scheduled(
    database: FakeDatabase,
    first_due: str,
    channel: FakeChannel,
    clock: SimulatedClock,
    dispatch: Callable[[], DispatchReport],
) -> None:
    """
    A timeout puts the touch back to `scheduled` a minute later, one attempt counted.
    """
    # given
    channel.fail_with = [SendFailed("timeout", transient=True)]
    # when
    dispatch()
    # then
    touch = database.touches[first_due]
    assert (TouchStatus.SCHEDULED, 1) == (touch.status, touch.attempts)
    assert clock.now() + timedelta(minutes=1) == touch.due_at


def test_transient_failures_fail_the_touch_at_the_attempt_limit(
    database: FakeDatabase,
    first_due: str,
    channel: FakeChannel,
    clock: SimulatedClock,
    dispatch: Callable[[], DispatchReport],
) -> None:
    """
    After `max_attempts` transient failures the touch is `failed`, never retried forever.
    """
    # given
    channel.fail_with = [SendFailed("timeout", transient=True)] * 2
    dispatch()
    clock.advance(timedelta(minutes=1))
    # when
    dispatch()
    # then
    touch = database.touches[first_due]
    assert (TouchStatus.FAILED, "timeout", 2) == (touch.status, touch.reason, touch.attempts)


def test_permanent_failure_fails_at_once(
    database: FakeDatabase,
    first_due: str,
    channel: FakeChannel,
    dispatch: Callable[[], DispatchReport],
) -> None:
    """
    A refused address is never retried.
    """
    # given
    channel.fail_with = [SendFailed("address_refused", transient=False)]
    # when
    dispatch()
    # then
    touch = database.touches[first_due]
    assert (TouchStatus.FAILED, "address_refused") == (touch.status, touch.reason)


def test_ambiguous_touch_already_delivered_is_recorded_sent_without_a_call(
    database: FakeDatabase,
    first_due: str,
    channel: FakeChannel,
    clock: SimulatedClock,
    dispatch: Callable[[], DispatchReport],
) -> None:
    """
    A `sending` touch past its lease whose message the provider has: `sent`, no new call.
    """
    # given: the provider took it, the worker died before recording
    touch = database.touches[first_due]
    database.touches[first_due] = dataclasses.replace(
        touch, status=TouchStatus.SENDING, lease_owner="wk_dead", lease_until=clock.now()
    )
    channel.sent[first_due] = channel_message(first_due)
    # when
    report = dispatch()
    # then
    assert ({"sent": 1}, []) == (report.statuses, channel.calls)
    assert TouchStatus.SENT == database.touches[first_due].status


def channel_message(touch_id: str) -> OutboundMessage:
    """
    A message as the provider holds it.
    """
    return OutboundMessage(
        store_id="st", touch_id=touch_id, channel=Channel.EMAIL, to="a@b.c", subject="s", text="t"
    )


def test_order_cancels_the_enrollment_with_ordered(
    database: FakeDatabase,
    first_due: str,
    shop: Store,
    clock: SimulatedClock,
    dispatch: Callable[[], DispatchReport],
    channel: FakeChannel,
) -> None:
    """
    An order by the contact ends the enrollment: this and every later touch `cancelled ordered`.
    """
    # given
    touch = database.touches[first_due]
    record = database.carts[touch.cart_id]
    database.carts[touch.cart_id] = dataclasses.replace(
        record, cart=dataclasses.replace(record.cart, status=CartStatus.CONVERTED)
    )
    order = OrderRecord(
        store_id=shop.id,
        order_key="o-1",
        cart_id=None,
        contact_id=record.contact_id,
        status="placed",
        total=Decimal(40),
        currency="USD",
        placed_at=clock.now(),
    )
    database.orders[(shop.id, "o-1")] = OrderRow(order=order, updated_at=clock.now())
    # when
    dispatch()
    # then
    assert [] == channel.calls
    assert {(TouchStatus.CANCELLED, "ordered")} == {
        (t.status, t.reason) for t in database.touches.values()
    }
    assert EnrollmentStatus.CANCELLED == next(iter(database.enrollments.values())).status


def test_retry_policy_backs_off_exponentially_up_to_its_ceiling(clock: SimulatedClock) -> None:
    """
    1 min, 2 min, 4 min … at most the ceiling; permanent errors give up at once.
    """
    # given
    policy = RetryPolicy(max_attempts=10, first=timedelta(minutes=1), longest=timedelta(minutes=5))
    transient = SendFailed("timeout", transient=True)
    now = clock.now()
    # when
    waits = [retry_decision(transient, attempts=n, now=now, policy=policy) for n in (1, 2, 3, 4)]
    # then
    assert [Retry(at=now + timedelta(minutes=m)) for m in (1, 2, 4, 5)] == waits
    permanent = SendFailed("bad_address", transient=False)
    assert GiveUp(reason="bad_address") == retry_decision(
        permanent, attempts=1, now=now, policy=policy
    )


class _SlowChannel(FakeChannel):
    """
    A channel whose every call takes `seconds` of the simulated clock.
    """

    def __init__(self, clock: SimulatedClock, seconds: float) -> None:
        super().__init__()
        self._clock = clock
        self._seconds = seconds

    def send(self, message: OutboundMessage, idempotency_key: str) -> str:
        self._clock.advance(timedelta(seconds=self._seconds))
        return super().send(message, idempotency_key)


def test_a_long_pass_renews_the_lease_of_its_sends_still_waiting(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    abandoned: Callable[..., CartRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    Six sends of 4 s each under a 9 s lease: without renewal the last ones would be another
    worker's (their lease long gone) before this worker called the channel; with the
    heartbeat every send still waiting is leased past the moment its call starts.
    """
    # given: six contacts whose first touch is due now
    monkeypatch.setattr(enrollment, "is_withheld", lambda flow, contact_id: False)
    for _ in range(6):
        abandoned()
    _abandon(uow_factory, clock)
    firsts = [t for t in database.touches.values() if t.step == 0]
    clock.set(max(t.due_at for t in firsts))
    channel = _SlowChannel(clock, seconds=4)
    leases: list[bool] = []
    original = channel.send

    def observing_send(message: OutboundMessage, idempotency_key: str) -> str:
        touch = database.touches[idempotency_key]
        leases.append(touch.lease_until is not None and touch.lease_until > clock.now())
        return original(message, idempotency_key)

    channel.send = observing_send  # type: ignore[method-assign]
    # when
    report = dispatch_due_touches(
        uow_factory=uow_factory,
        clock=clock,
        channels={Channel.EMAIL: channel},
        config=DispatchConfig(
            worker_id="wk_test", composer=make_composer(), lease=timedelta(seconds=9)
        ),
    )
    # then: each call started while this worker still held its lease
    assert ({"sent": 6}, [True] * 6) == (report.statuses, leases)


def test_a_send_whose_lease_another_worker_took_is_not_made(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    abandoned: Callable[..., CartRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    The first call stalls past the lease, and meanwhile another worker took the other sends
    over: the heartbeat finds them no longer this worker's, and they are not sent from here.
    """
    # given: three contacts whose first touch is due now
    monkeypatch.setattr(enrollment, "is_withheld", lambda flow, contact_id: False)
    for _ in range(3):
        abandoned()
    _abandon(uow_factory, clock)
    firsts = [t for t in database.touches.values() if t.step == 0]
    clock.set(max(t.due_at for t in firsts))
    channel = _SlowChannel(clock, seconds=12)
    original = channel.send

    def stalling_send(message: OutboundMessage, idempotency_key: str) -> str:
        answer = original(message, idempotency_key)
        for touch in list(database.touches.values()):
            if touch.status is TouchStatus.SENDING and touch.id != idempotency_key:
                database.touches[touch.id] = dataclasses.replace(touch, lease_owner="wk_other")
        return answer

    channel.send = stalling_send  # type: ignore[method-assign]
    # when
    dispatch_due_touches(
        uow_factory=uow_factory,
        clock=clock,
        channels={Channel.EMAIL: channel},
        config=DispatchConfig(
            worker_id="wk_test", composer=make_composer(), lease=timedelta(seconds=9)
        ),
    )
    # then: one call only; the others are left to the worker that holds them
    assert 1 == len(channel.calls)
    assert 2 == sum(1 for t in database.touches.values() if t.lease_owner == "wk_other")
