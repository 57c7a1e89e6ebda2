"""
SVG charts drawn from plain data: the measurement report's funnel, its revenue per day, and the
holdout rates with the lift's interval. Pure functions that return one `<svg>` element as a
string, shared by `cartback report --html` and the dashboard's overview.

Every text is escaped (and characters XML cannot hold are dropped), so the output parses as
XML whatever the labels say. Colours and sizes are SVG presentation attributes (`fill=`,
`stroke=`, `font-size=`), never `style` attributes or `<style>` elements: the dashboard's
Content-Security-Policy (`style-src 'self'`) refuses inline styles but not presentation
attributes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

BAR = "#3366cc"
CONTROL = "#9aa3b2"
INK = "#1d2330"
AXIS = "#888888"
GRID = "#cccccc"
WIDTH = 720
#: Characters XML 1.0 cannot hold (C0 controls but tab and newlines, surrogates, U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, kw_only=True, slots=True)
class Stage:
    """
    One bar of the funnel: a stage and how many carts reached it.
    """

    label: str
    count: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Day:
    """
    One bar of a daily chart: the day (as text) and its amount.
    """

    label: str
    amount: Decimal


@dataclass(frozen=True, kw_only=True, slots=True)
class HoldoutRow:
    """
    One flow's holdout: the two groups' rates and the lift with its interval (fractions).
    """

    label: str
    treated_rate: float
    control_rate: float
    lift: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True, kw_only=True, slots=True)
class ReportCharts:
    """
    The three charts of a measurement report.
    """

    funnel: str
    revenue: str
    holdout: str


def text(value: object) -> str:
    """
    `value` as text safe inside an XML element or a quoted attribute.
    """
    return escape(_NOT_XML.sub("", str(value)), quote=True)


def percent(value: float | None) -> str:
    """
    A fraction as a percentage with one decimal (`-` for none).
    """
    return "-" if value is None else f"{value:.1%}"


def funnel_svg(stages: Sequence[Stage], *, title: str = "Funnel") -> str:
    """
    Horizontal bars, one per stage, scaled to the largest count, each with its count.
    """
    if not stages:
        return _empty(title)
    row, label = 30, 110
    top = max([stage.count for stage in stages] + [1])
    bars = []
    for index, stage in enumerate(stages):
        y = index * row + 4
        length = (WIDTH - label - 60) * max(stage.count, 0) / top
        bars.append(
            f'<text x="0" y="{y + 16}">{text(stage.label)}</text>'
            f'<rect x="{label}" y="{y}" width="{length:.1f}" height="{row - 8}" fill="{BAR}"/>'
            f'<text x="{label + length + 6:.1f}" y="{y + 16}">{stage.count}</text>'
        )
    return _svg(len(stages) * row + 8, title, "".join(bars))


def daily_svg(days: Sequence[Day], *, title: str = "Recovered revenue per day") -> str:
    """
    Vertical bars, one per day, scaled to the largest amount, with the first and last day
    under the axis and each bar's day and amount as its tooltip.
    """
    if not days:
        return _empty(title)
    height, left, bottom = 200, 60, 24
    values = [max(day.amount, Decimal(0)) for day in days]
    top = max([*values, Decimal(1)])
    step = (WIDTH - left) / len(days)
    marks = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{WIDTH}" y2="{height - bottom}" '
        f'stroke="{AXIS}"/>',
        f'<text x="0" y="14">{text(top)}</text>',
        f'<text x="0" y="{height - bottom}">0</text>',
    ]
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        bar = float(value / top) * (height - bottom - 10)
        x = left + index * step
        marks.append(
            f'<rect x="{x:.1f}" y="{height - bottom - bar:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{bar:.1f}" fill="{BAR}"><title>{text(day.label)}: '
            f"{text(day.amount)}</title></rect>"
        )
    marks.append(f'<text x="{left}" y="{height - 6}">{text(days[0].label)}</text>')
    marks.append(
        f'<text x="{WIDTH}" y="{height - 6}" text-anchor="end">{text(days[-1].label)}</text>'
    )
    return _svg(height, title, "".join(marks))


def holdout_svg(rows: Sequence[HoldoutRow], *, title: str = "Holdout") -> str:
    """
    Per row, the treated and control rates as bars (0 to 100 % rightwards from the centre)
    and the lift as a dot on a line spanning its interval (-100 % to +100 % across).
    """
    if not rows:
        return _empty(title)
    row, label = 56, 150
    scale = (WIDTH - label - 20) / 2
    zero = label + scale
    marks = [f'<line x1="{zero}" y1="0" x2="{zero}" y2="{len(rows) * row}" stroke="{GRID}"/>']
    for index, item in enumerate(rows):
        y = index * row
        low, high, lift = (zero + scale * _unit(v) for v in (item.ci_low, item.ci_high, item.lift))
        marks.append(
            f'<text x="0" y="{y + 18}">{text(item.label)}</text>'
            f'<rect x="{zero}" y="{y + 4}" width="{scale * _rate(item.treated_rate):.1f}" '
            f'height="12" fill="{BAR}"><title>treated {percent(item.treated_rate)}</title></rect>'
            f'<rect x="{zero}" y="{y + 18}" width="{scale * _rate(item.control_rate):.1f}" '
            f'height="12" fill="{CONTROL}"><title>control {percent(item.control_rate)}</title>'
            f'</rect><line x1="{low:.1f}" y1="{y + 40}" x2="{high:.1f}" y2="{y + 40}" '
            f'stroke="{INK}" stroke-width="2"><title>lift {percent(item.lift)}, 95 % interval '
            f"{percent(item.ci_low)} to {percent(item.ci_high)}</title></line>"
            f'<circle cx="{lift:.1f}" cy="{y + 40}" r="4" fill="{INK}"/>'
        )
    marks.append(
        f'<text x="0" y="{len(rows) * row + 14}">blue: treated rate; grey: control rate; '
        "line: the lift and its 95 % interval (centre 0, edges -100 % and +100 %)</text>"
    )
    return _svg(len(rows) * row + 20, title, "".join(marks))


def report_charts(document: Mapping[str, Any]) -> ReportCharts:
    """
    The charts of a report document (`services.reports.build_report`, the JSON of
    `GET /v1/reports/summary`): the funnel, recovered revenue per day, and the holdout over
    all flows and per flow.
    """
    stages = [Stage(label=s["stage"], count=int(s["count"])) for s in document["funnel"]]
    days = [
        Day(label=d["date"], amount=_amount(d["recovered_revenue"]))
        for d in document["revenue_by_day"]
    ]
    rows = [_holdout_row("all flows", document["holdout"])]
    rows += [_holdout_row(flow["flow"], flow["holdout"]) for flow in document["by_flow"]]
    return ReportCharts(
        funnel=funnel_svg(stages), revenue=daily_svg(days), holdout=holdout_svg(rows)
    )


def _holdout_row(label: str, result: Mapping[str, Any]) -> HoldoutRow:
    return HoldoutRow(
        label=label,
        treated_rate=float(result["treated_rate"]),
        control_rate=float(result["control_rate"]),
        lift=float(result["lift"]),
        ci_low=float(result["ci_low"]),
        ci_high=float(result["ci_high"]),
    )


def _amount(value: object) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() else Decimal(0)


def _rate(value: float) -> float:
    """
    A rate kept within 0..1 (a bar never leaves its half of the chart).
    """
    return 0.0 if math.isnan(value) else min(max(value, 0.0), 1.0)  # NaN draws nothing


def _unit(value: float) -> float:
    return 0.0 if math.isnan(value) else min(max(value, -1.0), 1.0)


def _empty(title: str) -> str:
    return _svg(30, title, '<text x="0" y="20">Nothing in this period.</text>')


def _svg(height: int, title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{text(title)}" '
        f'font-size="12"><title>{text(title)}</title>{body}</svg>'
    )
