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
- **Prices and page details are optional and sticky.** A read that does not carry them (an
  inventory-only webhook, a stock feed) keeps what an earlier read said (`merged`); a read that
  carries a price states the selling pair (`price`, `compare_at_price`) whole, so a sale that
  ended clears its "was" price. Amounts are in `currency`; a read in another currency drops
  the stored amounts it does not restate. A price change is not a stock change: it tells no
  flow anything (`changes`).
- **Learned from the storefront.** A product a shopper viewed or carted (a Segment or platform
  event) enters the catalog with what the event shows: title, price, link, picture, category
  (`learned_item`). Events never say whether an item is in stock, so such an item has no
  `read_at` until a platform read or the catalog API tells: the stock guard, stock watches and
  restore links do not see it (`SqlCatalogRepository.get_many`), and the feeds list it as in
  stock (the shop offered it for sale). Anyone can send storefront events, so a link outside the
  store's domains is ignored, and what a platform read stated is never overwritten: events only
  fill its blanks (`SqlCatalogRepository.learn`).
- **Feed details** (`description`, `brand`, `gtin`, `mpn`) are sticky like the page details:
  a read that does not carry them keeps the stored ones. A GTIN is 8, 12, 13 or 14 digits with
  a valid GS1 check digit (`is_gtin`); product feeds send only what a shop's pages show.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from urllib.parse import urlsplit

from cartback.domain.events import MAX_UNIT_PRICE, LineItem
from cartback.domain.guards import ItemStock
from cartback.domain.time import check_aware

#: At most this many items per catalog write (`PUT /v1/catalog/items`).
MAX_ITEMS = 1000
MAX_ID = 255
MAX_TITLE = 500
MAX_QUANTITY = 10_000_000
MAX_CATEGORY = 500
MAX_URL = 2048
#: Google Merchant Center's limit for `description` (Meta allows more).
MAX_DESCRIPTION = 5000
MAX_BRAND = 200
MAX_GTIN = 14
MAX_MPN = 70
_GTIN = re.compile(r"\d{8}|\d{12,14}")
_CURRENCY = re.compile(r"[A-Z]{3}")
#: A Shopify storefront names a variant by its GraphQL id; webhooks and the catalog by number.
_SHOPIFY_VARIANT_GID = re.compile(r"gid://shopify/ProductVariant/(\d+)")
_SHOPIFY_PRODUCT_GID = re.compile(r"gid://shopify/Product/(\d+)")
_PAGE_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)


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
    #: When this availability was last read from the platform; None for an item only
    #: storefront events told of (`learned_item`): its stock was never read.
    read_at: datetime | None
    #: When the platform last changed the item (when written, if it did not say).
    updated_at: datetime
    #: The selling price per unit, in `currency`; None when the read did not carry it.
    price: Decimal | None = None
    #: The "was" price of an item on sale (above `price`); None when not on sale.
    compare_at_price: Decimal | None = None
    #: What a unit costs the merchant (offers' margin floor), when the platform says.
    cost: Decimal | None = None
    #: ISO 4217 code of the amounts above; required when any of them is set.
    currency: str | None = None
    #: The product's category or type, as the platform names it.
    category: str | None = None
    #: The product's page (http or https).
    url: str | None = None
    #: The product's (or the variant's) picture (http or https).
    image_url: str | None = None
    #: Plain text (no HTML) about the product, as its page shows it.
    description: str | None = None
    brand: str | None = None
    #: The GS1 trade item number (UPC, EAN, ISBN or ITF-14), digits only (`is_gtin`).
    gtin: str | None = None
    #: The manufacturer's part number.
    mpn: str | None = None

    def __post_init__(self) -> None:
        check_aware(self.read_at, "read_at")
        check_aware(self.updated_at, "updated_at")
        check_aware(self.release_at, "release_at")
        if not self.product_id:
            raise ValueError("an item needs a product_id")
        if self.quantity is not None and not -MAX_QUANTITY <= self.quantity <= MAX_QUANTITY:
            raise ValueError(f"quantity must be between {-MAX_QUANTITY} and {MAX_QUANTITY}")
        self._check_money()
        self._check_page()
        self._check_identifiers()

    def _check_money(self) -> None:
        for name in ("price", "compare_at_price", "cost"):
            amount: Decimal | None = getattr(self, name)
            if amount is not None and not (amount.is_finite() and 0 <= amount <= MAX_UNIT_PRICE):
                raise ValueError(f"{name} must be between 0 and {MAX_UNIT_PRICE}")
        priced = (self.price, self.compare_at_price, self.cost) != (None, None, None)
        if priced and self.currency is None:
            raise ValueError("an item with a price or cost needs its currency")
        if self.currency is not None and not _CURRENCY.fullmatch(self.currency):
            raise ValueError("currency must be a three-letter ISO 4217 code in capitals")
        # A "was" price means something only beside the price it was cut to.
        if self.compare_at_price is not None and self.price is None:
            raise ValueError("compare_at_price needs a price")

    def _check_page(self) -> None:
        if self.category is not None and len(self.category) > MAX_CATEGORY:
            raise ValueError(f"category must be at most {MAX_CATEGORY} characters")
        for name in ("url", "image_url"):
            link: str | None = getattr(self, name)
            # Shown in messages and pages: a `javascript:` or `data:` link would be an attack.
            if link is not None and (len(link) > MAX_URL or not _PAGE_URL.fullmatch(link)):
                raise ValueError(f"{name} must be an http(s) URL of at most {MAX_URL} characters")

    def _check_identifiers(self) -> None:
        limits = (("description", MAX_DESCRIPTION), ("brand", MAX_BRAND), ("mpn", MAX_MPN))
        for name, limit in limits:
            value: str | None = getattr(self, name)
            if value is not None and not 0 < len(value) <= limit:
                raise ValueError(f"{name} must be 1 to {limit} characters")
        if self.gtin is not None and not is_gtin(self.gtin):
            raise ValueError("gtin must be 8, 12, 13 or 14 digits with a valid check digit")

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

    @property
    def on_sale(self) -> bool:
        """
        Sold below its "was" price (offers may leave such items out).
        """
        return (
            self.price is not None
            and self.compare_at_price is not None
            and self.compare_at_price > self.price
        )


def is_gtin(value: str) -> bool:
    """
    True for a GTIN-8, -12 (UPC), -13 (EAN, ISBN) or -14 whose last digit is its GS1 check
    digit (weights 3 and 1 alternating from the right, before the check digit).
    """
    if not _GTIN.fullmatch(value):
        return False
    digits = [int(d) for d in reversed(value[:-1])]
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(digits))
    return (10 - total % 10) % 10 == int(value[-1])


def learned_item(
    line: LineItem, *, currency: str | None, seen_at: datetime, domains: Sequence[str] = ()
) -> CatalogItem | None:
    """
    What a storefront event says about a product, as an item whose stock was never read; None
    when the line names no product. A detail the catalog would refuse (a title too long, a link
    that is not http(s), a page outside the store's `domains` when it lists any) is dropped,
    not the item: an event is evidence the product exists, whatever it carried.
    """
    product_id = _numeric_gid(line.product_id, _SHOPIFY_PRODUCT_GID)
    if not product_id or len(product_id) > MAX_ID:
        return None
    variant_id = _numeric_gid(line.variant_id, _SHOPIFY_VARIANT_GID)
    if variant_id is not None and len(variant_id) > MAX_ID:
        return None
    title = line.name
    if title and line.variant_name and variant_id:
        # The catalog names a variant "Product - Variant" (Shopify's and WooCommerce's way).
        title = f"{title} - {line.variant_name}"
    money = currency if currency and _CURRENCY.fullmatch(currency) else None
    price = line.unit_price if money is not None else None
    url = _page(line.url)
    if url is not None and domains and not _on_domains(url, domains):
        url = None
    return CatalogItem(
        product_id=product_id,
        variant_id=variant_id,
        sku=line.sku if line.sku and len(line.sku) <= MAX_ID else None,
        title=title if title and len(title) <= MAX_TITLE else None,
        available=False,
        read_at=None,
        updated_at=seen_at,
        price=price,
        currency=money if price is not None else None,
        category=line.category if line.category and len(line.category) <= MAX_CATEGORY else None,
        url=url,
        image_url=_page(line.image_url),
    )


def _numeric_gid(value: str | None, pattern: re.Pattern[str]) -> str | None:
    if not value:
        return None
    numeric = pattern.fullmatch(value)
    return numeric[1] if numeric else value


def _page(link: str | None) -> str | None:
    if not link:
        return None
    # Storefronts write CDN pictures protocol-relative (`//cdn.shopify.com/...`).
    link = f"https:{link}" if link.startswith("//") else link
    return link if len(link) <= MAX_URL and _PAGE_URL.fullmatch(link) else None


def _on_domains(url: str, domains: Sequence[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == d.lower() or host.endswith("." + d.lower()) for d in domains)


def line_keys(line: LineItem) -> tuple[str, ...]:
    """
    The catalog keys a cart line may be known by, best first: its variant, its product, its SKU.
    """
    keys = []
    if line.variant_id:
        keys.append(f"v:{line.variant_id}")
        numeric = _SHOPIFY_VARIANT_GID.fullmatch(line.variant_id)
        if numeric:
            keys.append(f"v:{numeric[1]}")
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


def merged(old: CatalogItem | None, new: CatalogItem) -> CatalogItem:
    """
    The item to store for a new read: stock from the new read, and the prices, page and feed
    details it does not carry from the stored one, so a write that does not know them (an
    inventory-only webhook) does not erase them. A new price restates the selling pair, so a
    missing `compare_at_price` beside it means "not on sale". Stored amounts in another
    currency than the new read's are dropped, never shown in the wrong currency.
    (`SqlCatalogRepository.upsert` applies the same rule in its statement.)
    """
    if old is None:
        return new
    same_money = new.currency is None or new.currency == old.currency
    price, compare_at = new.price, new.compare_at_price
    if price is None and same_money:
        price, compare_at = old.price, old.compare_at_price
    cost = new.cost if new.cost is not None or not same_money else old.cost
    return replace(
        new,
        price=price,
        compare_at_price=compare_at,
        cost=cost,
        currency=new.currency or old.currency,
        category=new.category or old.category,
        url=new.url or old.url,
        image_url=new.image_url or old.image_url,
        description=new.description or old.description,
        brand=new.brand or old.brand,
        gtin=new.gtin or old.gtin,
        mpn=new.mpn or old.mpn,
    )


#: What storefront events tell of an item besides its price (`learned`).
LEARNED_DETAILS = ("title", "sku", "category", "url", "image_url")


def learned(old: CatalogItem | None, new: CatalogItem) -> CatalogItem:
    """
    The item to store for what a storefront event showed (`new`, from `learned_item`). Stock
    is never the event's. An item only events told of takes the newest event's details (an
    older event fills blanks only); an item a platform read keeps what the platform said and
    takes from events only what it lacks, a price only in the same currency (or none yet).
    (`SqlCatalogRepository.learn` applies the same rule in its statement.)
    """
    if old is None:
        return new
    newer = old.read_at is None and new.updated_at >= old.updated_at
    details = {
        name: (getattr(new, name) or getattr(old, name))
        if newer
        else (getattr(old, name) or getattr(new, name))
        for name in LEARNED_DETAILS
    }
    takes_price = new.price is not None and (
        newer or (old.price is None and old.currency in (None, new.currency))
    )
    return replace(
        old,
        **details,
        price=new.price if takes_price else old.price,
        compare_at_price=None if takes_price else old.compare_at_price,
        currency=new.currency if takes_price else old.currency,
        updated_at=new.updated_at if newer else old.updated_at,
    )


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
    A read the platform made before the stored one (a late delivery): it changes nothing, its
    prices included. A read of the same moment or later is written even when only its price
    differs (a price change is a change of the item, just not one that tells a flow anything).
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
    "LEARNED_DETAILS",
    "MAX_ITEMS",
    "CatalogChange",
    "CatalogItem",
    "WatchReason",
    "changes",
    "find_item",
    "is_gtin",
    "is_stale",
    "item_stock",
    "learned",
    "learned_item",
    "line_keys",
    "merged",
    "watch_reason",
]
