"""
Browse abandonment: an identified shopper who looked at products and left without a cart gets
the `browsing` flow's reminder (no lines, so never `cart_empty`), and a cart replaces it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from test_recovery_engine import messages, post, run, shop, worker

from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services.stores import CreatedStore
from helpers import auth, identify, track

__all__ = ["shop", "worker"]  # fixtures shared with the recovery engine's tests

BROWSE_FLOWS = """
flows:
  - name: browse
    trigger: {stages: [browsing], inactive_for: 1h}
    steps:
      - {wait: 1h, channel: email, template: browse-reminder}
  - name: cart
    trigger: {stages: [cart], inactive_for: 30m}
    priority: 10
    steps:
      - {wait: 1h, channel: email, template: cart-reminder}
"""


def _browse(client: TestClient, store: CreatedStore, clock: SimulatedClock) -> None:
    post(
        client,
        store,
        identify(anonymous_id="a-1", at=clock.now(), email="ada@example.com"),
        *[
            track("Product Viewed", anonymous_id="a-1", at=clock.now(), product_id=p, price=25)
            for p in ("p-1", "p-2")
        ],
    )


def test_a_browsing_visit_gets_its_reminder(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    Two products viewed, nothing added: one email an hour after the 1 h trigger.
    """
    # given
    store = shop(BROWSE_FLOWS)
    _browse(client, store, clock)
    clock.advance(timedelta(hours=1, minutes=1))
    run(worker)
    # when
    clock.advance(timedelta(hours=1))
    run(worker)
    # then
    sent = messages(client, store)
    assert ["ada@example.com"] == [m["to"] for m in sent]
    assert "You looked at 2 products at Test Shop" in sent[0]["text"]


def test_a_cart_replaces_the_browse_sequence(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    The shopper browses, is enrolled, then fills a cart and leaves it: the browse reminder is
    cancelled `newer_cart` and the cart's reminder goes instead.
    """
    # given
    store = shop(BROWSE_FLOWS)
    _browse(client, store, clock)
    clock.advance(timedelta(hours=1, minutes=1))
    run(worker)
    # when: a cart, abandoned
    post(
        client,
        store,
        track(
            "Product Added",
            anonymous_id="a-1",
            at=clock.now(),
            cart_id="c-1",
            product_id="p-1",
            price=25,
            quantity=1,
        ),
    )
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.advance(timedelta(hours=2))
    run(worker)
    # then
    sent = messages(client, store)
    assert [("ada@example.com", "c-1")] == [(m["to"], _cart_of(client, store, m)) for m in sent]


def _cart_of(client: TestClient, store: CreatedStore, message: dict[str, object]) -> str:
    carts = client.get("/v1/carts", headers=auth(store.secret_key)).json()["data"]
    for found in carts:
        body = client.get(f"/v1/carts/{found['cart_id']}", headers=auth(store.secret_key)).json()
        if any(t["id"] == message["touch_id"] for t in body["touches"]):
            return str(found["cart_id"])
    return "?"
