"""
The cart repository: carts with their lines, read and written in batches, and the due-timer
claim the worker runs.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, any_, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from cartback.domain.cart import Cart, CartStatus, Signals
from cartback.domain.errors import InvalidInput
from cartback.domain.events import LineItem, Stage
from cartback.domain.origin import CartOrigin, CountryGuess, CountrySource, Device
from cartback.domain.ports import CartPage, CartRecord
from cartback.store._bulk import BulkWriter, PostgresRead, member_of
from cartback.store.tables import cart_lines, carts

_OPEN = (CartStatus.ACTIVE.value, CartStatus.ABANDONED.value, CartStatus.LOST.value)
_LINE_FIELDS = (
    "product_id",
    "variant_id",
    "sku",
    "name",
    "variant_name",
    "quantity",
    "unit_price",
    "image_url",
    "url",
    "category",
)

#: PostgreSQL: what every ingested group reads, compiled once (`PostgresRead`): its carts by
#: key in a fixed lock order (by id), so concurrent writers cannot deadlock, locked unless the
#: unit of work is read-only (`_for_write`); and their lines.
_CARTS_BY_KEY = (
    select(carts)
    .where(
        carts.c.store_id == bindparam("store_id"),
        carts.c.cart_key == any_(bindparam("keys", type_=ARRAY(carts.c.cart_key.type))),
    )
    .order_by(carts.c.id)
)
_READ_CARTS_BY_KEY = PostgresRead(_CARTS_BY_KEY)
_LOCK_CARTS_BY_KEY = PostgresRead(_CARTS_BY_KEY.with_for_update(of=carts))
_READ_LINES = PostgresRead(
    select(cart_lines)
    .where(
        cart_lines.c.cart_id == any_(bindparam("cart_ids", type_=ARRAY(cart_lines.c.cart_id.type)))
    )
    .order_by(cart_lines.c.cart_id, cart_lines.c.position)
)


class SqlCartRepository:
    """
    Carts and their lines. Lines of a changed cart are rewritten as a whole.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def get_many(self, store_id: str, keys: Sequence[str]) -> dict[str, CartRecord]:
        if not keys:
            return {}
        if self._db.dialect.name == "postgresql":
            read = _READ_CARTS_BY_KEY if self._read_only() else _LOCK_CARTS_BY_KEY
            rows = read.mappings(self._db, store_id=store_id, keys=list(keys))
            return {r.cart.key: r for r in self._with_lines(rows)}
        query = (
            select(carts)
            .where(carts.c.store_id == store_id, member_of(self._db, carts.c.cart_key, keys))
            .order_by(carts.c.id)
        )
        return {r.cart.key: r for r in self._load(query)}

    def get(self, store_id: str, key: str) -> CartRecord | None:
        return self.get_many(store_id, [key]).get(key)

    def get_by_ids(self, cart_ids: Sequence[str]) -> dict[str, CartRecord]:
        if not cart_ids:
            return {}
        query = (
            select(carts)
            .where(member_of(self._db, carts.c.id, cart_ids))
            .order_by(carts.c.id)  # the same lock order as `get_many`
        )
        return {r.id: r for r in self._load(self._for_write(query))}

    def find_open(
        self, store_id: str, *, visitor_id: str | None = None, contact_id: str | None = None
    ) -> CartRecord | None:
        if visitor_id is None and contact_id is None:
            return None
        column = carts.c.visitor_id if visitor_id is not None else carts.c.contact_id
        query = (
            select(carts)
            .where(
                carts.c.store_id == store_id,
                column == (visitor_id if visitor_id is not None else contact_id),
                carts.c.status.in_(_OPEN),
            )
            .order_by(carts.c.last_activity_at.desc().nulls_last(), carts.c.id.desc())
            .limit(1)
        )
        found = self._load(self._for_write(query))
        return found[0] if found else None

    def find_by_checkout(self, store_id: str, checkout_id: str) -> CartRecord | None:
        query = (
            select(carts)
            .where(carts.c.store_id == store_id, carts.c.checkout_id == checkout_id)
            .order_by(carts.c.last_activity_at.desc().nulls_last(), carts.c.id.desc())
            .limit(1)
        )
        found = self._load(self._for_write(query))
        return found[0] if found else None

    def add(
        self,
        records: Sequence[CartRecord],
        *,
        now: datetime,
        origins: Mapping[str, CartOrigin] | None = None,
    ) -> None:
        if not records:
            return
        known = origins or {}
        BulkWriter(self._db).insert(
            carts,
            [
                {
                    **_cart_row(r),
                    **_origin_row(known.get(r.id)),
                    "created_at": r.created_at,
                    "updated_at": now,
                }
                for r in records
            ],
        )
        self._write_lines(records)

    def update(self, records: Sequence[CartRecord], *, now: datetime) -> None:
        if not records:
            return
        self.save_states(records, now=now)
        self._db.execute(
            delete(cart_lines).where(
                member_of(self._db, cart_lines.c.cart_id, [r.id for r in records])
            )
        )
        self._write_lines(records)

    def save_states(self, records: Sequence[CartRecord], *, now: datetime) -> None:
        """
        Write the carts' own columns, leaving their lines as they are.
        """
        if not records:
            return
        rows = [{**_cart_row(r), "updated_at": now} for r in records]
        BulkWriter(self._db).update(carts, rows, key="id")

    def flag_bot(
        self, store_id: str, *, visitor_id: str | None = None, contact_id: str | None = None
    ) -> None:
        """
        Flag a robot's open carts and stop their timers; they are kept, never messaged.
        """
        owner = carts.c.visitor_id == visitor_id if visitor_id else carts.c.contact_id == contact_id
        self._db.execute(
            update(carts)
            .where(carts.c.store_id == store_id, owner, carts.c.status.in_(_OPEN))
            .values(is_bot=True, check_at=None)
        )

    def assign_contact(self, store_id: str, visitor_id: str, contact_id: str) -> None:
        self._db.execute(
            update(carts)
            .where(
                carts.c.store_id == store_id,
                carts.c.visitor_id == visitor_id,
                carts.c.status.in_(_OPEN),
                carts.c.contact_id.is_(None),
            )
            .values(contact_id=contact_id)
        )

    def set_contact(self, store_id: str, key: str, contact_id: str) -> None:
        self._db.execute(
            update(carts)
            .where(carts.c.store_id == store_id, carts.c.cart_key == key)
            .values(contact_id=contact_id)
        )

    def origins(self, cart_ids: Sequence[str]) -> dict[str, CartOrigin]:
        """
        The stored device and country of these carts (those with neither are left out).
        """
        if not cart_ids:
            return {}
        query = select(carts.c.id, carts.c.device, carts.c.country, carts.c.country_source).where(
            member_of(self._db, carts.c.id, cart_ids),
            or_(carts.c.device.is_not(None), carts.c.country.is_not(None)),
        )
        return {row.id: _origin_from_row(row) for row in self._db.execute(query)}

    def set_origins(self, origins: Mapping[str, CartOrigin]) -> None:
        """
        Write carts' device and country (one statement per distinct value, not per cart).
        """
        by_value: dict[tuple[tuple[str, str | None], ...], list[str]] = {}
        for cart_id, origin in origins.items():
            by_value.setdefault(tuple(_origin_row(origin).items()), []).append(cart_id)
        for value, ids in by_value.items():
            self._db.execute(
                update(carts).where(member_of(self._db, carts.c.id, ids)).values(dict(value))
            )

    def list_page(
        self,
        store_id: str,
        *,
        status: str | None,
        contact_id: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> CartPage:
        query = select(carts).where(carts.c.store_id == store_id)
        if status:
            query = query.where(carts.c.status == status)
        if contact_id:
            query = query.where(carts.c.contact_id == contact_id)
        if since:
            query = query.where(carts.c.created_at >= since)
        if cursor:
            created_at, cart_id = _decode_cursor(cursor)
            query = query.where(
                or_(
                    carts.c.created_at < created_at,
                    and_(carts.c.created_at == created_at, carts.c.id < cart_id),
                )
            )
        query = query.order_by(carts.c.created_at.desc(), carts.c.id.desc()).limit(limit + 1)
        found = self._load(query)
        more = len(found) > limit
        page = found[:limit]
        next_cursor = _encode_cursor(page[-1]) if more and page else None
        return CartPage(records=page, next_cursor=next_cursor)

    def claim_due(self, *, now: datetime, limit: int) -> list[CartRecord]:
        """
        Lock up to `limit` carts whose timer is due, oldest first. On PostgreSQL, rows another
        worker holds are skipped, so workers never wait for or double-process each other.
        """
        query = (
            select(carts)
            .where(carts.c.check_at.is_not(None), carts.c.check_at <= now)
            .order_by(carts.c.check_at, carts.c.id)
            .limit(limit)
        )
        if self._db.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return self._load(query)

    def next_check_at(self) -> datetime | None:
        return self._db.execute(
            select(carts.c.check_at)
            .where(carts.c.check_at.is_not(None))
            .order_by(carts.c.check_at)
            .limit(1)
        ).scalar()

    def due_count(self, *, now: datetime) -> int:
        query = (
            select(func.count())
            .select_from(carts)
            .where(carts.c.check_at.is_not(None), carts.c.check_at <= now)
        )
        return int(self._db.execute(query).scalar_one())

    def timed_for_store(self, store_id: str) -> list[CartRecord]:
        """
        The store's active and abandoned carts, whose timers follow the store's settings, in
        id order (a fixed lock order, so two writers cannot deadlock on them).
        """
        query = (
            select(carts)
            .where(
                carts.c.store_id == store_id,
                carts.c.status.in_((CartStatus.ACTIVE.value, CartStatus.ABANDONED.value)),
            )
            .order_by(carts.c.id)
        )
        return self._load(self._for_write(query))

    def _for_write(self, query: Any) -> Any:
        """
        On PostgreSQL, lock the carts a writing transaction reads: the worker's claim (SKIP
        LOCKED) then passes them by instead of deciding on a row this transaction is about to
        overwrite from its own copy, and two writers of one cart queue instead of losing an
        update. SQLite's writers are serialised already (BEGIN IMMEDIATE); read-only units of
        work lock nothing.
        """
        if self._db.dialect.name != "postgresql" or self._read_only():
            return query
        return query.with_for_update(of=carts)

    def _read_only(self) -> bool:
        return bool(self._db.get_execution_options().get("cartback_read_only", False))

    def abandoned_between(
        self, store_id: str, *, since: datetime, until: datetime, limit: int
    ) -> list[CartRecord]:
        query = (
            select(carts)
            .where(
                carts.c.store_id == store_id,
                carts.c.abandoned_at >= since,
                carts.c.abandoned_at < until,
            )
            .order_by(carts.c.abandoned_at, carts.c.id)
            .limit(limit)
        )
        return self._load(query)

    def _load(self, query: Any) -> list[CartRecord]:
        return self._with_lines(self._db.execute(query).mappings().all())

    def _with_lines(self, rows: Sequence[Mapping[Any, Any]]) -> list[CartRecord]:
        if not rows:
            return []
        lines = self._lines_for([r["id"] for r in rows])
        return [_record_from_row(r, lines.get(r["id"], ())) for r in rows]

    def _lines_for(self, cart_ids: list[str]) -> dict[str, tuple[LineItem, ...]]:
        found: dict[str, list[LineItem]] = {}
        rows: Sequence[Mapping[Any, Any]]
        if self._db.dialect.name == "postgresql":
            rows = _READ_LINES.mappings(self._db, cart_ids=cart_ids)
        else:
            query = (
                select(cart_lines)
                .where(member_of(self._db, cart_lines.c.cart_id, cart_ids))
                .order_by(cart_lines.c.cart_id, cart_lines.c.position)
            )
            rows = self._db.execute(query).mappings().all()
        for row in rows:
            line = LineItem(**{name: row[name] for name in _LINE_FIELDS})
            found.setdefault(row["cart_id"], []).append(line)
        return {cart_id: tuple(items) for cart_id, items in found.items()}

    def _write_lines(self, records: Sequence[CartRecord]) -> None:
        rows = [
            {"cart_id": r.id, "position": position, **_line_row(line)}
            for r in records
            for position, line in enumerate(r.cart.lines)
        ]
        BulkWriter(self._db).insert(cart_lines, rows)


def _origin_from_row(row: Any) -> CartOrigin:
    source = CountrySource.from_label(row.country_source)
    country = (
        CountryGuess(country=row.country, source=source)
        if row.country and source is not None
        else None
    )
    return CartOrigin(device=Device(row.device) if row.device else None, country=country)


def _origin_row(origin: CartOrigin | None) -> dict[str, str | None]:
    device = origin.device if origin else None
    country = origin.country if origin else None
    return {
        "device": device.value if device else None,
        "country": country.country if country else None,
        "country_source": country.source.label if country else None,
    }


def _line_row(line: LineItem) -> dict[str, Any]:
    return {name: getattr(line, name) for name in _LINE_FIELDS}


def _cart_row(record: CartRecord) -> dict[str, Any]:
    cart = record.cart
    return {
        "id": record.id,
        "store_id": record.store_id,
        "cart_key": cart.key,
        "visitor_id": record.visitor_id,
        "contact_id": record.contact_id,
        "status": cart.status.value,
        "stage": cart.stage.value,
        "currency": cart.currency,
        "total": cart.total,
        "declared_total": cart.declared_total,
        "item_count": cart.item_count,
        "is_bot": cart.is_bot,
        "last_activity_at": cart.last_activity_at,
        "check_at": cart.check_at,
        "abandoned_at": cart.abandoned_at,
        "lost_at": cart.lost_at,
        "ordered_at": cart.ordered_at,
        "touched_at": cart.touched_at,
        "order_id": cart.order_id,
        "checkout_id": cart.checkout_id,
        "payment_failure_reason": cart.payment_failure_reason,
        "signals": cart.signals.to_json(),
    }


def _record_from_row(row: Mapping[Any, Any], lines: tuple[LineItem, ...]) -> CartRecord:
    cart = Cart(
        key=row["cart_key"],
        currency=row["currency"],
        lines=lines,
        stage=Stage(row["stage"]),
        status=CartStatus(row["status"]),
        declared_total=row["declared_total"],
        last_activity_at=row["last_activity_at"],
        check_at=row["check_at"],
        abandoned_at=row["abandoned_at"],
        lost_at=row["lost_at"],
        ordered_at=row["ordered_at"],
        touched_at=row["touched_at"],
        order_id=row["order_id"],
        checkout_id=row["checkout_id"],
        payment_failure_reason=row["payment_failure_reason"],
        is_bot=row["is_bot"],
        signals=Signals.from_json(row["signals"]),
    )
    return CartRecord(
        id=row["id"],
        store_id=row["store_id"],
        cart=cart,
        visitor_id=row["visitor_id"],
        contact_id=row["contact_id"],
        created_at=row["created_at"],
    )


def _encode_cursor(record: CartRecord) -> str:
    raw = orjson.dumps([record.created_at.isoformat(), record.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, cart_id = orjson.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(created_at)
        if moment.utcoffset() is None or not isinstance(cart_id, str):
            raise ValueError(cursor)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidInput("the cursor is not one this API returned") from None
    return moment, cart_id
