"""
`flows simulate` on in-memory fakes: the store's carts that went idle in the window, replayed
through a flow file on the simulated clock; what would have been sent, skipped, deferred and
cancelled, and that nothing is ever written.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cartback.domain.cart import Cart, CartStatus
from cartback.domain.consent import Basis, Channel, Permission
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.events import LineItem, Stage
from cartback.domain.flows import FlowsInvalid, parse_flows
from cartback.domain.guards import GuardPolicy, Locality
from cartback.domain.ports import CartRecord, Contact, OrderRecord
from cartback.domain.schedule import Trigger
from cartback.domain.simulation import (
    SHOPPER_ACTIVE,
    ContactPlan,
    Outcome,
    PlannedEnrollment,
    PlannedTouch,
    ShoppingSpan,
    replay,
    stage_before_order,
)
from cartback.domain.simulation_report import SimulationReport, StepCount, report_json
from cartback.domain.stores import Store
from cartback.domain.touches import Group
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services import dispatch
from cartback.services.simulation import simulate_flow_set, simulate_flows
from fakes import FakeDatabase, FakeUnitOfWorkFactory, OrderRow

THREE_EMAILS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout]}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - {wait: 23h, channel: email, template: support}
      - {wait: 48h, channel: email, template: resolution}
defaults:
  frequency_cap: {messages: 5, per: 24h}
"""

SMS_THEN_EMAIL = """
flows:
  - name: texts
    trigger: {stages: [cart]}
    steps:
      - {wait: 1h, channel: sms, template: nudge}
      - {wait: 1h, channel: email, template: reminder}
"""

TWO_QUICK_EMAILS = """
flows:
  - name: quick
    trigger: {stages: [cart]}
    steps:
      - {wait: 1h, channel: email, template: first}
      - {wait: 1h, channel: email, template: second}
defaults:
  frequency_cap: {messages: 1, per: 24h}
"""

WITH_OFFER = """
flows:
  - name: offers
    trigger: {stages: [cart]}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - wait: 48h
        channel: email
        template: resolution
        offer: {kind: percent, value: 10, expires_in: 48h, when: "cart.total >= 80"}
"""


@pytest.fixture
def contact(database: FakeDatabase, shop: Store, clock: SimulatedClock) -> Callable[..., str]:
    """
    Stores a contact with an email address (and a phone number if given); returns its id.
    """

    def make(*, phone: str | None = None) -> str:
        contact_id = new_id("ct")
        database.contacts[contact_id] = Contact(
            id=contact_id,
            store_id=shop.id,
            user_id=None,
            email=f"{contact_id}@example.com",
            phone=phone,
            is_bot=False,
            created_at=clock.now() - timedelta(days=20),
            updated_at=clock.now() - timedelta(days=20),
        )
        return contact_id

    return make


@pytest.fixture
def left_cart(
    database: FakeDatabase, shop: Store, clock: SimulatedClock, contact: Callable[..., str]
) -> Callable[..., CartRecord]:
    """
    Stores a 40 USD cart abandoned `days_ago` (its contact's, or a new contact's).
    """

    def make(
        *, days_ago: float = 5, contact_id: str | None = None, price: int = 40, **cart: Any
    ) -> CartRecord:
        left_at = clock.now() - timedelta(days=days_ago)
        values: dict[str, Any] = {
            "key": new_id("cart"),
            "currency": "USD",
            "lines": (LineItem(product_id="p-1", name="Lamp", unit_price=Decimal(price)),),
            "stage": Stage.CART,
            "status": CartStatus.ABANDONED,
            "last_activity_at": left_at - timedelta(minutes=30),
            "abandoned_at": left_at,
            "check_at": left_at + timedelta(days=7),
            **cart,
        }
        record = CartRecord(
            id=new_id("ca"),
            store_id=shop.id,
            cart=Cart(**values),
            contact_id=contact_id if contact_id is not None else contact(),
            created_at=left_at - timedelta(hours=1),
        )
        database.carts[record.id] = record
        return record

    return make


@pytest.fixture
def simulate(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store
) -> Callable[..., SimulationReport]:
    """
    Runs the simulation for the shop, on a read-only unit of work.
    """

    def run(text: str, *, days: int = 7) -> SimulationReport:
        return simulate_flows(
            uow=uow_factory(read_only=True), clock=clock, store_id=shop.id, text=text, days=days
        )

    return run


def _sent(report: SimulationReport) -> list[tuple[str, int, str, int]]:
    return [(r.flow, r.step, r.channel.value, r.count) for r in report.sent]


def test_three_steps_are_sent_for_every_treated_cart(
    simulate: Callable[..., SimulationReport], left_cart: Callable[..., CartRecord]
) -> None:
    """
    Two carts left 5 days ago: every step of the 1 h / 24 h / 72 h flow goes to each.
    """
    # given
    left_cart()
    left_cart()
    # when
    report = simulate(THREE_EMAILS)
    # then
    assert 2 == report.carts
    assert [("cart-recovery", i, "email", 2) for i in range(3)] == _sent(report)
    assert ({}, {}, {}, 0) == (report.skipped, report.cancelled, report.deferred, report.pending)
    assert [("cart-recovery", 2, 0)] == [(e.flow, e.treated, e.control) for e in report.enrolled]


def test_carts_outside_the_window_are_not_read(
    simulate: Callable[..., SimulationReport], left_cart: Callable[..., CartRecord]
) -> None:
    """
    A cart left 8 days ago is outside a 7-day window; with 9 days it is in.
    """
    # given
    left_cart(days_ago=8)
    # when
    week = simulate(THREE_EMAILS, days=7)
    longer = simulate(THREE_EMAILS, days=9)
    # then
    assert (0, 1) == (week.carts, longer.carts)


def test_an_order_after_the_first_step_cancels_the_rest(
    simulate: Callable[..., SimulationReport],
    left_cart: Callable[..., CartRecord],
    clock: SimulatedClock,
) -> None:
    """
    The cart was ordered 2 h after it was left: step 1 went, steps 2 and 3 are `ordered`.
    """
    # given
    left_at = clock.now() - timedelta(days=5)
    left_cart(
        stage=Stage.ORDERED,
        status=CartStatus.RECOVERED,
        ordered_at=left_at + timedelta(hours=2),
        check_at=None,
    )
    # when
    report = simulate(THREE_EMAILS)
    # then
    assert [("cart-recovery", 0, "email", 1)] == _sent(report)
    assert {"ordered": 2} == report.cancelled


def test_an_order_by_the_contact_on_another_cart_cancels_too(
    simulate: Callable[..., SimulationReport],
    left_cart: Callable[..., CartRecord],
    database: FakeDatabase,
    shop: Store,
    clock: SimulatedClock,
) -> None:
    """
    The contact ordered (another cart) 30 h after leaving this one: steps 1 and 2 went.
    """
    # given
    record = left_cart()
    placed = clock.now() - timedelta(days=5) + timedelta(hours=30)
    order = OrderRecord(
        store_id=shop.id,
        order_key="o-1",
        cart_id=None,
        contact_id=record.contact_id,
        status="placed",
        total=Decimal(40),
        currency="USD",
        placed_at=placed,
    )
    database.orders[(shop.id, "o-1")] = OrderRow(order=order, updated_at=placed)
    # when
    report = simulate(THREE_EMAILS)
    # then
    assert [("cart-recovery", 0, "email", 1), ("cart-recovery", 1, "email", 1)] == _sent(report)
    assert {"ordered": 1} == report.cancelled


def test_a_full_holdout_only_withholds(
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
    left_cart: Callable[..., CartRecord],
) -> None:
    """
    Everyone in the control group (flow files allow at most 0.5; the replay honours any
    share): every touch is withheld, nothing would be sent.
    """
    # given
    left_cart()
    parsed = parse_flows(THREE_EMAILS)
    flow_set = dataclasses.replace(
        parsed, flows=tuple(dataclasses.replace(f, holdout=1.0) for f in parsed.flows)
    )
    # when
    report = simulate_flow_set(
        uow=uow_factory(read_only=True), clock=clock, store_id=shop.id, flow_set=flow_set, days=7
    )
    # then
    assert () == report.sent
    expected = [
        StepCount(flow="cart-recovery", step=i, channel=Channel.EMAIL, variant=None, count=1)
        for i in range(3)
    ]
    assert expected == list(report.withheld)
    assert ({}, {}, {}) == (report.skipped, report.cancelled, report.deferred)
    assert [("cart-recovery", 0, 1)] == [(e.flow, e.treated, e.control) for e in report.enrolled]


def test_an_sms_step_without_sms_consent_is_skipped_no_consent(
    simulate: Callable[..., SimulationReport],
    left_cart: Callable[..., CartRecord],
    contact: Callable[..., str],
) -> None:
    """
    A contact with a phone number but no SMS consent: the text is skipped, the email goes.
    """
    # given
    left_cart(contact_id=contact(phone="+12125550123"))
    # when
    report = simulate(SMS_THEN_EMAIL)
    # then
    assert {"no_consent": 1} == report.skipped
    assert [("texts", 1, "email", 1)] == _sent(report)


def test_the_frequency_cap_defers_the_second_touch(
    simulate: Callable[..., SimulationReport], left_cart: Callable[..., CartRecord]
) -> None:
    """
    One message per 24 h: the second step, due 1 h after the first, is deferred
    `frequency_cap` and goes a day after the first.
    """
    # given
    left_cart()
    # when
    report = simulate(TWO_QUICK_EMAILS)
    # then
    assert {"frequency_cap": 1} == report.deferred
    assert [("quick", 0, "email", 1), ("quick", 1, "email", 1)] == _sent(report)


def test_the_hand_off_to_ads_skips_emails_after_the_unanswered_ones(
    simulate: Callable[..., SimulationReport], left_cart: Callable[..., CartRecord]
) -> None:
    """
    `hand_to_ads_after: 2`: as in the worker, the third email is skipped `handed_to_ads`.
    """
    # given
    left_cart()
    # when
    report = simulate(THREE_EMAILS.replace("defaults:\n", "defaults:\n  hand_to_ads_after: 2\n"))
    # then
    assert {"handed_to_ads": 1} == report.skipped
    assert [("cart-recovery", 0, "email", 1), ("cart-recovery", 1, "email", 1)] == _sent(report)


@pytest.mark.parametrize(
    ("exit_on", "cancelled", "skipped"),
    [("", {"cart_empty": 3}, {}), ("    exit_on: [ordered]\n", {}, {"cart_empty": 3})],
)
def test_an_emptied_cart_follows_the_flows_exit_on(
    simulate: Callable[..., SimulationReport],
    left_cart: Callable[..., CartRecord],
    exit_on: str,
    cancelled: dict[str, int],
    skipped: dict[str, int],
) -> None:
    """
    As in the worker: an emptied cart ends the sequence when the flow exits on
    `cart_emptied` (the default), and only skips each touch when it does not.
    """
    # given
    left_cart(lines=())
    text = THREE_EMAILS.replace("    steps:\n", exit_on + "    steps:\n", 1)
    # when
    report = simulate(text)
    # then
    assert (cancelled, skipped) == (report.cancelled, report.skipped)


def test_a_deferral_past_the_window_leaves_the_touch_pending(
    simulate: Callable[..., SimulationReport], left_cart: Callable[..., CartRecord]
) -> None:
    """
    Left 12 h ago: the capped second touch would go tomorrow, after the window.
    """
    # given
    left_cart(days_ago=0.5)
    # when
    report = simulate(TWO_QUICK_EMAILS)
    # then
    assert ({"frequency_cap": 1}, 1) == (report.deferred, report.pending)
    assert [("quick", 0, "email", 1)] == _sent(report)


def test_a_newer_cart_replaces_the_older_enrollment(
    simulate: Callable[..., SimulationReport],
    left_cart: Callable[..., CartRecord],
    contact: Callable[..., str],
) -> None:
    """
    The same contact leaves a second cart 2 days after the first: the first cart's last step
    is cancelled `newer_cart`.
    """
    # given
    person = contact()
    left_cart(days_ago=6, contact_id=person)
    left_cart(days_ago=4, contact_id=person)
    # when
    report = simulate(THREE_EMAILS)
    # then
    assert {"newer_cart": 1} == report.cancelled
    assert [("cart-recovery", 2, 0)] == [(e.flow, e.treated, e.control) for e in report.enrolled]
    expected = [
        ("cart-recovery", 0, "email", 2),
        ("cart-recovery", 1, "email", 2),
        ("cart-recovery", 2, "email", 1),
    ]
    assert expected == _sent(report)


def test_offers_count_where_their_condition_holds(
    simulate: Callable[..., SimulationReport], left_cart: Callable[..., CartRecord]
) -> None:
    """
    A 10 % offer for carts of 80 or more: shown in the 100 USD cart's message, left out of
    the 40 USD one's (which still goes).
    """
    # given
    left_cart(price=100)
    left_cart(price=40)
    # when
    report = simulate(WITH_OFFER)
    # then
    assert [("offers", 1, "percent", Decimal(10), 1, 1)] == [
        (o.flow, o.step, o.kind, o.value, o.shown, o.left_out) for o in report.offers
    ]
    assert [("offers", 0, "email", 2), ("offers", 1, "email", 2)] == _sent(report)


def test_offers_count_where_their_built_in_rules_hold(
    simulate: Callable[..., SimulationReport], left_cart: Callable[..., CartRecord]
) -> None:
    """
    The offer's `min_total` is applied as dispatch applies it: the 100 USD cart gets the offer,
    the 40 USD one does not.
    """
    # given
    left_cart(price=100)
    left_cart(price=40)
    # when
    report = simulate(WITH_OFFER.replace('when: "cart.total >= 80"', "min_total: 80"))
    # then
    assert [("offers", 1, 1, 1)] == [(o.flow, o.step, o.shown, o.left_out) for o in report.offers]


def test_carts_without_a_flow_or_contact_are_counted_not_enrolled(
    simulate: Callable[..., SimulationReport],
    left_cart: Callable[..., CartRecord],
    database: FakeDatabase,
) -> None:
    """
    A browsing cart no flow's stages select, and a cart nobody gave an address for.
    """
    # given
    left_cart(stage=Stage.BROWSING)
    anonymous = left_cart()
    database.carts[anonymous.id] = dataclasses.replace(anonymous, contact_id=None)
    # when
    report = simulate(THREE_EMAILS)
    # then
    assert (2, {"no_contact": 1, "no_flow": 1}, ()) == (
        report.carts,
        dict(report.not_enrolled),
        report.sent,
    )


def test_the_simulation_writes_nothing(
    simulate: Callable[..., SimulationReport],
    left_cart: Callable[..., CartRecord],
    database: FakeDatabase,
) -> None:
    """
    The committed state is exactly what it was, and nothing was committed.
    """
    # given
    left_cart()
    left_cart(stage=Stage.ORDERED, status=CartStatus.CONVERTED, ordered_at=None)
    before = copy.deepcopy(database)
    # when
    simulate(THREE_EMAILS)
    # then
    assert before == database


@pytest.mark.parametrize("days", [0, 91, -1])
def test_days_out_of_range_are_refused(
    simulate: Callable[..., SimulationReport], days: int
) -> None:
    """
    The window is 1 to 90 days.
    """
    # when / then
    with pytest.raises(InvalidInput, match="days must be 1 to 90"):
        simulate(THREE_EMAILS, days=days)


def test_an_invalid_file_raises_every_error_with_its_line(
    simulate: Callable[..., SimulationReport],
) -> None:
    """
    The same errors as `flows apply`.
    """
    # given
    text = THREE_EMAILS.replace("wait: 1h", "wait: soon").replace("[cart, checkout]", "[carts]")
    # when
    with pytest.raises(FlowsInvalid) as raised:
        simulate(text)
    # then
    assert [4, 6] == [p.line for p in raised.value.problems]


def test_an_unknown_store_is_not_found(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> None:
    """
    No such store.
    """
    # when / then
    with pytest.raises(NotFound):
        simulate_flows(
            uow=uow_factory(read_only=True), clock=clock, store_id="st_nope", text=THREE_EMAILS
        )


def test_the_report_as_json(
    simulate: Callable[..., SimulationReport], left_cart: Callable[..., CartRecord]
) -> None:
    """
    Plain JSON values: the window, counts by step, reason codes.
    """
    # given
    left_cart(days_ago=2)
    # when
    body = report_json(simulate(TWO_QUICK_EMAILS, days=3))
    # then
    assert (3, 1, 2, {"frequency_cap": 1}) == (
        body["window"]["days"],
        body["carts"],
        body["sent_total"],
        body["deferred"],
    )
    assert {"flow": "quick", "step": 1, "channel": "email", "variant": None, "count": 1} == (
        body["sent"][1]
    )


# --- the replay alone ---------------------------------------------------------------------


def _plan(start: datetime, *touches: PlannedTouch, **enrollment: Any) -> ContactPlan:
    values: dict[str, Any] = {
        "cart_id": "ca_1",
        "flow": "f",
        "group": Group.TREATED,
        "trigger": Trigger(cart_id="ca_1", stage=Stage.CART, occurred_at=start),
        "enrolled_at": start,
        "touches": touches,
        **enrollment,
    }
    allowed = Permission(allowed=True, basis=Basis.CONSENT)
    return ContactPlan(
        contact_id="ct_1",
        enrollments=(PlannedEnrollment(**values),),
        permissions={Channel.EMAIL: allowed, Channel.SMS: allowed},
        locality=Locality(store_zone="UTC"),
    )


def test_replay_sends_the_steps_in_order(clock: SimulatedClock) -> None:
    """
    Three touches, given out of order, are decided in time order.
    """
    # given
    start = clock.now() - timedelta(days=5)
    touches = [
        PlannedTouch(step=i, channel=Channel.EMAIL, due_at=start + timedelta(hours=h))
        for i, h in ((2, 72), (0, 1), (1, 24))
    ]
    # when
    result = replay(_plan(start, *touches), policy=GuardPolicy(), until=clock.now())
    # then
    assert [(0, Outcome.SENT), (1, Outcome.SENT), (2, Outcome.SENT)] == [
        (t.step, t.outcome) for t in result.touches
    ]
    assert [start + timedelta(hours=h) for h in (1, 24, 72)] == [t.at for t in result.touches]


def test_replay_waits_while_the_shopper_is_back(clock: SimulatedClock) -> None:
    """
    The shopper came back before the touch was due: deferred `shopper_active` (the code
    dispatch writes) until the cart would be left again.
    """
    # given
    start = clock.now() - timedelta(days=2)
    back = ShoppingSpan(start=start + timedelta(minutes=30), until=start + timedelta(hours=3))
    touch = PlannedTouch(step=0, channel=Channel.EMAIL, due_at=start + timedelta(hours=1))
    # when
    result = replay(_plan(start, touch, shopping=back), policy=GuardPolicy(), until=clock.now())
    # then
    assert dispatch.SHOPPER_ACTIVE == SHOPPER_ACTIVE
    assert [(Outcome.SENT, back.until, (SHOPPER_ACTIVE,))] == [
        (t.outcome, t.at, t.deferrals) for t in result.touches
    ]


def test_an_ordered_cart_is_replayed_at_the_stage_it_was_left_at() -> None:
    """
    The order overwrote the stage; a checkout id or a payment failure tells how far it got.
    """
    # given
    base = Cart(key="k", currency="USD", lines=(LineItem(product_id="p", quantity=1),))
    # then
    assert [Stage.CART, Stage.CHECKOUT, Stage.PAYMENT_FAILED, Stage.BROWSING] == [
        stage_before_order(base),
        stage_before_order(dataclasses.replace(base, checkout_id="co")),
        stage_before_order(dataclasses.replace(base, payment_failure_reason="declined")),
        stage_before_order(dataclasses.replace(base, lines=())),
    ]
