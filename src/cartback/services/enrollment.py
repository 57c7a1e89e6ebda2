"""
Enrollment: when a cart is abandoned, choose its flow, settle the contact's one active
enrollment, assign the holdout group and write every step's touch, inside the transaction
that marks the cart abandoned (style rule 6: follow-up work is rows written with the change).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache

import structlog

from cartback.domain.assignment import choose_variant, is_withheld, template_for
from cartback.domain.cart import CartStatus
from cartback.domain.consent import Channel, Purpose
from cartback.domain.expressions import (
    CartFacts,
    ContactFacts,
    ItemFacts,
    SignalFacts,
    activation,
)
from cartback.domain.flows import Flow, FlowSet, TriggerKind, parse_flows
from cartback.domain.ports import (
    CartRecord,
    Contact,
    EnrollmentRecord,
    TouchRecord,
    UnitOfWork,
    UnitOfWorkFactory,
)
from cartback.domain.reasons import Reason
from cartback.domain.schedule import (
    PeakSeason,
    Replacement,
    StepPlan,
    Trigger,
    due_times,
    replacement,
)
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.domain.touches import EnrollmentStatus, Group, TouchStatus
from cartback.kit.ids import new_id
from cartback.services.flows import shipped_flows
from cartback.services.permission import may_message

log = structlog.get_logger(__name__)
ABANDONMENT = TriggerKind.ABANDONMENT


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreFlows:
    """
    The flows a store runs now (its applied file, else the shipped defaults, version 0).
    """

    flow_set: FlowSet
    version: int
    enabled: frozenset[str] = field(default_factory=frozenset)

    def flow(self, name: str) -> Flow | None:
        """
        The flow of that name, if the store still runs it.
        """
        return next((f for f in self.flow_set.flows if f.name == name), None)


@lru_cache(maxsize=64)
def _parsed(source: str) -> FlowSet:
    return parse_flows(source)


def store_flows(uow: UnitOfWork, store_id: str) -> StoreFlows:
    """
    The store's flows, read in the caller's open unit of work (parsed once per file text).
    """
    stored = uow.flows.list_for_store(store_id)
    if not stored:
        shipped = shipped_flows()
        return StoreFlows(
            flow_set=shipped, version=0, enabled=frozenset(f.name for f in shipped.flows)
        )
    return StoreFlows(
        flow_set=_parsed(stored[0].source),
        version=stored[0].version,
        enabled=frozenset(f.name for f in stored if f.enabled),
    )


def cart_facts(record: CartRecord) -> CartFacts:
    """
    The cart as a flow's expressions see it.
    """
    cart = record.cart
    items = [
        ItemFacts(
            product_id=line.product_id or line.sku or line.variant_id or "",
            variant_id=line.variant_id,
            sku=line.sku,
            name=line.name,
            quantity=line.quantity,
            unit_price=line.unit_price if line.unit_price is not None else Decimal(0),
            category=line.category,
        )
        for line in cart.lines
    ]
    viewed = dict(cart.signals.viewed)
    signals = SignalFacts(
        payment_failure_reason=cart.payment_failure_reason,
        returns=cart.signals.returns,
        repeated_adds=max(cart.signals.adds - len(cart.lines), 0),
        product_views=sum(viewed.get(i.product_id, 0) for i in items),
    )
    return CartFacts(
        total=cart.total,
        currency=cart.currency,
        stage=cart.stage.value,
        items=items,
        signals=signals,
    )


def contact_facts(uow: UnitOfWork, store: Store, contact: Contact) -> ContactFacts:
    """
    The person as a flow's expressions see them; consents are what `may_message` allows now.
    """

    def allowed(channel: Channel, purpose: Purpose) -> bool:
        return may_message(uow, store, contact, channel, purpose).allowed

    return ContactFacts(
        orders_count=uow.orders.count_for_contact(store.id, contact.id),
        email_consent=allowed(Channel.EMAIL, Purpose.RECOVERY),
        sms_consent=allowed(Channel.SMS, Purpose.RECOVERY),
        marketing_consent=allowed(Channel.EMAIL, Purpose.MARKETING),
        country=store.country,
        is_bot=contact.is_bot,
    )


def choose_flow(
    flows: StoreFlows,
    record: CartRecord,
    values: dict[str, object],
    *,
    kind: TriggerKind = TriggerKind.ABANDONMENT,
    waited: timedelta | None = None,
) -> Flow | None:
    """
    The highest-priority flow of `kind` (then by name) whose trigger stages hold the cart's
    stage and whose audience holds; for the catalog kinds, only flows whose `window` holds
    `waited` (from the abandonment to the catalog change).
    """
    stage = record.cart.stage.value
    candidates = sorted(flows.flow_set.flows, key=lambda f: (-f.priority, f.name))
    for flow in candidates:
        if flow.name not in flows.enabled or flow.trigger.kind is not kind:
            continue
        if stage not in flow.trigger.stages:
            continue
        window = flow.trigger.window
        if waited is not None and window is not None and waited > window:
            continue
        if flow.audience is None or flow.audience.evaluate(values).matched:
            return flow
    return None


def trigger_time(flow: Flow, record: CartRecord, store: Store) -> datetime:
    """
    When the flow's trigger fired: the abandonment, or later when the flow asks for a longer
    inactivity than the store's `abandon_after`.
    """
    cart = record.cart
    abandoned = cart.abandoned_at or cart.last_activity_at or record.created_at
    wait = flow.trigger.inactive_for
    if wait is None or cart.last_activity_at is None or wait <= store.abandon_after:
        return abandoned
    return max(abandoned, cart.last_activity_at + wait)


@dataclass(frozen=True, kw_only=True, slots=True)
class Enrolled:
    """
    What enrolling a cart did.
    """

    enrollment: EnrollmentRecord
    touches: tuple[TouchRecord, ...]
    replaced: str | None = None


def enroll_abandoned(
    *,
    uow: UnitOfWork,
    store: Store,
    record: CartRecord,
    now: datetime,
    flows: StoreFlows | None = None,
) -> Enrolled | None:
    """
    Enroll a just-abandoned cart's contact in the cart's flow, in the caller's open unit of work.

    Nothing happens for a cart without a contact, a robot's cart, a cart no flow selects, or a
    trigger `schedule.replacement` keeps or ignores. A replaced enrollment ends `replaced` and
    its pending touches are cancelled `newer_cart`.

    Returns:
        The new enrollment and its touches, or None.
    """
    if record.contact_id is None or record.cart.is_bot:
        return None
    contact = uow.contacts.get(store.id, record.contact_id)
    if contact is None or contact.is_bot:
        return None
    running = flows or store_flows(uow, store.id)
    values = activation(cart_facts(record), contact_facts(uow, store, contact))
    flow = choose_flow(running, record, values)
    if flow is None:
        return None
    trigger = Trigger(
        cart_id=record.id, stage=record.cart.stage, occurred_at=trigger_time(flow, record, store)
    )
    return _enroll(uow, store, contact, record, flow, running, trigger, now)


def enroll_for_catalog(
    *,
    uow: UnitOfWork,
    store: Store,
    record: CartRecord,
    kind: TriggerKind,
    since: datetime,
    changed_at: datetime,
    now: datetime,
    flows: StoreFlows | None = None,
) -> Enrolled | None:
    """
    Enroll the contact of an abandoned cart whose watched item changed in the catalog (it is
    back in stock, or a pre-order launched or got a new date) in the cart's flow of `kind`, in
    the caller's open unit of work. The trigger time is the catalog change.

    Nothing happens for a cart without a contact, a robot's, one that ordered or whose contact
    ordered since it was left (`since`), one being shopped again, or when no flow of `kind`
    selects it within its window. An enrollment of another kind for the same cart gives way
    (its pending touches are cancelled with the kind as reason): the news is what it lacked.

    Returns:
        The new enrollment and its touches, or None.
    """
    cart = record.cart
    if record.contact_id is None or cart.is_bot or cart.is_ordered:
        return None
    if cart.status not in (CartStatus.ABANDONED, CartStatus.LOST):
        return None
    contact = uow.contacts.get(store.id, record.contact_id)
    if contact is None or contact.is_bot:
        return None
    if uow.touches.order_matches(store.id, cart_id=record.id, contact_id=contact.id, since=since):
        return None
    running = flows or store_flows(uow, store.id)
    values = activation(cart_facts(record), contact_facts(uow, store, contact))
    flow = choose_flow(running, record, values, kind=kind, waited=changed_at - since)
    if flow is None:
        return None
    trigger = Trigger(cart_id=record.id, stage=cart.stage, occurred_at=changed_at)
    return _enroll(uow, store, contact, record, flow, running, trigger, now)


def _enroll(
    uow: UnitOfWork,
    store: Store,
    contact: Contact,
    record: CartRecord,
    flow: Flow,
    running: StoreFlows,
    trigger: Trigger,
    now: datetime,
) -> Enrolled | None:
    """
    Settle the contact's one active enrollment (`schedule.replacement`) and write the new one
    with every step's touch.
    """
    current = uow.enrollments.active_for_contact(contact.id)
    decision = replacement(_trigger_of(current), trigger)
    reason = (decision.reason or Reason.NEWER_CART).value
    kind = flow.trigger.kind
    if current is not None and decision.action is Replacement.KEEP and kind is not ABANDONMENT:
        # Catalog news for the cart the contact is already in a flow for: it takes over from
        # a flow of another kind (which cannot tell it), and is kept out by one of its own.
        running_flow = running.flow(current.flow)
        if (running_flow.trigger.kind if running_flow else ABANDONMENT) is not kind:
            decision, reason = replace(decision, action=Replacement.REPLACE), kind.value
    if decision.action in (Replacement.KEEP, Replacement.IGNORE):
        return None
    replaced = None
    if current is not None and decision.action is Replacement.REPLACE:
        uow.touches.cancel_pending(current.id, reason=reason, now=now)
        uow.enrollments.end(current.id, status=EnrollmentStatus.REPLACED, reason=reason, at=now)
        replaced = current.id
    enrollment = _new_enrollment(store, contact, record, flow, running.version, trigger, now)
    touches = _touches(enrollment, flow, trigger.occurred_at, now, peak=store.peak_season)
    uow.enrollments.add(enrollment)
    uow.touches.add(touches)
    log.info(
        "enrollment.started",
        store_id=store.id,
        cart_id=record.cart.key,
        flow=flow.name,
        group=enrollment.group.value,
        replaced=replaced,
    )
    return Enrolled(enrollment=enrollment, touches=touches, replaced=replaced)


def _trigger_of(enrollment: EnrollmentRecord | None) -> Trigger | None:
    if enrollment is None:
        return None
    return Trigger(
        cart_id=enrollment.cart_id, stage=enrollment.stage, occurred_at=enrollment.triggered_at
    )


def _new_enrollment(
    store: Store,
    contact: Contact,
    record: CartRecord,
    flow: Flow,
    version: int,
    trigger: Trigger,
    now: datetime,
) -> EnrollmentRecord:
    group = Group.CONTROL if is_withheld(flow, contact.id) else Group.TREATED
    return EnrollmentRecord(
        id=new_id("en"),
        store_id=store.id,
        contact_id=contact.id,
        cart_id=record.id,
        flow=flow.name,
        flow_version=version,
        group=group,
        status=EnrollmentStatus.ACTIVE,
        stage=trigger.stage,
        triggered_at=trigger.occurred_at,
        started_at=now,
    )


def _touches(
    enrollment: EnrollmentRecord,
    flow: Flow,
    trigger_at: datetime,
    now: datetime,
    *,
    peak: PeakSeason | None = None,
) -> tuple[TouchRecord, ...]:
    """
    Every step's touch: `scheduled` at its due time (waits stretched on the store's peak
    days), or `withheld` for the control group (so measurement can read what the control
    group would have been sent, and when).
    """
    plans = [
        StepPlan(index=i, wait=step.wait, channel=step.channel) for i, step in enumerate(flow.steps)
    ]
    status = TouchStatus.WITHHELD if enrollment.group is Group.CONTROL else TouchStatus.SCHEDULED
    touches = []
    for due in due_times(trigger_at, plans, peak=peak):
        variant = choose_variant(flow, due.index, enrollment.contact_id)
        touches.append(
            TouchRecord(
                id=new_id("tc"),
                store_id=enrollment.store_id,
                enrollment_id=enrollment.id,
                cart_id=enrollment.cart_id,
                step=due.index,
                variant=variant.name if variant is not None else None,
                channel=due.channel,
                template=template_for(flow, due.index, enrollment.contact_id),
                status=status,
                due_at=due.due_at,
                created_at=now,
                updated_at=now,
            )
        )
    return tuple(touches)


def complete_held_out(*, uow_factory: UnitOfWorkFactory, clock: Clock, limit: int = 500) -> int:
    """
    End the control group's enrollments once their sequence would have ended (every withheld
    touch due), so a held-out contact is not kept out of later flows for good, and measurement
    reads a finished enrollment. An order or a newer cart ends them sooner, as for anyone.
    """
    with uow_factory() as uow:
        completed = uow.enrollments.complete_held_out(now=clock.now(), limit=limit)
        uow.commit()
    if completed:
        log.info("enrollment.held_out.completed", enrollments=completed)
    return completed


__all__ = [
    "Enrolled",
    "StoreFlows",
    "cart_facts",
    "choose_flow",
    "complete_held_out",
    "contact_facts",
    "enroll_abandoned",
    "enroll_for_catalog",
    "store_flows",
    "trigger_time",
]
