"""
Magento pushes through the real route on each database (`contract.md` §5.3): Standard Webhooks
signatures with the store's `whsec_` secret (401 and nothing stored when they fail, including
timestamps outside 5 minutes), replays by `webhook-id`, stale quotes, orders converting the cart
of their quote, unknown types and unreadable bodies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.services.stores import CreatedStore, add_webhook_secret
from cartback.store.tables import raw_events
from helpers import assert_problem, auth

FIXTURES = Path(__file__).parents[1] / "fixtures" / "magento"
SUCCESS = {"success": True}

Send = Callable[..., httpx.Response]


def fixture(name: str, **changes: Any) -> dict[str, Any]:
    """
    A Magento REST object from Adobe's documentation, with fields changed by keyword.
    """
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    document.update(changes)
    return document


def quote(**changes: Any) -> dict[str, Any]:
    """
    Quote 4 (an active cart, addresses empty), updated at 09:50 today (the clock is at 10:00).
    """
    return fixture("quote_cart_docs.json", **{"updated_at": "2026-11-27 09:50:00", **changes})


def sign(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """
    A Standard Webhooks `v1` signature, computed here with hmac.
    """
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@pytest.fixture
def shop(store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    A Magento store in the US; its generated `whsec_` secret signs the pushes.
    """
    return store_factory(platform="magento", country="US")


@pytest.fixture
def send(client: TestClient, shop: CreatedStore, clock: SimulatedClock) -> Send:
    """
    Posts an event as a Standard Webhooks sender does: signed now with the store's secret.
    """

    def post(
        kind: str | None,
        data: Any = None,
        *,
        body: bytes | None = None,
        message_id: str | None = None,
        sent_at: datetime | None = None,
        secret: str | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        content = body if body is not None else json.dumps({"type": kind, "data": data}).encode()
        identifier = message_id or f"msg_{uuid.uuid4().hex}"
        stamp = str(int((sent_at or clock.now()).timestamp()))
        headers = {
            "Content-Type": "application/json",
            "webhook-id": identifier,
            "webhook-timestamp": stamp,
            "webhook-signature": signature
            or sign(secret or shop.webhook_secret, identifier, stamp, content),
        }
        return client.post(f"/webhooks/magento/{shop.store.id}", content=content, headers=headers)

    return post


def _cart(client: TestClient, shop: CreatedStore, cart_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/carts/{cart_id}", headers=auth(shop.secret_key))
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def _stored(container: Container, shop: CreatedStore) -> list[tuple[str, str]]:
    query = (
        select(raw_events.c.idempotency_key, raw_events.c.outcome)
        .where(raw_events.c.store_id == shop.store.id)
        .order_by(raw_events.c.id)
    )
    with container.engine.connect() as connection:
        return [(row.idempotency_key, row.outcome) for row in connection.execute(query)]


def test_a_signed_quote_becomes_its_cart(
    send: Send, client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    A pushed quote is answered 200 and becomes the cart keyed by the quote id, stored under
    its webhook-id.
    """
    # when
    response = send("quote.updated", quote(), message_id="msg_1")
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    cart = _cart(client, shop, "4")
    assert ("active", "cart", 25, "mshaw@example.com") == (
        cart["status"],
        cart["stage"],
        cart["item_count"],
        cart["contact"]["email"],
    )
    assert [("msg_1", "applied")] == _stored(container, shop)


def test_an_order_converts_the_cart_of_its_quote(
    send: Send, client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    The order placed from quote 4 converts cart 4 and carries the order's increment id.
    """
    # given
    send("quote.updated", quote(updated_at="2017-08-21 22:00:00"))
    # when
    response = send("order.placed", fixture("order_docs_excerpt.json"))
    # then
    assert 200 == response.status_code
    cart = _cart(client, shop, "4")
    assert ("converted", "ordered", "000000003", "165.00") == (
        cart["status"],
        cart["stage"],
        cart["order_id"],
        cart["total"],
    )


def test_a_quote_at_checkout_is_at_the_checkout_stage(
    send: Send, client: TestClient, shop: CreatedStore
) -> None:
    """
    A quote with addresses entered (Adobe's quote 5) is the cart at checkout.
    """
    # when
    send("quote.updated", fixture("quote_checkout_docs.json", updated_at="2026-11-27 09:55:00"))
    # then
    assert "checkout" == _cart(client, shop, "5")["stage"]


@pytest.mark.parametrize(
    ("offset", "secret"),
    [
        (timedelta(0), "whsec_" + base64.b64encode(b"n" * 24).decode()),
        (timedelta(minutes=-6), None),
        (timedelta(minutes=6), None),
    ],
    ids=["other secret", "too old", "too far ahead"],
)
def test_a_bad_signature_or_timestamp_answers_401_and_stores_nothing(
    send: Send,
    container: Container,
    shop: CreatedStore,
    clock: SimulatedClock,
    offset: timedelta,
    secret: str | None,
) -> None:
    """
    Another secret, or a delivery sent more than 5 minutes from now, is refused with no trace.
    """
    # when
    response = send("quote.updated", quote(), sent_at=clock.now() + offset, secret=secret)
    # then
    assert_problem(response, 401)
    assert [] == _stored(container, shop)


def test_a_delivery_without_the_headers_answers_401(
    client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    A body posted without Standard Webhooks headers is refused.
    """
    # when
    response = client.post(
        f"/webhooks/magento/{shop.store.id}",
        json={"type": "quote.updated", "data": quote()},
    )
    # then
    assert_problem(response, 401)
    assert [] == _stored(container, shop)


def test_a_replayed_webhook_id_is_stored_once(
    send: Send, client: TestClient, container: Container, shop: CreatedStore, clock: SimulatedClock
) -> None:
    """
    A retry (same webhook-id, new timestamp and signature) is answered 200 and changes nothing.
    """
    # given
    send("quote.updated", quote(), message_id="msg_retry")
    before = _cart(client, shop, "4")
    clock.advance(timedelta(seconds=30))
    # when
    response = send("quote.updated", quote(), message_id="msg_retry")
    # then
    assert 200 == response.status_code
    assert [("msg_retry", "applied")] == _stored(container, shop)
    assert before == _cart(client, shop, "4")


def test_an_older_quote_delivered_late_changes_nothing(
    send: Send, client: TestClient, container: Container, shop: CreatedStore
) -> None:
    """
    A quote updated before the stored one is stale, even under a new webhook-id.
    """
    # given
    send("quote.updated", quote(), message_id="msg_new")
    before = _cart(client, shop, "4")
    older = quote(updated_at="2026-11-27 09:40:00", items=quote()["items"][:1])
    # when
    send("quote.updated", older, message_id="msg_old")
    # then
    assert [("msg_new", "applied"), ("msg_old", "stale")] == _stored(container, shop)
    assert before == _cart(client, shop, "4")


def test_a_rotated_secret_verifies(send: Send, container: Container, shop: CreatedStore) -> None:
    """
    After a second secret is added, deliveries signed with it verify.
    """
    # given
    rotated = "whsec_" + base64.b64encode(b"r" * 32).decode()
    add_webhook_secret(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=shop.store.id,
        secret=rotated,
    )
    # when
    response = send("quote.updated", quote(), secret=rotated)
    # then
    assert 200 == response.status_code


def test_an_unknown_type_answers_200_and_stores_nothing(
    send: Send, container: Container, shop: CreatedStore
) -> None:
    """
    Event types Cartback does not use are acknowledged and ignored.
    """
    # when
    response = send("customer.updated", {"id": 2})
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    assert [] == _stored(container, shop)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", ""),
        (b'{"data": {}}', "type"),
        (json.dumps({"type": "quote.updated", "data": {"items": []}}).encode(), "data.id"),
    ],
    ids=["bad JSON", "no type", "no quote id"],
)
def test_a_signed_body_that_cannot_be_read_answers_400(
    send: Send, container: Container, shop: CreatedStore, body: bytes, field: str
) -> None:
    """
    A signed body that is not an event Cartback can read is refused, naming the field.
    """
    # when
    response = send(None, body=body)
    # then
    problem = assert_problem(response, 400)
    assert field in [error["field"] for error in problem["errors"]]
    assert [] == _stored(container, shop)
