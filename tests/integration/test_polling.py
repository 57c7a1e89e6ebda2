"""
Polling the shops' REST APIs (`services/polling.py`, `sources/_woocommerce_api.py`,
`sources/_magento_api.py`) against a local HTTP server that pages, filters and fails the way
WooCommerce and Magento do, on each database: every page stored, the cursor moved only after a
page is committed (a crash re-reads a page, never skips it), `modified_after` honoured, a 429
retried after its `Retry-After`, a 500 and a 401 failing cleanly; then the pure retry policy.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.domain.errors import InvalidInput
from cartback.domain.ingest import Inbound, IngestReport
from cartback.domain.ports import UnitOfWorkFactory
from cartback.domain.time import Clock
from cartback.services.polling import (
    FeedSummary,
    IngestMessages,
    configure_polling,
    ingest_page,
    poll_store,
    polling_target,
)
from cartback.services.stores import CreatedStore, get_store
from cartback.sources import _magento_api, _woocommerce_api
from cartback.sources._rest import (
    PlatformAuthFailed,
    PlatformError,
    RetryDecision,
    RetryPolicy,
    retry_after_seconds,
)
from helpers import auth

FIXTURES = Path(__file__).parents[1] / "fixtures"
KEY, SECRET, TOKEN = "ck_test_key", "cs_test_secret", "magento-integration-token"
TODAY = "2026-11-27"


# --- a local shop ---------------------------------------------------------------------------


@dataclass
class FakeShop:
    """
    A shop's REST API on 127.0.0.1: WooCommerce orders (`modified_after` strict, ordered by
    `date_modified_gmt`, `X-WP-TotalPages`) and Magento quotes and orders (`searchCriteria`
    filters, sort and pages, `total_count`). `failures` maps a request's number (1 for the
    first) to the status and headers to answer it with instead.
    """

    orders: list[dict[str, Any]] = field(default_factory=list)
    quotes: list[dict[str, Any]] = field(default_factory=list)
    magento_orders: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[int, tuple[int, dict[str, str]]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    total_pages_header: bool = True
    url: str = ""

    def answer(
        self, path: str, query: dict[str, str], authorization: str
    ) -> tuple[int, dict[str, str], Any]:
        self.requests.append((path, query, authorization))
        failure = self.failures.get(len(self.requests))
        if failure is not None:
            return failure[0], failure[1], {"code": "failure", "message": "injected"}
        if path == "/wp-json/wc/v3/orders":
            return self._woocommerce(query, authorization)
        if path in ("/rest/V1/carts/search", "/rest/V1/orders"):
            return self._magento(path, query, authorization)
        return 404, {}, {"code": "rest_no_route"}

    def _woocommerce(
        self, query: dict[str, str], authorization: str
    ) -> tuple[int, dict[str, str], Any]:
        expected = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
        if authorization != expected:
            return 401, {}, {"code": "woocommerce_rest_cannot_view", "data": {"status": 401}}
        after = query["modified_after"]
        assert "true" == query["dates_are_gmt"]
        assert ("modified", "asc") == (query["orderby"], query["order"])
        found = sorted(
            (o for o in self.orders if o["date_modified_gmt"] > after),
            key=lambda o: (o["date_modified_gmt"], o["id"]),
        )
        size, page = int(query["per_page"]), int(query["page"])
        pages = math.ceil(len(found) / size)
        headers = {"X-WP-Total": str(len(found)), "X-WP-TotalPages": str(pages)}
        return (
            200,
            headers if self.total_pages_header else {},
            found[(page - 1) * size : page * size],
        )

    def _magento(
        self, path: str, query: dict[str, str], authorization: str
    ) -> tuple[int, dict[str, str], Any]:
        if authorization != f"Bearer {TOKEN}":
            return 401, {}, {"message": "The consumer isn't authorized to access %resources."}
        rows = self.quotes if path.endswith("carts/search") else self.magento_orders
        for index in range(4):
            prefix = f"searchCriteria[filterGroups][{index}][filters][0]"
            if f"{prefix}[field]" not in query:
                break
            name, value = query[f"{prefix}[field]"], query[f"{prefix}[value]"]
            condition = query[f"{prefix}[conditionType]"]
            rows = [r for r in rows if _matches(r.get(name), value, condition)]
        assert "updated_at" == query["searchCriteria[sortOrders][0][field]"]
        rows = sorted(rows, key=lambda r: (r["updated_at"], r.get("id", r.get("entity_id"))))
        size = int(query["searchCriteria[pageSize]"])
        page = int(query["searchCriteria[currentPage]"])
        items = rows[(page - 1) * size : page * size]
        return 200, {}, {"items": items, "search_criteria": {}, "total_count": len(rows)}


def _matches(actual: Any, value: str, condition: str) -> bool:
    if condition == "gteq":
        return str(actual) >= value
    if condition == "eq":
        return str(int(actual) if isinstance(actual, bool) else actual) == value
    raise AssertionError(f"unexpected condition {condition}")


@pytest.fixture
def shop_api() -> Iterator[FakeShop]:
    """
    The fake shop, served by a thread for the test.
    """
    shop = FakeShop()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            status, headers, body = shop.answer(
                parts.path, query, self.headers.get("Authorization", "")
            )
            encoded = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    shop.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield shop
    server.shutdown()
    server.server_close()
    thread.join()


def wc_order(order_id: int, minute: int, status: str = "pending", **changes: Any) -> dict[str, Any]:
    """
    Order 727 of WooCommerce's documentation as order `order_id`, changed at 09:`minute` today.
    """
    document: dict[str, Any] = json.loads(
        (FIXTURES / "woocommerce" / "order_retrieve_v3_docs.json").read_text()
    )
    document.update(
        id=order_id,
        number=str(order_id),
        status=status,
        cart_hash=f"hash-{order_id}",
        date_modified_gmt=f"{TODAY}T09:{minute:02d}:00",
    )
    document["billing"]["email"] = f"shopper{order_id}@example.com"
    document.update(changes)
    return document


@pytest.fixture
def woo_store(
    container: Container, store_factory: Callable[..., CreatedStore], shop_api: FakeShop
) -> CreatedStore:
    """
    A WooCommerce store whose API is the fake shop, with five pending orders changed 09:01-09:05.
    """
    created = store_factory(platform="woocommerce", country="US")
    configure_polling(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=created.store.id,
        url=shop_api.url,
        credentials={"consumer_key": KEY, "consumer_secret": SECRET},
    )
    shop_api.orders = [wc_order(100 + n, n) for n in range(1, 6)]
    return created


@dataclass
class Poller:
    """
    Polls a store through its stored configuration, with pages of `per_page` and a sleep that
    only records how long it was asked to wait.
    """

    container: Container
    store_id: str
    per_page: int = 2
    sleeps: list[float] = field(default_factory=list)

    def __call__(
        self, *, since: datetime | None = None, ingest_messages: IngestMessages = ingest_page
    ) -> list[FeedSummary]:
        target = polling_target(
            uow=self.container.uow_factory(), box=self.container.box, store_id=self.store_id
        )
        store = target.store
        if store.platform.value == "woocommerce":
            rest = _woocommerce_api.client(
                url=target.url,
                consumer_key=target.credentials["consumer_key"],
                consumer_secret=target.credentials["consumer_secret"],
                sleep=self.sleeps.append,
            )
            feeds: list[Any] = [
                _woocommerce_api.WooCommerceOrders(
                    rest, default_region="US", currency="USD", per_page=self.per_page
                )
            ]
        else:
            rest = _magento_api.client(
                url=target.url, token=target.credentials["token"], sleep=self.sleeps.append
            )
            options: dict[str, Any] = {
                "default_region": "US",
                "currency": "USD",
                "page_size": self.per_page,
            }
            feeds = [
                _magento_api.MagentoQuotes(rest, **options),
                _magento_api.MagentoOrders(rest, **options),
            ]
        try:
            return poll_store(
                uow_factory=self.container.uow_factory,
                clock=self.container.clock,
                store_id=self.store_id,
                feeds=feeds,
                since=since,
                ingest_messages=ingest_messages,
            )
        finally:
            rest.close()

    def cursors(self) -> dict[str, str]:
        store = get_store(uow=self.container.uow_factory(read_only=True), store_id=self.store_id)
        section = store.settings[store.platform.value]
        assert isinstance(section, dict)
        return dict(section.get("cursors") or {})


@pytest.fixture
def poll(container: Container, woo_store: CreatedStore) -> Poller:
    """
    Polls the WooCommerce store.
    """
    return Poller(container=container, store_id=woo_store.store.id)


def _cart(client: TestClient, store: CreatedStore, cart_id: str) -> dict[str, Any] | None:
    response = client.get(f"/v1/carts/{cart_id}", headers=auth(store.secret_key))
    if response.status_code == 404:
        return None
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def _carts(client: TestClient, store: CreatedStore) -> list[str]:
    return [f"hash-{100 + n}" for n in range(1, 6) if _cart(client, store, f"hash-{100 + n}")]


# --- WooCommerce ----------------------------------------------------------------------------


def test_every_page_is_read_and_every_order_stored(
    poll: Poller, shop_api: FakeShop, client: TestClient, woo_store: CreatedStore
) -> None:
    """
    Five orders in pages of two are all stored; the cursor is the latest change seen.
    """
    # when
    (summary,) = poll()
    # then
    assert (5, 0) == (summary.stored, summary.invalid)
    assert [f"hash-{100 + n}" for n in range(1, 6)] == _carts(client, woo_store)
    assert {"orders": f"{TODAY}T09:05:00+00:00"} == poll.cursors()


def test_the_next_poll_asks_only_for_what_changed_since_the_cursor(
    poll: Poller, shop_api: FakeShop, client: TestClient, woo_store: CreatedStore
) -> None:
    """
    The next poll asks from the cursor's second (re-reading it as duplicates) and stores the
    one order paid since.
    """
    # given
    poll()
    shop_api.orders[2] = wc_order(103, 30, status="processing")
    asked_before = len(shop_api.requests)
    # when
    (summary,) = poll()
    # then
    first_query = shop_api.requests[asked_before][1]
    assert f"{TODAY}T09:04:59" == first_query["modified_after"]
    assert (1, 1) == (summary.stored, summary.duplicates)
    cart = _cart(client, woo_store, "hash-103")
    assert cart is not None
    assert "converted" == cart["status"]
    assert {"orders": f"{TODAY}T09:30:00+00:00"} == poll.cursors()


def test_the_first_poll_starts_one_recovery_window_ago(
    poll: Poller, shop_api: FakeShop, container: Container
) -> None:
    """
    With no cursor, the poll reads from one recovery window (7 days) back: older carts can no
    longer be recovered.
    """
    # when
    poll()
    # then
    start = container.clock.now() - timedelta(days=7) - timedelta(seconds=1)
    assert start.strftime("%Y-%m-%dT%H:%M:%S") == shop_api.requests[0][1]["modified_after"]


def test_a_429_is_retried_after_the_time_it_asks(poll: Poller, shop_api: FakeShop) -> None:
    """
    A 429 with `Retry-After: 3` is waited out once, then the poll goes on.
    """
    # given
    shop_api.failures = {1: (429, {"Retry-After": "3"})}
    # when
    (summary,) = poll()
    # then
    assert ([3.0], 5) == (poll.sleeps, summary.stored)


def test_a_500_fails_the_poll_and_keeps_the_cursor_of_the_pages_stored(
    poll: Poller, shop_api: FakeShop, client: TestClient, woo_store: CreatedStore
) -> None:
    """
    A 500 on the second page stops the poll with a clear error; the first page stays stored
    and the cursor stays at it, so the next poll resumes there.
    """
    # given
    shop_api.failures = {2: (500, {})}
    # when
    with pytest.raises(PlatformError) as raised:
        poll()
    # then
    assert "WooCommerce answered HTTP 500 at http://127.0.0.1:" in raised.value.detail
    assert {"orders": f"{TODAY}T09:02:00+00:00"} == poll.cursors()
    shop_api.failures = {}
    poll()
    assert [f"hash-{100 + n}" for n in range(1, 6)] == _carts(client, woo_store)


def test_a_401_fails_with_a_message_about_the_credentials(
    container: Container, poll: Poller, woo_store: CreatedStore, shop_api: FakeShop
) -> None:
    """
    Credentials the shop refuses fail at once (no retry), saying so, never showing the secret.
    """
    # given
    configure_polling(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=woo_store.store.id,
        url=shop_api.url,
        credentials={"consumer_key": KEY, "consumer_secret": "cs_wrong_secret"},
    )
    # when
    with pytest.raises(PlatformAuthFailed) as raised:
        poll()
    # then
    assert "refused the credentials (HTTP 401)" in raised.value.detail
    assert "cs_wrong_secret" not in raised.value.detail
    assert (1, []) == (len(shop_api.requests), poll.sleeps)


def test_a_crash_between_pages_re_reads_the_page_instead_of_skipping_it(
    poll: Poller, shop_api: FakeShop, client: TestClient, woo_store: CreatedStore
) -> None:
    """
    When storing the second page fails, the cursor stays at the first page; the next poll
    reads the second page again and nothing is skipped.
    """
    # given
    calls: list[int] = []

    def failing_on_second_page(
        *,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        store_id: str,
        messages: Sequence[Inbound],
    ) -> IngestReport:
        calls.append(len(messages))
        if len(calls) == 2:
            raise RuntimeError("the process died here")
        return ingest_page(
            uow_factory=uow_factory, clock=clock, store_id=store_id, messages=messages
        )

    # when
    with pytest.raises(RuntimeError):
        poll(ingest_messages=failing_on_second_page)
    # then
    assert ["hash-101", "hash-102"] == _carts(client, woo_store)
    assert {"orders": f"{TODAY}T09:02:00+00:00"} == poll.cursors()
    asked_before = len(shop_api.requests)
    poll()
    assert f"{TODAY}T09:01:59" == shop_api.requests[asked_before][1]["modified_after"]
    assert [f"hash-{100 + n}" for n in range(1, 6)] == _carts(client, woo_store)


def test_since_re_reads_older_changes_without_moving_the_cursor_back(
    poll: Poller, shop_api: FakeShop
) -> None:
    """
    `since` re-reads from an earlier moment (all duplicates here); the cursor never goes back.
    """
    # given
    poll()
    # when
    (summary,) = poll(since=datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    # then
    assert (0, summary.read) == (summary.stored, summary.duplicates)
    assert {"orders": f"{TODAY}T09:05:00+00:00"} == poll.cursors()


def test_many_orders_changed_in_one_second_are_all_read(
    poll: Poller, shop_api: FakeShop, client: TestClient, woo_store: CreatedStore
) -> None:
    """
    More orders than a page changed in the same second are read by page number, not skipped.
    """
    # given
    shop_api.orders = [wc_order(100 + n, 1) for n in range(1, 6)]
    # when
    (summary,) = poll()
    # then
    assert 5 == summary.stored
    assert [f"hash-{100 + n}" for n in range(1, 6)] == _carts(client, woo_store)


def test_an_order_the_source_cannot_read_is_counted_and_skipped(
    poll: Poller, shop_api: FakeShop
) -> None:
    """
    One broken order does not stop the poll: it is counted as invalid, the others are stored.
    """
    # given
    shop_api.orders[0] = wc_order(101, 1, total="lots")
    # when
    (summary,) = poll()
    # then
    assert (4, 1) == (summary.stored, summary.invalid)


def test_without_the_total_pages_header_a_full_page_means_more(
    poll: Poller, shop_api: FakeShop, client: TestClient, woo_store: CreatedStore
) -> None:
    """
    A proxy that drops `X-WP-TotalPages` does not stop the poll after the first full page.
    """
    # given
    shop_api.total_pages_header = False
    # when
    (summary,) = poll()
    # then
    assert 5 == summary.stored
    assert [f"hash-{100 + n}" for n in range(1, 6)] == _carts(client, woo_store)


def test_an_unreachable_shop_is_retried_then_reported(
    container: Container, woo_store: CreatedStore, poll: Poller
) -> None:
    """
    A connection that fails is retried with backoff a bounded number of times, then reported
    as unreachable.
    """
    # given
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    configure_polling(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=woo_store.store.id,
        url=closed,
        credentials={"consumer_key": KEY, "consumer_secret": SECRET},
    )
    # when
    with pytest.raises(PlatformError) as raised:
        poll()
    # then
    assert raised.value.detail.startswith(f"cannot reach {closed}/wp-json/wc/v3/orders")
    assert [1.0, 2.0, 4.0, 8.0] == poll.sleeps


def test_a_url_that_is_not_the_shop_reports_what_answered(
    container: Container, woo_store: CreatedStore, poll: Poller, shop_api: FakeShop
) -> None:
    """
    A URL where no WooCommerce answers (a 404) is reported with the address asked.
    """
    # given
    configure_polling(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=woo_store.store.id,
        url=shop_api.url + "/blog",
        credentials={"consumer_key": KEY, "consumer_secret": SECRET},
    )
    # when
    with pytest.raises(PlatformError) as raised:
        poll()
    # then
    assert f"WooCommerce answered HTTP 404 at {shop_api.url}/blog/wp-json/wc/v3/orders" == (
        raised.value.detail
    )


# --- Magento --------------------------------------------------------------------------------


@pytest.fixture
def magento_store(
    container: Container, store_factory: Callable[..., CreatedStore], shop_api: FakeShop
) -> CreatedStore:
    """
    A Magento store whose API is the fake shop: quotes 4 (cart) and 5 (checkout), inactive
    quote 6, and order 3 placed from quote 4.
    """
    created = store_factory(platform="magento", country="US")
    configure_polling(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=created.store.id,
        url=shop_api.url,
        credentials={"token": TOKEN},
    )
    cart = json.loads((FIXTURES / "magento" / "quote_cart_docs.json").read_text())
    checkout = json.loads((FIXTURES / "magento" / "quote_checkout_docs.json").read_text())
    inactive = copy.deepcopy(cart) | {
        "id": 6,
        "is_active": False,
        "updated_at": f"{TODAY} 09:52:00",
    }
    shop_api.quotes = [
        cart | {"updated_at": f"{TODAY} 09:50:00"},
        checkout | {"updated_at": f"{TODAY} 09:51:00"},
        inactive,
    ]
    order = json.loads((FIXTURES / "magento" / "order_docs_excerpt.json").read_text())
    shop_api.magento_orders = [order | {"updated_at": f"{TODAY} 09:55:00"}]
    return created


def test_magento_quotes_and_orders_feed_the_carts(
    container: Container, magento_store: CreatedStore, shop_api: FakeShop, client: TestClient
) -> None:
    """
    Active quotes become carts (keyed by quote id), the order converts its quote's cart, the
    inactive quote is not asked for, and each feed keeps its own cursor.
    """
    # given
    poll = Poller(container=container, store_id=magento_store.store.id, per_page=1)
    # when
    carts_summary, orders_summary = poll()
    # then
    assert (2, 1) == (carts_summary.stored, orders_summary.stored)
    states = {key: _cart(client, magento_store, key) for key in ("4", "5", "6")}
    assert {"4": "converted", "5": "active", "6": None} == {
        key: cart["status"] if cart else None for key, cart in states.items()
    }
    assert {
        "carts": f"{TODAY}T09:51:00+00:00",
        "orders": f"{TODAY}T09:55:00+00:00",
    } == poll.cursors()


def test_magento_is_asked_with_search_criteria_and_the_token(
    container: Container, magento_store: CreatedStore, shop_api: FakeShop
) -> None:
    """
    Quotes are asked changed at or after the cursor, active only, oldest first, with the
    integration token as a Bearer token.
    """
    # given
    poll = Poller(container=container, store_id=magento_store.store.id)
    # when
    poll()
    # then
    path, query, authorization = shop_api.requests[0]
    assert ("/rest/V1/carts/search", f"Bearer {TOKEN}") == (path, authorization)
    assert {
        "searchCriteria[filterGroups][0][filters][0][field]": "updated_at",
        "searchCriteria[filterGroups][0][filters][0][conditionType]": "gteq",
        "searchCriteria[filterGroups][1][filters][0][field]": "is_active",
        "searchCriteria[filterGroups][1][filters][0][value]": "1",
        "searchCriteria[sortOrders][0][direction]": "ASC",
        "searchCriteria[currentPage]": "1",
    }.items() <= query.items()


def test_magento_rest_root_may_name_a_store_view() -> None:
    """
    A URL that already names a REST root (a store view's code) is used as it is.
    """
    # when
    roots = [
        _magento_api.api_root("https://shop.example.com/"),
        _magento_api.api_root("https://shop.example.com/rest/fr"),
    ]
    # then
    assert ["https://shop.example.com/rest", "https://shop.example.com/rest/fr"] == roots


# --- configuration --------------------------------------------------------------------------


def test_credentials_are_sealed_at_rest_and_opened_for_polling(
    container: Container, woo_store: CreatedStore, shop_api: FakeShop
) -> None:
    """
    The stored settings hold the URL and sealed credentials, never the secret itself.
    """
    # when
    store = get_store(uow=container.uow_factory(read_only=True), store_id=woo_store.store.id)
    target = polling_target(
        uow=container.uow_factory(), box=container.box, store_id=woo_store.store.id
    )
    # then
    assert SECRET not in json.dumps(store.settings)
    assert (shop_api.url, {"consumer_key": KEY, "consumer_secret": SECRET}) == (
        target.url,
        target.credentials,
    )


@pytest.mark.parametrize(
    ("platform", "url", "credentials", "fields"),
    [
        ("magento", "https://shop.example.com", {"consumer_key": KEY}, ["token", "consumer_key"]),
        (
            "woocommerce",
            "ftp://shop.example.com",
            {"consumer_key": KEY, "consumer_secret": SECRET},
            ["url"],
        ),
        ("woocommerce", "https://shop.example.com", {"consumer_key": KEY}, ["consumer_secret"]),
        ("custom", "https://shop.example.com", {"token": TOKEN}, ["platform"]),
    ],
    ids=["wrong credential", "not http", "missing secret", "not polled"],
)
def test_configuration_refuses_what_cannot_work(
    container: Container,
    store_factory: Callable[..., CreatedStore],
    platform: str,
    url: str,
    credentials: dict[str, str],
    fields: list[str],
) -> None:
    """
    A URL that is not http(s), a missing credential, one the platform does not use, or a
    platform that is not polled is refused with every field named.
    """
    # given
    created = store_factory(platform=platform)
    # when
    with pytest.raises(InvalidInput) as raised:
        configure_polling(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            store_id=created.store.id,
            url=url,
            credentials=credentials,
        )
    # then
    assert fields == [e.path for e in raised.value.errors]


# --- the retry policy (pure) ----------------------------------------------------------------

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempt", "status", "retry_after", "expected"),
    [
        (1, 429, None, RetryDecision(retry=True, delay=1.0)),
        (3, 429, None, RetryDecision(retry=True, delay=4.0)),
        (1, 429, "3", RetryDecision(retry=True, delay=3.0)),
        (3, 429, "1", RetryDecision(retry=True, delay=4.0)),
        (1, 503, "Fri, 27 Nov 2026 10:00:30 GMT", RetryDecision(retry=True, delay=30.0)),
        (1, 429, "3600", RetryDecision(retry=False)),
        (1, None, None, RetryDecision(retry=True, delay=1.0)),
        (5, 429, None, RetryDecision(retry=False)),
        (1, 500, None, RetryDecision(retry=False)),
        (1, 401, None, RetryDecision(retry=False)),
        (1, 404, "1", RetryDecision(retry=False)),
    ],
    ids=[
        "429 backoff",
        "429 third attempt",
        "Retry-After seconds",
        "backoff longer than asked",
        "Retry-After date",
        "asks too long",
        "connection failed",
        "attempts used up",
        "500",
        "401",
        "404",
    ],
)
def test_the_retry_policy_decides_from_status_attempt_and_retry_after(
    attempt: int, status: int | None, retry_after: str | None, expected: RetryDecision
) -> None:
    """
    Only throttling, gateway errors and failed connections are retried, a bounded number of
    times, after the longer of the backoff and what the server asked, if it asked reasonably.
    """
    # given
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=60.0)
    # when
    decision = policy.decide(attempt=attempt, status=status, retry_after=retry_after, now=NOW)
    # then
    assert expected == decision


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        ("Fri, 27 Nov 2026 10:01:00 GMT", 60.0),
        ("Fri, 27 Nov 2026 09:59:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date(
    header: str | None, expected: float | None
) -> None:
    """
    `Retry-After` is delta-seconds or an HTTP date (a date in the past means now).
    """
    # when
    seconds = retry_after_seconds(header, now=NOW)
    # then
    assert expected == seconds
