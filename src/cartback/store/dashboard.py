"""
The dashboard's reads: a store's carts in filtered keyset pages, and one cart's history (the
raw events that named it, its orders).

Indexes: pages by creation use `carts (store_id, created_at, id)`; pages by abandonment use
`ix_carts_store_abandoned` (`store_id, abandoned_at, id` where abandoned); a cart's events use
`ix_raw_events_store_cart` (`store_id, cart_key, occurred_at` where the event named a cart).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, or_, select

from cartback.domain.errors import InvalidInput
from cartback.domain.ports import CartEvent, CartFilters, CartPage, CartRecord, OrderRecord
from cartback.store.carts import SqlCartRepository
from cartback.store.database import unindexed
from cartback.store.tables import carts, orders, raw_events

_ORDER_FIELDS = (
    "store_id",
    "order_key",
    "cart_id",
    "contact_id",
    "status",
    "total",
    "currency",
    "placed_at",
)


class SqlDashboardRepository:
    """
    Read-only queries for the dashboard's pages.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection
        self._carts = SqlCartRepository(connection)

    def carts_page(
        self, store_id: str, *, filters: CartFilters, limit: int, cursor: str | None
    ) -> CartPage:
        column = carts.c.abandoned_at if filters.by_abandonment else carts.c.created_at
        query = select(carts.c.id, column.label("sort_at")).where(
            carts.c.store_id == store_id, *_conditions(filters)
        )
        if cursor:
            at, cart_id = _decode_cursor(cursor)
            query = query.where(or_(column < at, and_(column == at, carts.c.id < cart_id)))
        query = query.order_by(column.desc(), carts.c.id.desc()).limit(limit + 1)
        rows = self._db.execute(query).all()
        page = rows[:limit]
        loaded = self._carts.get_by_ids([row.id for row in page])
        records = [loaded[row.id] for row in page if row.id in loaded]
        more = len(rows) > limit and bool(page)
        next_cursor = _encode_cursor(page[-1].sort_at, page[-1].id) if more else None
        return CartPage(records=records, next_cursor=next_cursor)

    def cart(self, store_id: str, cart_id: str) -> CartRecord | None:
        record = self._carts.get_by_ids([cart_id]).get(cart_id)
        return record if record is not None and record.store_id == store_id else None

    def cart_events(self, store_id: str, cart_key: str, *, limit: int) -> list[CartEvent]:
        query = (
            select(
                raw_events.c.id,
                raw_events.c.source,
                raw_events.c.kind,
                raw_events.c.name,
                raw_events.c.occurred_at,
                raw_events.c.received_at,
                raw_events.c.outcome,
            )
            .where(raw_events.c.store_id == store_id, raw_events.c.cart_key == cart_key)
            .order_by(raw_events.c.occurred_at, raw_events.c.id)
            .limit(limit)
        )
        return [CartEvent(**row) for row in self._db.execute(query).mappings()]

    def cart_orders(self, store_id: str, cart_id: str) -> list[OrderRecord]:
        query = (
            select(*(orders.c[name] for name in _ORDER_FIELDS))
            # By the cart's index, not the store's orders by time (see `unindexed`).
            .where(unindexed(orders.c.store_id, self._db) == store_id, orders.c.cart_id == cart_id)
            .order_by(orders.c.placed_at, orders.c.id)
        )
        return [
            OrderRecord(**{name: row[name] for name in _ORDER_FIELDS})
            for row in self._db.execute(query).mappings()
        ]


def _conditions(filters: CartFilters) -> list[Any]:
    found: list[Any] = []
    if filters.status:
        found.append(carts.c.status == filters.status)
    if filters.stage:
        found.append(carts.c.stage == filters.stage)
    if filters.by_abandonment:
        found.append(carts.c.abandoned_at.is_not(None))
    if filters.abandoned_from:
        found.append(carts.c.abandoned_at >= filters.abandoned_from)
    if filters.abandoned_to:
        found.append(carts.c.abandoned_at < filters.abandoned_to)
    if filters.has_contact is True:
        found.append(carts.c.contact_id.is_not(None))
    elif filters.has_contact is False:
        found.append(carts.c.contact_id.is_(None))
    return found


def _encode_cursor(at: datetime, cart_id: str) -> str:
    raw = orjson.dumps([at.isoformat(), cart_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, cart_id = orjson.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(at)
        if moment.utcoffset() is None or not isinstance(cart_id, str):
            raise ValueError(cursor)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput("the cursor is not one this listing made") from None
    return moment, cart_id
