"""
The send-time quality check through the real API and worker on the simulated clock (issue #9):
a message whose restore link broke, whose offer was revoked, or whose stock claim's read went
stale between the worker's decision and the channel call is never sent; its touch is `failed`
with the check's reason, and `cartback_quality_check_failures_total` and the report's `quality`
section count it. A healthy message counts nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher as Argon2
from fastapi.testclient import TestClient
from test_recovery_engine import cart, messages, post, shop

from cartback.bootstrap import Container
from cartback.domain.discounts import OfferStatus
from cartback.domain.ports import MessageChannel, OutboundMessage
from cartback.engine.clock import SimulatedClock
from cartback.kit.passwords import Argon2Hasher
from cartback.services.operators import create_operator
from cartback.services.stores import CreatedStore
from helpers import auth, identify, track

__all__ = ["shop"]

#: One email with a code, at 1 h.
FLOWS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - wait: 1h
        channel: email
        template: resolution
        offer: {kind: percent, value: 10, expires_in: 48h}
defaults:
  frequency_cap: {messages: 5, per: 24h}
"""
CHECKS = ("restore_link", "offer", "stock_claim")
PASSWORD = "correct horse battery staple"


class HookedChannel:
    """
    The real channel, with something happening in the world while its first message goes
    (the provider call takes time): `hook` runs once, after that first send.
    """

    def __init__(self, inner: MessageChannel, hook: Callable[[], None] | None) -> None:
        self._inner = inner
        self._hook = hook

    def send(self, message: OutboundMessage, idempotency_key: str) -> str:
        provider_id = self._inner.send(message, idempotency_key)
        hook, self._hook = self._hook, None
        if hook is not None:
            hook()
        return provider_id

    def status(self, idempotency_key: str) -> str | None:
        return self._inner.status(idempotency_key)


def _leave(client: TestClient, store: CreatedStore, clock: SimulatedClock, n: int) -> None:
    post(
        client,
        store,
        identify(anonymous_id=f"a-{n}", at=clock.now(), email=f"shopper{n}@example.com"),
        track(
            "Product Added",
            anonymous_id=f"a-{n}",
            at=clock.now(),
            cart_id=f"c-{n}",
            product_id="p-1",
            name="Lamp",
            price=30,
            quantity=1,
        ),
    )


def _fresh_read(client: TestClient, store: CreatedStore) -> None:
    item = {"product_id": "p-1", "title": "Lamp", "available": True, "quantity": 50}
    response = client.put("/v1/catalog/items", json=[item], headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text


def _revoke_offer(container: Container, client: TestClient, store: CreatedStore) -> None:
    """
    The merchant revokes c-2's code.
    """
    touch_id = cart(client, store, "c-2")["touches"][0]["id"]
    with container.uow_factory() as uow:
        touch = uow.touches.get(touch_id)
        assert touch is not None
        for offer in uow.offers.for_enrollment(touch.enrollment_id):
            uow.offers.save(
                replace(offer, status=OfferStatus.REVOKED, revoked_at=container.clock.now())
            )
        uow.commit()


def _empty_cart(client: TestClient, store: CreatedStore, clock: SimulatedClock) -> None:
    """
    The second shopper takes the lamp out of their cart.
    """
    removed = track(
        "Product Removed",
        anonymous_id="a-2",
        at=clock.now(),
        cart_id="c-2",
        product_id="p-1",
        quantity=1,
    )
    post(client, store, removed)


def _pass_time(clock: SimulatedClock, span: timedelta) -> None:
    clock.advance(span)


def _run(
    container: Container,
    client: TestClient,
    clock: SimulatedClock,
    store: CreatedStore,
    monkeypatch: pytest.MonkeyPatch,
    hook: Callable[[], None] | None,
) -> None:
    """
    Two carts left a minute apart; both touches come due together after a fresh stock read,
    and go in one pass, c-1's first (`hook` runs while it goes).
    """
    _leave(client, store, clock, 1)
    clock.advance(timedelta(minutes=1))
    _leave(client, store, clock, 2)
    channels = container.channels()
    hooked = {name: HookedChannel(channel, hook) for name, channel in channels.items()}
    monkeypatch.setattr(container, "channels", lambda: hooked)
    worker = container.new_worker(name="quality")
    clock.advance(timedelta(minutes=31))
    worker.run_pass()
    clock.advance(timedelta(hours=1, minutes=2))
    _fresh_read(client, store)
    worker.dispatch_pass()


def _failures(container: Container) -> dict[str, float]:
    registry = container.metrics.registry
    name = "cartback_quality_check_failures_total"
    return {c: registry.get_sample_value(name, {"check": c}) or 0.0 for c in CHECKS}


def _quality(client: TestClient, store: CreatedStore) -> dict[str, Any]:
    response = client.get("/v1/reports/summary", headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    quality: dict[str, Any] = response.json()["quality"]
    return quality


def _health(container: Container, client: TestClient, store: CreatedStore) -> dict[str, str]:
    """
    The overview's quality cards as an operator sees them: each card's class and count.
    """
    create_operator(
        uow=container.uow_factory(),
        hasher=Argon2Hasher(Argon2(time_cost=1, memory_cost=1024, parallelism=1)),
        now=container.clock.now(),
        email="ops@example.com",
        password=PASSWORD,
        all_stores=True,
        store_ids=(),
    )
    form = client.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    data = {"csrf_token": token.group(1), "email": "ops@example.com", "password": PASSWORD}
    assert 303 == client.post("/admin/login", data=data, follow_redirects=False).status_code
    page = client.get(f"/admin/stores/{store.store.id}")
    assert 200 == page.status_code, page.text
    cards = re.findall(
        r'<div class="([^"]+)" id="quality-([a-z-]+)">.*?<b class="value">(\d+)</b>'
        r".*?expected 0",
        page.text,
    )
    return {name: f"{count} {classes}" for classes, name, count in cards}


def test_healthy_messages_go_and_count_no_quality_failure(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: Callable[..., CreatedStore],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    Both messages (a live code, "still available" after a fresh read) pass and go.
    """
    # given
    store = shop(FLOWS)
    # when
    _run(container, client, clock, store, monkeypatch, hook=None)
    # then
    assert ["sent"] == [t["status"] for t in cart(client, store, "c-1")["touches"]]
    assert ["sent"] == [t["status"] for t in cart(client, store, "c-2")["touches"]]
    sent = messages(client, store, cart_id="c-1")
    assert "still available" in sent[0]["text"]
    assert dict.fromkeys(CHECKS, 0.0) == _failures(container)
    assert dict.fromkeys(CHECKS, 0) == _quality(client, store)
    assert {
        "restore-link": "0 kpi",
        "offer": "0 kpi",
        "stock-claim": "0 kpi",
    } == _health(container, client, store)


@pytest.mark.parametrize(
    ("what", "check", "reason"),
    [
        ("empty_cart", "restore_link", "broken_link"),
        ("revoke_offer", "offer", "offer_ineligible"),
        ("stale_read", "stock_claim", "stale_stock"),
    ],
)
def test_a_message_that_fails_a_quality_check_at_send_time_is_not_sent(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: Callable[..., CreatedStore],
    monkeypatch: pytest.MonkeyPatch,
    what: str,
    check: str,
    reason: str,
) -> None:
    """
    While c-1's message goes, c-2's cart is emptied, its code revoked, or 10 minutes pass
    (its "still available" read goes stale): c-2's touch is `failed` with the check's reason,
    nothing reaches its channel, and the counter and the report count 1 for that check.
    """
    # given
    store = shop(FLOWS)
    hooks: dict[str, Callable[[], None]] = {
        "empty_cart": lambda: _empty_cart(client, store, clock),
        "revoke_offer": lambda: _revoke_offer(container, client, store),
        "stale_read": lambda: _pass_time(clock, timedelta(minutes=10)),
    }
    # when
    _run(container, client, clock, store, monkeypatch, hook=hooks[what])
    # then
    assert ["sent"] == [t["status"] for t in cart(client, store, "c-1")["touches"]]
    failed = cart(client, store, "c-2")["touches"]
    assert [("failed", reason)] == [(t["status"], t.get("reason")) for t in failed]
    assert [] == messages(client, store, cart_id="c-2")
    assert {**dict.fromkeys(CHECKS, 0.0), check: 1.0} == _failures(container)
    assert {**dict.fromkeys(CHECKS, 0), check: 1} == _quality(client, store)
    card = check.replace("_", "-")
    assert "1 kpi warn" == _health(container, client, store)[card]
