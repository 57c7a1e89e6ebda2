"""
Scheduling: due times from the trigger, peak-season stretching, and enrollment replacement.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cartback.domain.consent import Channel
from cartback.domain.events import Stage
from cartback.domain.reasons import Reason
from cartback.domain.schedule import (
    DueTouch,
    PeakPeriod,
    PeakSeason,
    Replacement,
    ReplacementDecision,
    StepPlan,
    Trigger,
    due_times,
    replacement,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)
ARC = (
    StepPlan(index=0, wait=1 * H, channel=Channel.EMAIL),
    StepPlan(index=1, wait=23 * H, channel=Channel.SMS),
    StepPlan(index=2, wait=48 * H, channel=Channel.EMAIL),
)


def test_waits_count_from_the_previous_step() -> None:
    """
    Contract §7's 1h, 23h, 48h: the touches are due 1 h, 24 h and 72 h after abandonment.
    """
    # when
    touches = due_times(T0, ARC)
    # then
    assert (
        DueTouch(index=0, channel=Channel.EMAIL, due_at=T0 + 1 * H),
        DueTouch(index=1, channel=Channel.SMS, due_at=T0 + 24 * H),
        DueTouch(index=2, channel=Channel.EMAIL, due_at=T0 + 72 * H),
    ) == touches


def test_peak_season_stretches_the_waits_that_start_inside_it() -> None:
    """
    Peak from Nov 21 (store time): the first two waits started before, the last is doubled.
    """
    # given
    peak = PeakSeason(
        periods=(PeakPeriod(first=date(2026, 11, 21), last=date(2026, 11, 30)),),
        zone=ZoneInfo("America/New_York"),
        delay_factor=2.0,
    )
    # when
    touches = due_times(T0, ARC, peak=peak)
    # then
    assert [T0 + 1 * H, T0 + 24 * H, T0 + 24 * H + 96 * H] == [t.due_at for t in touches]


@pytest.mark.parametrize(
    "steps",
    [
        (ARC[1], ARC[0]),
        (ARC[0], ARC[0]),
    ],
)
def test_steps_out_of_order_are_refused(steps: tuple[StepPlan, ...]) -> None:
    """
    Step indexes are unique and increasing.
    """
    with pytest.raises(ValueError, match="in order"):
        due_times(T0, steps)


def trigger(cart: str, stage: Stage, minutes: int = 0) -> Trigger:
    return Trigger(cart_id=cart, stage=stage, occurred_at=T0 + timedelta(minutes=minutes))


REPLACE = ReplacementDecision(action=Replacement.REPLACE, reason=Reason.NEWER_CART)


@pytest.mark.parametrize(
    ("current", "new", "expected"),
    [
        (None, trigger("a", Stage.CART), ReplacementDecision(action=Replacement.START)),
        (trigger("a", Stage.CART), trigger("b", Stage.CART, 5), REPLACE),
        (trigger("a", Stage.CHECKOUT), trigger("b", Stage.BROWSING, 5), REPLACE),
        (trigger("a", Stage.CART), trigger("a", Stage.CHECKOUT, 5), REPLACE),
        (trigger("a", Stage.CHECKOUT), trigger("a", Stage.PAYMENT_FAILED, 5), REPLACE),
        (
            trigger("a", Stage.CHECKOUT),
            trigger("a", Stage.CHECKOUT, 5),
            ReplacementDecision(action=Replacement.KEEP),
        ),
        (
            trigger("a", Stage.CHECKOUT),
            trigger("a", Stage.CART, 5),
            ReplacementDecision(action=Replacement.KEEP),
        ),
        (
            trigger("a", Stage.CART, 10),
            trigger("b", Stage.CHECKOUT, 5),
            ReplacementDecision(action=Replacement.IGNORE),
        ),
    ],
)
def test_one_enrollment_per_contact(
    current: Trigger | None, new: Trigger, expected: ReplacementDecision
) -> None:
    """
    A newer cart or a later stage replaces (`newer_cart`); the same cart at the same or an
    earlier stage keeps; an older trigger is ignored.
    """
    assert expected == replacement(current, new)


def test_an_ordered_cart_is_no_trigger() -> None:
    """
    Ordering ends recovery; it never starts it.
    """
    with pytest.raises(ValueError, match="ordered"):
        trigger("a", Stage.ORDERED)
