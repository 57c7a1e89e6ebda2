"""
LISTEN/NOTIFY on PostgreSQL: a transaction that writes a touch due now wakes the listening
workers as it commits; one that rolls back, or writes a touch due later, wakes nobody.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from cartback.bootstrap import Container
from cartback.kit.ids import new_id
from cartback.services.stores import CreatedStore
from cartback.store.wakeup import DueListener
from helpers import BACKENDS, enrolled_touch

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs PostgreSQL")

#: Generous: a notification arrives in milliseconds; this only bounds a failing test.
DELIVERY = 10.0


@pytest.fixture
def backend() -> str:
    """
    LISTEN/NOTIFY is PostgreSQL's.
    """
    return "postgresql"


@pytest.fixture
def woken(container: Container) -> Iterator[threading.Event]:
    """
    Set by a listener on the test database; cleared once it listens.
    """
    event = threading.Event()
    listener = DueListener(container.engine, event.set)
    listener.start()
    assert listener.listening.wait(DELIVERY)
    event.wait(DELIVERY)  # the wake-up every (re)connection gives
    event.clear()
    yield event
    listener.stop()


def _touch_writer(container: Container, store: CreatedStore) -> Callable[[timedelta, bool], None]:
    """
    Writes one enrolled cart's touch due `in_` from now, committing or rolling back.
    """

    def write(in_: timedelta, commit: bool) -> None:
        now = container.clock.now()
        with container.uow_factory() as uow:
            contact = uow.contacts.create(
                store.store.id,
                fields={"email": f"{new_id('p')}@example.com"},
                is_bot=False,
                now=now,
            )
            record, enrollment, touch = enrolled_touch(
                store_id=store.store.id,
                contact_id=contact.id,
                key=new_id("c"),
                now=now,
                due_at=now + in_,
            )
            uow.carts.add([record], now=now)
            uow.enrollments.add(enrollment)
            uow.touches.add([touch])
            if commit:
                uow.commit()

    return write


def test_a_touch_due_now_wakes_the_listener_on_commit(
    container: Container, store_factory: Callable[..., CreatedStore], woken: threading.Event
) -> None:
    """
    Committed: the listener is woken.
    """
    # given
    write = _touch_writer(container, store_factory())
    # when
    write(timedelta(0), True)
    # then
    assert woken.wait(DELIVERY)


def test_a_rolled_back_or_later_touch_wakes_nobody(
    container: Container, store_factory: Callable[..., CreatedStore], woken: threading.Event
) -> None:
    """
    A rollback, then a touch due in an hour: no notification; a due touch after them still
    wakes (so the silence was not a dead listener).
    """
    # given
    write = _touch_writer(container, store_factory())
    # when
    write(timedelta(0), False)
    write(timedelta(hours=1), True)
    quiet = not woken.wait(1.0)
    write(timedelta(0), True)
    # then
    assert quiet
    assert woken.wait(DELIVERY)


def test_the_container_wakes_its_workers(container: Container) -> None:
    """
    `new_worker` starts the process's listener, which wakes every worker of the container.
    """
    # given
    worker = container.new_worker(name="listen-test")
    listener = container.listener
    assert listener is not None
    assert listener.listening.wait(DELIVERY)
    # when: a notification from any session
    with container.engine.connect() as connection:
        connection.exec_driver_sql("SELECT pg_notify('cartback_due', '')")
        connection.commit()
    # then: the worker's idle wait is cut short
    assert worker._wake.wait(DELIVERY)
