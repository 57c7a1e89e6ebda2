"""
The Resend channel against a local HTTP server that checks each request as Resend's API
reference documents `POST /emails` (Bearer key, `Idempotency-Key`, the JSON fields) and answers
what the test asks for: 200 with an id, 422, 429, 500, and both kinds of 409.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cartback.channels.email.resend import ResendChannel
from cartback.domain.touches import SendFailed
from email_support import UNSUBSCRIBE, outbound_email

API_KEY = "re_test_0123456789abcdef"
#: The body fields `POST /emails` takes (https://resend.com/docs/api-reference/emails/send-email).
DOCUMENTED_FIELDS = {
    "from",
    "to",
    "subject",
    "bcc",
    "cc",
    "scheduled_at",
    "reply_to",
    "html",
    "text",
    "headers",
    "attachments",
    "tags",
}


@dataclass
class FakeResend:
    """
    What the server received, and the answers it gives, in order (then 200s).
    """

    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        self.requests.append({"method": method, "path": path, "headers": headers, "body": body})
        self.problems.extend(_problems(method, path, headers, body))
        if self.answers:
            return self.answers.pop(0)
        return 200, {"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}


def _problems(method: str, path: str, headers: dict[str, str], body: bytes) -> list[str]:
    """
    What in a request Resend's reference would not accept.
    """
    found: list[str] = []
    if (method, path) != ("POST", "/emails"):
        found.append(f"{method} {path}")
    if headers.get("authorization") != f"Bearer {API_KEY}":
        found.append("authorization")
    if not headers.get("content-type", "").startswith("application/json"):
        found.append("content-type")
    key = headers.get("idempotency-key", "")
    if not 1 <= len(key) <= 256:
        found.append("idempotency-key")
    document = json.loads(body)
    found.extend(f"field {name}" for name in set(document) - DOCUMENTED_FIELDS)
    for name in ("from", "to", "subject"):
        if not document.get(name):
            found.append(f"missing {name}")
    tags = document.get("tags", [])
    if any(set(tag) - {"name", "value"} for tag in tags):
        found.append("tags")
    return found


@pytest.fixture
def resend() -> Iterator[tuple[FakeResend, str]]:
    """
    A local stand-in for api.resend.com, and its URL.
    """
    fake = FakeResend()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, document = fake.answer("POST", self.path, headers, body)
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def channel(resend: tuple[FakeResend, str]) -> Iterator[ResendChannel]:
    """
    The channel pointed at the local server.
    """
    built = ResendChannel(api_key=API_KEY, api_url=resend[1])
    yield built
    built.close()


def test_a_send_posts_the_documented_request_and_returns_resends_id(
    resend: tuple[FakeResend, str], channel: ResendChannel
) -> None:
    """
    Bearer key, the touch id as Idempotency-Key, and from/to/subject/html/text/reply_to/headers.
    """
    # given
    fake, _ = resend
    message = outbound_email()

    # when
    provider_id = channel.send(message, message.touch_id)

    # then
    assert "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794" == provider_id
    assert [] == fake.problems
    request = fake.requests[0]
    assert message.touch_id == request["headers"]["idempotency-key"]
    body = json.loads(request["body"])
    assert message.email is not None
    assert {
        "from": "Café Shop <orders@shop.example.com>",
        "to": ["shopper@example.org"],
        "subject": "You left something behind",
        "html": message.email.html,
        "text": message.text,
        "reply_to": "help@shop.example.com",
        "headers": {
            "List-Unsubscribe": UNSUBSCRIBE,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Message-ID": "<tch_0123456789abcdefghjkm@shop.example.com>",
        },
        "tags": [{"name": "cartback_touch", "value": message.touch_id}],
    } == body


def test_without_a_reply_to_none_is_sent(
    resend: tuple[FakeResend, str], channel: ResendChannel
) -> None:
    """
    `reply_to` is left out rather than sent empty.
    """
    # when
    channel.send(outbound_email(envelope_reply_to=None), "tch_1")

    # then
    assert "reply_to" not in json.loads(resend[0].requests[0]["body"])


@pytest.mark.parametrize(
    ("status", "document", "reason", "transient"),
    [
        (
            422,
            {"statusCode": 422, "name": "validation_error", "message": "Invalid `to` field."},
            "resend_422",
            False,
        ),
        (
            429,
            {"statusCode": 429, "name": "rate_limit_exceeded", "message": "Too many requests."},
            "resend_429",
            True,
        ),
        (
            500,
            {"statusCode": 500, "name": "internal_server_error", "message": "Unexpected."},
            "resend_500",
            True,
        ),
        (
            409,
            {
                "statusCode": 409,
                "name": "concurrent_idempotent_requests",
                "message": "Same idempotency key used while original request is still in progress.",
            },
            "resend_409",
            True,
        ),
        (
            401,
            {"statusCode": 401, "name": "missing_api_key", "message": "Missing API key."},
            "resend_401",
            True,
        ),
        (
            403,
            {"statusCode": 403, "name": "invalid_from_address", "message": "Domain not verified."},
            "resend_403",
            True,
        ),
        (
            400,
            {"statusCode": 400, "name": "invalid_idempotency_key", "message": "Key too long."},
            "resend_400",
            False,
        ),
    ],
    ids=["422", "429", "500", "409-concurrent", "401", "403", "400"],
)
def test_errors_are_transient_or_permanent_with_resends_words(
    resend: tuple[FakeResend, str],
    channel: ResendChannel,
    status: int,
    document: dict[str, Any],
    reason: str,
    transient: bool,
) -> None:
    """
    The reason is `resend_<status>`; the error's name and message are the detail.
    """
    # given
    resend[0].answers.append((status, document))

    # when
    with pytest.raises(SendFailed) as raised:
        channel.send(outbound_email(), "tch_1")

    # then
    assert (reason, transient) == (raised.value.reason, raised.value.transient)
    assert f"{document['name']}: {document['message']}" == raised.value.detail


def test_a_key_already_used_means_the_email_went(
    resend: tuple[FakeResend, str], channel: ResendChannel
) -> None:
    """
    409 `invalid_idempotent_request`: sent under this touch before; a stable id, no failure.
    """
    # given
    resend[0].answers.append(
        (
            409,
            {
                "statusCode": 409,
                "name": "invalid_idempotent_request",
                "message": "Same idempotency key used with a different request payload.",
            },
        )
    )

    # when
    provider_id = channel.send(outbound_email(), "tch_0123456789abcdefghjkm")

    # then
    assert "resend-idempotent:tch_0123456789abcdefghjkm" == provider_id


def test_a_retry_sends_the_same_key(resend: tuple[FakeResend, str], channel: ResendChannel) -> None:
    """
    After a 500, the next call carries the same Idempotency-Key (Resend sends once).
    """
    # given
    fake, _ = resend
    fake.answers.append((500, {"name": "internal_server_error", "message": "Unexpected."}))
    with pytest.raises(SendFailed):
        channel.send(outbound_email(), "tch_1")

    # when
    channel.send(outbound_email(), "tch_1")

    # then
    assert ["tch_1", "tch_1"] == [r["headers"]["idempotency-key"] for r in fake.requests]


def test_an_unreachable_api_is_transient() -> None:
    """
    Nothing listens: `resend_network`, retried later.
    """
    # given
    channel = ResendChannel(api_key=API_KEY, api_url="http://127.0.0.1:9")

    # when
    with pytest.raises(SendFailed) as raised:
        channel.send(outbound_email(), "tch_1")
    channel.close()

    # then
    assert ("resend_network", True) == (raised.value.reason, raised.value.transient)


def test_an_email_without_its_envelope_is_refused_before_any_request(
    resend: tuple[FakeResend, str], channel: ResendChannel
) -> None:
    """
    Permanent `no_envelope`, and Resend is not called.
    """
    # when
    with pytest.raises(SendFailed) as raised:
        channel.send(outbound_email(email=None), "tch_1")

    # then
    assert ("no_envelope", False) == (raised.value.reason, raised.value.transient)
    assert [] == resend[0].requests


def test_status_is_none_so_the_dispatcher_sends_again_under_the_same_key(
    channel: ResendChannel,
) -> None:
    """
    Resend keeps keys for 24 hours: sending again is the safe lookup.
    """
    assert channel.status("tch_1") is None
