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
- **Prices and page**: `price` is what the shopper pays now; `regular_price` is the "was"
  price when above it (`sale_price` set and active). Amounts are in the store's currency (the
  payload names none); WooCommerce keeps no cost. The category is `categories[0].name`, the
  picture `images[0].src` (a variation's `image.src`), the page `permalink`. A price or link
  that does not read is left out, never a reason to refuse the product's stock.
- **Feed details**: `description` (else `short_description`) as plain text; the brand from
  `brands[0].name` (WooCommerce 9.6's brands), else an attribute named "Brand"; the GTIN from
  `global_unique_id` (WooCommerce 9.2's "GTIN, UPC, EAN or ISBN") when it is a valid one.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from cartback.domain.catalog import MAX_CATEGORY, CatalogItem
from cartback.domain.errors import FieldError
from cartback.sources._commerce import Invalid, nonzero, occurred, parse_utc, plain, validated
from cartback.sources._fields import Identifier, Name, Price
from cartback.sources._prices import (
    brand,
    description,
    first,
    gtin,
    selling,
    src,
    text,
    web_url,
)

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
    # Read leniently (`_page`, `_PricesIn`): a bad one loses the detail, not the stock.
    permalink: Any = None
    categories: Any = None
    images: Any = None
    image: Any = None
    description: Any = None
    short_description: Any = None
    brands: Any = None
    attributes: Any = None
    global_unique_id: Any = None


class _PricesIn(BaseModel):
    """
    A product's prices (strings; `""` when not set).
    """

    price: Price = None
    regular_price: Price = None


def product_item(document: Any, *, received_at: datetime, currency: str = "USD") -> CatalogItem:
    """
    The catalog item a product payload describes, read at `received_at`; its prices are in
    `currency` (the store's).

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
    price, was = _prices(product)
    category = _first_name(product.categories)
    return CatalogItem(
        product_id=parent or product_id,
        variant_id=product_id if parent else None,
        sku=product.sku or None,
        title=plain(product.name),
        available=published and product.stock_status == "instock",
        quantity=quantity,
        price=price,
        compare_at_price=was,
        currency=currency if price is not None else None,
        category=category[:MAX_CATEGORY] if category else None,
        url=web_url(text(product.permalink)),
        image_url=web_url(src(product.image) or src(first(product.images))),
        description=description(product.description) or description(product.short_description),
        brand=brand(_first_name(product.brands)) or _brand_attribute(product.attributes),
        gtin=gtin(product.global_unique_id),
        read_at=received_at,
        updated_at=occurred(parse_utc(product.date_modified_gmt), received_at=received_at),
    )


def _prices(product: ProductIn) -> tuple[Decimal | None, Decimal | None]:
    extra = product.model_extra or {}
    given = {name: extra.get(name) or None for name in ("price", "regular_price")}
    try:
        prices = _PricesIn.model_validate(given)
    except ValidationError:
        return None, None
    return selling(prices.price, prices.regular_price)


def _first_name(categories: Any) -> str | None:
    category = first(categories)
    return text(category.get("name")) if isinstance(category, dict) else None


def _brand_attribute(attributes: Any) -> str | None:
    """
    An attribute named "Brand": a product's `options[0]`, a variation's `option`.
    """
    for attribute in attributes if isinstance(attributes, list) else []:
        named = isinstance(attribute, dict) and (text(attribute.get("name")) or "").lower()
        if named == "brand":
            return brand(attribute.get("option")) or brand(first(attribute.get("options")))
    return None
