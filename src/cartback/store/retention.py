"""
Retention purges: anonymous carts and raw events older than a store keeps them, a batch at a
time. On PostgreSQL each batch locks its rows with `SKIP LOCKED`, so a purge never waits for
(or blocks) the ingest writer or the abandonment claim holding a cart, and two workers
purging at once take different rows; on SQLite the one writer serialises them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, exists, func, select

from cartback.store.tables import cart_lines, carts, orders, raw_events


def _expired_carts(store_id: str, before: datetime) -> ColumnElement[bool]:
    # Carts with a contact, or with an order, are the merchant's records and stay.
    activity = func.coalesce(carts.c.last_activity_at, carts.c.updated_at)
    ordered = exists().where(orders.c.cart_id == carts.c.id)
    return (
        (carts.c.store_id == store_id)
        & carts.c.contact_id.is_(None)
        & (activity < before)
        & ~ordered
    )


def _expired_events(store_id: str, before: datetime) -> ColumnElement[bool]:
    return (raw_events.c.store_id == store_id) & (raw_events.c.received_at < before)


class SqlRetentionRepository:
    """
    Batch deletes of expired rows, in the caller's transaction.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def expired(self, store_id: str, *, before: datetime) -> dict[str, int]:
        count = func.count()
        return {
            "carts": self._scalar(
                select(count).select_from(carts).where(_expired_carts(store_id, before))
            ),
            "raw_events": self._scalar(
                select(count).select_from(raw_events).where(_expired_events(store_id, before))
            ),
        }

    def purge_carts(self, store_id: str, *, before: datetime, limit: int) -> int:
        query = (
            select(carts.c.id)
            .where(_expired_carts(store_id, before))
            .order_by(carts.c.id)
            .limit(limit)
        )
        ids = self._claim(query, carts)
        if not ids:
            return 0
        self._db.execute(delete(cart_lines).where(cart_lines.c.cart_id.in_(ids)))
        return self._db.execute(delete(carts).where(carts.c.id.in_(ids))).rowcount or 0

    def purge_raw_events(self, store_id: str, *, before: datetime, limit: int) -> int:
        query = (
            select(raw_events.c.id)
            .where(_expired_events(store_id, before))
            .order_by(raw_events.c.received_at, raw_events.c.id)
            .limit(limit)
        )
        ids = self._claim(query, raw_events)
        if not ids:
            return 0
        return self._db.execute(delete(raw_events).where(raw_events.c.id.in_(ids))).rowcount or 0

    def _claim(self, query: Any, table: Any) -> list[Any]:
        if self._db.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=table)
        return list(self._db.execute(query).scalars())

    def _scalar(self, query: Any) -> int:
        return int(self._db.execute(query).scalar_one())
