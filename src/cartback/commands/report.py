"""
`cartback report`: the measurement report as tables (`rich`), as JSON (the same document as
`GET /v1/reports/summary`), or as a self-contained HTML file with charts.

    cartback report --store ID [--since DATE] [--until DATE] [--json] [--html FILE]
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cartback.commands._common import (
    DatabaseOption,
    JsonOption,
    StoreOption,
    cli_errors,
    command_container,
    fail,
)


def report(
    store: StoreOption,
    since: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_REPORT_SINCE",
            help="Carts abandoned from this day (store time zone) or time (default: 30 days ago).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_REPORT_UNTIL",
            help="...up to this day (excluded) or time (default: now).",
        ),
    ] = None,
    as_json: JsonOption = False,
    html: Annotated[
        Path | None,
        typer.Option(
            envvar="CARTBACK_REPORT_HTML",
            help="Also write a self-contained HTML report with charts to this file.",
        ),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """
    The measurement report: funnel, recovered and attributed revenue, holdout lift, breakdowns.
    """
    from cartback.services.reports import build_report

    start, end = _when(since, "--since"), _when(until, "--until")
    with command_container(database_url, name="report") as container:
        document = build_report(
            uow=container.uow_factory(read_only=True),
            clock=container.clock,
            store_id=store,
            start=start,
            end=end,
            names=("--since", "--until"),
        )
    if html is not None:
        from cartback.commands._report_html import render_html

        with cli_errors():
            html.write_text(render_html(document), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(document, indent=2))
    else:
        print_tables(document, Console(soft_wrap=False, width=120))
    if html is not None:
        typer.echo(str(html), err=as_json)


def _when(text: str | None, option: str) -> datetime | date | None:
    """
    A day (`2026-11-01`) or an aware time (`2026-11-01T10:00:00+01:00`, `…Z`).
    """
    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option}: not a date (2026-11-01) or a time with a zone: {text!r}", 2)
    if moment.utcoffset() is None:
        fail(f"{option}: a time needs a zone, e.g. {value}Z", 2)
    return moment


def print_tables(document: dict[str, Any], console: Console) -> None:
    """
    The report as a few tables.
    """
    currency = document["currency"]
    console.print(
        f"[bold]Cartback report[/bold] {document['store_id']}  "
        f"{document['from']} → {document['to']}  ({currency})"
    )
    console.print(_summary(document))
    console.print(_funnel(document))
    console.print(_holdouts(document))
    console.print(_rows("By step", document["by_step"], _STEP_COLUMNS))
    console.print(_rows("By channel", document["by_channel"], _CHANNEL_COLUMNS))
    for title, key, label in SEGMENTS:
        if document[key]:
            console.print(_rows(title, document[key], (label, *SEGMENT_COLUMNS)))
    reasons = _reasons(document)
    if reasons.row_count:
        console.print(reasons)
    console.print(_quality(document))


def _summary(document: dict[str, Any]) -> Table:
    table = Table(title="Summary", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for label, key in _SUMMARY:
        table.add_row(label, _text(document[key]))
    return table


_SUMMARY = (
    ("Abandoned carts", "abandoned_carts"),
    ("Capture rate", "capture_rate"),
    ("Reachable carts", "reachable_carts"),
    ("Recovered carts", "recovered_carts"),
    ("Recovery rate", "recovery_rate"),
    ("Recovered revenue", "recovered_revenue"),
    ("Attributed revenue", "attributed_revenue"),
    ("Converted without a touch", "converted_carts"),
    ("Discount cost", "discount_cost"),
    ("Net recovered revenue", "net_recovered_revenue"),
    ("Median time to recovery (s)", "median_time_to_recovery"),
    ("Unsubscribe rate", "unsubscribe_rate"),
    ("Complaint rate", "complaint_rate"),
    ("Bounce rate", "bounce_rate"),
)


def _funnel(document: dict[str, Any]) -> Table:
    table = Table(title="Funnel")
    table.add_column("stage")
    table.add_column("carts", justify="right")
    for row in document["funnel"]:
        table.add_row(row["stage"], str(row["count"]))
    return table


def _holdouts(document: dict[str, Any]) -> Table:
    table = Table(title="Holdout (treated vs control, 95 % interval of the lift)")
    for name in ("flow", "treated", "control", "lift", "interval", "incremental", "warning"):
        table.add_column(name)
    rows = [("all flows", document["holdout"])]
    rows += [(flow["flow"], flow["holdout"]) for flow in document["by_flow"]]
    for name, result in rows:
        table.add_row(
            name,
            _group(result, "treated"),
            _group(result, "control"),
            _text(result["lift"]),
            f"{_text(result['ci_low'])} to {_text(result['ci_high'])}",
            _text(result["incremental_revenue"]),
            result["warning"] or "",
        )
    return table


def _group(result: dict[str, Any], group: str) -> str:
    recovered, carts = result[f"{group}_recovered"], result[f"{group}_carts"]
    return f"{recovered}/{carts} {_text(result[f'{group}_rate'])}"


_STEP_COLUMNS = (
    "flow",
    "step",
    "channel",
    "sent",
    "clicked",
    "attributed_carts",
    "attributed_revenue",
    "unsubscribe_rate",
    "complaint_rate",
    "bounce_rate",
)
_CHANNEL_COLUMNS = ("channel", "sent", "clicked", "attributed_carts", "attributed_revenue")
#: The recovery breakdowns: title, report key, and the row's label (docs/metrics.md).
SEGMENTS = (
    ("By stage", "by_stage", "stage"),
    ("By abandonment reason", "by_abandonment_reason", "reason"),
    ("By device", "by_device", "device"),
    ("By country", "by_country", "country"),
)
SEGMENT_COLUMNS = ("abandoned", "reachable", "recovered", "recovery_rate", "recovered_revenue")


def _rows(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*(_text(row[c]) for c in columns))
    return table


def _reasons(document: dict[str, Any]) -> Table:
    table = Table(title="Touches not sent")
    table.add_column("status")
    table.add_column("reason")
    table.add_column("touches", justify="right")
    for status in ("skipped", "deferred", "cancelled"):
        for reason, count in document[status].items():
            table.add_row(status, reason, str(count))
    return table


def _quality(document: dict[str, Any]) -> Table:
    """
    Messages the send-time quality check stopped, by check, beside the 0 expected of each.
    """
    table = Table(title="Quality checks (messages not sent)")
    table.add_column("check")
    table.add_column("failed", justify="right")
    table.add_column("expected", justify="right")
    for check, count in document.get("quality", {}).items():
        shown = f"[bold red]{count}[/bold red]" if count else "0"
        table.add_row(check.replace("_", " "), shown, "0")
    return table


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1%}" if -1 <= value <= 1 else f"{value:.4g}"
    return str(value)
