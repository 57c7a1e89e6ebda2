"""
The catalog: `catalog_items` (one row per store and item key) and `stock_watches`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    delete,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
)

from cartback.domain.catalog import LEARNED_DETAILS, CatalogItem, WatchReason
from cartback.domain.feeds import MAX_FEED_ID, CatalogVersion
from cartback.domain.ports import SimilarItem, StockWatch
from cartback.store._bulk import (
    PSYCOPG_DIALECT,
    BulkWriter,
    recordset_columns,
    recordset_document,
)
from cartback.store.repositories import insert_for
from cartback.store.tables import catalog_items, stock_watches

_SKU = "s:"
_UPDATED = (
    "product_id",
    "variant_id",
    "sku",
    "title",
    "available",
    "quantity",
    "preorder",
    "release_at",
    "read_at",
    "updated_at",
)
#: Kept from the stored row when a write does not carry them (`catalog.merged`).
_PAGE = ("category", "url", "image_url", "description", "brand", "gtin", "mpn")


class SqlCatalogRepository:
    """
    Catalog items and the stock watches on them, in the caller's transaction.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def get_many(
        self, store_id: str, keys: Sequence[str], *, unread: bool = False
    ) -> dict[str, CatalogItem]:
        """
        The items known by any of `keys` (`v:`/`p:` item keys, or `s:<sku>`), by requested key;
        those whose stock was never read (learned from events) only when `unread`.
        """
        item_keys = sorted({k for k in keys if not k.startswith(_SKU)})
        skus = sorted({k.removeprefix(_SKU) for k in keys if k.startswith(_SKU)})
        if not item_keys and not skus:
            return {}
        table = catalog_items.c
        rows = self._db.execute(
            select(catalog_items)
            .where(table.store_id == store_id)
            .where(or_(table.item_key.in_(item_keys), table.sku.in_(skus)))
            .where(true() if unread else table.read_at.is_not(None))
            .order_by(table.item_key)
        ).mappings()
        found: dict[str, CatalogItem] = {}
        for row in rows:
            item = _item(row)
            if row["item_key"] in item_keys:
                found[row["item_key"]] = item
            if row["sku"] in skus:
                found.setdefault(_SKU + row["sku"], item)
        return found

    def upsert(self, store_id: str, items: Sequence[CatalogItem]) -> None:
        """
        Insert the items, or overwrite the stored ones with the same key; prices and page
        details a new item does not carry are kept (`catalog.merged`, applied in the statement
        itself so a concurrent price write is never lost to a stock write read before it).
        """
        if not items:
            return
        # Sorted, so two writers of the same items lock them in the same order (no deadlock).
        rows = [_row(store_id, item) for item in sorted(items, key=lambda i: i.key)]
        self._db.execute(_upsert_statement(self._db.dialect.name), rows)

    def learn(self, store_id: str, items: Sequence[CatalogItem]) -> None:
        """
        Write what storefront events showed of these items (`catalog.learned` as SQL, in one
        statement, so a platform read committed meanwhile is never overwritten): a new item is
        stored with its stock unknown; an item only events told of takes the newest event's
        details; an item the platform read keeps what it said and takes only what it lacks.
        """
        latest: dict[str, CatalogItem] = {}
        for item in items:
            if item.key not in latest or latest[item.key].updated_at <= item.updated_at:
                latest[item.key] = item
        if not latest:
            return
        rows = [_row(store_id, latest[key]) for key in sorted(latest)]
        if self._db.dialect.name == "postgresql":
            # One statement over all items: row by row, PostgreSQL plans and runs it per item.
            sql, constants = _learn_from_rows(tuple(rows[0]))
            BulkWriter(self._db).execute_postgres(
                sql,
                {**constants, "_rows": recordset_document(catalog_items, rows)},
                rows_back=False,
            )
            return
        self._db.execute(_learn_statement(self._db.dialect.name), rows)

    def watch(self, store_id: str, cart_id: str, watches: Sequence[StockWatch]) -> None:
        """
        Make `watches` the cart's stock watches, replacing any.
        """
        self._db.execute(delete(stock_watches).where(stock_watches.c.cart_id == cart_id))
        if watches:
            self._db.execute(
                stock_watches.insert(),
                [
                    {
                        "store_id": store_id,
                        "cart_id": cart_id,
                        "item_key": w.item_key,
                        "reason": w.reason.value,
                        "since": w.since,
                    }
                    for w in watches
                ],
            )

    def watches_for(self, store_id: str, item_keys: Sequence[str]) -> list[StockWatch]:
        """
        The watches on these items, oldest first.
        """
        if not item_keys:
            return []
        table = stock_watches.c
        rows = self._db.execute(
            select(stock_watches)
            .where(table.store_id == store_id, table.item_key.in_(sorted(set(item_keys))))
            .order_by(table.since, table.id)
        ).mappings()
        return [
            StockWatch(
                store_id=row["store_id"],
                cart_id=row["cart_id"],
                item_key=row["item_key"],
                reason=WatchReason(row["reason"]),
                since=row["since"],
            )
            for row in rows
        ]

    def unwatch(self, cart_id: str, item_keys: Sequence[str]) -> None:
        """
        Drop the cart's watches on these items.
        """
        if item_keys:
            self._db.execute(
                delete(stock_watches).where(
                    stock_watches.c.cart_id == cart_id,
                    stock_watches.c.item_key.in_(sorted(set(item_keys))),
                )
            )

    def similar(
        self,
        store_id: str,
        item_keys: Sequence[str],
        *,
        categories: Sequence[str] = (),
        limit: int = 4,
    ) -> list[SimilarItem]:
        """
        Items in stock in `categories` or sharing one with any of `item_keys`, those left out;
        by title.
        """
        keys = sorted({k for k in item_keys if not k.startswith(_SKU)})
        skus = sorted({k.removeprefix(_SKU) for k in item_keys if k.startswith(_SKU)})
        table = catalog_items.c
        named = or_(table.item_key.in_(keys), table.sku.in_(skus))
        asked = select(table.item_key, table.category).where(table.store_id == store_id, named)
        rows = self._db.execute(asked).all() if keys or skus else []
        wanted = sorted({row.category for row in rows if row.category} | set(categories))
        if not wanted:
            return []
        query = (
            select(catalog_items)
            .where(
                table.store_id == store_id,
                table.category.in_(wanted),
                table.item_key.not_in([row.item_key for row in rows]),
                table.available.is_(True),
                table.preorder.is_(False),
                or_(table.quantity.is_(None), table.quantity > 0),
                table.title.is_not(None),
                table.url.is_not(None),
            )
            .order_by(table.title, table.item_key)
            .limit(limit)
        )
        return [_similar(row) for row in self._db.execute(query).mappings()]

    def feed_page(self, store_id: str, *, after: str | None, limit: int) -> list[CatalogItem]:
        """
        Up to `limit` of the store's items in item-key order, those after the key `after`
        (keyset paging on the `(store_id, item_key)` unique index: every page is as cheap as
        the first).
        """
        table = catalog_items.c
        query = select(catalog_items).where(table.store_id == store_id)
        if after is not None:
            query = query.where(table.item_key > after)
        rows = self._db.execute(query.order_by(table.item_key).limit(limit)).mappings()
        return [_item(row) for row in rows]

    def feed_version(self, store_id: str) -> CatalogVersion:
        """
        The store's item count, how many the feeds leave out (`feeds.left_out` as SQL), and
        the newest `updated_at` and `read_at`, in one query.
        """
        table = catalog_items.c
        left_out = or_(
            func.length(func.coalesce(func.nullif(table.variant_id, ""), table.product_id))
            > MAX_FEED_ID,
            func.coalesce(table.title, "") == "",
            table.url.is_(None),
            table.image_url.is_(None),
            table.price.is_(None),
            table.currency.is_(None),
        )
        row = self._db.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((left_out, 1), else_=0)), 0),
                func.max(table.updated_at),
                func.max(table.read_at),
            ).where(table.store_id == store_id)
        ).one()
        return CatalogVersion(
            items=row[0],
            left_out=int(row[1]),
            newest_update=row[2],
            newest_read=row[3],
        )


def _kept_values(new: Any) -> dict[str, ColumnElement[Any]]:
    """
    `catalog.merged` as SQL: `new` is the conflicting insert's values, `catalog_items.c` the
    stored row.
    """
    old = catalog_items.c
    same_money = or_(new.currency.is_(None), new.currency == old.currency)
    priced = new.price.is_not(None)
    values: dict[str, ColumnElement[Any]] = {
        "price": case((priced, new.price), (same_money, old.price), else_=None),
        "compare_at_price": case(
            (priced, new.compare_at_price), (same_money, old.compare_at_price), else_=None
        ),
        "cost": case((new.cost.is_not(None), new.cost), (same_money, old.cost), else_=None),
        "currency": func.coalesce(new.currency, old.currency),
    }
    values.update({name: func.coalesce(new[name], old[name]) for name in _PAGE})
    return values


# The two catalog writes are built once per database kind and take their rows as parameters:
# built per call (and with `.values(rows)`, which SQLAlchemy cannot cache), their expressions
# cost more than the writes, and ingestion learns the catalog in every batch.


@cache
def _upsert_statement(dialect: str) -> Any:
    statement = insert_for(dialect, catalog_items)
    return statement.on_conflict_do_update(
        index_elements=[catalog_items.c.store_id, catalog_items.c.item_key],
        set_={
            **{name: statement.excluded[name] for name in _UPDATED},
            **_kept_values(statement.excluded),
        },
    )


@cache
def _learn_statement(dialect: str) -> Any:
    statement = insert_for(dialect, catalog_items)
    return statement.on_conflict_do_update(
        index_elements=[catalog_items.c.store_id, catalog_items.c.item_key],
        set_=_learned_values(statement.excluded),
    )


@cache
def _learn_from_rows(names: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """
    PostgreSQL: `_learn_statement` for many items at once, the items (`_row`'s columns,
    `names`) one JSON parameter `_rows` read as a table (`_bulk.recordset_document`); compiled
    once to psycopg's SQL and the constants it binds, for `BulkWriter.execute_postgres`.
    """
    source = text(
        f"json_to_recordset(CAST(:_rows AS json)) AS v({recordset_columns(catalog_items, names)})"
    )
    columns: list[Any] = [literal_column(f"v.{name}") for name in names]
    items = select(*columns).select_from(source)
    statement = insert_for("postgresql", catalog_items).from_select(names, items)
    upsert = statement.on_conflict_do_update(
        index_elements=[catalog_items.c.store_id, catalog_items.c.item_key],
        set_=_learned_values(statement.excluded),
    )
    compiled = upsert.compile(dialect=PSYCOPG_DIALECT)
    return str(compiled), dict(compiled.params)


def _learned_values(new: Any) -> dict[str, ColumnElement[Any]]:
    """
    `catalog.learned` as SQL: `new` is the conflicting insert's values (an event's), the stored
    row is `catalog_items.c`. Stock columns are never set.
    """
    old = catalog_items.c
    newer = and_(old.read_at.is_(None), new.updated_at >= old.updated_at)
    takes_price = and_(
        new.price.is_not(None),
        or_(
            newer,
            and_(old.price.is_(None), or_(old.currency.is_(None), old.currency == new.currency)),
        ),
    )
    values: dict[str, ColumnElement[Any]] = {
        name: case(
            (newer, func.coalesce(new[name], old[name])), else_=func.coalesce(old[name], new[name])
        )
        for name in LEARNED_DETAILS
    }
    values.update(
        {
            "price": case((takes_price, new.price), else_=old.price),
            "compare_at_price": case((takes_price, null()), else_=old.compare_at_price),
            "currency": case((takes_price, new.currency), else_=old.currency),
            "updated_at": case((newer, new.updated_at), else_=old.updated_at),
        }
    )
    return values


def _row(store_id: str, item: CatalogItem) -> dict[str, Any]:
    return {
        "store_id": store_id,
        "item_key": item.key,
        "product_id": item.product_id,
        "variant_id": item.variant_id,
        "sku": item.sku,
        "title": item.title,
        "available": item.available,
        "quantity": item.quantity,
        "preorder": item.preorder,
        "release_at": item.release_at,
        "price": item.price,
        "compare_at_price": item.compare_at_price,
        "cost": item.cost,
        "currency": item.currency,
        "category": item.category,
        "url": item.url,
        "image_url": item.image_url,
        "description": item.description,
        "brand": item.brand,
        "gtin": item.gtin,
        "mpn": item.mpn,
        "read_at": item.read_at,
        "updated_at": item.updated_at,
    }


def _similar(row: Any) -> SimilarItem:
    # Read from the columns, not `CatalogItem`: the page needs only what it shows.
    return SimilarItem(
        key=row["item_key"],
        title=row["title"],
        url=row["url"],
        image_url=row["image_url"],
        price=row["price"],
        currency=row["currency"],
    )


def _item(row: Any) -> CatalogItem:
    return CatalogItem(
        product_id=row["product_id"],
        variant_id=row["variant_id"],
        sku=row["sku"],
        title=row["title"],
        available=row["available"],
        quantity=row["quantity"],
        preorder=row["preorder"],
        release_at=row["release_at"],
        price=row["price"],
        compare_at_price=row["compare_at_price"],
        cost=row["cost"],
        currency=row["currency"],
        category=row["category"],
        url=row["url"],
        image_url=row["image_url"],
        description=row["description"],
        brand=row["brand"],
        gtin=row["gtin"],
        mpn=row["mpn"],
        read_at=row["read_at"],
        updated_at=row["updated_at"],
    )
