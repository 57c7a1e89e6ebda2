"""
Enrollments, touches and the outbox: the tables of the recovery engine, and the worker's claim
on due touches (the same pattern as the cart timers, ADR 0002).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from cartback.domain.consent import Channel
from cartback.domain.events import Stage
from cartback.domain.ports import (
    CartTouch,
    EnrollmentRecord,
    OutboxMessage,
    TouchRecord,
)
from cartback.domain.touches import (
    PENDING,
    WENT,
    EnrollmentStatus,
    Group,
    TouchStatus,
)
from cartback.store.tables import carts, contacts, enrollments, orders, outbox_messages, touches

_PENDING = tuple(s.value for s in PENDING)
_WENT = tuple(s.value for s in WENT)
_ENROLLMENT_COLUMNS = (
    "id",
    "store_id",
    "contact_id",
    "cart_id",
    "flow",
    "flow_version",
    "group",
    "status",
    "stage",
    "triggered_at",
    "started_at",
    "reason",
    "ended_at",
)
_TOUCH_STATE = (
    "status",
    "reason",
    "due_at",
    "attempts",
    "lease_owner",
    "lease_until",
    "sent_at",
    "provider_id",
    "updated_at",
)


def _postgresql(db: Connection) -> bool:
    return db.dialect.name == "postgresql"


class SqlEnrollmentRepository:
    """
    The `enrollments` table.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, record: EnrollmentRecord) -> None:
        row = {name: getattr(record, name) for name in _ENROLLMENT_COLUMNS}
        row.update(group=record.group.value, status=record.status.value, stage=record.stage.value)
        self._db.execute(enrollments.insert(), [row])

    def get(self, enrollment_id: str) -> EnrollmentRecord | None:
        row = (
            self._db.execute(select(enrollments).where(enrollments.c.id == enrollment_id))
            .mappings()
            .first()
        )
        return _enrollment(row) if row else None

    def active_for_contact(self, contact_id: str) -> EnrollmentRecord | None:
        query = select(enrollments).where(
            enrollments.c.contact_id == contact_id,
            enrollments.c.status == EnrollmentStatus.ACTIVE.value,
        )
        if _postgresql(self._db):
            query = query.with_for_update()
        row = self._db.execute(query).mappings().first()
        return _enrollment(row) if row else None

    def for_cart(self, cart_id: str) -> list[EnrollmentRecord]:
        rows = self._db.execute(
            select(enrollments)
            .where(enrollments.c.cart_id == cart_id)
            .order_by(enrollments.c.started_at, enrollments.c.id)
        ).mappings()
        return [_enrollment(row) for row in rows]

    def end(
        self, enrollment_id: str, *, status: EnrollmentStatus, reason: str | None, at: datetime
    ) -> None:
        self._db.execute(
            update(enrollments)
            .where(
                enrollments.c.id == enrollment_id,
                enrollments.c.status == EnrollmentStatus.ACTIVE.value,
            )
            .values(status=status.value, reason=reason, ended_at=at)
        )


class SqlTouchRepository:
    """
    The `touches` table and the reads the guards need around it.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, records: Sequence[TouchRecord]) -> None:
        if records:
            self._db.execute(touches.insert(), [_touch_row(r) for r in records])

    def get(self, touch_id: str) -> TouchRecord | None:
        row = self._db.execute(select(touches).where(touches.c.id == touch_id)).mappings().first()
        return _touch(row) if row else None

    def save(self, record: TouchRecord) -> None:
        row = _touch_row(record)
        self._db.execute(
            update(touches)
            .where(touches.c.id == record.id)
            .values({name: row[name] for name in _TOUCH_STATE})
        )

    def claim_due(self, *, now: datetime, limit: int) -> list[TouchRecord]:
        """
        Lock due touches and sends whose lease ran out, oldest first; on PostgreSQL rows that
        another worker holds are skipped, so no touch is decided twice at once.
        """
        due = and_(touches.c.status.in_(_PENDING), touches.c.due_at <= now)
        stalled = and_(
            touches.c.status.in_((TouchStatus.SENDING.value, TouchStatus.AMBIGUOUS.value)),
            touches.c.lease_until <= now,
        )
        query = (
            select(touches)
            .where(or_(due, stalled))
            .order_by(touches.c.due_at, touches.c.id)
            .limit(limit)
        )
        if _postgresql(self._db):
            query = query.with_for_update(skip_locked=True)
        return [_touch(row) for row in self._db.execute(query).mappings()]

    def next_due_at(self) -> datetime | None:
        return self._db.execute(
            select(touches.c.due_at)
            .where(touches.c.status.in_(_PENDING))
            .order_by(touches.c.due_at)
            .limit(1)
        ).scalar()

    def cart_key(self, cart_id: str) -> str | None:
        return self._db.execute(select(carts.c.cart_key).where(carts.c.id == cart_id)).scalar()

    def for_enrollment(self, enrollment_id: str) -> list[TouchRecord]:
        rows = self._db.execute(
            select(touches).where(touches.c.enrollment_id == enrollment_id).order_by(touches.c.step)
        ).mappings()
        return [_touch(row) for row in rows]

    def cancel_pending(self, enrollment_id: str, *, reason: str, now: datetime) -> int:
        result = self._db.execute(
            update(touches)
            .where(touches.c.enrollment_id == enrollment_id, touches.c.status.in_(_PENDING))
            .values(status=TouchStatus.CANCELLED.value, reason=reason, updated_at=now)
        )
        return int(result.rowcount or 0)

    def sent_times(self, contact_id: str, *, since: datetime) -> list[datetime]:
        moment = touches.c.sent_at
        query = (
            select(touches.c.sent_at, touches.c.updated_at)
            .join(enrollments, enrollments.c.id == touches.c.enrollment_id)
            .where(
                enrollments.c.contact_id == contact_id,
                touches.c.status.in_(_WENT),
                or_(moment >= since, and_(moment.is_(None), touches.c.updated_at >= since)),
            )
        )
        # A send in flight has no `sent_at` yet: it counts from when it was committed.
        return [row.sent_at or row.updated_at for row in self._db.execute(query)]

    def for_cart(self, store_id: str, cart_id: str) -> list[CartTouch]:
        query = (
            select(touches, enrollments.c.flow)
            .join(enrollments, enrollments.c.id == touches.c.enrollment_id)
            .where(touches.c.store_id == store_id, touches.c.cart_id == cart_id)
            .order_by(enrollments.c.started_at, touches.c.step, touches.c.id)
        )
        return [
            CartTouch(touch=_touch(row), flow=row["flow"])
            for row in self._db.execute(query).mappings()
        ]

    def order_matches(
        self, store_id: str, *, cart_id: str, contact_id: str, since: datetime
    ) -> set[str]:
        query = (
            select(orders.c.cart_id, orders.c.contact_id, contacts.c.email, contacts.c.phone)
            .outerjoin(contacts, contacts.c.id == orders.c.contact_id)
            .where(
                orders.c.store_id == store_id,
                orders.c.placed_at >= since,
                or_(orders.c.cart_id == cart_id, orders.c.contact_id == contact_id),
            )
        )
        found: set[str] = set()
        for row in self._db.execute(query):
            if row.cart_id == cart_id:
                found.add("cart")
            if row.contact_id == contact_id:
                found.add("email" if row.email else "phone")
        return found

    def mark_cart_touched(self, cart_id: str, *, at: datetime) -> None:
        self._db.execute(
            update(carts)
            .where(carts.c.id == cart_id, carts.c.touched_at.is_(None))
            .values(touched_at=at)
        )


class SqlOutboxRepository:
    """
    The `outbox_messages` table, one message per touch.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, message: OutboxMessage) -> str:
        existing = self.by_touch(message.touch_id)
        if existing is not None:
            return existing.id
        row = {
            "id": message.id,
            "store_id": message.store_id,
            "touch_id": message.touch_id,
            "channel": message.channel.value,
            "to_address": message.to,
            "subject": message.subject,
            "body": message.text,
            "created_at": message.created_at,
        }
        try:
            with self._db.begin_nested():
                self._db.execute(outbox_messages.insert(), [row])
        except IntegrityError:
            # Another worker stored this touch's message between our read and our insert.
            again = self.by_touch(message.touch_id)
            if again is None:
                raise
            return again.id
        return message.id

    def by_touch(self, touch_id: str) -> OutboxMessage | None:
        row = self._db.execute(_outbox_query().where(outbox_messages.c.touch_id == touch_id))
        found = row.mappings().first()
        return _outbox(found) if found else None

    def list_for_store(
        self, store_id: str, *, cart_key: str | None, channel: Channel | None, limit: int
    ) -> list[OutboxMessage]:
        query = _outbox_query().where(outbox_messages.c.store_id == store_id)
        if cart_key is not None:
            query = query.join(carts, carts.c.id == touches.c.cart_id).where(
                carts.c.store_id == store_id, carts.c.cart_key == cart_key
            )
        if channel is not None:
            query = query.where(outbox_messages.c.channel == channel.value)
        query = query.order_by(outbox_messages.c.created_at, outbox_messages.c.id).limit(limit)
        return [_outbox(row) for row in self._db.execute(query).mappings()]


def _outbox_query() -> Any:
    return select(outbox_messages, touches.c.status, touches.c.sent_at).join(
        touches, touches.c.id == outbox_messages.c.touch_id
    )


def _outbox(row: Any) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        store_id=row["store_id"],
        touch_id=row["touch_id"],
        channel=Channel(row["channel"]),
        to=row["to_address"],
        subject=row["subject"],
        text=row["body"],
        created_at=row["created_at"],
        status=row["status"],
        sent_at=row["sent_at"],
    )


def _enrollment(row: Any) -> EnrollmentRecord:
    return EnrollmentRecord(
        id=row["id"],
        store_id=row["store_id"],
        contact_id=row["contact_id"],
        cart_id=row["cart_id"],
        flow=row["flow"],
        flow_version=row["flow_version"],
        group=Group(row["group"]),
        status=EnrollmentStatus(row["status"]),
        stage=Stage(row["stage"]),
        triggered_at=row["triggered_at"],
        started_at=row["started_at"],
        reason=row["reason"],
        ended_at=row["ended_at"],
    )


def _touch_row(record: TouchRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "store_id": record.store_id,
        "enrollment_id": record.enrollment_id,
        "cart_id": record.cart_id,
        "step": record.step,
        "variant": record.variant,
        "channel": record.channel.value,
        "template": record.template,
        "status": record.status.value,
        "reason": record.reason,
        "due_at": record.due_at,
        "attempts": record.attempts,
        "lease_owner": record.lease_owner,
        "lease_until": record.lease_until,
        "sent_at": record.sent_at,
        "provider_id": record.provider_id,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _touch(row: Any) -> TouchRecord:
    return TouchRecord(
        id=row["id"],
        store_id=row["store_id"],
        enrollment_id=row["enrollment_id"],
        cart_id=row["cart_id"],
        step=row["step"],
        variant=row["variant"],
        channel=Channel(row["channel"]),
        template=row["template"],
        status=TouchStatus(row["status"]),
        reason=row["reason"],
        due_at=row["due_at"],
        attempts=row["attempts"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        sent_at=row["sent_at"],
        provider_id=row["provider_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
