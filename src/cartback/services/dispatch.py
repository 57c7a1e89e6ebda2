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

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import cast

import structlog

from cartback.domain.audiences import EntryReason
from cartback.domain.cart import CartStatus
from cartback.domain.consent import Channel, Purpose
from cartback.domain.events import Stage
from cartback.domain.expressions import activation
from cartback.domain.flows import Step, TriggerKind
from cartback.domain.guards import (
    DEFAULT_EXIT_ON,
    Cancel,
    Decision,
    Defer,
    FrequencyCap,
    GuardPolicy,
    ItemStock,
    Locality,
    OfferState,
    OrderMatch,
    Send,
    Skip,
    TouchContext,
    decide,
)
from cartback.domain.ports import (
    BatchMessageChannel,
    CartRecord,
    Contact,
    EnrollmentRecord,
    MessageChannel,
    OutboundMessage,
    Suppression,
    TouchRecord,
    UnitOfWork,
    UnitOfWorkFactory,
)
from cartback.domain.quiet_hours import DailyWindow
from cartback.domain.reasons import Reason
from cartback.domain.send_rate import SenderLog, SendRate, reserve, sms_segments
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.domain.touches import (
    PENDING,
    WENT,
    EnrollmentStatus,
    GiveUp,
    RetryPolicy,
    SendFailed,
    StatusUnknown,
    TouchStatus,
    retry_decision,
)
from cartback.domain.webhooks import EventType
from cartback.kit.phone_locality import phone_locality
from cartback.services._dispatch_reads import ReadAhead
from cartback.services.audiences import enter_audiences
from cartback.services.catalog import cart_stock
from cartback.services.compose import Composer
from cartback.services.enrollment import StoreFlows, cart_facts, contact_facts, store_flows
from cartback.services.message_parts import OfferView, TemplateOverride
from cartback.services.message_settings import restore_link_expiry
from cartback.services.offers import (
    NO_PLATFORMS,
    OFFER_RECHECK,
    OfferPlatforms,
    TouchOffer,
    touch_offer,
)
from cartback.services.permission import may_message
from cartback.services.quality import QualityTerms, check_outgoing
from cartback.services.sms_config import sending_pace
from cartback.services.templates import overrides_for
from cartback.services.webhook_events import WebhookEvents, emit_touches_sent, touch_event

log = structlog.get_logger(__name__)

#: A send in flight returns to the others this long after its worker stopped answering.
DEFAULT_LEASE = timedelta(seconds=30)
#: A step whose `when` is false at send time is skipped with this code.
CONDITION_FALSE = Reason.CONDITION_FALSE.value
#: A channel the settings do not provide yet: the touch waits, it is not dropped.
NO_CHANNEL = Reason.NO_CHANNEL.value
NO_CHANNEL_RETRY = timedelta(hours=1)
#: The shopper came back and the cart is active again: no reminder while they shop; the
#: touch waits until the cart would be left again.
SHOPPER_ACTIVE = Reason.SHOPPER_ACTIVE.value
#: An ambiguous send whose channel cannot say whether it went: parked, never resent.
STATUS_UNKNOWN = "status_unknown"


@dataclass(frozen=True, kw_only=True, slots=True)
class DispatchConfig:
    """
    How a worker dispatches: its id (the lease owner), batch size, lease and retry policy.
    """

    worker_id: str
    #: Renders and addresses each touch's message (links, templates, email headers).
    composer: Composer
    limit: int = 100
    lease: timedelta = DEFAULT_LEASE
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Paces texts to each sender's carrier rate; None sends as fast as the guards allow.
    throttle: SenderThrottle | None = None
    #: Each store's discount API, for steps that carry an offer (none: codes live here only).
    offers: OfferPlatforms = NO_PLATFORMS


class SenderThrottle:
    """
    Each SMS sender's recent sends in this process (a sliding window per sender, shared by the
    process's worker loops). Carriers count per sender across every process that sends for it,
    so a store whose texts go through several worker processes sets each one's share (docs).
    """

    def __init__(self) -> None:
        self._logs: dict[str, SenderLog] = {}
        self._lock = threading.Lock()

    def reserve(self, sender: str, rate: SendRate, now: datetime, *, segments: int = 1) -> datetime:
        """
        The earliest moment from `now` the sender may send `segments` more, reserved.
        """
        with self._lock:
            at, self._logs[sender] = reserve(
                self._logs.get(sender, SenderLog()), rate, now, segments=segments
            )
        return at


@dataclass(kw_only=True, slots=True)
class DispatchReport:
    """
    What one pass did: touches by resulting status, and due-to-sent delays in seconds.
    """

    statuses: dict[str, int] = field(default_factory=dict)
    latency: list[float] = field(default_factory=list)
    #: Messages the send-time quality check stopped, by check (`domain.quality`).
    quality: dict[str, int] = field(default_factory=dict)

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
    terms: QualityTerms


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
    #: The stores' webhook subscriptions, read once per pass (`touch.sent`, `touch.skipped`).
    events: WebhookEvents = field(default_factory=WebhookEvents)
    #: The stores' own templates by (store, template, channel), read once per pass.
    templates: dict[tuple[str, str, Channel], tuple[TemplateOverride, ...]] = field(
        default_factory=dict
    )

    def store(self, store_id: str) -> Store | None:
        if store_id not in self.stores:
            self.stores[store_id] = self.uow.stores.get(store_id)
        return self.stores[store_id]

    def store_flows(self, store_id: str) -> StoreFlows:
        if store_id not in self.flows:
            self.flows[store_id] = store_flows(self.uow, store_id)
        return self.flows[store_id]

    def overrides(self, store_id: str, touch: TouchRecord) -> tuple[TemplateOverride, ...]:
        key = (store_id, touch.template, touch.channel)
        if key not in self.templates:
            self.templates[key] = overrides_for(self.uow, store_id, touch.template, touch.channel)
        return self.templates[key]


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
        work.uow = _read_ahead(work, claimed)
        for touch in claimed:
            if touch.status in (TouchStatus.SENDING, TouchStatus.AMBIGUOUS):
                ambiguous.append(_mark_ambiguous(work, touch))
                continue
            sending = _decide_one(work, touch, channels, report)
            if sending is not None:
                outgoing.append(sending)
        work.uow.commit()  # the read-ahead's held-back writes go first
    pending = [t.id for t in ambiguous] + [item.touch.id for item in outgoing]
    heartbeat = _LeaseHeartbeat(uow_factory, clock, config, pending, leased_at=now)
    for touch in ambiguous:
        heartbeat.beat_if_due()
        if heartbeat.holds(touch.id):
            _resolve(uow_factory, clock, channels, touch, config, report, work.events)
        heartbeat.done(touch.id)
    for channel, items in _by_channel(channels, outgoing):
        if isinstance(channel, BatchMessageChannel):
            heartbeat.beat_if_due()
            held = [item for item in items if heartbeat.holds(item.touch.id)]
            if held:
                _send_batch(uow_factory, clock, channel, held, config, report, work.events)
            for item in items:
                heartbeat.done(item.touch.id)
            continue
        for item in items:
            heartbeat.beat_if_due()
            if heartbeat.holds(item.touch.id):
                _send(uow_factory, clock, channel, item, config, report, work.events)
            heartbeat.done(item.touch.id)
    return report


def _read_ahead(work: _Pass, claimed: list[TouchRecord]) -> UnitOfWork:
    """
    The pass's unit of work with the claimed touches' carts locked and their guards' facts
    read in a few queries (`_dispatch_reads`); the sends under each store's frequency cap.
    """
    windows = [
        cap.per
        for store_id in {t.store_id for t in claimed}
        if work.store(store_id) is not None
        and (cap := guard_policy(work.store_flows(store_id)).frequency_cap) is not None
    ]
    reads = ReadAhead(work.uow)
    reads.load(claimed, sent_since=work.now - max(windows) if windows else None)
    return cast(UnitOfWork, reads)


def _by_channel(
    channels: Mapping[Channel, MessageChannel], outgoing: list[_Outgoing]
) -> list[tuple[MessageChannel, list[_Outgoing]]]:
    """
    The outgoing messages grouped by the channel that sends them, in claim order.
    """
    groups: dict[Channel, list[_Outgoing]] = {}
    for item in outgoing:
        groups.setdefault(item.touch.channel, []).append(item)
    return [(channels[name], items) for name, items in groups.items()]


class _LeaseHeartbeat:
    """
    Keeps a pass's in-flight touches leased while its channel calls go on one after another:
    a third of the lease after the last renewal, the remaining touches get a full lease again.
    A worker that dies stops renewing, and its touches return to the others one lease later.
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        config: DispatchConfig,
        pending: list[str],
        *,
        leased_at: datetime,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._config = config
        self._pending = dict.fromkeys(pending)
        #: The leases were written with the pass's `now`: they run from then, not from now.
        self._renewed_at = leased_at
        self._lost: set[str] = set()

    def done(self, touch_id: str) -> None:
        self._pending.pop(touch_id, None)

    def holds(self, touch_id: str) -> bool:
        """
        False once a renewal found the touch no longer this worker's (this worker stalled
        past its lease and another took the touch over): it must not be sent from here.
        """
        return touch_id not in self._lost

    def beat_if_due(self) -> None:
        now = self._clock.now()
        if not self._pending or now - self._renewed_at < self._config.lease / 3:
            return
        waiting = list(self._pending)
        with self._uow_factory() as uow:
            renewed = uow.touches.extend_leases(
                waiting, owner=self._config.worker_id, until=now + self._config.lease
            )
            uow.commit()
        self._renewed_at = now
        lost = set(waiting) - renewed
        if lost:
            self._lost |= lost
            log.warning("touch.lease.lost", touches=len(lost))
        log.debug("touch.lease.renewed", touches=len(renewed))


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
    events: WebhookEvents,
) -> None:
    """
    Ask the channel whether the ambiguous touch went: `sent` if it did, back to `scheduled`
    (every guard runs again) if it did not.
    """
    channel = channels.get(touch.channel)
    if channel is None:
        report.count(TouchStatus.AMBIGUOUS)
        return
    try:
        provider_id = channel.status(touch.id)
    except StatusUnknown:
        _park(uow_factory, clock, touch, config, report)
        return
    now = clock.now()
    with uow_factory() as uow:
        current = uow.touches.get(touch.id)
        if current is None or current.status is not TouchStatus.AMBIGUOUS:
            return
        if current.lease_owner != config.worker_id:
            return
        if provider_id is not None:
            _record_sent(uow, current, provider_id, now, events)
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


def _park(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    touch: TouchRecord,
    config: DispatchConfig,
    report: DispatchReport,
) -> None:
    """
    A send nobody can tell went: an ambiguous one on a channel that cannot be asked (SMTP,
    Twilio), or one whose provider call lost its answer. It stays `ambiguous` without a lease,
    so no worker takes it again and nothing is sent twice. The provider's own report (a status
    callback naming the touch) or an operator settles it.
    """
    now = clock.now()
    with uow_factory() as uow:
        current = uow.touches.get(touch.id)
        if current is None or current.status not in (TouchStatus.SENDING, TouchStatus.AMBIGUOUS):
            return
        if current.lease_owner != config.worker_id:
            return
        uow.touches.save(
            replace(
                current,
                status=TouchStatus.AMBIGUOUS,
                reason=STATUS_UNKNOWN,
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
        )
        uow.commit()
    report.count(TouchStatus.AMBIGUOUS)
    log.warning("touch.ambiguous.parked", touch_id=touch.id, channel=touch.channel.value)


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
    stock: tuple[ItemStock, ...] = ()
    offer: TouchOffer | None = None
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
        stock = context.items
        decision = _patience(decide(context, now), store, enrollment)
        if not isinstance(decision, Send):
            status = _apply(uow, touch, enrollment, decision, now)
            skipped = str(decision.reason) if isinstance(decision, Skip) else None
            if skipped == Reason.HANDED_TO_ADS:
                # The ads take over from the emails: the hand-over audiences, same transaction.
                enter_audiences(uow, store, record, now, reason=EntryReason.HANDED_OVER)
        elif touch.channel not in channels:
            later = now + NO_CHANNEL_RETRY
            _write(uow, touch, TouchStatus.DEFERRED, NO_CHANNEL, now, due_at=later)
            status = TouchStatus.DEFERRED
        else:
            offer = _offer(work, touch, store, enrollment, record, contact, flows, decision)
            if offer is not None and offer.wait:
                later = now + OFFER_RECHECK
                _write(uow, touch, TouchStatus.DEFERRED, Reason.OFFER_PENDING, now, due_at=later)
                status = TouchStatus.DEFERRED
    if status is not None:
        report.count(status)
        if status is TouchStatus.SKIPPED and skipped is not None:
            _emit_skipped(work, touch, record, skipped)
        return None
    outgoing = _start_sending(work, touch, store, record, contact, enrollment.flow, stock, offer)
    if outgoing is None:
        report.count(TouchStatus.DEFERRED)
    return outgoing


def _emit_skipped(work: _Pass, touch: TouchRecord, record: CartRecord, reason: str) -> None:
    """
    Queue `touch.skipped` (with its reason code) in the deciding transaction.
    """
    skipped = replace(touch, status=TouchStatus.SKIPPED, reason=reason)
    event = touch_event(EventType.TOUCH_SKIPPED, skipped, cart_id=record.cart.key, now=work.now)
    work.events.emit(work.uow, event)


def _offer(
    work: _Pass,
    touch: TouchRecord,
    store: Store,
    enrollment: EnrollmentRecord,
    record: CartRecord,
    contact: Contact,
    flows: StoreFlows,
    decision: Send,
) -> TouchOffer | None:
    """
    The offer this touch's message carries, giving the enrollment its code now if the rules
    allow (None: the step has no offer). The guards already said whether offers may go at
    all now (peak season): then the message goes without and says why.
    """
    flow = flows.flow(enrollment.flow)
    if flow is None or touch.step >= len(flow.steps) or not _has_offer(flow.steps[touch.step]):
        return None
    if not decision.include_offer:
        note = decision.notes[0].value if decision.notes else Reason.OFFER_INELIGIBLE.value
        return TouchOffer(eligible=False, reason=note)
    return touch_offer(
        uow=work.uow,
        store=store,
        enrollment=enrollment,
        record=record,
        contact=contact,
        step=flow.steps[touch.step],
        step_index=touch.step,
        platform=work.config.offers.for_store(store),
        now=work.now,
    )


def _has_offer(step: Step) -> bool:
    return step.offer is not None or step.partner_offer is not None


_OFFER_NOTES = frozenset(
    {Reason.OFFER_INELIGIBLE.value, Reason.OFFER_FAILED.value, Reason.PEAK_SEASON.value}
)


def _offer_note(offer: TouchOffer | None) -> str | None:
    """
    Why a step's offer is not in the message, in the touch's reason (`offer_ineligible`,
    `offer_failed`, `peak_season`); the offer's own row and the log say more.
    """
    if offer is None or offer.offer is not None:
        return None
    if offer.reason in (Reason.OFFER_FAILED.value, Reason.PEAK_SEASON.value):
        return offer.reason
    return Reason.OFFER_INELIGIBLE.value


def _patience(decision: Decision, store: Store, enrollment: EnrollmentRecord) -> Decision:
    """
    A message waiting for a fresh stock read waits no longer than the cart stays recoverable
    after its trigger: then it is skipped `stale_stock` instead of being retried for ever.
    """
    if not isinstance(decision, Defer) or decision.reason is not Reason.STALE_STOCK:
        return decision
    if decision.until < enrollment.triggered_at + store.recovery_window:
        return decision
    return Skip(reason=Reason.STALE_STOCK)


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
    work: _Pass,
    touch: TouchRecord,
    store: Store,
    record: CartRecord,
    contact: Contact,
    flow: str,
    stock: tuple[ItemStock, ...],
    offer: TouchOffer | None = None,
) -> _Outgoing | None:
    """
    Write the touch `sending` under this worker's lease; the message goes after the commit. A
    text whose sender has no slot now is deferred `sender_rate` to the slot reserved for it.
    `stock` is the guards' stock read, so the message's words match what the guards saw;
    `offer` the enrollment's live code for a step with an offer.
    """
    now = work.now
    live = offer.offer if offer is not None else None
    view = (
        OfferView(
            code=live.code,
            kind=live.kind.value,
            value=live.value,
            expires_at=live.expires_at,
            partner=offer.partner if offer is not None else None,
        )
        if live is not None
        else None
    )
    composed = work.config.composer.compose(
        uow=work.uow,
        store=store,
        cart=record.cart,
        contact=contact,
        touch=touch,
        flow=flow,
        stock=stock,
        now=now,
        overrides=work.overrides(store.id, touch),
        offer=view,
    )
    rendered = composed.rendered
    throttle = work.config.throttle
    if touch.channel is Channel.SMS and throttle is not None:
        slot = _sms_slot(throttle, store, touch, rendered.text, now)
        if slot > now:
            _write(work.uow, touch, TouchStatus.DEFERRED, Reason.SENDER_RATE, now, due_at=slot)
            return None
    sending = replace(
        touch,
        status=TouchStatus.SENDING,
        reason=_offer_note(offer),
        attempts=touch.attempts + 1,
        lease_owner=work.config.worker_id,
        lease_until=now + work.config.lease,
        segments=rendered.segments,
        cost_estimate=rendered.cost_estimate,
        cost_currency=rendered.cost_currency,
        updated_at=now,
    )
    work.uow.touches.save(sending)
    terms = QualityTerms(
        contact_id=contact.id,
        offer_code=view.code if view is not None else None,
        fresh_for=guard_policy(work.store_flows(store.id)).stock.max_age,
        link_lifetime=restore_link_expiry(store),
    )
    return _Outgoing(touch=sending, message=composed.message, terms=terms)


def _sms_slot(
    throttle: SenderThrottle, store: Store, touch: TouchRecord, text: str, now: datetime
) -> datetime:
    """
    When this text may go by its sender's rate; a touch deferred to its reserved slot goes
    without reserving again.
    """
    if touch.reason == Reason.SENDER_RATE.value and touch.due_at <= now:
        return now
    sender, rate = sending_pace(store)
    return throttle.reserve(sender, rate, now, segments=min(sms_segments(text), rate.segments))


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
    policy = replace(guard_policy(flows), peak=store.peak_season)
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
    flow = flows.flow(enrollment.flow)
    step = flow.steps[touch.step] if flow is not None and touch.step < len(flow.steps) else None
    return TouchContext(
        channel=touch.channel,
        permission=may_message(uow, store, contact, touch.channel, Purpose.RECOVERY),
        locality=locality(store, contact),
        policy=policy,
        ordered_by=frozenset(ordered),
        cart_emptied=_emptied(record),
        replaced=enrollment.status is EnrollmentStatus.REPLACED,
        is_bot=record.cart.is_bot or contact.is_bot,
        recent_sends=recent,
        sent_in_enrollment=_sent_in_enrollment(uow, enrollment, policy),
        unengaged_emails=_unengaged(uow, store, contact, touch, policy),
        items=cart_stock(uow, record),
        # A back-in-stock message says an item is available: only after a fresh read.
        claims_availability=flow is not None and flow.trigger.kind is TriggerKind.BACK_IN_STOCK,
        # The rules are checked when the code is given (`services.offers`): a message whose
        # offer is not allowed goes without it.
        offer=OfferState(eligible=True, required=False)
        if step is not None and _has_offer(step)
        else None,
        exit_on=flow.exit_on if flow is not None else DEFAULT_EXIT_ON,
    )


def _unengaged(
    uow: UnitOfWork, store: Store, contact: Contact, touch: TouchRecord, policy: GuardPolicy
) -> int:
    """
    Emails the shopper did not come back after, read only for an email when the file hands
    unengaged contacts to the ad audiences.
    """
    if policy.hand_to_ads_after is None or touch.channel is not Channel.EMAIL:
        return 0
    return uow.touches.unengaged_emails(store.id, contact.id)


def _sent_in_enrollment(uow: UnitOfWork, enrollment: EnrollmentRecord, policy: GuardPolicy) -> int:
    """
    Touches of this enrollment that went, read only when a peak-season cap needs it.
    """
    if policy.peak is None or policy.peak.max_touches is None:
        return 0
    return sum(1 for t in uow.touches.for_enrollment(enrollment.id) if t.status in WENT)


def _emptied(record: CartRecord) -> bool:
    """
    Items were taken out of the cart. A browsing visit never had any: browse abandonment is
    about the products viewed, and goes on without lines.
    """
    cart = record.cart
    return not cart.lines and not cart.is_ordered and cart.stage is not Stage.BROWSING


def guard_policy(flows: StoreFlows) -> GuardPolicy:
    """
    The guards' rules from the flow file's `defaults`. Files refuse a window that passes
    midnight; one applied before that check keeps only the legal window.
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
        hand_to_ads_after=defaults.hand_to_ads_after,
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
    remaining = [t for t in uow.touches.for_enrollment(enrollment_id) if _open(t)]
    if not remaining:
        uow.enrollments.end(enrollment_id, status=EnrollmentStatus.COMPLETED, reason=None, at=now)


def _open(touch: TouchRecord) -> bool:
    """
    The touch may still go (pending, or in flight).
    """
    return touch.status in PENDING or touch.status in (TouchStatus.SENDING, TouchStatus.AMBIGUOUS)


def _send(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    channel: MessageChannel,
    item: _Outgoing,
    config: DispatchConfig,
    report: DispatchReport,
    events: WebhookEvents,
) -> None:
    """
    Call the channel for a committed `sending` touch that passes the quality check, then
    record what happened.
    """
    if not _quality_passed(uow_factory, clock, config, [item], report):
        return
    touch = item.touch
    try:
        provider_id: str | None = channel.send(item.message, touch.id)
        error: SendFailed | None = None
    except SendFailed as failed:
        provider_id, error = None, failed
    except StatusUnknown:
        # The provider may have taken it (the answer was lost): parked, never sent again.
        _park(uow_factory, clock, touch, config, report)
        return
    now = clock.now()
    with uow_factory() as uow:
        current = uow.touches.get(touch.id)
        if current is None or current.status not in (TouchStatus.SENDING, TouchStatus.AMBIGUOUS):
            return  # resolved by another worker after our lease ran out
        if error is not None:
            _suppress_refused(uow, item.message, error, now)
            report.count(_record_failure(uow, current, error, now, config.retry))
        elif provider_id is not None:
            _record_sent(uow, current, provider_id, now, events)
            report.count(TouchStatus.SENT)
            report.latency.append((now - touch.due_at).total_seconds())
        uow.commit()


def _send_batch(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    channel: BatchMessageChannel,
    items: list[_Outgoing],
    config: DispatchConfig,
    report: DispatchReport,
    events: WebhookEvents,
) -> None:
    """
    `_send` for many committed `sending` touches: one call to the channel (each message with
    its touch id as idempotency key), then every outcome recorded in one transaction.
    """
    items = _quality_passed(uow_factory, clock, config, items, report)
    if not items:
        return
    results = channel.send_many([(item.message, item.touch.id) for item in items])
    now = clock.now()
    with uow_factory() as uow:
        current = uow.touches.get_many([item.touch.id for item in items])
        sent: list[tuple[TouchRecord, str]] = []
        for item, result in zip(items, results, strict=True):
            touch = current.get(item.touch.id)
            if touch is None or touch.status not in (TouchStatus.SENDING, TouchStatus.AMBIGUOUS):
                continue  # resolved by another worker after our lease ran out
            if isinstance(result, SendFailed):
                report.count(_record_failure(uow, touch, result, now, config.retry))
                continue
            sent.append((touch, result))
            report.count(TouchStatus.SENT)
            report.latency.append((now - item.touch.due_at).total_seconds())
        _record_sent_many(uow, sent, now, events)
        uow.commit()


def _quality_passed(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    config: DispatchConfig,
    items: list[_Outgoing],
    report: DispatchReport,
) -> list[_Outgoing]:
    """
    The items whose rendered message passes the send-time quality check (`domain.quality`),
    read in one short transaction at the clock's now, just before the channel call. One that
    fails is never sent: it is written `failed` with its first failed check's reason (the
    others in `provider_error`), logged and counted.
    """
    now = clock.now()
    passed: list[_Outgoing] = []
    with uow_factory() as uow:
        for item in items:
            verdict = check_outgoing(
                uow=uow,
                links=config.composer,
                touch=item.touch,
                message=item.message,
                terms=item.terms,
                now=now,
            )
            if verdict.passed:
                passed.append(item)
                continue
            current = uow.touches.get(item.touch.id)
            if current is None or current.status is not TouchStatus.SENDING:
                continue  # resolved by another worker after our lease ran out
            first = verdict.failures[0]
            detail = "; ".join(f"{f.check.value}: {f.detail}" for f in verdict.failures)
            failed = replace(
                current,
                status=TouchStatus.FAILED,
                reason=first.reason.value,
                provider_error=f"quality check failed: {detail}"[:500],
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
            uow.touches.save(failed)
            _complete_if_done(uow, current.enrollment_id, now)
            report.count(TouchStatus.FAILED)
            report.quality[first.check.value] = report.quality.get(first.check.value, 0) + 1
            log.warning(
                "touch.quality.failed",
                touch_id=current.id,
                store_id=current.store_id,
                check=first.check.value,
                reason=first.reason.value,
                detail=detail[:300],
            )
        uow.commit()
    return passed


def _record_sent(
    uow: UnitOfWork, touch: TouchRecord, provider_id: str, now: datetime, events: WebhookEvents
) -> None:
    _record_sent_many(uow, [(touch, provider_id)], now, events)


def _record_sent_many(
    uow: UnitOfWork, sent: list[tuple[TouchRecord, str]], now: datetime, events: WebhookEvents
) -> None:
    """
    Write touches `sent` with their provider ids, stamp their carts, complete the
    enrollments that have nothing left to send, and queue their `touch.sent` webhooks.
    """
    if not sent:
        return
    uow.touches.save_many(
        [
            replace(
                touch,
                status=TouchStatus.SENT,
                # A sent touch keeps only why its offer was left out.
                reason=touch.reason if touch.reason in _OFFER_NOTES else None,
                sent_at=now,
                provider_id=provider_id,
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
            for touch, provider_id in sent
        ]
    )
    uow.touches.mark_carts_touched(sorted({touch.cart_id for touch, _ in sent}), at=now)
    enrollment_ids = sorted({touch.enrollment_id for touch, _ in sent})
    still_open = uow.touches.with_open_touches(enrollment_ids)
    for enrollment_id in enrollment_ids:
        if enrollment_id not in still_open:
            uow.enrollments.end(
                enrollment_id, status=EnrollmentStatus.COMPLETED, reason=None, at=now
            )
    for touch, _ in sent:
        log.info("touch.sent", touch_id=touch.id, channel=touch.channel.value, step=touch.step)
    emit_touches_sent(events, uow, [touch for touch, _ in sent], now=now)


def _suppress_refused(
    uow: UnitOfWork, message: OutboundMessage, error: SendFailed, now: datetime
) -> None:
    """
    The provider refused the address for good (a number that replied STOP at the carrier):
    on the suppression list, so no flow tries it again.
    """
    if error.suppress is None or not message.to:
        return
    uow.suppressions.add(
        Suppression(
            store_id=message.store_id,
            channel=message.channel,
            address=message.to,
            reason=error.suppress,
            source="provider",
            created_at=now,
        )
    )
    log.info("suppression.added", store_id=message.store_id, reason=error.suppress)


def _record_failure(
    uow: UnitOfWork, touch: TouchRecord, error: SendFailed, now: datetime, policy: RetryPolicy
) -> TouchStatus:
    answer = retry_decision(error, attempts=touch.attempts, now=now, policy=policy)
    cleared = replace(touch, lease_owner=None, lease_until=None, updated_at=now)
    if isinstance(answer, GiveUp):
        detail = (error.detail or str(error))[:500]
        uow.touches.save(
            replace(
                cleared, status=TouchStatus.FAILED, reason=error.reason[:30], provider_error=detail
            )
        )
        _complete_if_done(uow, touch.enrollment_id, now)
        log.warning("touch.failed", touch_id=touch.id, reason=answer.reason[:300])
        return TouchStatus.FAILED
    uow.touches.save(replace(cleared, status=TouchStatus.SCHEDULED, reason=None, due_at=answer.at))
    log.info("touch.retry", touch_id=touch.id, attempts=touch.attempts, at=answer.at.isoformat())
    return TouchStatus.SCHEDULED
