"""
Product feeds: what Google Merchant Center and Meta catalogs are told about each catalog item,
and whether an abandoned cart's lines match what the feed says (ads must show the products the
shopper left, with the same name and picture).

Decisions a reader may look for:

- **The feed id is the item's variant id, else its product id**: the id cart lines and the
  conversion events carry, so an ad network can match a shopper's cart to the feed. Google
  allows at most 50 characters; a longer id cannot be sent and the item is left out.
- **Only what the shop's pages show.** A feed is public (the networks fetch it without keys):
  the merchant's cost never appears in it.
- **Left out** are items Google would refuse: no title, no page link, no image, no price
  (`left_out`); Meta refuses items without an image too.
  The store query that counts them (`SqlCatalogRepository.feed_version`) applies the same rule.
- **Prices** are `<amount> <ISO 4217>` with the currency's own decimals (`15.00 USD`,
  `1500 JPY`). On sale, `price` is the "was" price and `sale_price` what the shopper pays.
- **Availability** uses Google's values (`in_stock`, `out_of_stock`, `preorder`, `backorder`);
  Meta's are mapped from them (`META_AVAILABILITY`). An item that can be ordered with none in
  stock is a back-order; a pre-order carries its release date when the catalog knows it. An
  item learned from storefront events, its stock never read, is listed in stock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from urllib.parse import urlsplit

from cartback.domain.catalog import CatalogItem
from cartback.domain.events import LineItem
from cartback.domain.offers import currency_places
from cartback.domain.time import check_aware

#: Google Merchant Center's limit for `id`.
MAX_FEED_ID = 50
#: Every item is sold new: the catalog does not know refurbished or used goods.
CONDITION = "new"
_SPACES = re.compile(r"\s+")


class Availability(StrEnum):
    """
    Google Merchant Center's availability values.
    """

    IN_STOCK = "in_stock"
    OUT_OF_STOCK = "out_of_stock"
    PREORDER = "preorder"
    BACKORDER = "backorder"


#: Meta's catalog values for the same availabilities (space-separated, unlike Google's).
META_AVAILABILITY: dict[Availability, str] = {
    Availability.IN_STOCK: "in stock",
    Availability.OUT_OF_STOCK: "out of stock",
    Availability.PREORDER: "preorder",
    Availability.BACKORDER: "available for order",
}


class LeftOut(StrEnum):
    """
    Why a catalog item has no feed entry (Google requires what is missing).
    """

    NO_TITLE = "no_title"
    NO_LINK = "no_link"
    NO_IMAGE = "no_image"
    NO_PRICE = "no_price"
    LONG_ID = "long_id"


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedEntry:
    """
    One item as a product feed lists it; amounts already written as the feeds want them.
    """

    id: str
    #: The product id when the item is one of its variants (variants share it).
    item_group_id: str | None = None
    title: str
    description: str
    link: str
    image_link: str | None = None
    price: str
    sale_price: str | None = None
    availability: Availability
    availability_date: datetime | None = None
    condition: str = CONDITION
    #: The shop's own category for the item (`product_type` in both feeds).
    product_type: str | None = None
    brand: str | None = None
    gtin: str | None = None
    mpn: str | None = None

    @property
    def identifier_exists(self) -> bool:
        """
        False when the item has no brand, GTIN or MPN (Google's `identifier_exists` `no`).
        """
        return any((self.brand, self.gtin, self.mpn))

    @property
    def meta_availability(self) -> str:
        """
        The availability in Meta's words.
        """
        return META_AVAILABILITY[self.availability]


@dataclass(frozen=True, kw_only=True, slots=True)
class CatalogVersion:
    """
    What changes whenever a store's feed does, read in one query: how many items the catalog
    holds, how many of them are left out, and when any was last changed or written.
    """

    items: int
    left_out: int
    newest_update: datetime | None = None
    newest_read: datetime | None = None

    def __post_init__(self) -> None:
        check_aware(self.newest_update, "newest_update")
        check_aware(self.newest_read, "newest_read")


def feed_id(item: CatalogItem) -> str:
    """
    The item's id in the feeds: its variant id, else its product id.
    """
    return item.variant_id or item.product_id


def availability(item: CatalogItem) -> Availability:
    """
    A pre-order is a pre-order; otherwise in stock, orderable without stock (a back-order), or
    out of stock. An item whose stock was never read (learned from storefront events) is in
    stock: the shop offered it for sale, and the first stock read corrects it.
    """
    if item.read_at is None:
        return Availability.IN_STOCK
    if item.preorder:
        return Availability.PREORDER
    if item.in_stock:
        return Availability.IN_STOCK
    return Availability.BACKORDER if item.available else Availability.OUT_OF_STOCK


def price_text(amount: Decimal, currency: str) -> str:
    """
    `15.00 USD`: the amount rounded half-even to the currency's decimals, then its code.
    """
    places = currency_places(currency)
    return f"{amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)} {currency}"


def left_out(item: CatalogItem) -> LeftOut | None:
    """
    Why the item cannot be listed, or None when it can.
    """
    if len(feed_id(item)) > MAX_FEED_ID:
        return LeftOut.LONG_ID
    if not item.title:
        return LeftOut.NO_TITLE
    if not item.url:
        return LeftOut.NO_LINK
    if not item.image_url:
        return LeftOut.NO_IMAGE
    if item.price is None or item.currency is None:
        return LeftOut.NO_PRICE
    return None


def feed_entry(item: CatalogItem) -> FeedEntry | LeftOut:
    """
    The item's feed entry, or why it has none.
    """
    reason = left_out(item)
    # `left_out` has checked these; the type checker needs to see it again.
    if reason is not None or item.title is None or item.url is None:
        return reason or LeftOut.NO_TITLE
    if item.price is None or item.currency is None:
        return LeftOut.NO_PRICE
    stock = availability(item)
    price, sale = item.price, None
    if item.on_sale and item.compare_at_price is not None:
        price, sale = item.compare_at_price, price_text(item.price, item.currency)
    waiting = stock in (Availability.PREORDER, Availability.BACKORDER)
    return FeedEntry(
        id=feed_id(item),
        item_group_id=item.product_id if item.variant_id else None,
        title=item.title,
        description=item.description or item.title,
        link=item.url,
        image_link=item.image_url,
        price=price_text(price, item.currency),
        sale_price=sale,
        availability=stock,
        availability_date=item.release_at if waiting else None,
        product_type=item.category,
        brand=item.brand,
        gtin=item.gtin,
        mpn=item.mpn,
    )


class MismatchKind(StrEnum):
    """
    How an abandoned cart's line differs from the product feed.
    """

    #: The catalog does not know the line's product.
    MISSING = "missing"
    #: The catalog knows it, but under another id than the line's (an ad would not match).
    ID = "id"
    TITLE = "title"
    IMAGE = "image"
    #: Known, but left out of the feed (no title, link or price, or an id too long).
    NOT_IN_FEED = "not_in_feed"


@dataclass(frozen=True, kw_only=True, slots=True)
class Mismatch:
    """
    One difference between a cart line and its feed entry: the cart (its platform id), the
    line (0-based, as the read API lists items), the line's id and both sides' values.
    """

    cart_id: str
    line: int
    item_id: str
    kind: MismatchKind
    cart_value: str | None = None
    feed_value: str | None = None


def line_id(line: LineItem) -> str:
    """
    The id a cart line is sent to ad networks with: its variant, else product, else SKU.
    """
    return line.variant_id or line.product_id or line.sku or ""


def line_mismatches(
    cart_id: str, index: int, line: LineItem, item: CatalogItem | None
) -> list[Mismatch]:
    """
    How the line differs from its catalog item's feed entry; empty when the ad would show the
    same product, name and picture. A line without a name or picture has nothing to compare.
    """
    found = _Found(cart_id=cart_id, line=index, item_id=line_id(line))
    if item is None:
        return [found.of(MismatchKind.MISSING)]
    entry = feed_entry(item)
    if isinstance(entry, LeftOut):
        return [found.of(MismatchKind.NOT_IN_FEED, feed_value=entry.value)]
    mismatches = []
    if entry.id != found.item_id:
        mismatches.append(found.of(MismatchKind.ID, entry.id))
    if line.name and _spaced(entry.title) not in _titles(line):
        mismatches.append(found.of(MismatchKind.TITLE, entry.title, line.name))
    if line.image_url and not same_image(line.image_url, entry.image_link):
        mismatches.append(found.of(MismatchKind.IMAGE, entry.image_link, line.image_url))
    return mismatches


def same_image(cart: str, feed: str | None) -> bool:
    """
    The same picture: the same host and path. The scheme and query are ignored: platforms
    write protocol-relative CDN links and add cache-busting versions (`?v=1700000000`).
    """
    if feed is None:
        return False
    one, two = urlsplit(cart), urlsplit(feed)
    return (one.netloc.lower(), one.path) == (two.netloc.lower(), two.path)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Found:
    cart_id: str
    line: int
    item_id: str

    def of(
        self, kind: MismatchKind, feed_value: str | None = None, cart_value: str | None = None
    ) -> Mismatch:
        return Mismatch(
            cart_id=self.cart_id,
            line=self.line,
            item_id=self.item_id,
            kind=kind,
            cart_value=cart_value if kind is not MismatchKind.ID else self.item_id,
            feed_value=feed_value,
        )


def _titles(line: LineItem) -> set[str]:
    # Platforms name a variant's line by its product, with the variant apart; the catalog names
    # it "Product - Variant" (Shopify's and WooCommerce's own convention).
    name = _spaced(line.name or "")
    titles = {name}
    if line.variant_name:
        titles.add(f"{name} - {_spaced(line.variant_name)}")
    return titles


def _spaced(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


__all__ = [
    "CONDITION",
    "MAX_FEED_ID",
    "META_AVAILABILITY",
    "Availability",
    "CatalogVersion",
    "FeedEntry",
    "LeftOut",
    "Mismatch",
    "MismatchKind",
    "availability",
    "feed_entry",
    "feed_id",
    "left_out",
    "line_id",
    "line_mismatches",
    "price_text",
    "same_image",
]
