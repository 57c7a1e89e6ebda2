"""
Report snapshots: a store's measurement report computed once and kept, so the dashboard's
overview reads one row instead of aggregating every cart of the period on each view. The
document is exactly `build_report`'s JSON; `computed_at` says how old its numbers are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from cartback.domain.time import check_aware

#: The overview's default period, the one the worker keeps fresh: the last 30 days.
OVERVIEW_PERIOD = "30d"


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportSnapshot:
    """
    The report of one store for one period key (`OVERVIEW_PERIOD`), as of `computed_at`.
    """

    store_id: str
    period: str
    computed_at: datetime
    #: The report document (`services.reports.build_report`), JSON values only.
    report: dict[str, Any]

    def __post_init__(self) -> None:
        check_aware(self.computed_at, "computed_at")

    @property
    def first_day(self) -> date:
        """
        The period's first day, in the store's time zone (the report's `from`).
        """
        return datetime.fromisoformat(self.report["from"]).date()

    @property
    def last_day(self) -> date:
        """
        The period's last day, included (the report's `to` is the next midnight).
        """
        return datetime.fromisoformat(self.report["to"]).date() - timedelta(days=1)


class ReportSnapshotRepository(Protocol):
    """
    The stored report snapshots, one per store and period key.
    """

    def get(self, store_id: str, period: str) -> ReportSnapshot | None:
        """
        The store's snapshot for `period`, or None before the first one.
        """
        ...

    def save(self, snapshot: ReportSnapshot) -> None:
        """
        Store the snapshot, replacing the store's previous one for its period.
        """
        ...

    def stalest(self, period: str, *, computed_before: datetime) -> str | None:
        """
        The store whose `period` snapshot most needs computing: one without any first, then
        the oldest computed before `computed_before`; None when all are fresh.
        """
        ...
