"""
The catalog triggers end to end on each database, through the real API and worker: an abandoned
cart's unavailable or pre-order line is watched; a catalog write that brings it back (within the
flow's window) or changes its launch enrolls the contact in the same transaction; the stock
guards read the catalog. Also `PUT /v1/catalog/items`'s answers to bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from test_recovery_engine import run, worker

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services.flows import apply_flows
from cartback.services.stores import CreatedStore
from cartback.store.tables import catalog_items, stock_watches
from helpers import assert_problem, auth, identify, track

__all__ = ["worker"]  # the recovery engine's worker fixture

FLOWS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - {wait: 23h, channel: email, template: support}
  - name: restock
    trigger: {stages: [cart, checkout], kind: back_in_stock, window: 7d}
    steps:
      - {wait: 1m, channel: email, template: back-in-stock}
  - name: launch-news
    trigger: {stages: [cart, checkout], kind: launch, window: 30d}
    steps:
      - {wait: 1m, channel: email, template: launch-date}
defaults:
  frequency_cap: {messages: 10, per: 24h}
"""

Put = Callable[..., httpx.Response]


@pytest.fixture
def shop(
    store_factory: Callable[..., CreatedStore], container: Container, clock: SimulatedClock
) -> Callable[..., CreatedStore]:
    """
    A US store (recovery email allowed without a tick) running the given flow file.
    """

    def make(flows: str = FLOWS) -> CreatedStore:
        created = store_factory(country="US", timezone="America/New_York")
        apply_flows(uow=container.uow_factory(), clock=clock, store_id=created.store.id, text=flows)
        return created

    return make


def put_items(client: TestClient, store: CreatedStore, *items: dict[str, Any]) -> dict[str, Any]:
    response = client.put("/v1/catalog/items", json=list(items), headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def mug(**fields: Any) -> dict[str, Any]:
    """
    The catalog's mug (product p-1), unavailable unless told otherwise.
    """
    return {"product_id": "p-1", "title": "Mug", "available": False, **fields}


def leave_cart(client: TestClient, store: CreatedStore, clock: SimulatedClock) -> None:
    """
    A shopper who gave their email adds the mug (p-1) and leaves.
    """
    batch = [
        identify(anonymous_id="a-1", at=clock.now(), email="ada@example.com"),
        track(
            "Product Added",
            anonymous_id="a-1",
            at=clock.now(),
            cart_id="c-1",
            product_id="p-1",
            name="Mug",
            price=25,
            quantity=1,
        ),
    ]
    response = client.post("/v1/batch", json={"batch": batch}, headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text


def cart(client: TestClient, store: CreatedStore) -> dict[str, Any]:
    response = client.get("/v1/carts/c-1", headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def touches(client: TestClient, store: CreatedStore, flow: str) -> list[tuple[str, str | None]]:
    return [
        (t["status"], t.get("reason")) for t in cart(client, store)["touches"] if t["flow"] == flow
    ]


def sent_subjects(client: TestClient, store: CreatedStore) -> list[str]:
    response = client.get("/v1/messages", headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    return [m["subject"] for m in response.json()["data"]]


def count(container: Container, table: Any, store: CreatedStore) -> int:
    query = select(func.count()).select_from(table).where(table.c.store_id == store.store.id)
    with container.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def abandoned_with_unavailable_mug(
    client: TestClient, store: CreatedStore, clock: SimulatedClock, worker: Worker, **fields: Any
) -> None:
    put_items(client, store, mug(**fields))
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    assert "abandoned" == cart(client, store)["status"]


def test_an_item_back_in_stock_within_the_window_enrolls_the_contact_and_the_touch_goes(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    Left with the mug sold out; two days later the catalog says it is back: the contact is
    enrolled in `restock` by that write, and its message goes a minute later (fresh read).
    """
    # given
    store = shop()
    abandoned_with_unavailable_mug(client, store, clock, worker)
    assert 1 == count(container, stock_watches, store)
    clock.advance(timedelta(days=2))
    run(worker)  # the abandonment flow's touches are done
    # when
    written = put_items(client, store, mug(available=True, quantity=4))
    # then
    assert {"written": 1, "stale": 0, "enrolled": 1} == written
    restock = [t for t in cart(client, store)["touches"] if t["flow"] == "restock"]
    assert [("scheduled", clock.now() + timedelta(minutes=1))] == [
        (t["status"], datetime.fromisoformat(t["due_at"])) for t in restock
    ]
    assert 0 == count(container, stock_watches, store)
    # when
    clock.advance(timedelta(minutes=1))
    run(worker)
    # then
    assert [("sent", None)] == touches(client, store, "restock")
    assert any(s.startswith("Back in stock") for s in sent_subjects(client, store))


def test_back_in_stock_takes_over_a_running_abandonment_flow_of_the_same_cart(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    Back in stock two hours after the cart was left: the abandonment flow's pending touch is
    cancelled `back_in_stock` and the restock flow runs.
    """
    # given
    store = shop()
    abandoned_with_unavailable_mug(client, store, clock, worker)
    clock.advance(timedelta(hours=2))
    run(worker)
    # when
    assert 1 == put_items(client, store, mug(available=True))["enrolled"]
    # then
    assert [("sent", None), ("cancelled", "back_in_stock")] == touches(
        client, store, "cart-recovery"
    )
    assert [("scheduled", None)] == touches(client, store, "restock")


def test_an_item_back_after_the_window_enrolls_nothing(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    Back in stock eight days after the cart was left, with a 7-day window: nothing.
    """
    # given
    store = shop()
    abandoned_with_unavailable_mug(client, store, clock, worker)
    clock.advance(timedelta(days=8))
    run(worker)
    # when
    written = put_items(client, store, mug(available=True))
    run(worker)
    # then
    assert 0 == written["enrolled"]
    assert [] == touches(client, store, "restock")


def test_an_item_back_in_stock_after_the_cart_ordered_enrolls_nothing(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    The shopper ordered after all: the item coming back tells them nothing.
    """
    # given
    store = shop()
    abandoned_with_unavailable_mug(client, store, clock, worker)
    order = track("Order Completed", cart_id="c-1", order_id="o-1", total=25, at=clock.now())
    client.post("/v1/batch", json={"batch": [order]}, headers=auth(store.secret_key))
    clock.advance(timedelta(days=1))
    # when
    written = put_items(client, store, mug(available=True))
    # then
    assert 0 == written["enrolled"]
    assert [] == touches(client, store, "restock")


def test_a_new_release_date_of_a_preorder_item_enrolls_in_the_launch_flow(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    Left holding a pre-order mug due 10 December; the date moves to 20 December: the launch
    flow's message goes (a pre-order item is shown, never claimed available).
    """
    # given
    store = shop()
    first = "2026-12-10T00:00:00Z"
    abandoned_with_unavailable_mug(client, store, clock, worker, preorder=True, release_at=first)
    clock.advance(timedelta(days=3))
    run(worker)
    # when: the same read again changes nothing; a new date does
    assert 0 == put_items(client, store, mug(preorder=True, release_at=first))["enrolled"]
    moved = put_items(client, store, mug(preorder=True, release_at="2026-12-20T00:00:00Z"))
    clock.advance(timedelta(minutes=1))
    run(worker)
    # then
    assert 1 == moved["enrolled"]
    assert [("sent", None)] == touches(client, store, "launch-news")
    assert [] == touches(client, store, "restock")


def test_a_back_in_stock_message_waits_for_a_fresh_read(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    The restock message is due an hour after the news: the read is an hour old, so it is
    deferred `stale_stock`; a fresh read of the item lets it go at the next try.
    """
    # given
    store = shop(
        FLOWS.replace(
            "{wait: 1m, channel: email, template: back-in-stock}",
            "{wait: 1h, channel: email, template: back-in-stock}",
        )
    )
    abandoned_with_unavailable_mug(client, store, clock, worker)
    clock.advance(timedelta(days=2))
    run(worker)
    put_items(client, store, mug(available=True))
    # when
    clock.advance(timedelta(hours=1))
    run(worker)
    # then
    assert [("deferred", "stale_stock")] == touches(client, store, "restock")
    # when: the platform is read again, and the deferral runs out
    clock.advance(timedelta(minutes=3))
    assert 0 == put_items(client, store, mug(available=True))["enrolled"]
    clock.advance(timedelta(minutes=2))
    run(worker)
    # then
    assert [("sent", None)] == touches(client, store, "restock")


def test_an_item_sold_out_again_before_the_message_skips_it_out_of_stock(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    Back in stock, then sold out again (fresh read) before the message: skipped `out_of_stock`.
    """
    # given
    store = shop()
    abandoned_with_unavailable_mug(client, store, clock, worker)
    clock.advance(timedelta(days=2))
    run(worker)
    put_items(client, store, mug(available=True))
    # when
    clock.advance(timedelta(seconds=30))
    put_items(client, store, mug(available=False))
    clock.advance(timedelta(seconds=30))
    run(worker)
    # then
    assert [("skipped", "out_of_stock")] == touches(client, store, "restock")


def test_writing_the_same_items_twice_is_idempotent(
    client: TestClient, shop: Callable[..., CreatedStore], container: Container
) -> None:
    """
    The second write of the same items writes the same rows again and enrolls nobody.
    """
    # given
    store = shop()
    items = [mug(variant_id="v-1"), mug(variant_id=2, sku="MUG-2", available=True, quantity=3)]
    # when
    first = put_items(client, store, *items)
    second = put_items(client, store, *items)
    # then
    assert first == second == {"written": 2, "stale": 0, "enrolled": 0}
    assert 2 == count(container, catalog_items, store)


def test_an_older_read_is_ignored_as_stale(
    client: TestClient, shop: Callable[..., CreatedStore], container: Container
) -> None:
    """
    A write whose `updated_at` is older than the stored item's changes nothing.
    """
    # given
    store = shop()
    put_items(client, store, mug(available=True, updated_at="2026-11-27T09:00:00Z"))
    # when
    late = put_items(client, store, mug(available=False, updated_at="2026-11-27T08:00:00Z"))
    # then
    assert {"written": 0, "stale": 1, "enrolled": 0} == late
    with container.engine.connect() as connection:
        assert [True] == list(connection.execute(select(catalog_items.c.available)).scalars())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([{"product_id": "p-1", "available": "yes"}], "[0].available"),
        ([{"product_id": "p-1", "available": True, "quantity": 1.5}], "[0].quantity"),
        ([{"product_id": "p-1", "available": True, "quantity": "3"}], "[0].quantity"),
        ([{"available": True}], "[0].product_id"),
        ([{"product_id": "", "available": True}], "[0].product_id"),
        ([{"product_id": "p-1", "available": True, "colour": "red"}], "[0].colour"),
        (
            [{"product_id": "p-1", "available": True, "release_at": "2026-12-01T00:00:00"}],
            "[0].release_at",
        ),
        ([{"product_id": "p-1", "available": True, "title": "x" * 501}], "[0].title"),
        ([{"product_id": "p\u0000", "available": True}], "[0].product_id"),
        ({"items": []}, ""),
        ([{"product_id": "p-1", "available": True}] * 1001, ""),
    ],
)
def test_bad_items_are_a_400_problem_and_nothing_is_written(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    container: Container,
    body: Any,
    field: str,
) -> None:
    """
    A wrong type, a missing or unknown field, a naive time, a value too long or too many items:
    400 with the field, and no item written (the good items of the same body neither).
    """
    # given
    store = shop()
    good = {"product_id": "p-2", "available": True}
    sent = [good, *body] if isinstance(body, list) and len(body) < 1000 else body
    # when
    response = client.put("/v1/catalog/items", json=sent, headers=auth(store.secret_key))
    # then
    problem = assert_problem(response, 400)
    fields = [e["field"] for e in problem["errors"]]
    shifted = field.replace("[0]", "[1]") if sent is not body else field
    assert shifted in fields, fields
    assert 0 == count(container, catalog_items, store)


def test_a_body_that_is_not_json_is_a_400_problem(
    client: TestClient, shop: Callable[..., CreatedStore]
) -> None:
    """
    Not JSON at all: 400, never a 500.
    """
    store = shop()
    response = client.put("/v1/catalog/items", content=b"{not json", headers=auth(store.secret_key))
    assert_problem(response, 400)


@pytest.mark.parametrize("key", [None, "cb_sk_unknown", "public"])
def test_the_catalog_needs_a_server_key(
    client: TestClient, shop: Callable[..., CreatedStore], key: str | None
) -> None:
    """
    No key or an unknown key: 401; the browser's public key: 403.
    """
    store = shop()
    headers = {} if key is None else auth(store.public_key if key == "public" else key)
    response = client.put("/v1/catalog/items", json=[mug()], headers=headers)
    assert_problem(response, 403 if key == "public" else 401)


def test_a_back_in_stock_message_without_fresh_reads_gives_up_at_the_recovery_window(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    No fresh read ever comes: the message is deferred `stale_stock` while the cart is still
    recoverable (7 days from the trigger), then skipped `stale_stock`, not retried for ever.
    """
    # given
    store = shop(
        FLOWS.replace(
            "{wait: 1m, channel: email, template: back-in-stock}",
            "{wait: 1h, channel: email, template: back-in-stock}",
        )
    )
    abandoned_with_unavailable_mug(client, store, clock, worker)
    clock.advance(timedelta(days=2))
    run(worker)
    put_items(client, store, mug(available=True))
    clock.advance(timedelta(hours=1))
    run(worker)
    assert [("deferred", "stale_stock")] == touches(client, store, "restock")
    # when: a week passes without a read
    clock.advance(timedelta(days=7))
    run(worker)
    # then
    assert [("skipped", "stale_stock")] == touches(client, store, "restock")
