"""
`GET /v1/reports/summary` on small fixed shops built through the real API, worker and click
service, every number written out by hand: who was abandoned, reached, touched, clicked, who
ordered after a touch (recovered) or without one (converted), what the windows credit, and
what the holdout says.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.domain.consent import Channel
from cartback.domain.delivery import DeliveryOutcome
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services import enrollment
from cartback.services.clicks import record_click
from cartback.services.delivery import DeliveryReport, record_delivery
from cartback.services.flows import apply_flows
from cartback.services.stores import CreatedStore
from cartback.services.unsubscribe import LinkTarget, unsubscribe
from helpers import assert_problem, auth, identify, track

FLOWS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - {wait: 23h, channel: email, template: support}
defaults:
  frequency_cap: {messages: 5, per: 24h}
"""

#: Shoppers whose contacts are put in the control group (by email; ids found at identify).
CONTROL = ("dan@example.com", "eve@example.com")


@pytest.fixture
def control_ids(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """
    The contact ids held out: filled by the test, read by enrollment's holdout assignment.
    """
    held: set[str] = set()
    monkeypatch.setattr(enrollment, "is_withheld", lambda _flow, contact_id: contact_id in held)
    return held


@pytest.fixture
def worker(container: Container) -> Worker:
    """
    A worker on the container (`outbox` channels).
    """
    return container.new_worker(name="report-test")


def _run(worker: Worker) -> None:
    for _ in range(20):
        timers = worker.run_pass()
        dispatched = worker.dispatch_pass()
        if not timers.processed and not dispatched.processed:
            return


def _post(client: TestClient, store: CreatedStore, *messages: dict[str, Any]) -> None:
    response = client.post(
        "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text


def _leave(
    client: TestClient,
    store: CreatedStore,
    clock: SimulatedClock,
    cart_id: str,
    email: str | None,
    price: int = 25,
) -> None:
    anonymous = f"anon-{cart_id}"
    messages = [
        track(
            "Product Added",
            anonymous_id=anonymous,
            at=clock.now(),
            cart_id=cart_id,
            product_id="p-1",
            name="Mug",
            price=price,
            quantity=1,
        )
    ]
    if email is not None:
        messages.insert(0, identify(anonymous_id=anonymous, at=clock.now(), email=email))
    _post(client, store, *messages)


def _order(
    client: TestClient, store: CreatedStore, clock: SimulatedClock, cart_id: str, total: int
) -> None:
    _post(
        client,
        store,
        track(
            "Order Completed",
            anonymous_id=f"anon-{cart_id}",
            at=clock.now(),
            cart_id=cart_id,
            order_id=f"o-{cart_id}",
            total=total,
            currency="USD",
        ),
    )


def _cart(client: TestClient, store: CreatedStore, cart_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/carts/{cart_id}", headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def _report(client: TestClient, store: CreatedStore, **params: str) -> dict[str, Any]:
    response = client.get("/v1/reports/summary", params=params, headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def shop(
    store_factory: Callable[..., CreatedStore],
    container: Container,
    clock: SimulatedClock,
) -> CreatedStore:
    """
    A US store (recovery email on the opt-out model) with a two-step email flow.
    """
    created = store_factory(country="US", timezone="UTC")
    apply_flows(uow=container.uow_factory(), clock=clock, store_id=created.store.id, text=FLOWS)
    return created


def _six_carts(
    client: TestClient,
    shop: CreatedStore,
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
    control_ids: set[str],
) -> datetime:
    """
    Six carts left at once; ada clicks and orders 40 three hours after the abandonment (A),
    dan (control) orders 30 then too, bob orders 25 at A+30h (6 h after the second touch),
    cyd orders 25 at A+3d (two days after her last touch); eve (control) and an anonymous
    shopper never come back. Returns A.
    """
    for cart_id, email, price in (
        ("c-ada", "ada@example.com", 40),
        ("c-bob", "bob@example.com", 25),
        ("c-cyd", "cyd@example.com", 25),
        ("c-dan", "dan@example.com", 30),
        ("c-eve", "eve@example.com", 25),
        ("c-anon", None, 25),
    ):
        _leave(client, shop, clock, cart_id, email, price)
    for cart_id in ("c-dan", "c-eve"):
        control_ids.add(_cart(client, shop, cart_id)["contact"]["id"])
    abandoned = clock.now() + timedelta(minutes=30)
    clock.advance(timedelta(minutes=31))  # A+1m: abandoned and enrolled
    _run(worker)
    clock.advance(timedelta(hours=1))  # A+1h1m: the first touches go
    _run(worker)
    clock.advance(timedelta(hours=1))  # A+2h1m: ada clicks
    first = _cart(client, shop, "c-ada")["touches"][0]["id"]
    assert record_click(uow=container.uow_factory(), touch_id=first, now=clock.now())
    clock.advance(timedelta(hours=1))  # A+3h1m: ada and dan order
    _order(client, shop, clock, "c-ada", 40)
    _order(client, shop, clock, "c-dan", 30)
    clock.advance(timedelta(hours=21))  # A+24h1m: the second touches go (bob, cyd)
    _run(worker)
    clock.advance(timedelta(hours=6))  # A+30h1m: bob orders
    _order(client, shop, clock, "c-bob", 25)
    clock.advance(timedelta(hours=42))  # A+72h1m: cyd orders
    _run(worker)
    _order(client, shop, clock, "c-cyd", 25)
    return abandoned


def test_report_numbers_match_the_hand_computed_answers(
    client: TestClient,
    shop: CreatedStore,
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
    control_ids: set[str],
) -> None:
    """
    Funnel, recovered against converted, last-touch attribution within the windows (a click
    for 7 days, a send for 1), the holdout, the breakdowns and the median time.
    """
    # given
    abandoned = _six_carts(client, shop, clock, worker, container, control_ids)
    # when
    body = _report(
        client,
        shop,
        **{
            "from": (abandoned - timedelta(hours=1)).isoformat(),
            "to": (abandoned + timedelta(hours=1)).isoformat(),
        },
    )
    # then: 6 carts abandoned, 5 with an address (US: reachable), 5 enrolled, 3 treated
    assert [6, 6, 5, 5, 3, 1, 3] == [f["count"] for f in body["funnel"]]
    assert (5, 0.8333) == (body["captured_carts"], body["capture_rate"])
    # then: ada 40 + bob 25 + cyd 25 recovered; dan converted (no touch); cyd not credited
    assert (3, "90.00", 0.5) == (
        body["recovered_carts"],
        body["recovered_revenue"],
        body["recovery_rate"],
    )
    assert (1, "30.00") == (body["converted_carts"], body["converted_revenue"])
    assert (2, "65.00") == (body["attributed_carts"], body["attributed_revenue"])
    assert ("USD", "0.00", "90.00") == (
        body["currency"],
        body["discount_cost"],
        body["net_recovered_revenue"],
    )
    # then: 3 h 1 min, 30 h 1 min, 72 h 1 min from abandonment to order: the middle one
    assert 30 * 3600 + 60 == body["median_time_to_recovery"]
    # then: treated 3 of 3 ordered (90 over 3 carts), control 1 of 2 (30 over 2)
    holdout = body["holdout"]
    assert (3, 3, 2, 1) == (
        holdout["treated_carts"],
        holdout["treated_recovered"],
        holdout["control_carts"],
        holdout["control_recovered"],
    )
    assert (1.0, 0.5, 0.5) == (holdout["treated_rate"], holdout["control_rate"], holdout["lift"])
    assert holdout["ci_low"] < 0.5 < holdout["ci_high"]
    assert ("30.00", "15.00", "15.00", "45.00") == (
        holdout["revenue_per_cart_treated"],
        holdout["revenue_per_cart_control"],
        holdout["revenue_lift"],
        holdout["incremental_revenue"],
    )
    assert holdout["warning"]
    # then: step 0 went to 3 and was clicked once (ada: 40); step 1 went to bob and cyd
    steps = [
        (s["step"], s["sent"], s["clicked"], s["attributed_carts"], s["attributed_revenue"])
        for s in body["by_step"]
    ]
    assert [(0, 3, 1, 1, "40.00"), (1, 2, 0, 1, "25.00")] == steps
    assert [("email", 5, 1, 2, "65.00")] == [
        (c["channel"], c["sent"], c["clicked"], c["attributed_carts"], c["attributed_revenue"])
        for c in body["by_channel"]
    ]
    (flow,) = body["by_flow"]
    assert ("cart-recovery", 5, 5, "65.00") == (
        flow["flow"],
        flow["enrolled_carts"],
        flow["sent"],
        flow["attributed_revenue"],
    )
    assert (1.0, 0.5) == (flow["holdout"]["treated_rate"], flow["holdout"]["control_rate"])
    # then: ada's second touch cancelled by her order; every cart abandoned in the cart stage
    assert {"ordered": 1} == body["cancelled"]
    assert [
        {
            "stage": "cart",
            "abandoned": 6,
            "reachable": 5,
            "recovered": 3,
            "recovery_rate": 0.5,
            "recovered_revenue": "90.00",
        }
    ] == body["by_stage"]
    assert {"orders_left_out": 0, "currencies": []} == body["other_currencies"]


def test_shorter_windows_credit_less_and_recovered_stays(
    client: TestClient,
    shop: CreatedStore,
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
    control_ids: set[str],
) -> None:
    """
    With a 1 h click window ada's click (exactly an hour before her order) still counts; with
    1 h sends bob's order (6 h after his touch) is no longer credited. Recovered is unchanged.
    """
    # given
    abandoned = _six_carts(client, shop, clock, worker, container, control_ids)
    response = client.put(
        "/v1/settings/attribution",
        json={"click_window": "1h", "send_window": 3600},
        headers=auth(shop.secret_key),
    )
    assert 200 == response.status_code, response.text
    # when
    body = _report(
        client,
        shop,
        **{"from": (abandoned - timedelta(hours=1)).isoformat(), "to": abandoned.isoformat()},
    )
    # then: A itself is excluded from [from, A)
    assert 0 == body["abandoned_carts"]
    body = _report(
        client,
        shop,
        **{
            "from": (abandoned - timedelta(hours=1)).isoformat(),
            "to": (abandoned + timedelta(seconds=1)).isoformat(),
        },
    )
    assert (3, 1, "40.00") == (
        body["recovered_carts"],
        body["attributed_carts"],
        body["attributed_revenue"],
    )
    assert {"click_window": 3600, "send_window": 3600} == {
        k: body["attribution"][k] for k in ("click_window", "send_window")
    }


def test_another_stores_carts_and_orders_are_never_counted(
    client: TestClient,
    shop: CreatedStore,
    store_factory: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
    control_ids: set[str],
) -> None:
    """
    A second store sees an empty report for the same period, and the first store's report
    is the same with the second store's own carts beside it.
    """
    # given
    other = store_factory(country="US", timezone="UTC")
    _leave(client, other, clock, "c-ada", "ada@example.com", 99)
    abandoned = _six_carts(client, shop, clock, worker, container, control_ids)
    period = {
        "from": (abandoned - timedelta(hours=1)).isoformat(),
        "to": (abandoned + timedelta(hours=1)).isoformat(),
    }
    # when
    theirs = _report(client, other, **period)
    mine = _report(client, shop, **period)
    # then
    assert (1, 0, "0.00") == (
        theirs["abandoned_carts"],
        theirs["recovered_carts"],
        theirs["recovered_revenue"],
    )
    assert (6, 3, "90.00") == (
        mine["abandoned_carts"],
        mine["recovered_carts"],
        mine["recovered_revenue"],
    )


def test_an_order_by_the_contact_on_another_cart_recovers_the_abandoned_one(
    client: TestClient,
    shop: CreatedStore,
    clock: SimulatedClock,
    worker: Worker,
) -> None:
    """
    Ada abandons c-1, gets the first touch, then orders 55 from a new cart c-2: c-1 is
    recovered (same contact, within the recovery window) and credited to the touch sent 1 h
    before (send window 1 day).
    """
    # given
    _leave(client, shop, clock, "c-1", "ada@example.com", 30)
    start = clock.now()
    clock.advance(timedelta(minutes=31))
    _run(worker)
    clock.advance(timedelta(hours=1))
    _run(worker)
    clock.advance(timedelta(hours=1))
    _post(
        client,
        shop,
        identify(anonymous_id="anon-new", at=clock.now(), email="ada@example.com"),
        track(
            "Order Completed",
            anonymous_id="anon-new",
            at=clock.now(),
            cart_id="c-2",
            order_id="o-2",
            total=55,
            currency="USD",
        ),
    )
    # when
    body = _report(
        client,
        shop,
        **{"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat()},
    )
    # then: c-2 was never abandoned, so only c-1 is in the report
    assert (1, 1, "55.00", 1, "55.00") == (
        body["abandoned_carts"],
        body["recovered_carts"],
        body["recovered_revenue"],
        body["attributed_carts"],
        body["attributed_revenue"],
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00Z"}, "to"),
        ({"from": "2026-11-01T00:00:00"}, "from"),
        ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "from"),
        ({"from": "2026-11-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "from"),
        ({"from": "2024-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "from"),
    ],
)
def test_bad_periods_answer_400_naming_the_field(
    client: TestClient, shop: CreatedStore, params: dict[str, str], field: str
) -> None:
    """
    Not a time, no zone, from not before to, more than 366 days: a problem naming the field.
    """
    # when
    response = client.get("/v1/reports/summary", params=params, headers=auth(shop.secret_key))
    # then
    problem = assert_problem(response, 400)
    assert field in [e["field"] for e in problem["errors"]], problem


def test_the_report_needs_a_server_key(client: TestClient, shop: CreatedStore) -> None:
    """
    No key is 401; the public key is refused too.
    """
    # when
    anonymous = client.get("/v1/reports/summary")
    public = client.get("/v1/reports/summary", headers=auth(shop.public_key))
    # then
    assert_problem(anonymous, 401)
    assert public.status_code in (401, 403)


def test_an_empty_store_reports_zeros_and_nulls(client: TestClient, shop: CreatedStore) -> None:
    """
    No carts: counts 0, rates null (nothing to divide by), amounts 0.00, a day per day.
    """
    # when
    body = _report(client, shop)
    # then
    assert (0, None, "0.00", None) == (
        body["abandoned_carts"],
        body["recovery_rate"],
        body["recovered_revenue"],
        body["median_time_to_recovery"],
    )
    assert 30 == len(body["revenue_by_day"])
    assert [] == body["by_flow"]


def test_robots_carts_are_never_counted(
    client: TestClient, shop: CreatedStore, clock: SimulatedClock
) -> None:
    """
    A person's cart and a shopping-bot's (Google's store bot address): one cart counted.
    """
    # given
    _leave(client, shop, clock, "c-person", "ann@example.com")
    _leave(client, shop, clock, "c-robot", "probe@storebotmail.joonix.net")
    clock.advance(timedelta(minutes=1))
    # when
    body = _report(client, shop)
    # then
    assert 1 == body["carts"]


def _capture(client: TestClient, store: CreatedStore, name: str, widget: str) -> None:
    body = {
        "writeKey": store.public_key,
        "anonymous_id": f"anon-c-{name}",
        "cart_id": f"c-{name}",
        "email": f"{name}@example.com",
        "action": "submitted",
        "widget": widget,
        "consents": [
            {
                "channel": "email",
                "purpose": "recovery",
                "granted": True,
                "text": "Save my cart and email me a link to come back.",
            }
        ],
    }
    response = client.post(
        "/v1/capture",
        content=json.dumps(body),
        headers={
            "Origin": "https://shop.example.com",
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Content-Type": "text/plain",
        },
    )
    assert response.status_code in (200, 201, 202), response.text


def test_consent_widgets_complaints_unsubscribes_and_skips(
    client: TestClient,
    store_factory: Callable[..., CreatedStore],
    container: Container,
    clock: SimulatedClock,
    worker: Worker,
) -> None:
    """
    A German store (consent needed): ann (cart page) and cal (exit intent) opt in, ben never
    does. Ann's first email draws a complaint, cal unsubscribes after his; ben's touch is
    skipped `no_consent`. Reachable 2 of 3; step 0 sent 2, complaint and unsubscribe rates 1/2.
    """
    # given
    shop = store_factory(country="DE", timezone="Europe/Berlin")
    apply_flows(uow=container.uow_factory(), clock=clock, store_id=shop.store.id, text=FLOWS)
    for name in ("ann", "ben", "cal"):
        _leave(client, shop, clock, f"c-{name}", None if name != "ben" else "ben@example.com")
    _capture(client, shop, "ann", "cart_page")
    _capture(client, shop, "cal", "exit_intent")
    start = clock.now()
    clock.advance(timedelta(minutes=31))
    _run(worker)
    clock.advance(timedelta(hours=1))
    _run(worker)
    ann = _cart(client, shop, "c-ann")
    cal = _cart(client, shop, "c-cal")
    record_delivery(
        uow=container.uow_factory(),
        clock=clock,
        report=DeliveryReport(
            store_id=shop.store.id,
            provider="resend",
            event_key="complaint-1",
            outcome=DeliveryOutcome.COMPLAINED,
            touch_id=ann["touches"][0]["id"],
            address="ann@example.com",
        ),
    )
    clock.advance(timedelta(minutes=5))
    unsubscribe(
        uow=container.uow_factory(),
        clock=clock,
        target=LinkTarget(
            store_id=shop.store.id, contact_id=cal["contact"]["id"], channel=Channel.EMAIL
        ),
    )
    # when
    body = _report(
        client,
        shop,
        **{"from": start.isoformat(), "to": (start + timedelta(hours=1)).isoformat()},
    )
    # then
    assert (3, 3, 2) == (
        body["abandoned_carts"],
        body["captured_carts"],
        body["reachable_carts"],
    )
    assert [("cart_page", 1), ("exit_intent", 1)] == [
        (w["widget"], w["carts"]) for w in body["capture_by_widget"]
    ]
    (step,) = [s for s in body["by_step"] if s["step"] == 0]
    assert (2, 1, 0.5, 1, 0.5, 0) == (
        step["sent"],
        step["complained"],
        step["complaint_rate"],
        step["unsubscribed"],
        step["unsubscribe_rate"],
        step["bounced"],
    )
    assert (0.5, 0.5, 0.0) == (
        body["complaint_rate"],
        body["unsubscribe_rate"],
        body["bounce_rate"],
    )
    assert {"no_consent": 1} == body["skipped"]
