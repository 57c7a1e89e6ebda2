"""
A fake of `ReportRepository` with canned answers: unit tests set the facts a report is built
from and check what the service makes of them (the SQL behind it is tested on real databases).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from cartback.domain.report_snapshots import ReportSnapshot
from cartback.domain.reports import (
    DiscountTotal,
    EnrolledCart,
    FunnelCounts,
    OrderCandidate,
    Period,
    ReachPolicy,
    ReasonCount,
    SegmentCount,
    StepCounts,
    TouchFact,
)


@dataclass
class FakeReportRepository:
    """
    Answers every store and period with the facts set on it; records the periods asked.
    """

    counts: FunnelCounts = field(
        default_factory=lambda: FunnelCounts(
            carts=0, abandoned=0, captured=0, reachable=0, enrolled=0, touched=0, clicked=0
        )
    )
    orders: list[OrderCandidate] = field(default_factory=list)
    touches: list[TouchFact] = field(default_factory=list)
    enrollments: list[EnrolledCart] = field(default_factory=list)
    steps: list[StepCounts] = field(default_factory=list)
    reasons: list[ReasonCount] = field(default_factory=list)
    segments: list[SegmentCount] = field(default_factory=list)
    discount_totals: list[DiscountTotal] = field(default_factory=list)
    widgets: dict[str, int] = field(default_factory=dict)
    asked: list[tuple[str, Period]] = field(default_factory=list)

    def funnel(self, store_id: str, period: Period, *, reach: ReachPolicy) -> FunnelCounts:
        self.asked.append((store_id, period))
        return replace(self.counts, segments=tuple(self.segments))

    def order_candidates(
        self, store_id: str, period: Period, *, until: datetime
    ) -> list[OrderCandidate]:
        return [o for o in self.orders if o.placed_at < until]

    def touches_of(self, store_id: str, cart_ids: Sequence[str]) -> list[TouchFact]:
        return [t for t in self.touches if t.cart_id in set(cart_ids)]

    def enrolled(self, store_id: str, period: Period) -> list[EnrolledCart]:
        return list(self.enrollments)

    def step_counts(self, store_id: str, period: Period) -> list[StepCounts]:
        return list(self.steps)

    def touch_reasons(self, store_id: str, period: Period) -> list[ReasonCount]:
        return list(self.reasons)

    def discounts(self, store_id: str, period: Period) -> list[DiscountTotal]:
        return list(self.discount_totals)

    def captures_by_widget(self, store_id: str, period: Period) -> dict[str, int]:
        return dict(self.widgets)


@dataclass
class FakeReportSnapshotRepository:
    """
    Report snapshots in a dict, shared by every unit of work (writes are not rolled back).
    """

    rows: dict[tuple[str, str], ReportSnapshot] = field(default_factory=dict)

    def get(self, store_id: str, period: str) -> ReportSnapshot | None:
        return self.rows.get((store_id, period))

    def save(self, snapshot: ReportSnapshot) -> None:
        self.rows[(snapshot.store_id, snapshot.period)] = snapshot

    def stalest(self, period: str, *, computed_before: datetime) -> str | None:
        # The fake knows no stores of its own: only those with a snapshot.
        stale = [s for (_, p), s in self.rows.items() if p == period]
        stale = [s for s in stale if s.computed_at < computed_before]
        return min(stale, key=lambda s: (s.computed_at, s.store_id)).store_id if stale else None
