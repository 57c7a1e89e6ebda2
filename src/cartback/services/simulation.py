"""
Flow simulation (`cartback flows simulate`, `POST /v1/flows/simulate`): replay the store's
carts that went idle in the last days through a flow file on a simulated clock, and count what
would have gone out. Nothing is sent and nothing is written: the unit of work only reads, and
is never committed.

The service reads and plans; `domain.simulation` replays and `domain.simulation_report` counts.
Planning reuses the engine's own pieces: `enrollment.choose_flow`, `cart_facts`,
`contact_facts` and `trigger_time`, the holdout and variant assignment, `schedule.due_times`,
and dispatch's `guard_policy` and `locality`.

What it cannot know, by design: orders, consents and carts after now; the engine's state
before the window (a contact's earlier enrollment, sends before the window for the frequency
cap); anything about a cart but its latest abandonment and its state today. Consent and
suppressions are today's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cartback.domain.assignment import choose_variant, is_withheld
from cartback.domain.cart import CartStatus
from cartback.domain.consent import Channel, Purpose
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.events import Stage
from cartback.domain.expressions import ContactFacts, activation
from cartback.domain.flows import Flow, FlowSet, Offer, parse_flows
from cartback.domain.guards import OrderMatch
from cartback.domain.offers import OfferFacts, OfferItem, eligibility
from cartback.domain.ports import CartRecord, Contact, OrderRecord, UnitOfWork
from cartback.domain.reasons import Reason
from cartback.domain.schedule import StepPlan, Trigger, due_times
from cartback.domain.simulation import (
    ContactPlan,
    OfferPlan,
    PlannedEnrollment,
    PlannedTouch,
    ShoppingSpan,
    replay,
    stage_before_order,
)
from cartback.domain.simulation_report import SimulationReport, summarize
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.domain.touches import Group
from cartback.services.dispatch import CONDITION_FALSE, guard_policy, locality
from cartback.services.enrollment import (
    StoreFlows,
    cart_facts,
    choose_flow,
    contact_facts,
    trigger_time,
)
from cartback.services.offer_settings import offer_rules
from cartback.services.permission import may_message

MIN_DAYS = 1
MAX_DAYS = 90
#: At most this many carts per simulation (the oldest abandonments of the window).
MAX_CARTS = 20_000


def simulate_flows(
    *, uow: UnitOfWork, clock: Clock, store_id: str, text: str, days: int = 7
) -> SimulationReport:
    """
    Replay the store's carts abandoned in the last `days` days through the flow file `text`.

    Args:
        uow: a unit of work; it is only read, never committed.
        clock: the end of the window is its `now()`.
        store_id: the store.
        text: the flow file (contract §7).
        days: the window, 1 to 90 days.

    Raises:
        FlowsInvalid: every error in the file, with its line (as `flows apply`).
        InvalidInput: `days` out of range.
        NotFound: no such store.
    """
    check_days(days)
    flow_set = parse_flows(text)
    return simulate_flow_set(uow=uow, clock=clock, store_id=store_id, flow_set=flow_set, days=days)


def simulate_flow_set(
    *, uow: UnitOfWork, clock: Clock, store_id: str, flow_set: FlowSet, days: int = 7
) -> SimulationReport:
    """
    `simulate_flows` for an already parsed flow file.
    """
    check_days(days)
    end = clock.now()
    start = end - timedelta(days=days)
    flows = StoreFlows(
        flow_set=flow_set, version=0, enabled=frozenset(f.name for f in flow_set.flows)
    )
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        records = uow.carts.abandoned_between(store_id, since=start, until=end, limit=MAX_CARTS + 1)
        planner = _Planner(uow=uow, store=store, flows=flows)
        for order in uow.orders.placed_between(store_id, since=start, until=end):
            planner.know(order)
        for record in records[:MAX_CARTS]:
            planner.add(record)
        plans = planner.contact_plans()
    policy = replace(guard_policy(flows), peak=store.peak_season)
    return summarize(
        (replay(plan, policy=policy, until=end) for plan in plans),
        window_start=start,
        window_end=end,
        days=days,
        carts=min(len(records), MAX_CARTS),
        not_enrolled=planner.not_enrolled,
        truncated=len(records) > MAX_CARTS,
    )


def check_days(days: int) -> None:
    """
    Raises:
        InvalidInput: `days` is not 1 to 90.
    """
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be {MIN_DAYS} to {MAX_DAYS}, not {days}")


@dataclass(kw_only=True, slots=True)
class _Person:
    contact: Contact
    facts: ContactFacts
    orders: list[datetime]
    enrollments: list[PlannedEnrollment] = field(default_factory=list)


@dataclass(kw_only=True, slots=True)
class _Planner:
    """
    Plans each cart's enrollment inside the open unit of work, one person at a time.
    """

    uow: UnitOfWork
    store: Store
    flows: StoreFlows
    people: dict[str, _Person | None] = field(default_factory=dict)
    not_enrolled: dict[str, int] = field(default_factory=dict)
    #: When the window's orders were placed, by cart and by contact.
    by_cart: dict[str, list[datetime]] = field(default_factory=dict)
    by_contact: dict[str, list[datetime]] = field(default_factory=dict)

    def know(self, order: OrderRecord) -> None:
        """
        Remember an order of the window (before the carts are added).
        """
        if order.cart_id is not None:
            self.by_cart.setdefault(order.cart_id, []).append(order.placed_at)
        if order.contact_id is not None:
            self.by_contact.setdefault(order.contact_id, []).append(order.placed_at)

    def add(self, record: CartRecord) -> None:
        """
        Plan the cart's enrollment, or count why there is none.
        """
        person = self._person(record.contact_id)
        if person is None:
            self._skip("no_contact")
            return
        if record.cart.is_bot or person.contact.is_bot:
            self._skip(Reason.BOT.value)
            return
        planned = self._plan(_as_left(self.uow, record), person)
        if planned is None:
            self._skip("no_flow")
            return
        person.enrollments.append(planned)

    def contact_plans(self) -> list[ContactPlan]:
        """
        One plan per person with at least one enrollment.
        """
        return [
            ContactPlan(
                contact_id=person.contact.id,
                enrollments=tuple(person.enrollments),
                permissions={
                    channel: may_message(
                        self.uow, self.store, person.contact, channel, Purpose.RECOVERY
                    )
                    for channel in Channel
                },
                locality=locality(self.store, person.contact),
            )
            for person in self.people.values()
            if person is not None and person.enrollments
        ]

    def _plan(self, record: CartRecord, person: _Person) -> PlannedEnrollment | None:
        left_at = record.cart.abandoned_at or record.created_at
        facts = replace(person.facts, orders_count=_orders_before(person, left_at))
        values = activation(cart_facts(record), facts)
        flow = choose_flow(self.flows, record, values)
        if flow is None:
            return None
        trigger = Trigger(
            cart_id=record.id,
            stage=record.cart.stage,
            occurred_at=trigger_time(flow, record, self.store),
        )
        contact_id = person.contact.id
        return PlannedEnrollment(
            cart_id=record.id,
            flow=flow.name,
            group=Group.CONTROL if is_withheld(flow, contact_id) else Group.TREATED,
            trigger=trigger,
            enrolled_at=left_at,
            touches=_touches(flow, trigger.occurred_at, contact_id, values, facts, self.store),
            orders=_orders(record, person, self.by_cart.get(record.id, [])),
            emptied_at=_emptied_at(record),
            shopping=_shopping(record),
            exit_on=flow.exit_on,
        )

    def _person(self, contact_id: str | None) -> _Person | None:
        if contact_id is None:
            return None
        if contact_id not in self.people:
            contact = self.uow.contacts.get(self.store.id, contact_id)
            self.people[contact_id] = (
                None
                if contact is None
                else _Person(
                    contact=contact,
                    facts=contact_facts(self.uow, self.store, contact),
                    orders=self.by_contact.get(contact_id, []),
                )
            )
        return self.people[contact_id]

    def _skip(self, reason: str) -> None:
        self.not_enrolled[reason] = self.not_enrolled.get(reason, 0) + 1


def _as_left(uow: UnitOfWork, record: CartRecord) -> CartRecord:
    """
    The cart at the stage it was left at: an order overwrote the stage, so take the stage its
    enrollment recorded, else the furthest one the cart's fields show.
    """
    if not record.cart.is_ordered:
        return record
    enrolled = sorted(uow.enrollments.for_cart(record.id), key=lambda e: e.triggered_at)
    stage = enrolled[-1].stage if enrolled else stage_before_order(record.cart)
    return replace(record, cart=replace(record.cart, stage=stage))


def _orders_before(person: _Person, moment: datetime) -> int:
    """
    1 if the contact had ordered before `moment`: an order of the window before it, or any
    order when none is in the window (it came before). A contact whose only orders in the
    window came after `moment` counts as first-time then.
    """
    if any(placed < moment for placed in person.orders):
        return 1
    return 1 if person.facts.orders_count and not person.orders else 0


def _touches(
    flow: Flow,
    trigger_at: datetime,
    contact_id: str,
    values: dict[str, object],
    facts: ContactFacts,
    store: Store,
) -> tuple[PlannedTouch, ...]:
    plans = [
        StepPlan(index=i, wait=step.wait, channel=step.channel) for i, step in enumerate(flow.steps)
    ]
    touches = []
    for due in due_times(trigger_at, plans, peak=store.peak_season):
        step = flow.steps[due.index]
        variant = choose_variant(flow, due.index, contact_id)
        offer = step.offer
        touches.append(
            PlannedTouch(
                step=due.index,
                channel=due.channel,
                due_at=due.due_at,
                variant=variant.name if variant is not None else None,
                condition=_condition(flow, due.index, values, facts),
                offer=None
                if offer is None
                else OfferPlan(
                    kind=offer.kind.value,
                    value=offer.value,
                    eligible=_offer_allowed(offer, store, values),
                ),
            )
        )
    return tuple(touches)


def _offer_allowed(offer: Offer, store: Store, values: dict[str, Any]) -> bool:
    """
    The offer's rules on the cart as it was left (`domain.offers.eligibility`). What a
    simulation cannot know counts as allowed: offers given since (the per-person limit),
    sale prices and costs.
    """
    cart, contact = values["cart"], values["contact"]
    items = tuple(
        OfferItem(
            key=str(item["variant_id"] or item["product_id"] or item["sku"] or index),
            quantity=int(item["quantity"]),
            unit_price=Decimal(str(item["unit_price"])),
            product_id=item["product_id"],
            variant_id=item["variant_id"],
            sku=item["sku"],
            category=item["category"],
        )
        for index, item in enumerate(cart["items"])
    )
    facts = OfferFacts(
        total=Decimal(str(cart["total"])),
        currency=str(cart["currency"]),
        items=items,
        orders_count=int(contact["orders_count"]),
        given_recently=0,
        values=values,
    )
    return eligibility(offer, offer_rules(store), facts).eligible


def _condition(
    flow: Flow, index: int, values: dict[str, object], facts: ContactFacts
) -> str | None:
    """
    The step's `when` as dispatch evaluates it at send time: None when it holds, `no_consent`
    for an SMS step without SMS consent, `condition_false` otherwise.
    """
    step = flow.steps[index]
    if step.when is None or step.when.evaluate(values).matched:
        return None
    if step.channel is Channel.SMS and not facts.sms_consent:
        return Reason.NO_CONSENT.value
    return CONDITION_FALSE


def _orders(
    record: CartRecord, person: _Person, for_cart: list[datetime]
) -> tuple[tuple[OrderMatch, datetime], ...]:
    """
    The orders that end this enrollment, as dispatch matches them: the cart's own, and the
    contact's (who is unique per store by email and phone).
    """
    by_contact = OrderMatch.EMAIL if person.contact.email else OrderMatch.PHONE
    found = [(OrderMatch.CART, placed) for placed in for_cart]
    found += [(by_contact, placed) for placed in person.orders]
    if record.cart.ordered_at is not None:
        found.append((OrderMatch.CART, record.cart.ordered_at))
    return tuple(found)


def _emptied_at(record: CartRecord) -> datetime | None:
    """
    An empty cart (not ordered) was emptied by its last activity; a browsing visit never had
    lines, so it was not emptied.
    """
    cart = record.cart
    if cart.lines or cart.is_ordered or cart.stage is Stage.BROWSING:
        return None
    return cart.last_activity_at or record.created_at


def _shopping(record: CartRecord) -> ShoppingSpan | None:
    """
    The shopper is back (the cart is active again since its abandonment) until its timer.
    """
    cart = record.cart
    if cart.status is not CartStatus.ACTIVE or cart.check_at is None:
        return None
    if cart.last_activity_at is None or cart.abandoned_at is None:
        return None
    if cart.last_activity_at < cart.abandoned_at:
        return None
    return ShoppingSpan(start=cart.last_activity_at, until=cart.check_at)
