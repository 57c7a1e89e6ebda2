"""
Clicks on restore links: the first click of a person (not a scanner: the edge decides) on a
touch's link is stamped once on the touch (`clicked_at`), in a short transaction of its own.
A flow that lists `clicked` in `exit_on` ends at that first click, its pending touches
cancelled `clicked`, as an order or a reply ends one.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from cartback.domain.ports import TouchRecord, UnitOfWork
from cartback.domain.reasons import Reason
from cartback.domain.touches import EnrollmentStatus
from cartback.services.enrollment import store_flows

log = structlog.get_logger(__name__)


def record_click(*, uow: UnitOfWork, touch_id: str, now: datetime) -> bool:
    """
    Count a click on the touch's restore link; True when it was the touch's first.
    """
    with uow:
        first = uow.touches.record_click(touch_id, now)
        touch = uow.touches.get(touch_id) if first else None
        if touch is not None:
            _end_on_click(uow, touch, now)
        uow.commit()
    if touch is not None:
        log.info(
            "restore.clicked",
            store_id=touch.store_id,
            touch_id=touch.id,
            enrollment_id=touch.enrollment_id,
            step=touch.step,
        )
    return first


def _end_on_click(uow: UnitOfWork, touch: TouchRecord, now: datetime) -> None:
    """
    End the touch's running enrollment if its flow exits on a click.
    """
    enrollment = uow.enrollments.get(touch.enrollment_id)
    if enrollment is None or enrollment.status is not EnrollmentStatus.ACTIVE:
        return
    flow = store_flows(uow, touch.store_id).flow(enrollment.flow)
    if flow is None or Reason.CLICKED.value not in flow.exit_on:
        return
    uow.touches.cancel_pending(enrollment.id, reason=Reason.CLICKED.value, now=now)
    uow.enrollments.end(
        enrollment.id, status=EnrollmentStatus.CANCELLED, reason=Reason.CLICKED.value, at=now
    )
    log.info("enrollment.clicked", store_id=touch.store_id, enrollment_id=enrollment.id)
