"""
The Twilio channel against a local server that checks each request as Twilio's Messages API
documents it (`formats.md` §7.4; `twilio_oai_api_v2010_messages_create_excerpt.json`): the
path with a valid AccountSid, HTTP Basic with the account's SID and token, a form-encoded body,
`To` in E.164, exactly one of `From` and `MessagingServiceSid`, a `Body` of at most 1,600
characters, an absolute `StatusCallback` URL. It answers 201 with the captured response, or
the errors Twilio gives (400 with 21211 or 21610, 429, 500).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from cartback.bootstrap import Container
from cartback.channels.sms import TwilioAccount, TwilioChannel
from cartback.domain.consent import Channel
from cartback.domain.ports import OutboundMessage
from cartback.domain.touches import SendFailed, StatusUnknown
from cartback.services.sms_config import configure_sms
from cartback.services.stores import CreatedStore
from cartback.settings import SmsBackend

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"
CREATED = json.loads((FIXTURES / "message_create_response_queued.json").read_text("utf-8"))
ACCOUNT = "AC" + "a" * 32
TOKEN = "0123456789abcdef0123456789abcdef"
NUMBER = "+14155550100"
SERVICE = "MG" + "b" * 32
SHOPPER = "+14155550123"
CALLBACK = "https://cb.example.com/webhooks/twilio/st_1/status?touch=tch_1"
_PATH = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-fA-F]{32})/Messages\.json")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@dataclass
class FakeTwilio:
    """
    The local Messages API: what it received, what it found wrong, what it answers next.
    """

    url: str = ""
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    delay: float = 0.0
    tokens: dict[str, str] = field(default_factory=lambda: {ACCOUNT: TOKEN})


def _check(twilio: FakeTwilio, path: str, headers: Any, body: bytes) -> list[str]:
    """
    What Twilio's documentation says this request gets wrong.
    """
    found: list[str] = []
    match = _PATH.fullmatch(urlsplit(path).path)
    if match is None:
        return [f"path {path} is not /2010-04-01/Accounts/AC…/Messages.json"]
    sid = match.group(1)
    expected = base64.b64encode(f"{sid}:{twilio.tokens.get(sid, '?')}".encode()).decode()
    if headers.get("Authorization") != f"Basic {expected}":
        found.append("not HTTP Basic with the AccountSid and its auth token")
    if headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
        found.append("not application/x-www-form-urlencoded")
    form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    if any(len(values) != 1 for values in form.values()):
        found.append("a field given twice")
    if not _E164.fullmatch(form.get("To", [""])[0]):
        found.append("To is not E.164")
    if ("From" in form) == ("MessagingServiceSid" in form):
        found.append("not exactly one of From and MessagingServiceSid")
    if not 1 <= len(form.get("Body", [""])[0]) <= 1600:
        found.append("Body empty or over 1600 characters")
    callback = form.get("StatusCallback", [None])[0]
    if callback is not None and urlsplit(callback).scheme not in ("http", "https"):
        found.append("StatusCallback is not an absolute URL")
    unknown = set(form) - {"To", "From", "MessagingServiceSid", "Body", "StatusCallback"}
    if unknown:
        found.append(f"unexpected fields {sorted(unknown)}")
    return found


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    """
    A local Twilio Messages API on a free port.
    """
    state = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            violations = _check(state, self.path, self.headers, body)
            state.violations.extend(violations)
            state.requests.append(parse_qs(body.decode("utf-8"), keep_blank_values=True))
            time.sleep(state.delay)
            if violations:
                status, answer = 400, {"code": 0, "message": "; ".join(violations)}
            elif state.answers:
                status, answer = state.answers.pop(0)
            else:
                status, answer = 201, CREATED
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _message(**overrides: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "store_id": "st_1",
        "touch_id": "tch_1",
        "channel": Channel.SMS,
        "to": SHOPPER,
        "subject": None,
        "text": "Test Shop: your cart is waiting: https://cb.example.com/s/ABCDEFGHJ",
        "status_callback": CALLBACK,
        **overrides,
    }
    return OutboundMessage(**values)


@pytest.fixture
def channel_factory(twilio: FakeTwilio) -> Iterator[Callable[..., TwilioChannel]]:
    """
    Channels on the local API, with the store's account (override sender, URL, timeout).
    """
    made: list[TwilioChannel] = []

    def make(
        *, sender: str | None = NUMBER, api_url: str | None = None, timeout: float = 5.0
    ) -> TwilioChannel:
        account = TwilioAccount(account_sid=ACCOUNT, auth_token=TOKEN, sender=sender)
        channel = TwilioChannel(
            account_for=lambda _store_id: account,
            api_url=api_url or twilio.url,
            timeout=httpx.Timeout(timeout),
        )
        made.append(channel)
        return channel

    yield make
    for channel in made:
        channel.close()


def test_a_text_is_created_as_twilio_documents_and_answers_the_sid(
    twilio: FakeTwilio, channel_factory: Callable[..., TwilioChannel]
) -> None:
    """
    To, From, Body and StatusCallback go form-encoded with Basic auth; the 201's sid comes back.
    """
    # given
    channel = channel_factory()

    # when
    sid = channel.send(_message(), "tch_1")

    # then
    assert CREATED["sid"] == sid
    assert [] == twilio.violations
    assert [
        {
            "To": [SHOPPER],
            "From": [NUMBER],
            "Body": [_message().text],
            "StatusCallback": [CALLBACK],
        }
    ] == twilio.requests


def test_a_messaging_service_sender_goes_as_messaging_service_sid(
    twilio: FakeTwilio, channel_factory: Callable[..., TwilioChannel]
) -> None:
    """
    An `MG…` sender is sent as `MessagingServiceSid`, with no `From`.
    """
    # given
    channel = channel_factory(sender=SERVICE)

    # when
    channel.send(_message(), "tch_1")

    # then
    assert [] == twilio.violations
    assert [SERVICE] == twilio.requests[0]["MessagingServiceSid"]
    assert "From" not in twilio.requests[0]


def test_unicode_text_is_sent_as_written(
    twilio: FakeTwilio, channel_factory: Callable[..., TwilioChannel]
) -> None:
    """
    Arabic, Japanese and emoji arrive intact in the form body.
    """
    # given
    text = "متجر: سلتك بانتظارك 🛒 カートはこちら https://cb.example.com/s/ABCDEFGHJ"

    # when
    channel_factory().send(_message(text=text), "tch_1")

    # then
    assert [text] == twilio.requests[0]["Body"]


@pytest.mark.parametrize(
    ("code", "message", "suppress"),
    [
        (21211, "The 'To' number +1415555 is not a valid phone number.", None),
        (21610, "Attempt to send to unsubscribed recipient", "sms_stop"),
    ],
)
def test_a_400_with_twilios_error_fails_permanently_with_its_code(
    twilio: FakeTwilio,
    channel_factory: Callable[..., TwilioChannel],
    code: int,
    message: str,
    suppress: str | None,
) -> None:
    """
    Twilio's JSON error makes a permanent failure `twilio_<code>` with its message as detail.
    """
    # given
    error = {"code": code, "message": message, "more_info": "https://x", "status": 400}
    twilio.answers.append((400, error))

    # when
    with pytest.raises(SendFailed) as raised:
        channel_factory().send(_message(), "tch_1")

    # then
    failed = raised.value
    assert (f"twilio_{code}", False, message, suppress) == (
        failed.reason,
        failed.transient,
        failed.detail,
        failed.suppress,
    )


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_transient(
    twilio: FakeTwilio, channel_factory: Callable[..., TwilioChannel], status: int
) -> None:
    """
    429 and 5xx may be retried.
    """
    # given
    twilio.answers.append((status, {"code": 20429 if status == 429 else 20500, "message": "x"}))

    # when
    with pytest.raises(SendFailed) as raised:
        channel_factory().send(_message(), "tch_1")

    # then
    assert raised.value.transient


def test_a_lost_answer_is_not_retried_but_left_to_the_status_callback(
    twilio: FakeTwilio, channel_factory: Callable[..., TwilioChannel]
) -> None:
    """
    The request went but no answer came within the timeout: Twilio may have taken it, so the
    channel says it cannot tell (the touch is parked), not "try again" (a second text).
    """
    # given
    twilio.delay = 0.5

    # when / then
    with pytest.raises(StatusUnknown):
        channel_factory(timeout=0.1).send(_message(), "tch_1")
    assert 1 == len(twilio.requests)


def test_an_unreachable_api_is_transient(channel_factory: Callable[..., TwilioChannel]) -> None:
    """
    A refused connection: a transient failure.
    """
    # given: a port nothing listens on
    channel = channel_factory(api_url="http://127.0.0.1:9")

    # when
    with pytest.raises(SendFailed) as raised:
        channel.send(_message(), "tch_1")

    # then
    assert ("twilio_unreachable", True) == (raised.value.reason, raised.value.transient)


@pytest.mark.parametrize(
    ("overrides", "sender", "reason"),
    [
        ({"to": ""}, NUMBER, "no_address"),
        ({"to": "4155550123"}, NUMBER, "twilio_bad_number"),
        ({"text": "x" * 1601}, NUMBER, "twilio_bad_body"),
        ({}, None, "twilio_no_sender"),
    ],
)
def test_what_twilio_would_refuse_fails_before_any_request(
    twilio: FakeTwilio,
    channel_factory: Callable[..., TwilioChannel],
    overrides: dict[str, Any],
    sender: str | None,
    reason: str,
) -> None:
    """
    No number, a number not in E.164, a body over 1,600 characters, no sender: permanent,
    and nothing is sent.
    """
    # when
    with pytest.raises(SendFailed) as raised:
        channel_factory(sender=sender).send(_message(**overrides), "tch_1")

    # then
    assert (reason, False) == (raised.value.reason, raised.value.transient)
    assert [] == twilio.requests


def test_a_store_without_an_account_fails_permanently(twilio: FakeTwilio) -> None:
    """
    The resolver knows no account for the store: permanent, nothing sent.
    """
    # given
    channel = TwilioChannel(account_for=lambda _store_id: None, api_url=twilio.url)

    # when
    with pytest.raises(SendFailed) as raised:
        channel.send(_message(), "tch_1")

    # then
    assert ("twilio_no_account", False) == (raised.value.reason, raised.value.transient)
    assert [] == twilio.requests
    channel.close()


def test_status_cannot_be_looked_up(channel_factory: Callable[..., TwilioChannel]) -> None:
    """
    Twilio has no lookup by our key: an ambiguous touch waits for the status callback.
    """
    # when / then
    with pytest.raises(StatusUnknown):
        channel_factory().status("tch_1")


def test_the_container_sends_with_the_stores_own_account(
    twilio: FakeTwilio, container: Container, store: CreatedStore
) -> None:
    """
    `CARTBACK_SMS_BACKEND=twilio`: the container's SMS channel uses the store's account and
    sender, opened from its settings, against `CARTBACK_TWILIO_API_URL`.
    """
    # given
    container.settings.sms_backend = SmsBackend.TWILIO
    container.settings.twilio_api_url = twilio.url
    configure_sms(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=store.store.id,
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        sender=NUMBER,
    )
    channel = container.channels()[Channel.SMS]

    # when
    sid = channel.send(_message(store_id=store.store.id), "tch_1")

    # then
    assert CREATED["sid"] == sid
    assert [] == twilio.violations
    assert isinstance(channel, TwilioChannel)
    channel.close()


def test_the_container_falls_back_to_the_service_wide_account(
    container: Container, store: CreatedStore
) -> None:
    """
    A store without its own account sends with `CARTBACK_TWILIO_ACCOUNT_SID`/`_AUTH_TOKEN`;
    without those either, it has none (its texts fail `twilio_no_account`).
    """
    # given
    before = container.twilio_account(store.store.id)
    container.settings.twilio_account_sid = ACCOUNT
    container.settings.twilio_auth_token = SecretStr(TOKEN)

    # when
    account = container.twilio_account(store.store.id)

    # then
    assert before is None
    assert TwilioAccount(account_sid=ACCOUNT, auth_token=TOKEN, sender=None) == account
