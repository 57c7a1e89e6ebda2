"""
Replaying one contact's abandoned carts through a flow file on a simulated clock, without
sending anything (`cartback flows simulate`, issue #5).

The service reads the carts and plans every enrollment (the flow chosen, the group, each step's
due time, variant, condition and offer, the orders it knows of); `replay` then walks the
contact's timeline in time order, exactly as the worker would have: enrollments settle the one
active enrollment per contact (`schedule.replacement`), and each due touch passes the step's
condition and the pure guards (`guards.decide`) with the sends of this replay counted for the
frequency cap. A deferral moves the touch and tries again, at most `MAX_DEFERRALS` times.

Contacts never affect each other here (the cap and the replacement rule are per contact), so
the service replays them one by one.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from cartback.domain.cart import Cart
from cartback.domain.consent import Channel, Permission
from cartback.domain.events import Stage
from cartback.domain.guards import (
    DEFAULT_EXIT_ON,
    Cancel,
    Defer,
    GuardPolicy,
    Locality,
    OfferState,
    OrderMatch,
    Send,
    TouchContext,
    decide,
)
from cartback.domain.reasons import Reason
from cartback.domain.schedule import Replacement, Trigger, replacement
from cartback.domain.touches import Group

#: How many times one touch may be deferred before the replay stops trying (it is `pending`).
MAX_DEFERRALS = 20
#: The code `services.dispatch` writes when the shopper is back on the site.
SHOPPER_ACTIVE = Reason.SHOPPER_ACTIVE.value


class Outcome(StrEnum):
    """
    What became of a touch by the end of the simulated window.
    """

    SENT = "sent"
    WITHHELD = "withheld"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    #: Not due yet when the window ends (or still deferred then).
    PENDING = "pending"


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferPlan:
    """
    The step's offer and whether its `when` holds for this cart.
    """

    kind: str
    value: Decimal
    eligible: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedTouch:
    """
    One step's touch as the enrollment would write it.
    """

    step: int
    channel: Channel
    due_at: datetime
    variant: str | None = None
    #: Why the step's `when` is false for this cart (`no_consent`, `condition_false`); None: holds.
    condition: str | None = None
    offer: OfferPlan | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ShoppingSpan:
    """
    The shopper came back at `start`; the cart would be left again at `until`.
    """

    start: datetime
    until: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedEnrollment:
    """
    A cart's enrollment as the engine would start it at `enrolled_at` (the abandonment), with
    what the database knows of what happened to the cart afterwards.
    """

    cart_id: str
    flow: str
    group: Group
    trigger: Trigger
    enrolled_at: datetime
    touches: tuple[PlannedTouch, ...]
    #: Orders matching this cart or contact, and when they were placed.
    orders: tuple[tuple[OrderMatch, datetime], ...] = ()
    emptied_at: datetime | None = None
    shopping: ShoppingSpan | None = None
    #: The flow's `exit_on`, read by the guards as in the worker.
    exit_on: frozenset[str] = DEFAULT_EXIT_ON


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactPlan:
    """
    Everything one contact's replay needs: their enrollments, in any order, and the facts the
    guards read (today's permission per channel, where they are).
    """

    contact_id: str
    enrollments: tuple[PlannedEnrollment, ...]
    permissions: Mapping[Channel, Permission]
    locality: Locality


@dataclass(frozen=True, kw_only=True, slots=True)
class TouchResult:
    """
    A touch at the end of the replay: its outcome, the reason, when it was decided, every
    deferral on the way, and for a sent touch with an offer whether the offer was in it.
    """

    cart_id: str
    flow: str
    step: int
    channel: Channel
    variant: str | None
    outcome: Outcome
    reason: str | None
    at: datetime
    deferrals: tuple[str, ...] = ()
    offer: OfferPlan | None = None
    offer_shown: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class EnrollmentResult:
    """
    What the cart's trigger did to the contact's enrollment (`start`, `replace`, `keep`, `ignore`).
    """

    cart_id: str
    flow: str
    group: Group
    action: Replacement


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactReplay:
    """
    One contact's replay.
    """

    enrollments: tuple[EnrollmentResult, ...]
    touches: tuple[TouchResult, ...]


def stage_before_order(cart: Cart) -> Stage:
    """
    The furthest stage an ordered cart had reached before the order, from what it kept: a
    payment failure, a checkout, lines. (The order overwrote the stage itself.)
    """
    if cart.payment_failure_reason:
        return Stage.PAYMENT_FAILED
    if cart.checkout_id:
        return Stage.CHECKOUT
    return Stage.CART if cart.lines else Stage.BROWSING


def replay(plan: ContactPlan, *, policy: GuardPolicy, until: datetime) -> ContactReplay:
    """
    Walk the contact's enrollments and touches in time order up to `until`.

    Args:
        plan: the contact's planned enrollments and facts.
        policy: the guards' rules from the flow file's defaults.
        until: the end of the simulated window; later touches stay `pending`.

    Returns:
        What each trigger did and what became of every touch of the enrollments that started.
    """
    timeline = _Timeline(plan=plan, policy=policy, until=until)
    for index, enrollment in enumerate(plan.enrollments):
        timeline.push(enrollment.enrolled_at, index, None)
    timeline.run()
    return ContactReplay(
        enrollments=tuple(timeline.enrollments), touches=tuple(timeline.finished())
    )


@dataclass(kw_only=True, slots=True)
class _Running:
    index: int
    plan: PlannedEnrollment
    pending: dict[int, PlannedTouch]
    deferrals: dict[int, list[str]] = field(default_factory=dict)
    sent: int = 0


@dataclass(kw_only=True, slots=True)
class _Timeline:
    """
    The replay's clock and state: a queue of (moment, enrollment, step) with step None for the
    enrollment itself, which comes before touches due at the same moment (the worker fires
    cart timers before it dispatches).
    """

    plan: ContactPlan
    policy: GuardPolicy
    until: datetime
    queue: list[tuple[datetime, int, int, int, int]] = field(default_factory=list)
    running: dict[int, _Running] = field(default_factory=dict)
    active: int | None = None
    sends: list[datetime] = field(default_factory=list)
    #: Email sends only, for the hand-off to ads.
    email_sends: list[datetime] = field(default_factory=list)
    enrollments: list[EnrollmentResult] = field(default_factory=list)
    results: list[TouchResult] = field(default_factory=list)
    pushed: int = 0

    def push(self, at: datetime, index: int, step: int | None) -> None:
        self.pushed += 1
        rank = 0 if step is None else 1
        heapq.heappush(self.queue, (at, rank, self.pushed, index, step or 0))

    def run(self) -> None:
        while self.queue:
            at, rank, _, index, step = heapq.heappop(self.queue)
            if at > self.until:
                return
            if rank == 0:
                self._enroll(index, at)
            else:
                self._touch(index, step, at)

    def finished(self) -> list[TouchResult]:
        """
        The decided touches, then every touch still pending when the window ends.
        """
        left = [
            self._result(run, t, Outcome.PENDING, _last(run.deferrals.get(t.step)), t.due_at)
            for run in self.running.values()
            for t in run.pending.values()
        ]
        return sorted(self.results + left, key=lambda r: (r.at, r.cart_id, r.step))

    def _enroll(self, index: int, at: datetime) -> None:
        planned = self.plan.enrollments[index]
        current = self.running[self.active].plan.trigger if self.active is not None else None
        decision = replacement(current, planned.trigger)
        self.enrollments.append(
            EnrollmentResult(
                cart_id=planned.cart_id,
                flow=planned.flow,
                group=planned.group,
                action=decision.action,
            )
        )
        if decision.action in (Replacement.KEEP, Replacement.IGNORE):
            return
        if self.active is not None:
            self._cancel(self.running[self.active], decision.reason or Reason.NEWER_CART, at)
        self.active = index
        if planned.group is Group.CONTROL:
            # Recorded `withheld` at once and never dispatched: the enrollment stays active.
            self.running[index] = _Running(index=index, plan=planned, pending={})
            for touch in planned.touches:
                outcome = Outcome.WITHHELD if touch.due_at <= self.until else Outcome.PENDING
                self._record(self.running[index], touch, outcome, None, touch.due_at)
            return
        self.running[index] = _Running(
            index=index, plan=planned, pending={t.step: t for t in planned.touches}
        )
        for touch in planned.touches:
            self.push(touch.due_at, index, touch.step)

    def _touch(self, index: int, step: int, at: datetime) -> None:
        run = self.running[index]
        touch = run.pending.get(step)
        if touch is None or touch.due_at != at:
            return  # cancelled, or moved by a deferral
        if touch.condition is not None:
            self._finish(run, touch, Outcome.SKIPPED, touch.condition, at)
            return
        span = run.plan.shopping
        if span is not None and span.start <= at < span.until:
            self._defer(run, touch, span.until, SHOPPER_ACTIVE)
            return
        decision = decide(self._context(run, touch, at), at)
        if isinstance(decision, Send):
            self.sends.append(at)
            if touch.channel is Channel.EMAIL:
                self.email_sends.append(at)
            run.sent += 1
            self._finish(run, touch, Outcome.SENT, None, at, offer_shown=decision.include_offer)
        elif isinstance(decision, Defer):
            self._defer(run, touch, decision.until, decision.reason)
        elif isinstance(decision, Cancel):
            self._cancel(run, decision.reason, at)
        else:
            self._finish(run, touch, Outcome.SKIPPED, decision.reason, at)

    def _context(self, run: _Running, touch: PlannedTouch, at: datetime) -> TouchContext:
        planned, cap = run.plan, self.policy.frequency_cap
        ordered = {match for match, placed in planned.orders if planned.enrolled_at <= placed <= at}
        recent = tuple(s for s in self.sends if cap is None or s >= at - cap.per)
        offer = touch.offer
        return TouchContext(
            channel=touch.channel,
            permission=self.plan.permissions[touch.channel],
            locality=self.plan.locality,
            policy=self.policy,
            ordered_by=frozenset(ordered),
            cart_emptied=planned.emptied_at is not None and planned.emptied_at <= at,
            recent_sends=recent,
            sent_in_enrollment=run.sent,
            exit_on=planned.exit_on,
            unengaged_emails=self._unengaged(touch, at),
            # A step's offer is optional: where its `when` is false the message goes without it.
            offer=OfferState(eligible=offer.eligible, required=False) if offer else None,
        )

    def _unengaged(self, touch: PlannedTouch, at: datetime) -> int:
        """
        Emails sent since the shopper's latest cart was left (each enrollment starts after its
        cart's last activity): what the worker counts from the carts' activity.
        """
        if self.policy.hand_to_ads_after is None or touch.channel is not Channel.EMAIL:
            return 0
        started = [e.enrolled_at for e in self.plan.enrollments if e.enrolled_at <= at]
        latest = max(started, default=None)
        return sum(1 for sent in self.email_sends if latest is None or sent > latest)

    def _defer(self, run: _Running, touch: PlannedTouch, later: datetime, reason: str) -> None:
        reasons = run.deferrals.setdefault(touch.step, [])
        reasons.append(str(reason))
        if len(reasons) > MAX_DEFERRALS:
            self._finish(run, touch, Outcome.PENDING, str(reason), later)
            return
        run.pending[touch.step] = replace(touch, due_at=later)
        self.push(later, run.index, touch.step)

    def _cancel(self, run: _Running, reason: str, at: datetime) -> None:
        for touch in list(run.pending.values()):
            self._finish(run, touch, Outcome.CANCELLED, str(reason), at, ends=False)
        self._end(run)

    def _finish(
        self,
        run: _Running,
        touch: PlannedTouch,
        outcome: Outcome,
        reason: str | None,
        at: datetime,
        *,
        offer_shown: bool = False,
        ends: bool = True,
    ) -> None:
        run.pending.pop(touch.step, None)
        self._record(run, touch, outcome, reason, at, offer_shown=offer_shown)
        if ends and not run.pending:
            self._end(run)  # completed: nothing pending is left

    def _end(self, run: _Running) -> None:
        if self.active == run.index:
            self.active = None

    def _record(
        self,
        run: _Running,
        touch: PlannedTouch,
        outcome: Outcome,
        reason: str | None,
        at: datetime,
        *,
        offer_shown: bool = False,
    ) -> None:
        self.results.append(self._result(run, touch, outcome, reason, at, offer_shown=offer_shown))

    def _result(
        self,
        run: _Running,
        touch: PlannedTouch,
        outcome: Outcome,
        reason: str | None,
        at: datetime,
        *,
        offer_shown: bool = False,
    ) -> TouchResult:
        return TouchResult(
            cart_id=run.plan.cart_id,
            flow=run.plan.flow,
            step=touch.step,
            channel=touch.channel,
            variant=touch.variant,
            outcome=outcome,
            reason=reason,
            at=at,
            deferrals=tuple(run.deferrals.get(touch.step, ())),
            offer=touch.offer,
            offer_shown=offer_shown,
        )


def _last(values: list[str] | None) -> str | None:
    return values[-1] if values else None
