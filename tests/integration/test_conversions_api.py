"""
Meta Conversions API events for anonymous visitors, end to end on a real database: events go
in through `/v1/batch`, the worker pass sends them to a local server that checks each request
the way Meta documents its `events` edge (`POST /{version}/{pixel_id}/events`, form-encoded
`data` holding a JSON array of at most 1,000 server events, `access_token`; website events
need `action_source`, `event_source_url` and `client_user_agent`; customer fields hashed),
and that no contact detail is ever in them.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from cartback.bootstrap import Container, bootstrap
from cartback.channels.ads.capi import API_VERSION, MetaConversionsClient
from cartback.engine.clock import SimulatedClock
from cartback.services.ads_config import configure_meta
from cartback.services.conversions import ConversionReport, send_conversions
from cartback.services.stores import CreatedStore
from cartback.settings import Settings
from helpers import auth, identify, track

TOKEN = "EAAB-system-user-token-0123456789"
PIXEL = "123456789012345"
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PAGE = "https://shop.example.com/products/mug"
FBP = "fb.1.1764230400000.1234567890"
FBC = "fb.1.1764230400000.IwAR2abcDEF"
_HEX64 = re.compile(r"[0-9a-f]{64}")
#: Customer fields Meta accepts that Cartback must never send for an anonymous visitor.
CONTACT_FIELDS = {"em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country"}
SERVER_EVENT_KEYS = {
    "event_name",
    "event_time",
    "event_id",
    "action_source",
    "event_source_url",
    "user_data",
    "custom_data",
}


@dataclass
class FakeMeta:
    """
    The local Graph API `events` edge: what it received, what it found wrong, what it answers.
    """

    url: str = ""
    batches: list[list[dict[str, Any]]] = field(default_factory=list)
    forms: list[dict[str, list[str]]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    answers: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)


def _keys(value: Any) -> set[str]:
    """
    Every key anywhere in a JSON value.
    """
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


def _check_event(event: dict[str, Any]) -> list[str]:
    found = []
    if set(event) != SERVER_EVENT_KEYS:
        found.append(f"keys {sorted(event)}")
    if event.get("action_source") != "website":
        found.append("action_source is not website")
    if not str(event.get("event_source_url", "")).startswith("https://"):
        found.append("a website event without event_source_url")
    user = event.get("user_data", {})
    if not user.get("client_user_agent"):
        found.append("a website event without client_user_agent")
    if not all(_HEX64.fullmatch(h) for h in user.get("external_id", [""])):
        found.append("external_id is not SHA-256 hex")
    if CONTACT_FIELDS & _keys(event):
        found.append(f"contact fields {sorted(CONTACT_FIELDS & _keys(event))}")
    if not isinstance(event.get("event_time"), int):
        found.append("event_time is not unix seconds")
    return found


def _check(path: str, headers: Any, body: bytes) -> tuple[list[str], dict[str, list[str]]]:
    """
    What Meta's documentation says this request gets wrong, and its form.
    """
    if urlsplit(path).path != f"/{API_VERSION}/{PIXEL}/events":
        return [f"path {path}"], {}
    if "access_token" in urlsplit(path).query:
        return ["the token is in the URL"], {}
    if headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
        return ["not form-encoded"], {}
    form = parse_qs(body.decode("utf-8"), strict_parsing=True)
    found = []
    if form.get("access_token") != [TOKEN]:
        found.append("wrong or missing access_token")
    data = json.loads(form.get("data", ["null"])[0])
    if not isinstance(data, list) or not 1 <= len(data) <= 1000:
        return [*found, "data is not a JSON array of 1 to 1,000 events"], form
    for event in data:
        found.extend(_check_event(event))
    return found, form


@pytest.fixture
def meta() -> Iterator[FakeMeta]:
    """
    A local Conversions API on a free port; 200 with `events_received` unless told otherwise.
    """
    fake = FakeMeta()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            violations, form = _check(self.path, self.headers, body)
            fake.violations.extend(violations)
            fake.forms.append(form)
            data = json.loads(form.get("data", ["[]"])[0]) if form else []
            fake.batches.append(data)
            status, answer, headers = (
                fake.answers.pop(0)
                if fake.answers
                else (200, {"events_received": len(data), "fbtrace_id": "AbC"}, {})
            )
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def sender(meta: FakeMeta) -> Iterator[MetaConversionsClient]:
    """
    The real client, pointed at the local server.
    """
    client = MetaConversionsClient(api_url=meta.url)
    yield client
    client.close()


@pytest.fixture
def run_pass(
    container: Container, sender: MetaConversionsClient
) -> Callable[..., ConversionReport]:
    """
    One conversions pass over every store, as the worker runs it.
    """

    def run(limit: int = 5000) -> ConversionReport:
        return send_conversions(
            uow_factory=container.uow_factory,
            clock=container.clock,
            box=container.box,
            sender=sender,
            limit=limit,
        )

    return run


@pytest.fixture
def pixel_store(
    container: Container, store: CreatedStore, run_pass: Callable[..., ConversionReport]
) -> CreatedStore:
    """
    The store with a Meta pixel, its cursor started (at its latest event: none yet).
    """
    configure_meta(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=store.store.id,
        access_token=TOKEN,
        pixel_id=PIXEL,
    )
    assert [store.store.id] == run_pass().started
    return store


def _context(**overrides: Any) -> dict[str, Any]:
    return {
        "userAgent": BROWSER,
        "ip": "203.0.113.7",
        "page": {"url": PAGE},
        "fbp": FBP,
        "fbc": FBC,
        **overrides,
    }


def _send(client: TestClient, store: CreatedStore, *messages: dict[str, Any]) -> None:
    for start in range(0, len(messages), 500):
        response = client.post(
            "/v1/batch",
            json={"batch": list(messages[start : start + 500])},
            headers=auth(store.secret_key),
        )
        assert 200 == response.status_code, response.text


def _with(message: dict[str, Any], **context: Any) -> dict[str, Any]:
    return {**message, "context": _context(**context)}


def _cursor(container: Container, store: CreatedStore) -> Any:
    with container.uow_factory(read_only=True) as uow:
        found = uow.stores.get(store.store.id)
    assert found is not None
    return found.settings["ads"]["meta"].get("capi_cursor")  # type: ignore[index, union-attr]


def _latest_id(container: Container, store: CreatedStore) -> int:
    with container.uow_factory(read_only=True) as uow:
        return uow.events.last_id(store.store.id)


def test_a_fixed_set_of_events_is_sent_as_exactly_these_server_events(
    client: TestClient,
    clock: SimulatedClock,
    meta: FakeMeta,
    pixel_store: CreatedStore,
    run_pass: Callable[..., ConversionReport],
) -> None:
    """
    An add to cart (variant id from a Shopify storefront) and a checkout: one request whose
    `data` is exactly the two server events, with hashed anonymous ids and nothing else
    identifying.
    """
    # given
    at = clock.now() - timedelta(minutes=5)
    added = track(
        "Product Added",
        anonymous_id="Anon-7",
        message_id="msg-add-1",
        at=at,
        product_id="p-1",
        variant_id="gid://shopify/ProductVariant/4711",
        sku="MUG-BLUE",
        price="12.50",
        quantity=2,
        currency="eur",
    )
    started = track(
        "Checkout Started",
        anonymous_id="Anon-7",
        message_id="msg-checkout-1",
        at=at + timedelta(minutes=1),
        value="45.00",
        currency="EUR",
        products=[
            {"product_id": "p-1", "variant_id": "4711", "price": 12.5, "quantity": 2},
            {"sku": "TEE-1", "price": "20", "quantity": 1},
        ],
    )
    _send(client, pixel_store, _with(added), _with(started, fbc=None))
    # when
    report = run_pass()
    # then
    external = hashlib.sha256(b"anon-7").hexdigest()  # trimmed and lower-cased, as Meta's
    user = {
        "external_id": [external],
        "client_user_agent": BROWSER,
        "client_ip_address": "203.0.113.7",
        "fbp": FBP,
    }
    expected = [
        {
            "event_name": "AddToCart",
            "event_time": int(at.timestamp()),
            "event_id": "msg-add-1",
            "action_source": "website",
            "event_source_url": PAGE,
            "user_data": {**user, "fbc": FBC},
            "custom_data": {
                "content_type": "product",
                "content_ids": ["4711"],
                "contents": [{"id": "4711", "quantity": 2, "item_price": 12.5}],
                "currency": "EUR",
                "value": 25.0,
            },
        },
        {
            "event_name": "InitiateCheckout",
            "event_time": int((at + timedelta(minutes=1)).timestamp()),
            "event_id": "msg-checkout-1",
            "action_source": "website",
            "event_source_url": PAGE,
            "user_data": user,
            "custom_data": {
                "content_type": "product",
                "content_ids": ["4711", "TEE-1"],
                "contents": [
                    {"id": "4711", "quantity": 2, "item_price": 12.5},
                    {"id": "TEE-1", "quantity": 1, "item_price": 20.0},
                ],
                "currency": "EUR",
                "value": 45.0,
            },
        },
    ]
    assert [] == meta.violations
    assert [expected] == meta.batches
    assert (2, 1) == (report.sent, report.requests)


def test_a_known_visitor_is_sent_with_anonymous_identifiers_only(
    client: TestClient,
    container: Container,
    meta: FakeMeta,
    pixel_store: CreatedStore,
    run_pass: Callable[..., ConversionReport],
) -> None:
    """
    A visitor who gave an email, a phone and a user id: the request holds none of them, in
    clear or hashed, only the anonymous id's hash.
    """
    # given
    email, phone = "ann@example.com", "+14155550123"
    known = identify(anonymous_id="anon-ann", user_id="user-42", email=email, phone=phone)
    added = track("Product Added", anonymous_id="anon-ann", user_id="user-42", product_id="p-1")
    _send(client, pixel_store, known, _with(added))
    # when
    run_pass()
    # then
    sent = json.dumps(meta.batches)
    with container.uow_factory(read_only=True) as uow:
        by_email = uow.contacts.find(pixel_store.store.id, user_id=None, email=email, phone=None)
    contact = by_email[1]
    assert contact is not None
    secrets = [email, phone, "user-42", contact.id]
    secrets += [hashlib.sha256(v.encode()).hexdigest() for v in (email, phone[1:])]
    assert [] == meta.violations
    assert 1 == len(meta.batches[0])
    assert [] == [s for s in secrets if s in sent]


def test_2500_events_go_in_three_requests_and_the_cursor_reaches_the_last(
    client: TestClient,
    container: Container,
    meta: FakeMeta,
    pixel_store: CreatedStore,
    run_pass: Callable[..., ConversionReport],
) -> None:
    """
    Meta takes at most 1,000 events a request: 2,500 go as 1,000 + 1,000 + 500, and the
    cursor ends at the last raw event.
    """
    # given
    events = [
        _with(track("Product Added", anonymous_id=f"anon-{i % 50}", product_id=f"p-{i}"))
        for i in range(2500)
    ]
    _send(client, pixel_store, *events)
    # when
    report = run_pass()
    # then
    assert [] == meta.violations
    assert [1000, 1000, 500] == [len(b) for b in meta.batches]
    assert (2500, 3) == (report.sent, report.requests)
    assert _latest_id(container, pixel_store) == _cursor(container, pixel_store)


def test_the_cursor_moves_only_after_meta_accepted_the_batch(
    client: TestClient,
    container: Container,
    meta: FakeMeta,
    pixel_store: CreatedStore,
    run_pass: Callable[..., ConversionReport],
) -> None:
    """
    A 500 leaves the cursor where it was and the next pass sends the same events again; once
    accepted, the cursor moves and nothing is sent twice after.
    """
    # given
    before = _cursor(container, pixel_store)
    _send(client, pixel_store, _with(track("Product Added", message_id="m-1", product_id="p")))
    meta.answers.append((500, {"error": {"message": "Service unavailable", "code": 2}}, {}))
    # when
    failed = run_pass()
    cursor_after_failure = _cursor(container, pixel_store)
    run_pass()
    run_pass()
    # then
    assert (0, 1) == (failed.sent, failed.requests)
    assert before == cursor_after_failure
    assert [["m-1"], ["m-1"]] == [[e["event_id"] for e in b] for b in meta.batches]
    assert _latest_id(container, pixel_store) == _cursor(container, pixel_store)


def test_a_429_waits_for_retry_after_then_sends_on_a_later_pass(
    client: TestClient,
    clock: SimulatedClock,
    meta: FakeMeta,
    pixel_store: CreatedStore,
    run_pass: Callable[..., ConversionReport],
) -> None:
    """
    Rate limited with `Retry-After: 30`: a pass within 30 s sends nothing; the one after
    sends the batch again and Meta takes it.
    """
    # given
    _send(client, pixel_store, _with(track("Checkout Started", message_id="m-9", value="9")))
    limited = {"error": {"message": "Too many calls", "code": 4, "is_transient": True}}
    meta.answers.append((429, limited, {"Retry-After": "30"}))
    # when
    first = run_pass()
    clock.advance(timedelta(seconds=10))
    early = run_pass()
    clock.advance(timedelta(seconds=21))
    later = run_pass()
    # then
    assert ([pixel_store.store.id], 0) == (first.waiting, first.sent)
    assert ([pixel_store.store.id], 0) == (early.waiting, early.requests)
    assert (1, 1) == (later.sent, later.requests)
    assert 2 == len(meta.batches)


def test_a_malformed_batch_is_passed_over_but_a_refused_token_keeps_the_events(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    meta: FakeMeta,
    pixel_store: CreatedStore,
    run_pass: Callable[..., ConversionReport],
) -> None:
    """
    Meta's 400 "Invalid parameter" (code 100) moves the cursor on, so one bad event cannot
    block the store; an expired token (code 190) keeps the cursor and the store waits.
    """
    # given
    _send(client, pixel_store, _with(track("Product Added", message_id="bad", product_id="p")))
    meta.answers.append((400, {"error": {"message": "Invalid parameter", "code": 100}}, {}))
    run_pass()
    moved = _cursor(container, pixel_store)
    _send(client, pixel_store, _with(track("Product Added", message_id="ok", product_id="p")))
    meta.answers.append((400, {"error": {"message": "Session expired", "code": 190}}, {}))
    # when
    refused = run_pass()
    clock.advance(timedelta(minutes=1))
    waiting = run_pass()
    # then
    assert _latest_id(container, pixel_store) - 1 == moved
    assert moved == _cursor(container, pixel_store)
    assert ([pixel_store.store.id], [pixel_store.store.id]) == (refused.waiting, waiting.waiting)
    assert [["bad"], ["ok"]] == [[e["event_id"] for e in b] for b in meta.batches]


def test_opted_out_gpc_and_robot_visitors_are_skipped(
    client: TestClient,
    container: Container,
    meta: FakeMeta,
    pixel_store: CreatedStore,
    run_pass: Callable[..., ConversionReport],
) -> None:
    """
    A robot's event, an event saying GPC, a later event of the visitor GPC opted out, and one
    from an ordinary browser: only the last is sent, and the cursor passes them all.
    """
    # given
    bot = _with(track("Product Added", anonymous_id="anon-bot", product_id="p"), userAgent=CRAWLER)
    gpc = _with(track("Product Added", anonymous_id="anon-gpc", product_id="p"), gpc=True)
    later = _with(track("Checkout Started", anonymous_id="anon-gpc", value="5"))
    ordinary = _with(track("Product Added", anonymous_id="anon-ok", message_id="m-ok", sku="s"))
    _send(client, pixel_store, bot, gpc)
    _send(client, pixel_store, later, ordinary)
    # when
    report = run_pass()
    # then
    assert [["m-ok"]] == [[e["event_id"] for e in b] for b in meta.batches]
    assert {"bot": 1, "gpc": 1, "ads_opt_out": 1} == dict(report.skipped)
    assert _latest_id(container, pixel_store) == _cursor(container, pixel_store)


def test_a_store_without_a_pixel_sends_nothing(
    client: TestClient,
    container: Container,
    meta: FakeMeta,
    store_factory: Callable[..., CreatedStore],
    run_pass: Callable[..., ConversionReport],
) -> None:
    """
    One store with no Meta account, one with a token but no pixel: no request, no cursor.
    """
    # given
    bare, no_pixel = store_factory(), store_factory()
    configure_meta(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=no_pixel.store.id,
        access_token=TOKEN,
        ad_account_id="act_1",
    )
    for each in (bare, no_pixel):
        _send(client, each, _with(track("Product Added", product_id="p")))
    # when
    reports = [run_pass(), run_pass()]
    # then
    assert [] == meta.batches
    assert [[], []] == [r.started for r in reports]


def test_a_pixel_configured_later_starts_from_now_not_from_history(
    client: TestClient,
    container: Container,
    meta: FakeMeta,
    store: CreatedStore,
    run_pass: Callable[..., ConversionReport],
) -> None:
    """
    Events stored before the pixel was configured are never sent; the first one after is.
    """
    # given
    _send(client, store, _with(track("Product Added", message_id="old", product_id="p")))
    configure_meta(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=store.store.id,
        access_token=TOKEN,
        pixel_id=PIXEL,
    )
    run_pass()
    _send(client, store, _with(track("Product Added", message_id="new", product_id="p")))
    # when
    run_pass()
    # then
    assert [["new"]] == [[e["event_id"] for e in b] for b in meta.batches]


def test_the_test_event_code_goes_with_each_request(
    client: TestClient,
    container: Container,
    meta: FakeMeta,
    pixel_store: CreatedStore,
    run_pass: Callable[..., ConversionReport],
) -> None:
    """
    A store testing in Events Manager (`ads.meta.test_event_code`) sends its code as Meta's
    `test_event_code` field.
    """
    # given
    with container.uow_factory() as uow:
        found = uow.stores.get(pixel_store.store.id)
        assert found is not None
        found.settings["ads"]["meta"]["test_event_code"] = "TEST123"  # type: ignore[index]
        uow.stores.save(found)
        uow.commit()
    _send(client, pixel_store, _with(track("Product Added", product_id="p")))
    # when
    run_pass()
    # then
    assert [["TEST123"]] == [f.get("test_event_code") for f in meta.forms]


def test_the_worker_sends_new_events_through_the_container_wiring(
    client: TestClient,
    database_url: str,
    clock: SimulatedClock,
    settings_factory: Callable[..., Settings],
    meta: FakeMeta,
    pixel_store: CreatedStore,
) -> None:
    """
    A worker built by `bootstrap` with `CARTBACK_META_API_URL` at the local server runs the
    conversions pass as part of its loop.
    """
    # given
    _send(client, pixel_store, _with(track("Product Added", message_id="w-1", product_id="p")))
    built = bootstrap(settings_factory(database_url, meta_api_url=meta.url), clock=clock)
    try:
        worker = built.new_worker()
        # when
        worker.run(once=True)
    finally:
        built.close()
    # then
    assert [] == meta.violations
    assert [["w-1"]] == [[e["event_id"] for e in b] for b in meta.batches]
