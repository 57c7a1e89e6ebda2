"""
Two dispatchers on one PostgreSQL (separate connections, as two worker processes have): the
SKIP LOCKED claim and the committed `sending` state mean no touch is handed to a channel twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from cartback.bootstrap import Container
from cartback.channels.outbox import OutboxChannel
from cartback.domain.consent import Channel
from cartback.domain.ports import OutboundMessage
from cartback.services.dispatch import DispatchConfig, dispatch_due_touches
from cartback.services.stores import CreatedStore
from helpers import BACKENDS, enrolled_touch, make_composer

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
            record, enrollment, touch = enrolled_touch(
                store_id=store.store.id,
                contact_id=contact.id,
                key=f"c-{n}",
                now=now,
                due_at=now,
                left_at=now - timedelta(hours=2),
            )
            uow.carts.add([record], now=now)
            uow.enrollments.add(enrollment)
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
                config=DispatchConfig(worker_id=worker_id, composer=make_composer(), limit=10),
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
