"""
`cartback sources shopify connect` as a merchant runs it, against a local server that answers
like a shop's Admin GraphQL API and checks each request as Shopify documents it (path, method,
`X-Shopify-Access-Token`, a JSON body with `query` and `variables`, topic enum names, an https
`uri` and the JSON format). The server keeps its subscriptions, so a second run creates nothing.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from harness import Cli, Server, free_port
from sqlalchemy import func, select

from cartback.kit.keys import SecretBox
from cartback.sources.shopify import signature
from cartback.store.database import create_database_engine
from cartback.store.tables import stores, webhook_secrets
from helpers import TEST_SECRET

pytestmark = pytest.mark.e2e

TOKEN = "shpat_0123456789abcdef0123456789abcdef"
API_VERSION = "2026-01"
BASE_URL = "https://cartback.example.com"
#: The WebhookSubscriptionTopic values this fake knows (a part of Shopify's enum).
KNOWN_TOPICS = frozenset(
    {
        "APP_UNINSTALLED", "CARTS_CREATE", "CARTS_UPDATE", "CHECKOUTS_CREATE", "CHECKOUTS_DELETE",
        "CHECKOUTS_UPDATE", "CUSTOMERS_CREATE", "ORDERS_CANCELLED", "ORDERS_CREATE", "ORDERS_PAID",
        "PRODUCTS_UPDATE",
    }
)  # fmt: skip
EXPECTED_TOPICS = [
    "CARTS_CREATE", "CARTS_UPDATE", "CHECKOUTS_CREATE", "CHECKOUTS_DELETE", "CHECKOUTS_UPDATE",
    "ORDERS_CANCELLED", "ORDERS_CREATE", "ORDERS_PAID", "APP_UNINSTALLED",
]  # fmt: skip


@dataclass
class FakeShop:
    """
    One shop's Admin GraphQL endpoint: its subscriptions, the requests it received, and the
    topics it refuses (to answer `userErrors`). Pages hold at most `page_size` subscriptions
    whatever `first` asks, so listing must follow the cursor.
    """

    subscriptions: list[dict[str, str]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    refused_topics: set[str] = field(default_factory=set)
    page_size: int = 4
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        """
        The status and JSON answer to one POST.
        """
        with self.lock:
            refusal = _refusal(path, headers)
            request = _graphql_request(body)
            if refusal is not None or request is None:
                return refusal or (400, {"errors": {"query": "Required parameter missing"}})
            self.requests.append(request)
            if "webhookSubscriptionCreate(" in request["query"]:
                return 200, self._create(request["variables"])
            if "webhookSubscriptions(" in request["query"]:
                return 200, self._list(request["variables"])
            return 200, {"errors": [{"message": "Field doesn't exist on type 'QueryRoot'"}]}

    def _list(self, variables: dict[str, Any]) -> dict[str, Any]:
        first = variables.get("first")
        if not isinstance(first, int) or not 1 <= first <= 250:
            return {"errors": [{"message": "first must be between 1 and 250"}]}
        start = int(variables.get("after") or 0)
        page = self.subscriptions[start : start + min(first, self.page_size)]
        end = start + len(page)
        return {
            "data": {
                "webhookSubscriptions": {
                    "nodes": page,
                    "pageInfo": {
                        "hasNextPage": end < len(self.subscriptions),
                        "endCursor": str(end) if page else None,
                    },
                }
            }
        }

    def _create(self, variables: dict[str, Any]) -> dict[str, Any]:
        topic = variables.get("topic")
        subscription = variables.get("webhookSubscription") or {}
        if topic not in KNOWN_TOPICS:
            return {"errors": [{"message": f"Variable $topic was provided invalid value {topic}"}]}
        uri, fmt = subscription.get("uri"), subscription.get("format")
        if not isinstance(uri, str) or not uri.startswith("https://") or fmt != "JSON":
            return {"errors": [{"message": "webhookSubscription needs an https uri and JSON"}]}
        errors = []
        if topic in self.refused_topics:
            errors.append({"field": ["topic"], "message": "Access denied for this topic"})
        if any(s["topic"] == topic and s["uri"] == uri for s in self.subscriptions):
            errors.append(
                {
                    "field": ["webhookSubscription", "uri"],
                    "message": "Address has already been taken",
                }
            )
        if errors:
            return {
                "data": {
                    "webhookSubscriptionCreate": {"webhookSubscription": None, "userErrors": errors}
                }
            }
        node = {
            "id": f"gid://shopify/WebhookSubscription/{uuid.uuid4().int % 10**12}",
            "topic": topic,
            "uri": uri,
        }
        self.subscriptions.append(node)
        return {
            "data": {"webhookSubscriptionCreate": {"webhookSubscription": node, "userErrors": []}}
        }

    def created_topics(self) -> list[str]:
        """
        The topic of each create request, in order.
        """
        return [
            r["variables"]["topic"]
            for r in self.requests
            if "webhookSubscriptionCreate(" in r["query"]
        ]


def _refusal(path: str, headers: dict[str, str]) -> tuple[int, Any] | None:
    """
    Shopify's answer to a request at the wrong path, without the token, or not in JSON.
    """
    if path != f"/admin/api/{API_VERSION}/graphql.json":
        return 404, {"errors": "Not Found"}
    if headers.get("x-shopify-access-token") != TOKEN:
        message = "[API] Invalid API key or access token (unrecognized login or wrong password)"
        return 401, {"errors": message}
    if not headers.get("content-type", "").startswith("application/json"):
        return 415, {"errors": "Content-Type must be application/json"}
    return None


def _graphql_request(body: bytes) -> dict[str, Any] | None:
    """
    The `{query, variables}` object of a GraphQL POST, or None when the body is not one.
    """
    try:
        request = json.loads(body)
    except ValueError:
        return None
    valid = (
        isinstance(request, dict)
        and isinstance(request.get("query"), str)
        and isinstance(request.get("variables"), dict)
    )
    return request if valid else None


@pytest.fixture
def fake_shop() -> Iterator[tuple[FakeShop, str]]:
    """
    The fake shop served on 127.0.0.1, and its base URL (what `--admin-url` points at).
    """
    shop = FakeShop()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = shop.answer(self.path, headers, self.rfile.read(length))
            self._send(status, answer)

        def do_GET(self) -> None:
            self._send(405, {"errors": "GraphQL requests are POSTs"})

        def _send(self, status: int, answer: Any) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield shop, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def _subscription(number: int, topic: str, uri: str) -> dict[str, str]:
    return {"id": f"gid://shopify/WebhookSubscription/{number}", "topic": topic, "uri": uri}


def _store(cli: Cli) -> str:
    result = cli.run(
        "store", "create", "--name", "Snowdevil", "--platform", "shopify",
        "--domain", "snowdevil.example", "--country", "US", "--json",
    )  # fmt: skip
    assert 0 == result.returncode, result.stderr
    store_id: str = json.loads(result.stdout)["id"]
    return store_id


def _connect(cli: Cli, store_id: str, admin_url: str, *extra: str, **env: str) -> Any:
    variables = {"CARTBACK_SHOPIFY_TOKEN": TOKEN, "CARTBACK_BASE_URL": BASE_URL, **env}
    return cli.run(
        "sources", "shopify", "connect", "--store", store_id, "--shop", "snowdevil",
        "--admin-url", admin_url, *extra, **variables,
    )  # fmt: skip


def _stored(database_url: str, store_id: str) -> tuple[dict[str, Any], int]:
    """
    The store's settings and how many webhook secrets it has.
    """
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        settings = connection.execute(
            select(stores.c.settings).where(stores.c.id == store_id)
        ).scalar_one()
        secrets = connection.execute(
            select(func.count()).where(webhook_secrets.c.store_id == store_id)
        ).scalar_one()
    engine.dispose()
    return settings, int(secrets)


def test_connect_subscribes_the_missing_topics_and_a_second_run_creates_nothing(
    cli: Cli, database_url: str, fake_shop: tuple[FakeShop, str]
) -> None:
    """
    The first run creates every subscription but the one already there (another address for a
    topic does not count); the second finds them all and creates none. The shop and the API
    secret are kept on the store, the secret once.
    """
    # given
    shop, admin_url = fake_shop
    store_id = _store(cli)
    callback = f"{BASE_URL}/webhooks/shopify/{store_id}"
    shop.subscriptions += [
        _subscription(1, "ORDERS_CREATE", callback),
        _subscription(2, "CHECKOUTS_UPDATE", "https://old.example/hook"),
        *(_subscription(n, "PRODUCTS_UPDATE", f"https://erp.example/{n}") for n in range(3, 8)),
    ]
    # when
    first = _connect(cli, store_id, admin_url, "--api-secret", "shpss_app_secret", "--json")
    second = _connect(cli, store_id, admin_url, "--api-secret", "shpss_app_secret", "--json")
    # then
    assert (0, 0) == (first.returncode, second.returncode), first.stderr + second.stderr
    expected_created = [t for t in EXPECTED_TOPICS if t != "ORDERS_CREATE"]
    assert {
        "callback": callback,
        "created": expected_created,
        "present": ["ORDERS_CREATE"],
        "secret": "added",
    } == json.loads(first.stdout)
    assert {
        "callback": callback,
        "created": [],
        "present": EXPECTED_TOPICS,
        "secret": "known",
    } == json.loads(second.stdout)
    assert expected_created == shop.created_topics()
    assert sorted(EXPECTED_TOPICS) == sorted(
        s["topic"] for s in shop.subscriptions if s["uri"] == callback
    )
    settings, secrets = _stored(database_url, store_id)
    assert ("snowdevil.myshopify.com", 2) == (settings["shopify"]["shop"], secrets)


def test_connect_reports_what_it_did_in_words(cli: Cli, fake_shop: tuple[FakeShop, str]) -> None:
    """
    Without --json, one line per topic and a summary; the privacy topics' set-up is explained.
    """
    # given
    _, admin_url = fake_shop
    store_id = _store(cli)
    # when
    result = _connect(cli, store_id, admin_url)
    # then
    lines = result.stdout.strip().splitlines()
    assert 0 == result.returncode, result.stderr
    assert [f"created  {t}" for t in EXPECTED_TOPICS] == lines[:-2]
    assert lines[-2].startswith("9 subscriptions created, 0 already present, for https://")
    assert lines[-1].startswith("no --api-secret: add the app's API secret")
    assert "customers/redact" in result.stderr


def test_a_wrong_token_fails_in_one_line_and_changes_nothing(
    cli: Cli, database_url: str, fake_shop: tuple[FakeShop, str]
) -> None:
    """
    Shopify's 401 becomes one line naming --token (never the token), a non-zero exit, no
    subscription and no change to the store.
    """
    # given
    shop, admin_url = fake_shop
    store_id = _store(cli)
    # when
    result = _connect(cli, store_id, admin_url, CARTBACK_SHOPIFY_TOKEN="shpat_wrong")
    # then
    assert 1 == result.returncode
    assert ["cartback: Shopify refused the access token (401); check --token"] == (
        result.stderr.strip().splitlines()[-1:]
    )
    assert "shpat_wrong" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert ([], ({}, 1)) == (shop.subscriptions, _stored(database_url, store_id))


def test_a_topic_shopify_refuses_fails_with_its_user_error(
    cli: Cli, fake_shop: tuple[FakeShop, str]
) -> None:
    """
    `userErrors` name the topic and field; the run stops non-zero, and rerunning later resumes.
    """
    # given
    shop, admin_url = fake_shop
    shop.refused_topics.add("CHECKOUTS_CREATE")
    store_id = _store(cli)
    # when
    refused = _connect(cli, store_id, admin_url)
    shop.refused_topics.clear()
    resumed = _connect(cli, store_id, admin_url, "--json")
    # then
    assert 1 == refused.returncode
    assert [
        "cartback: Shopify refused the CHECKOUTS_CREATE subscription: topic: Access denied for "
        "this topic"
    ] == refused.stderr.strip().splitlines()[-1:]
    assert ["CHECKOUTS_CREATE", "CHECKOUTS_DELETE", "CHECKOUTS_UPDATE"] == (
        json.loads(resumed.stdout)["created"][:3]
    )


@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        (["--store", "st_nope"], 1, "cartback: no store 'st_nope'"),
        (["--base-url", "http://x.example"], 2, "cartback: --base-url: Shopify delivers only to"),
        (["--shop", "not a shop"], 2, "cartback: --shop: 'not a shop' is not a shop domain"),
        (["--admin-url", "http://127.0.0.1:{port}"], 1, "cartback: cannot reach 127.0.0.1: "),
        (["--api-version", "2019-04"], 1, "cartback: no Shopify Admin API there (404)"),
    ],
)  # fmt: skip
def test_connect_explains_bad_input_and_unreachable_shops_in_one_line(
    cli: Cli, fake_shop: tuple[FakeShop, str], options: list[str], code: int, message: str
) -> None:
    """
    Unknown store, an http callback, a bad shop, no server, a wrong API version: one line each.
    """
    # given
    shop, admin_url = fake_shop
    store_id = _store(cli)
    args = {"--store": store_id, "--shop": "snowdevil", "--admin-url": admin_url}
    for flag, value in zip(options[::2], options[1::2], strict=True):
        args[flag] = value.format(port=free_port())
    # when
    result = cli.run(
        "sources", "shopify", "connect", *(part for pair in args.items() for part in pair),
        CARTBACK_SHOPIFY_TOKEN=TOKEN, CARTBACK_BASE_URL=BASE_URL,
    )  # fmt: skip
    # then
    last = result.stderr.strip().splitlines()[-1]
    assert (code, True, []) == (result.returncode, last.startswith(message), shop.subscriptions)
    assert "Traceback" not in result.stderr


def test_after_connecting_shopifys_signed_deliveries_are_accepted(
    cli: Cli, server: Server, fake_shop: tuple[FakeShop, str]
) -> None:
    """
    The API secret `connect` stored verifies a delivery Shopify signs with it, on the running
    server, and the checkout is readable as its cart.
    """
    # given
    _, admin_url = fake_shop
    store_id = server.keys["id"]
    _connect(cli, store_id, admin_url, "--api-secret", "shpss_live_secret")
    body = json.dumps(
        {"id": 1, "token": "t-1", "cart_token": "c-1", "updated_at": "2026-11-27T09:00:00Z",
         "line_items": [{"variant_id": 7, "quantity": 2, "price": "5.00"}], "total_price": "10.00"}
    ).encode()  # fmt: skip
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "checkouts/create",
        "X-Shopify-Event-Id": "evt-1",
        "X-Shopify-Hmac-Sha256": signature("shpss_live_secret", body),
    }
    # when
    response = httpx.post(
        f"{server.base_url}/webhooks/shopify/{store_id}", content=body, headers=headers
    )
    # then
    assert 200 == response.status_code, response.text
    with server.client() as client:
        cart = client.get("/v1/carts/c-1").json()
    assert ("checkout", "10.00", 2) == (cart["stage"], cart["total"], cart["item_count"])


def test_keep_token_keeps_the_access_token_sealed_for_discount_codes(
    cli: Cli, database_url: str, fake_shop: tuple[FakeShop, str]
) -> None:
    """
    With --keep-token the token is kept sealed (never in clear) under the store's Shopify
    credentials, and opens with the service's key; connecting again without the flag keeps it,
    and a store connected without it keeps none.
    """
    # given
    _, admin_url = fake_shop
    kept, plain = _store(cli), _store(cli)
    # when
    first = _connect(cli, kept, admin_url, "--keep-token", "--json")
    again = _connect(cli, kept, admin_url, "--json")
    without = _connect(cli, plain, admin_url, "--json")
    # then
    assert (0, 0, 0) == (first.returncode, again.returncode, without.returncode)
    settings, _ = _stored(database_url, kept)
    sealed = settings["shopify"]["credentials"]["access_token"]
    assert TOKEN not in json.dumps(settings) + first.stdout + first.stderr
    assert TOKEN == SecretBox([TEST_SECRET]).open(sealed)
    assert "credentials" not in _stored(database_url, plain)[0]["shopify"]
