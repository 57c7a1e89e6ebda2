"""
When a flow's touches are due, how peak season stretches them, and which enrollment a contact
keeps when a new trigger arrives (one active enrollment per contact).

A step's `wait` counts from the previous step's due time, the first from the trigger: contract
§7's arc `1h, 23h, 48h` is reminder at 1 h, support at 24 h and resolution at 72 h, the evidence-
based timing of issue #5, which only reads as cumulative from the previous step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from cartback.domain.consent import Channel
from cartback.domain.events import Stage
from cartback.domain.reasons import Reason
from cartback.domain.time import check_aware


@dataclass(frozen=True, kw_only=True, slots=True)
class PeakPeriod:
    """
    A span of the store's calendar days, both ends included (Black Friday to Cyber Monday).
    """

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError("a peak period cannot end before it starts")


@dataclass(frozen=True, kw_only=True, slots=True)
class PeakSeason:
    """
    A store's peak-season mode: inside its periods, waits are stretched by `delay_factor`,
    an enrollment gets at most `max_touches` sent touches, and discounts are paused.
    """

    periods: tuple[PeakPeriod, ...]
    zone: ZoneInfo
    delay_factor: float = 1.0
    max_touches: int | None = None
    pause_discounts: bool = True

    def __post_init__(self) -> None:
        if not 1.0 <= self.delay_factor <= 10.0:
            raise ValueError("the peak delay factor must be between 1 and 10")
        if self.max_touches is not None and self.max_touches < 0:
            raise ValueError("the peak touch cap cannot be negative")

    def active(self, instant: datetime) -> bool:
        """
        Whether `instant` falls on a peak day of the store's calendar.
        """
        check_aware(instant, "instant")
        day = instant.astimezone(self.zone).date()
        return any(period.first <= day <= period.last for period in self.periods)


def parse_peak_periods(text: str) -> tuple[PeakPeriod, ...]:
    """
    Peak periods from `FIRST..LAST` ISO dates, comma-separated (`2026-11-27..2026-12-01`); a
    single date is a one-day period.

    Raises:
        ValueError: a part is not a date or a range, or a range ends before it starts.
    """
    periods: list[PeakPeriod] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        first_text, _, last_text = part.partition("..")
        try:
            first = date.fromisoformat(first_text.strip())
            last = date.fromisoformat(last_text.strip()) if last_text else first
        except ValueError:
            message = f"{part!r} is not a date or a FIRST..LAST range of ISO dates"
            raise ValueError(message) from None
        periods.append(PeakPeriod(first=first, last=last))
    return tuple(periods)


@dataclass(frozen=True, kw_only=True, slots=True)
class StepPlan:
    """
    The part of a flow step that scheduling needs.
    """

    index: int
    wait: timedelta
    channel: Channel

    def __post_init__(self) -> None:
        if self.wait < timedelta(0):
            raise ValueError("a step's wait cannot be negative")


@dataclass(frozen=True, kw_only=True, slots=True)
class DueTouch:
    """
    One touch to write: which step, on which channel, due when.
    """

    index: int
    channel: Channel
    due_at: datetime


def due_times(
    trigger_at: datetime, steps: Sequence[StepPlan], *, peak: PeakSeason | None = None
) -> tuple[DueTouch, ...]:
    """
    The due time of every step, in step order.

    A wait that starts on a peak day is multiplied by the peak factor, so an enrollment that
    runs into peak season slows down from then on.

    Raises:
        ValueError: step indexes are not strictly increasing, or `trigger_at` is naive.
    """
    check_aware(trigger_at, "trigger_at")
    indexes = [step.index for step in steps]
    if indexes != sorted(set(indexes)):
        raise ValueError("step indexes must be unique and in order")
    touches: list[DueTouch] = []
    previous = trigger_at
    for step in steps:
        factor = peak.delay_factor if peak is not None and peak.active(previous) else 1.0
        previous = previous + step.wait * factor
        touches.append(DueTouch(index=step.index, channel=step.channel, due_at=previous))
    return tuple(touches)


class Replacement(StrEnum):
    """
    What a new trigger does to the contact's enrollment.
    """

    #: No active enrollment: enroll.
    START = "start"
    #: The same cart, at the same or an earlier stage: the running enrollment goes on.
    KEEP = "keep"
    #: A newer cart, or the same cart at a later stage: cancel the old touches (`newer_cart`).
    REPLACE = "replace"
    #: Older than what the enrollment started from (a late event): nothing changes.
    IGNORE = "ignore"


@dataclass(frozen=True, kw_only=True, slots=True)
class Trigger:
    """
    A cart at a stage, as of the cart activity that made it trigger.
    """

    cart_id: str
    stage: Stage
    occurred_at: datetime

    def __post_init__(self) -> None:
        check_aware(self.occurred_at, "occurred_at")
        if self.stage is Stage.ORDERED:
            raise ValueError("an ordered cart does not trigger a recovery flow")


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplacementDecision:
    """
    The answer, with the reason code for cancelling the old enrollment's touches.
    """

    action: Replacement
    reason: Reason | None = None


def replacement(current: Trigger | None, new: Trigger) -> ReplacementDecision:
    """
    Decide between the contact's active enrollment (started by `current`) and a new trigger.

    Order: no enrollment starts one; an older trigger is ignored (events arrive late); another
    cart replaces it; the same cart replaces it only from a later funnel stage.
    """
    if current is None:
        return ReplacementDecision(action=Replacement.START)
    if new.occurred_at < current.occurred_at:
        return ReplacementDecision(action=Replacement.IGNORE)
    if new.cart_id != current.cart_id or new.stage.rank > current.stage.rank:
        return ReplacementDecision(action=Replacement.REPLACE, reason=Reason.NEWER_CART)
    return ReplacementDecision(action=Replacement.KEEP)
