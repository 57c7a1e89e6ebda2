"""
`exit_on` through the real worker: an unsubscribe ends the sequence (the shipped default), and
a flow that lists `replied` ends when the shopper answers a text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from test_recovery_engine import (
    EMAIL_FLOWS,
    _grant_sms,
    cart,
    leave_cart,
    messages,
    run,
    shop,
    statuses,
    worker,
)

from cartback.bootstrap import Container
from cartback.domain.consent import Channel, ConsentClaim, Purpose
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services.permission import append_claims
from cartback.services.sms_replies import SmsReply, receive_sms
from cartback.services.stores import CreatedStore

__all__ = ["shop", "worker"]  # fixtures shared with the recovery engine's tests

REPLY_FLOWS = """
flows:
  - name: sms-chat
    trigger: {stages: [cart], inactive_for: 30m}
    exit_on: [ordered, replied]
    steps:
      - {wait: 1h, channel: sms, template: nudge}
      - {wait: 23h, channel: sms, template: again}
"""


def test_an_unsubscribe_ends_the_sequence(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    The shopper withdraws email consent after the first touch: the next touch cancels the
    enrollment `unsubscribed`, so the last one is cancelled too rather than checked again.
    """
    # given
    store = shop(EMAIL_FLOWS)
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.advance(timedelta(hours=1))
    run(worker)
    contact_id = cart(client, store)["contact"]["id"]
    with container.uow_factory() as uow:
        withdrawn = ConsentClaim(
            channel=Channel.EMAIL,
            purpose=Purpose.RECOVERY,
            granted=False,
            text="unsubscribe link",
            source="unsubscribe_page",
            occurred_at=clock.now(),
        )
        append_claims(uow, store.store.id, contact_id, [withdrawn], now=clock.now())
        uow.commit()
    # when
    clock.advance(timedelta(hours=23))
    run(worker)
    # then
    assert [("sent", None), ("cancelled", "unsubscribed"), ("cancelled", "unsubscribed")] == (
        statuses(cart(client, store))
    )
    assert 1 == len(messages(client, store))


def test_a_reply_ends_a_flow_that_exits_on_replied(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    After the first text, the shopper answers "which size fits?": the second text is
    cancelled `replied`, at once.
    """
    # given
    store = shop(REPLY_FLOWS)
    leave_cart(client, store, clock, phone="+12125550123")
    _grant_sms(client, store, container)
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.set(datetime(2026, 11, 27, 20, 0, tzinfo=UTC))  # 15:00 in New York
    run(worker)
    # when
    receive_sms(
        uow=container.uow_factory(),
        clock=clock,
        store=store.store,
        reply=SmsReply(message_sid="SM" + "1" * 32, sender="+12125550123", body="which size fits?"),
        help_text="help",
    )
    # then
    assert [("sent", None), ("cancelled", "replied")] == statuses(cart(client, store))


def test_a_reply_does_not_end_a_flow_without_replied(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    The same reply to a flow whose `exit_on` leaves `replied` out changes nothing.
    """
    # given
    store = shop(REPLY_FLOWS.replace("[ordered, replied]", "[ordered]"))
    leave_cart(client, store, clock, phone="+12125550123")
    _grant_sms(client, store, container)
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.set(datetime(2026, 11, 27, 20, 0, tzinfo=UTC))
    run(worker)
    # when
    receive_sms(
        uow=container.uow_factory(),
        clock=clock,
        store=store.store,
        reply=SmsReply(message_sid="SM" + "2" * 32, sender="+12125550123", body="thanks"),
        help_text="help",
    )
    # then
    assert [("sent", None), ("scheduled", None)] == statuses(cart(client, store))
