"""
Event ingestion over HTTP (`contract.md` §5.1): what Segment and RudderStack clients send is
committed before the answer, answered with exactly `200 {"success": true}`, and a replayed or
retried request stores nothing twice.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cartback.bootstrap import Container
from cartback.services.stores import CreatedStore
from cartback.store.tables import carts, visitors
from helpers import auth, identify, track

SUCCESS = {"success": True}
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

#: One valid message per single-message endpoint (`type` is implied by the path).
SINGLE_MESSAGES: list[tuple[str, dict[str, Any]]] = [
    ("track", {"event": "Product Viewed", "anonymousId": "a-1", "properties": {"sku": "s-1"}}),
    ("identify", {"anonymousId": "a-1", "traits": {"email": "ada@example.com"}}),
    ("page", {"anonymousId": "a-1", "name": "Home", "properties": {"url": "/"}}),
    ("screen", {"userId": "u-1", "name": "Cart"}),
    ("group", {"userId": "u-1", "groupId": "g-1", "traits": {"name": "Acme"}}),
    ("alias", {"userId": "u-1", "previousId": "a-1"}),
]


def _cart(client: TestClient, store: CreatedStore, cart_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/carts/{cart_id}", headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def _quantities(cart: dict[str, Any]) -> dict[str, int]:
    return {item["product_id"]: item["quantity"] for item in cart["items"]}


def test_batch_answers_exactly_success(client: TestClient, store: CreatedStore) -> None:
    """
    A valid batch is answered `200 {"success": true}` as JSON, which is all Segment clients accept.
    """
    # given
    body = {"batch": [track("Product Added", cart_id="c-1", product_id="p-1", price=5)]}
    # when
    response = client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    assert "application/json" == response.headers["content-type"]


@pytest.mark.parametrize(("kind", "message"), SINGLE_MESSAGES)
def test_single_message_endpoints_answer_exactly_success(
    client: TestClient, store: CreatedStore, kind: str, message: dict[str, Any]
) -> None:
    """
    Each single-message endpoint accepts its Segment call and answers `200 {"success": true}`.
    """
    # given
    headers = auth(store.secret_key)
    # when
    response = client.post(f"/v1/{kind}", json=message, headers=headers)
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())


def test_event_is_readable_as_soon_as_it_is_answered(
    client: TestClient, store: CreatedStore
) -> None:
    """
    Events are committed before the answer: the cart is readable right after it.
    """
    # given
    message = track("Product Added", cart_id="c-1", product_id="p-1", price=12.5, quantity=2)
    # when
    client.post("/v1/track", json=message, headers=auth(store.secret_key))
    cart = _cart(client, store, "c-1")
    # then
    assert ("25.00", {"p-1": 2}) == (cart["total"], _quantities(cart))


def test_gzip_body_is_accepted(client: TestClient, store: CreatedStore) -> None:
    """
    A batch sent with `Content-Encoding: gzip` is inflated and stored.
    """
    # given
    body = {"batch": [track("Product Added", cart_id="c-1", product_id="p-1", quantity=3)]}
    headers = {**auth(store.secret_key), "Content-Encoding": "gzip"}
    headers["Content-Type"] = "application/json"
    # when
    response = client.post("/v1/batch", content=gzip.compress(orjson.dumps(body)), headers=headers)
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    assert {"p-1": 3} == _quantities(_cart(client, store, "c-1"))


def test_replayed_batch_stores_nothing_twice(client: TestClient, store: CreatedStore) -> None:
    """
    Sending the same batch again (same messageIds) is accepted and changes nothing.
    """
    # given
    body = {
        "batch": [
            track("Product Added", cart_id="c-1", product_id="p-1", price=10, quantity=2),
            track("Product Added", cart_id="c-1", product_id="p-2", price=1, quantity=1),
        ]
    }
    client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    before = _cart(client, store, "c-1")
    # when
    replay = client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    # then
    assert (200, SUCCESS) == (replay.status_code, replay.json())
    after = _cart(client, store, "c-1")
    assert {"p-1": 2, "p-2": 1} == _quantities(after)
    assert (before["total"], before["last_activity_at"]) == (
        after["total"],
        after["last_activity_at"],
    )


def test_message_without_message_id_is_recognised_when_repeated(
    client: TestClient, store: CreatedStore
) -> None:
    """
    A message sent twice without `messageId` counts once (its content is the idempotency key).
    """
    # given
    message = track("Product Added", cart_id="c-1", product_id="p-1", quantity=1, at=NOW)
    del message["messageId"]
    # when
    for _ in range(2):
        client.post("/v1/track", json=message, headers=auth(store.secret_key))
    # then
    assert {"p-1": 1} == _quantities(_cart(client, store, "c-1"))


def _partly_invalid_batch() -> dict[str, Any]:
    return {
        "batch": [
            track("Product Added", cart_id="c-1", product_id="p-1", price=10, quantity=1),
            track("Product Added", cart_id="c-1", product_id="p-2", price=10, quantity="abc"),
            track("Product Added", cart_id="c-1", product_id="p-3", price=2, quantity=2),
            track("Product Added", cart_id="c-1", product_id="p-4", price=True, quantity=1),
        ]
    }


def test_partly_invalid_batch_stores_the_valid_events_and_names_the_invalid_ones(
    client: TestClient, store: CreatedStore
) -> None:
    """
    The valid events of a batch are stored; the 400 lists each invalid one by index and field.
    """
    # given
    body = _partly_invalid_batch()
    # when
    response = client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    # then
    assert 400 == response.status_code
    assert "application/problem+json" == response.headers["content-type"]
    located = [(e["index"], e["field"]) for e in response.json()["errors"]]
    assert [(1, "batch[1].properties.quantity"), (3, "batch[3].properties.price")] == located
    assert {"p-1": 1, "p-3": 2} == _quantities(_cart(client, store, "c-1"))


def test_retried_partly_invalid_batch_stores_nothing_twice(
    client: TestClient, store: CreatedStore
) -> None:
    """
    A client retrying a partly invalid batch gets the same 400, and the valid events count once.
    """
    # given
    body = _partly_invalid_batch()
    first = client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    # when
    retry = client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    # then
    assert (first.status_code, first.json()["errors"]) == (
        retry.status_code,
        retry.json()["errors"],
    )
    cart = _cart(client, store, "c-1")
    assert ({"p-1": 1, "p-3": 2}, "14.00") == (_quantities(cart), cart["total"])


@pytest.mark.parametrize(
    ("events", "stage"),
    [
        (["Product Added"], "cart"),
        (["Product Added", "Checkout Started"], "checkout"),
        (["Product Added", "Checkout Started", "Payment Info Entered"], "checkout"),
        (["Product Added", "Checkout Started", "Payment Failed"], "payment_failed"),
    ],
)
def test_e_commerce_events_move_the_cart_through_its_stages(
    client: TestClient, store: CreatedStore, events: list[str], stage: str
) -> None:
    """
    E-commerce events move an active cart from `cart` to `checkout` and `payment_failed`.
    """
    # given
    batch = [
        track(name, cart_id="c-1", product_id="p-1", price=20, at=NOW - timedelta(minutes=10 - i))
        for i, name in enumerate(events)
    ]
    # when
    client.post("/v1/batch", json={"batch": batch}, headers=auth(store.secret_key))
    # then
    cart = _cart(client, store, "c-1")
    assert ("active", stage) == (cart["status"], cart["stage"])


def test_order_before_abandonment_converts_the_cart(
    client: TestClient, store: CreatedStore
) -> None:
    """
    An order placed before the cart was abandoned makes it `converted` at stage `ordered`.
    """
    # given
    started = NOW - timedelta(minutes=10)
    client.post(
        "/v1/batch",
        json={
            "batch": [
                track("Product Added", cart_id="c-1", product_id="p-1", price=20, at=started),
                track("Checkout Started", cart_id="c-1", at=started + timedelta(minutes=1)),
            ]
        },
        headers=auth(store.secret_key),
    )
    # when
    order = track("Order Completed", cart_id="c-1", order_id="o-1", total=20, at=NOW)
    response = client.post("/v1/track", json=order, headers=auth(store.secret_key))
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    cart = _cart(client, store, "c-1")
    assert ("converted", "ordered", "o-1") == (cart["status"], cart["stage"], cart["order_id"])
    assert cart["abandoned_at"] is None


def test_cart_created_and_ordered_in_one_batch_is_converted(
    client: TestClient, store: CreatedStore
) -> None:
    """
    A whole journey in one batch (as SDKs flush it) ends with a converted cart.
    """
    # given
    body = {
        "batch": [
            track(
                "Product Added",
                cart_id="c-1",
                product_id="p-1",
                price=20,
                at=NOW - timedelta(minutes=2),
            ),
            track("Order Completed", cart_id="c-1", order_id="o-1", total=20, at=NOW),
        ]
    }
    # when
    response = client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    cart = _cart(client, store, "c-1")
    assert ("converted", "ordered", "o-1") == (cart["status"], cart["stage"], cart["order_id"])


def test_identify_with_email_links_the_contact_to_the_cart(
    client: TestClient, store: CreatedStore
) -> None:
    """
    `identify` with `traits.email` links a contact to the anonymous visitor's cart.
    """
    # given
    added = track("Product Added", anonymous_id="anon-7", cart_id="c-1", product_id="p-1")
    client.post("/v1/track", json=added, headers=auth(store.secret_key))
    # when
    who = identify(anonymous_id="anon-7", email="Ada.Lovelace@Example.com")
    response = client.post("/v1/identify", json=who, headers=auth(store.secret_key))
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    contact = _cart(client, store, "c-1")["contact"]
    assert "ada.lovelace@example.com" == contact["email"]
    assert contact["id"]


def test_batch_sent_at_corrects_the_client_clock(client: TestClient, store: CreatedStore) -> None:
    """
    A client whose clock is an hour slow is corrected by the batch's `sentAt`.
    """
    # given
    slow = NOW - timedelta(hours=1)
    body = {
        "sentAt": slow.isoformat(),
        "batch": [track("Product Added", cart_id="c-1", product_id="p-1", at=slow)],
    }
    # when
    client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    # then
    moment = datetime.fromisoformat(_cart(client, store, "c-1")["last_activity_at"])
    assert NOW == moment


def test_unknown_event_is_accepted_and_makes_no_cart(
    client: TestClient, store: CreatedStore
) -> None:
    """
    An event outside the e-commerce vocabulary is accepted and ignored by the cart model.
    """
    # given
    message = track("Wishlist Shared", cart_id="c-1", product_id="p-1")
    # when
    response = client.post("/v1/track", json=message, headers=auth(store.secret_key))
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    listed = client.get("/v1/carts", headers=auth(store.secret_key)).json()
    assert 0 == listed["count"]


def test_browser_beacon_sent_as_text_plain_is_accepted(
    client: TestClient, store: CreatedStore
) -> None:
    """
    `navigator.sendBeacon` posts `text/plain`; `/v1/t` reads it as JSON all the same.
    """
    # given
    message = {
        **track("Product Added", cart_id="c-1", product_id="p-1"),
        "writeKey": store.public_key,
    }
    headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": "https://shop.example.com"}
    # when
    response = client.post("/v1/t", content=orjson.dumps(message), headers=headers)
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    assert {"p-1": 1} == _quantities(_cart(client, store, "c-1"))


def test_browser_endpoint_accepts_a_batch(client: TestClient, store: CreatedStore) -> None:
    """
    `/v1/t` takes the batch form as well as a single message.
    """
    # given
    body = {
        "writeKey": store.public_key,
        "batch": [
            track("Product Added", cart_id="c-1", product_id="p-1"),
            track("Product Added", cart_id="c-1", product_id="p-2"),
        ],
    }
    # when
    response = client.post("/v1/t", json=body)
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    assert {"p-1": 1, "p-2": 1} == _quantities(_cart(client, store, "c-1"))


def _stored_cart(container: Container, store: CreatedStore, key: str) -> Any:
    query = select(carts).where(carts.c.store_id == store.store.id, carts.c.cart_key == key)
    with container.engine.connect() as connection:
        return connection.execute(query).one()


DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
STOREBOT = (
    "Mozilla/5.0 (X11; Linux x86_64; Storebot-Google/1.0) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/79.0.3945.88 Safari/537.36"
)


@pytest.mark.parametrize(
    ("agent", "device", "bot"), [(DESKTOP, "desktop", False), (STOREBOT, None, True)]
)
def test_a_late_event_still_says_whose_cart_it_is_on_what_device_and_if_a_robot(
    client: TestClient,
    container: Container,
    store: CreatedStore,
    agent: str,
    device: str,
    bot: bool,
) -> None:
    """
    A storefront's view event that arrives after the platform created the cart (older than
    the cart's state) changes no items, but links its visitor, notes the device, and flags a
    robot: otherwise a capture by that visitor would never reach the cart.
    """
    # given: a cart someone created with no browser visitor (a server-side event)
    added = track(
        "Product Added",
        anonymous_id=None,
        user_id="u-9",
        cart_id="c-9",
        at=NOW,
        product_id="p-1",
        quantity=2,
        price=10,
    )
    client.post("/v1/track", json=added, headers=auth(store.secret_key))
    assert _stored_cart(container, store, "c-9").visitor_id is None
    # when: the visitor's earlier view arrives late
    viewed = track(
        "Product Viewed",
        anonymous_id="a-late",
        cart_id="c-9",
        at=NOW - timedelta(minutes=1),
        product_id="p-2",
    )
    viewed["context"] = {"userAgent": agent}
    response = client.post("/v1/track", json=viewed, headers=auth(store.secret_key))
    # then
    assert 200 == response.status_code, response.text
    assert {"p-1": 2} == _quantities(_cart(client, store, "c-9"))
    row = _stored_cart(container, store, "c-9")
    with container.engine.connect() as connection:
        visitor = connection.execute(
            select(visitors.c.id).where(visitors.c.anonymous_id == "a-late")
        ).scalar_one()
    assert (visitor, device, bot) == (row.visitor_id, row.device, row.is_bot)


def test_a_late_event_never_replaces_the_cart_s_visitor(
    client: TestClient, container: Container, store: CreatedStore
) -> None:
    """
    Owners are filled in, not replaced: a late event from another browser leaves the cart's.
    """
    added = track("Product Added", anonymous_id="a-owner", cart_id="c-8", at=NOW, product_id="p-1")
    client.post("/v1/track", json=added, headers=auth(store.secret_key))
    owner = _stored_cart(container, store, "c-8").visitor_id
    late = track(
        "Product Viewed",
        anonymous_id="a-other",
        cart_id="c-8",
        at=NOW - timedelta(minutes=5),
        product_id="p-1",
    )
    client.post("/v1/track", json=late, headers=auth(store.secret_key))
    assert owner is not None
    assert owner == _stored_cart(container, store, "c-8").visitor_id
