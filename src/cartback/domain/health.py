"""
Store health: when a store's events or orders stop arriving for longer than usual.

"Usual" comes from the store's own last `LOOKBACK` (7 days): the arrivals are grouped by the
hour, and the longest run of empty hours between two hours with arrivals is the store's usual
quiet spell. A silence longer than `FACTOR` times that, and at least `FLOOR`, opens an alert;
a store with arrivals in fewer than `MIN_ACTIVE_HOURS` hours of the lookback (new, or never any
traffic) gets none. The alert is resolved by the next arrival. Pure: time is a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from cartback.domain.durations import format_duration
from cartback.domain.time import check_aware

LOOKBACK = timedelta(days=7)
FACTOR = 3
FLOOR = timedelta(hours=2)
MIN_ACTIVE_HOURS = 3
_HOUR = timedelta(hours=1)


class AlertKind(StrEnum):
    """
    What stopped arriving.
    """

    EVENTS_STOPPED = "events_stopped"
    ORDERS_STOPPED = "orders_stopped"

    @property
    def noun(self) -> str:
        """
        What the alert's text calls the arrivals.
        """
        return "events" if self is AlertKind.EVENTS_STOPPED else "orders"


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreAlert:
    """
    An alert of one store, open until `resolved_at`.
    """

    id: int | None
    store_id: str
    kind: AlertKind
    detail: str
    started_at: datetime
    resolved_at: datetime | None = None

    def __post_init__(self) -> None:
        check_aware(self.started_at, "started_at")
        check_aware(self.resolved_at, "resolved_at")


@dataclass(frozen=True, kw_only=True, slots=True)
class Arrivals:
    """
    A store's arrivals of one kind in the lookback: the hours (truncated) that had any, and
    the latest arrival ever.
    """

    hours: tuple[datetime, ...]
    last_at: datetime | None


@dataclass(frozen=True, kw_only=True, slots=True)
class OpenAlert:
    """
    Open an alert with this text.
    """

    detail: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolveAlert:
    """
    Arrivals resumed: resolve the open alert.
    """


def usual_silence(hours: Sequence[datetime]) -> timedelta | None:
    """
    The longest silence that is still normal for these active hours, or None with too little
    history to tell.
    """
    active = sorted(set(hours))
    if len(active) < MIN_ACTIVE_HOURS:
        return None
    # Consecutive active hours leave no empty hour between them.
    longest = max(later - earlier for earlier, later in pairwise(active)) - _HOUR
    return max(FLOOR, longest * FACTOR)


def decide(
    kind: AlertKind, arrivals: Arrivals, open_alert: StoreAlert | None, *, now: datetime
) -> OpenAlert | ResolveAlert | None:
    """
    Whether to open an alert of `kind`, resolve the open one, or do nothing.
    """
    check_aware(now, "now")
    last = arrivals.last_at
    if open_alert is not None:
        resumed = last is not None and last > open_alert.started_at
        return ResolveAlert() if resumed else None
    limit = usual_silence(arrivals.hours)
    if limit is None or last is None:
        return None
    silent = now - last
    if silent <= limit:
        return None
    detail = (
        f"no {kind.noun} for {format_duration(_whole(silent))} "
        f"(usually at most {format_duration(_whole(limit))})"
    )
    return OpenAlert(detail=detail)


def _whole(value: timedelta) -> timedelta:
    """
    Rounded down to the minute, for the text.
    """
    return timedelta(minutes=int(value.total_seconds() // 60))
