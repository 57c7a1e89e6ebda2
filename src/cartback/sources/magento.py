"""
Magento 2 / Adobe Commerce: signed pushes (`POST /webhooks/magento/{store_id}`) and quotes and
orders read over the REST API, translated into Cartback's events.

A push is a Standard Webhooks message (`webhook-id`, `webhook-timestamp`, `webhook-signature`;
5-minute tolerance; a replayed `webhook-id` is a duplicate). Its body is a JSON object:

    {"type": "quote.updated", "timestamp": "2026-11-27T10:00:00Z", "data": {…}}

| `type` | `data` |
|---|---|
| `quote.created`, `quote.updated` | the quote as `GET /V1/carts/{id}` returns it |
| `order.placed`, `order.updated` | the order as `GET /V1/orders/{id}` returns it |
| `product.created`, `product.updated` | the product as `GET /V1/products/{sku}` returns it |

Other types are acknowledged and ignored. `cartback sources poll` reads the same objects from
`/V1/carts/search` and `/V1/orders`, so both paths share `quote_messages` and `order_messages`.

An order's `state` chooses its translation from `_STATES`: `pending_payment` is a checkout left
at the payment provider; `new`, `processing`, `complete`, `holded` and `payment_review` are
orders placed; `canceled` and `closed` (refunded) change the order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import orjson

from cartback.domain.catalog import CatalogItem
from cartback.domain.errors import FieldError, InvalidInput
from cartback.domain.events import (
    CartEvent,
    CartSnapshot,
    IdentityClaims,
    LineItem,
    OrderChanged,
    OrderPlaced,
    Stage,
)
from cartback.domain.ingest import Inbound, MessageKind
from cartback.sources import _standard_webhooks
from cartback.sources._commerce import (
    Invalid,
    address_country,
    bounded_key,
    claims,
    nonzero,
    occurred,
    parse_utc,
    plain,
    region_of,
    validated,
)
from cartback.sources._discounts import amount, from_list
from cartback.sources._magento_payloads import (
    AddressIn,
    CurrencyIn,
    CustomerIn,
    EnvelopeIn,
    ItemIn,
    OrderIn,
    QuoteIn,
)
from cartback.sources._magento_products import PRODUCT_TYPES, ProductEnvelopeIn, product_item
from cartback.sources._webhooks import Delivery, PrivacyRequest
from cartback.sources.segment import Parsed

SOURCE = "magento"
#: `""` stands for a signed body that names no type: `parse` says what is wrong with it (400)
#: rather than acknowledging a delivery nobody can read.
HANDLED_TOPICS: frozenset[str] = frozenset(
    {"quote.created", "quote.updated", "order.placed", "order.updated", ""}
)

#: How a message's idempotency key is made from the object's id and `updated_at`.
KeyMaker = Callable[[str, str], str]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Context:
    name: str
    key: KeyMaker
    received_at: datetime
    default_region: str | None
    currency: str


def topic(delivery: Delivery) -> str | None:
    """
    The body's `type` (`quote.updated`), or None when the body is not an object that has one.
    """
    try:
        document = orjson.loads(delivery.body)
    except orjson.JSONDecodeError:
        return None
    kind = document.get("type") if isinstance(document, dict) else None
    return kind if isinstance(kind, str) else None


def verify(delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
    """
    Check the Standard Webhooks signature (5 minutes' tolerance either way).

    Raises:
        Unauthenticated: a header is missing, the timestamp is out of tolerance, or no
            signature matches any of the store's `whsec_…` secrets.
    """
    _standard_webhooks.verify(delivery, secrets, now=now)


def is_ping(delivery: Delivery) -> bool:
    """
    Standard Webhooks has no unsigned ping: every delivery is verified.
    """
    return False


def privacy(delivery: Delivery) -> PrivacyRequest | None:
    """
    Magento pushes no privacy requests; erasure goes through `DELETE /v1/contacts/{id}`.
    """
    return None


def catalog(delivery: Delivery) -> list[CatalogItem] | None:
    """
    The catalog item a `product.created` or `product.updated` push carries (its prices in the
    store's currency); None for any other type (see `_magento_products`).

    Raises:
        InvalidInput: the push is not a product.
    """
    if topic(delivery) not in PRODUCT_TYPES:
        return None
    try:
        envelope = validated(ProductEnvelopeIn, _object(delivery.body))
        item = product_item(
            envelope.data,
            received_at=delivery.received_at,
            currency=delivery.currency,
            store=envelope.store,
        )
    except Invalid as invalid:
        raise InvalidInput("the product push is not valid", errors=invalid.errors) from None
    except ValueError as error:  # a catalog value refused what the payload says
        errors = [FieldError(path="data", message=str(error))]
        raise InvalidInput("the product push is not valid", errors=errors) from None
    return [item]


def parse(delivery: Delivery) -> Parsed:
    """
    Translate a pushed event; its idempotency key is the `webhook-id`.
    """
    webhook_id = delivery.header("webhook-id") or ""
    try:
        envelope = validated(EnvelopeIn, _object(delivery.body))
    except Invalid as invalid:
        return Parsed(errors=invalid.errors)
    translate = _TYPES.get(envelope.type)
    if translate is None:
        return Parsed(
            errors=[FieldError(path="type", message=f"unsupported type {envelope.type!r}")]
        )
    context = _Context(
        name=envelope.type,
        key=lambda _id, _updated: bounded_key(webhook_id),
        received_at=delivery.received_at,
        default_region=delivery.default_region,
        currency=delivery.currency,
    )
    try:
        return Parsed(messages=translate(envelope.data, context))
    except Invalid as invalid:
        return Parsed(
            errors=[
                FieldError(path=f"data.{e.path}" if e.path else "data", message=e.message)
                for e in invalid.errors
            ]
        )


def quote_messages(
    document: Any,
    *,
    key: KeyMaker,
    received_at: datetime,
    default_region: str | None,
    currency: str,
) -> list[Inbound]:
    """
    Translate one quote (an item of `GET /V1/carts/search`).

    Raises:
        Invalid: with every field that is wrong.
    """
    context = _Context(
        name="quote.updated",
        key=key,
        received_at=received_at,
        default_region=default_region,
        currency=currency,
    )
    return _quote(document, context)


def order_messages(
    document: Any,
    *,
    key: KeyMaker,
    received_at: datetime,
    default_region: str | None,
    currency: str,
) -> list[Inbound]:
    """
    Translate one order (an item of `GET /V1/orders`).

    Raises:
        Invalid: with every field that is wrong.
    """
    context = _Context(
        name="order.updated",
        key=key,
        received_at=received_at,
        default_region=default_region,
        currency=currency,
    )
    return _order(document, context)


def _object(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Invalid(
            [FieldError(path="", message=f"the body is not valid JSON: {error}")]
        ) from None


def _quote(document: Any, context: _Context) -> list[Inbound]:
    quote = validated(QuoteIn, document)
    at = occurred(
        parse_utc(quote.updated_at) or parse_utc(quote.created_at), received_at=context.received_at
    )
    event: CartEvent | None = None
    if quote.is_active is not False:  # an inactive quote became an order; the order says so
        event = CartSnapshot(
            occurred_at=at,
            currency=_quote_currency(quote) or context.currency,
            stage=Stage.CHECKOUT if _at_checkout(quote) else Stage.CART,
            items=_lines(quote.items, ordered=False),
        )
    customer = quote.customer or CustomerIn()
    billing = quote.billing_address or AddressIn()
    user_id = None if quote.customer_is_guest else nonzero(customer.id)
    return [
        _message(
            context,
            key=context.key(str(quote.id), quote.updated_at or ""),
            at=at,
            cart_key=str(quote.id),
            order_key=None,
            event=event,
            who=claims(
                user_id=user_id,
                email=customer.email or billing.email,
                phone=billing.telephone,
                region=region_of(billing.country_id, context.default_region),
            ),
            payload=document,
        )
    ]


def _order(document: Any, context: _Context) -> list[Inbound]:
    order = validated(OrderIn, document)
    at = occurred(
        parse_utc(order.updated_at) or parse_utc(order.created_at), received_at=context.received_at
    )
    translate = _STATES.get(order.state or "")
    event = translate(order, at, context) if translate else None
    billing = order.billing_address or AddressIn()
    user_id = None if order.customer_is_guest else nonzero(order.customer_id)
    return [
        _message(
            context,
            key=context.key(str(order.entity_id), order.updated_at or ""),
            at=at,
            cart_key=nonzero(order.quote_id) or f"order-{order.entity_id}",
            order_key=str(order.entity_id),
            event=event,
            who=claims(
                user_id=user_id,
                email=order.customer_email or billing.email,
                phone=billing.telephone,
                region=region_of(billing.country_id, context.default_region),
            ),
            payload=document,
        )
    ]


def _message(
    context: _Context,
    *,
    key: str,
    at: datetime,
    cart_key: str,
    order_key: str | None,
    event: CartEvent | None,
    who: IdentityClaims | None,
    payload: dict[str, Any],
) -> Inbound:
    return Inbound(
        source=SOURCE,
        message_id=key,
        kind=MessageKind.TRACK,
        name=context.name,
        occurred_at=at,
        user_id=who.user_id if who else None,
        cart_key=cart_key,
        order_key=order_key,
        event=event,
        claims=who,
        country=address_country(payload),
        payload=payload,
    )


def _quote_currency(quote: QuoteIn) -> str | None:
    currency = quote.currency or CurrencyIn()
    return currency.quote_currency_code or currency.store_currency_code


def _at_checkout(quote: QuoteIn) -> bool:
    """
    A quote is at checkout once an address was entered or an order number reserved; an email
    alone is not enough (a logged-in customer's quote has one from the start).
    """
    if quote.reserved_order_id:
        return True
    addresses = [quote.shipping_address, quote.billing_address, *quote.shipping_addresses()]
    return any(_filled(a) for a in addresses)


def _filled(address: AddressIn | None) -> bool:
    if address is None:
        return False
    street = address.street if isinstance(address.street, list) else [address.street]
    return bool(address.postcode) or any(isinstance(s, str) and s.strip() for s in street)


def _lines(items: Sequence[ItemIn], *, ordered: bool) -> tuple[LineItem, ...]:
    """
    The visible lines: a configurable product's child item repeats its parent, so children are
    skipped. Magento allows decimal quantities (1.5 kg); a cart line holds whole units, so they
    are rounded up.

    Raises:
        Invalid: a line the cart model refuses (an absurd quantity).
    """
    lines: list[LineItem] = []
    for index, item in enumerate(items):
        amount = item.qty_ordered if ordered else item.qty
        if item.parent_item_id or not (item.sku or nonzero(item.product_id)) or not amount:
            continue
        try:
            lines.append(
                LineItem(
                    product_id=nonzero(item.product_id),
                    sku=item.sku,
                    name=plain(item.name),
                    quantity=int(amount.to_integral_value(rounding=ROUND_CEILING)),
                    unit_price=item.price,
                )
            )
        except ValueError as error:
            raise Invalid([FieldError(path=f"items[{index}]", message=str(error))]) from None
    return tuple(lines)


def _order_lines(order: OrderIn) -> tuple[LineItem, ...]:
    return _lines(order.items, ordered=True)


def _checkout(order: OrderIn, at: datetime, context: _Context) -> CartEvent:
    return CartSnapshot(
        occurred_at=at,
        currency=order.order_currency_code or context.currency,
        stage=Stage.CHECKOUT,
        items=_order_lines(order),
        total=order.grand_total,
        checkout_id=str(order.entity_id),
    )


def _placed(order: OrderIn, at: datetime, context: _Context) -> CartEvent:
    return OrderPlaced(
        occurred_at=at,
        currency=order.order_currency_code or context.currency,
        order_id=order.increment_id or str(order.entity_id),
        items=_order_lines(order) or None,
        total=order.grand_total,
        checkout_id=str(order.entity_id),
        discounts=from_list(order.coupon_code, amount(order.discount_amount, negative=True)),
    )


def _changed(change: str) -> Callable[[OrderIn, datetime, _Context], CartEvent]:
    def translate(order: OrderIn, at: datetime, context: _Context) -> CartEvent:
        return OrderChanged(
            occurred_at=at,
            currency=order.order_currency_code or context.currency,
            order_id=order.increment_id or str(order.entity_id),
            change=change,
            amount=order.grand_total,
        )

    return translate


_STATES: dict[str, Callable[[OrderIn, datetime, _Context], CartEvent]] = {
    "pending_payment": _checkout,
    "new": _placed,
    "processing": _placed,
    "complete": _placed,
    "holded": _placed,
    "payment_review": _placed,
    "canceled": _changed("cancelled"),
    "closed": _changed("refunded"),
}

_TYPES: dict[str, Callable[[Any, _Context], list[Inbound]]] = {
    "quote.created": _quote,
    "quote.updated": _quote,
    "order.placed": _order,
    "order.updated": _order,
}

#: The order states the cart model understands (for docs and the dashboard).
HANDLED_STATES = frozenset(_STATES)


class RestoreScheme(StrEnum):
    """
    How a Magento shop rebuilds a cart from a link.
    """

    #: A restore controller the shop installs (docs/platforms.md gives its contract):
    #: `/cartback/cart/restore?sku[0]=…&qty[0]=…&coupon=…` adds each SKU to the visitor's cart,
    #: applies the coupon and opens the cart page. Cartback ships no PHP for it yet.
    CONTROLLER = "controller"
    #: Without a controller: the cart page, which still holds a logged-in customer's quote.
    CART_PAGE = "cart-page"


def restore_url(
    shop_url: str,
    lines: Sequence[LineItem],
    discount_code: str | None = None,
    *,
    scheme: RestoreScheme = RestoreScheme.CART_PAGE,
) -> str:
    """
    The shop URL that rebuilds a cart by SKU (Magento quotes know their lines by SKU; a
    configurable product's line carries its chosen child's SKU).

    Lines without a SKU are left out; a SKU listed twice is added up. With no line left, or
    without the controller (the default), the link is the cart page, without the code.

    Args:
        shop_url: the store view's base URL (`https://shop.example.com`).
        lines: the cart's lines.
        discount_code: a code still valid for this cart, or None.
        scheme: whether the shop runs a restore controller (`RestoreScheme`).
    """
    base = shop_url.strip().rstrip("/")
    quantities: dict[str, int] = {}
    for line in lines:
        if line.sku and line.quantity > 0:
            quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
    if not quantities or scheme is RestoreScheme.CART_PAGE:
        return f"{base}/checkout/cart/"
    query: list[tuple[str, str]] = []
    for index, (sku, quantity) in enumerate(quantities.items()):
        query += [(f"sku[{index}]", sku), (f"qty[{index}]", str(quantity))]
    code = (discount_code or "").strip()
    if code:
        query.append(("coupon", code))
    return f"{base}/cartback/cart/restore?{urlencode(query)}"
