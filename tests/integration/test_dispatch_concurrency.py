"""
Two dispatchers on one PostgreSQL (separate connections, as two worker processes have): the
SKIP LOCKED claim and the committed `sending` state mean no touch is handed to a channel twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest

from cartback.bootstrap import Container
from cartback.channels.outbox import OutboxChannel
from cartback.domain.cart import Cart, CartStatus
from cartback.domain.consent import Channel
from cartback.domain.events import LineItem, Stage
from cartback.domain.ports import CartRecord, EnrollmentRecord, OutboundMessage, TouchRecord
from cartback.domain.touches import EnrollmentStatus, Group, TouchStatus
from cartback.kit.ids import new_id
from cartback.services.dispatch import DispatchConfig, dispatch_due_touches
from cartback.services.stores import CreatedStore
from helpers import BACKENDS

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs PostgreSQL")

TOUCHES = 200


@pytest.fixture
def backend() -> str:
    """
    This is about PostgreSQL's row locks.
    """
    return "postgresql"


class CountingChannel:
    """
    The outbox channel, counting every call per touch (slowed a little to widen the window).
    """

    def __init__(self, inner: OutboxChannel) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def send(self, message: OutboundMessage, idempotency_key: str) -> str:
        with self._lock:
            self.calls[idempotency_key] += 1
        time.sleep(0.001)
        return self._inner.send(message, idempotency_key)

    def status(self, idempotency_key: str) -> str | None:
        return self._inner.status(idempotency_key)


def _seed(container: Container, store: CreatedStore) -> list[str]:
    now = container.clock.now()
    ids = []
    with container.uow_factory() as uow:
        for n in range(TOUCHES):
            contact = uow.contacts.create(
                store.store.id, fields={"email": f"p{n}@example.com"}, is_bot=False, now=now
            )
            cart = Cart(
                key=f"c-{n}",
                currency="USD",
                lines=(LineItem(product_id="p", quantity=1, unit_price=Decimal(30)),),
                stage=Stage.CART,
                status=CartStatus.ABANDONED,
                last_activity_at=now - timedelta(hours=2),
                abandoned_at=now - timedelta(hours=1),
            )
            record = CartRecord(
                id=new_id("ca"),
                store_id=store.store.id,
                cart=cart,
                contact_id=contact.id,
                created_at=now,
            )
            uow.carts.add([record], now=now)
            enrollment = EnrollmentRecord(
                id=new_id("en"),
                store_id=store.store.id,
                contact_id=contact.id,
                cart_id=record.id,
                flow="cart-recovery",
                flow_version=0,
                group=Group.TREATED,
                status=EnrollmentStatus.ACTIVE,
                stage=Stage.CART,
                triggered_at=now - timedelta(hours=1),
                started_at=now - timedelta(hours=1),
            )
            uow.enrollments.add(enrollment)
            touch = TouchRecord(
                id=new_id("tc"),
                store_id=store.store.id,
                enrollment_id=enrollment.id,
                cart_id=record.id,
                step=0,
                channel=Channel.EMAIL,
                template="cart-reminder",
                status=TouchStatus.SCHEDULED,
                due_at=now,
                created_at=now,
                updated_at=now,
            )
            uow.touches.add([touch])
            ids.append(touch.id)
        uow.commit()
    return ids


def test_two_dispatchers_never_send_one_touch_twice(
    container: Container, store_factory: type[CreatedStore]
) -> None:
    """
    200 due touches, two dispatchers claiming 10 at a time: each touch is sent exactly once.
    """
    # given
    store = store_factory(country="US", timezone="America/New_York")  # type: ignore[call-arg]
    ids = _seed(container, store)
    channel = CountingChannel(
        OutboxChannel(uow_factory=container.uow_factory, clock=container.clock)
    )
    errors: list[BaseException] = []

    def work(worker_id: str) -> None:
        try:
            while dispatch_due_touches(
                uow_factory=container.uow_factory,
                clock=container.clock,
                channels={Channel.EMAIL: channel},
                config=DispatchConfig(worker_id=worker_id, limit=10),
            ).processed:
                pass
        except BaseException as error:  # surfaced below
            errors.append(error)

    # when
    threads = [threading.Thread(target=work, args=(f"wk_{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert [] == errors
    assert set(ids) == set(channel.calls)
    assert {1} == set(channel.calls.values())
    with container.uow_factory(read_only=True) as uow:
        stored = uow.outbox.list_for_store(store.store.id, cart_key=None, channel=None, limit=500)
    assert TOUCHES == len(stored)
    assert {"sent"} == {m.status for m in stored}
