"""
WooCommerce webhooks through the real route on each database (`contract.md` §5.3): the
activation ping, signatures (401 and nothing stored), redeliveries, stale updates, orders
converting and changing their carts, deletions, unknown topics, bad bodies and wrong stores.
"""

from __future__ import annotations

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
from cartback.services.stores import CreatedStore, add_webhook_secret
from cartback.sources.woocommerce import signature
from cartback.store.tables import orders, raw_events
from helpers import assert_problem, auth

FIXTURES = Path(__file__).parents[1] / "fixtures" / "woocommerce"
SECRET = "my-webhook-secret"
SUCCESS = {"success": True}
CART_HASH = "5040ce7273261e31d8bcf79f9be3d279"

Send = Callable[..., httpx.Response]


def order(**changes: Any) -> dict[str, Any]:
    """
    Order 727 from WooCommerce's documentation, changed at 09:50 today (the clock is at 10:00),
    with a cart hash, and other fields changed by keyword.
    """
    document: dict[str, Any] = json.loads((FIXTURES / "order_retrieve_v3_docs.json").read_bytes())
    document.update(cart_hash=CART_HASH, date_modified_gmt="2026-11-27T09:50:00")
    document.update(changes)
    return document


@pytest.fixture
def shop(container: Container, store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    A WooCommerce store in the US whose webhooks are signed with the merchant's secret.
    """
    created = store_factory(platform="woocommerce", country="US")
    add_webhook_secret(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=created.store.id,
        secret=SECRET,
    )
    return created


@pytest.fixture
def send(client: TestClient, shop: CreatedStore) -> Send:
    """
    Posts a body as WooCommerce delivers it: signed, with its topic and delivery headers.
    """

    def post(
        body: dict[str, Any] | bytes,
        *,
        topic: str = "order.updated",
        delivery_id: str | None = None,
        secret: str | None = SECRET,
        store_id: str | None = None,
    ) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)",
            "X-WC-Webhook-Source": "https://shop.example.com/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": topic.split(".", maxsplit=1)[0],
            "X-WC-Webhook-Event": topic.rsplit(".", maxsplit=1)[-1],
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": delivery_id or uuid.uuid4().hex,
        }
        if secret is not None:
            headers["X-WC-Webhook-Signature"] = signature(content, secret)
        return client.post(
            f"/webhooks/woocommerce/{store_id or shop.store.id}", content=content, headers=headers
        )

    return post


def _cart(client: TestClient, shop: CreatedStore, cart_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/carts/{cart_id}", headers=auth(shop.secret_key))
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def _stored(container: Container, shop: CreatedStore) -> list[str]:
    query = (
        select(raw_events.c.outcome)
        .where(raw_events.c.store_id == shop.store.id)
        .order_by(raw_events.c.id)
    )
    with container.engine.connect() as connection:
        return [row.outcome for row in connection.execute(query)]


def _order_status(container: Container, shop: CreatedStore, order_key: str) -> str | None:
    query = select(orders.c.status).where(
        orders.c.store_id == shop.store.id, orders.c.order_key == order_key
    )
    with container.engine.connect() as connection:
        return connection.execute(query).scalar_one_or_none()


# --- verify, dedupe, persist, answer --------------------------------------------------------


def test_the_activation_ping_answers_200_and_stores_nothing(
    client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    WooCommerce's unsigned `webhook_id=N` form post activates the webhook: 200, nothing stored.
    """
    # when
    response = client.post(
        f"/webhooks/woocommerce/{shop.store.id}",
        content=(FIXTURES / "ping.txt").read_bytes(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    assert [] == _stored(container, shop)


@pytest.mark.parametrize("secret", ["not-the-secret", None], ids=["wrong secret", "no signature"])
def test_a_bad_or_missing_signature_answers_401_and_stores_nothing(
    send: Send, container: Container, shop: CreatedStore, secret: str | None
) -> None:
    """
    An order signed with another secret, or not at all, is refused and leaves no trace.
    """
    # when
    response = send(order(status="pending"), secret=secret)
    # then
    assert_problem(response, 401)
    assert [] == _stored(container, shop)


def test_a_pending_order_is_the_cart_at_checkout(
    send: Send, client: TestClient, shop: CreatedStore
) -> None:
    """
    A pending order is answered 200 and becomes the cart (its cart hash) at checkout, with its
    lines, total and the billing contact.
    """
    # when
    response = send(order(status="pending"), topic="order.created")
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    cart = _cart(client, shop, CART_HASH)
    assert ("active", "checkout", "29.35", 3, "john.doe@example.com") == (
        cart["status"],
        cart["stage"],
        cart["total"],
        cart["item_count"],
        cart["contact"]["email"],
    )


def test_the_secret_cartback_generated_also_verifies(
    send: Send, client: TestClient, shop: CreatedStore
) -> None:
    """
    The merchant may paste the store's generated webhook secret into WooCommerce instead.
    """
    # when
    response = send(order(status="pending"), secret=shop.webhook_secret)
    # then
    assert 200 == response.status_code
    assert "checkout" == _cart(client, shop, CART_HASH)["stage"]


def test_a_redelivery_changes_nothing(
    send: Send, client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    The same delivery sent twice is stored once; the second is a recognised duplicate.
    """
    # given
    send(order(status="pending"), delivery_id="d-1")
    before = _cart(client, shop, CART_HASH)
    # when
    response = send(order(status="pending"), delivery_id="d-1")
    # then
    assert 200 == response.status_code
    assert ["applied"] == _stored(container, shop)
    assert before == _cart(client, shop, CART_HASH)


def test_an_older_update_delivered_late_changes_nothing(
    send: Send, client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    A pending state modified before the failed payment already stored is stale.
    """
    # given
    send(order(status="failed", date_modified_gmt="2026-11-27T09:55:00"))
    before = _cart(client, shop, CART_HASH)
    # when
    response = send(order(status="pending", date_modified_gmt="2026-11-27T09:50:00"))
    # then
    assert 200 == response.status_code
    assert ["applied", "applied", "stale"] == _stored(container, shop)
    assert before == _cart(client, shop, CART_HASH)
    assert "payment_failed" == before["stage"]


def test_a_processing_order_converts_its_cart(
    send: Send, client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    A paid (processing) order converts its cart and records the order as placed.
    """
    # given
    send(order(status="pending", date_modified_gmt="2026-11-27T09:40:00"))
    # when
    response = send(order(status="processing"))
    # then
    assert 200 == response.status_code
    cart = _cart(client, shop, CART_HASH)
    assert ("converted", "ordered", "727") == (cart["status"], cart["stage"], cart["order_id"])
    assert "placed" == _order_status(container, shop, "727")


def test_an_order_without_a_cart_hash_is_a_cart_of_its_own(
    send: Send, client: TestClient, shop: CreatedStore
) -> None:
    """
    An order made in the admin (no cart hash) is the converted cart `order-<id>`.
    """
    # when
    send(order(status="completed", cart_hash=""))
    # then
    assert "converted" == _cart(client, shop, "order-727")["status"]


@pytest.mark.parametrize(
    ("topic", "body", "expected"),
    [
        (
            "order.updated",
            order(status="cancelled", date_modified_gmt="2026-11-27T09:58:00"),
            "cancelled",
        ),
        (
            "order.updated",
            order(status="refunded", date_modified_gmt="2026-11-27T09:58:00"),
            "refunded",
        ),
        ("order.deleted", {"id": 727}, "deleted"),
    ],
    ids=["cancelled", "refunded", "deleted"],
)
def test_a_later_change_updates_the_order_not_the_cart(
    send: Send,
    client: TestClient,
    container: Container,
    shop: CreatedStore,
    topic: str,
    body: dict[str, Any],
    expected: str,
) -> None:
    """
    A cancellation, refund or deletion after the order changes the order's status; the cart
    did convert.
    """
    # given
    send(order(status="processing"))
    # when
    response = send(body, topic=topic)
    # then
    assert 200 == response.status_code
    assert expected == _order_status(container, shop, "727")
    assert "converted" == _cart(client, shop, CART_HASH)["status"]


def test_a_pending_order_cancelled_by_the_shop_stays_recoverable(
    send: Send, client: TestClient, shop: CreatedStore
) -> None:
    """
    WooCommerce cancels unpaid orders after a while; the cart never ordered, so it stays open.
    """
    # given
    send(order(status="pending", date_modified_gmt="2026-11-27T09:40:00"))
    # when
    send(order(status="cancelled"))
    # then
    cart = _cart(client, shop, CART_HASH)
    assert ("active", "checkout") == (cart["status"], cart["stage"])


# --- what is not an order -------------------------------------------------------------------


def test_an_unknown_topic_answers_200_and_stores_nothing(
    send: Send, container: Container, shop: CreatedStore
) -> None:
    """
    Topics Cartback does not use (products, coupons) are acknowledged and ignored.
    """
    # when
    response = send({"id": 93, "name": "Woo Single #1"}, topic="product.updated")
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    assert [] == _stored(container, shop)


@pytest.mark.parametrize(
    ("body", "topic", "path"),
    [
        (b"{not json", "order.updated", ""),
        (json.dumps({"id": 727}).encode(), "order.updated", "status"),
        (json.dumps(order()).encode(), "order.deleted", "parent_id"),
    ],
    ids=["bad JSON", "no status", "order body as deleted"],
)
def test_a_signed_body_that_cannot_be_read_answers_400(
    send: Send, container: Container, shop: CreatedStore, body: bytes, topic: str, path: str
) -> None:
    """
    A signed body that is not an order of its topic is refused with the field's path.
    """
    # when
    response = send(body, topic=topic)
    # then
    problem = assert_problem(response, 400)
    assert path in [error["field"] for error in problem["errors"]]
    assert [] == _stored(container, shop)


def test_another_stores_id_answers_404(send: Send) -> None:
    """
    A delivery for a store that does not exist is not found.
    """
    # when
    response = send(order(status="pending"), store_id="st_" + "0" * 26)
    # then
    assert_problem(response, 404)


def test_a_delivery_signed_for_another_store_is_refused(
    send: Send, store_factory: Callable[..., CreatedStore], container: Container
) -> None:
    """
    Another store's id with this store's signature is refused: secrets are per store.
    """
    # given
    other = store_factory(platform="woocommerce")
    # when
    response = send(order(status="pending"), store_id=other.store.id)
    # then
    assert_problem(response, 401)
    assert [] == _stored(container, other)


def test_a_failed_order_stores_its_checkout_and_its_failed_payment(
    send: Send, container: Container, shop: CreatedStore
) -> None:
    """
    A failed order stores two messages (checkout, then the failed payment) under one delivery.
    """
    # when
    send(order(status="failed"))
    # then
    query = (
        select(func.count())
        .select_from(raw_events)
        .where(raw_events.c.store_id == shop.store.id, raw_events.c.source == "woocommerce")
    )
    with container.engine.connect() as connection:
        assert 2 == connection.execute(query).scalar_one()
