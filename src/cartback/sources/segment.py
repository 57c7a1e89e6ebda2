"""
The Segment HTTP Tracking API format (also what RudderStack SDKs and the storefront snippet
send): validate each message and translate e-commerce spec v2 events into Cartback's events.

One small function per event name, chosen from `_TRANSLATORS`; unknown names are stored and
ignored by the engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from cartback.domain.errors import FieldError
from cartback.domain.events import (
    MAX_LINES,
    CartEvent,
    CartSnapshot,
    IdentityClaims,
    ItemAdded,
    ItemRemoved,
    LineItem,
    OrderChanged,
    OrderPlaced,
    PaymentFailed,
    ProductViewed,
    Stage,
)
from cartback.domain.ingest import Inbound, MessageKind
from cartback.domain.origin import alpha2
from cartback.kit.normalise import normalise_email, normalise_phone
from cartback.sources._discounts import amount, from_list
from cartback.sources._fields import (
    Amount,
    Currency,
    Identifier,
    Name,
    Price,
    Quantity,
    ShortText,
    Url,
)

SOURCE = "segment"
MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_MESSAGES = 2500
#: Clocks drift; an event this far ahead of ours is refused rather than trusted.
FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_M = TypeVar("_M", bound=BaseModel)


class ProductIn(BaseModel):
    """
    A product as the e-commerce spec v2 describes it; other keys are kept in the raw payload.
    """

    model_config = ConfigDict(extra="allow")

    product_id: Identifier = None
    id: Identifier = None
    sku: Identifier = None
    variant: Name = None
    variant_id: Identifier = None
    name: Name = None
    price: Price = None
    quantity: Quantity = None
    category: Name = None
    url: Url = None
    image_url: Url = None


class PropertiesIn(ProductIn):
    """
    E-commerce properties: a product at the top level, or `products[]`, with cart and order ids.
    """

    cart_id: Identifier = None
    checkout_id: Identifier = None
    order_id: Identifier = None
    products: list[ProductIn] | None = None
    currency: Currency = None
    value: Amount = None
    total: Amount = None
    revenue: Amount = None
    reason: Name = None
    step: ShortText = None
    #: `Order Completed`'s code and the order's total discount; read leniently (`_discounts`).
    coupon: Any = None
    discount: Any = None


class MessageIn(BaseModel):
    """
    One message of the HTTP Tracking API.
    """

    model_config = ConfigDict(extra="allow")

    type: Literal["track", "identify", "page", "screen", "group", "alias"]
    event: ShortText = None
    messageId: Identifier = None  # noqa: N815 - the wire name
    anonymousId: Identifier = None  # noqa: N815
    userId: Identifier = None  # noqa: N815
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None  # noqa: N815
    sentAt: datetime | None = None  # noqa: N815
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


@dataclass(kw_only=True)
class Parsed:
    """
    The messages that passed, and an error per field of those that did not.
    """

    messages: list[Inbound] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class ParseContext:
    """
    What parsing needs besides the message: the time, the store's country for phone numbers,
    the request's user agent, and the batch's shared `context` and `sentAt`.
    """

    now: datetime
    default_region: str | None = None
    user_agent: str | None = None
    batch_context: dict[str, Any] | None = None
    batch_sent_at: datetime | None = None
    source: str = SOURCE
    #: The store's own event names for Cartback's, both as `event_key` gives them.
    aliases: Mapping[str, str] = field(default_factory=dict)


def parse_messages(
    documents: list[Any], *, context: ParseContext, single: bool = False, check_size: bool = False
) -> Parsed:
    """
    Validate and translate each message, collecting every error with its index and field
    (`batch[3].properties.price`; without the prefix for a `single` message).
    """
    parsed = Parsed()
    # The batch's shared context is stored with every message, so it passes the same checks.
    shared = (
        _check_document({"context": context.batch_context}, check_size=False)
        if context.batch_context
        else []
    )
    for index, document in enumerate(documents):
        errors = _check_document(document, check_size=check_size) or shared
        if not errors:
            try:
                parsed.messages.append(_translate(document, context))
                continue
            except _Invalid as invalid:
                errors = invalid.errors
        parsed.errors.extend(
            FieldError(
                index=None if single else index,
                path=e.path if single else f"batch[{index}].{e.path}".rstrip("."),
                message=e.message,
            )
            for e in errors
        )
    return parsed


def batch_sent_at(value: Any) -> datetime | None:
    """
    The batch's `sentAt`, used to correct client clock skew, or None if absent or unreadable.
    """
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


class _Invalid(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors)
        self.errors = errors


def _check_document(document: Any, *, check_size: bool) -> list[FieldError]:
    if not isinstance(document, dict):
        return [FieldError(path="", message="must be a JSON object")]
    try:
        encoded = orjson.dumps(document)
    except TypeError as error:
        # orjson reads 1024 levels of nesting but writes only 254; the raw payload is stored
        # (and hashed) with orjson, so refuse here rather than fail later with a 500.
        return [FieldError(path="", message=f"cannot be stored as JSON: {error}")]
    if check_size and len(encoded) > MAX_EVENT_BYTES:
        message_id = document.get("messageId")
        return [
            FieldError(
                path="",
                message=f"event {message_id!r} is larger than {MAX_EVENT_BYTES // 1024} KB",
            )
        ]
    # PostgreSQL cannot store U+0000 in text or JSONB: refuse it on every database alike.
    # The byte search is a fast filter; an escaped backslash can fake it, so confirm the path.
    nul_at = _nul_path(document) if b"\\u0000" in encoded else None
    if nul_at is not None:
        return [FieldError(path=nul_at, message="must not contain U+0000")]
    return []


def _nul_path(document: dict[str, Any]) -> str | None:
    """
    The path of a string (or key) holding U+0000, such as `properties.products[0].name`, or
    None when there is none.
    """
    stack: list[tuple[str, Any]] = [("", document)]  # a loop, not recursion: 1024 levels deep
    while stack:
        path, value = stack.pop()
        if isinstance(value, str) and "\x00" in value:
            return path
        if isinstance(value, dict):
            for key, item in value.items():
                inner = f"{path}.{key}" if path else key
                if "\x00" in key:
                    return inner.replace("\x00", "\\u0000")
                stack.append((inner, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
    return None


def _translate(document: dict[str, Any], context: ParseContext) -> Inbound:
    message = _validated(MessageIn, document, prefix="")
    if message.anonymousId is None and message.userId is None:
        raise _Invalid(
            [FieldError(path="anonymousId", message="anonymousId or userId is required")]
        )
    if message.type == "track" and not message.event:
        raise _Invalid([FieldError(path="event", message="a track call needs an event name")])
    occurred_at = _occurred_at(message, context)
    merged_context = {**(context.batch_context or {}), **(message.context or {})}
    claims = _claims(message, merged_context, context)
    event, props = _event(message, occurred_at, context.aliases)
    user_agent = merged_context.get("userAgent")
    return Inbound(
        source=context.source,
        message_id=message.messageId or _content_id(document),
        kind=MessageKind(message.type),
        name=message.event,
        occurred_at=occurred_at,
        anonymous_id=message.anonymousId,
        user_id=message.userId,
        cart_key=props.cart_id if props else None,
        order_key=props.order_id if props else None,
        event=event,
        claims=claims,
        user_agent=str(user_agent)[:500] if isinstance(user_agent, str) else context.user_agent,
        locale=_locale(merged_context),
        country=_address_country(message, merged_context),
        payload=document if not context.batch_context else {**document, "context": merged_context},
    )


def _locale(merged_context: dict[str, Any]) -> str | None:
    locale = merged_context.get("locale")
    return locale[:35] if isinstance(locale, str) else None


def _address_country(message: MessageIn, merged_context: dict[str, Any]) -> str | None:
    """
    The country of the first address the message carries: the order's or checkout's
    `shipping_address` or `billing_address` (`country_code` or `country`), else the person's
    `traits.address.country` (Segment's identify spec); alpha-2 codes only.
    """
    properties = message.properties or {}
    traits = message.traits or merged_context.get("traits") or {}
    addresses = [properties.get("shipping_address"), properties.get("billing_address")]
    addresses.append(traits.get("address") if isinstance(traits, dict) else None)
    for address in addresses:
        if isinstance(address, dict):
            for field_name in ("country_code", "country"):
                code = alpha2(address.get(field_name))
                if code is not None:
                    return code
    return None


def _validated(model: type[_M], data: Any, *, prefix: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _Invalid(
            [
                FieldError(
                    path=".".join(
                        [prefix, *(f"[{p}]" if isinstance(p, int) else p for p in e["loc"])]
                    )
                    .strip(".")
                    .replace(".[", "["),
                    message=e["msg"].removeprefix("Value error, "),
                )
                for e in error.errors()
            ]
        ) from None


def _occurred_at(message: MessageIn, context: ParseContext) -> datetime:
    stamp = message.timestamp or message.originalTimestamp
    if stamp is None:
        return context.now
    stamp = stamp if stamp.utcoffset() is not None else stamp.replace(tzinfo=UTC)
    sent_at = message.sentAt or context.batch_sent_at
    if sent_at is not None:
        sent_at = sent_at if sent_at.utcoffset() is not None else sent_at.replace(tzinfo=UTC)
        # The client's clock may be wrong; its offset from ours is (now - sentAt).
        try:
            stamp = stamp + (context.now - sent_at)
        except OverflowError:
            # Absurd clocks push the corrected time past datetime's range: refuse, never crash.
            raise _Invalid([FieldError(path="timestamp", message="is out of range")]) from None
    if stamp > context.now + FUTURE_TOLERANCE:
        raise _Invalid([FieldError(path="timestamp", message="is in the future")])
    if stamp < EARLIEST:
        raise _Invalid([FieldError(path="timestamp", message="is before the year 2000")])
    return stamp.astimezone(UTC)


def _claims(
    message: MessageIn, merged_context: dict[str, Any], context: ParseContext
) -> IdentityClaims | None:
    raw = merged_context.get("traits")
    context_traits = raw if isinstance(raw, dict) else {}
    if message.type == "identify" and message.traits:
        traits, strict, prefix = message.traits, True, "traits"
    elif message.type == "identify":
        # RudderStack's SDKs send identify traits only inside `context.traits`.
        traits, strict, prefix = context_traits, True, "context.traits"
    else:
        traits, strict, prefix = context_traits, False, "context.traits"
    email = _normalised(traits.get("email"), normalise_email, strict, f"{prefix}.email")
    phone = _normalised(
        traits.get("phone"),
        lambda v: normalise_phone(v, default_region=context.default_region),
        strict,
        f"{prefix}.phone",
    )
    claims = IdentityClaims(user_id=message.userId, email=email, phone=phone)
    return None if claims.is_empty else claims


def _normalised(value: Any, normalise: Callable[[str], str], strict: bool, path: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return normalise(value)
    except ValueError as error:
        if strict:
            raise _Invalid([FieldError(path=path, message=str(error))]) from None
        return None  # an identify call is where identity is asserted; elsewhere it is a hint


def _event(
    message: MessageIn, at: datetime, aliases: Mapping[str, str]
) -> tuple[CartEvent | None, PropertiesIn | None]:
    if message.type != "track" or not message.event:
        return None, None
    key = event_key(message.event)
    translate = _TRANSLATORS.get(aliases.get(key, key))
    if translate is None:
        # Unknown events are stored and ignored, so their properties need not fit the
        # e-commerce shape (a `price: "free"` must not get a `Signed Up` refused).
        try:
            return None, _validated(PropertiesIn, message.properties or {}, prefix="properties")
        except _Invalid:
            return None, None
    props = _validated(PropertiesIn, message.properties or {}, prefix="properties")
    try:
        return translate(props, at), props
    except ValueError as error:
        raise _Invalid([FieldError(path="properties", message=str(error))]) from None


def event_key(name: str) -> str:
    """
    An event name as it is matched: case, underscores and spacing do not count.
    """
    return " ".join(name.replace("_", " ").lower().split())


def alias_target(name: str) -> str:
    """
    The Cartback event an alias may point to, as `event_key` gives it.

    Raises:
        ValueError: the name is not one the cart model understands.
    """
    key = event_key(name)
    if key not in _TRANSLATORS:
        known = ", ".join(sorted(n.title() for n in _TRANSLATORS))
        raise ValueError(f"{name!r} is not an event Cartback understands ({known})")
    return key


def _line(product: ProductIn, *, default_quantity: int = 1) -> LineItem:
    return LineItem(
        product_id=product.product_id or product.id,
        variant_id=product.variant_id,
        sku=product.sku,
        name=product.name,
        variant_name=product.variant,
        quantity=product.quantity if product.quantity is not None else default_quantity,
        unit_price=product.price,
        image_url=product.image_url,
        url=product.url,
        category=product.category,
    )


def _lines(props: PropertiesIn) -> tuple[LineItem, ...] | None:
    if props.products is None:
        return None
    lines: list[LineItem] = []
    for index, product in enumerate(props.products):
        if product.quantity == 0:
            continue
        try:
            lines.append(_line(product))
        except ValueError as error:
            # Name the product, not just `properties`, so the sender can find it in the list.
            path = f"properties.products[{index}]"
            raise _Invalid([FieldError(path=path, message=str(error))]) from None
    if len(lines) > MAX_LINES:
        message = f"a cart holds at most {MAX_LINES} products"
        raise _Invalid([FieldError(path="properties.products", message=message)])
    return tuple(lines)


def _product_viewed(props: PropertiesIn, at: datetime) -> CartEvent:
    return ProductViewed(occurred_at=at, currency=props.currency, item=_line(props))


def _product_added(props: PropertiesIn, at: datetime) -> CartEvent:
    if props.quantity == 0:
        raise ValueError("Product Added needs a quantity of at least 1")
    return ItemAdded(occurred_at=at, currency=props.currency, item=_line(props))


def _product_removed(props: PropertiesIn, at: datetime) -> CartEvent:
    # Without a quantity the whole line goes, as when the shopper clicks "remove".
    return ItemRemoved(
        occurred_at=at, currency=props.currency, item=_line(props, default_quantity=0)
    )


def _snapshot(stage: Stage) -> Callable[[PropertiesIn, datetime], CartEvent]:
    def translate(props: PropertiesIn, at: datetime) -> CartEvent:
        total = props.total if props.total is not None else props.value
        return CartSnapshot(
            occurred_at=at,
            currency=props.currency,
            stage=stage,
            items=_lines(props),
            total=total if props.products is not None else None,
            checkout_id=props.checkout_id,
            step=props.step,
        )

    return translate


def _payment_failed(props: PropertiesIn, at: datetime) -> CartEvent:
    return PaymentFailed(occurred_at=at, currency=props.currency, reason=props.reason)


def _order_completed(props: PropertiesIn, at: datetime) -> CartEvent:
    total = next((v for v in (props.total, props.value, props.revenue) if v is not None), None)
    return OrderPlaced(
        occurred_at=at,
        currency=props.currency,
        order_id=props.order_id,
        items=_lines(props),
        total=total,
        checkout_id=props.checkout_id,
        # The spec's `coupon` is one string; senders that used several list them with commas.
        discounts=from_list(props.coupon, amount(props.discount)),
    )


def _order_changed(change: str) -> Callable[[PropertiesIn, datetime], CartEvent]:
    def translate(props: PropertiesIn, at: datetime) -> CartEvent:
        amount = props.total if props.total is not None else props.value
        return OrderChanged(
            occurred_at=at,
            currency=props.currency,
            order_id=props.order_id,
            change=change,
            amount=amount,
        )

    return translate


_TRANSLATORS: dict[str, Callable[[PropertiesIn, datetime], CartEvent]] = {
    "product viewed": _product_viewed,
    "product added": _product_added,
    "product removed": _product_removed,
    "cart viewed": _snapshot(Stage.CART),
    "checkout started": _snapshot(Stage.CHECKOUT),
    "checkout step viewed": _snapshot(Stage.CHECKOUT),
    "checkout step completed": _snapshot(Stage.CHECKOUT),
    "payment info entered": _snapshot(Stage.CHECKOUT),
    "payment failed": _payment_failed,
    "order completed": _order_completed,
    "order cancelled": _order_changed("cancelled"),
    "order canceled": _order_changed("cancelled"),
    "order refunded": _order_changed("refunded"),
}

#: The e-commerce names the cart model understands (for docs and the dashboard).
HANDLED_EVENT_NAMES = frozenset(_TRANSLATORS)


def _content_id(document: dict[str, Any]) -> str:
    """
    An idempotency key for a message sent without `messageId`: the hash of its content, so a
    retried identical message is still recognised. `sentAt` is left out: a client sets it anew
    on every attempt.
    """
    content = {k: v for k, v in document.items() if k != "sentAt"}
    digest = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return "sha256:" + digest[:48]
