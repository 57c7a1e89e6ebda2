"""
Shopify webhooks through the real route on each database (`contract.md` §5.3): signatures (401
and nothing stored), redeliveries, stale updates, unknown topics, wrong stores, bad JSON, orders
closing their carts by each link, consent entered once, the recovery key never stored, and the
privacy topics erasing a customer or a shop.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cartback.bootstrap import Container
from cartback.services.shopify_connect import (
    ShopifyConnection,
    connected_shop,
    record_connection,
)
from cartback.services.stores import CreatedStore, add_webhook_secret, get_store
from cartback.sources.shopify import signature
from cartback.store.tables import carts, consent_ledger, contacts, orders, raw_events
from helpers import assert_problem, auth

FIXTURES = Path(__file__).parents[1] / "fixtures" / "shopify"
APP_SECRET = "shpss_integration_app_secret"
TOKEN_2024 = "Z2NwLXVzLWVhc3QxOjAxSkJaTUVRSjgzNUJUN1BTNjEzRFdRUFFQ"
SUCCESS = {"success": True}

Send = Callable[..., httpx.Response]


def payload(name: str) -> dict[str, Any]:
    """
    A webhook body from a fixture (REST fixtures unwrapped from `{"checkout": …}` and the like).
    """
    document: dict[str, Any] = json.loads((FIXTURES / name).read_bytes())
    for wrapper in ("checkout", "order"):
        if wrapper in document:
            inner: dict[str, Any] = document[wrapper]
            return inner
    return document


@pytest.fixture
def shop(container: Container, store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    A Shopify store in the US whose webhooks are signed with the app's secret.
    """
    created = store_factory(platform="shopify", country="US")
    add_webhook_secret(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=created.store.id,
        secret=APP_SECRET,
    )
    return created


@pytest.fixture
def send(client: TestClient, shop: CreatedStore) -> Send:
    """
    Posts a body as Shopify delivers it: signed, with its topic and delivery headers.
    """

    def post(
        topic: str,
        body: dict[str, Any] | bytes,
        *,
        event_id: str | None = None,
        secret: str = APP_SECRET,
        store_id: str | None = None,
        **headers: str,
    ) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": signature(secret, content),
            "X-Shopify-Shop-Domain": "snowdevil.myshopify.com",
            "X-Shopify-API-Version": "2024-10",
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
            **headers,
        }
        url = f"/webhooks/shopify/{store_id or shop.store.id}"
        return client.post(url, content=content, headers=sent)

    return post


def _cart(client: TestClient, shop: CreatedStore, cart_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/carts/{cart_id}", headers=auth(shop.secret_key))
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def _count(container: Container, table: Any, shop: CreatedStore) -> int:
    query = select(func.count()).select_from(table).where(table.c.store_id == shop.store.id)
    with container.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _rows(container: Container, query: Any) -> list[dict[str, Any]]:
    with container.engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


# --- verify, dedupe, persist, answer --------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "cart_id", "total", "quantity"),
    [
        ("checkout_rest.json", "68778783ad298f1c80c3bafcddeea02f", "409.94", 2),
        ("checkouts_create_2024.json", TOKEN_2024, "600.00", 1),
    ],
)
def test_a_signed_checkout_is_stored_and_becomes_its_cart(
    client: TestClient,
    shop: CreatedStore,
    send: Send,
    fixture: str,
    cart_id: str,
    total: str,
    quantity: int,
) -> None:
    """
    Both payload generations answer 200 and are readable as the cart keyed by the cart token.
    """
    # given
    body = payload(fixture)
    # when
    response = send("checkouts/create", body)
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    cart = _cart(client, shop, cart_id)
    assert ("checkout", "active", total, quantity, str(body["id"])) == (
        cart["stage"],
        cart["status"],
        cart["total"],
        cart["item_count"],
        cart["checkout_id"],
    )


@pytest.mark.parametrize(
    ("headers", "secret"),
    [
        ({"X-Shopify-Hmac-Sha256": ""}, APP_SECRET),
        ({}, "another-apps-secret"),
        ({"X-Shopify-Hmac-Sha256": signature(APP_SECRET, b"{}")}, APP_SECRET),
    ],
)
def test_a_bad_signature_is_refused_and_nothing_is_stored(
    client: TestClient,
    container: Container,
    shop: CreatedStore,
    send: Send,
    headers: dict[str, str],
    secret: str,
) -> None:
    """
    No signature, another secret, or another body's signature: 401 and no trace.
    """
    # given
    body = payload("checkouts_create_2024.json")
    # when
    response = send("checkouts/create", body, secret=secret, **headers)
    # then
    assert_problem(response, 401)
    assert 0 == _count(container, raw_events, shop)
    assert 404 == client.get(f"/v1/carts/{TOKEN_2024}", headers=auth(shop.secret_key)).status_code


def test_a_privacy_request_with_a_bad_signature_is_refused(
    container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    Shopify's compliance rule: an invalid HMAC on a privacy topic answers 401 and erases nothing.
    """
    # given
    send("checkouts/update", payload("checkouts_update_2024_contact.json"))
    # when
    response = send("shop/redact", payload("shop_redact.json"), secret="forged")
    # then
    assert_problem(response, 401)
    assert 1 == _count(container, carts, shop)


def test_the_previous_secret_still_verifies_after_rotation(
    container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    A store with the old and the new app secret accepts deliveries signed with either.
    """
    # given
    add_webhook_secret(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=shop.store.id,
        secret="shpss_rotated_new_secret",
    )
    # when
    old = send("checkouts/create", payload("checkout_rest.json"))
    new = send(
        "checkouts/create", payload("checkouts_create_2024.json"), secret="shpss_rotated_new_secret"
    )
    # then
    assert (200, 200) == (old.status_code, new.status_code)


def test_a_redelivery_changes_nothing(
    client: TestClient, container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    Shopify retries with the same event id: answered 200, stored once, the cart unchanged.
    """
    # given
    body = payload("checkouts_update_2024_contact.json")
    send("checkouts/update", body, event_id="evt-42")
    before = _cart(client, shop, TOKEN_2024)
    # when
    again = send("checkouts/update", body, event_id="evt-42")
    # then
    assert (200, 1) == (again.status_code, _count(container, raw_events, shop))
    assert before == _cart(client, shop, TOKEN_2024)


def test_an_older_update_never_overwrites_a_newer_cart(
    client: TestClient, container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    The update from 21:25 (two boards) arrives before the one from 21:22 (one board): the cart
    keeps two, and the late one is kept in the log as stale.
    """
    # given
    send("checkouts/update", payload("checkouts_update_2024_contact.json"))
    # when
    late = send("checkouts/create", payload("checkouts_create_2024.json"))
    # then
    cart = _cart(client, shop, TOKEN_2024)
    outcomes = _rows(
        container,
        select(raw_events.c.name, raw_events.c.outcome).order_by(raw_events.c.id),
    )
    assert (200, 2, "1200.00") == (late.status_code, cart["item_count"], cart["total"])
    assert [
        {"name": "checkouts/update", "outcome": "applied"},
        {"name": "checkouts/create", "outcome": "stale"},
    ] == outcomes


@pytest.mark.parametrize("topic", ["products/update", "customers/create", ""])
def test_an_unknown_topic_is_acknowledged_and_not_stored(
    container: Container, shop: CreatedStore, send: Send, topic: str
) -> None:
    """
    Topics Cartback does not use answer 200 (so Shopify does not retry) and store nothing.
    """
    # given
    body = {"id": 1, "title": "Snowboard"}
    # when
    response = send(topic, body)
    # then
    assert (200, SUCCESS, 0) == (
        response.status_code,
        response.json(),
        _count(container, raw_events, shop),
    )


def test_a_wrong_store_id_is_not_found(send: Send) -> None:
    """
    Another (or no) store's id answers 404, never 401 or 403.
    """
    # given
    body = payload("checkouts_create_2024.json")
    # when
    response = send("checkouts/create", body, store_id="st_doesnotexist")
    # then
    assert_problem(response, 404)


@pytest.mark.parametrize("body", [b'{"id": 1,', b"[]", b""])
def test_a_signed_body_that_is_not_a_json_object_is_a_bad_request(
    container: Container, shop: CreatedStore, send: Send, body: bytes
) -> None:
    """
    Bad JSON (correctly signed) answers 400 with the reason, and nothing is stored.
    """
    # when
    response = send("checkouts/update", body)
    # then
    assert_problem(response, 400)
    assert 0 == _count(container, raw_events, shop)


def test_the_recovery_key_is_never_stored(
    container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    The stored delivery keeps the recovery URL without the `key` that opens the checkout.
    """
    # given
    body = payload("checkouts_create_2024.json")
    # when
    send("checkouts/create", body)
    # then
    (row,) = _rows(container, select(raw_events.c.payload))
    assert "0385163be3875d3a2117e982d9cc3517" not in json.dumps(row["payload"])
    assert row["payload"]["abandoned_checkout_url"].endswith("/recover?locale=en-US")


# --- orders ---------------------------------------------------------------------------------


def _linked(link: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """
    A checkout and its order sharing only one link, and the cart's id.
    """
    checkout = copy.deepcopy(payload("checkouts_update_2024_contact.json"))
    order = copy.deepcopy(payload("orders_create_2024.json"))
    if link == "cart_token":
        order.update(checkout_token=None, checkout_id=None)
        return checkout, order, TOKEN_2024
    if link == "checkout_token":
        checkout.update(cart_token=None)
        order.update(cart_token=None, checkout_id=None)
        return checkout, order, checkout["token"]
    order.update(cart_token=None, checkout_token=None)
    return checkout, order, TOKEN_2024


@pytest.mark.parametrize("link", ["cart_token", "checkout_token", "checkout_id"])
def test_an_order_converts_the_cart_it_links_to(
    client: TestClient, shop: CreatedStore, send: Send, link: str
) -> None:
    """
    Whichever of `cart_token`, `checkout_token` or `checkout_id` links them, the order closes
    the checkout's cart as converted (no message was sent).
    """
    # given
    checkout, order, cart_id = _linked(link)
    send("checkouts/update", checkout)
    # when
    response = send("orders/create", order)
    # then
    cart = _cart(client, shop, cart_id)
    assert (200, "converted", "ordered", "5921036337265") == (
        response.status_code,
        cart["status"],
        cart["stage"],
        cart["order_id"],
    )


def test_orders_paid_after_orders_create_keeps_one_order(
    container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    The same order on two topics is one order row, placed when it was created.
    """
    # given
    send("orders/create", payload("orders_create_2024.json"), event_id="evt-7")
    # when
    send("orders/paid", payload("orders_paid_2024.json"), event_id="evt-7")
    # then
    rows = _rows(container, select(orders.c.order_key, orders.c.status))
    assert ([{"order_key": "5921036337265", "status": "placed"}], 2) == (
        rows,
        _count(container, raw_events, shop),
    )


def test_a_cancelled_order_is_marked_cancelled_and_the_cart_stays_converted(
    client: TestClient, container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    orders/cancelled changes the order, not the fact that the cart converted.
    """
    # given
    send("checkouts/update", payload("checkouts_update_2024_contact.json"))
    send("orders/create", payload("orders_create_2024.json"))
    # when
    send("orders/cancelled", payload("orders_cancelled_2024.json"))
    # then
    rows = _rows(container, select(orders.c.status))
    assert ([{"status": "cancelled"}], "converted") == (
        rows,
        _cart(client, shop, TOKEN_2024)["status"],
    )


# --- contacts and consent -------------------------------------------------------------------


def test_the_checkout_contact_becomes_the_carts_contact(
    client: TestClient, shop: CreatedStore, send: Send
) -> None:
    """
    Email, SMS number and customer id are the cart's contact.
    """
    # given
    body = payload("checkouts_update_2024_contact.json")
    # when
    send("checkouts/update", body)
    # then
    contact = _cart(client, shop, TOKEN_2024)["contact"]
    assert ("shopper@example.com", "+14155552671", "7410321456789") == (
        contact["email"],
        contact["phone"],
        contact["user_id"],
    )


def test_consent_flags_enter_the_ledger_once(
    container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    Every checkout update repeats the ticked boxes; the ledger records them once each, with
    their source and the flag's name as the text.
    """
    # given
    first = payload("checkouts_update_2024_contact.json")
    later = {**first, "updated_at": "2024-11-05T21:26:10-05:00"}
    send("checkouts/update", first)
    # when
    send("checkouts/update", later)
    send("orders/create", payload("orders_create_2024.json"))
    # then
    entries = _rows(
        container,
        select(
            consent_ledger.c.channel,
            consent_ledger.c.purpose,
            consent_ledger.c.granted,
            consent_ledger.c.source,
            consent_ledger.c.text,
        ).order_by(consent_ledger.c.channel),
    )
    assert [
        {
            "channel": "email",
            "purpose": "marketing",
            "granted": True,
            "source": "shopify_checkout",
            "text": "Shopify checkout: buyer_accepts_marketing",
        },
        {
            "channel": "sms",
            "purpose": "marketing",
            "granted": True,
            "source": "shopify_checkout",
            "text": "Shopify checkout: buyer_accepts_sms_marketing",
        },
    ] == entries


def test_unticking_the_box_later_is_recorded_as_a_withdrawal(
    container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    A later update with `buyer_accepts_marketing: false` appends a refusal after the grant.
    """
    # given
    first = payload("checkouts_update_2024_contact.json")
    send("checkouts/update", first)
    # when
    send(
        "checkouts/update",
        {**first, "updated_at": "2024-11-05T21:26:10-05:00", "buyer_accepts_marketing": False},
    )
    # then
    entries = _rows(
        container,
        select(consent_ledger.c.granted)
        .where(consent_ledger.c.channel == "email")
        .order_by(consent_ledger.c.occurred_at),
    )
    assert [{"granted": True}, {"granted": False}] == entries


# --- privacy and lifecycle ------------------------------------------------------------------


def test_customers_redact_erases_the_customer(
    client: TestClient, container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    The contact, its consent and every stored delivery naming them are gone; the cart stays,
    without a contact.
    """
    # given
    send("checkouts/update", payload("checkouts_update_2024_contact.json"))
    send("carts/update", payload("carts_update_2024.json"))
    redact = {
        "shop_id": 954889,
        "shop_domain": "snowdevil.myshopify.com",
        "customer": {"id": 7410321456789, "email": "shopper@example.com", "phone": None},
        "orders_to_redact": [],
    }
    # when
    response = send("customers/redact", redact)
    # then
    remaining = _rows(container, select(raw_events.c.name))
    assert (200, 0, 0, [{"name": "carts/update"}], None) == (
        response.status_code,
        _count(container, contacts, shop),
        _count(container, consent_ledger, shop),
        remaining,
        _cart(client, shop, TOKEN_2024)["contact"],
    )


def test_shop_redact_erases_everything_the_shop_sent(
    container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    Carts, contacts, consent, orders and deliveries go; the store stays so it can reconnect.
    """
    # given
    send("checkouts/update", payload("checkouts_update_2024_contact.json"))
    send("orders/create", payload("orders_create_2024.json"))
    # when
    response = send("shop/redact", payload("shop_redact.json"))
    # then
    counts = [
        _count(container, t, shop) for t in (carts, contacts, consent_ledger, orders, raw_events)
    ]
    assert (200, [0, 0, 0, 0, 0]) == (response.status_code, counts)
    assert shop.store.id == get_store(uow=container.uow_factory(), store_id=shop.store.id).id


def test_app_uninstalled_is_noted_on_the_store(
    container: Container, shop: CreatedStore, send: Send
) -> None:
    """
    The uninstall is recorded in the store's Shopify settings, and nothing is stored as an event.
    """
    # when
    response = send("app/uninstalled", payload("app_uninstalled.json"))
    # then
    store = get_store(uow=container.uow_factory(), store_id=shop.store.id)
    section = store.settings.get("shopify")
    assert (200, True, 0) == (
        response.status_code,
        isinstance(section, dict) and "uninstalled_at" in section,
        _count(container, raw_events, shop),
    )


# --- the connection kept by `connect` -------------------------------------------------------


def test_recording_a_connection_twice_adds_the_secret_once(
    container: Container, shop: CreatedStore
) -> None:
    """
    The shop is kept in the store's settings; an API secret the store already has is not added
    again (so `connect` can be run any number of times).
    """

    # given
    def record() -> ShopifyConnection:
        return record_connection(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            store_id=shop.store.id,
            shop="snowdevil.myshopify.com",
            api_secret="shpss_connect_secret",
        )

    # when
    first, second = record(), record()
    # then
    assert (True, False, "snowdevil.myshopify.com") == (
        first.secret_added,
        second.secret_added,
        connected_shop(get_store(uow=container.uow_factory(), store_id=shop.store.id)),
    )
