"""
Magento's product pushes as catalog items. A push of type `product.created` or
`product.updated` carries the product as `GET /V1/products/{sku}` returns it, and may name the
store view's links as `GET /V1/store/storeConfigs` gives them:

    {"type": "product.updated", "timestamp": "…",
     "store": {"base_link_url": "https://shop.example.com/",
               "base_media_url": "https://shop.example.com/media/"},
     "data": {"id": 1, "sku": "MB01", "price": 34, "status": 1, …}}

- **Identity**: the product (`p:<id>`) with its SKU; a configurable product's child is its own
  product, found by the SKU a quote line carries.
- **Available**: enabled (`status` 1) and `extension_attributes.stock_item.is_in_stock`;
  `quantity` is `stock_item.qty` where Magento manages the stock (`manage_stock`).
- **Prices**: `price`, and the `special_price` custom attribute while it is active (below the
  price, and the read's day within `special_from_date`…`special_to_date` when given): then the
  price is the special price and the "was" price the regular one. `cost` from its custom
  attribute. All in the store's currency (a product names none).
- **Page**: `{base_link_url}{url_key}.html` and `{base_media_url}catalog/product{image}` when
  the push names the store's links; the category is not read (Magento gives only ids).
- **updated_at**: the product's `updated_at` (UTC), else when received.
- **Feed details** from the custom attributes: `description` (else `short_description`) as
  plain text; the brand from a `brand` attribute, else `manufacturer` when it is text (a
  dropdown attribute gives an option id, which names nothing to a shopper); the GTIN from
  `gtin`, `ean`, `upc` or `barcode`, the first valid one; `mpn` when present.

A price, a date or a link that does not read is left out, never a reason to refuse the stock.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cartback.domain.catalog import CatalogItem
from cartback.domain.errors import FieldError
from cartback.sources._commerce import Invalid, nonzero, occurred, parse_utc, plain, validated
from cartback.sources._fields import Identifier, Name, Price
from cartback.sources._prices import brand, description, gtin, mpn, page, selling, text, web_url

#: The push types that carry a product (`magento.catalog` reads them).
PRODUCT_TYPES = frozenset({"product.created", "product.updated"})
#: Magento's default product URL suffix (catalog/seo/product_url_suffix).
URL_SUFFIX = ".html"
_ENABLED = 1
_NO_IMAGE = "no_selection"
#: Custom attributes that hold a GTIN in common Magento setups, best first.
_GTIN_ATTRIBUTES = ("gtin", "ean", "upc", "barcode")


class StockItemIn(BaseModel):
    """
    `extension_attributes.stock_item`: the default source's stock.
    """

    model_config = ConfigDict(extra="allow")
    qty: Decimal | None = None
    is_in_stock: bool | None = None
    manage_stock: bool | None = None


class ProductIn(BaseModel):
    """
    A product (`ProductInterface`), the fields Cartback reads.
    """

    model_config = ConfigDict(extra="allow")
    id: Identifier = None
    sku: Identifier = None
    name: Name = None
    status: int | None = None
    updated_at: str | None = None
    extension_attributes: dict[str, Any] | None = None
    custom_attributes: list[dict[str, Any]] = Field(default_factory=list)


class StoreLinksIn(BaseModel):
    """
    The store view's links, as `GET /V1/store/storeConfigs` names them.
    """

    model_config = ConfigDict(extra="allow")
    # Read leniently (`_link`): a bad link loses the page, not the stock.
    base_link_url: Any = None
    base_media_url: Any = None


class ProductEnvelopeIn(BaseModel):
    """
    A product push: the product and, optionally, the store view's links.
    """

    model_config = ConfigDict(extra="allow")
    type: str
    data: dict[str, Any]
    store: StoreLinksIn | None = None


class _PricesIn(BaseModel):
    price: Price = None
    special_price: Price = None
    cost: Price = None


def product_item(
    document: Any,
    *,
    received_at: datetime,
    currency: str,
    store: StoreLinksIn | None = None,
) -> CatalogItem:
    """
    The catalog item a product describes, read at `received_at`, its amounts in `currency`.

    Raises:
        Invalid: the object is not a product.
    """
    product = validated(ProductIn, document)
    product_id = nonzero(product.id)
    if product_id is None:
        raise Invalid([FieldError(path="id", message="a product needs its id")])
    stock = _stock(product)
    attributes = _attributes(product)
    price, was, cost = _prices(product, attributes, received_at.date())
    links = store or StoreLinksIn()
    url_key, image = text(attributes.get("url_key")), text(attributes.get("image"))
    return CatalogItem(
        product_id=product_id,
        sku=product.sku,
        title=plain(product.name),
        available=(product.status or _ENABLED) == _ENABLED and stock.is_in_stock is True,
        quantity=int(stock.qty) if stock.manage_stock and stock.qty is not None else None,
        price=price,
        compare_at_price=was,
        cost=cost,
        currency=currency if (price, cost) != (None, None) else None,
        url=_link(links.base_link_url, url_key + URL_SUFFIX if url_key else None),
        image_url=_link(
            links.base_media_url,
            f"catalog/product/{image.lstrip('/')}" if image and image != _NO_IMAGE else None,
        ),
        description=description(attributes.get("description"))
        or description(attributes.get("short_description")),
        brand=_brand(attributes),
        gtin=next(filter(None, (gtin(attributes.get(a)) for a in _GTIN_ATTRIBUTES)), None),
        mpn=mpn(attributes.get("mpn")),
        read_at=received_at,
        updated_at=occurred(parse_utc(product.updated_at), received_at=received_at),
    )


def _brand(attributes: dict[str, Any]) -> str | None:
    for code in ("brand", "manufacturer"):
        name = brand(attributes.get(code))
        if name and not name.isdigit():  # a dropdown's option id names nothing to a shopper
            return name
    return None


def _stock(product: ProductIn) -> StockItemIn:
    raw = (product.extension_attributes or {}).get("stock_item")
    try:
        return StockItemIn.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError as error:
        paths = ".".join(str(p) for p in error.errors()[0]["loc"])
        message = "is not a stock item"
        raise Invalid(
            [FieldError(path=f"extension_attributes.stock_item.{paths}", message=message)]
        ) from None


def _attributes(product: ProductIn) -> dict[str, Any]:
    return {
        a["attribute_code"]: a.get("value")
        for a in product.custom_attributes
        if isinstance(a.get("attribute_code"), str)
    }


def _prices(
    product: ProductIn, attributes: dict[str, Any], today: date
) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    extra = product.model_extra or {}
    given = {
        "price": extra.get("price"),
        "special_price": attributes.get("special_price") or None,
        "cost": attributes.get("cost") or None,
    }
    try:
        prices = _PricesIn.model_validate(given)
    except ValidationError:
        return None, None, None
    price, special = prices.price, prices.special_price
    if price is not None and special is not None and _special_active(attributes, today):
        price, was = selling(min(price, special), price)
    else:
        price, was = selling(price, None)
    return price, was, prices.cost


def _special_active(attributes: dict[str, Any], today: date) -> bool:
    """
    Magento applies a special price from its start day to its end day, both included; its
    dates are the store's calendar days, so they are compared as days.
    """
    start = parse_utc(text(attributes.get("special_from_date")))
    end = parse_utc(text(attributes.get("special_to_date")))
    return (start is None or start.date() <= today) and (end is None or today <= end.date())


def _link(base: str | None, path: str | None) -> str | None:
    base = web_url(text(base))
    return page(base, path) if base and path else None
