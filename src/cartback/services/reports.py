"""
The measurement report (`GET /v1/reports/summary`, `cartback report`): what was abandoned in a
period, who could be reached, what went out, what came back, and what the holdout says would
have happened anyway. One read-only unit of work gathers the facts (`ReportRepository`); the
rest is arithmetic on them. Every definition is in `docs/metrics.md`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from babel.numbers import get_currency_precision

from cartback.domain.consent import ConsentPolicy, Region
from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.ports import UnitOfWork
from cartback.domain.quality import CHECK_REASONS, QualityCheck
from cartback.domain.reports import (
    DEFAULT_PERIOD,
    MAX_PERIOD,
    AttributionWindows,
    DiscountTotal,
    EnrolledCart,
    FunnelCounts,
    Outcome,
    Period,
    ReachPolicy,
    ReasonCount,
    StepCounts,
    first_orders,
    holdout_seed,
    median_seconds,
    outcome,
    rate,
    revenue,
)
from cartback.domain.stats import HoldoutResult, compare_holdout
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services.attribution_settings import attribution_windows, windows_json

log = structlog.get_logger(__name__)

#: The report as JSON (the API's response body and `cartback report --json`).
ReportDocument = dict[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Facts:
    """
    Everything read from the database for one report.
    """

    store: Store
    period: Period
    windows: AttributionWindows
    counts: FunnelCounts
    outcomes: dict[str, Outcome]
    enrolled: list[EnrolledCart]
    steps: list[StepCounts]
    reasons: list[ReasonCount]
    discounts: list[DiscountTotal]
    widgets: dict[str, int]


_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
#: A period's end as given: an aware time, or a day (midnight in the store's time zone).
When = datetime | date | None


def report_period(
    start: When,
    end: When,
    *,
    now: datetime,
    zone: str = "UTC",
    names: tuple[str, str] = ("from", "to"),
) -> Period:
    """
    The period `[start, end)`: `end` defaults to now, `start` to 30 days before `end`; a day
    means its midnight in `zone` (so `end` excludes that day).

    Raises:
        InvalidInput: a time without a zone, `start` not before `end`, or longer than a year
            (the field named by `names`).
    """
    moments = [_moment(value, name, zone) for value, name in zip((start, end), names, strict=True)]
    end_at = moments[1] or now
    start_at = moments[0] or end_at - DEFAULT_PERIOD
    if start_at >= end_at:
        raise _bad(names[0], f"must be before {names[1]}")
    if end_at - start_at > MAX_PERIOD:
        raise _bad(names[0], f"a report covers at most {MAX_PERIOD.days} days")
    return Period(start=start_at, end=end_at)


def _moment(value: When, name: str, zone: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=ZoneInfo(zone))
    if value.utcoffset() is None:
        raise _bad(name, "needs a time zone, e.g. 2026-11-01T00:00:00Z")
    if not _EARLIEST <= value <= _LATEST:
        # Far from any cart, and near datetime's limits, where the period's arithmetic fails.
        raise _bad(name, "is out of range (1970 to 9000)")
    return value


def _bad(name: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"invalid report period: {name} {message}", errors=[FieldError(path=name, message=message)]
    )


def build_report(
    *,
    uow: UnitOfWork,
    clock: Clock,
    store_id: str,
    start: When = None,
    end: When = None,
    names: tuple[str, str] = ("from", "to"),
) -> ReportDocument:
    """
    The store's report for carts abandoned in `[start, end)` (default: the last 30 days).

    Args:
        names: what the caller calls the period's two ends (`from`/`to`, `--since`/`--until`),
            for the errors.

    Raises:
        InvalidInput: a bad period.
        NotFound: no such store.
    """
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        period = report_period(start, end, now=clock.now(), zone=store.timezone, names=names)
        facts = _read(uow, store, period)
    log.info("report.built", store_id=store_id, abandoned=facts.counts.abandoned)
    return _document(facts)


def _read(uow: UnitOfWork, store: Store, period: Period) -> _Facts:
    reports = uow.reports
    windows = attribution_windows(store)
    candidates = reports.order_candidates(
        store.id, period, until=period.end + store.recovery_window
    )
    firsts = first_orders(candidates, recovery_window=store.recovery_window)
    by_cart: dict[str, list[Any]] = defaultdict(list)
    for touch in reports.touches_of(store.id, sorted(firsts)):
        by_cart[touch.cart_id].append(touch)
    outcomes = {cart: outcome(order, by_cart[cart], windows) for cart, order in firsts.items()}
    return _Facts(
        store=store,
        period=period,
        windows=windows,
        counts=reports.funnel(store.id, period, reach=_reach(store.consent_policy)),
        outcomes=outcomes,
        enrolled=reports.enrolled(store.id, period),
        steps=reports.step_counts(store.id, period),
        reasons=reports.touch_reasons(store.id, period),
        discounts=reports.discounts(store.id, period),
        widgets=reports.captures_by_widget(store.id, period),
    )


def _reach(policy: ConsentPolicy) -> ReachPolicy:
    return ReachPolicy(
        email_by_default=policy.region is Region.US,
        email_to_customers=policy.region is Region.EU and policy.soft_opt_in,
    )


def _document(facts: _Facts) -> ReportDocument:
    currency = facts.store.currency
    counts = facts.counts
    recovered = [o for o in facts.outcomes.values() if o.recovered]
    converted = [o for o in facts.outcomes.values() if not o.recovered]
    attributed = [o for o in recovered if o.attributed is not None]
    recovered_revenue = _sum(recovered, currency)
    discount = sum((d.cost for d in facts.discounts if d.currency == currency), Decimal(0))
    sent = sum(s.sent for s in facts.steps)
    left_out = [o for o in facts.outcomes.values() if revenue(o.order, currency) is None]
    return {
        "store_id": facts.store.id,
        "from": facts.period.start.isoformat(),
        "to": facts.period.end.isoformat(),
        "currency": currency,
        "attribution": windows_json(facts.windows),
        "recovery_window": int(facts.store.recovery_window.total_seconds()),
        "carts": counts.carts,
        "abandoned_carts": counts.abandoned,
        "captured_carts": counts.captured,
        "capture_rate": rate(counts.captured, counts.abandoned),
        "reachable_carts": counts.reachable,
        "enrolled_carts": counts.enrolled,
        "touched_carts": counts.touched,
        "clicked_carts": counts.clicked,
        "recovered_carts": len(recovered),
        "recovered_revenue": _money(recovered_revenue, currency),
        "recovery_rate": rate(len(recovered), counts.abandoned),
        "converted_carts": len(converted),
        "converted_revenue": _money(_sum(converted, currency), currency),
        "attributed_carts": len(attributed),
        "attributed_revenue": _money(_sum(attributed, currency), currency),
        "discount_cost": _money(discount, currency),
        "net_recovered_revenue": _money(recovered_revenue - discount, currency),
        "median_time_to_recovery": median_seconds([o.time_to_order for o in recovered]),
        "unsubscribe_rate": rate(sum(s.unsubscribed for s in facts.steps), sent),
        "complaint_rate": rate(sum(s.complained for s in facts.steps), sent),
        "bounce_rate": rate(sum(s.bounced for s in facts.steps), sent),
        "funnel": _funnel(counts, len(recovered)),
        "holdout": _holdout_json(_overall_holdout(facts), currency),
        "by_flow": _by_flow(facts, attributed),
        "by_step": _by_step(facts.steps, attributed, currency),
        "by_channel": _by_key(facts.steps, attributed, currency, ("channel",)),
        "by_variant": _by_key(facts.steps, attributed, currency, ("flow", "step", "variant")),
        "by_stage": _by_segment(facts, "stage", "stage"),
        "by_abandonment_reason": _by_segment(facts, "payment_failure_reason", "reason"),
        "by_device": _by_segment(facts, "device", "device"),
        "by_country": _by_segment(facts, "country", "country"),
        "capture_by_widget": [
            {"widget": w, "carts": n, "capture_rate": rate(n, counts.abandoned)}
            for w, n in sorted(facts.widgets.items())
        ],
        "skipped": _reasons(facts.reasons, "skipped"),
        "deferred": _reasons(facts.reasons, "deferred"),
        "cancelled": _reasons(facts.reasons, "cancelled"),
        "quality": quality_counts(facts.reasons),
        "revenue_by_day": _by_day(facts, recovered, attributed),
        "other_currencies": {
            "orders_left_out": len(left_out),
            "currencies": sorted({o.order.currency for o in left_out}),
        },
    }


def _money(amount: Decimal, currency: str) -> str:
    try:
        places = get_currency_precision(currency)
    except (KeyError, ValueError):  # pragma: no cover - stores have ISO 4217 currencies
        places = 2
    return str(amount.quantize(Decimal(1).scaleb(-places)))


def _sum(outcomes: Iterable[Outcome], currency: str) -> Decimal:
    return sum((r for o in outcomes if (r := revenue(o.order, currency)) is not None), Decimal(0))


def _funnel(counts: FunnelCounts, recovered: int) -> list[dict[str, Any]]:
    stages = (
        ("carts", counts.carts),
        ("abandoned", counts.abandoned),
        ("reachable", counts.reachable),
        ("enrolled", counts.enrolled),
        ("touched", counts.touched),
        ("clicked", counts.clicked),
        ("recovered", recovered),
    )
    return [{"stage": name, "count": count} for name, count in stages]


def _holdout_of(enrolled: Sequence[EnrolledCart], facts: _Facts, seed: int) -> HoldoutResult:
    """
    Treated against control: one revenue per enrolled cart (its first order in the recovery
    window in the store currency, whether or not a touch came first; else 0).
    """
    currency = facts.store.currency
    groups: dict[str, list[Decimal]] = {"treated": [], "control": []}
    for row in enrolled:
        found = facts.outcomes.get(row.cart_id)
        amount = revenue(found.order, currency) if found is not None else None
        groups.setdefault(row.group, []).append(amount or Decimal(0))
    return compare_holdout(groups["treated"], groups["control"], seed=seed)


def _overall_holdout(facts: _Facts) -> HoldoutResult:
    first: dict[str, EnrolledCart] = {}
    for row in facts.enrolled:  # earliest first: a cart counts once, in its first flow
        first.setdefault(row.cart_id, row)
    return _holdout_of(list(first.values()), facts, holdout_seed(facts.store.id, facts.period))


def _holdout_json(result: HoldoutResult, currency: str) -> dict[str, Any]:
    def amount(value: Decimal | None) -> str | None:
        return None if value is None else _money(value, currency)

    return {
        "treated_carts": result.treated_carts,
        "treated_recovered": result.treated_recovered,
        "control_carts": result.control_carts,
        "control_recovered": result.control_recovered,
        "treated_rate": round(result.treated_rate, 4),
        "control_rate": round(result.control_rate, 4),
        "lift": round(result.lift, 4),
        "ci_low": round(result.ci_low, 4),
        "ci_high": round(result.ci_high, 4),
        "revenue_per_cart_treated": amount(result.revenue_per_cart_treated),
        "revenue_per_cart_control": amount(result.revenue_per_cart_control),
        "revenue_lift": amount(result.revenue_lift),
        "revenue_ci_low": amount(result.revenue_ci_low),
        "revenue_ci_high": amount(result.revenue_ci_high),
        "incremental_revenue": amount(result.incremental_revenue),
        "warning": result.warning,
    }


def _by_flow(facts: _Facts, attributed: Sequence[Outcome]) -> list[dict[str, Any]]:
    currency = facts.store.currency
    enrolled: dict[str, list[EnrolledCart]] = defaultdict(list)
    for row in facts.enrolled:
        enrolled[row.flow].append(row)
    names = sorted(set(enrolled) | {s.flow for s in facts.steps})
    flows = []
    for name in names:
        credited = [o for o in attributed if o.attributed is not None and o.attributed.flow == name]
        seed = holdout_seed(f"{facts.store.id}|{name}", facts.period)
        flows.append(
            {
                "flow": name,
                "enrolled_carts": len({r.cart_id for r in enrolled[name]}),
                "sent": sum(s.sent for s in facts.steps if s.flow == name),
                "clicked": sum(s.clicked for s in facts.steps if s.flow == name),
                "attributed_carts": len(credited),
                "attributed_revenue": _money(_sum(credited, currency), currency),
                "holdout": _holdout_json(_holdout_of(enrolled[name], facts, seed), currency),
            }
        )
    return flows


_STEP_RATES = (
    ("bounced", "bounce_rate"),
    ("complained", "complaint_rate"),
    ("unsubscribed", "unsubscribe_rate"),
)


def _by_step(
    steps: Sequence[StepCounts], attributed: Sequence[Outcome], currency: str
) -> list[dict[str, Any]]:
    rows = _by_key(steps, attributed, currency, ("flow", "step", "channel"))
    for row in rows:
        mine = [
            s
            for s in steps
            if (s.flow, s.step, s.channel) == (row["flow"], row["step"], row["channel"])
        ]
        for name, rate_name in _STEP_RATES:
            row[name] = sum(getattr(s, name) for s in mine)
            row[rate_name] = rate(row[name], row["sent"])
    return rows


def _by_key(
    steps: Sequence[StepCounts],
    attributed: Sequence[Outcome],
    currency: str,
    key: tuple[str, ...],
) -> list[dict[str, Any]]:
    """
    Sends and clicks (from the step counts) beside last-touch attribution, grouped by `key`
    (attributes shared by `StepCounts` and `TouchFact`).
    """
    sent: Counter[tuple[Any, ...]] = Counter()
    clicked: Counter[tuple[Any, ...]] = Counter()
    for step in steps:
        group = tuple(getattr(step, k) for k in key)
        sent[group] += step.sent
        clicked[group] += step.clicked
    credited: dict[tuple[Any, ...], list[Outcome]] = defaultdict(list)
    for found in attributed:
        if found.attributed is not None:
            credited[tuple(getattr(found.attributed, k) for k in key)].append(found)
    groups = sorted(set(sent) | set(credited), key=lambda g: tuple(str(v) for v in g))
    return [
        {
            **dict(zip(key, group, strict=True)),
            "sent": sent[group],
            "clicked": clicked[group],
            "click_rate": rate(clicked[group], sent[group]),
            "attributed_carts": len(credited[group]),
            "attributed_revenue": _money(_sum(credited[group], currency), currency),
        }
        for group in groups
    ]


#: What a segment without a value is called: a payment that never failed, an unknown origin.
_NO_VALUE = {"payment_failure_reason": "none", "stage": "none"}


def _by_segment(facts: _Facts, attribute: str, label: str) -> list[dict[str, Any]]:
    """
    Abandoned, reachable and recovered carts and recovered revenue by one attribute shared by
    `SegmentCount` and `OrderCandidate`: the stage reached, the payment failure reason
    (`none` for carts whose payment never failed), the device or the country (`unknown`).
    """
    missing = _NO_VALUE.get(attribute, "unknown")
    abandoned: Counter[str] = Counter()
    reachable: Counter[str] = Counter()
    for segment in facts.counts.segments:
        name = getattr(segment, attribute) or missing
        abandoned[name] += segment.count
        reachable[name] += segment.reachable
    recovered: dict[str, list[Outcome]] = defaultdict(list)
    for found in facts.outcomes.values():
        if found.recovered:
            recovered[getattr(found.order, attribute) or missing].append(found)
    currency = facts.store.currency
    return [
        {
            label: name,
            "abandoned": abandoned[name],
            "reachable": reachable[name],
            "recovered": len(recovered[name]),
            "recovery_rate": rate(len(recovered[name]), abandoned[name]),
            "recovered_revenue": _money(_sum(recovered[name], currency), currency),
        }
        for name in sorted(set(abandoned) | set(recovered))
    ]


def quality_counts(reasons: Sequence[ReasonCount]) -> dict[str, int]:
    """
    Messages the send-time quality check stopped (touches `failed` with a check's reason), by
    check; each is expected to be 0.
    """
    counted = dict.fromkeys((check.value for check in QualityCheck), 0)
    for row in reasons:
        check = CHECK_REASONS.get(row.reason)
        if row.status == "failed" and check is not None:
            counted[check.value] += row.count
    return counted


def _reasons(reasons: Sequence[ReasonCount], status: str) -> dict[str, int]:
    counted: Counter[str] = Counter()
    for row in reasons:
        if row.status == status:
            counted[row.reason] += row.count
    return dict(sorted(counted.items()))


def _by_day(
    facts: _Facts, recovered: Sequence[Outcome], attributed: Sequence[Outcome]
) -> list[dict[str, Any]]:
    """
    Recovered and attributed revenue per day of the order, in the store's time zone, for
    every day of the period and its recovery window (so late orders are not cut off).
    """
    zone = ZoneInfo(facts.store.timezone)
    currency = facts.store.currency

    def day(outcome_: Outcome) -> date:
        return outcome_.order.placed_at.astimezone(zone).date()

    totals: dict[date, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for index, outcomes in enumerate((recovered, attributed)):
        for found in outcomes:
            amount = revenue(found.order, currency)
            if amount is not None:
                totals[day(found)][index] += amount
    current = facts.period.start.astimezone(zone).date()
    last = max([facts.period.end.astimezone(zone).date() - timedelta(days=1), *totals])
    rows = []
    while current <= last:
        recovered_amount, attributed_amount = totals.get(current, (Decimal(0), Decimal(0)))
        rows.append(
            {
                "date": current.isoformat(),
                "recovered_revenue": _money(recovered_amount, currency),
                "attributed_revenue": _money(attributed_amount, currency),
            }
        )
        current += timedelta(days=1)
    return rows
