"""
WooCommerce's `product.created` and `product.updated` webhooks as catalog items. The body is the
product as `GET /wp-json/wc/v3/products/{id}` returns it (a variation's as
`…/products/{parent}/variations/{id}`, with its `parent_id`).

- **Available**: `status: publish` and `stock_status: instock`. `outofstock` is not available;
  `onbackorder` can be ordered but is not in stock, so it is not claimed available either.
- **quantity**: `stock_quantity` where the shop manages the stock (`manage_stock: true`).
- **Identity**: a variation is `parent_id`'s variant; a simple or variable product is a
  product-level item (a variable product's `stock_status` sums up its variations).
- **updated_at**: `date_modified_gmt` (UTC), else when received.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from cartback.domain.catalog import CatalogItem
from cartback.domain.errors import FieldError
from cartback.sources._commerce import Invalid, nonzero, occurred, parse_utc, plain, validated
from cartback.sources._fields import Identifier, Name

#: The topics that carry a product (`woocommerce.catalog` reads them).
PRODUCT_TOPICS = frozenset({"product.created", "product.updated"})


class ProductIn(BaseModel):
    """
    A WooCommerce product or variation, with its stock fields.
    """

    model_config = ConfigDict(extra="allow")
    id: Identifier = None
    parent_id: Identifier = None
    name: Name = None
    sku: Identifier = None
    status: str | None = None
    stock_status: str | None = None
    stock_quantity: int | None = None
    manage_stock: bool | str | None = None
    date_modified_gmt: str | None = None


def product_item(document: Any, *, received_at: datetime) -> CatalogItem:
    """
    The catalog item a product payload describes, read at `received_at`.

    Raises:
        Invalid: the payload is not a product.
    """
    product = validated(ProductIn, document)
    product_id = nonzero(product.id)
    if product_id is None:
        raise Invalid([FieldError(path="id", message="a product needs its id")])
    parent = nonzero(product.parent_id)
    managed = product.manage_stock is True  # a variation says "parent" when its parent manages
    quantity = product.stock_quantity if managed else None
    published = (product.status or "publish") == "publish"
    return CatalogItem(
        product_id=parent or product_id,
        variant_id=product_id if parent else None,
        sku=product.sku or None,
        title=plain(product.name),
        available=published and product.stock_status == "instock",
        quantity=quantity,
        read_at=received_at,
        updated_at=occurred(parse_utc(product.date_modified_gmt), received_at=received_at),
    )
