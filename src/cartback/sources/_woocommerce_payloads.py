"""
The WooCommerce REST v3 order Cartback reads (also every `order.*` webhook body), and the body
of `order.deleted`, validated with the shared field types; other keys are kept.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cartback.sources._fields import Amount, Currency, Identifier, Name, Price, Quantity, Url


class LineIn(BaseModel):
    """
    One of an order's `line_items[]`. Amounts are strings, `price` (per unit) a number.
    """

    model_config = ConfigDict(extra="allow")

    id: Identifier = None
    name: Name = None
    product_id: Identifier = None
    variation_id: Identifier = None
    quantity: Quantity = None
    sku: Identifier = None
    price: Price = None
    subtotal: Amount = None
    total: Amount = None
    image: dict[str, Any] | None = None


class BillingIn(BaseModel):
    """
    The billing address: where the order's contact details are.
    """

    model_config = ConfigDict(extra="allow")

    email: Any = None
    phone: Any = None
    country: Any = None


class OrderIn(BaseModel):
    """
    A WooCommerce REST v3 order, the fields Cartback reads.
    """

    model_config = ConfigDict(extra="allow")

    id: int = Field(ge=1)
    number: Identifier = None
    status: str
    currency: Currency = None
    cart_hash: Identifier = None
    customer_id: Identifier = None
    date_modified_gmt: str | None = None
    date_created_gmt: str | None = None
    total: Amount = None
    billing: BillingIn | None = None
    line_items: list[LineIn] = Field(default_factory=list)
    #: `[{code, discount}]`; read leniently (`_discounts`).
    coupon_lines: Any = None


class DeletedIn(BaseModel):
    """
    The whole body of `order.deleted`. Nothing else is allowed: the topic header is not signed,
    so a captured order body replayed under this topic must not delete the order.
    """

    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=1)


class ImageIn(BaseModel):
    """
    A line's image; read apart, so a bad link loses the image, not the order.
    """

    src: Url = None
