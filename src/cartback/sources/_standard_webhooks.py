"""
Standard Webhooks v1 signatures (github.com/standard-webhooks/standard-webhooks,
`spec/standard-webhooks.md`): `webhook-id`, `webhook-timestamp` (Unix seconds) and
`webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256>` over
`{id}.{timestamp}.{body}`, keyed with the secret's bytes (`whsec_<base64>`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cartback.domain.errors import Unauthenticated
from cartback.domain.time import check_aware
from cartback.sources._webhooks import Delivery

#: Svix's libraries and the reference implementation refuse a timestamp more than 5 minutes off.
TOLERANCE = timedelta(minutes=5)
SECRET_PREFIX = "whsec_"  # noqa: S105 - how secrets are written, not a secret
_MAX_TIMESTAMP_DIGITS = 12


def secret_key(secret: str) -> bytes | None:
    """
    The HMAC key a secret stands for: the base64 after `whsec_` decoded (the reference library
    also accepts it without the prefix and without padding), or None when it is not base64.
    """
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def verify(
    delivery: Delivery,
    secrets: Sequence[str],
    *,
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> str:
    """
    Check a delivery's Standard Webhooks signature with any of the secrets.

    Returns:
        The `webhook-id` (the idempotency key: a retry carries the same one).

    Raises:
        Unauthenticated: a header is missing, the timestamp is unreadable or outside the
            tolerance either way, or no `v1` signature matches any secret.
    """
    check_aware(now, "now")
    message_id = delivery.header("webhook-id")
    stamp = delivery.header("webhook-timestamp")
    signatures = delivery.header("webhook-signature")
    if not (message_id and stamp and signatures):
        raise Unauthenticated(
            "the webhook-id, webhook-timestamp and webhook-signature headers are required"
        )
    sent_at = _timestamp(stamp)
    if not now - tolerance <= sent_at <= now + tolerance:
        # Replaying a captured delivery later than this fails here; within the window, the
        # webhook-id makes it a duplicate.
        raise Unauthenticated("the webhook timestamp is too old or too far in the future")
    signed = f"{message_id}.{stamp.strip()}.".encode() + delivery.body
    expected = [
        hmac.new(key, signed, hashlib.sha256).digest()
        for key in (secret_key(s) for s in secrets)
        if key is not None
    ]
    for candidate in _v1_signatures(signatures):
        # Every comparison runs in constant time; which secret matched is not secret.
        if any(hmac.compare_digest(candidate, digest) for digest in expected):
            return message_id
    raise Unauthenticated("no webhook signature matches the store's secrets")


def _timestamp(value: str) -> datetime:
    text = value.strip()
    if not text.isdecimal() or len(text) > _MAX_TIMESTAMP_DIGITS:
        raise Unauthenticated("the webhook-timestamp header must be Unix seconds")
    return datetime.fromtimestamp(int(text), tz=UTC)


def _v1_signatures(header: str) -> list[bytes]:
    """
    The decoded `v1` entries of a signature header; other versions (`v1a` is ed25519) and
    malformed entries are skipped, as the reference libraries do.
    """
    found: list[bytes] = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found
