"""
An order ends the recovery sequence in its own transaction: the cart's (and the contact's)
pending touches are `cancelled` `ordered` as the order is stored, not when they come due.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from test_recovery_engine import cart, leave_cart, messages, post, run, shop, statuses, worker

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services.stores import CreatedStore
from helpers import auth, track

__all__ = ["shop", "worker"]  # fixtures shared with the recovery engine's tests


def test_an_order_cancels_the_pending_touches_at_once(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    After the first touch went, the order cancels the two pending ones before any worker pass.
    """
    # given
    store = shop()
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.advance(timedelta(hours=1))
    run(worker)
    # when: the order arrives; no worker pass follows
    post(client, store, track("Order Completed", cart_id="c-1", order_id="o-1", total=25))
    # then
    body = cart(client, store)
    assert [("sent", None), ("cancelled", "ordered"), ("cancelled", "ordered")] == statuses(body)
    assert "recovered" == body["status"]


def test_an_order_of_another_cart_ends_the_contact_sequence(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    The same shopper buys from a new cart: the old cart's touches are cancelled `ordered` and
    nothing more is sent for it.
    """
    # given: c-1 enrolled
    store = shop()
    leave_cart(client, store, clock, cart_id="c-1")
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when: the same person orders through another cart
    leave_cart(client, store, clock, cart_id="c-2")
    post(client, store, track("Order Completed", cart_id="c-2", order_id="o-2", total=25))
    clock.advance(timedelta(days=4))
    run(worker)
    # then
    assert [("cancelled", "ordered")] * 3 == statuses(cart(client, store, "c-1"))
    assert [] == messages(client, store)


def test_an_order_placed_before_the_sequence_began_leaves_it_alone(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    A late report of an older order of the contact (placed before enrollment) cancels nothing.
    """
    # given
    store = shop()
    placed = clock.now() - timedelta(days=2)
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    post(
        client,
        store,
        track(
            "Order Completed",
            anonymous_id="a-1",
            cart_id="old",
            order_id="o-0",
            total=9,
            at=placed,
        ),
    )
    # then
    assert [("scheduled", None)] * 3 == statuses(cart(client, store))


def test_the_carts_list_shows_each_carts_touches(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    `GET /v1/carts` carries the same touches as `GET /v1/carts/{id}`, per cart.
    """
    # given: two shoppers' carts enrolled
    store = shop()
    leave_cart(client, store, clock, cart_id="c-1", anonymous_id="a-1")
    leave_cart(client, store, clock, cart_id="c-2", anonymous_id="a-2", email="bo@example.com")
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    listed = client.get("/v1/carts", headers=auth(store.secret_key)).json()["data"]
    # then
    by_id = {c["cart_id"]: c["touches"] for c in listed}
    assert {"c-1", "c-2"} == set(by_id)
    for cart_id, touches in by_id.items():
        assert cart(client, store, cart_id)["touches"] == touches
        assert 3 == len(touches)
