"""
The offer journey on WooCommerce, with the shop's REST API served locally: a signed
`order.updated` webhook leaves a pending order (two products, 2 and 1), the worker creates the
coupon in the shop through the API keys `sources poll configure` stored, the resolution email
shows that coupon, and its restore link lands on the shop's checkout link with exactly the
order's products, quantities and the coupon.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from test_discount_platforms import WOO_KEY, WOO_SECRET, FakeShop, serving
from test_woocommerce_webhooks import CART_HASH, Send, order, send, shop

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.services.flows import apply_flows
from cartback.services.polling import configure_polling
from cartback.services.stores import CreatedStore
from helpers import auth

__all__ = ["send", "shop"]

RESOLUTION_FLOW = """
flows:
  - name: checkout-recovery
    trigger: {stages: [checkout], inactive_for: 30m}
    steps:
      - wait: 1h
        channel: email
        template: resolution
        offer: {kind: percent, value: 15, expires_in: 24h}
"""


@pytest.fixture
def woocommerce_api() -> Iterator[FakeShop]:
    """
    The shop's REST API (coupons), checking requests as WooCommerce documents them.
    """
    with serving(FakeShop()) as fake:
        yield fake


def test_the_coupon_the_shop_created_is_in_the_email_and_the_restore_link(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: CreatedStore,
    send: Send,
    woocommerce_api: FakeShop,
) -> None:
    """
    The coupon exists in the shop before the email shows it; the click lands on
    `/checkout-link/?products=93:2,23:1&coupon=<code>` with the UTM parameters.
    """
    # given
    configure_polling(
        uow=container.uow_factory(),
        clock=clock,
        box=container.box,
        store_id=shop.store.id,
        url=woocommerce_api.url,
        credentials={"consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET},
    )
    apply_flows(
        uow=container.uow_factory(), clock=clock, store_id=shop.store.id, text=RESOLUTION_FLOW
    )
    modified = clock.now().replace(tzinfo=None).isoformat(timespec="seconds")
    assert 200 == send(order(status="pending", date_modified_gmt=modified)).status_code
    worker = container.new_worker(name="journey")
    for _ in range(24):
        clock.advance(timedelta(minutes=5))
        worker.run_pass()
        worker.offer_pass()
        worker.dispatch_pass()
    (email,) = client.get("/v1/messages", headers=auth(shop.secret_key)).json()["data"]
    (code,) = set(re.findall(r"\b[A-HJ-NP-Z2-9]{10}\b", email["text"]))
    (link,) = set(re.findall(r"https?://[^\s\"<>]+/r/[A-Za-z0-9_.\-]+", email["text"]))

    # when
    response = client.get(urlsplit(link).path, follow_redirects=False)

    # then
    assert {code} == woocommerce_api.codes()
    coupon = woocommerce_api.last("/wp-json/wc/v3/coupons").body
    assert ("percent", "15", 1, ["john.doe@example.com"]) == (
        coupon["discount_type"],
        coupon["amount"],
        coupon["usage_limit"],
        coupon["email_restrictions"],
    )
    assert 303 == response.status_code
    location = urlsplit(response.headers["location"])
    assert "/checkout-link/" == location.path
    query = parse_qs(location.query)
    assert (["93:2,23:1"], [code], ["email"]) == (
        query["products"],
        query["coupon"],
        query["utm_medium"],
    )
    cart = client.get(f"/v1/carts/{CART_HASH}", headers=auth(shop.secret_key)).json()
    assert cart["touches"][0]["clicked_at"] is not None
