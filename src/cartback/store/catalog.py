"""
The catalog: `catalog_items` (one row per store and item key) and `stock_watches`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, or_, select

from cartback.domain.catalog import CatalogItem, WatchReason
from cartback.domain.ports import StockWatch
from cartback.store.repositories import dialect_insert
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


class SqlCatalogRepository:
    """
    Catalog items and the stock watches on them, in the caller's transaction.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def get_many(self, store_id: str, keys: Sequence[str]) -> dict[str, CatalogItem]:
        """
        The items known by any of `keys` (`v:`/`p:` item keys, or `s:<sku>`), by requested key.
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
        Insert the items, or overwrite the stored ones with the same key.
        """
        if not items:
            return
        # Sorted, so two writers of the same items lock them in the same order (no deadlock).
        rows = [_row(store_id, item) for item in sorted(items, key=lambda i: i.key)]
        statement = dialect_insert(self._db, catalog_items).values(rows)
        self._db.execute(
            statement.on_conflict_do_update(
                index_elements=[catalog_items.c.store_id, catalog_items.c.item_key],
                set_={name: statement.excluded[name] for name in _UPDATED},
            )
        )

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
        "read_at": item.read_at,
        "updated_at": item.updated_at,
    }


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
        read_at=row["read_at"],
        updated_at=row["updated_at"],
    )
