"""
Product webhooks write the catalog, on each database (`docs/platforms.md`): Shopify
`products/create` / `products/update` (one item per variant, from `inventory_quantity`,
`inventory_policy` and the product's `status`) and WooCommerce `product.created` /
`product.updated` (`stock_status`, `stock_quantity`), through the same signature checks as
every webhook; and a product update that brings an abandoned cart's variant back enrolls it.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.services.flows import apply_flows
from cartback.services.stores import CreatedStore, add_webhook_secret
from cartback.sources import shopify, woocommerce
from cartback.store.tables import catalog_items
from helpers import assert_problem, auth, identify, track

FIXTURES = Path(__file__).parents[1] / "fixtures"
SECRET = "shpss_catalog_secret"
SMALL = "642667041472713922"

RESTOCK_FLOWS = """
flows:
  - name: restock
    trigger: {stages: [cart], kind: back_in_stock, window: 14d}
    steps:
      - {wait: 1m, channel: email, template: back-in-stock}
"""

Send = Callable[..., httpx.Response]


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_bytes())
    return document


@pytest.fixture
def store(container: Container, store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    A US store with a webhook secret, running a back-in-stock flow.
    """
    created = store_factory(platform="shopify", country="US", timezone="America/New_York")
    add_webhook_secret(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=created.store.id,
        secret=SECRET,
    )
    apply_flows(
        uow=container.uow_factory(),
        clock=container.clock,
        store_id=created.store.id,
        text=RESTOCK_FLOWS,
    )
    return created


@pytest.fixture
def send(client: TestClient, store: CreatedStore) -> Send:
    """
    Posts a body signed as Shopify or WooCommerce signs it, with the platform's headers.
    """

    def post(
        platform: str, topic: str, body: dict[str, Any] | bytes, *, secret: str = SECRET
    ) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        if platform == "shopify":
            headers = {
                "X-Shopify-Topic": topic,
                "X-Shopify-Hmac-Sha256": shopify.signature(secret, content),
                "X-Shopify-Event-Id": str(uuid.uuid4()),
                "X-Shopify-Shop-Domain": "snowdevil.myshopify.com",
            }
        else:
            headers = {
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
                "X-WC-Webhook-Signature": woocommerce.signature(content, secret),
            }
        headers["Content-Type"] = "application/json"
        url = f"/webhooks/{platform}/{store.store.id}"
        return client.post(url, content=content, headers=headers)

    return post


def items(container: Container, store: CreatedStore) -> list[tuple[Any, ...]]:
    """
    The store's catalog rows: key, product, variant, sku, available, quantity, preorder.
    """
    table = catalog_items.c
    query = (
        select(
            table.item_key,
            table.product_id,
            table.variant_id,
            table.sku,
            table.available,
            table.quantity,
            table.preorder,
        )
        .where(table.store_id == store.store.id)
        .order_by(table.item_key)
    )
    with container.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def test_shopify_products_update_writes_one_item_per_variant(
    send: Send, container: Container, store: CreatedStore
) -> None:
    """
    Sold out (deny, 0): unavailable; 3 left: available, 3; sold past zero (continue): available
    without a count; not tracked: available without a count.
    """
    # when
    response = send("shopify", "products/update", fixture("shopify/products_update_2024.json"))
    # then
    assert 200 == response.status_code, response.text
    product = "788032119674292922"
    assert [
        (f"v:{SMALL}", product, SMALL, "example-shirt-s", False, 0, False),
        ("v:757650484644203962", product, "757650484644203962", "example-shirt-m", True, 3, False),
        ("v:808950810", product, "808950810", "example-shirt-l", True, None, False),
        ("v:808950811", product, "808950811", "example-shirt-xl", True, None, False),
    ] == items(container, store)


def test_a_draft_or_preorder_tagged_shopify_product(
    send: Send, container: Container, store: CreatedStore
) -> None:
    """
    `products/create` of a draft: nothing is available; a `Pre-Order` tag marks a pre-order.
    """
    # given
    body = fixture("shopify/products_update_2024.json")
    body.update(status="draft", tags="Pre-Order, mens")
    # when
    response = send("shopify", "products/create", body)
    # then
    assert 200 == response.status_code, response.text
    assert {(False, True)} == {(row[4], row[6]) for row in items(container, store)}


def test_a_bad_shopify_signature_writes_nothing(
    send: Send, container: Container, store: CreatedStore
) -> None:
    """
    Signed with another secret: 401 and no item.
    """
    body = fixture("shopify/products_update_2024.json")
    response = send("shopify", "products/update", body, secret="not-the-secret")
    assert_problem(response, 401)
    assert [] == items(container, store)


@pytest.mark.parametrize(
    "change",
    [{"variants": "none"}, {"id": None}, {"variants": [{"id": 1, "inventory_quantity": "x"}]}],
)
def test_a_shopify_product_that_is_not_one_is_a_400_problem(
    send: Send, container: Container, store: CreatedStore, change: dict[str, Any]
) -> None:
    """
    A product without an id, or with variants that are not variants: 400, nothing written.
    """
    body = fixture("shopify/products_update_2024.json")
    body.update(change)
    response = send("shopify", "products/update", body)
    assert_problem(response, 400)
    assert [] == items(container, store)


def test_woocommerce_products_and_variations_write_their_items(
    send: Send, container: Container, store: CreatedStore
) -> None:
    """
    A simple product out of stock is unavailable; a variation in stock is its parent's variant
    with its count; `onbackorder` is not claimed available.
    """
    # given
    backorder = copy.deepcopy(fixture("woocommerce/product_updated_v3.json"))
    backorder.update(id=795, sku="PQ-20", stock_status="onbackorder", manage_stock=False)
    # when
    responses = [
        send("woocommerce", "product.updated", fixture("woocommerce/product_updated_v3.json")),
        send("woocommerce", "product.created", fixture("woocommerce/product_variation_v3.json")),
        send("woocommerce", "product.updated", backorder),
    ]
    # then
    assert [200, 200, 200] == [r.status_code for r in responses]
    assert [
        ("p:794", "794", None, "PQ-19", False, 0, False),
        ("p:795", "795", None, "PQ-20", False, None, False),
        ("v:733", "732", "733", "SYI-BLACK", True, 6, False),
    ] == items(container, store)


def test_a_woocommerce_product_that_is_not_one_is_a_400_problem(
    send: Send, container: Container, store: CreatedStore
) -> None:
    """
    A product body without an id: 400, nothing written.
    """
    response = send("woocommerce", "product.updated", {"name": "no id"})
    assert_problem(response, 400)
    assert [] == items(container, store)


def test_a_shopify_restock_enrolls_the_cart_left_with_the_sold_out_variant(
    client: TestClient,
    send: Send,
    container: Container,
    store: CreatedStore,
    clock: SimulatedClock,
) -> None:
    """
    The small shirt is sold out when the cart is left; a `products/update` a day later with 5
    in stock enrolls the contact in `restock`, whose message goes a minute later.
    """
    # given
    product = fixture("shopify/products_update_2024.json")
    assert 200 == send("shopify", "products/update", product).status_code
    batch = [
        identify(anonymous_id="a-1", at=clock.now(), email="ada@example.com"),
        track(
            "Product Added",
            anonymous_id="a-1",
            at=clock.now(),
            cart_id="c-1",
            product_id="788032119674292922",
            variant_id=SMALL,
            name="Example T-Shirt",
            price=19.99,
        ),
    ]
    client.post("/v1/batch", json={"batch": batch}, headers=auth(store.secret_key))
    worker = container.new_worker(name="test")
    clock.advance(timedelta(minutes=31))
    worker.run_pass()
    clock.advance(timedelta(days=1))
    # when
    product["updated_at"] = clock.now().isoformat()
    product["variants"][0]["inventory_quantity"] = 5
    assert 200 == send("shopify", "products/update", product).status_code
    clock.advance(timedelta(minutes=1))
    worker.run_pass()
    worker.dispatch_pass()
    # then
    response = client.get("/v1/carts/c-1", headers=auth(store.secret_key))
    assert [("restock", "sent")] == [(t["flow"], t["status"]) for t in response.json()["touches"]]
