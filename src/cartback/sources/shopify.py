"""
Shopify webhooks (`contract.md` §5.3): verify the `X-Shopify-Hmac-Sha256` signature and translate
carts, checkouts and orders into Cartback's events, one small function per topic chosen from
`_TRANSLATORS`; the privacy and lifecycle topics become `PrivacyRequest`s.

Both payload generations parse: the older REST resources (hex tokens, address objects) and the
2024 ones (a base64 `cart_token`, `abandoned_checkout_url` with a secret `key`, `email`/`phone`
null until the shopper typed them, `shipping_address: []`).

Decisions worth knowing:

- **Idempotency** is `"{topic}:{X-Shopify-Event-Id}"`, else `"{topic}:{X-Shopify-Webhook-Id}"`:
  one merchant action shares its event id across topics (`orders/create` and `orders/paid` may
  both carry it), so the topic is part of the key. Retries carry the same headers.
- **Time**: a cart or checkout happened at its `updated_at` (any offset), else at
  `X-Shopify-Triggered-At`, else when received; an older update is therefore stale. An order
  happened at its `created_at`, so `orders/create` and a later `orders/paid` agree on when it was
  placed whatever order they arrive in.
- **Cart key** (`contract.md` §5.5): a checkout's `cart_token`, else its `token`; a cart's
  `token`. An order links by `cart_token`, else `checkout_token` (the checkout's key when it had
  no cart token), else by `checkout_id` (the ingest service finds the checkout's cart); an order
  with none of them gets a cart of its own, `order-<id>`.
- A checkout with `completed_at` is no longer abandoned, but it is not an order either: it is
  stored, its contact and consent are kept, and the cart is left for the order to close.
- `checkouts/delete` is stored and changes nothing: Shopify deletes checkouts that completed or
  that it purges, neither of which is something the shopper did; the order, or the recovery
  window, closes the cart.
- The recovery `key` of `abandoned_checkout_url` (and any `?key=` on a cart token) is a secret
  that opens the shopper's checkout: it is removed before the payload is stored, and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import orjson

from cartback.domain.catalog import CatalogItem
from cartback.domain.errors import FieldError, InvalidInput, Unauthenticated
from cartback.domain.events import LineItem
from cartback.domain.ingest import Inbound, MessageKind
from cartback.sources._commerce import address_country
from cartback.sources._shopify_products import PRODUCT_TOPICS, product_items
from cartback.sources._shopify_topics import (
    TRANSLATORS,
    Context,
    Invalid,
    email_or_none,
    phone_or_none,
    stamp,
)
from cartback.sources._webhooks import Delivery, PrivacyKind, PrivacyRequest
from cartback.sources.segment import Parsed

SOURCE = "shopify"
#: The topics that carry carts and orders (the privacy topics are in `PRIVACY_TOPICS`).
HANDLED_TOPICS: frozenset[str] = frozenset(TRANSLATORS)
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+")
_GID = re.compile(r"(?:gid://shopify/ProductVariant/)?(\d{1,20})")


# --- the WebhookSource functions -----------------------------------------------------------


def topic(delivery: Delivery) -> str | None:
    """
    The delivery's `X-Shopify-Topic`, such as `checkouts/update`.
    """
    value = (delivery.header("X-Shopify-Topic") or "").strip().lower()
    return value or None


def verify(delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
    """
    Check `X-Shopify-Hmac-Sha256`: the base64 HMAC-SHA256 of the raw body with the app's API
    secret, compared in constant time with each of the store's secrets (rotation).

    Raises:
        Unauthenticated: the header is missing or no secret produces it.
    """
    del now  # Shopify signs no timestamp; a replay is caught by its delivery id
    given = (delivery.header("X-Shopify-Hmac-Sha256") or "").strip()
    if not given:
        raise Unauthenticated("the X-Shopify-Hmac-Sha256 header is missing")
    expected = [signature(secret, delivery.body) for secret in secrets]
    # compare_digest on bytes: a header with non-ASCII characters must fail, not raise.
    if not any(hmac.compare_digest(given.encode(), value.encode()) for value in expected):
        raise Unauthenticated("the X-Shopify-Hmac-Sha256 signature does not match")


def signature(secret: str, body: bytes) -> str:
    """
    The `X-Shopify-Hmac-Sha256` value Shopify sends for this body.
    """
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def is_ping(delivery: Delivery) -> bool:
    """
    Shopify sends no unsigned set-up ping.
    """
    del delivery
    return False


def parse(delivery: Delivery) -> Parsed:
    """
    Translate a delivery into one message, or field errors (never an exception).
    """
    name = topic(delivery) or ""
    translate = TRANSLATORS.get(name)
    if translate is None:
        return Parsed(errors=[FieldError(path="", message=f"topic {name!r} is not handled")])
    context = Context(
        fallback_at=_triggered_at(delivery) or delivery.received_at,
        default_region=delivery.default_region,
    )
    try:
        document = _document(delivery.body)
        translated = translate(document, context)
    except Invalid as invalid:
        return Parsed(errors=invalid.errors)
    except ValueError as error:  # a domain value refused what the payload says
        return Parsed(errors=[FieldError(path="", message=str(error))])
    claims = translated.claims
    message = Inbound(
        source=SOURCE,
        message_id=_message_id(delivery, name),
        kind=MessageKind.TRACK,
        name=name,
        occurred_at=translated.occurred_at,
        user_id=claims.user_id if claims else None,
        cart_key=translated.cart_key,
        order_key=translated.order_key,
        event=translated.event,
        claims=claims,
        consents=translated.consents,
        country=address_country(document),
        payload=_scrubbed(document),
    )
    return Parsed(messages=[message])


def catalog(delivery: Delivery) -> list[CatalogItem] | None:
    """
    The catalog items a `products/create` or `products/update` delivery carries (one per
    variant); None for any other topic.

    Raises:
        InvalidInput: the body is not a product.
    """
    if topic(delivery) not in PRODUCT_TOPICS:
        return None
    try:
        document = _document(delivery.body)
        return product_items(
            document,
            fallback_at=_triggered_at(delivery) or delivery.received_at,
            currency=delivery.currency,
            shop_domain=delivery.header("X-Shopify-Shop-Domain"),
        )
    except Invalid as invalid:
        raise InvalidInput("the product payload is not valid", errors=invalid.errors) from None
    except ValueError as error:  # a catalog value refused what the payload says
        errors = [FieldError(path="variants", message=str(error))]
        raise InvalidInput("the product payload is not valid", errors=errors) from None


def _message_id(delivery: Delivery, name: str) -> str:
    delivery_id = (
        delivery.header("X-Shopify-Event-Id") or delivery.header("X-Shopify-Webhook-Id") or ""
    ).strip()
    if not delivery_id or len(delivery_id) > 200:
        # No id (or an absurd one): the content's hash, so an identical retry is still known.
        source = delivery_id.encode() or delivery.body
        delivery_id = "sha256:" + hashlib.sha256(source).hexdigest()[:48]
    return f"{name}:{delivery_id}"


def _triggered_at(delivery: Delivery) -> datetime | None:
    try:
        return stamp(delivery.header("X-Shopify-Triggered-At"))
    except ValueError:
        return None


def _document(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise Invalid([FieldError(path="", message="the body is empty; Shopify sends JSON")])
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise Invalid([FieldError(path="", message=f"not valid JSON: {error}")]) from None
    if not isinstance(document, dict):
        raise Invalid([FieldError(path="", message="must be a JSON object")])
    try:
        encoded = orjson.dumps(document)
    except TypeError as error:  # orjson reads deeper nesting than it writes
        raise Invalid([FieldError(path="", message=f"cannot be stored: {error}")]) from None
    # PostgreSQL cannot store U+0000; the byte search is a fast filter, `_has_nul` confirms.
    if b"\\u0000" in encoded and _has_nul(document):
        raise Invalid([FieldError(path="", message="must not contain U+0000")])
    return document


def _has_nul(document: dict[str, Any]) -> bool:
    stack: list[Any] = [document]  # a loop, not recursion: JSON may nest 1024 levels
    while stack:
        value = stack.pop()
        if isinstance(value, str) and "\x00" in value:
            return True
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _scrubbed(document: dict[str, Any]) -> dict[str, Any]:
    """
    The payload to store: without the recovery `key` that opens the shopper's checkout.
    """
    clean = dict(document)
    url = clean.get("abandoned_checkout_url")
    if isinstance(url, str):
        clean["abandoned_checkout_url"] = _without_key(url)
    for name in ("token", "cart_token"):
        value = clean.get(name)
        if isinstance(value, str) and "?" in value:
            clean[name] = value.split("?", 1)[0]
    return clean


def _without_key(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "key"]
    return urlunsplit(parts._replace(query=urlencode(kept)))


# --- privacy and lifecycle -----------------------------------------------------------------


def privacy(delivery: Delivery) -> PrivacyRequest | None:
    """
    The request a privacy topic (`customers/redact`, `customers/data_request`, `shop/redact`)
    or `app/uninstalled` carries; None for any other topic.

    Raises:
        InvalidInput: a customer request whose body names no customer.
    """
    read = _PRIVACY.get(topic(delivery) or "")
    return read(delivery) if read is not None else None


def _customer_request(kind: PrivacyKind) -> Callable[[Delivery], PrivacyRequest]:
    def read(delivery: Delivery) -> PrivacyRequest:
        try:
            document = _document(delivery.body)
        except Invalid:
            raise InvalidInput(f"the {kind.value} request is not a JSON object") from None
        customer = document.get("customer")
        customer = customer if isinstance(customer, dict) else {}
        email, phone = customer.get("email"), customer.get("phone")
        customer_id = customer.get("id")
        request = PrivacyRequest(
            kind=kind,
            email=email_or_none(email) or _raw(email),
            phone=phone_or_none(phone, delivery.default_region) or _raw(phone),
            customer_id=str(customer_id) if isinstance(customer_id, int | str) else None,
            reference=_reference(document.get("data_request")),
        )
        if not (request.email or request.phone or request.customer_id):
            raise InvalidInput(f"the {kind.value} request names no customer (id, email or phone)")
        return request

    return read


def _shop_request(kind: PrivacyKind) -> Callable[[Delivery], PrivacyRequest]:
    def read(delivery: Delivery) -> PrivacyRequest:
        # The whole shop is meant: the body adds nothing that must be read.
        return PrivacyRequest(kind=kind, reference=delivery.header("X-Shopify-Shop-Domain"))

    return read


def _raw(value: Any) -> str | None:
    """
    An identifier that does not normalise is still matched as written in stored payloads.
    """
    return (value.strip().lower() or None) if isinstance(value, str) else None


def _reference(value: Any) -> str | None:
    found = value.get("id") if isinstance(value, dict) else None
    return str(found) if isinstance(found, int | str) else None


_PRIVACY: dict[str, Callable[[Delivery], PrivacyRequest]] = {
    "customers/redact": _customer_request(PrivacyKind.ERASE_CUSTOMER),
    "customers/data_request": _customer_request(PrivacyKind.EXPORT_CUSTOMER),
    "shop/redact": _shop_request(PrivacyKind.ERASE_SHOP),
    "app/uninstalled": _shop_request(PrivacyKind.UNINSTALLED),
}

#: Topics answered by `privacy`, never ingested.
PRIVACY_TOPICS: frozenset[str] = frozenset(_PRIVACY)


# --- restore URLs and shop domains ---------------------------------------------------------


def shop_domain(raw: str) -> str:
    """
    A shop's host name from what a merchant types: `my-shop`, `my-shop.myshopify.com`,
    `https://my-shop.myshopify.com/admin` or a custom domain.

    Raises:
        ValueError: it is not a host name.
    """
    host = re.sub(r"^[a-z]+://", "", raw.strip().lower()).split("/")[0].split(":")[0]
    if host and "." not in host:
        host = f"{host}.myshopify.com"
    if not _HOSTNAME.fullmatch(host):
        raise ValueError(f"{raw.strip()!r} is not a shop domain such as my-shop.myshopify.com")
    return host


def restore_url(shop: str, lines: Sequence[LineItem], discount_code: str | None = None) -> str:
    """
    A Shopify cart permalink that rebuilds the cart: `https://{shop}/cart/{variant}:{qty},…`,
    with `?discount=CODE` when a code is given. Shopify opens checkout with those variants and
    quantities and applies the code if it is valid then.

    Lines without a Shopify variant id (numeric, or a `gid://shopify/ProductVariant/…`) cannot be
    put in a permalink and are left out; a variant listed twice is added up. With no line left,
    the link is the shop's cart page (`https://{shop}/cart`), without the code.

    Raises:
        ValueError: the shop is not a host name.
    """
    host = shop_domain(shop)
    quantities: dict[str, int] = {}
    for line in lines:
        match = _GID.fullmatch(line.variant_id or "")
        if match and line.quantity > 0:
            quantities[match[1]] = quantities.get(match[1], 0) + line.quantity
    if not quantities:
        return f"https://{host}/cart"
    items = ",".join(f"{variant}:{quantity}" for variant, quantity in quantities.items())
    code = (discount_code or "").strip()
    return f"https://{host}/cart/{items}" + (f"?discount={quote(code, safe='')}" if code else "")
