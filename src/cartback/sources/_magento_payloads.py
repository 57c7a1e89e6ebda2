"""
The Magento REST objects Cartback reads (`CartInterface`, `CartItemInterface`, `OrderInterface`)
and the envelope of a pushed event, validated with the shared field types; other keys are kept.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cartback.sources._fields import Amount, Currency, Identifier, Name, Price


class ItemIn(BaseModel):
    """
    A quote item (`CartItemInterface`) or an order item (`OrderItemInterface`).
    """

    model_config = ConfigDict(extra="allow")

    item_id: Identifier = None
    product_id: Identifier = None
    parent_item_id: Identifier = None
    sku: Identifier = None
    name: Name = None
    qty: Amount = None
    qty_ordered: Amount = None
    price: Price = None


class AddressIn(BaseModel):
    """
    A billing or shipping address; `street` is a list of lines.
    """

    model_config = ConfigDict(extra="allow")

    email: Any = None
    telephone: Any = None
    country_id: Any = None
    postcode: Any = None
    street: Any = None


class CustomerIn(BaseModel):
    """
    The quote's customer (empty for a guest).
    """

    model_config = ConfigDict(extra="allow")

    id: Identifier = None
    email: Any = None


class CurrencyIn(BaseModel):
    """
    The quote's currencies.
    """

    model_config = ConfigDict(extra="allow")

    quote_currency_code: Currency = None
    store_currency_code: Currency = None


class QuoteIn(BaseModel):
    """
    A quote (`CartInterface`), the fields Cartback reads.
    """

    model_config = ConfigDict(extra="allow")

    id: int = Field(ge=1)
    is_active: bool | None = None
    created_at: str | None = None
    updated_at: str | None = None
    reserved_order_id: Identifier = None
    customer_is_guest: bool | None = None
    items: list[ItemIn] = Field(default_factory=list)
    customer: CustomerIn | None = None
    billing_address: AddressIn | None = None
    shipping_address: AddressIn | None = None
    currency: CurrencyIn | None = None
    extension_attributes: dict[str, Any] | None = None

    def shipping_addresses(self) -> list[AddressIn]:
        """
        The addresses of `extension_attributes.shipping_assignments[].shipping.address`, where
        the REST API puts a quote's shipping address.
        """
        assignments = (self.extension_attributes or {}).get("shipping_assignments")
        found = []
        for assignment in assignments if isinstance(assignments, list) else []:
            shipping = assignment.get("shipping") if isinstance(assignment, dict) else None
            address = shipping.get("address") if isinstance(shipping, dict) else None
            if isinstance(address, dict):
                found.append(AddressIn.model_validate(address))
        return found


class OrderIn(BaseModel):
    """
    An order (`OrderInterface`), the fields Cartback reads.
    """

    model_config = ConfigDict(extra="allow")

    entity_id: int = Field(ge=1)
    increment_id: Identifier = None
    quote_id: Identifier = None
    state: str | None = None
    customer_id: Identifier = None
    customer_email: Any = None
    customer_is_guest: bool | None = None
    order_currency_code: Currency = None
    grand_total: Amount = None
    created_at: str | None = None
    updated_at: str | None = None
    items: list[ItemIn] = Field(default_factory=list)
    billing_address: AddressIn | None = None
    #: The code(s) applied (several comma-separated where the shop allows it) and the discount
    #: they gave, written below zero; read leniently (`_discounts`).
    coupon_code: Any = None
    discount_amount: Any = None


class EnvelopeIn(BaseModel):
    """
    A pushed event: its type and the Magento object.
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1, max_length=200)
    timestamp: str | None = None
    data: dict[str, Any]
