"""
Enrollments, touches and the outbox: the tables of the recovery engine, and the worker's claim
on due touches (the same pattern as the cart timers, ADR 0002).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from cartback.domain.consent import Channel
from cartback.domain.events import Stage
from cartback.domain.ports import (
    CartTouch,
    EnrollmentRecord,
    MessageFilters,
    MessagePage,
    MessageSummary,
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
from cartback.store._bulk import BulkWriter, member_of
from cartback.store.message_pages import message_page, message_summary
from cartback.store.repositories import dialect_insert
from cartback.store.tables import carts, contacts, enrollments, orders, outbox_messages, touches
from cartback.store.types import UTCDateTime
from cartback.store.wakeup import mark_due_work

_PENDING = tuple(s.value for s in PENDING)
_WAKE_AHEAD = timedelta(seconds=1)
#: Touches that are over: an order does not change them.
_DONE = tuple(
    s.value
    for s in TouchStatus
    if s not in PENDING and s not in (TouchStatus.SENDING, TouchStatus.AMBIGUOUS)
)
_WENT = tuple(s.value for s in WENT)
_IN_FLIGHT = (TouchStatus.SENDING.value, TouchStatus.AMBIGUOUS.value)
_DUE_INDEX = "ix_touches_due_at_pending"
#: `PENDING` in the order the index's predicate lists them (SQLite matches it as written).
_PENDING_AS_INDEXED = (TouchStatus.SCHEDULED.value, TouchStatus.DEFERRED.value)
_IN_FLIGHT_INDEX = "ix_touches_lease_until_in_flight"
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
    "delivered_at",
    "provider_error",
    "segments",
    "cost_estimate",
    "cost_currency",
    "updated_at",
)


def _due_on_write(record: TouchRecord) -> bool:
    """
    A pending touch due when it is written (a step without a wait, a send put back after an
    ambiguous lookup): workers are woken for it rather than finding it at their next poll.
    """
    return record.status in PENDING and record.due_at <= record.updated_at + _WAKE_AHEAD


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

    def get_many(self, enrollment_ids: Sequence[str]) -> dict[str, EnrollmentRecord]:
        if not enrollment_ids:
            return {}
        query = select(enrollments).where(member_of(self._db, enrollments.c.id, enrollment_ids))
        return {row["id"]: _enrollment(row) for row in self._db.execute(query).mappings()}

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

    def complete_held_out(self, *, now: datetime, limit: int) -> int:
        later = (
            select(touches.c.id)
            .where(touches.c.enrollment_id == enrollments.c.id, touches.c.due_at > now)
            .exists()
        )
        done = (
            select(enrollments.c.id)
            .where(
                enrollments.c.group == Group.CONTROL.value,
                enrollments.c.status == EnrollmentStatus.ACTIVE.value,
                ~later,
            )
            .limit(limit)
        )
        if _postgresql(self._db):
            done = done.with_for_update(skip_locked=True)
        ids = list(self._db.execute(done).scalars())
        if not ids:
            return 0
        self._db.execute(
            update(enrollments)
            .where(
                enrollments.c.id.in_(ids),
                enrollments.c.status == EnrollmentStatus.ACTIVE.value,
            )
            .values(status=EnrollmentStatus.COMPLETED.value, ended_at=now)
        )
        return len(ids)


class SqlTouchRepository:
    """
    The `touches` table and the reads the guards need around it.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, records: Sequence[TouchRecord]) -> None:
        if records:
            self._db.execute(touches.insert(), [_touch_row(r) for r in records])
            if any(_due_on_write(r) for r in records):
                mark_due_work(self._db)

    def get(self, touch_id: str) -> TouchRecord | None:
        row = self._db.execute(select(touches).where(touches.c.id == touch_id)).mappings().first()
        return _touch(row) if row else None

    def save(self, record: TouchRecord) -> None:
        if _due_on_write(record):
            mark_due_work(self._db)
        row = _touch_row(record)
        self._db.execute(
            update(touches)
            .where(touches.c.id == record.id)
            .values({name: row[name] for name in _TOUCH_STATE})
        )

    def get_many(self, touch_ids: Sequence[str]) -> dict[str, TouchRecord]:
        if not touch_ids:
            return {}
        query = select(touches).where(member_of(self._db, touches.c.id, touch_ids))
        return {row["id"]: _touch(row) for row in self._db.execute(query).mappings()}

    def has_sent(self, contact_id: str, channel: Channel) -> bool:
        query = (
            select(touches.c.id)
            .join(enrollments, enrollments.c.id == touches.c.enrollment_id)
            .where(
                enrollments.c.contact_id == contact_id,
                touches.c.channel == channel.value,
                touches.c.status.in_(_WENT),
            )
            .limit(1)
        )
        return self._db.execute(query).first() is not None

    def by_provider_id(self, store_id: str, provider_id: str) -> TouchRecord | None:
        query = select(touches).where(
            touches.c.provider_id == provider_id, touches.c.store_id == store_id
        )
        row = self._db.execute(query.limit(1)).mappings().first()
        return _touch(row) if row else None

    def save_many(self, records: Sequence[TouchRecord]) -> None:
        if not records:
            return
        if any(_due_on_write(r) for r in records):
            mark_due_work(self._db)
        # The last write of a touch wins, as a sequence of `save` calls would leave it.
        latest = {record.id: _touch_row(record) for record in records}
        rows = [{"id": key, **{n: row[n] for n in _TOUCH_STATE}} for key, row in latest.items()]
        BulkWriter(self._db).update(touches, rows, key="id")

    def claim_due(self, *, now: datetime, limit: int) -> list[TouchRecord]:
        """
        Lock due touches and sends whose lease ran out, oldest first; on PostgreSQL rows that
        another worker holds are skipped, so no touch is decided twice at once.
        """
        # Two claims, each read through its own partial index (a single `due OR stalled`
        # condition scans the table), merged in due order: the cost follows the due work.
        claims = (
            (_DUE_INDEX, _PENDING_AS_INDEXED, touches.c.due_at),
            (_IN_FLIGHT_INDEX, _IN_FLIGHT, touches.c.lease_until),
        )
        found = [
            _touch(row)
            for index, statuses, moment in claims
            for row in self._db.execute(self._claim(index, statuses, moment, now, limit)).mappings()
        ]
        return sorted(found, key=lambda t: (t.due_at, t.id))[:limit]

    def _claim(
        self, index: str, statuses: Sequence[str], moment: Any, now: datetime, limit: int
    ) -> Any:
        """
        The touches in `statuses` whose `moment` has come, through the partial `index` on
        exactly those statuses, due first.
        """
        if _postgresql(self._db):
            return (
                select(touches)
                .where(touches.c.status.in_(statuses), moment <= now)
                .order_by(touches.c.due_at, touches.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        # SQLite reads a partial index only when the query visibly implies its predicate (the
        # statuses written out, not bound), and even then its planner, without PostgreSQL's
        # row estimates, scans the table once a million scheduled touches fill the index: it
        # is told the index by name (an error, not a silent scan, if it ever cannot use it).
        listed = ", ".join(f"'{status}'" for status in statuses)
        sql = (
            f"SELECT {', '.join(c.name for c in touches.c)} FROM touches INDEXED BY {index} "  # noqa: S608 - names from the Table
            f"WHERE status IN ({listed}) AND {moment.name} <= :now "
            "ORDER BY due_at, id LIMIT :limit"
        )
        return (
            text(sql)
            .bindparams(bindparam("now", now, type_=UTCDateTime()), bindparam("limit", limit))
            .columns(*touches.c)
        )

    def extend_leases(self, touch_ids: Sequence[str], *, owner: str, until: datetime) -> set[str]:
        if not touch_ids:
            return set()
        result = self._db.execute(
            update(touches)
            .where(
                touches.c.id.in_(list(touch_ids)),
                touches.c.lease_owner == owner,
                touches.c.status.in_((TouchStatus.SENDING.value, TouchStatus.AMBIGUOUS.value)),
            )
            .values(lease_until=until)
            .returning(touches.c.id)
        )
        return set(result.scalars())

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

    def for_enrollments(self, enrollment_ids: Sequence[str]) -> dict[str, list[TouchRecord]]:
        found: dict[str, list[TouchRecord]] = {e: [] for e in enrollment_ids}
        if not enrollment_ids:
            return found
        query = (
            select(touches)
            .where(member_of(self._db, touches.c.enrollment_id, enrollment_ids))
            .order_by(touches.c.enrollment_id, touches.c.step)
        )
        for row in self._db.execute(query).mappings():
            found[row["enrollment_id"]].append(_touch(row))
        return found

    def with_open_touches(self, enrollment_ids: Sequence[str]) -> set[str]:
        if not enrollment_ids:
            return set()
        query = (
            select(touches.c.enrollment_id)
            .where(
                member_of(self._db, touches.c.enrollment_id, enrollment_ids),
                touches.c.status.in_((*_PENDING, *_IN_FLIGHT)),
            )
            .distinct()
        )
        return set(self._db.execute(query).scalars())

    def cancel_pending(self, enrollment_id: str, *, reason: str, now: datetime) -> int:
        result = self._db.execute(
            update(touches)
            .where(touches.c.enrollment_id == enrollment_id, touches.c.status.in_(_PENDING))
            .values(status=TouchStatus.CANCELLED.value, reason=reason, updated_at=now)
        )
        return int(result.rowcount or 0)

    def record_click(self, touch_id: str, at: datetime) -> bool:
        # One conditional UPDATE: two clicks at once cannot both be the first.
        result = self._db.execute(
            update(touches)
            .where(touches.c.id == touch_id, touches.c.clicked_at.is_(None))
            .values(clicked_at=at)
        )
        return bool(result.rowcount)

    def cancel_for_order(
        self,
        store_id: str,
        *,
        cart_id: str | None,
        contact_id: str | None,
        placed_at: datetime,
        reason: str,
        now: datetime,
    ) -> list[str]:
        matches = [enrollments.c.cart_id == cart_id] if cart_id else []
        if contact_id:
            matches.append(enrollments.c.contact_id == contact_id)
        if not matches:
            return []
        query = select(enrollments.c.id).where(
            enrollments.c.store_id == store_id,
            enrollments.c.status == EnrollmentStatus.ACTIVE.value,
            enrollments.c.started_at <= placed_at,
            or_(*matches),
        )
        if _postgresql(self._db):
            query = query.with_for_update(skip_locked=True)
        ended: list[str] = []
        for enrollment_id in self._db.execute(query).scalars():
            pending = select(touches.c.id, touches.c.status).where(
                touches.c.enrollment_id == enrollment_id
            )
            if _postgresql(self._db):
                pending = pending.with_for_update(skip_locked=True)
            rows = self._db.execute(pending).all()
            held = len(rows) < self._count_touches(enrollment_id)
            open_ids = [r.id for r in rows if r.status in _PENDING]
            if open_ids:
                self._db.execute(
                    update(touches)
                    .where(touches.c.id.in_(open_ids))
                    .values(status=TouchStatus.CANCELLED.value, reason=reason, updated_at=now)
                )
            in_flight = any(r.status not in _PENDING + _DONE for r in rows)
            if held or in_flight:
                continue  # a worker has one of its touches: its guards end the enrollment
            self._db.execute(
                update(enrollments)
                .where(enrollments.c.id == enrollment_id)
                .values(status=EnrollmentStatus.CANCELLED.value, reason=reason, ended_at=now)
            )
            ended.append(enrollment_id)
        return ended

    def _count_touches(self, enrollment_id: str) -> int:
        return int(
            self._db.execute(
                select(func.count())
                .select_from(touches)
                .where(touches.c.enrollment_id == enrollment_id)
            ).scalar_one()
        )

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

    def sent_times_many(
        self, contact_ids: Sequence[str], *, since: datetime
    ) -> dict[str, list[datetime]]:
        found: dict[str, list[datetime]] = {c: [] for c in contact_ids}
        if not contact_ids:
            return found
        # Two index reads (the contacts' enrollments, then their touches) rather than one
        # join, which the planner may run as a scan of every touch when few have gone yet.
        owners = {
            row.id: row.contact_id
            for row in self._db.execute(
                select(enrollments.c.id, enrollments.c.contact_id).where(
                    member_of(self._db, enrollments.c.contact_id, contact_ids)
                )
            )
        }
        if not owners:
            return found
        moment = touches.c.sent_at
        query = select(touches.c.enrollment_id, moment, touches.c.updated_at).where(
            member_of(self._db, touches.c.enrollment_id, sorted(owners)),
            touches.c.status.in_(_WENT),
            or_(moment >= since, and_(moment.is_(None), touches.c.updated_at >= since)),
        )
        for row in self._db.execute(query):
            found[owners[row.enrollment_id]].append(row.sent_at or row.updated_at)
        return found

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

    def unengaged_emails(self, store_id: str, contact_id: str) -> int:
        last_seen = (
            select(func.max(carts.c.last_activity_at))
            .where(carts.c.store_id == store_id, carts.c.contact_id == contact_id)
            .scalar_subquery()
        )
        query = (
            select(func.count())
            .select_from(touches)
            .join(enrollments, enrollments.c.id == touches.c.enrollment_id)
            .where(
                enrollments.c.contact_id == contact_id,
                touches.c.channel == Channel.EMAIL.value,
                touches.c.status.in_(_WENT),
                touches.c.sent_at.is_not(None),
                or_(last_seen.is_(None), touches.c.sent_at > last_seen),
            )
        )
        return int(self._db.execute(query).scalar_one())

    def for_carts(self, store_id: str, cart_ids: Sequence[str]) -> dict[str, list[CartTouch]]:
        found: dict[str, list[CartTouch]] = {cart_id: [] for cart_id in cart_ids}
        if not cart_ids:
            return found
        query = (
            select(touches, enrollments.c.flow)
            .join(enrollments, enrollments.c.id == touches.c.enrollment_id)
            .where(touches.c.store_id == store_id, touches.c.cart_id.in_(list(cart_ids)))
            .order_by(enrollments.c.started_at, touches.c.step, touches.c.id)
        )
        for row in self._db.execute(query).mappings():
            found[row["cart_id"]].append(CartTouch(touch=_touch(row), flow=row["flow"]))
        return found

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

    def order_matches_many(
        self, store_id: str, queries: Sequence[tuple[str, str, datetime]]
    ) -> list[set[str]]:
        if not queries:
            return []
        cart_ids = sorted({cart_id for cart_id, _, _ in queries})
        contact_ids = sorted({contact_id for _, contact_id, _ in queries})
        query = (
            select(
                orders.c.cart_id,
                orders.c.contact_id,
                orders.c.placed_at,
                contacts.c.email,
                contacts.c.phone,
            )
            .outerjoin(contacts, contacts.c.id == orders.c.contact_id)
            .where(
                orders.c.store_id == store_id,
                orders.c.placed_at >= min(since for _, _, since in queries),
                or_(
                    member_of(self._db, orders.c.cart_id, cart_ids),
                    member_of(self._db, orders.c.contact_id, contact_ids),
                ),
            )
        )
        rows = self._db.execute(query).all()
        answers = []
        for cart_id, contact_id, since in queries:
            found: set[str] = set()
            for row in rows:
                if row.placed_at < since:
                    continue
                if row.cart_id == cart_id:
                    found.add("cart")
                if row.contact_id == contact_id:
                    found.add("email" if row.email else "phone")
            answers.append(found)
        return answers

    def mark_carts_touched(self, cart_ids: Sequence[str], *, at: datetime) -> None:
        if cart_ids:
            self._db.execute(
                update(carts)
                .where(member_of(self._db, carts.c.id, cart_ids), carts.c.touched_at.is_(None))
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
        row = _outbox_row(message)
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

    def add_many(self, messages: Sequence[OutboxMessage]) -> dict[str, str]:
        """
        Store each message unless its touch has one already; the stored ids by touch id.
        """
        touch_ids = [m.touch_id for m in messages]
        stored = self._ids_by_touch(touch_ids)
        rows = [_outbox_row(m) for m in messages if m.touch_id not in stored]
        if rows:
            insert = dialect_insert(self._db, outbox_messages)
            # A touch another worker stored meanwhile keeps its message (and its id).
            self._db.execute(insert.on_conflict_do_nothing(index_elements=["touch_id"]), rows)
            stored = self._ids_by_touch(touch_ids)
        return stored

    def _ids_by_touch(self, touch_ids: Sequence[str]) -> dict[str, str]:
        if not touch_ids:
            return {}
        query = select(outbox_messages.c.touch_id, outbox_messages.c.id).where(
            member_of(self._db, outbox_messages.c.touch_id, touch_ids)
        )
        return {row.touch_id: row.id for row in self._db.execute(query)}

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

    def page_for_store(
        self, store_id: str, *, filters: MessageFilters, limit: int, cursor: str | None
    ) -> MessagePage:
        return message_page(self._db, store_id, filters=filters, limit=limit, cursor=cursor)

    def summary(self, store_id: str, message_id: str) -> MessageSummary | None:
        return message_summary(self._db, store_id, message_id)

    def get(self, store_id: str, message_id: str) -> OutboxMessage | None:
        query = _outbox_query().where(
            outbox_messages.c.store_id == store_id, outbox_messages.c.id == message_id
        )
        found = self._db.execute(query).mappings().first()
        return _outbox(found) if found else None


def _outbox_query() -> Any:
    return select(outbox_messages, touches.c.status, touches.c.sent_at).join(
        touches, touches.c.id == outbox_messages.c.touch_id
    )


def _outbox_row(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "store_id": message.store_id,
        "touch_id": message.touch_id,
        "channel": message.channel.value,
        "to_address": message.to,
        "subject": message.subject,
        "body": message.text,
        "html": message.html,
        "headers": message.headers,
        "created_at": message.created_at,
    }


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
        html=row["html"],
        headers=row["headers"],
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
        "delivered_at": record.delivered_at,
        "provider_error": record.provider_error,
        "segments": record.segments,
        "cost_estimate": record.cost_estimate,
        "cost_currency": record.cost_currency,
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
        delivered_at=row["delivered_at"],
        provider_error=row["provider_error"],
        segments=row["segments"],
        cost_estimate=row["cost_estimate"],
        cost_currency=row["cost_currency"],
        clicked_at=row["clicked_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
