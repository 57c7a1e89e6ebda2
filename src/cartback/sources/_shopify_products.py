"""
Shopify's `products/create` and `products/update` webhooks as catalog items: one per variant.

- **Available**: the product is `active` and the variant can be sold now: Shopify does not track
  its inventory (`inventory_management` null), it sells past zero (`inventory_policy:
  continue`), or `inventory_quantity` is above zero. `quantity` is the count only where it
  limits sales (tracked and `deny`); otherwise there is no meaningful count.
- **Pre-order / coming soon**: Shopify has no such field; a product tagged `pre-order`,
  `preorder` or `coming-soon` (any case, `_` or space for `-`) is one. Its release date is not
  in the payload (write it through `PUT /v1/catalog/items`).
- **updated_at**: the product's `updated_at` (an inventory change updates it), else the
  delivery's `X-Shopify-Triggered-At`, else when received.
- **Prices and page**: the variant's `price` and `compare_at_price` (a "was" price only when
  above the price), in the store's currency (the payload names none); no cost (Shopify keeps it
  on the inventory item, not in this payload). `product_type` is the category; the variant's
  image (`image_id` among `images`), else the product's `image`; the page is
  `https://{X-Shopify-Shop-Domain}/products/{handle}`. A price or link that does not read is
  left out, never a reason to refuse the product's stock.
- **Feed details**: `body_html` as plain text is the description, `vendor` the brand, the
  variant's `barcode` the GTIN when it is a valid one (shops also put internal codes there).
  No MPN: Shopify has no such field, and a SKU is the shop's code, not the manufacturer's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from cartback.domain.catalog import MAX_CATEGORY, CatalogItem
from cartback.domain.errors import FieldError
from cartback.sources._fields import Identifier, Name, Price
from cartback.sources._prices import (
    brand,
    description,
    gtin,
    host,
    page,
    selling,
    src,
    text,
    web_url,
)
from cartback.sources._shopify_topics import Invalid, Stamp, _validated

#: The topics that carry a product (`shopify.catalog` reads them).
PRODUCT_TOPICS = frozenset({"products/create", "products/update"})
_PREORDER_TAGS = frozenset({"pre-order", "preorder", "coming-soon", "comingsoon"})


class VariantIn(BaseModel):
    """
    A product variant with its inventory fields.
    """

    model_config = ConfigDict(extra="allow")
    id: Identifier = None
    sku: Identifier = None
    title: Name = None
    inventory_quantity: int | None = None
    inventory_policy: str | None = None
    inventory_management: str | None = None
    image_id: Identifier = None


class _PricesIn(BaseModel):
    """
    A variant's prices, read apart so a price that does not read loses the price, not the
    variant's stock.
    """

    price: Price = None
    compare_at_price: Price = None


class ProductIn(BaseModel):
    """
    A product as the products webhooks send it.
    """

    model_config = ConfigDict(extra="allow")
    id: Identifier = None
    title: Name = None
    status: str | None = None
    tags: str | list[str] | None = None
    updated_at: Stamp = None
    variants: list[VariantIn] = []
    # Page details are read leniently (`_page`): a bad one loses the detail, not the stock.
    handle: Any = None
    product_type: Any = None
    image: Any = None
    images: Any = None
    body_html: Any = None
    vendor: Any = None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Read:
    """
    What every variant of one product shares.
    """

    active: bool
    preorder: bool
    at: datetime
    read: datetime
    currency: str
    url: str | None
    images: dict[str, str]
    description: str | None
    brand: str | None


def product_items(
    document: dict[str, Any],
    *,
    fallback_at: datetime,
    currency: str = "USD",
    shop_domain: str | None = None,
) -> list[CatalogItem]:
    """
    The catalog items of a product payload, read at `fallback_at`.

    Args:
        document: the product.
        fallback_at: when the delivery was triggered (else received).
        currency: the store's currency, which the variants' prices are in.
        shop_domain: the `X-Shopify-Shop-Domain` header, for the product's page.

    Raises:
        Invalid: the payload is not a product.
    """
    product = _validated(ProductIn, document)
    if product.id is None:
        raise Invalid([FieldError(path="id", message="a product needs its id")])
    shop, handle = host(shop_domain), text(product.handle)
    read = _Read(
        active=(product.status or "active").lower() == "active",
        preorder=_preorder(product.tags),
        at=product.updated_at or fallback_at,
        read=fallback_at,
        currency=currency,
        url=page(f"https://{shop}", "products", handle) if shop and handle else None,
        images=_images(product.images),
        description=description(product.body_html),
        brand=brand(product.vendor),
    )
    if not product.variants:
        return [_item(product, None, read)]
    return [_item(product, variant, read) for variant in product.variants if variant.id is not None]


def _item(product: ProductIn, variant: VariantIn | None, read: _Read) -> CatalogItem:
    limited = (
        variant is not None
        and variant.inventory_management is not None
        and (variant.inventory_policy or "deny").lower() == "deny"
    )
    quantity = variant.inventory_quantity if variant is not None and limited else None
    title = product.title
    if variant is not None and variant.title and variant.title != "Default Title":
        title = f"{product.title} - {variant.title}" if product.title else variant.title
    price, was = _prices(variant)
    image = read.images.get(variant.image_id or "") if variant is not None else None
    category = text(product.product_type)
    return CatalogItem(
        product_id=str(product.id),
        variant_id=variant.id if variant is not None else None,
        sku=variant.sku if variant is not None else None,
        title=title[:500] if title else None,
        available=read.active and (not limited or (quantity is not None and quantity > 0)),
        quantity=quantity,
        preorder=read.preorder,
        price=price,
        compare_at_price=was,
        currency=read.currency if price is not None else None,
        category=category[:MAX_CATEGORY] if category else None,
        url=read.url,
        image_url=web_url(image) or web_url(src(product.image)),
        description=read.description,
        brand=read.brand,
        gtin=gtin((variant.model_extra or {}).get("barcode")) if variant is not None else None,
        read_at=read.read,
        updated_at=read.at,
    )


def _prices(variant: VariantIn | None) -> tuple[Decimal | None, Decimal | None]:
    if variant is None:
        return None, None
    extra = variant.model_extra or {}
    try:
        prices = _PricesIn.model_validate(
            {"price": extra.get("price"), "compare_at_price": extra.get("compare_at_price")}
        )
    except ValidationError:
        return None, None
    return selling(prices.price, prices.compare_at_price)


def _images(images: Any) -> dict[str, str]:
    """
    The product's images by id, for the variants' `image_id`.
    """
    found: dict[str, str] = {}
    for image in images if isinstance(images, list) else []:
        key = image.get("id") if isinstance(image, dict) else None
        link = src(image)
        if isinstance(key, int | str) and not isinstance(key, bool) and link:
            found[str(key)] = link
    return found


def _preorder(tags: str | list[str] | None) -> bool:
    listed = tags.split(",") if isinstance(tags, str) else tags or []
    return any(re.sub(r"[\s_]+", "-", t.strip().lower()) in _PREORDER_TAGS for t in listed)
