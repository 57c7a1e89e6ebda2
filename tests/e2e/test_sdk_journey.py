"""
A shopper's journey sent by the real Segment and RudderStack Python SDKs to a real
`cartback serve`, read back over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness import Server
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 30.0


def _segment(server: Server) -> SegmentClient:
    return SegmentClient(
        write_key=server.keys["secret_key"], host=server.base_url, sync_mode=True, max_retries=0
    )


def _rudder(server: Server) -> RudderClient:
    return RudderClient(
        write_key=server.keys["secret_key"],
        host=server.base_url,
        sync_mode=True,
        gzip=True,
        max_retries=0,
    )


def _product(product_id: str, price: float, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {"product_id": product_id, "price": price, "quantity": quantity, **extra}


def _wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("the condition did not hold in time")


def test_segment_sdk_journey_reads_back_as_the_cart(server: Server) -> None:
    """
    Views, adds, a removal, identify, checkout and a failed payment end as the cart shows.
    """
    # given
    analytics = _segment(server)
    anon, cart = "anon-seg-1", "cart-seg-1"
    mug = {
        "cart_id": cart,
        "product_id": "mug",
        "variant_id": "mug-blue",
        "variant": "Blue",
        "sku": "MUG-B",
        "name": "Mug",
        "price": 12.5,
        "quantity": 2,
        "category": "Kitchen",
        "image_url": "https://cdn.example.com/mug.png",
        "url": "https://shop.example.com/mug",
        "currency": "EUR",
    }
    # when
    analytics.track(anonymous_id=anon, event="Product Viewed", properties={"product_id": "mug"})
    analytics.track(anonymous_id=anon, event="Product Added", properties=mug)
    analytics.track(
        anonymous_id=anon,
        event="Product Added",
        properties={"cart_id": cart, "product_id": "tee", "price": 20, "quantity": 1},
    )
    analytics.track(
        anonymous_id=anon,
        event="Product Removed",
        properties={"cart_id": cart, "product_id": "tee"},
    )
    analytics.track(anonymous_id=anon, event="Cart Viewed", properties={"cart_id": cart})
    analytics.identify(anonymous_id=anon, traits={"email": "Shopper@Example.com"})
    analytics.track(
        anonymous_id=anon,
        event="Checkout Started",
        properties={"cart_id": cart, "checkout_id": "chk-1", "currency": "EUR"},
    )
    analytics.track(anonymous_id=anon, event="Payment Info Entered", properties={"cart_id": cart})
    analytics.track(
        anonymous_id=anon,
        event="Payment Failed",
        properties={"cart_id": cart, "reason": "card_declined"},
    )
    analytics.flush()
    with server.client() as http:
        body = http.get(f"/v1/carts/{cart}").json()
    # then
    assert "active" == body["status"]
    assert "payment_failed" == body["stage"]
    assert "card_declined" == body["payment_failure_reason"]
    assert "EUR" == body["currency"]
    assert "25.00" == body["total"]
    assert "shopper@example.com" == body["contact"]["email"]
    assert [
        {
            "product_id": "mug",
            "variant_id": "mug-blue",
            "variant": "Blue",
            "sku": "MUG-B",
            "name": "Mug",
            "quantity": 2,
            "unit_price": "12.50",
            "line_total": "25.00",
            "image_url": "https://cdn.example.com/mug.png",
            "url": "https://shop.example.com/mug",
            "category": "Kitchen",
        }
    ] == body["items"]


def test_rudderstack_sdk_order_converts_the_cart(server: Server) -> None:
    """
    A gzip-batched RudderStack journey that ends in an order leaves the cart converted.
    """
    # given
    analytics = _rudder(server)
    user, cart = "user-42", "cart-rud-1"
    # when
    analytics.identify(user_id=user, traits={"email": "buyer@example.com", "phone": "+14155552671"})
    analytics.track(
        user_id=user,
        event="Product Added",
        properties={"cart_id": cart, **_product("lamp", 49.99, 1)},
    )
    analytics.track(
        user_id=user,
        event="Checkout Started",
        properties={"cart_id": cart, "value": 54.99, "products": [_product("lamp", 49.99)]},
    )
    analytics.track(
        user_id=user,
        event="Order Completed",
        properties={"cart_id": cart, "order_id": "ord-9", "total": 54.99},
    )
    analytics.flush()
    with server.client() as http:
        body = http.get(f"/v1/carts/{cart}").json()
    # then
    assert ("converted", "ordered", "ord-9") == (body["status"], body["stage"], body["order_id"])
    assert "54.99" == body["total"]
    assert ("buyer@example.com", "+14155552671") == (
        body["contact"]["email"],
        body["contact"]["phone"],
    )


def test_inactive_cart_is_marked_abandoned_by_the_running_worker(server: Server) -> None:
    """
    The in-process worker marks a cart abandoned at the moment its inactivity ran out.
    """
    # given: the last activity was 58 s ago, so with --abandon-after 1m it is due in ~2 s
    analytics = _segment(server)
    last_activity = datetime.now(UTC) - timedelta(seconds=58)
    analytics.track(
        anonymous_id="anon-ab",
        event="Product Added",
        timestamp=last_activity,
        properties={"cart_id": "cart-ab", **_product("sock", 5)},
    )
    analytics.flush()
    with server.client() as http:
        before = http.get("/v1/carts/cart-ab").json()

        # when
        def abandoned() -> bool:
            return http.get("/v1/carts/cart-ab").json()["status"] == "abandoned"

        _wait_for(abandoned)
        after = http.get("/v1/carts/cart-ab").json()
    # then
    assert "active" == before["status"]
    assert before["next_check_at"] == after["abandoned_at"]


def test_an_order_before_the_deadline_converts_and_is_never_abandoned(server: Server) -> None:
    """
    An order placed while the cart is still active wins over the abandonment timer.
    """
    # given
    analytics = _segment(server)
    # 5 s before the deadline: room for two requests on a busy machine, so the test says
    # what the product does, not how fast the machine is.
    start = datetime.now(UTC) - timedelta(seconds=55)
    analytics.track(
        anonymous_id="anon-ord",
        event="Product Added",
        timestamp=start,
        properties={"cart_id": "cart-ord", **_product("hat", 15)},
    )
    # when
    analytics.track(
        anonymous_id="anon-ord",
        event="Order Completed",
        properties={"cart_id": "cart-ord", "order_id": "o-1"},
    )
    analytics.flush()
    time.sleep(6)  # past the old deadline: the worker has had its chance to misfire
    with server.client() as http:
        body = http.get("/v1/carts/cart-ord").json()
    # then
    assert ("converted", None) == (body["status"], body["abandoned_at"])
