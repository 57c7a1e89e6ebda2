"""
Providers' reports after a message left (`domain.delivery`, `services.delivery`): each kept
once, moving the touch forward only, suppressing bounced and complaining addresses.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cartback.domain.consent import Channel
from cartback.domain.delivery import DeliveryOutcome, touch_change
from cartback.domain.ports import TouchRecord
from cartback.domain.stores import Store
from cartback.domain.touches import EnrollmentStatus, TouchStatus
from cartback.engine.clock import SimulatedClock
from cartback.services.delivery import DeliveryReport, record_delivery
from fakes import FakeDatabase, FakeUnitOfWorkFactory
from helpers import enrolled_touch

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "outcome", "expected"),
    [
        (TouchStatus.SENT, DeliveryOutcome.DELIVERED, TouchStatus.DELIVERED),
        (TouchStatus.SENT, DeliveryOutcome.UNDELIVERED, TouchStatus.UNDELIVERED),
        (TouchStatus.SENT, DeliveryOutcome.FAILED, TouchStatus.FAILED),
        (TouchStatus.SENT, DeliveryOutcome.BOUNCED, TouchStatus.FAILED),
        (TouchStatus.AMBIGUOUS, DeliveryOutcome.ACCEPTED, TouchStatus.SENT),
        (TouchStatus.SENDING, DeliveryOutcome.DELIVERED, TouchStatus.DELIVERED),
        (TouchStatus.DELIVERED, DeliveryOutcome.ACCEPTED, None),
        (TouchStatus.DELIVERED, DeliveryOutcome.FAILED, None),
        (TouchStatus.SENT, DeliveryOutcome.ACCEPTED, None),
        (TouchStatus.SENT, DeliveryOutcome.SOFT_BOUNCED, None),
        (TouchStatus.SENT, DeliveryOutcome.COMPLAINED, None),
        (TouchStatus.SCHEDULED, DeliveryOutcome.DELIVERED, None),
        (TouchStatus.CANCELLED, DeliveryOutcome.DELIVERED, None),
    ],
)
def test_a_report_moves_a_touch_forward_only(
    status: TouchStatus, outcome: DeliveryOutcome, expected: TouchStatus | None
) -> None:
    """
    Reports move sent or in-flight touches to their outcome; a late or informational report
    (and one about a touch that never went) changes nothing.
    """
    # when
    change = touch_change(status, outcome, detail="30003 Unreachable", now=NOW)

    # then
    assert expected == (change.status if change is not None else None)


def test_a_failure_keeps_the_providers_words_and_a_short_reason() -> None:
    """
    The reason is a short code for reports; the provider's own words are kept beside it.
    """
    # when
    change = touch_change(
        TouchStatus.SENT, DeliveryOutcome.UNDELIVERED, detail="30003 Unreachable handset", now=NOW
    )

    # then
    assert change is not None
    assert ("undelivered", "30003 Unreachable handset") == (change.reason, change.provider_error)


@pytest.fixture
def sent_touch(database: FakeDatabase, shop: Store, clock: SimulatedClock) -> TouchRecord:
    """
    A contact's email touch that went out (provider id `msg-1`) and is their enrollment's only
    step.
    """
    now = clock.now()
    record, enrollment, touch = enrolled_touch(
        store_id=shop.id, contact_id="ct_1", key="cart-1", now=now, due_at=now
    )
    sent = replace(touch, status=TouchStatus.SENT, sent_at=now, provider_id="msg-1")
    database.carts[record.id] = record
    database.enrollments[enrollment.id] = enrollment
    database.touches[sent.id] = sent
    return sent


def _report(shop: Store, outcome: DeliveryOutcome, **fields: object) -> DeliveryReport:
    values: dict[str, object] = {
        "store_id": shop.id,
        "provider": "resend",
        "event_key": "evt-1",
        "outcome": outcome,
        "provider_id": "msg-1",
    }
    values.update(fields)
    return DeliveryReport(**values)  # type: ignore[arg-type]


def test_a_delivery_report_finds_the_touch_by_the_providers_id(
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
    shop: Store,
    sent_touch: TouchRecord,
) -> None:
    """
    `delivered` moves the touch found by the provider's message id, stamped now.
    """
    # when
    result = record_delivery(
        uow=uow_factory(), clock=clock, report=_report(shop, DeliveryOutcome.DELIVERED)
    )

    # then
    touch = database.touches[sent_touch.id]
    assert (TouchStatus.DELIVERED, clock.now()) == (touch.status, touch.delivered_at)
    assert (False, sent_touch.id) == (result.duplicate, result.touch_id)


def test_a_replayed_report_changes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
    shop: Store,
    sent_touch: TouchRecord,
) -> None:
    """
    The same event key twice is kept once; the second is answered as a duplicate.
    """
    # given
    record_delivery(uow=uow_factory(), clock=clock, report=_report(shop, DeliveryOutcome.DELIVERED))
    clock.advance(timedelta(minutes=5))

    # when
    again = record_delivery(
        uow=uow_factory(), clock=clock, report=_report(shop, DeliveryOutcome.DELIVERED)
    )

    # then
    assert again.duplicate
    assert 1 == len(database.deliveries)
    assert clock.now() - timedelta(minutes=5) == database.touches[sent_touch.id].delivered_at


def test_a_hard_bounce_fails_the_touch_and_suppresses_the_address(
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
    shop: Store,
    sent_touch: TouchRecord,
) -> None:
    """
    A permanent bounce fails the touch and puts the (normalised) address on the list.
    """
    # when
    result = record_delivery(
        uow=uow_factory(),
        clock=clock,
        report=_report(
            shop, DeliveryOutcome.BOUNCED, address=" Gone@Example.COM ", detail="550 no user"
        ),
    )

    # then
    assert TouchStatus.FAILED == database.touches[sent_touch.id].status
    assert result.suppressed
    [entry] = database.suppressions
    assert (Channel.EMAIL, "gone@example.com", "hard_bounce", "resend") == (
        entry.channel,
        entry.address,
        entry.reason,
        entry.source,
    )


def test_a_complaint_suppresses_and_leaves_the_touch_as_it_was(
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
    shop: Store,
    sent_touch: TouchRecord,
) -> None:
    """
    A spam complaint is about a message that arrived: the touch stays, the address goes.
    """
    # when
    record_delivery(
        uow=uow_factory(),
        clock=clock,
        report=_report(shop, DeliveryOutcome.COMPLAINED, address="angry@example.com"),
    )

    # then
    assert TouchStatus.SENT == database.touches[sent_touch.id].status
    assert ["complaint"] == [s.reason for s in database.suppressions]


def test_a_providers_confirmation_settles_a_parked_touch_as_sent(
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
    shop: Store,
    sent_touch: TouchRecord,
) -> None:
    """
    A parked ambiguous text named by its status callback (our touch id) becomes `sent` with the
    provider's id, its cart counts as touched, and its enrollment completes.
    """
    # given
    parked = replace(
        sent_touch,
        status=TouchStatus.AMBIGUOUS,
        sent_at=None,
        provider_id=None,
        channel=Channel.SMS,
    )
    database.touches[parked.id] = parked

    # when
    record_delivery(
        uow=uow_factory(),
        clock=clock,
        report=_report(
            shop,
            DeliveryOutcome.ACCEPTED,
            provider="twilio",
            provider_id="SM123",
            touch_id=parked.id,
            channel=Channel.SMS,
        ),
    )

    # then
    touch = database.touches[parked.id]
    assert (TouchStatus.SENT, "SM123", clock.now()) == (
        touch.status,
        touch.provider_id,
        touch.sent_at,
    )
    assert clock.now() == database.carts[parked.cart_id].cart.touched_at
    assert EnrollmentStatus.COMPLETED == database.enrollments[parked.enrollment_id].status


def test_a_report_naming_another_stores_touch_moves_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
    shop: Store,
    sent_touch: TouchRecord,
) -> None:
    """
    A touch id in a callback is only trusted within the store whose webhook it came to.
    """
    # when
    result = record_delivery(
        uow=uow_factory(),
        clock=clock,
        report=_report(
            shop,
            DeliveryOutcome.FAILED,
            store_id="st_other",
            provider_id=None,
            touch_id=sent_touch.id,
        ),
    )

    # then
    assert result.touch_id is None
    assert TouchStatus.SENT == database.touches[sent_touch.id].status
