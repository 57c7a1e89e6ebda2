"""
Helpers the tests share: auth headers and Segment message builders.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Any

from cartback.kit.keys import SecretBox
from cartback.services.compose import Composer

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def _selected_backends() -> list[str]:
    chosen = os.environ.get("CARTBACK_TEST_BACKENDS")
    if chosen:
        return [b.strip() for b in chosen.split(",") if b.strip()]
    return ["sqlite", "postgresql"]


#: The database backends this run tests on (`CARTBACK_TEST_BACKENDS`, default both).
BACKENDS = _selected_backends()


def auth(key: str) -> dict[str, str]:
    """
    The Bearer header for a key.
    """
    return {"Authorization": f"Bearer {key}"}


def track(
    event: str,
    *,
    anonymous_id: str | None = "anon-1",
    user_id: str | None = None,
    at: datetime | None = None,
    message_id: str | None = None,
    **properties: Any,
) -> dict[str, Any]:
    """
    A Segment track message.
    """
    message: dict[str, Any] = {
        "type": "track",
        "event": event,
        "messageId": message_id or uuid.uuid4().hex,
        "properties": properties,
    }
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    if user_id is not None:
        message["userId"] = user_id
    if at is not None:
        message["timestamp"] = at.isoformat()
    return message


def identify(
    *,
    anonymous_id: str | None = "anon-1",
    user_id: str | None = None,
    at: datetime | None = None,
    **traits: Any,
) -> dict[str, Any]:
    """
    A Segment identify message.
    """
    message: dict[str, Any] = {"type": "identify", "messageId": uuid.uuid4().hex, "traits": traits}
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    if user_id is not None:
        message["userId"] = user_id
    if at is not None:
        message["timestamp"] = at.isoformat()
    return message


#: Every problem document carries these (RFC 9457 plus the fields Segment's SDKs read).
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "message"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """
    The problem document of a response, after checking it is one with this status.
    """
    assert status == response.status_code, response.text
    assert "application/problem+json" == response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert PROBLEM_FIELDS <= body.keys()
    assert status == body["status"]
    return body


def enrolled_touch(
    *,
    store_id: str,
    contact_id: str,
    key: str,
    now: datetime,
    due_at: datetime,
    left_at: datetime | None = None,
) -> tuple[Any, Any, Any]:
    """
    An abandoned 30 USD cart, its contact's active `cart-recovery` enrollment and the first
    step's email touch `scheduled` at `due_at`: the rows a test writes to have a touch to send
    (`CartRecord`, `EnrollmentRecord`, `TouchRecord`).
    """
    from datetime import timedelta
    from decimal import Decimal

    from cartback.domain.cart import Cart, CartStatus
    from cartback.domain.consent import Channel
    from cartback.domain.events import LineItem, Stage
    from cartback.domain.ports import CartRecord, EnrollmentRecord, TouchRecord
    from cartback.domain.touches import EnrollmentStatus, Group, TouchStatus
    from cartback.kit.ids import new_id

    left = left_at or now - timedelta(hours=2)
    cart = Cart(
        key=key,
        currency="USD",
        lines=(LineItem(product_id="p", quantity=1, unit_price=Decimal(30)),),
        stage=Stage.CART,
        status=CartStatus.ABANDONED,
        last_activity_at=left,
        abandoned_at=left + timedelta(hours=1),
    )
    record = CartRecord(
        id=new_id("ca"), store_id=store_id, cart=cart, contact_id=contact_id, created_at=left
    )
    enrollment = EnrollmentRecord(
        id=new_id("en"),
        store_id=store_id,
        contact_id=contact_id,
        cart_id=record.id,
        flow="cart-recovery",
        flow_version=0,
        group=Group.TREATED,
        status=EnrollmentStatus.ACTIVE,
        stage=Stage.CART,
        triggered_at=left + timedelta(hours=1),
        started_at=left + timedelta(hours=1),
    )
    touch = TouchRecord(
        id=new_id("tc"),
        store_id=store_id,
        enrollment_id=enrollment.id,
        cart_id=record.id,
        step=0,
        channel=Channel.EMAIL,
        template="cart-reminder",
        status=TouchStatus.SCHEDULED,
        due_at=due_at,
        created_at=now,
        updated_at=now,
    )
    return record, enrollment, touch


def make_composer(base_url: str = "http://testserver") -> Composer:
    """
    A message composer signing links with the test secret (what `bootstrap` builds).
    """
    return Composer(secret_keys=[TEST_SECRET], base_url=base_url, box=SecretBox([TEST_SECRET]))
