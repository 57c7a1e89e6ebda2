"""
The report as one self-contained HTML file: inline CSS and inline SVG charts (the funnel,
recovered revenue per day, holdout rates with their intervals; drawn by `kit/charts.py`, as in
the dashboard). Nothing is fetched from anywhere: no scripts, fonts, images or style sheets by
URL. Every text is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from cartback.commands.report import SEGMENT_COLUMNS, SEGMENTS
from cartback.kit.charts import percent as _percent
from cartback.kit.charts import report_charts

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;
max-width:960px;color:#1d2330;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:2rem}
.muted{color:#5b6475}.kpis{display:grid;grid-template-columns:repeat(4,1fr);gap:.75rem}
.kpi{border:1px solid #dde1e8;border-radius:8px;padding:.6rem .8rem}
.kpi b{display:block;font-size:1.3rem}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eceef2}
td.n,th.n{text-align:right}.warn{color:#8a4b00}svg{max-width:100%;height:auto}
"""


def render_html(document: dict[str, Any]) -> str:
    """
    The whole page for a report document (`services.reports.build_report`).
    """
    currency = escape(document["currency"])
    charts = report_charts(document)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Cartback report {escape(document['store_id'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Cartback report</h1>",
        f'<p class="muted">Store {escape(document["store_id"])}: carts abandoned from '
        f"{escape(document['from'])} to {escape(document['to'])}. Amounts in {currency}.</p>",
        _kpis(document),
        "<h2>Funnel</h2>",
        charts.funnel,
        "<h2>Recovered revenue per day</h2>",
        charts.revenue,
        "<h2>Holdout: recovery rate, treated against control (95 % intervals)</h2>",
        charts.holdout,
        _holdout_table(document),
        "<h2>By step</h2>",
        _table(
            document["by_step"],
            (
                "flow",
                "step",
                "channel",
                "sent",
                "clicked",
                "attributed_carts",
                "attributed_revenue",
            ),
        ),
        *_segments(document),
        "<h2>Touches not sent</h2>",
        _reasons(document),
        "<h2>Quality checks (messages not sent, expected 0)</h2>",
        _table(_quality(document), ("check", "failed", "expected")),
        '<p class="muted">Definitions: docs/metrics.md. Attribution: last touch, a click within '
        f"{escape(document['attribution']['click_window_text'])} or a send within "
        f"{escape(document['attribution']['send_window_text'])} before the order.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _kpis(document: dict[str, Any]) -> str:
    items = (
        ("Abandoned carts", document["abandoned_carts"]),
        ("Recovered carts", document["recovered_carts"]),
        ("Recovery rate", _percent(document["recovery_rate"])),
        ("Recovered revenue", document["recovered_revenue"]),
        ("Attributed revenue", document["attributed_revenue"]),
        ("Incremental revenue", document["holdout"]["incremental_revenue"]),
        ("Discount cost", document["discount_cost"]),
        ("Net recovered revenue", document["net_recovered_revenue"]),
    )
    cells = "".join(
        f'<div class="kpi"><span class="muted">{escape(label)}</span>'
        f"<b>{escape(str(value))}</b></div>"
        for label, value in items
    )
    return f'<div class="kpis">{cells}</div>'


def _holdout_table(document: dict[str, Any]) -> str:
    rows = [{"flow": "all flows", **document["holdout"]}]
    rows += [{"flow": flow["flow"], **flow["holdout"]} for flow in document["by_flow"]]
    table = _table(
        rows,
        (
            "flow",
            "treated_carts",
            "treated_rate",
            "control_carts",
            "control_rate",
            "lift",
            "ci_low",
            "ci_high",
            "incremental_revenue",
        ),
    )
    warnings = "".join(
        f'<p class="warn">{escape(row["flow"])}: {escape(row["warning"])}</p>'
        for row in rows
        if row.get("warning")
    )
    return table + warnings


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    if not rows:
        return '<p class="muted">Nothing in this period.</p>'
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _segments(document: dict[str, Any]) -> list[str]:
    """
    Recovery by stage, abandonment reason, device and country: a heading and a table each.
    """
    parts = []
    for title, key, label in SEGMENTS:
        parts += [f"<h2>{escape(title)}</h2>", _table(document[key], (label, *SEGMENT_COLUMNS))]
    return parts


def _reasons(document: dict[str, Any]) -> str:
    rows = [
        {"status": status, "reason": reason, "touches": count}
        for status in ("skipped", "deferred", "cancelled")
        for reason, count in document[status].items()
    ]
    return _table(rows, ("status", "reason", "touches"))


def _quality(document: dict[str, Any]) -> list[dict[str, Any]]:
    """
    Messages the send-time quality check stopped, by check, beside the 0 expected of each.
    """
    quality: dict[str, int] = document.get("quality", {})
    return [{"check": c, "failed": n, "expected": 0} for c, n in quality.items()]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return _percent(value)
    return str(value)
