"""
The recovery engine end to end on the simulated clock, through the real API, the real worker
and the `outbox` channel: abandonment → enrollment → touches → guards → sends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.domain.flows import FlowSet, parse_flows
from cartback.domain.touches import TouchStatus
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services import enrollment
from cartback.services.flows import apply_flows
from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth, identify, track

EMAIL_FLOWS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - {wait: 23h, channel: email, template: support}
      - {wait: 48h, channel: email, template: resolution}
defaults:
  frequency_cap: {messages: 5, per: 24h}
"""

SMS_FLOWS = """
flows:
  - name: sms-first
    trigger: {stages: [cart], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: sms, template: nudge}
"""


@pytest.fixture
def shop(
    store_factory: Callable[..., CreatedStore], container: Container, clock: SimulatedClock
) -> Callable[..., CreatedStore]:
    """
    A US store (the opt-out model allows recovery email) running the given flow file.
    """

    def make(flows: str = EMAIL_FLOWS, **overrides: Any) -> CreatedStore:
        values = {"country": "US", "timezone": "America/New_York", **overrides}
        created = store_factory(**values)
        apply_flows(uow=container.uow_factory(), clock=clock, store_id=created.store.id, text=flows)
        return created

    return make


@pytest.fixture
def worker(container: Container) -> Worker:
    """
    A worker on the container, with the settings' channels (`outbox` for both).
    """
    return container.new_worker(name="test")


def run(worker: Worker) -> None:
    """
    Fire cart timers and dispatch touches until nothing more is due now.
    """
    for _ in range(20):
        timers = worker.run_pass()
        dispatched = worker.dispatch_pass()
        if not timers.processed and not dispatched.processed:
            return


def post(client: TestClient, store: CreatedStore, *messages: dict[str, Any]) -> None:
    response = client.post(
        "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text


def leave_cart(
    client: TestClient,
    store: CreatedStore,
    clock: SimulatedClock,
    *,
    cart_id: str = "c-1",
    anonymous_id: str = "a-1",
    stage_event: str = "Product Added",
    **traits: Any,
) -> None:
    """
    A shopper who gave their address adds a 25 USD mug and leaves.
    """
    traits = traits or {"email": "ada@example.com"}
    post(
        client,
        store,
        identify(anonymous_id=anonymous_id, at=clock.now(), **traits),
        track(
            stage_event,
            anonymous_id=anonymous_id,
            at=clock.now(),
            cart_id=cart_id,
            product_id="p-1",
            name="Mug",
            price=25,
            quantity=1,
        ),
    )


def cart(client: TestClient, store: CreatedStore, cart_id: str = "c-1") -> dict[str, Any]:
    response = client.get(f"/v1/carts/{cart_id}", headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def messages(client: TestClient, store: CreatedStore, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/messages", params=params, headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def statuses(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(t["status"], t.get("reason")) for t in body["touches"]]


def test_abandoned_cart_gets_three_touches_in_order_until_an_order_recovers_it(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    Abandoned at 30 min → three touches due 1 h, 24 h, 72 h later; the first goes to the
    outbox; an order after it cancels the rest with `ordered` and the cart is `recovered`.
    """
    # given
    store = shop()
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    body = cart(client, store)
    abandoned = body["abandoned_at"]
    due = [t["due_at"] for t in body["touches"]]
    assert "abandoned" == body["status"]
    assert [("scheduled", None)] * 3 == statuses(body)
    assert [0, 1, 2] == [t["step"] for t in body["touches"]]
    assert {"cart-recovery"} == {t["flow"] for t in body["touches"]}
    start = clock.now() - timedelta(minutes=1)  # abandoned_at: 30 min after the activity
    assert [start + timedelta(hours=h) for h in (1, 24, 72)] == [_parse(d) for d in due], abandoned
    # when: the first touch comes due
    clock.advance(timedelta(hours=1))
    run(worker)
    # then
    body = cart(client, store)
    assert [("sent", None), ("scheduled", None), ("scheduled", None)] == statuses(body)
    sent = messages(client, store, cart_id="c-1")
    assert 1 == len(sent)
    assert body["touches"][0]["id"] == sent[0]["touch_id"]
    assert ("email", "ada@example.com", "sent") == (
        sent[0]["channel"],
        sent[0]["to"],
        sent[0]["status"],
    )
    assert "Mug" in sent[0]["text"]
    assert "$25.00" in sent[0]["text"]
    assert "Mug" in sent[0]["html"]
    assert sent[0]["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # when: the shopper orders, then the next touch comes due
    post(client, store, track("Order Completed", cart_id="c-1", order_id="o-1", total=25))
    clock.advance(timedelta(hours=24))
    run(worker)
    # then
    body = cart(client, store)
    assert "recovered" == body["status"]
    assert [("sent", None), ("cancelled", "ordered"), ("cancelled", "ordered")] == statuses(body)
    assert 1 == len(messages(client, store))


def test_touches_go_out_in_step_order(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    Without an order, the three touches are sent one after another at 1 h, 24 h and 72 h.
    """
    # given
    store = shop()
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    for hours in (1, 23, 48):
        clock.advance(timedelta(hours=hours))
        run(worker)
    # then
    sent = messages(client, store, channel="email")
    touches = cart(client, store)["touches"]
    assert [t["id"] for t in touches] == [m["touch_id"] for m in sent]
    assert ["sent"] * 3 == [t["status"] for t in touches]
    assert "You left something in your cart" == sent[0]["subject"]
    assert "Your cart is still waiting" == sent[2]["subject"]


def test_a_shopper_who_comes_back_gets_no_reminder_while_shopping(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    Abandoned, then back on the site just before the first touch: the touch waits
    (`shopper_active`) until the cart would be left again, and goes then if they left.
    """
    # given
    store = shop()
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.advance(timedelta(minutes=50))
    post(client, store, track("Cart Viewed", anonymous_id="a-1", at=clock.now(), cart_id="c-1"))
    # when: the first touch comes due while the cart is active again
    clock.advance(timedelta(minutes=15))
    run(worker)
    # then
    first = cart(client, store)["touches"][0]
    assert ("active", "deferred", "shopper_active", []) == (
        cart(client, store)["status"],
        first["status"],
        first["reason"],
        messages(client, store),
    )
    # when: they leave again, and the cart is abandoned again
    clock.set(_parse(first["due_at"]) + timedelta(seconds=1))
    run(worker)
    # then
    assert ("abandoned", "sent") == (
        cart(client, store)["status"],
        cart(client, store)["touches"][0]["status"],
    )


def _with_holdout(share: float) -> Callable[[str], FlowSet]:
    def parsed(source: str) -> FlowSet:
        flow_set = parse_flows(source)
        flows = tuple(dataclasses.replace(f, holdout=share) for f in flow_set.flows)
        return dataclasses.replace(flow_set, flows=flows)

    return parsed


def test_full_holdout_sends_nothing_and_records_every_touch_withheld(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    A contact in the control group is enrolled, every touch is `withheld`, nothing is sent.
    """
    # given (flow files allow at most 0.5; the engine must honour any share)
    monkeypatch.setattr(enrollment, "_parsed", _with_holdout(1.0))
    store = shop()
    leave_cart(client, store, clock)
    # when
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.advance(timedelta(days=4))
    run(worker)
    # then
    assert [("withheld", None)] * 3 == statuses(cart(client, store))
    assert [] == messages(client, store)


def test_frequency_cap_defers_a_touch_instead_of_dropping_it(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    With a cap of one message per 24 h, a second cart's touch within the day is deferred
    `frequency_cap` and goes once the day has passed.
    """
    # given: one message per day; two carts of the same contact, the second replacing the first
    capped = EMAIL_FLOWS.replace("messages: 5", "messages: 1")
    store = shop(capped)
    leave_cart(client, store, clock, cart_id="c-1")
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.advance(timedelta(hours=1))
    run(worker)  # c-1's first touch is sent
    leave_cart(client, store, clock, cart_id="c-2")
    clock.advance(timedelta(minutes=31))
    run(worker)  # c-2 replaces c-1's enrollment
    # when: c-2's first touch comes due 1 h 31 min after c-1's went
    clock.advance(timedelta(hours=1))
    run(worker)
    # then
    first = cart(client, store, "c-2")["touches"][0]
    assert ("deferred", "frequency_cap") == (first["status"], first["reason"])
    # when: the day has passed
    clock.set(_parse(first["due_at"]))
    run(worker)
    # then
    assert "sent" == cart(client, store, "c-2")["touches"][0]["status"]
    assert 2 == len(messages(client, store))


def test_newer_cart_replaces_the_older_enrollment(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    A contact's second abandoned cart takes over: the first cart's pending touches are
    cancelled `newer_cart`.
    """
    # given
    store = shop()
    leave_cart(client, store, clock, cart_id="c-1")
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    leave_cart(client, store, clock, cart_id="c-2")
    clock.advance(timedelta(minutes=31))
    run(worker)
    # then
    assert [("cancelled", "newer_cart")] * 3 == statuses(cart(client, store, "c-1"))
    assert [("scheduled", None)] * 3 == statuses(cart(client, store, "c-2"))


def test_no_consent_skips_the_touch(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    In an EU store nobody agreed to email: every touch is skipped `no_consent`, nothing sent.
    """
    # given
    store = shop(country="DE", timezone="Europe/Berlin")
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    clock.advance(timedelta(days=4))
    run(worker)
    # then
    assert [("skipped", "no_consent")] * 3 == statuses(cart(client, store))
    assert [] == messages(client, store)


def test_sms_without_sms_consent_is_skipped_no_consent(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    An SMS step needs SMS consent, even in a US store: the touch is skipped `no_consent`.
    """
    # given
    store = shop(SMS_FLOWS)
    leave_cart(client, store, clock, phone="+12125550123")
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    clock.advance(timedelta(hours=1))
    run(worker)
    # then
    assert [("skipped", "no_consent")] == statuses(cart(client, store))


def test_sms_in_quiet_hours_is_deferred_to_the_morning(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    With SMS consent, a text due at night in New York is deferred `quiet_hours` to 09:00 local.
    """
    # given: the clock starts at 10:00 UTC, 05:00 in New York; SMS consent on the ledger
    store = shop(SMS_FLOWS)
    leave_cart(client, store, clock, phone="+12125550123")
    _grant_sms(client, store, container)
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    clock.advance(timedelta(hours=1))
    run(worker)
    # then
    touch = cart(client, store)["touches"][0]
    assert ("deferred", "quiet_hours") == (touch["status"], touch["reason"])
    assert "2026-11-27T14:00:00Z" == touch["due_at"].replace("+00:00", "Z")
    # when: morning comes
    clock.set(_parse(touch["due_at"]))
    run(worker)
    # then
    sent = messages(client, store, channel="sms")
    assert [("+12125550123", None)] == [(m["to"], m["subject"]) for m in sent]


def _grant_sms(
    client: TestClient, store: CreatedStore, container: Container, *, cart_id: str = "c-1"
) -> None:
    """
    Record SMS recovery consent for the cart's contact straight on the ledger.
    """
    from cartback.domain.consent import Channel, ConsentClaim, Purpose
    from cartback.services.permission import append_claims

    contact_id = cart(client, store, cart_id)["contact"]["id"]
    with container.uow_factory() as uow:
        claim = ConsentClaim(
            channel=Channel.SMS,
            purpose=Purpose.RECOVERY,
            granted=True,
            text="Text me about my cart",
            source="checkout",
            occurred_at=container.clock.now(),
        )
        append_claims(uow, store.store.id, contact_id, [claim], now=container.clock.now())
        uow.commit()


def test_touch_left_sending_after_a_crash_is_resolved_without_a_duplicate(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    A worker that stored the message and died before recording it leaves the touch `sending`;
    after its lease it is `ambiguous`, and the outbox lookup finds the message: `sent`, once.
    """
    # given: the first touch is sent, then put back to `sending` as a crashed worker leaves it
    store = shop()
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.advance(timedelta(hours=1))
    run(worker)
    touch_id = cart(client, store)["touches"][0]["id"]
    with container.uow_factory() as uow:
        touch = uow.touches.get(touch_id)
        assert touch is not None
        uow.touches.save(
            dataclasses.replace(
                touch,
                status=TouchStatus.SENDING,
                sent_at=None,
                lease_owner="wk_dead",
                lease_until=clock.now() + timedelta(seconds=30),
            )
        )
        uow.commit()
    # when: the lease is still running, nothing happens
    worker.dispatch_pass()
    assert "sending" == cart(client, store)["touches"][0]["status"]
    # when: the lease runs out
    clock.advance(timedelta(seconds=31))
    report = worker.dispatch_pass()
    # then
    assert {"sent": 1} == report.statuses
    assert "sent" == cart(client, store)["touches"][0]["status"]
    assert 1 == len(messages(client, store))


def test_touch_left_sending_before_the_call_is_sent_once_after_the_lookup(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    A worker that died after committing `sending` but before calling the channel: the lookup
    finds nothing, the touch passes the guards again and is sent exactly once.
    """
    # given
    store = shop()
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    touch_id = cart(client, store)["touches"][0]["id"]
    clock.advance(timedelta(hours=1))
    with container.uow_factory() as uow:
        touch = uow.touches.get(touch_id)
        assert touch is not None
        uow.touches.save(
            dataclasses.replace(
                touch,
                status=TouchStatus.SENDING,
                attempts=1,
                lease_owner="wk_dead",
                lease_until=clock.now(),
            )
        )
        uow.commit()
    # when
    clock.advance(timedelta(seconds=1))
    run(worker)
    # then
    assert "sent" == cart(client, store)["touches"][0]["status"]
    assert [touch_id] == [m["touch_id"] for m in messages(client, store)]


def test_order_before_abandonment_is_converted_and_enrolls_nothing(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    An order with no touch before it makes the cart `converted`, never `recovered`.
    """
    # given
    store = shop()
    leave_cart(client, store, clock)
    post(client, store, track("Order Completed", cart_id="c-1", order_id="o-1", total=25))
    # when
    clock.advance(timedelta(hours=2))
    run(worker)
    # then
    body = cart(client, store)
    assert ("converted", []) == (body["status"], body["touches"])


@pytest.mark.parametrize(
    "params",
    [{"channel": "fax"}, {"limit": 0}, {"limit": 100000}, {"cart_id": ""}, {"cart_id": "x" * 300}],
)
def test_bad_message_filters_are_a_400_problem(
    client: TestClient, shop: Callable[..., CreatedStore], params: dict[str, Any]
) -> None:
    """
    A filter the API cannot use is answered with a problem document, never a 500.
    """
    # given
    store = shop()
    # when
    response = client.get("/v1/messages", params=params, headers=auth(store.secret_key))
    # then
    assert_problem(response, 400)


def test_messages_need_a_server_key(client: TestClient, shop: Callable[..., CreatedStore]) -> None:
    """
    The browser's public key cannot read messages.
    """
    # given
    store = shop()
    # when
    response = client.get("/v1/messages", headers=auth(store.public_key))
    # then
    assert response.status_code in (401, 403)


def _parse(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value)
