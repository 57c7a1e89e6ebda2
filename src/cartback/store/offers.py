"""
The `offers` table: discount codes given to enrollments, unique per store by code and per
enrollment by offer key.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from cartback.domain.discounts import GIVEN, OfferStatus
from cartback.domain.flows import OfferKind
from cartback.domain.ports import OfferRecord
from cartback.store.repositories import dialect_insert
from cartback.store.tables import offers

_LIVE = (OfferStatus.ACTIVE.value, OfferStatus.SUPERSEDED.value)


class SqlOfferRepository:
    """
    Offers; an enrollment keeps the first code it was given for an offer key.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, record: OfferRecord) -> OfferRecord | None:
        # Any conflict (the enrollment has this offer, or the code is taken) inserts nothing;
        # what is stored for the enrollment afterwards says which.
        statement = dialect_insert(self._db, offers).values(**_row(record)).on_conflict_do_nothing()
        self._db.execute(statement)
        row = (
            self._db.execute(
                select(offers).where(
                    offers.c.enrollment_id == record.enrollment_id,
                    offers.c.offer_key == record.offer_key,
                )
            )
            .mappings()
            .first()
        )
        return _offer(row) if row is not None else None

    def save(self, record: OfferRecord) -> None:
        values = _row(record)
        del values["id"]
        self._db.execute(update(offers).where(offers.c.id == record.id).values(**values))

    def get(self, offer_id: str) -> OfferRecord | None:
        row = self._db.execute(select(offers).where(offers.c.id == offer_id)).mappings().first()
        return _offer(row) if row is not None else None

    def by_code(self, store_id: str, code: str) -> OfferRecord | None:
        row = (
            self._db.execute(
                select(offers).where(
                    offers.c.store_id == store_id, offers.c.code == code.strip().upper()
                )
            )
            .mappings()
            .first()
        )
        return _offer(row) if row is not None else None

    def for_enrollment(self, enrollment_id: str) -> list[OfferRecord]:
        rows = self._db.execute(
            select(offers)
            .where(offers.c.enrollment_id == enrollment_id)
            .order_by(offers.c.created_at, offers.c.id)
        ).mappings()
        return [_offer(row) for row in rows]

    def given_since(self, store_id: str, contact_id: str, since: datetime) -> int:
        count = self._db.execute(
            select(func.count())
            .select_from(offers)
            .where(
                offers.c.store_id == store_id,
                offers.c.contact_id == contact_id,
                offers.c.created_at >= since,
                offers.c.status.in_([status.value for status in GIVEN]),
            )
        ).scalar()
        return int(count or 0)

    def waiting(self, *, now: datetime, limit: int) -> list[OfferRecord]:
        rows = self._db.execute(
            select(offers)
            .where(
                offers.c.status == OfferStatus.PENDING.value,
                or_(offers.c.retry_at.is_(None), offers.c.retry_at <= now),
            )
            .order_by(offers.c.created_at, offers.c.id)
            .limit(limit)
        ).mappings()
        return [_offer(row) for row in rows]

    def to_revoke(self, *, now: datetime, limit: int) -> list[OfferRecord]:
        due = or_(offers.c.retry_at.is_(None), offers.c.retry_at <= now)
        rows = self._db.execute(
            select(offers)
            .where(
                or_(
                    (offers.c.status.in_(_LIVE)) & (offers.c.expires_at <= now),
                    offers.c.status == OfferStatus.SUPERSEDED.value,
                    offers.c.status == OfferStatus.EXPIRED.value,
                ),
                due,
            )
            .order_by(offers.c.expires_at, offers.c.id)
            .limit(limit)
        ).mappings()
        return [_offer(row) for row in rows]


def _row(record: OfferRecord) -> dict[str, Any]:
    values = asdict(record)
    values["code"] = record.code.upper()
    values["kind"] = record.kind.value
    values["status"] = record.status.value
    return values


def _offer(row: Any) -> OfferRecord:
    values = dict(row)
    values["kind"] = OfferKind(values["kind"])
    values["status"] = OfferStatus(values["status"])
    return OfferRecord(**values)
