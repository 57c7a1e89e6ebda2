"""
`POST /v1/capture` through the real HTTP app and database: what a capture stores (contact,
visitor, cart link, ledger rows with their evidence), what it refuses (autofill, bad fields,
foreign origins, wrong keys, floods) and what it silently drops (honeypots, crawlers); and
Global Privacy Control on the ingestion path.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Table, select, text

from cartback.api.app import create_app
from cartback.bootstrap import Container, bootstrap
from cartback.engine.clock import SimulatedClock
from cartback.services.stores import CreatedStore
from cartback.settings import Settings
from cartback.store.tables import contacts, visitors
from helpers import assert_problem, auth, identify, track

ORIGIN = "https://shop.example.com"
HUMAN = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
EMAIL_TEXT = "Save my cart and email me a link to come back."
SMS_TEXT = "Text me my checkout link. Msg & data rates may apply. Reply STOP to opt out."
TABLES = ("contacts", "visitors", "consent_ledger", "sms_confirmations", "carts")


def _body(store: CreatedStore, **fields: Any) -> dict[str, Any]:
    body = {
        "writeKey": store.public_key,
        "anonymous_id": "anon-1",
        "email": "Ann@Example.com",
        "action": "submitted",
        "widget": "cart_page",
        "consents": [_consent()],
        "locale": "de-DE",
        "website": "",
        **fields,
    }
    return {k: v for k, v in body.items() if v is not None}


def _consent(**overrides: Any) -> dict[str, Any]:
    return {
        "channel": "email",
        "purpose": "recovery",
        "granted": True,
        "text": EMAIL_TEXT,
        "text_version": "cart_page.email.v1",
        **overrides,
    }


def _post(client: TestClient, body: Any, **headers: str) -> Any:
    """
    Send a capture as the widget does: `text/plain`, from the shop's page, in a browser.
    """
    sent = {"Origin": ORIGIN, "User-Agent": HUMAN, "Content-Type": "text/plain", **headers}
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post("/v1/capture", content=content, headers=sent)


def _rows(container: Container, sql: Any, **params: Any) -> list[Any]:
    statement = text(sql) if isinstance(sql, str) else sql
    with container.engine.connect() as connection:
        return list(connection.execute(statement, params).all())


def _opt_outs(container: Container, table: Table, **where: str) -> list[Any]:
    """
    `ads_opt_out_at` of a table's rows (typed, so SQLite's text comes back as a datetime).
    """
    query = select(table.c.ads_opt_out_at).where(*(table.c[k] == v for k, v in where.items()))
    return [row[0] for row in _rows(container, query)]


def _counts(container: Container) -> dict[str, int]:
    return {t: _rows(container, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}  # noqa: S608


def test_a_capture_stores_the_contact_and_the_ledger_row_with_its_evidence(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    200 `{"success": true}` with CORS for the shop; the contact (email lower-cased), its
    visitor, and a ledger row with the exact words, version, locale, client address, user
    agent and widget.
    """
    # when
    response = _post(client, _body(store))
    # then
    assert (200, {"success": True}, ORIGIN) == (
        response.status_code,
        response.json(),
        response.headers.get("access-control-allow-origin"),
    )
    [(contact_id, email)] = _rows(container, "SELECT id, email FROM contacts")
    ledger = _rows(
        container,
        "SELECT contact_id, channel, purpose, granted, text, text_version, locale, client_ip,"
        " user_agent, source FROM consent_ledger",
    )
    assert "ann@example.com" == email
    assert [
        (
            contact_id,
            "email",
            "recovery",
            True,
            EMAIL_TEXT,
            "cart_page.email.v1",
            "de-DE",
            "testclient",
            HUMAN,
            "cart_page",
        )
    ] == [(*row[:3], bool(row[3]), *row[4:]) for row in ledger]
    assert [contact_id] == [r[0] for r in _rows(container, "SELECT contact_id FROM visitors")]


def test_a_decline_is_recorded_as_not_granted(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    "No thanks" to marketing is a ledger row saying so, beside the recovery grant.
    """
    # given
    body = _body(store, consents=[_consent(), _consent(purpose="marketing", granted=False)])
    # when
    response = _post(client, body)
    # then
    rows = _rows(container, "SELECT purpose, granted FROM consent_ledger ORDER BY purpose")
    assert (200, [("marketing", False), ("recovery", True)]) == (
        response.status_code,
        [(p, bool(g)) for p, g in rows],
    )


def test_a_phone_is_stored_in_e164_read_in_the_stores_country(
    client: TestClient, store_factory: Callable[..., CreatedStore], container: Container
) -> None:
    """
    A German shop's `0151 23456789` is `+4915123456789`; the SMS grant is in the ledger.
    """
    # given
    shop = store_factory(country="DE")
    sms = _consent(channel="sms", text=SMS_TEXT)
    # when
    _post(client, _body(shop, email=None, phone="0151 23456789", consents=[sms]))
    # then
    assert ([("+4915123456789",)], [("sms", 1)]) == (
        [tuple(r) for r in _rows(container, "SELECT phone FROM contacts")],
        [(c, int(g)) for c, g in _rows(container, "SELECT channel, granted FROM consent_ledger")],
    )


def test_the_visitors_cart_is_linked_to_the_contact(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    The cart the snippet tracked for this browser belongs to the contact once it is captured,
    and the read API shows the contact's email.
    """
    # given
    event = {**track("Product Added", cart_id="c-1", product_id="mug", price=5)}
    tracked = client.post(
        "/v1/t", json={**event, "writeKey": store.public_key}, headers={"Origin": ORIGIN}
    )
    assert 200 == tracked.status_code
    # when
    _post(client, _body(store, cart_id="c-1"))
    # then
    cart = client.get("/v1/carts/c-1", headers=auth(store.secret_key)).json()
    assert "ann@example.com" == cart["contact"]["email"]


def test_a_cart_id_from_another_visitor_without_contact_is_linked(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    A cart known by id only (tracked under another anonymous id, nobody identified) is linked.
    """
    # given
    event = track("Product Added", anonymous_id="anon-x", cart_id="c-2", product_id="mug")
    client.post("/v1/t", json={**event, "writeKey": store.public_key}, headers={"Origin": ORIGIN})
    # when
    _post(client, _body(store, cart_id="c-2"))
    # then
    cart = client.get("/v1/carts/c-2", headers=auth(store.secret_key)).json()
    assert "ann@example.com" == cart["contact"]["email"]


@pytest.mark.parametrize("action", ["autofill", "typed", "", 1])
def test_anything_but_a_shoppers_own_action_is_refused(
    client: TestClient, store: CreatedStore, container: Container, action: Any
) -> None:
    """
    Autofill alone (or any other action) is a 400 naming `action`, and nothing is stored.
    """
    # given
    before = _counts(container)
    # when
    response = _post(client, _body(store, action=action))
    # then
    problem = assert_problem(response, 400)
    assert (["action"], before) == ([e["path"] for e in problem["errors"]], _counts(container))


@pytest.mark.parametrize("action", ["submitted", "checkout_field"])
def test_both_shopper_actions_are_accepted(
    client: TestClient, store: CreatedStore, action: str
) -> None:
    """
    A submitted widget and a left checkout field both count.
    """
    # when
    response = _post(client, _body(store, action=action, widget="checkout"))
    # then
    assert 200 == response.status_code


@pytest.mark.parametrize("honeypot", ["http://spam.example", " ", 1, True])
def test_a_filled_honeypot_looks_like_success_and_stores_nothing(
    client: TestClient, store: CreatedStore, container: Container, honeypot: Any
) -> None:
    """
    The hidden `website` field filled in: the same answer as a capture, no row anywhere.
    """
    # given
    before = _counts(container)
    # when
    response = _post(client, _body(store, website=honeypot))
    # then
    assert (200, {"success": True}, before) == (
        response.status_code,
        response.json(),
        _counts(container),
    )


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0",
        "python-requests/2.32",
    ],
)
def test_a_crawler_looks_like_success_and_stores_nothing(
    client: TestClient, store: CreatedStore, container: Container, user_agent: str
) -> None:
    """
    Crawlers and headless browsers get `{"success": true}` and leave no row.
    """
    # given
    before = _counts(container)
    # when
    response = _post(client, _body(store), **{"User-Agent": user_agent})
    # then
    assert (200, {"success": True}, before) == (
        response.status_code,
        response.json(),
        _counts(container),
    )


BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"email": "ann@"}, "email"),
    ({"email": "ann example.com"}, "email"),
    ({"email": "a" * 321}, "email"),
    ({"email": ["ann@example.com"]}, "email"),
    ({"email": None}, "email"),
    ({"email": None, "phone": "12345", "consents": []}, "phone"),
    ({"email": None, "phone": "+1 555", "consents": []}, "phone"),
    ({"phone": "call me"}, "phone"),
    ({"widget": "popup"}, "widget"),
    ({"widget": None}, "widget"),
    ({"anonymous_id": None}, "anonymous_id"),
    ({"anonymous_id": "a" * 256}, "anonymous_id"),
    ({"cart_id": 42}, "cart_id"),
    ({"locale": "not a locale"}, "locale"),
    ({"gpc": "1"}, "gpc"),
    ({"cookie_consent": "yes"}, "cookie_consent"),
    ({"utm_source": "x"}, "utm_source"),
    ({"consents": "email"}, "consents"),
    ({"consents": [_consent(text="")]}, "consents[0].text"),
    ({"consents": [_consent(text="   ")]}, "consents[0].text"),
    ({"consents": [_consent(text="x" * 2001)]}, "consents[0].text"),
    ({"consents": [_consent(text="I agree\x00")]}, "consents[0].text"),
    ({"anonymous_id": "anon\x00"}, "anonymous_id"),
    ({"consents": [{**_consent(), "text": None}]}, "consents[0].text"),
    ({"consents": [_consent(granted=1)]}, "consents[0].granted"),
    ({"consents": [_consent(channel="push")]}, "consents[0].channel"),
    ({"consents": [_consent(purpose="profiling")]}, "consents[0].purpose"),
    ({"consents": [_consent(text_version="v" * 65)]}, "consents[0].text_version"),
    ({"consents": [_consent(source="banner")]}, "consents[0].source"),
    ({"consents": [_consent(checked=True)]}, "consents[0].checked"),
    ({"consents": [_consent(channel="sms")]}, "consents[0].channel"),
    ({"consents": [_consent(), _consent()]}, "consents[1]"),
    ({"consents": [None]}, "consents[0]"),
]


@pytest.mark.parametrize(("fields", "path"), BAD_FIELDS)
def test_invalid_input_is_a_400_naming_the_field_and_stores_nothing(
    client: TestClient,
    store: CreatedStore,
    container: Container,
    fields: dict[str, Any],
    path: str,
) -> None:
    """
    Every invalid field is listed by path in an RFC 9457 problem the page can read; no table
    changes.
    """
    # given
    before = _counts(container)
    # when (a field given as None is left out)
    response = _post(client, _body(store, **fields))
    # then
    problem = assert_problem(response, 400)
    assert (True, ORIGIN, before) == (
        path in [e["path"] for e in problem["errors"]],
        response.headers.get("access-control-allow-origin"),
        _counts(container),
    )


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"", 400),
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (b"[1, 2]", 400),
        (b'"just a string"', 400),
        (b"x" * (16 * 1024 + 1), 413),
    ],
)
def test_a_malformed_body_is_a_problem(
    client: TestClient, store: CreatedStore, container: Container, content: bytes, status: int
) -> None:
    """
    Empty, not JSON, not UTF-8, not an object, over 16 KB: refused, nothing stored.
    """
    # given
    before = _counts(container)
    # when
    response = client.post(
        f"/v1/capture?writeKey={store.public_key}",
        content=content,
        headers={"Origin": ORIGIN, "Content-Type": "text/plain"},
    )
    # then
    assert_problem(response, status)
    assert before == _counts(container)


def test_a_gzipped_capture_is_accepted(client: TestClient, store: CreatedStore) -> None:
    """
    `Content-Encoding: gzip` is read as on `/v1/t`.
    """
    # when
    response = client.post(
        "/v1/capture",
        content=gzip.compress(orjson.dumps(_body(store))),
        headers={"Origin": ORIGIN, "Content-Encoding": "gzip", "User-Agent": HUMAN},
    )
    # then
    assert 200 == response.status_code


def test_a_foreign_origin_is_forbidden_and_opaque(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    A page on another site gets 403 without CORS headers, and nothing is stored.
    """
    # when
    response = _post(client, _body(store), Origin="https://evil.example.net")
    # then
    assert_problem(response, 403)
    assert (None, dict.fromkeys(TABLES, 0)) == (
        response.headers.get("access-control-allow-origin"),
        _counts(container),
    )


def test_a_subdomain_of_the_store_is_allowed(client: TestClient, store: CreatedStore) -> None:
    """
    `www.shop.example.com` is the store's too.
    """
    # when
    response = _post(client, _body(store), Origin="https://www.shop.example.com")
    # then
    assert 200 == response.status_code


@pytest.mark.parametrize("key", ["cb_pk_unknown", "", None, 7])
def test_an_unknown_or_missing_key_is_401_readable_by_the_page(
    client: TestClient, store: CreatedStore, container: Container, key: Any
) -> None:
    """
    401 with the Origin echoed, so the widget can tell; nothing stored.
    """
    # given
    body = {**_body(store), "writeKey": key}
    # when
    response = _post(client, body)
    # then
    assert_problem(response, 401)
    assert (ORIGIN, 0) == (
        response.headers.get("access-control-allow-origin"),
        _counts(container)["contacts"],
    )


def test_a_server_key_is_refused(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    The secret key must never be in a page: 403, nothing stored.
    """
    # when
    response = _post(client, {**_body(store), "writeKey": store.secret_key})
    # then
    assert_problem(response, 403)
    assert 0 == _counts(container)["contacts"]


def test_another_stores_key_cannot_write_here(
    client: TestClient, store_factory: Callable[..., CreatedStore], container: Container
) -> None:
    """
    Another store's public key, sent from this shop's origin, is refused (its domains differ).
    """
    # given
    store_factory()
    other = store_factory(domains=["other.example.org"])
    # when
    response = _post(client, _body(other))
    # then
    assert_problem(response, 403)


@pytest.fixture
def limited_client(
    database_url: str, clock: SimulatedClock, settings_factory: Callable[..., Settings]
) -> Iterator[TestClient]:
    """
    An API allowing a burst of two browser requests per key and address, then almost none.
    """
    settings = settings_factory(database_url, public_rate=0.001, public_burst=2)
    built = bootstrap(settings, clock=clock)
    try:
        with TestClient(create_app(built), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        built.close()


def test_a_flood_of_captures_is_rate_limited(
    limited_client: TestClient, store: CreatedStore
) -> None:
    """
    Past its burst a key and address get 429 with `Retry-After`, readable by the page.
    """
    # given
    for _ in range(2):
        assert 200 == _post(limited_client, _body(store)).status_code
    # when
    response = _post(limited_client, _body(store))
    # then
    assert_problem(response, 429)
    assert (True, ORIGIN) == (
        response.headers["retry-after"].isdigit(),
        response.headers.get("access-control-allow-origin"),
    )


def test_the_preflight_allows_a_json_capture(client: TestClient) -> None:
    """
    `fetch` with `application/json` asks first; the preflight says yes to POST.
    """
    # when
    response = client.options(
        "/v1/capture",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    # then
    assert (204, ORIGIN, "POST, OPTIONS") == (
        response.status_code,
        response.headers["access-control-allow-origin"],
        response.headers["access-control-allow-methods"],
    )


@pytest.mark.parametrize(
    ("headers", "fields"),
    [
        ({"Sec-GPC": "1"}, {}),
        ({}, {"gpc": True}),
        ({}, {"cookie_consent": "denied"}),
    ],
)
def test_a_no_to_ads_marks_visitor_and_contact(
    client: TestClient,
    store: CreatedStore,
    container: Container,
    clock: SimulatedClock,
    headers: dict[str, str],
    fields: dict[str, Any],
) -> None:
    """
    GPC (header or body) or a denied cookie consent set `ads_opt_out_at` on both.
    """
    # when
    _post(client, _body(store, **fields), **headers)
    # then
    assert [clock.now(), clock.now()] == [
        *_opt_outs(container, visitors),
        *_opt_outs(container, contacts),
    ]


def test_without_a_no_to_ads_nothing_is_marked(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    Cookie consent granted and no GPC leave `ads_opt_out_at` empty.
    """
    # when
    _post(client, _body(store, cookie_consent="granted", gpc=False))
    # then
    assert ([None], [None]) == (_opt_outs(container, visitors), _opt_outs(container, contacts))


def test_double_opt_in_leaves_a_pending_confirmation_and_no_ledger_grant(
    client: TestClient, store_factory: Callable[..., CreatedStore], container: Container
) -> None:
    """
    With SMS double opt-in, the SMS grant waits for YES in `sms_confirmations` with its words
    and evidence; the ledger has no SMS row.
    """
    # given
    shop = store_factory(country="US", sms_double_opt_in=True)
    sms = _consent(channel="sms", text=SMS_TEXT, text_version="post_abandon.sms.v1")
    # when
    response = _post(
        client,
        _body(shop, email=None, phone="(415) 555-0100", widget="post_abandon", consents=[sms]),
    )
    # then
    pending = _rows(
        container,
        "SELECT phone, purpose, text, text_version, source, client_ip, user_agent, confirmed_at"
        " FROM sms_confirmations",
    )
    assert (200, 0) == (response.status_code, _counts(container)["consent_ledger"])
    assert [
        (
            "+14155550100",
            "recovery",
            SMS_TEXT,
            "post_abandon.sms.v1",
            "post_abandon",
            "testclient",
            HUMAN,
            None,
        )
    ] == [tuple(r) for r in pending]


# Global Privacy Control on the ingestion path


def _visitor_opt_out(container: Container, anonymous_id: str) -> Any:
    [opted_out] = _opt_outs(container, visitors, anonymous_id=anonymous_id)
    return opted_out


def test_a_browser_batch_with_sec_gpc_marks_its_visitor(
    client: TestClient, store: CreatedStore, container: Container, clock: SimulatedClock
) -> None:
    """
    `/v1/t` with `Sec-GPC: 1` opts the visitor out of ads; another visitor stays in.
    """
    # given
    body = {"writeKey": store.public_key, "batch": [track("Cart Viewed", anonymous_id="gpc-1")]}
    other = {"writeKey": store.public_key, "batch": [track("Cart Viewed", anonymous_id="n-1")]}
    # when
    client.post("/v1/t", json=body, headers={"Origin": ORIGIN, "Sec-GPC": "1"})
    client.post("/v1/t", json=other, headers={"Origin": ORIGIN})
    # then
    assert (clock.now(), None) == (
        _visitor_opt_out(container, "gpc-1"),
        _visitor_opt_out(container, "n-1"),
    )


@pytest.mark.parametrize(
    "body",
    [
        {"context": {"gpc": True}, "batch": [track("Cart Viewed", anonymous_id="gpc-2")]},
        {"batch": [{**track("Cart Viewed", anonymous_id="gpc-2"), "context": {"gpc": True}}]},
        {**identify(anonymous_id="gpc-2"), "context": {"gpc": True}},
    ],
)
def test_context_gpc_marks_the_visitor(
    client: TestClient,
    store: CreatedStore,
    container: Container,
    clock: SimulatedClock,
    body: dict[str, Any],
) -> None:
    """
    `context.gpc: true` on the batch, on a message, or on a single message does the same.
    """
    # when
    response = client.post(
        "/v1/t", json={**body, "writeKey": store.public_key}, headers={"Origin": ORIGIN}
    )
    # then
    assert (200, clock.now()) == (response.status_code, _visitor_opt_out(container, "gpc-2"))


def test_the_first_opt_out_time_is_kept(
    client: TestClient, store: CreatedStore, container: Container, clock: SimulatedClock
) -> None:
    """
    A later GPC batch does not move the time of the first.
    """
    # given
    first = clock.now()
    body = {"writeKey": store.public_key, "batch": [track("Cart Viewed", anonymous_id="gpc-3")]}
    client.post("/v1/t", json=body, headers={"Origin": ORIGIN, "Sec-GPC": "1"})
    clock.advance(timedelta(hours=1))
    # when
    body["batch"] = [track("Cart Viewed", anonymous_id="gpc-3")]
    client.post("/v1/t", json=body, headers={"Origin": ORIGIN, "Sec-GPC": "1"})
    # then
    assert first == _visitor_opt_out(container, "gpc-3")


def test_a_servers_sec_gpc_header_speaks_for_nobody(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    On `/v1/batch` (a server key) the header is the server's, not the shopper's: ignored.
    """
    # when
    client.post(
        "/v1/batch",
        json={"batch": [track("Cart Viewed", anonymous_id="srv-1")]},
        headers={**auth(store.secret_key), "Sec-GPC": "1"},
    )
    # then
    assert None is _visitor_opt_out(container, "srv-1")
