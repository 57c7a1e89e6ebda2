"""
The read API for carts (`contract.md` §5.5): one cart as it is now, and the store's carts listed
with filters and a cursor that visits each exactly once; bad parameters are 400 problems.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.engine.clock import SimulatedClock
from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth, identify, track

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

Send = Callable[..., None]


@pytest.fixture
def send(client: TestClient, store: CreatedStore) -> Send:
    """
    Sends messages to `/v1/batch` with the store's server key, checking they were accepted.
    """

    def post(*messages: dict[str, Any]) -> None:
        response = client.post(
            "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
        )
        assert 200 == response.status_code, response.text

    return post


def _list(client: TestClient, store: CreatedStore, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/carts", params=params, headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def test_cart_shows_its_items_totals_stage_and_status(
    client: TestClient, store: CreatedStore, send: Send
) -> None:
    """
    A cart reads back with every item field, the currency, the total, the stage and the status.
    """
    # given
    send(
        track(
            "Product Added",
            cart_id="c-1",
            product_id="p-1",
            variant="Blue / L",
            variant_id="v-1",
            sku="SKU-1",
            name="Hoodie",
            price="49.50",
            quantity=2,
            category="Apparel",
            url="https://shop.example.com/p/hoodie",
            image_url="https://cdn.example.com/hoodie.jpg",
            currency="EUR",
        )
    )
    # when
    response = client.get("/v1/carts/c-1", headers=auth(store.secret_key))
    # then
    assert 200 == response.status_code
    cart = response.json()
    expected_item = {
        "product_id": "p-1",
        "variant_id": "v-1",
        "variant": "Blue / L",
        "sku": "SKU-1",
        "name": "Hoodie",
        "quantity": 2,
        "unit_price": "49.50",
        "line_total": "99.00",
        "image_url": "https://cdn.example.com/hoodie.jpg",
        "url": "https://shop.example.com/p/hoodie",
        "category": "Apparel",
    }
    assert [expected_item] == cart["items"]
    summary = (cart["cart_id"], cart["currency"], cart["total"], cart["stage"], cart["status"])
    assert ("c-1", "EUR", "99.00", "cart", "active") == summary
    assert (None, []) == (cart["contact"], cart["touches"])


def test_identified_cart_shows_its_contact(
    client: TestClient, store: CreatedStore, send: Send
) -> None:
    """
    After `identify`, the cart carries the contact's id, email and phone.
    """
    # given
    send(
        track("Product Added", anonymous_id="a-1", cart_id="c-1", product_id="p-1"),
        identify(anonymous_id="a-1", email="Grace@Example.com", phone="+49 30 901820"),
    )
    # when
    contact = client.get("/v1/carts/c-1", headers=auth(store.secret_key)).json()["contact"]
    # then
    assert ("grace@example.com", "+4930901820") == (contact["email"], contact["phone"])


def test_cart_ordered_before_abandonment_is_converted(
    client: TestClient, store: CreatedStore, send: Send
) -> None:
    """
    A cart whose order came before abandonment shows `converted`, stage `ordered` and the order.
    """
    # given
    added = NOW - timedelta(minutes=5)
    send(track("Product Added", cart_id="c-1", product_id="p-1", price=10, at=added))
    send(track("Order Completed", cart_id="c-1", order_id="o-9", total=10, at=NOW))
    # when
    cart = client.get("/v1/carts/c-1", headers=auth(store.secret_key)).json()
    # then
    assert ("converted", "ordered", "o-9") == (cart["status"], cart["stage"], cart["order_id"])
    assert NOW == datetime.fromisoformat(cart["converted_at"])


@pytest.mark.parametrize("cart_id", ["c-404", "C-1", "c-1 ", "%00", "x" * 300])
def test_unknown_cart_is_404(
    client: TestClient, store: CreatedStore, send: Send, cart_id: str
) -> None:
    """
    A cart id the store does not have (ids are exact) is a 404 problem.
    """
    # given
    send(track("Product Added", cart_id="c-1", product_id="p-1"))
    # when
    response = client.get(f"/v1/carts/{cart_id}", headers=auth(store.secret_key))
    # then
    assert "not-found" == assert_problem(response, 404)["code"]


def test_cart_ids_with_reserved_characters_are_readable(
    client: TestClient, store: CreatedStore, send: Send
) -> None:
    """
    A platform cart token with spaces, `?`, `#` or non-ASCII letters is read back by its id.
    """
    # given
    send(track("Product Added", cart_id="Warenkorb ä?#", product_id="p-1"))
    # when
    response = client.get("/v1/carts/Warenkorb%20%C3%A4%3F%23", headers=auth(store.secret_key))
    # then
    assert (200, "Warenkorb ä?#") == (response.status_code, response.json()["cart_id"])


def test_list_pages_cover_every_cart_exactly_once(
    client: TestClient, store: CreatedStore, send: Send, clock: SimulatedClock
) -> None:
    """
    Following `next_cursor` visits every cart once, newest first, even when creation times tie.
    """
    # given
    for batch in range(3):
        send(*(track("Product Added", cart_id=f"c-{batch}-{i}", product_id="p") for i in range(4)))
        clock.advance(timedelta(minutes=1))
    # when
    seen: list[str] = []
    page = _list(client, store, limit=5)
    pages = 1
    while page["next_cursor"]:
        seen += [c["cart_id"] for c in page["data"]]
        page = _list(client, store, limit=5, cursor=page["next_cursor"])
        pages += 1
    seen += [c["cart_id"] for c in page["data"]]
    # then
    assert 3 == pages
    assert 12 == len(seen)
    assert {f"c-{b}-{i}" for b in range(3) for i in range(4)} == set(seen)
    assert {"c-2-0", "c-2-1", "c-2-2", "c-2-3"} == set(seen[:4])


def test_list_page_reports_its_count(client: TestClient, store: CreatedStore, send: Send) -> None:
    """
    `count` is the number of carts on the page and the last page has no cursor.
    """
    # given
    send(*(track("Product Added", cart_id=f"c-{i}", product_id="p") for i in range(3)))
    # when
    page = _list(client, store, limit=3)
    # then
    assert (3, 3, None) == (page["count"], len(page["data"]), page["next_cursor"])


def test_list_filters_by_status(client: TestClient, store: CreatedStore, send: Send) -> None:
    """
    `status=` keeps only carts in that status.
    """
    # given
    send(
        track("Product Added", cart_id="c-open", product_id="p", at=NOW - timedelta(minutes=2)),
        track("Product Added", cart_id="c-paid", product_id="p", at=NOW - timedelta(minutes=2)),
    )
    send(track("Order Completed", cart_id="c-paid", order_id="o-1", at=NOW))
    # when
    converted = _list(client, store, status="converted")
    active = _list(client, store, status="active")
    # then
    assert ["c-paid"] == [c["cart_id"] for c in converted["data"]]
    assert ["c-open"] == [c["cart_id"] for c in active["data"]]


def test_list_filters_by_contact_email(client: TestClient, store: CreatedStore, send: Send) -> None:
    """
    `email=` keeps the carts of that contact, matching the address however it is written.
    """
    # given
    send(
        track("Product Added", anonymous_id="a-1", cart_id="c-ada", product_id="p"),
        identify(anonymous_id="a-1", email="ada@example.com"),
        track("Product Added", anonymous_id="a-2", cart_id="c-bob", product_id="p"),
        identify(anonymous_id="a-2", email="bob@example.com"),
    )
    # when
    found = _list(client, store, email=" ADA@example.COM ")
    unknown = _list(client, store, email="nobody@example.com")
    # then
    assert ["c-ada"] == [c["cart_id"] for c in found["data"]]
    assert (0, []) == (unknown["count"], unknown["data"])


def test_list_filters_by_creation_time(
    client: TestClient, store: CreatedStore, send: Send, clock: SimulatedClock
) -> None:
    """
    `since=` keeps carts created at or after that instant, in any time zone.
    """
    # given
    send(track("Product Added", cart_id="c-old", product_id="p"))
    clock.advance(timedelta(hours=2))
    send(track("Product Added", cart_id="c-new", product_id="p"))
    # when
    later = _list(client, store, since="2026-11-27T12:00:00+01:00")
    everything = _list(client, store, since="2026-11-27T09:00:00Z")
    # then
    assert ["c-new"] == [c["cart_id"] for c in later["data"]]
    assert ["c-new", "c-old"] == [c["cart_id"] for c in everything["data"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": 1000}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": "99999999999999999999999"}, "limit"),
        ({"status": "nope"}, "status"),
        ({"status": "ACTIVE"}, "status"),
        ({"since": "yesterday"}, "since"),
        ({"email": "x" * 400}, "email"),
        ({"cursor": "c" * 600}, "cursor"),
    ],
)
def test_bad_list_parameter_is_a_400_naming_it(
    client: TestClient, store: CreatedStore, params: dict[str, Any], field: str
) -> None:
    """
    A list parameter of the wrong type or out of range is a 400 problem naming the parameter.
    """
    # given
    headers = auth(store.secret_key)
    # when
    response = client.get("/v1/carts", params=params, headers=headers)
    # then
    assert [field] == [e["field"] for e in assert_problem(response, 400)["errors"]]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"since": "2026-11-27T10:00:00"}, "time zone"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "out of range"),
        ({"since": "9999-12-31T23:59:59-12:00"}, "out of range"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a\x00@example.com"}, "email"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"cursor": "WzEsMl0"}, "cursor"),
        ({"cursor": "!!!"}, "cursor"),
        ({"cursor": "\x00"}, "cursor"),
    ],
)
def test_unusable_list_parameter_is_a_400_saying_why(
    client: TestClient, store: CreatedStore, params: dict[str, Any], detail: str
) -> None:
    """
    A naive or out-of-range `since`, an email that is not one, or a forged cursor is a 400.
    """
    # given
    headers = auth(store.secret_key)
    # when
    response = client.get("/v1/carts", params=params, headers=headers)
    # then
    assert detail in assert_problem(response, 400)["detail"]
