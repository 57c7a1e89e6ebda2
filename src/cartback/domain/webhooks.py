"""
Outbound webhooks: the event types a store can subscribe to, their payloads, Standard Webhooks
signatures, and the retry policy of a delivery. Pure: time is a parameter.

Payloads carry ids, statuses, reasons and amounts (strings, with their currency), never an
email address or a phone number: a receiver that needs them asks the read API.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from cartback.domain.time import check_aware


class EventType(StrEnum):
    """
    What a store can hear about.
    """

    CART_ABANDONED = "cart.abandoned"
    CART_RECOVERED = "cart.recovered"
    TOUCH_SENT = "touch.sent"
    TOUCH_SKIPPED = "touch.skipped"
    CONTACT_UNSUBSCRIBED = "contact.unsubscribed"
    STORE_ALERT = "store.alert"


class DeliveryStatus(StrEnum):
    """
    A delivery waits (`pending`, also while an attempt is in flight), went (`delivered`) or
    was given up (`failed`).
    """

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


#: After a failed attempt the next one waits this long (Svix's schedule, which Standard
#: Webhooks recommends); after the last, the delivery fails. Eight attempts over about 28 h.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
#: An endpoint none of whose attempts succeeded for this long is disabled (Svix: 5 days).
DISABLE_AFTER = timedelta(days=5)
#: A `Retry-After` longer than this is cut to it.
MAX_RETRY_AFTER = timedelta(hours=24)
SECRET_PREFIX = "whsec_"  # noqa: S105 - how secrets are written, not a secret


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboundEvent:
    """
    One event for a store's endpoints: `{type, timestamp, data}` on the wire.
    """

    store_id: str
    type: EventType
    occurred_at: datetime
    data: Mapping[str, Any]

    def __post_init__(self) -> None:
        check_aware(self.occurred_at, "occurred_at")

    def payload(self) -> dict[str, Any]:
        """
        The JSON document sent (the store id is in `data` too).
        """
        stamp = self.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return {"type": self.type.value, "timestamp": stamp, "data": dict(self.data)}


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookEndpoint:
    """
    Where a store's events go, which types, and the signing secret (sealed at rest).
    """

    id: str
    store_id: str
    url: str
    event_types: tuple[EventType, ...]
    sealed_secret: str
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    #: Since when no attempt succeeded (None while it works).
    failing_since: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookDelivery:
    """
    One event for one endpoint, with its attempts so far.
    """

    id: str
    store_id: str
    endpoint_id: str
    event_type: str
    payload: Mapping[str, Any]
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptResult:
    """
    What one POST came to: the status code (None when no answer came), the `Retry-After`
    header, and an error when there was no answer or it was refused before sending.
    """

    status_code: int | None = None
    retry_after: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """
        A 2xx answer: delivered.
        """
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivered:
    """
    The endpoint took it.
    """


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryAt:
    """
    Try again at `at`.
    """

    at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class GiveUp:
    """
    Every attempt failed: the delivery is `failed`.
    """

    reason: str


def after_attempt(
    result: AttemptResult, *, attempts: int, now: datetime
) -> Delivered | RetryAt | GiveUp:
    """
    What follows an attempt (`attempts` counts it): delivered on 2xx; otherwise the next
    attempt after `RETRY_SCHEDULE[attempts - 1]`, or as the endpoint's `Retry-After` asks on a
    429 or 503; failed once the schedule is spent. Every non-2xx answer is retried, as
    Standard Webhooks senders do: a receiver's 4xx is as often a deploy in progress as a
    refusal.
    """
    check_aware(now, "now")
    if result.ok:
        return Delivered()
    if attempts > len(RETRY_SCHEDULE):
        return GiveUp(reason=describe(result))
    wait = RETRY_SCHEDULE[attempts - 1]
    if result.status_code in (429, 503) and result.retry_after:
        asked = retry_after(result.retry_after, now=now)
        if asked is not None:
            wait = asked
    return RetryAt(at=now + wait)


def describe(result: AttemptResult) -> str:
    """
    One line for `last_error`.
    """
    if result.error:
        return result.error[:500]
    return f"answered {result.status_code}"


def retry_after(value: str, *, now: datetime) -> timedelta | None:
    """
    A `Retry-After` header (seconds, or an HTTP date) as a wait from `now`, between one second
    and `MAX_RETRY_AFTER`; None when unreadable.
    """
    text = value.strip()
    if text.isdecimal():
        wait = timedelta(seconds=int(text[:9]))
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        wait = when - now
    return min(max(wait, timedelta(seconds=1)), MAX_RETRY_AFTER)


def secret_bytes(secret: str) -> bytes:
    """
    The HMAC key of a `whsec_<base64>` secret (the base64 part, decoded).

    Raises:
        ValueError: the secret is not in that form.
    """
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("a webhook secret is whsec_ followed by base64")
    return key


def sign(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    """
    The `webhook-signature` header of Standard Webhooks v1: `v1,` and the base64 HMAC-SHA256
    of `{id}.{timestamp}.{body}` keyed with the secret's bytes.
    """
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secret: str, *, message_id: str, sent_at: datetime, body: bytes
) -> dict[str, str]:
    """
    The headers of a delivery: `webhook-id` (the same on every retry, for the receiver's
    idempotency), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`.
    """
    check_aware(sent_at, "sent_at")
    timestamp = int(sent_at.timestamp())
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id=message_id, timestamp=timestamp, body=body),
    }
