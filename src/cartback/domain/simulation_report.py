"""
The report of a flow simulation (`cartback flows simulate`, `POST /v1/flows/simulate`): what
would have gone out in the window, counted from the replays of `domain.simulation`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from cartback.domain.consent import Channel
from cartback.domain.schedule import Replacement
from cartback.domain.simulation import ContactReplay, Outcome, TouchResult
from cartback.domain.touches import Group


@dataclass(frozen=True, kw_only=True, slots=True)
class StepCount:
    """
    Touches of one flow step, channel and variant (None: the step's own template).
    """

    flow: str
    step: int
    channel: Channel
    variant: str | None
    count: int


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferCount:
    """
    Sent touches of a step that carries an offer: with the offer (`shown`) or without it, the
    offer's `when` being false for the cart (`left_out`).
    """

    flow: str
    step: int
    kind: str
    value: Decimal
    shown: int
    left_out: int


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowEnrollments:
    """
    Carts a flow enrolled, by holdout group.
    """

    flow: str
    treated: int
    control: int


@dataclass(frozen=True, kw_only=True, slots=True)
class SimulationReport:
    """
    What a flow file would have sent for the store's carts that went idle in the window.

    `not_enrolled` counts carts by why they were not enrolled: `no_contact`, `bot`, `no_flow`
    (no flow's trigger and audience select the cart), `keep` and `ignore` (the contact's running
    enrollment stays, `schedule.replacement`). `deferred` counts deferrals (a touch may be
    deferred more than once); `pending` counts touches not due yet, or still deferred, when the
    window ends.
    """

    window_start: datetime
    window_end: datetime
    days: int
    carts: int
    enrolled: tuple[FlowEnrollments, ...] = ()
    not_enrolled: Mapping[str, int] = field(default_factory=dict)
    sent: tuple[StepCount, ...] = ()
    withheld: tuple[StepCount, ...] = ()
    skipped: Mapping[str, int] = field(default_factory=dict)
    deferred: Mapping[str, int] = field(default_factory=dict)
    cancelled: Mapping[str, int] = field(default_factory=dict)
    pending: int = 0
    offers: tuple[OfferCount, ...] = ()
    #: More carts went idle than one simulation reads; the oldest were simulated.
    truncated: bool = False

    @property
    def sent_total(self) -> int:
        """
        Touches that would have been sent.
        """
        return sum(row.count for row in self.sent)


def summarize(
    replays: Iterable[ContactReplay],
    *,
    window_start: datetime,
    window_end: datetime,
    days: int,
    carts: int,
    not_enrolled: Mapping[str, int],
    truncated: bool = False,
) -> SimulationReport:
    """
    Count the replays into a report.
    """
    results: list[TouchResult] = []
    skipped_carts: Counter[str] = Counter(not_enrolled)
    groups: dict[str, Counter[Group]] = {}
    for contact in replays:
        results.extend(contact.touches)
        for enrollment in contact.enrollments:
            if enrollment.action in (Replacement.KEEP, Replacement.IGNORE):
                skipped_carts[enrollment.action.value] += 1
            else:
                groups.setdefault(enrollment.flow, Counter())[enrollment.group] += 1
    return SimulationReport(
        window_start=window_start,
        window_end=window_end,
        days=days,
        carts=carts,
        enrolled=tuple(
            FlowEnrollments(flow=flow, treated=c[Group.TREATED], control=c[Group.CONTROL])
            for flow, c in sorted(groups.items())
        ),
        not_enrolled=dict(sorted(skipped_carts.items())),
        sent=_steps(r for r in results if r.outcome is Outcome.SENT),
        withheld=_steps(r for r in results if r.outcome is Outcome.WITHHELD),
        skipped=_reasons(r.reason for r in results if r.outcome is Outcome.SKIPPED),
        deferred=_reasons(reason for r in results for reason in r.deferrals),
        cancelled=_reasons(r.reason for r in results if r.outcome is Outcome.CANCELLED),
        pending=sum(1 for r in results if r.outcome is Outcome.PENDING),
        offers=_offers(results),
        truncated=truncated,
    )


def _steps(results: Iterable[TouchResult]) -> tuple[StepCount, ...]:
    counts = Counter((r.flow, r.step, r.channel, r.variant) for r in results)
    return tuple(
        StepCount(flow=flow, step=step, channel=channel, variant=variant, count=count)
        for (flow, step, channel, variant), count in sorted(counts.items(), key=_step_key)
    )


def _step_key(item: tuple[tuple[str, int, Channel, str | None], int]) -> tuple[str, int, str, str]:
    (flow, step, channel, variant), _ = item
    return (flow, step, channel.value, variant or "")


def _reasons(reasons: Iterable[str | None]) -> dict[str, int]:
    return dict(sorted(Counter(r or "unknown" for r in reasons).items()))


def _offers(results: list[TouchResult]) -> tuple[OfferCount, ...]:
    shown: Counter[tuple[str, int, str, Decimal]] = Counter()
    left_out: Counter[tuple[str, int, str, Decimal]] = Counter()
    for r in results:
        if r.outcome is Outcome.SENT and r.offer is not None:
            key = (r.flow, r.step, r.offer.kind, r.offer.value)
            (shown if r.offer_shown else left_out)[key] += 1
    return tuple(
        OfferCount(
            flow=k[0], step=k[1], kind=k[2], value=k[3], shown=shown[k], left_out=left_out[k]
        )
        for k in sorted(set(shown) | set(left_out))
    )


def report_json(report: SimulationReport) -> dict[str, Any]:
    """
    The report as plain JSON values (times in ISO 8601, offer values as decimal strings, steps
    numbered from 0 as in `GET /v1/flows`).
    """
    return {
        "window": {
            "start": report.window_start.isoformat(),
            "end": report.window_end.isoformat(),
            "days": report.days,
        },
        "carts": report.carts,
        "enrolled": [
            {"flow": e.flow, "treated": e.treated, "control": e.control} for e in report.enrolled
        ],
        "not_enrolled": dict(report.not_enrolled),
        "sent": [_step_json(row) for row in report.sent],
        "sent_total": report.sent_total,
        "withheld": [_step_json(row) for row in report.withheld],
        "skipped": dict(report.skipped),
        "deferred": dict(report.deferred),
        "cancelled": dict(report.cancelled),
        "pending": report.pending,
        "offers": [
            {
                "flow": o.flow,
                "step": o.step,
                "kind": o.kind,
                "value": str(o.value),
                "shown": o.shown,
                "left_out": o.left_out,
            }
            for o in report.offers
        ],
        "truncated": report.truncated,
    }


def _step_json(row: StepCount) -> dict[str, Any]:
    return {
        "flow": row.flow,
        "step": row.step,
        "channel": row.channel.value,
        "variant": row.variant,
        "count": row.count,
    }
