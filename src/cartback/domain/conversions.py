"""
Server-side conversion events for anonymous visitors (issue #8): the storefront's `Product
Added` and `Checkout Started` as Meta Conversions API `AddToCart` and `InitiateCheckout`.

Decisions a reader may look for:

- **Only anonymous identifiers leave.** `user_data` holds the SHA-256 of the anonymous id
  (`external_id`), the browser's address and user agent, and Meta's own `_fbp` / `_fbc`
  cookies. Never an email, a phone, a user id or a contact id, even when the visitor is known:
  this module is given the raw event and the visitor's flags, never a contact.
- **The same id as the pixel.** `event_id` is the event's Segment `messageId`; the snippet
  hands the same id to the page (`cartback:track`), so a pixel that passes it as `eventID`
  lets Meta count the action once.
- **Skipped, never sent:** robots, visitors who said no to ads (`ads_opt_out_at`, from GPC or
  a denied cookie banner), events whose own context says GPC, events older than Meta takes
  (7 days), and website events without the user agent or page URL Meta requires for them
  (one such event would have Meta refuse its whole batch).
- **Batches of at most 1,000 events**, Meta's limit per request. Each batch carries the raw
  event id it reaches, so the cursor moves past skipped events too.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol

from cartback.domain.time import check_aware

#: Meta takes at most this many events per request.
MAX_BATCH = 1000
#: Meta refuses events older than this (`event_time` more than 7 days ago).
MAX_AGE = timedelta(days=7)
#: Cartback's event (as `event_key` matches it) → Meta's standard event.
META_EVENTS = {"product added": "AddToCart", "checkout started": "InitiateCheckout"}
#: A Shopify storefront names a variant by its GraphQL id; the catalog and the feed by number.
_SHOPIFY_VARIANT_GID = re.compile(r"gid://shopify/ProductVariant/(\d+)")
_PAGE_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_CURRENCY = re.compile(r"[A-Z]{3}")
#: Meta's click id cookie: `fb.<subdomain index>.<creation time ms>.<fbclid>`.
_FBC = re.compile(r"fb\.\d\.\d{10,16}\.\S{1,500}")
_FBP = re.compile(r"fb\.\d\.\d{10,16}\.\d{1,30}")


class SkipReason(StrEnum):
    """
    Why a stored event is not sent to Meta.
    """

    BOT = "bot"
    ADS_OPT_OUT = "ads_opt_out"
    GPC = "gpc"
    TOO_OLD = "too_old"
    NO_ANONYMOUS_ID = "no_anonymous_id"
    NO_USER_AGENT = "no_user_agent"
    NO_PAGE_URL = "no_page_url"


@dataclass(frozen=True, kw_only=True, slots=True)
class TrackedEvent:
    """
    A stored `track` event that may become a conversion event, with its visitor's flags (read
    from `visitors`, never from `contacts`).
    """

    id: int
    message_id: str
    name: str
    anonymous_id: str | None
    occurred_at: datetime
    payload: Mapping[str, Any]
    visitor_is_bot: bool = False
    visitor_opted_out: bool = False

    def __post_init__(self) -> None:
        check_aware(self.occurred_at, "occurred_at")


@dataclass(frozen=True, kw_only=True, slots=True)
class Batch:
    """
    One request's events, and the raw event id the cursor may move to once Meta took them.
    """

    events: list[dict[str, Any]]
    through_id: int
    skipped: Counter[str] = field(default_factory=Counter)


class AnswerKind(StrEnum):
    """
    What Meta's answer to a batch means for the cursor.
    """

    #: Taken: the cursor moves past the batch.
    ACCEPTED = "accepted"
    #: Rate limited or down (429, 5xx, `is_transient`): the same batch next time.
    TRANSIENT = "transient"
    #: Meta says the batch is malformed (invalid parameter): logged and passed over, so one
    #: bad event cannot block the store for ever.
    MALFORMED = "malformed"
    #: Any other refusal (an expired token, a missing permission, an unknown pixel): the store
    #: waits until its account is fixed, and nothing is lost meanwhile.
    REFUSED = "refused"


@dataclass(frozen=True, kw_only=True, slots=True)
class SendAnswer:
    """
    Meta's answer to one batch, as the sender read it.
    """

    kind: AnswerKind
    status: int | None = None
    detail: str | None = None
    #: Seconds Meta asked us to wait (`Retry-After`), when it said.
    retry_after: float | None = None
    events_received: int | None = None


class ConversionSender(Protocol):
    """
    Delivers a batch of server events to a pixel (`channels/ads/capi.py`). Never raises for
    an answer from Meta or a network failure: those are `SendAnswer`s.
    """

    def send(
        self,
        *,
        pixel_id: str,
        access_token: str,
        events: Sequence[Mapping[str, Any]],
        test_event_code: str | None = None,
    ) -> SendAnswer: ...


def meta_event_name(name: str, aliases: Mapping[str, str]) -> str | None:
    """
    Meta's standard event for a stored event name (the store's alias of it counts), or None.
    """
    key = _event_key(name)
    return META_EVENTS.get(aliases.get(key, key))


def skip_reason(event: TrackedEvent, *, now: datetime) -> SkipReason | None:
    """
    Why this event must not go to Meta, or None when it may.
    """
    context = _context(event.payload)
    checks = (  # in this order: the first that applies is the reason counted
        (SkipReason.BOT, event.visitor_is_bot),
        (SkipReason.GPC, context.get("gpc") is True),
        (SkipReason.ADS_OPT_OUT, event.visitor_opted_out),
        (SkipReason.NO_ANONYMOUS_ID, not event.anonymous_id),
        (SkipReason.TOO_OLD, now - event.occurred_at > MAX_AGE),
        (SkipReason.NO_USER_AGENT, _user_agent(context) is None),
        (SkipReason.NO_PAGE_URL, _page_url(context) is None),
    )
    return next((reason for reason, applies in checks if applies), None)


def hashed_external_id(anonymous_id: str) -> str:
    """
    The anonymous id as Meta's `external_id`: trimmed and lower-cased as Meta normalises every
    customer field, then SHA-256 in lower-case hex.
    """
    return hashlib.sha256(anonymous_id.strip().lower().encode("utf-8")).hexdigest()


def server_event(event: TrackedEvent, *, event_name: str) -> dict[str, Any]:
    """
    The Conversions API server event for a stored event that may be sent (see `skip_reason`).
    """
    context = _context(event.payload)
    user_data: dict[str, Any] = {
        "external_id": [hashed_external_id(event.anonymous_id or "")],
        "client_user_agent": _user_agent(context),
    }
    ip = context.get("ip")
    if isinstance(ip, str) and ip.strip():
        user_data["client_ip_address"] = ip.strip()
    fbp, fbc = _text(context.get("fbp")), _text(context.get("fbc"))
    if fbp and _FBP.fullmatch(fbp):
        user_data["fbp"] = fbp
    if fbc and _FBC.fullmatch(fbc):
        user_data["fbc"] = fbc
    return {
        "event_name": event_name,
        "event_time": int(event.occurred_at.timestamp()),
        "event_id": event.message_id,
        "action_source": "website",
        "event_source_url": _page_url(context),
        "user_data": user_data,
        "custom_data": custom_data(event.payload),
    }


def custom_data(payload: Mapping[str, Any]) -> dict[str, Any]:
    """
    The event's products as Meta's `custom_data`: ids as the product feed has them (variant,
    else product, else SKU), quantities, unit prices, the value and the currency.
    """
    properties = payload.get("properties")
    props: Mapping[str, Any] = properties if isinstance(properties, dict) else {}
    listed = props.get("products")
    products = [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) else [props]
    contents = [c for c in (_content(p) for p in products) if c is not None]
    data: dict[str, Any] = {
        "content_type": "product",
        "content_ids": [c["id"] for c in contents],
        "contents": contents,
    }
    currency = _text(props.get("currency"))
    if currency and _CURRENCY.fullmatch(currency.upper()):
        data["currency"] = currency.upper()
    value = _amount(props.get("value"))
    if value is None:
        value = _amount(props.get("total"))
    if value is None and contents:
        value = sum((_line_value(c) for c in contents), Decimal(0))
    if value is not None:
        data["value"] = float(value)  # JSON numbers: Meta reads `value` as a float
    return data


def plan_batches(
    events: Sequence[TrackedEvent], *, now: datetime, aliases: Mapping[str, str]
) -> list[Batch]:
    """
    The requests for these events (in id order): at most `MAX_BATCH` each; skipped events and
    names that are not conversions ride along in `through_id`. The last batch may hold no
    events, only a cursor to move.
    """
    batches: list[Batch] = []
    current: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    through = 0
    for event in events:
        through = event.id
        name = meta_event_name(event.name, aliases)
        reason = skip_reason(event, now=now) if name is not None else None
        if name is None or reason is not None:
            if reason is not None:
                skipped[reason.value] += 1
            continue
        current.append(server_event(event, event_name=name))
        if len(current) == MAX_BATCH:
            batches.append(Batch(events=current, through_id=through, skipped=skipped))
            current, skipped = [], Counter()
    reached = batches[-1].through_id if batches else 0
    if current or through > reached:
        batches.append(Batch(events=current, through_id=through, skipped=skipped))
    return batches


def _content(product: Mapping[str, Any]) -> dict[str, Any] | None:
    content_id = _feed_id(product)
    if content_id is None:
        return None
    content: dict[str, Any] = {"id": content_id, "quantity": _quantity(product.get("quantity"))}
    price = _amount(product.get("price"))
    if price is not None:
        content["item_price"] = float(price)
    return content


def _feed_id(product: Mapping[str, Any]) -> str | None:
    variant = _text(product.get("variant_id"))
    if variant:
        numeric = _SHOPIFY_VARIANT_GID.fullmatch(variant)
        return numeric[1] if numeric else variant
    return _text(product.get("product_id")) or _text(product.get("id")) or _text(product.get("sku"))


def _line_value(content: Mapping[str, Any]) -> Decimal:
    price = content.get("item_price")
    return Decimal(str(price)) * content["quantity"] if price is not None else Decimal(0)


def _quantity(value: Any) -> int:
    if isinstance(value, bool):
        return 1
    if isinstance(value, int | float) and value >= 1 and value == int(value):
        return int(value)
    return 1


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def _context(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    context = payload.get("context")
    return context if isinstance(context, dict) else {}


def _user_agent(context: Mapping[str, Any]) -> str | None:
    return _text(context.get("userAgent"))


def _page_url(context: Mapping[str, Any]) -> str | None:
    page = context.get("page")
    url = _text(page.get("url")) if isinstance(page, dict) else None
    return url if url and _PAGE_URL.fullmatch(url) else None


def _text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return (value.strip() or None) if isinstance(value, str) else None


def _event_key(name: str) -> str:
    # As `sources.segment.event_key` (the domain cannot import a source adapter).
    return " ".join(name.replace("_", " ").lower().split())
