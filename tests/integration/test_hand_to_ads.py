"""
The hand-off to ad audiences: with `defaults.hand_to_ads_after: N`, a contact who did not come
back after N emails gets no more emails (`skipped` `handed_to_ads`); coming back resets it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from test_recovery_engine import (
    EMAIL_FLOWS,
    cart,
    leave_cart,
    messages,
    run,
    shop,
    statuses,
    worker,
)

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services.stores import CreatedStore

__all__ = ["shop", "worker"]  # fixtures shared with the recovery engine's tests

HAND_OFF = EMAIL_FLOWS.replace("defaults:\n", "defaults:\n  hand_to_ads_after: 2\n")


def test_after_two_unanswered_emails_the_third_is_handed_to_ads(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    Two reminders go and the shopper never comes back: the third is skipped `handed_to_ads`.
    """
    # given
    store = shop(HAND_OFF)
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    for hours in (1, 23, 48):
        clock.advance(timedelta(hours=hours))
        run(worker)
    # then
    assert [("sent", None), ("sent", None), ("skipped", "handed_to_ads")] == statuses(
        cart(client, store)
    )
    assert 2 == len(messages(client, store))


def test_unengaged_emails_count_from_the_last_activity(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    Two emails sent after the cart was left count; after new activity on one of the
    contact's carts they no longer do.
    """
    # given: two emails sent
    store = shop(EMAIL_FLOWS)
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    for hours in (1, 23):
        clock.advance(timedelta(hours=hours))
        run(worker)
    contact_id = cart(client, store)["contact"]["id"]
    with container.uow_factory(read_only=True) as uow:
        before = uow.touches.unengaged_emails(store.store.id, contact_id)
    # when: the shopper comes back with another cart
    clock.advance(timedelta(hours=1))
    leave_cart(client, store, clock, cart_id="c-2")
    with container.uow_factory(read_only=True) as uow:
        after = uow.touches.unengaged_emails(store.store.id, contact_id)
    # then
    assert (2, 0) == (before, after)
