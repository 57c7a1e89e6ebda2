"""
What the email tests share: a DKIM key and the DNS answer that publishes it, an outbound email
with sensible defaults, and Svix (Standard Webhooks) signing as Resend does it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cartback.domain.consent import Channel
from cartback.domain.ports import DkimKey, EmailEnvelope, OutboundMessage

DKIM_DOMAIN = "shop.example.com"
DKIM_SELECTOR = "s1"
UNSUBSCRIBE = (
    "<https://cartback.example.com/u/eyJzIjoic3RfMDEiLCJjIjoiY3RfMDEiLCJoIjoiZW1haWwifQ."
    "c2lnbmF0dXJlLW9mLXRoZS10b2tlbi10aGF0LWlzLXF1aXRlLWxvbmc>, "
    "<mailto:help@shop.example.com?subject=unsubscribe%20token>"
)
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"resend-webhook-signing-key-32by").decode()


@dataclass(frozen=True, kw_only=True, slots=True)
class TestKey:
    """
    An RSA key: the private PEM and the DKIM TXT record of its public half.
    """

    __test__ = False  # not a test class, whatever its name

    pem: str
    txt: bytes


@lru_cache(maxsize=1)
def dkim_test_key() -> TestKey:
    """
    One 2048-bit RSA key per test session.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return TestKey(pem=pem, txt=b"v=DKIM1; k=rsa; p=" + base64.b64encode(public))


def dkim_dns(name: bytes, timeout: int = 5) -> bytes:
    """
    A `dnsfunc` for `dkim.verify`: the test key's TXT record at its selector, nothing else.
    """
    expected = f"{DKIM_SELECTOR}._domainkey.{DKIM_DOMAIN}.".encode()
    return dkim_test_key().txt if name == expected else b""


def outbound_email(*, signed: bool = True, **overrides: Any) -> OutboundMessage:
    """
    An email as the dispatcher hands it over; `envelope_*` keywords change the envelope.
    """
    envelope_values: dict[str, Any] = {
        "html": "<p>Your cart: <b>Blue mug</b> — 12,00 €</p>",
        "sender": "Café Shop <orders@shop.example.com>",
        "reply_to": "help@shop.example.com",
        "message_id": "<tch_0123456789abcdefghjkm@shop.example.com>",
        "list_unsubscribe": UNSUBSCRIBE,
        "dkim": DkimKey(domain=DKIM_DOMAIN, selector=DKIM_SELECTOR, private_key=dkim_test_key().pem)
        if signed
        else None,
    }
    for name in list(overrides):
        if name.startswith("envelope_"):
            envelope_values[name.removeprefix("envelope_")] = overrides.pop(name)
    values: dict[str, Any] = {
        "store_id": "st_0123456789abcdefghjkm",
        "touch_id": "tch_0123456789abcdefghjkm",
        "channel": Channel.EMAIL,
        "to": "shopper@example.org",
        "subject": "You left something behind",
        "text": "Your cart: Blue mug — 12,00 €\nhttps://shop.example.com/r/abc",
        "email": EmailEnvelope(**envelope_values),
        **overrides,
    }
    return OutboundMessage(**values)


def svix_headers(
    body: bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    message_id: str = "msg_2Lh9KRb2wBqEaRDWd3MoRz1sNoX",
    at: datetime | None = None,
) -> dict[str, str]:
    """
    The headers Svix sends with a webhook: its id, the Unix timestamp and `v1,<HMAC-SHA256>`.
    """
    stamp = str(int((at or datetime(2026, 11, 27, 10, 0, tzinfo=UTC)).timestamp()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{stamp}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "svix-id": message_id,
        "svix-timestamp": stamp,
        "svix-signature": f"v1,{digest}",
        "content-type": "application/json",
    }


def resend_event(kind: str, **data: Any) -> bytes:
    """
    A Resend webhook body as its documentation shows them.
    """
    document = {
        "type": kind,
        "created_at": "2026-11-27T09:59:58.000Z",
        "data": {
            "created_at": "2026-11-27T09:58:00.000Z",
            "email_id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c",
            "from": "Shop <orders@shop.example.com>",
            "to": ["shopper@example.org"],
            "subject": "You left something behind",
            **data,
        },
    }
    return json.dumps(document).encode()
