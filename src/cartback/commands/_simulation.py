"""
How `cartback flows simulate` prints its report for a person: a summary line, then tables of
the touches that would be sent, the offers in them, and everything that would not go, by
reason. Steps are numbered from 1 here (the JSON and the API count from 0, as touches do).
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table

from cartback.domain.simulation_report import OfferCount, SimulationReport


def print_report(report: SimulationReport, file: TextIO | None = None) -> None:
    """
    Write the report as readable tables (plain text when not a terminal).
    """
    console = Console(file=file, highlight=False, soft_wrap=True)
    console.print(_summary(report))
    for line in _enrollments(report):
        console.print(line)
    console.print()
    if report.sent:
        console.print(_sent_table(report))
    else:
        console.print("no touch would have been sent")
    if report.offers:
        console.print()
        console.print(_offers_table(report))
    rows = _held_back(report)
    if rows:
        console.print()
        table = Table(
            title="Not sent, by reason",
            title_justify="left",
            caption="each deferral is counted; a deferred touch is tried again at its new time",
            caption_justify="left",
        )
        for name in ("outcome", "reason", "touches"):
            table.add_column(name, justify="right" if name == "touches" else "left")
        for outcome, reason, count in rows:
            table.add_row(outcome, reason, str(count))
        console.print(table)
    if report.truncated:
        console.print(f"only the first {report.carts} carts of the window were simulated")


def _summary(report: SimulationReport) -> str:
    start = f"{report.window_start:%Y-%m-%d %H:%M}"
    end = f"{report.window_end:%Y-%m-%d %H:%M %Z}"
    return (
        f"simulated {report.days} day{'s' if report.days != 1 else ''} ({start} to {end}): "
        f"{report.carts} cart{'s' if report.carts != 1 else ''} went idle; "
        f"{report.sent_total} touch{'es' if report.sent_total != 1 else ''} would have been "
        "sent (nothing was)"
    )


def _enrollments(report: SimulationReport) -> list[str]:
    lines = [
        f"enrolled in {e.flow}: {e.treated} treated, {e.control} control" for e in report.enrolled
    ]
    if report.not_enrolled:
        reasons = ", ".join(f"{reason} {n}" for reason, n in report.not_enrolled.items())
        lines.append(f"not enrolled: {reasons}")
    return lines


def _sent_table(report: SimulationReport) -> Table:
    table = Table(title="Touches that would be sent", title_justify="left")
    for name in ("flow", "step", "channel", "variant", "touches"):
        table.add_column(name, justify="right" if name in ("step", "touches") else "left")
    for row in report.sent:
        table.add_row(
            row.flow, str(row.step + 1), row.channel.value, row.variant or "-", str(row.count)
        )
    return table


def _offers_table(report: SimulationReport) -> Table:
    table = Table(title="Offers in those touches", title_justify="left")
    for name in ("flow", "step", "offer", "shown", "left out"):
        table.add_column(name, justify="right" if name in ("step", "shown", "left out") else "left")
    for offer in report.offers:
        table.add_row(
            offer.flow,
            str(offer.step + 1),
            describe_offer(offer),
            str(offer.shown),
            str(offer.left_out),
        )
    return table


def describe_offer(offer: OfferCount) -> str:
    """
    `10% off`, `5 off` (store currency), `free shipping`.
    """
    if offer.kind == "percent":
        return f"{offer.value.normalize():f}% off"
    if offer.kind == "fixed":
        return f"{offer.value.normalize():f} off"
    return offer.kind.replace("_", " ")


def _held_back(report: SimulationReport) -> list[tuple[str, str, int]]:
    rows: list[tuple[str, str, int]] = []
    withheld = sum(row.count for row in report.withheld)
    if withheld:
        rows.append(("withheld", "control group", withheld))
    for outcome, counts in (
        ("skipped", report.skipped),
        ("deferred", report.deferred),
        ("cancelled", report.cancelled),
    ):
        rows.extend((outcome, reason, count) for reason, count in counts.items())
    if report.pending:
        rows.append(("pending", "not due by the window's end", report.pending))
    return rows
