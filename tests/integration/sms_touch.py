"""
A text touch written straight to the database (contact, cart, enrollment, touch), for tests
of what happens after the send: status callbacks and short links.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cartback.bootstrap import Container
from cartback.domain.cart import Cart
from cartback.domain.consent import Channel
from cartback.domain.events import Stage
from cartback.domain.ports import CartRecord, EnrollmentRecord, TouchRecord
from cartback.domain.touches import EnrollmentStatus, Group, TouchStatus
from cartback.kit.ids import new_id

PHONE = "+14155550123"


def sms_touch(container: Container, store_id: str, **overrides: Any) -> TouchRecord:
    """
    A sent text touch (override any field) of a fresh enrollment of a fresh contact and cart.
    """
    now = container.clock.now()
    with container.uow_factory() as uow:
        contact = uow.contacts.create(store_id, fields={"phone": PHONE}, is_bot=False, now=now)
        record = CartRecord(
            id=new_id("cart"),
            store_id=store_id,
            cart=Cart(key=new_id("key"), currency="USD", stage=Stage.CART),
            contact_id=contact.id,
            created_at=now,
        )
        uow.carts.add([record], now=now)
        enrollment = EnrollmentRecord(
            id=new_id("enr"),
            store_id=store_id,
            contact_id=contact.id,
            cart_id=record.id,
            flow="recovery",
            flow_version=1,
            group=Group.TREATED,
            status=EnrollmentStatus.ACTIVE,
            stage=Stage.CART,
            triggered_at=now,
            started_at=now,
        )
        uow.enrollments.add(enrollment)
        touch = TouchRecord(
            id=new_id("tch"),
            store_id=store_id,
            enrollment_id=enrollment.id,
            cart_id=record.id,
            step=0,
            channel=Channel.SMS,
            template="reminder",
            status=TouchStatus.SENT,
            due_at=now,
            created_at=now,
            updated_at=now,
            attempts=1,
            sent_at=now,
        )
        touch = replace(touch, **overrides)
        uow.touches.add([touch])
        uow.commit()
    return touch


def touch_now(container: Container, touch_id: str) -> TouchRecord:
    """
    The touch as stored now.
    """
    with container.uow_factory(read_only=True) as uow:
        found = uow.touches.get(touch_id)
    assert found is not None
    return found
