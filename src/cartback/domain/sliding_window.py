"""
The one counting rule behind frequency caps and send rates: at most `limit` events in any
window of length `per`, placed at the earliest moment that keeps it true.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta


def earliest_slot(
    events: Iterable[datetime], *, limit: int, per: timedelta, at: datetime, weight: int = 1
) -> datetime:
    """
    The earliest moment at or after `at` where `weight` more events keep every half-open window
    `[t, t + per)` at `limit` or fewer.

    Every event later than `t - per` is counted, future ones included, so a new event placed by
    this rule never breaks the limit for events already placed, in whatever order they came.

    Raises:
        ValueError: `weight` is not between 1 and `limit`, or `per` is not positive.
    """
    if not 1 <= weight <= limit:
        raise ValueError("weight must be between 1 and the limit")
    if per <= timedelta(0):
        raise ValueError("the window must be longer than zero")
    recent = sorted(e for e in events if e > at - per)
    excess = len(recent) + weight - limit
    if excess <= 0:
        return at
    # Once the excess-th oldest is a whole window behind, few enough remain.
    return max(at, recent[excess - 1] + per)
