"""
Cartback's own cart events. Every source (Segment, the snippet, Shopify, WooCommerce, Magento)
translates its payloads into these; the cart state machine only ever sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from cartback.domain.time import check_aware

#: Beyond these a value is a bug or an attack, not a shopper.
MAX_QUANTITY = 10_000
MAX_UNIT_PRICE = Decimal("100000000")
MAX_LINES = 500


class Stage(StrEnum):
    """
    How far a shopper got, in funnel order.
    """

    BROWSING = "browsing"
    CART = "cart"
    CHECKOUT = "checkout"
    PAYMENT_FAILED = "payment_failed"
    ORDERED = "ordered"

    @property
    def rank(self) -> int:
        """
        Position in the funnel; a later stage has a higher rank.
        """
        return _STAGE_ORDER.index(self)


_STAGE_ORDER = list(Stage)


@dataclass(frozen=True, kw_only=True, slots=True)
class LineItem:
    """
    One product line as a source reported it. Prices are per unit, in the event's currency.
    """

    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    name: str | None = None
    variant_name: str | None = None
    quantity: int = 1
    unit_price: Decimal | None = None
    image_url: str | None = None
    url: str | None = None
    category: str | None = None

    def __post_init__(self) -> None:
        if not (self.product_id or self.variant_id or self.sku):
            raise ValueError("a line needs a product_id, variant_id or sku")
        if not 0 <= self.quantity <= MAX_QUANTITY:
            raise ValueError(f"quantity must be between 0 and {MAX_QUANTITY}")
        if self.unit_price is not None and not Decimal(0) <= self.unit_price <= MAX_UNIT_PRICE:
            raise ValueError(f"price must be between 0 and {MAX_UNIT_PRICE}")

    @property
    def key(self) -> tuple[str, str]:
        """
        What makes two lines the same line: the product and its variant (by id, else by name).
        """
        return (
            self.product_id or self.sku or self.variant_id or "",
            self.variant_id or self.variant_name or "",
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class CartEvent:
    """
    Something a shopper did to a cart, at the time the source says it happened.
    """

    occurred_at: datetime
    currency: str | None = None

    def __post_init__(self) -> None:
        check_aware(self.occurred_at, "occurred_at")


@dataclass(frozen=True, kw_only=True, slots=True)
class ProductViewed(CartEvent):
    """
    The shopper looked at a product (browse intent; does not put it in the cart).
    """

    item: LineItem


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemAdded(CartEvent):
    """
    The shopper added `item.quantity` of a product to the cart.
    """

    item: LineItem


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemRemoved(CartEvent):
    """
    The shopper removed `item.quantity` of a product (all of it when the quantity is 0).
    """

    item: LineItem


@dataclass(frozen=True, kw_only=True, slots=True)
class CartSnapshot(CartEvent):
    """
    The source reported the whole cart (`items`, when given, replace the lines) at a stage.
    """

    stage: Stage
    items: tuple[LineItem, ...] | None = None
    total: Decimal | None = None
    checkout_id: str | None = None
    step: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PaymentFailed(CartEvent):
    """
    A payment attempt failed at checkout.
    """

    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AppliedDiscount:
    """
    A discount code the order used and what it took off (in the order's currency), when the
    platform says.
    """

    code: str
    amount: Decimal | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderPlaced(CartEvent):
    """
    The cart became an order.
    """

    order_id: str | None = None
    items: tuple[LineItem, ...] | None = None
    total: Decimal | None = None
    checkout_id: str | None = None
    #: The discount codes the order used (an offer's code marks it redeemed).
    discounts: tuple[AppliedDiscount, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderChanged(CartEvent):
    """
    An order was cancelled or refunded after it was placed.
    """

    order_id: str | None = None
    change: str = "cancelled"
    amount: Decimal | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class IdentityClaims:
    """
    Who the shopper says they are: any of an external user id, an email and a phone number,
    already normalised (email lower-cased, phone in E.164).
    """

    user_id: str | None = None
    email: str | None = None
    phone: str | None = None
    traits: dict[str, object] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """
        True when nothing identifies the person.
        """
        return not (self.user_id or self.email or self.phone)
