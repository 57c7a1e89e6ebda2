"""
Providers' reports after a message left: a Twilio status callback, an email provider's delivery,
bounce or complaint webhook. One transaction records the report once (a replay changes nothing),
moves the touch it is about (`domain.delivery.touch_change`), and puts a bounced, complaining or
carrier-opted-out address on the suppression list, so no flow messages it again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from cartback.domain.consent import Channel
from cartback.domain.delivery import SUPPRESSING, DeliveryEvent, DeliveryOutcome, touch_change
from cartback.domain.ports import Suppression, TouchRecord, UnitOfWork
from cartback.domain.time import Clock
from cartback.domain.touches import EnrollmentStatus, TouchStatus
from cartback.kit.normalise import normalise_email, normalise_phone

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryReport:
    """
    One report as a webhook read it. `touch_id` when the provider echoes ours back (Twilio's
    callback URL carries it), else the touch is found by `provider_id`.
    """

    store_id: str
    provider: str
    event_key: str
    outcome: DeliveryOutcome
    provider_id: str | None = None
    touch_id: str | None = None
    detail: str | None = None
    #: The recipient, for the suppression list (else the touch's own recipient is not known).
    address: str | None = None
    channel: Channel = Channel.EMAIL


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryResult:
    """
    What the report did: nothing (`duplicate`), and else the touch it moved, if any.
    """

    duplicate: bool
    touch_id: str | None = None
    status: TouchStatus | None = None
    suppressed: bool = False


def record_delivery(*, uow: UnitOfWork, clock: Clock, report: DeliveryReport) -> DeliveryResult:
    """
    Keep the report once and apply it, in one transaction.
    """
    now = clock.now()
    with uow:
        touch = _touch(uow, report)
        event = DeliveryEvent(
            store_id=report.store_id,
            provider=report.provider,
            event_key=report.event_key,
            outcome=report.outcome,
            received_at=now,
            provider_id=report.provider_id,
            touch_id=touch.id if touch is not None else None,
            detail=report.detail,
        )
        if not uow.deliveries.add(event):
            return DeliveryResult(duplicate=True, touch_id=event.touch_id)
        status = _move(uow, touch, report, now) if touch is not None else None
        suppressed = _suppress(uow, report, now)
        uow.commit()
    log.info(
        "delivery.reported",
        store_id=report.store_id,
        provider=report.provider,
        outcome=report.outcome.value,
        touch_id=event.touch_id,
        status=status.value if status else None,
    )
    return DeliveryResult(
        duplicate=False, touch_id=event.touch_id, status=status, suppressed=suppressed
    )


def _touch(uow: UnitOfWork, report: DeliveryReport) -> TouchRecord | None:
    """
    The store's touch the report is about: by our id when given, else by the provider's.
    """
    if report.touch_id:
        found = uow.touches.get(report.touch_id)
        if found is not None and found.store_id == report.store_id:
            return found
    if report.provider_id:
        return uow.touches.by_provider_id(report.store_id, report.provider_id)
    return None


def _move(
    uow: UnitOfWork, touch: TouchRecord, report: DeliveryReport, now: datetime
) -> TouchStatus | None:
    """
    Move the touch as the report says; its enrollment completes when nothing is left to go.
    """
    change = touch_change(touch.status, report.outcome, detail=report.detail, now=now)
    if change is None:
        return None
    sent_at = touch.sent_at or (now if change.confirmed_sent else None)
    uow.touches.save(
        replace(
            touch,
            status=change.status,
            reason=change.reason,
            provider_id=touch.provider_id or report.provider_id,
            delivered_at=change.delivered_at or touch.delivered_at,
            provider_error=change.provider_error or touch.provider_error,
            sent_at=sent_at,
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )
    if change.confirmed_sent and sent_at is not None and change.status is not TouchStatus.FAILED:
        # The provider confirms a send the dispatcher never recorded (parked, or its worker
        # died): the cart was touched, so a later order counts as a recovery.
        uow.touches.mark_carts_touched([touch.cart_id], at=sent_at)
    if not uow.touches.with_open_touches([touch.enrollment_id]):
        uow.enrollments.end(
            touch.enrollment_id, status=EnrollmentStatus.COMPLETED, reason=None, at=now
        )
    return change.status


def _suppress(uow: UnitOfWork, report: DeliveryReport, now: datetime) -> bool:
    """
    Put the address on the suppression list when the report says it must not be messaged.
    """
    reason = SUPPRESSING.get(report.outcome)
    if reason is None or not report.address:
        return False
    try:
        address = (
            normalise_email(report.address)
            if report.channel is Channel.EMAIL
            else normalise_phone(report.address)
        )
    except ValueError:
        log.warning("delivery.suppression.unreadable_address", provider=report.provider)
        return False
    return uow.suppressions.add(
        Suppression(
            store_id=report.store_id,
            channel=report.channel,
            address=address,
            reason=reason,
            source=report.provider[:40],
            created_at=now,
        )
    )
