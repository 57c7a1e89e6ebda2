"""
Shopify payloads and one translator per topic: carts, checkouts and orders as Shopify's REST
resources describe them (both generations), turned into Cartback's events, identity claims and
consent claims. `shopify.py` picks the translator by topic; see its docstring for the decisions
(cart keys, times, completed and deleted checkouts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from cartback.domain.consent import Channel, ConsentClaim, Purpose
from cartback.domain.errors import FieldError
from cartback.domain.events import (
    MAX_LINES,
    CartEvent,
    CartSnapshot,
    IdentityClaims,
    LineItem,
    OrderChanged,
    OrderPlaced,
    Stage,
)
from cartback.kit.normalise import normalise_email, normalise_phone
from cartback.sources._discounts import from_objects
from cartback.sources._fields import Amount, Currency, Identifier, Name, Price, Quantity, Url

CONSENT_SOURCE = "shopify_checkout"
EMAIL_CONSENT_TEXT = "Shopify checkout: buyer_accepts_marketing"
SMS_CONSENT_TEXT = "Shopify checkout: buyer_accepts_sms_marketing"
_M = TypeVar("_M", bound=BaseModel)

# --- payload shapes ------------------------------------------------------------------------


def stamp(value: Any) -> datetime | None:
    """
    An ISO 8601 time with any offset (`2024-11-05T21:22:02-05:00`, `…Z`, nanoseconds), in UTC;
    a time without an offset is read as UTC.

    Raises:
        ValueError: it is not such a time.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("must be an ISO 8601 date-time") from None
    moment = moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _object(value: Any) -> Any:
    # Shopify serialises an empty object as `[]` (a PHP habit): `shipping_address: []`.
    return None if value == [] else value


def _image(value: Any) -> Any:
    return value.get("src") if isinstance(value, dict) else value


Stamp = Annotated[datetime | None, BeforeValidator(stamp)]
ImageUrl = Annotated[Url, BeforeValidator(_image)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class LineIn(_Model):
    """
    A line of a cart, checkout or order; prices are per unit, as strings.
    """

    product_id: Identifier = None
    variant_id: Identifier = None
    sku: Identifier = None
    title: Name = None
    presentment_title: Name = None
    variant_title: Name = None
    presentment_variant_title: Name = None
    quantity: Quantity = None
    price: Price = None
    image_url: ImageUrl = None
    image: ImageUrl = None


class CustomerIn(_Model):
    """
    The customer record a checkout or order carries.
    """

    id: Identifier = None
    email: Any = None
    phone: Any = None


class ResourceIn(_Model):
    """
    What carts, checkouts and orders share.
    """

    id: Identifier = None
    token: Identifier = None
    cart_token: Identifier = None
    email: Any = None
    contact_email: Any = None
    phone: Any = None
    sms_marketing_phone: Any = None
    customer: Annotated[CustomerIn | None, BeforeValidator(_object)] = None
    line_items: list[LineIn] | None = None
    currency: Currency = None
    presentment_currency: Currency = None
    total_price: Amount = None
    created_at: Stamp = None
    updated_at: Stamp = None
    completed_at: Stamp = None
    cancelled_at: Stamp = None
    buyer_accepts_marketing: bool | None = None
    buyer_accepts_sms_marketing: bool | None = None
    checkout_id: Identifier = None
    checkout_token: Identifier = None
    #: `[{code, amount, type}]`; read leniently (`_discounts`), a free-shipping code's amount
    #: is the shipping it took off.
    discount_codes: Any = None


# --- translation ---------------------------------------------------------------------------


class Invalid(Exception):
    """
    The payload cannot be translated; `errors` says where and why.
    """

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True, kw_only=True, slots=True)
class Context:
    """
    What a translator needs besides the payload: the time to use when the payload has none
    (`X-Shopify-Triggered-At`, else when received), and the store's country.
    """

    fallback_at: datetime
    default_region: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Translation:
    """
    What one delivery means to Cartback; `shopify.parse` wraps it in an `Inbound`.
    """

    occurred_at: datetime
    cart_key: str | None
    order_key: str | None = None
    event: CartEvent | None = None
    claims: IdentityClaims | None = None
    consents: tuple[ConsentClaim, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class _People:
    claims: IdentityClaims | None
    consents: tuple[ConsentClaim, ...]


def _cart(document: dict[str, Any], context: Context) -> Translation:
    cart = _validated(ResourceIn, document)
    key = token(cart.token)
    if key is None:
        raise Invalid([FieldError(path="token", message="a cart needs its token")])
    at = cart.updated_at or context.fallback_at
    snapshot = CartSnapshot(
        occurred_at=at,
        currency=cart.presentment_currency or cart.currency,
        stage=Stage.CART,
        items=_lines(cart),
    )
    return Translation(occurred_at=at, cart_key=key, event=snapshot)


def _checkout(document: dict[str, Any], context: Context) -> Translation:
    checkout = _validated(ResourceIn, document)
    key = token(checkout.cart_token) or token(checkout.token)
    if key is None:
        raise Invalid([FieldError(path="token", message="a checkout needs a token")])
    at = checkout.updated_at or context.fallback_at
    people = _people(checkout, context, at)
    snapshot = CartSnapshot(
        occurred_at=at,
        currency=checkout.presentment_currency or checkout.currency,
        stage=Stage.CHECKOUT,
        items=_lines(checkout),
        total=checkout.total_price,
        checkout_id=checkout.id,
    )
    return Translation(
        occurred_at=at,
        cart_key=key,
        event=None if checkout.completed_at else snapshot,
        claims=people.claims,
        consents=people.consents,
    )


def _checkout_deleted(document: dict[str, Any], context: Context) -> Translation:
    checkout = _validated(ResourceIn, document)
    at = checkout.updated_at or context.fallback_at
    key = token(checkout.cart_token) or token(checkout.token)
    return Translation(occurred_at=at, cart_key=key)


def _order_placed(document: dict[str, Any], context: Context) -> Translation:
    order = _validated(ResourceIn, document)
    order_id = _order_id(order)
    at = order.created_at or order.updated_at or context.fallback_at
    people = _people(order, context, at)
    placed = OrderPlaced(
        occurred_at=at,
        currency=order.currency,
        order_id=order_id,
        items=_lines(order),
        total=order.total_price,
        checkout_id=order.checkout_id,
        discounts=from_objects(order.discount_codes, code_key="code", amount_key="amount"),
    )
    return Translation(
        occurred_at=at,
        cart_key=_order_cart_key(order, order_id),
        order_key=order_id,
        event=placed,
        claims=people.claims,
        consents=people.consents,
    )


def _order_cancelled(document: dict[str, Any], context: Context) -> Translation:
    order = _validated(ResourceIn, document)
    order_id = _order_id(order)
    at = order.cancelled_at or order.updated_at or context.fallback_at
    changed = OrderChanged(
        occurred_at=at,
        currency=order.currency,
        order_id=order_id,
        change="cancelled",
        amount=order.total_price,
    )
    return Translation(
        occurred_at=at,
        cart_key=_order_cart_key(order, order_id),
        order_key=order_id,
        event=changed,
        claims=_people(order, context, at).claims,
    )


#: One translator per topic Cartback ingests.
TRANSLATORS: dict[str, Callable[[dict[str, Any], Context], Translation]] = {
    "carts/create": _cart,
    "carts/update": _cart,
    "checkouts/create": _checkout,
    "checkouts/update": _checkout,
    "checkouts/delete": _checkout_deleted,
    "orders/create": _order_placed,
    "orders/paid": _order_placed,
    "orders/cancelled": _order_cancelled,
}


def _order_id(order: ResourceIn) -> str:
    if order.id is None:
        raise Invalid([FieldError(path="id", message="an order needs its id")])
    return order.id


def _order_cart_key(order: ResourceIn, order_id: str) -> str | None:
    key = token(order.cart_token) or token(order.checkout_token)
    if key is None and order.checkout_id is None:
        return f"order-{order_id}"
    return key  # None: the ingest service finds the cart by checkout_id


def token(value: str | None) -> str | None:
    """
    A cart token without the `?key=…` secret that newer storefront tokens carry.
    """
    return (value.split("?", 1)[0] or None) if value else None


def _lines(resource: ResourceIn) -> tuple[LineItem, ...] | None:
    if resource.line_items is None:
        return None
    lines: list[LineItem] = []
    for index, line in enumerate(resource.line_items):
        if line.quantity == 0:
            continue
        try:
            lines.append(_line(line))
        except ValueError as error:
            raise Invalid([FieldError(path=f"line_items[{index}]", message=str(error))]) from None
    if len(lines) > MAX_LINES:
        message = f"a cart holds at most {MAX_LINES} lines"
        raise Invalid([FieldError(path="line_items", message=message)])
    return tuple(lines)


def _line(line: LineIn) -> LineItem:
    return LineItem(
        product_id=line.product_id,
        variant_id=line.variant_id,
        sku=line.sku,
        # The presentment title is what the shopper saw, in their language.
        name=line.presentment_title or line.title,
        variant_name=line.presentment_variant_title or line.variant_title,
        quantity=line.quantity if line.quantity is not None else 1,
        unit_price=line.price,
        image_url=line.image_url or line.image,
    )


def _people(resource: ResourceIn, context: Context, at: datetime) -> _People:
    """
    Who the shopper is and what they agreed to. A contact detail that does not read as an
    email or a phone number is dropped, not refused: the cart is worth keeping without it.
    """
    customer = resource.customer or CustomerIn()
    email = _first(email_or_none, resource.email, resource.contact_email, customer.email)
    sms_phone = phone_or_none(resource.sms_marketing_phone, context.default_region)
    phone = sms_phone or _first(
        lambda v: phone_or_none(v, context.default_region), resource.phone, customer.phone
    )
    claims = IdentityClaims(user_id=customer.id, email=email, phone=phone)
    consents: list[ConsentClaim] = []
    if email and resource.buyer_accepts_marketing is not None:
        consents.append(
            _consent(Channel.EMAIL, resource.buyer_accepts_marketing, EMAIL_CONSENT_TEXT, at)
        )
    # SMS consent is never implied: only the number the shopper gave for SMS gets it.
    if sms_phone and resource.buyer_accepts_sms_marketing is not None:
        consents.append(
            _consent(Channel.SMS, resource.buyer_accepts_sms_marketing, SMS_CONSENT_TEXT, at)
        )
    return _People(claims=None if claims.is_empty else claims, consents=tuple(consents))


def _consent(channel: Channel, granted: bool, text: str, at: datetime) -> ConsentClaim:
    return ConsentClaim(
        channel=channel,
        purpose=Purpose.MARKETING,
        granted=granted,
        text=text,
        source=CONSENT_SOURCE,
        occurred_at=at,
    )


def _first(read: Callable[[Any], str | None], *values: Any) -> str | None:
    return next((found for found in map(read, values) if found), None)


def email_or_none(value: Any) -> str | None:
    """
    The normalised email address, or None when the value is not one.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return normalise_email(value)
    except ValueError:
        return None


def phone_or_none(value: Any, region: str | None) -> str | None:
    """
    The number in E.164 (read in the store's country when it has no country code), or None.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return normalise_phone(value, default_region=region)
    except ValueError:
        return None


def _validated(model: type[_M], data: dict[str, Any]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise Invalid(
            [
                FieldError(
                    path=".".join(
                        f"[{p}]" if isinstance(p, int) else str(p) for p in e["loc"]
                    ).replace(".[", "["),
                    message=e["msg"].removeprefix("Value error, "),
                )
                for e in error.errors()
            ]
        ) from None
