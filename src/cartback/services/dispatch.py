"""
Dispatch: claim due touches, run the guards, and send through the send protocol.

1. **Decide** (one transaction): claim due touches (SKIP LOCKED on PostgreSQL), lock each one's
   cart, gather the guards' facts and `decide`. Cancel, Skip and Defer are written here. A Send
   is written as `sending` with a lease (`lease_owner`, `lease_until`) and committed *before*
   any channel is called. An order for the cart locks the same cart row, so it commits either
   before this transaction reads the orders (the touch is cancelled `ordered`) or after
   `sending` committed (the touch went before the order did).
2. **Call** the channel outside any transaction, with the touch id as idempotency key.
3. **Record** (one short transaction per touch): `sent` with the provider id (and the cart's
   `touched_at`, so a later order makes it `recovered`), or the pure retry policy's answer.

A `sending` touch whose lease ran out belonged to a worker that died mid-call: it becomes
`ambiguous` and is resolved by the channel's own lookup (`status`): found means `sent`, not
found means it goes back to `scheduled` and passes every guard again. Never a blind resend.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from cartback.domain.cart import CartStatus
from cartback.domain.consent import Channel, Purpose
from cartback.domain.expressions import activation
from cartback.domain.guards import (
    Cancel,
    Defer,
    FrequencyCap,
    GuardPolicy,
    Locality,
    OrderMatch,
    Send,
    Skip,
    TouchContext,
    decide,
)
from cartback.domain.ports import (
    CartRecord,
    Contact,
    EnrollmentRecord,
    MessageChannel,
    OutboundMessage,
    TouchRecord,
    UnitOfWork,
    UnitOfWorkFactory,
)
from cartback.domain.quiet_hours import DailyWindow
from cartback.domain.reasons import Reason
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.domain.touches import (
    PENDING,
    EnrollmentStatus,
    GiveUp,
    RetryPolicy,
    SendFailed,
    TouchStatus,
    retry_decision,
)
from cartback.kit.phone_locality import phone_locality
from cartback.services.enrollment import StoreFlows, cart_facts, contact_facts, store_flows
from cartback.services.permission import contact_address, may_message
from cartback.services.rendering import render

log = structlog.get_logger(__name__)

#: A send in flight returns to the others this long after its worker stopped answering.
DEFAULT_LEASE = timedelta(seconds=30)
#: A step whose `when` is false at send time is skipped with this code.
CONDITION_FALSE = "condition_false"
#: A channel the settings do not provide yet: the touch waits, it is not dropped.
NO_CHANNEL = "no_channel"
NO_CHANNEL_RETRY = timedelta(hours=1)
#: The shopper came back and the cart is active again: no reminder while they shop; the
#: touch waits until the cart would be left again.
SHOPPER_ACTIVE = "shopper_active"


@dataclass(frozen=True, kw_only=True, slots=True)
class DispatchConfig:
    """
    How a worker dispatches: its id (the lease owner), batch size, lease and retry policy.
    """

    worker_id: str
    limit: int = 100
    lease: timedelta = DEFAULT_LEASE
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(kw_only=True, slots=True)
class DispatchReport:
    """
    What one pass did: touches by resulting status, and due-to-sent delays in seconds.
    """

    statuses: dict[str, int] = field(default_factory=dict)
    latency: list[float] = field(default_factory=list)

    @property
    def processed(self) -> int:
        """
        Touches claimed in this pass.
        """
        return sum(self.statuses.values())

    def count(self, status: TouchStatus) -> None:
        """
        Count one touch that ended the pass in `status`.
        """
        self.statuses[status.value] = self.statuses.get(status.value, 0) + 1


@dataclass(frozen=True, kw_only=True, slots=True)
class _Outgoing:
    touch: TouchRecord
    message: OutboundMessage


@dataclass(kw_only=True, slots=True)
class _Pass:
    """
    Per-pass caches, read inside the deciding transaction.
    """

    uow: UnitOfWork
    now: datetime
    config: DispatchConfig
    stores: dict[str, Store | None] = field(default_factory=dict)
    flows: dict[str, StoreFlows] = field(default_factory=dict)

    def store(self, store_id: str) -> Store | None:
        if store_id not in self.stores:
            self.stores[store_id] = self.uow.stores.get(store_id)
        return self.stores[store_id]

    def store_flows(self, store_id: str) -> StoreFlows:
        if store_id not in self.flows:
            self.flows[store_id] = store_flows(self.uow, store_id)
        return self.flows[store_id]


def dispatch_due_touches(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    channels: Mapping[Channel, MessageChannel],
    config: DispatchConfig,
) -> DispatchReport:
    """
    One pass of the send protocol over up to `config.limit` due touches.
    """
    report = DispatchReport()
    now = clock.now()
    outgoing: list[_Outgoing] = []
    ambiguous: list[TouchRecord] = []
    with uow_factory() as uow:
        claimed = uow.touches.claim_due(now=now, limit=config.limit)
        if not claimed:
            return report
        work = _Pass(uow=uow, now=now, config=config)
        for touch in claimed:
            if touch.status in (TouchStatus.SENDING, TouchStatus.AMBIGUOUS):
                ambiguous.append(_mark_ambiguous(work, touch))
                continue
            sending = _decide_one(work, touch, channels, report)
            if sending is not None:
                outgoing.append(sending)
        uow.commit()
    for touch in ambiguous:
        _resolve(uow_factory, clock, channels, touch, config, report)
    for item in outgoing:
        _send(uow_factory, clock, channels[item.touch.channel], item, config, report)
    return report


def _mark_ambiguous(work: _Pass, touch: TouchRecord) -> TouchRecord:
    """
    A send whose worker stopped answering: nobody knows whether the channel was called.
    """
    log.warning("touch.ambiguous", touch_id=touch.id, lease_owner=touch.lease_owner)
    marked = replace(
        touch,
        status=TouchStatus.AMBIGUOUS,
        lease_owner=work.config.worker_id,
        lease_until=work.now + work.config.lease,
        updated_at=work.now,
    )
    work.uow.touches.save(marked)
    return marked


def _resolve(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    channels: Mapping[Channel, MessageChannel],
    touch: TouchRecord,
    config: DispatchConfig,
    report: DispatchReport,
) -> None:
    """
    Ask the channel whether the ambiguous touch went: `sent` if it did, back to `scheduled`
    (every guard runs again) if it did not.
    """
    channel = channels.get(touch.channel)
    if channel is None:
        report.count(TouchStatus.AMBIGUOUS)
        return
    provider_id = channel.status(touch.id)
    now = clock.now()
    with uow_factory() as uow:
        current = uow.touches.get(touch.id)
        if current is None or current.status is not TouchStatus.AMBIGUOUS:
            return
        if current.lease_owner != config.worker_id:
            return
        if provider_id is not None:
            _record_sent(uow, current, provider_id, now)
            report.count(TouchStatus.SENT)
        else:
            uow.touches.save(
                replace(
                    current,
                    status=TouchStatus.SCHEDULED,
                    due_at=now,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                )
            )
            report.count(TouchStatus.SCHEDULED)
        uow.commit()
    log.info("touch.ambiguous.resolved", touch_id=touch.id, found=provider_id is not None)


def _decide_one(
    work: _Pass,
    touch: TouchRecord,
    channels: Mapping[Channel, MessageChannel],
    report: DispatchReport,
) -> _Outgoing | None:
    """
    Run the step's condition and the guards for one claimed touch, and write the outcome; a
    touch that may go is written `sending` and returned for the channel call.
    """
    facts = _facts(work, touch, report)
    if facts is None:
        return None
    store, enrollment, record, contact = facts
    uow, now = work.uow, work.now
    flows = work.store_flows(store.id)
    status: TouchStatus | None = None
    skipped = _condition(uow, store, contact, record, touch, enrollment, flows)
    if skipped is not None:
        _write(uow, touch, TouchStatus.SKIPPED, skipped, now)
        _complete_if_done(uow, enrollment.id, now)
        status = TouchStatus.SKIPPED
    elif _shopping_again(record, now):
        resume = record.cart.check_at
        _write(uow, touch, TouchStatus.DEFERRED, SHOPPER_ACTIVE, now, due_at=resume)
        status = TouchStatus.DEFERRED
    else:
        context = _context(uow, store, contact, record, touch, enrollment, flows, now)
        decision = decide(context, now)
        if not isinstance(decision, Send):
            status = _apply(uow, touch, enrollment, decision, now)
        elif touch.channel not in channels:
            later = now + NO_CHANNEL_RETRY
            _write(uow, touch, TouchStatus.DEFERRED, NO_CHANNEL, now, due_at=later)
            status = TouchStatus.DEFERRED
    if status is not None:
        report.count(status)
        return None
    return _start_sending(work, touch, store, record, contact)


def _shopping_again(record: CartRecord, now: datetime) -> bool:
    cart = record.cart
    return cart.status is CartStatus.ACTIVE and cart.check_at is not None and cart.check_at > now


def _facts(
    work: _Pass, touch: TouchRecord, report: DispatchReport
) -> tuple[Store, EnrollmentRecord, CartRecord, Contact] | None:
    """
    The touch's store, enrollment, cart (locked first: an order for it waits for this
    transaction, or this transaction sees the order) and contact; None, with the touch written,
    when the enrollment ended or the cart or contact is gone.
    """
    uow, now = work.uow, work.now
    enrollment = uow.enrollments.get(touch.enrollment_id)
    store = work.store(touch.store_id)
    if enrollment is None or store is None:
        return None
    if enrollment.status is not EnrollmentStatus.ACTIVE:
        _write(uow, touch, TouchStatus.CANCELLED, enrollment.reason or Reason.NEWER_CART, now)
        report.count(TouchStatus.CANCELLED)
        return None
    key = uow.touches.cart_key(touch.cart_id)
    record = uow.carts.get(store.id, key) if key is not None else None
    contact = uow.contacts.get(store.id, enrollment.contact_id)
    if record is None or contact is None:
        _cancel(uow, touch, enrollment, Reason.CART_EMPTY, now)
        report.count(TouchStatus.CANCELLED)
        return None
    return store, enrollment, record, contact


def _start_sending(
    work: _Pass, touch: TouchRecord, store: Store, record: CartRecord, contact: Contact
) -> _Outgoing:
    """
    Write the touch `sending` under this worker's lease; the message goes after the commit.
    """
    now = work.now
    rendered = render(store=store, cart=record.cart, channel=touch.channel, template=touch.template)
    sending = replace(
        touch,
        status=TouchStatus.SENDING,
        reason=None,
        attempts=touch.attempts + 1,
        lease_owner=work.config.worker_id,
        lease_until=now + work.config.lease,
        updated_at=now,
    )
    work.uow.touches.save(sending)
    message = OutboundMessage(
        store_id=store.id,
        touch_id=touch.id,
        channel=touch.channel,
        to=contact_address(contact, touch.channel) or "",
        subject=rendered.subject,
        text=rendered.text,
    )
    return _Outgoing(touch=sending, message=message)


def _condition(
    uow: UnitOfWork,
    store: Store,
    contact: Contact,
    record: CartRecord,
    touch: TouchRecord,
    enrollment: EnrollmentRecord,
    flows: StoreFlows,
) -> str | None:
    """
    The step's `when`, evaluated now (consent may have changed since enrollment). An SMS
    step's condition holds `contact.sms_consent`: false there is `no_consent`.
    """
    flow = flows.flow(enrollment.flow)
    if flow is None or touch.step >= len(flow.steps):
        return None  # the file changed since enrollment: the guards still decide
    step = flow.steps[touch.step]
    if step.when is None:
        return None
    facts = contact_facts(uow, store, contact)
    if step.when.evaluate(activation(cart_facts(record), facts)).matched:
        return None
    if touch.channel is Channel.SMS and not facts.sms_consent:
        return Reason.NO_CONSENT.value
    return CONDITION_FALSE


def _context(
    uow: UnitOfWork,
    store: Store,
    contact: Contact,
    record: CartRecord,
    touch: TouchRecord,
    enrollment: EnrollmentRecord,
    flows: StoreFlows,
    now: datetime,
) -> TouchContext:
    policy = guard_policy(flows)
    cap = policy.frequency_cap
    recent = (
        tuple(uow.touches.sent_times(contact.id, since=now - cap.per)) if cap is not None else ()
    )
    matches = uow.touches.order_matches(
        store.id, cart_id=record.id, contact_id=contact.id, since=enrollment.started_at
    )
    ordered = {OrderMatch(m) for m in matches}
    if record.cart.is_ordered:
        ordered.add(OrderMatch.CART)
    return TouchContext(
        channel=touch.channel,
        permission=may_message(uow, store, contact, touch.channel, Purpose.RECOVERY),
        locality=locality(store, contact),
        policy=policy,
        ordered_by=frozenset(ordered),
        cart_emptied=not record.cart.lines and not record.cart.is_ordered,
        replaced=enrollment.status is EnrollmentStatus.REPLACED,
        is_bot=record.cart.is_bot or contact.is_bot,
        recent_sends=recent,
    )


def guard_policy(flows: StoreFlows) -> GuardPolicy:
    """
    The guards' rules from the flow file's `defaults`. A configured window that passes
    midnight cannot be a single daily window yet: that channel keeps only the legal window.
    """
    defaults = flows.flow_set.defaults
    windows: dict[Channel, DailyWindow] = {}
    for name, hours in defaults.quiet_hours.items():
        try:
            windows[Channel(name)] = DailyWindow(start=hours.start, end=hours.end)
        except ValueError:
            log.warning("guards.quiet_hours.unsupported", channel=name, window=str(hours))
    cap = defaults.frequency_cap
    return GuardPolicy(
        quiet_hours=windows,
        frequency_cap=FrequencyCap(messages=cap.messages, per=cap.per),
    )


def locality(store: Store, contact: Contact) -> Locality:
    """
    Where the recipient probably is: the phone number's zones, country and state, else the
    store's zone.
    """
    if contact.phone is None:
        return Locality(store_zone=store.timezone, country=store.country)
    found = phone_locality(contact.phone)
    return Locality(
        store_zone=store.timezone,
        phone_zones=found.timezones,
        country=found.country,
        us_state=found.us_state,
    )


def _apply(
    uow: UnitOfWork,
    touch: TouchRecord,
    enrollment: EnrollmentRecord,
    decision: Cancel | Skip | Defer,
    now: datetime,
) -> TouchStatus:
    if isinstance(decision, Cancel):
        _cancel(uow, touch, enrollment, decision.reason, now)
        return TouchStatus.CANCELLED
    if isinstance(decision, Defer):
        _write(uow, touch, TouchStatus.DEFERRED, decision.reason, now, due_at=decision.until)
        return TouchStatus.DEFERRED
    _write(uow, touch, TouchStatus.SKIPPED, decision.reason, now)
    _complete_if_done(uow, enrollment.id, now)
    return TouchStatus.SKIPPED


def _write(
    uow: UnitOfWork,
    touch: TouchRecord,
    status: TouchStatus,
    reason: str,
    now: datetime,
    *,
    due_at: datetime | None = None,
) -> None:
    uow.touches.save(
        replace(
            touch,
            status=status,
            reason=str(reason),
            due_at=due_at or touch.due_at,
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )


def _cancel(
    uow: UnitOfWork, touch: TouchRecord, enrollment: EnrollmentRecord, reason: str, now: datetime
) -> None:
    """
    End the enrollment: this touch and every pending one after it are cancelled with `reason`.
    """
    _write(uow, touch, TouchStatus.CANCELLED, reason, now)
    uow.touches.cancel_pending(enrollment.id, reason=str(reason), now=now)
    uow.enrollments.end(
        enrollment.id, status=EnrollmentStatus.CANCELLED, reason=str(reason), at=now
    )
    log.info("enrollment.cancelled", enrollment_id=enrollment.id, reason=str(reason))


def _complete_if_done(uow: UnitOfWork, enrollment_id: str, now: datetime) -> None:
    remaining = [
        t
        for t in uow.touches.for_enrollment(enrollment_id)
        if t.status in PENDING or t.status in (TouchStatus.SENDING, TouchStatus.AMBIGUOUS)
    ]
    if not remaining:
        uow.enrollments.end(enrollment_id, status=EnrollmentStatus.COMPLETED, reason=None, at=now)


def _send(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    channel: MessageChannel,
    item: _Outgoing,
    config: DispatchConfig,
    report: DispatchReport,
) -> None:
    """
    Call the channel for a committed `sending` touch, then record what happened.
    """
    touch = item.touch
    try:
        provider_id: str | None = channel.send(item.message, touch.id)
        error: SendFailed | None = None
    except SendFailed as failed:
        provider_id, error = None, failed
    now = clock.now()
    with uow_factory() as uow:
        current = uow.touches.get(touch.id)
        if current is None or current.status not in (TouchStatus.SENDING, TouchStatus.AMBIGUOUS):
            return  # resolved by another worker after our lease ran out
        if error is not None:
            report.count(_record_failure(uow, current, error, now, config.retry))
        elif provider_id is not None:
            _record_sent(uow, current, provider_id, now)
            report.count(TouchStatus.SENT)
            report.latency.append((now - touch.due_at).total_seconds())
        uow.commit()


def _record_sent(uow: UnitOfWork, touch: TouchRecord, provider_id: str, now: datetime) -> None:
    uow.touches.save(
        replace(
            touch,
            status=TouchStatus.SENT,
            reason=None,
            sent_at=now,
            provider_id=provider_id,
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )
    uow.touches.mark_cart_touched(touch.cart_id, at=now)
    _complete_if_done(uow, touch.enrollment_id, now)
    log.info("touch.sent", touch_id=touch.id, channel=touch.channel.value, step=touch.step)


def _record_failure(
    uow: UnitOfWork, touch: TouchRecord, error: SendFailed, now: datetime, policy: RetryPolicy
) -> TouchStatus:
    answer = retry_decision(error, attempts=touch.attempts, now=now, policy=policy)
    cleared = replace(touch, lease_owner=None, lease_until=None, updated_at=now)
    if isinstance(answer, GiveUp):
        uow.touches.save(replace(cleared, status=TouchStatus.FAILED, reason=error.reason[:30]))
        _complete_if_done(uow, touch.enrollment_id, now)
        log.warning("touch.failed", touch_id=touch.id, reason=answer.reason[:300])
        return TouchStatus.FAILED
    uow.touches.save(replace(cleared, status=TouchStatus.SCHEDULED, reason=None, due_at=answer.at))
    log.info("touch.retry", touch_id=touch.id, attempts=touch.attempts, at=answer.at.isoformat())
    return TouchStatus.SCHEDULED
