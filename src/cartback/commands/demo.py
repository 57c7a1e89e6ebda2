"""
`cartback demo`: a simulated shop's week of abandoned carts recovered, in under a minute, with no
configuration and nothing leaving the machine (`contract.md` §1, `docs/demo.md`).

    cartback demo [--shoppers N] [--days D] [--seed S] [--database-url URL]

Without `--database-url` it runs on its own embedded database, `./cartback-demo/demo.db`,
made anew on every run (never the service's `./cartback.db`); the reports are written beside it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from cartback.commands._common import DatabaseOption, cli_errors, fail

DEMO_DIR = Path("cartback-demo")


def demo(
    shoppers: Annotated[
        int, typer.Option(envvar="CARTBACK_DEMO_SHOPPERS", min=1, max=100_000)
    ] = 2000,
    days: Annotated[int, typer.Option(envvar="CARTBACK_DEMO_DAYS", min=1, max=30)] = 7,
    seed: Annotated[int, typer.Option(envvar="CARTBACK_DEMO_SEED")] = 1,
    directory: Annotated[
        Path,
        typer.Option(
            "--dir", envvar="CARTBACK_DEMO_DIR", help="Where the demo database and reports go."
        ),
    ] = DEMO_DIR,
    start: Annotated[
        str | None,
        typer.Option(
            envvar="CARTBACK_DEMO_START",
            help="The first simulated instant (ISO, with a zone); default: DAYS days before "
            "today's midnight UTC.",
            hidden=True,
        ),
    ] = None,
    step_minutes: Annotated[
        int, typer.Option(envvar="CARTBACK_DEMO_STEP_MINUTES", min=1, max=60, hidden=True)
    ] = 15,
    database_url: DatabaseOption = None,
) -> None:
    """
    Simulate a shop's shoppers through the real API and worker, then show the report.
    """
    from rich.console import Console

    from cartback._logging import configure_logging
    from cartback.commands.report import print_tables

    # Only errors on the terminal: the progress bar and the report are the output. The
    # command sets this, not `run_demo`, which tests call in-process.
    configure_logging(level="error", json_logs=False)
    began = _start(start, days)
    directory.mkdir(parents=True, exist_ok=True)
    url = database_url or _fresh_sqlite(directory)
    with cli_errors():
        document, truth, store = run_demo(url, directory, shoppers, days, seed, began, step_minutes)
    console = Console(soft_wrap=False, width=120)
    print_tables(document, console)
    from cartback.commands._report_html import render_html

    html = directory / "report.html"
    html.write_text(render_html(document), encoding="utf-8")
    summary = directory / "report.json"
    summary.write_text(json.dumps({"report": document, "truth": truth}, indent=2) + "\n")
    for line in truth_lines(document, truth):
        console.print(line)
    typer.echo(f"HTML report: {html.resolve()}")
    typer.echo(f"JSON report: {summary.resolve()}")
    typer.echo(_dashboard_hint(url, directory, store))


def _start(text: str | None, days: int) -> datetime:
    if text is None:
        today = datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)
        return today - timedelta(days=days)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--start: not an ISO time: {text!r}", 2)
    if moment.utcoffset() is None:
        fail("--start: needs a time zone, e.g. 2026-11-01T00:00:00Z", 2)
    return moment


def _fresh_sqlite(directory: Path) -> str:
    """
    The demo's own embedded database, made anew (so a seed always gives the same run).
    """
    path = directory / "demo.db"
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        (directory / name).unlink(missing_ok=True)
    return f"sqlite:///{path}"


def run_demo(
    url: str,
    directory: Path,
    shoppers: int,
    days: int,
    seed: int,
    began: datetime,
    step_minutes: int,
    *,
    holdout: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any], str]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from sqlalchemy import func, select

    from cartback.bootstrap import bootstrap
    from cartback.demo.runner import DemoOptions, Simulation
    from cartback.engine.clock import SimulatedClock
    from cartback.kit.ids import seeded_ids
    from cartback.services.reports import build_report
    from cartback.settings import Environment, IngestWriterKind, Settings
    from cartback.store.migrate import upgrade
    from cartback.store.tables import stores

    settings = Settings(
        database_url=url,
        env=Environment.DEVELOPMENT,
        data_dir=directory / "data",
        ingest_writer=IngestWriterKind.THREAD,
        ingest_rate=1e9,
        ingest_burst=10**9,
        public_rate=1e9,
        public_burst=10**9,
        log_level="error",
    )
    clock = SimulatedClock(began)
    container = bootstrap(settings, clock=clock, application_name="cartback-demo")
    try:
        upgrade(container.engine)
        with container.engine.connect() as connection:
            existing = connection.execute(select(func.count()).select_from(stores)).scalar_one()
        options = DemoOptions(
            shoppers=shoppers,
            days=days,
            seed=seed,
            start=began,
            step=timedelta(minutes=step_minutes),
            holdout=holdout,
        )
        millis = lambda: int(clock.now().timestamp() * 1000)  # noqa: E731
        with seeded_ids(seed * 1_000_003 + existing, millis):
            with Progress(
                TextColumn("simulating shoppers"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                transient=True,
            ) as bar:
                task = bar.add_task("demo", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                result = Simulation(container, clock, options).run(progress)
            document = build_report(
                uow=container.uow_factory(read_only=True),
                clock=clock,
                store_id=result.store.store.id,
                start=began,
                end=clock.now(),
            )
    finally:
        container.close()
    return document, result.truth, result.store.store.id


def truth_lines(document: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    """
    The simulator's truth beside what the report measured: the holdout's lift and interval,
    and how much last-touch attribution claims over the revenue the touches really caused.
    """
    holdout = document["holdout"]
    rate = truth["incremental_rate"]
    low, high = holdout["ci_low"], holdout["ci_high"]
    inside = rate is not None and low <= rate <= high
    attributed = float(document["attributed_revenue"])
    true_revenue = float(truth["incremental_revenue"])
    over = attributed - true_revenue
    ratio = f" ({attributed / true_revenue:.1f}x the truth)" if true_revenue else ""
    shown = "-" if rate is None else f"{rate:.1%}"
    return [
        "",
        "[bold]What the simulator knows[/bold]",
        f"  true incremental recovery: {shown} of treated carts "
        f"({truth['incremental_carts']} of {truth['treated_carts']})",
        f"  report's holdout lift:     {holdout['lift']:.1%} "
        f"(95 % interval {low:.1%} to {high:.1%}): "
        + ("the truth is inside" if inside else "the truth is outside"),
        f"  true incremental revenue:  {truth['incremental_revenue']} {document['currency']}",
        f"  last-touch attributed:     {document['attributed_revenue']} {document['currency']}, "
        f"an over-claim of {over:.2f}{ratio}",
    ]


def _dashboard_hint(url: str, directory: Path, store: str) -> str:
    return "\n".join(
        [
            "Open the dashboard on this data:",
            f"  cartback operator create --email you@example.com --store {store} "
            f"--database-url {url}",
            f"  CARTBACK_DATA_DIR={directory / 'data'} cartback serve --database-url {url}",
            "  then http://127.0.0.1:8000/admin",
        ]
    )
