"""
SMS pacing per sender: the worker sends a store's texts no faster than its sender's carrier
rate (long code 1 segment/s by default, toll-free 3/s), deferring the rest to reserved slots.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from test_recovery_engine import (
    SMS_FLOWS,
    _grant_sms,
    _parse,
    cart,
    leave_cart,
    messages,
    run,
    shop,
    worker,
)

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services.sms_config import configure_sms
from cartback.services.stores import CreatedStore

__all__ = ["shop", "worker"]  # fixtures shared with the recovery engine's tests

#: 15:00 in New York: inside every quiet-hours window.
AFTERNOON = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)


def _three_texts_due(
    client: TestClient, store: CreatedStore, clock: SimulatedClock, container: Container
) -> list[str]:
    carts = []
    for n in range(3):
        cart_id = f"c-{n}"
        leave_cart(
            client, store, clock, cart_id=cart_id, anonymous_id=f"a-{n}", phone=f"+1212555010{n}"
        )
        _grant_sms(client, store, container, cart_id=cart_id)
        carts.append(cart_id)
    return carts


def _configure(container: Container, store: CreatedStore, **options: object) -> None:
    configure_sms(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=store.store.id,
        account_sid="AC" + "0" * 32,
        auth_token="t" * 32,
        sender="+12125550199",
        **options,  # type: ignore[arg-type]
    )


def test_a_long_code_sends_one_text_a_second(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    Three texts due at once from one long code: one goes now, the others are deferred
    `sender_rate` to the next seconds and go then, once each.
    """
    # given
    store = shop(SMS_FLOWS)
    _configure(container, store)
    carts = _three_texts_due(client, store, clock, container)
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    clock.set(AFTERNOON)
    run(worker)
    # then
    touches = [cart(client, store, c)["touches"][0] for c in carts]
    waiting = sorted(_parse(t["due_at"]) for t in touches if t["status"] == "deferred")
    assert 1 == len(messages(client, store, channel="sms"))
    assert {"sender_rate"} == {t["reason"] for t in touches if t["status"] == "deferred"}
    assert [AFTERNOON + timedelta(seconds=s) for s in (1, 2)] == waiting
    # when: the slots come
    for _ in range(2):
        clock.advance(timedelta(seconds=1))
        run(worker)
    # then
    sent = messages(client, store, channel="sms")
    assert ["+12125550100", "+12125550101", "+12125550102"] == sorted(m["to"] for m in sent)


@pytest.mark.parametrize(
    ("options", "at_once"), [({"sender_kind": "toll_free"}, 3), ({"sender_rate": 2}, 2)]
)
def test_a_faster_sender_sends_more_at_once(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
    options: dict[str, object],
    at_once: int,
) -> None:
    """
    A toll-free number (3/s) sends all three now; a sender set to 2/s sends two.
    """
    # given
    store = shop(SMS_FLOWS)
    _configure(container, store, **options)
    _three_texts_due(client, store, clock, container)
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    clock.set(AFTERNOON)
    run(worker)
    # then
    assert at_once == len(messages(client, store, channel="sms"))
