"""
The store's catalog: what each product variant's availability was when it was last read from
the platform, and what a new read changed. The catalog triggers (`back_in_stock`, `launch`) and
the stock guard read it; a later issue grows it into product feeds.

Decisions a reader may look for:

- **Identity.** An item is a product's variant (`v:<variant_id>`), or the product itself when it
  has no variants (`p:<product_id>`). A cart line is matched by its variant id, else its product
  id, else its SKU (`line_keys`); a line the catalog does not know was never read.
- **`read_at` is when Cartback last heard the platform's answer** (a webhook or a catalog API
  write), not when the platform changed the item (`updated_at`). Only `read_at` makes a read
  fresh enough to claim availability (`guards.StockRules.max_age`).
- **Available** means it can be bought now and is in stock (a count above zero when the
  platform keeps one). A pre-order or coming-soon item is shown, never claimed available.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cartback.domain.events import LineItem
from cartback.domain.guards import ItemStock
from cartback.domain.time import check_aware

#: At most this many items per catalog write (`PUT /v1/catalog/items`).
MAX_ITEMS = 1000
MAX_ID = 255
MAX_TITLE = 500
MAX_QUANTITY = 10_000_000


class CatalogChange(StrEnum):
    """
    What a new read of an item changed that a flow may be told about.
    """

    #: It was not available and is now.
    BACK_IN_STOCK = "back_in_stock"
    #: A pre-order or coming-soon item got a new release (shipping) date.
    RELEASE_DATE_CHANGED = "release_date_changed"
    #: A pre-order or coming-soon item is no longer one: it launched.
    LAUNCHED = "launched"


class WatchReason(StrEnum):
    """
    Why an abandoned cart's line is watched in the catalog.
    """

    UNAVAILABLE = "unavailable"
    PREORDER = "preorder"


@dataclass(frozen=True, kw_only=True, slots=True)
class CatalogItem:
    """
    One product variant's availability as last read from the platform.
    """

    product_id: str
    variant_id: str | None = None
    sku: str | None = None
    title: str | None = None
    available: bool
    #: Units in stock when the platform counts them; None when it does not (or oversells).
    quantity: int | None = None
    #: A pre-order or coming-soon item; `release_at` is its launch or shipping date if known.
    preorder: bool = False
    release_at: datetime | None = None
    #: When this availability was last read from the platform.
    read_at: datetime
    #: When the platform last changed the item (when written, if it did not say).
    updated_at: datetime

    def __post_init__(self) -> None:
        check_aware(self.read_at, "read_at")
        check_aware(self.updated_at, "updated_at")
        check_aware(self.release_at, "release_at")
        if not self.product_id:
            raise ValueError("an item needs a product_id")
        if self.quantity is not None and not -MAX_QUANTITY <= self.quantity <= MAX_QUANTITY:
            raise ValueError(f"quantity must be between {-MAX_QUANTITY} and {MAX_QUANTITY}")

    @property
    def key(self) -> str:
        """
        The item's identity in its store: its variant, else its product.
        """
        return f"v:{self.variant_id}" if self.variant_id else f"p:{self.product_id}"

    @property
    def in_stock(self) -> bool:
        """
        Can be bought now from stock.
        """
        return self.available and (self.quantity is None or self.quantity > 0)


def line_keys(line: LineItem) -> tuple[str, ...]:
    """
    The catalog keys a cart line may be known by, best first: its variant, its product, its SKU.
    """
    keys = []
    if line.variant_id:
        keys.append(f"v:{line.variant_id}")
    if line.product_id:
        keys.append(f"p:{line.product_id}")
    if line.sku:
        keys.append(f"s:{line.sku}")
    return tuple(keys)


def find_item(line: LineItem, items: dict[str, CatalogItem]) -> CatalogItem | None:
    """
    The catalog item for a cart line, from items indexed by key and by `s:<sku>`.
    """
    return next((items[k] for k in line_keys(line) if k in items), None)


def changes(old: CatalogItem | None, new: CatalogItem) -> frozenset[CatalogChange]:
    """
    What a new read says that the previous one did not. A first read changes nothing: nobody
    can have been waiting for an item the catalog did not know.
    """
    if old is None:
        return frozenset()
    found: set[CatalogChange] = set()
    if not old.in_stock and new.in_stock:
        found.add(CatalogChange.BACK_IN_STOCK)
    if old.preorder and not new.preorder:
        found.add(CatalogChange.LAUNCHED)
    elif old.preorder and new.preorder and old.release_at != new.release_at:
        found.add(CatalogChange.RELEASE_DATE_CHANGED)
    return frozenset(found)


def watch_reason(item: CatalogItem | None) -> WatchReason | None:
    """
    Why an abandoned cart's line is worth watching: it was a pre-order or coming-soon item,
    or not in stock. None for an item in stock, or one the catalog does not know.
    """
    if item is None:
        return None
    if item.preorder:
        return WatchReason.PREORDER
    return None if item.in_stock else WatchReason.UNAVAILABLE


def is_stale(old: CatalogItem | None, new: CatalogItem) -> bool:
    """
    A read the platform made before the stored one (a late delivery): it changes nothing.
    """
    return old is not None and new.updated_at < old.updated_at


def item_stock(key: str, item: CatalogItem | None) -> ItemStock:
    """
    A cart line's stock fact for the guards. An item the catalog does not know was never read;
    a pre-order item is shown but never claimed available, so it counts as unconfirmed too.
    """
    if item is None or item.preorder:
        return ItemStock(key=key, in_stock=item is not None, read_at=None)
    return ItemStock(key=key, in_stock=item.in_stock, read_at=item.read_at, quantity=item.quantity)


__all__ = [
    "MAX_ITEMS",
    "CatalogChange",
    "CatalogItem",
    "WatchReason",
    "changes",
    "find_item",
    "is_stale",
    "item_stock",
    "line_keys",
    "watch_reason",
]
