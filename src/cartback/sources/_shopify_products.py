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
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from cartback.domain.catalog import CatalogItem
from cartback.domain.errors import FieldError
from cartback.sources._fields import Identifier, Name
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


def product_items(document: dict[str, Any], *, fallback_at: datetime) -> list[CatalogItem]:
    """
    The catalog items of a product payload, read at `fallback_at`.

    Raises:
        Invalid: the payload is not a product.
    """
    product = _validated(ProductIn, document)
    if product.id is None:
        raise Invalid([FieldError(path="id", message="a product needs its id")])
    active = (product.status or "active").lower() == "active"
    preorder = _preorder(product.tags)
    at = product.updated_at or fallback_at
    if not product.variants:
        return [_item(product, None, active=active, preorder=preorder, at=at, read=fallback_at)]
    return [
        _item(product, variant, active=active, preorder=preorder, at=at, read=fallback_at)
        for variant in product.variants
        if variant.id is not None
    ]


def _item(
    product: ProductIn,
    variant: VariantIn | None,
    *,
    active: bool,
    preorder: bool,
    at: datetime,
    read: datetime,
) -> CatalogItem:
    limited = (
        variant is not None
        and variant.inventory_management is not None
        and (variant.inventory_policy or "deny").lower() == "deny"
    )
    quantity = variant.inventory_quantity if variant is not None and limited else None
    title = product.title
    if variant is not None and variant.title and variant.title != "Default Title":
        title = f"{product.title} - {variant.title}" if product.title else variant.title
    return CatalogItem(
        product_id=str(product.id),
        variant_id=variant.id if variant is not None else None,
        sku=variant.sku if variant is not None else None,
        title=title[:500] if title else None,
        available=active and (not limited or (quantity is not None and quantity > 0)),
        quantity=quantity,
        preorder=preorder,
        read_at=read,
        updated_at=at,
    )


def _preorder(tags: str | list[str] | None) -> bool:
    listed = tags.split(",") if isinstance(tags, str) else tags or []
    return any(re.sub(r"[\s_]+", "-", t.strip().lower()) in _PREORDER_TAGS for t in listed)
