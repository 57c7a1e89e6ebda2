"""
WooCommerce webhooks (`POST /webhooks/woocommerce/{store_id}`) and orders read over the REST API:
verify `X-WC-Webhook-Signature`, recognise the activation ping, and translate an order into
Cartback's events by its status.

WooCommerce sends the order exactly as `GET /wp-json/wc/v3/orders/{id}` returns it, for
`order.created`, `order.updated` and `order.restored`; `order.deleted` carries only `{"id": N}`.
It never retries a failed delivery, so `cartback sources poll` reconciles through the same
translation (`order_messages`).

One small function per status, chosen from `_STATUSES`:

| status | becomes |
|---|---|
| `pending`, `on-hold`, `checkout-draft` | the cart at checkout, with the order's lines |
| `failed` | the same, then a failed payment |
| `processing`, `completed` | an order placed |
| `cancelled`, `refunded` | the order changed (a cart that never ordered is left as it was) |
| `trash`, `order.deleted` | the order marked `deleted` |
| anything else (plugins' statuses) | stored and ignored |
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from cartback.domain.catalog import CatalogItem
from cartback.domain.errors import FieldError, InvalidInput, Unauthenticated
from cartback.domain.events import (
    CartEvent,
    CartSnapshot,
    LineItem,
    OrderChanged,
    OrderPlaced,
    PaymentFailed,
    Stage,
)
from cartback.domain.ingest import Inbound, MessageKind
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
from cartback.sources._discounts import from_objects
from cartback.sources._webhooks import Delivery, PrivacyRequest
from cartback.sources._woocommerce_payloads import BillingIn, DeletedIn, ImageIn, LineIn, OrderIn
from cartback.sources._woocommerce_products import PRODUCT_TOPICS, product_item
from cartback.sources.segment import Parsed

SOURCE = "woocommerce"
HANDLED_TOPICS: frozenset[str] = frozenset(
    {"order.created", "order.updated", "order.restored", "order.deleted"}
)
SIGNATURE_HEADER = "x-wc-webhook-signature"
_PING = re.compile(rb"\s*webhook_id=\d+\s*")

#: How a message's idempotency key is made from the order's id and `date_modified_gmt`.
KeyMaker = Callable[[str, str], str]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Context:
    topic: str
    key: KeyMaker
    received_at: datetime
    default_region: str | None
    currency: str


def topic(delivery: Delivery) -> str | None:
    """
    The `X-WC-Webhook-Topic` header (`order.updated`).
    """
    return delivery.header("x-wc-webhook-topic")


def signature(body: bytes, secret: str) -> str:
    """
    What WooCommerce sends for a body: base64 of the raw HMAC-SHA256 with the secret.
    """
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
    """
    Check `X-WC-Webhook-Signature` with any of the store's secrets, in constant time.

    Raises:
        Unauthenticated: the header is missing or no secret produces it.
    """
    given = (delivery.header(SIGNATURE_HEADER) or "").strip().encode()
    if not given:
        raise Unauthenticated("the X-WC-Webhook-Signature header is missing")
    if not any(hmac.compare_digest(given, signature(delivery.body, s).encode()) for s in secrets):
        raise Unauthenticated("the WooCommerce webhook signature does not match")


def is_ping(delivery: Delivery) -> bool:
    """
    True for the activation ping WooCommerce sends when a webhook is saved: an unsigned form
    body `webhook_id=N` that must be answered 200. Anything signed is a real delivery.
    """
    return delivery.header(SIGNATURE_HEADER) is None and _PING.fullmatch(delivery.body) is not None


def privacy(delivery: Delivery) -> PrivacyRequest | None:
    """
    WooCommerce sends no privacy webhooks; erasure goes through `DELETE /v1/contacts/{id}`.
    """
    return None


def catalog(delivery: Delivery) -> list[CatalogItem] | None:
    """
    The catalog item a `product.created` or `product.updated` delivery carries; None for any
    other topic.

    Raises:
        InvalidInput: the body is not a product.
    """
    if topic(delivery) not in PRODUCT_TOPICS:
        return None
    try:
        document = _object(delivery.body)
        return [
            product_item(document, received_at=delivery.received_at, currency=delivery.currency)
        ]
    except Invalid as invalid:
        raise InvalidInput("the product payload is not valid", errors=invalid.errors) from None
    except ValueError as error:  # a catalog value refused what the payload says
        errors = [FieldError(path="", message=str(error))]
        raise InvalidInput("the product payload is not valid", errors=errors) from None


def parse(delivery: Delivery) -> Parsed:
    """
    Translate an order webhook; its idempotency key is the delivery id, the order id and the
    order's `date_modified_gmt` (WooCommerce's delivery id alone is not unique across resends).
    """
    delivery_id = delivery.header("x-wc-webhook-delivery-id") or ""
    name = topic(delivery) or ""
    translate = _TOPICS.get(name)
    if translate is None:
        return Parsed(errors=[FieldError(path="", message=f"unsupported topic {name!r}")])
    try:
        document = _object(delivery.body)
        messages = translate(
            document,
            _Context(
                topic=name,
                key=lambda order_id, modified: bounded_key("wc", delivery_id, order_id, modified),
                received_at=delivery.received_at,
                default_region=delivery.default_region,
                currency=delivery.currency,
            ),
        )
    except Invalid as invalid:
        return Parsed(errors=invalid.errors)
    return Parsed(messages=messages)


def order_messages(
    document: Any,
    *,
    topic: str,
    key: KeyMaker,
    received_at: datetime,
    default_region: str | None,
    currency: str,
) -> list[Inbound]:
    """
    Translate one order (a webhook body or an item of `GET /orders`) into messages.

    Raises:
        Invalid: with every field that is wrong.
    """
    context = _Context(
        topic=topic,
        key=key,
        received_at=received_at,
        default_region=default_region,
        currency=currency,
    )
    return _order(document, context)


def _object(body: bytes) -> Any:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Invalid(
            [FieldError(path="", message=f"the body is not valid JSON: {error}")]
        ) from None
    if not isinstance(document, dict):
        raise Invalid([FieldError(path="", message="must be a JSON object")])
    return document


def _order(document: Any, context: _Context) -> list[Inbound]:
    order = validated(OrderIn, document)
    modified = parse_utc(order.date_modified_gmt) or parse_utc(order.date_created_gmt)
    at = occurred(modified, received_at=context.received_at)
    translate = _STATUSES.get(order.status)
    try:
        events = translate(order, at, context) if translate else (None,)
    except ValueError as error:
        raise Invalid([FieldError(path="line_items", message=str(error))]) from None
    base = context.key(str(order.id), order.date_modified_gmt or "")
    billing = order.billing or BillingIn()
    user_id = nonzero(order.customer_id)
    return [
        Inbound(
            source=SOURCE,
            message_id=base if index == 0 else f"{base}#{index}",
            kind=MessageKind.TRACK,
            name=context.topic,
            occurred_at=at,
            user_id=user_id,
            cart_key=cart_key(order),
            order_key=str(order.id),
            event=event,
            claims=claims(
                user_id=user_id,
                email=billing.email,
                phone=billing.phone,
                region=region_of(billing.country, context.default_region),
            ),
            country=address_country(document),
            payload=document,
        )
        for index, event in enumerate(events)
    ]


def _deleted(document: Any, context: _Context) -> list[Inbound]:
    order = validated(DeletedIn, document)
    return [
        Inbound(
            source=SOURCE,
            message_id=context.key(str(order.id), "deleted"),
            kind=MessageKind.TRACK,
            name=context.topic,
            occurred_at=context.received_at,
            order_key=str(order.id),
            event=OrderChanged(
                occurred_at=context.received_at, order_id=str(order.id), change="deleted"
            ),
            payload=document,
        )
    ]


def cart_key(order: OrderIn) -> str:
    """
    The cart an order belongs to (`contract.md` §5.5): its `cart_hash`, else `order-<id>`
    (orders created in the admin or over the REST API have no cart).
    """
    return order.cart_hash or f"order-{order.id}"


def _lines(order: OrderIn) -> tuple[LineItem, ...]:
    """
    The order's products; a line whose product was deleted (id 0, no SKU) cannot be restored
    or shown, so it is left out rather than refusing the order.
    """
    lines: list[LineItem] = []
    for line in order.line_items:
        product_id, variant_id = nonzero(line.product_id), nonzero(line.variation_id)
        if not (product_id or variant_id or line.sku) or not line.quantity:
            continue
        lines.append(
            LineItem(
                product_id=product_id,
                variant_id=variant_id,
                sku=line.sku,
                name=plain(line.name),
                quantity=line.quantity,
                unit_price=_unit_price(line),
                image_url=_image(line),
            )
        )
    return tuple(lines)


def _unit_price(line: LineIn) -> Decimal | None:
    if line.price is not None:
        return line.price
    if line.total is not None and line.quantity:
        return (line.total / line.quantity).quantize(Decimal("0.0001"))
    return None


def _image(line: LineIn) -> str | None:
    source = (line.image or {}).get("src")
    try:
        return validated(ImageIn, {"src": source}).src
    except Invalid:
        return None  # a bad image link is not a reason to lose the order


def _currency(order: OrderIn, context: _Context) -> str:
    return order.currency or context.currency


def _checkout(order: OrderIn, at: datetime, context: _Context) -> tuple[CartEvent, ...]:
    return (
        CartSnapshot(
            occurred_at=at,
            currency=_currency(order, context),
            stage=Stage.CHECKOUT,
            items=_lines(order),
            total=order.total,
            checkout_id=str(order.id),
        ),
    )


def _failed(order: OrderIn, at: datetime, context: _Context) -> tuple[CartEvent, ...]:
    # The snapshot first (same time, kept in order by the ingest's stable sort), so a failed
    # order seen for the first time still has its lines.
    return (
        *_checkout(order, at, context),
        PaymentFailed(occurred_at=at, currency=_currency(order, context)),
    )


def _placed(order: OrderIn, at: datetime, context: _Context) -> tuple[CartEvent, ...]:
    return (
        OrderPlaced(
            occurred_at=at,
            currency=_currency(order, context),
            order_id=order.number or str(order.id),
            items=_lines(order) or None,
            total=order.total,
            checkout_id=str(order.id),
            discounts=from_objects(order.coupon_lines, code_key="code", amount_key="discount"),
        ),
    )


def _changed(change: str) -> Callable[[OrderIn, datetime, _Context], tuple[CartEvent, ...]]:
    def translate(order: OrderIn, at: datetime, context: _Context) -> tuple[CartEvent, ...]:
        return (
            OrderChanged(
                occurred_at=at,
                currency=_currency(order, context),
                order_id=order.number or str(order.id),
                change=change,
                amount=order.total,
            ),
        )

    return translate


_STATUSES: dict[str, Callable[[OrderIn, datetime, _Context], tuple[CartEvent, ...]]] = {
    "pending": _checkout,
    "on-hold": _checkout,
    "checkout-draft": _checkout,
    "failed": _failed,
    "processing": _placed,
    "completed": _placed,
    "cancelled": _changed("cancelled"),
    "refunded": _changed("refunded"),
    "trash": _changed("deleted"),
}

_TOPICS: dict[str, Callable[[Any, _Context], list[Inbound]]] = {
    "order.created": _order,
    "order.updated": _order,
    "order.restored": _order,
    "order.deleted": _deleted,
}

#: The statuses the cart model understands (for docs and the dashboard).
HANDLED_STATUSES = frozenset(_STATUSES)


class RestoreScheme(StrEnum):
    """
    How a WooCommerce shop rebuilds a cart from a link.
    """

    #: WooCommerce 10.0+: `/checkout-link/?products=ID:QTY,…&coupon=CODE` adds every line
    #: (variations by their own id), applies the coupon and opens the checkout.
    CHECKOUT_LINK = "checkout-link"
    #: Any version: `/?add-to-cart=ID&quantity=N` adds one product (no coupon); a cart of
    #: several products can only be sent to `/cart/`, where the shopper's session may hold it.
    ADD_TO_CART = "add-to-cart"


def restore_url(
    shop_url: str,
    lines: Sequence[LineItem],
    discount_code: str | None = None,
    *,
    scheme: RestoreScheme = RestoreScheme.CHECKOUT_LINK,
) -> str:
    """
    The shop URL that rebuilds a cart, each line by its variation id, else its product id.

    Lines known only by SKU cannot be added by URL and are left out; a product listed twice is
    added up. With no line left, the link is the shop's cart page, without the code.

    Args:
        shop_url: the WordPress home URL (`https://shop.example.com`, or with its sub-folder).
        lines: the cart's lines.
        discount_code: a code still valid for this cart, or None.
        scheme: what the shop supports (`RestoreScheme`).
    """
    base = shop_url.strip().rstrip("/")
    quantities: dict[str, int] = {}
    for line in lines:
        product = line.variant_id or line.product_id or ""
        if product.isdecimal() and line.quantity > 0:
            quantities[product] = quantities.get(product, 0) + line.quantity
    if not quantities or (scheme is RestoreScheme.ADD_TO_CART and len(quantities) > 1):
        return f"{base}/cart/"
    if scheme is RestoreScheme.ADD_TO_CART:
        ((product, quantity),) = quantities.items()
        return f"{base}/?{urlencode({'add-to-cart': product, 'quantity': quantity})}"
    items = ",".join(f"{product}:{quantity}" for product, quantity in quantities.items())
    code = (discount_code or "").strip()
    return f"{base}/checkout-link/?products={items}" + (
        f"&coupon={quote(code, safe='')}" if code else ""
    )
