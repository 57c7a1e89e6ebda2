"""
The reads behind the dashboard's consent log, audiences and feeds health pages
(`domain/store_pages.py`).

Indexes: the log pages by `ix_consent_ledger_store_occurred` (`store_id, occurred_at, id`);
audience counts use the partial unique indexes of current memberships (`store_id, audience,
...` where `left_at IS NULL`); sync summaries the unique key of `audience_syncs`; left-out
items the unique `catalog_items (store_id, item_key)`.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, and_, case, func, or_, select

from cartback.domain.errors import InvalidInput
from cartback.domain.feeds import MAX_FEED_ID, LeftOut
from cartback.domain.store_pages import (
    AudienceCount,
    AudienceSyncSummary,
    LedgerFilters,
    LedgerPage,
    LedgerRow,
    LeftOutItem,
)
from cartback.store.tables import (
    audience_members,
    audience_syncs,
    audience_visitors,
    catalog_items,
    consent_ledger,
)

_LEDGER_FIELDS = tuple(LedgerRow.__dataclass_fields__)


class SqlStorePagesRepository:
    """
    Read-only queries for the consent log, audiences and feeds health pages.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def ledger_page(
        self, store_id: str, *, filters: LedgerFilters, limit: int, cursor: str | None
    ) -> LedgerPage:
        table = consent_ledger.c
        query = select(*(table[name] for name in _LEDGER_FIELDS)).where(
            table.store_id == store_id, *_ledger_conditions(filters)
        )
        if cursor:
            at, entry_id = _decode_cursor(cursor)
            query = query.where(
                or_(table.occurred_at < at, and_(table.occurred_at == at, table.id < entry_id))
            )
        query = query.order_by(table.occurred_at.desc(), table.id.desc()).limit(limit + 1)
        found = [LedgerRow(**row) for row in self._db.execute(query).mappings()]
        rows = found[:limit]
        more = len(found) > limit and bool(rows)
        next_cursor = _encode_cursor(rows[-1].occurred_at, rows[-1].id) if more else None
        return LedgerPage(rows=rows, next_cursor=next_cursor)

    def audience_counts(self, store_id: str, *, now: datetime) -> dict[str, AudienceCount]:
        contacts = self._current(audience_members, store_id, now)
        visitors = self._current(audience_visitors, store_id, now)
        return {
            name: AudienceCount(contacts=contacts.get(name, 0), visitors=visitors.get(name, 0))
            for name in sorted({*contacts, *visitors})
        }

    def _current(self, table: Table, store_id: str, now: datetime) -> dict[str, int]:
        query = (
            select(table.c.audience, func.count())
            .where(
                table.c.store_id == store_id,
                table.c.left_at.is_(None),
                table.c.expires_at > now,
            )
            .group_by(table.c.audience)
        )
        return {row[0]: int(row[1]) for row in self._db.execute(query)}

    def audience_syncs(self, store_id: str) -> list[AudienceSyncSummary]:
        table = audience_syncs.c
        query = (
            select(
                table.audience,
                table.network,
                func.sum(case((table.removed_at.is_(None), 1), else_=0)),
                func.count(table.removed_at),
                func.max(table.added_at),
                func.max(table.removed_at),
            )
            .where(table.store_id == store_id)
            .group_by(table.audience, table.network)
            .order_by(table.audience, table.network)
        )
        return [
            AudienceSyncSummary(
                audience=row[0],
                network=row[1],
                present=int(row[2] or 0),
                removed=int(row[3] or 0),
                last_at=max((at for at in row[4:6] if at is not None), default=None),
            )
            for row in self._db.execute(query)
        ]

    def left_out_counts(self, store_id: str) -> dict[LeftOut, int]:
        reasons = (
            select(_LEFT_OUT.label("reason")).where(catalog_items.c.store_id == store_id).subquery()
        )
        # Grouped over a subquery: PostgreSQL cannot match a GROUP BY expression whose
        # literals are bound parameters to the same expression in the select list.
        query = (
            select(reasons.c.reason, func.count())
            .where(reasons.c.reason.is_not(None))
            .group_by(reasons.c.reason)
        )
        counts = {LeftOut(row[0]): int(row[1]) for row in self._db.execute(query)}
        return {reason: counts[reason] for reason in LeftOut if reason in counts}

    def left_out_items(self, store_id: str, *, limit: int) -> list[LeftOutItem]:
        table = catalog_items.c
        query = (
            select(table.item_key, table.title, _LEFT_OUT.label("reason"))
            .where(table.store_id == store_id, _LEFT_OUT.is_not(None))
            .order_by(table.item_key)
            .limit(limit)
        )
        return [
            LeftOutItem(key=row.item_key, title=row.title, reason=LeftOut(row.reason))
            for row in self._db.execute(query)
        ]


def _left_out() -> Any:
    """
    `feeds.left_out` as SQL (the first reason, in its order; the same conditions as
    `SqlCatalogRepository.feed_version` counts), NULL for an item the feeds list.
    """
    table = catalog_items.c
    feed_id = func.coalesce(func.nullif(table.variant_id, ""), table.product_id)
    return case(
        (func.length(feed_id) > MAX_FEED_ID, LeftOut.LONG_ID.value),
        (func.coalesce(table.title, "") == "", LeftOut.NO_TITLE.value),
        (table.url.is_(None), LeftOut.NO_LINK.value),
        (table.image_url.is_(None), LeftOut.NO_IMAGE.value),
        (or_(table.price.is_(None), table.currency.is_(None)), LeftOut.NO_PRICE.value),
        else_=None,
    )


_LEFT_OUT = _left_out()


def _ledger_conditions(filters: LedgerFilters) -> list[Any]:
    table = consent_ledger.c
    found: list[Any] = []
    if filters.channel is not None:
        found.append(table.channel == filters.channel.value)
    if filters.granted is not None:
        found.append(table.granted == filters.granted)
    if filters.contact_id:
        found.append(table.contact_id == filters.contact_id)
    return found


def _encode_cursor(at: datetime, entry_id: int) -> str:
    raw = orjson.dumps([at.isoformat(), entry_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, entry_id = orjson.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(at)
        if moment.utcoffset() is None or type(entry_id) is not int:
            raise ValueError(cursor)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput("the cursor is not one this listing made") from None
    return moment, entry_id
