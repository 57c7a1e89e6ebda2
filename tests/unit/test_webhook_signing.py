"""
Standard Webhooks signatures on what Cartback sends (checked with our own inbound verifier and
with the reference `standardwebhooks` library), and the retry policy of a delivery.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cartback.domain.errors import Unauthenticated
from cartback.domain.webhooks import (
    MAX_RETRY_AFTER,
    RETRY_SCHEDULE,
    AttemptResult,
    Delivered,
    GiveUp,
    RetryAt,
    after_attempt,
    retry_after,
    sign,
    signed_headers,
)
from cartback.kit.keys import generate_webhook_secret
from cartback.sources import _standard_webhooks
from cartback.sources._webhooks import Delivery

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
BODY = json.dumps({"type": "cart.abandoned", "data": {"cart_id": "c1"}}).encode()


def _delivery(headers: dict[str, str], body: bytes) -> Delivery:
    return Delivery(
        platform="cartback",
        store_id="st_receiver",
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
        received_at=NOW,
    )


def test_our_signature_verifies_with_the_inbound_verifier() -> None:
    """
    The verifier Cartback uses for Magento's Standard Webhooks accepts what we send.
    """
    # given
    secret = generate_webhook_secret()
    # when
    headers = signed_headers(secret, message_id="msg_1", sent_at=NOW, body=BODY)
    # then
    assert "msg_1" == _standard_webhooks.verify(_delivery(headers, BODY), [secret], now=NOW)


def test_a_changed_body_or_another_secret_does_not_verify() -> None:
    """
    The signature covers the body and depends on the secret.
    """
    secret = generate_webhook_secret()
    headers = signed_headers(secret, message_id="msg_1", sent_at=NOW, body=BODY)
    with pytest.raises(Unauthenticated):
        _standard_webhooks.verify(_delivery(headers, BODY + b" "), [secret], now=NOW)
    other = generate_webhook_secret()
    with pytest.raises(Unauthenticated):
        _standard_webhooks.verify(_delivery(headers, BODY), [other], now=NOW)


def test_our_signature_verifies_with_the_reference_library() -> None:
    """
    `standardwebhooks` (the spec's Python library) verifies our headers.
    """
    secret = generate_webhook_secret()
    sent_at = datetime.now(UTC)  # the library checks the timestamp against its own clock
    headers = signed_headers(secret, message_id="msg_2", sent_at=sent_at, body=BODY)
    assert {"type": "cart.abandoned", "data": {"cart_id": "c1"}} == Webhook(secret).verify(
        BODY, headers
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_webhook_secret()).verify(BODY, headers)


def test_the_signature_matches_the_reference_library_byte_for_byte() -> None:
    """
    Same id, timestamp, body and secret: the same `v1,…` string.
    """
    secret = generate_webhook_secret()
    expected = Webhook(secret).sign("msg_3", NOW, BODY.decode())
    assert expected == sign(secret, message_id="msg_3", timestamp=int(NOW.timestamp()), body=BODY)


def test_a_2xx_answer_is_delivered() -> None:
    """
    Any 2xx counts.
    """
    for code in (200, 202, 204):
        assert isinstance(
            after_attempt(AttemptResult(status_code=code), attempts=1, now=NOW), Delivered
        )


def test_failures_follow_the_schedule_then_give_up() -> None:
    """
    5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then failed; errors without an answer too.
    """
    # given
    failure = AttemptResult(status_code=500)
    # when
    waits = [after_attempt(failure, attempts=n, now=NOW) for n in range(1, len(RETRY_SCHEDULE) + 1)]
    last = after_attempt(AttemptResult(error="timed out"), attempts=8, now=NOW)
    # then
    assert [NOW + wait for wait in RETRY_SCHEDULE] == [
        w.at for w in waits if isinstance(w, RetryAt)
    ]
    assert GiveUp(reason="timed out") == last


def test_retry_after_is_honoured_on_429_and_503_only() -> None:
    """
    A 429 or 503 asking for 120 s waits 120 s; a 500 with the header follows the schedule.
    """
    asked = AttemptResult(status_code=429, retry_after="120")
    assert RetryAt(at=NOW + timedelta(seconds=120)) == after_attempt(asked, attempts=1, now=NOW)
    busy = AttemptResult(status_code=503, retry_after="Fri, 27 Nov 2026 10:30:00 GMT")
    assert RetryAt(at=NOW + timedelta(minutes=30)) == after_attempt(busy, attempts=1, now=NOW)
    other = AttemptResult(status_code=500, retry_after="120")
    assert RetryAt(at=NOW + RETRY_SCHEDULE[0]) == after_attempt(other, attempts=1, now=NOW)


def test_retry_after_is_bounded_and_unreadable_values_are_ignored() -> None:
    """
    Between one second and a day; garbage falls back to the schedule.
    """
    assert MAX_RETRY_AFTER == retry_after("999999999", now=NOW)
    assert timedelta(seconds=1) == retry_after("0", now=NOW)
    assert retry_after("soon", now=NOW) is None
    garbage = AttemptResult(status_code=429, retry_after="soon")
    assert RetryAt(at=NOW + RETRY_SCHEDULE[1]) == after_attempt(garbage, attempts=2, now=NOW)
