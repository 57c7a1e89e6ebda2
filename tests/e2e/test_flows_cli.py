"""
`cartback flows apply/list` as an operator runs them: the shipped defaults until a file is
applied; an invalid file prints every error with its line, exits 2 and changes nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness import Cli
from sqlalchemy import func, select

from cartback.bootstrap import bootstrap
from cartback.engine.clock import SimulatedClock
from cartback.services.ingest import ingest
from cartback.settings import Environment, Settings
from cartback.sources.segment import ParseContext, parse_messages
from cartback.store.database import create_database_engine
from cartback.store.tables import metadata
from helpers import TEST_SECRET, identify, track

pytestmark = pytest.mark.e2e

CONTRACT = Path(__file__).parent.parent / "fixtures" / "flows" / "contract.yaml"


def _listed(cli: Cli, store: str) -> dict[str, object]:
    result = cli.run("flows", "list", "--store", store, "--json")
    assert 0 == result.returncode, result.stderr
    listed: dict[str, object] = json.loads(result.stdout)
    return listed


def test_defaults_then_apply_then_list(cli: Cli) -> None:
    """
    A new store lists the shipped defaults (and says so); applying the contract's file
    replaces them with version 1.
    """
    # given
    store = cli.create_store()["id"]
    # when
    before = cli.run("flows", "list", "--store", store)
    applied = cli.run("flows", "apply", str(CONTRACT), "--store", store)
    after = _listed(cli, store)
    # then
    assert 0 == before.returncode, before.stderr
    assert "shipped defaults" in before.stdout
    assert "checkout-high-value" in before.stdout
    assert 0 == applied.returncode, applied.stderr
    assert "version 1" in applied.stdout
    assert ("applied", 1, ["checkout-recovery"]) == (
        after["origin"],
        after["version"],
        [f["name"] for f in after["flows"]],  # type: ignore[attr-defined]
    )


def test_an_invalid_file_prints_every_error_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    """
    Two mistakes, two lines on stderr with FILE:LINE:COLUMN, exit 2, still the defaults.
    """
    # given
    store = cli.create_store()["id"]
    bad = tmp_path / "flows.yaml"
    bad.write_text(
        "flows:\n"
        "  - name: a\n"
        "    trigger: {stages: [cart], colour: red}\n"
        "    steps: [{wait: soon, channel: email, template: a}]\n"
    )
    # when
    result = cli.run("flows", "apply", str(bad), "--store", store)
    # then
    assert 2 == result.returncode
    assert [
        f"{bad}:3:31: flows[0].trigger.colour: unknown key 'colour'; expected one of stages, "
        "inactive_for, kind, window",
        f"{bad}:4:20: flows[0].steps[0].wait: 'soon' is not a duration; write it like 45s, "
        "30m, 1h or 2d",
        f"cartback: {bad}: the flow file has 2 errors; nothing changed",
    ] == result.stderr.strip().splitlines()
    assert "defaults" == _listed(cli, store)["origin"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("apply", "/nonexistent/flows.yaml", "--store", "st_x"), 2, "cannot read"),
        (("list", "--store", "st_nope"), 1, "no store 'st_nope'"),
    ],
)
def test_bad_arguments_are_one_line(
    cli: Cli, args: tuple[str, ...], code: int, message: str
) -> None:
    """
    A missing file and an unknown store.
    """
    # when
    result = cli.run("flows", *args)
    # then
    assert code == result.returncode
    assert message in result.stderr
    assert 1 == len(result.stderr.strip().splitlines())


TRIED = """
flows:
  - name: tried
    trigger: {stages: [cart, checkout]}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - {wait: 23h, channel: email, template: support}
      - wait: 48h
        channel: email
        template: resolution
        offer: {kind: percent, value: 10, expires_in: 48h}
defaults:
  frequency_cap: {messages: 5, per: 24h}
"""


def _abandoned_days_ago(
    database_url: str, tmp_path: Path, store_id: str, days: int, *carts: str
) -> None:
    """
    Carts of shoppers who gave their email, left `days` days ago and abandoned by the real
    worker on a simulated clock (which enrolls them in the store's own flows).
    """
    settings = Settings(
        database_url=database_url,
        env=Environment.TEST,
        secret_key=TEST_SECRET,
        data_dir=tmp_path / "data",
    )
    clock = SimulatedClock(datetime.now(UTC) - timedelta(days=days))
    container = bootstrap(settings, clock=clock)
    messages = []
    for cart in carts:
        at = clock.now()
        messages += [
            identify(anonymous_id=f"a-{cart}", at=at, email=f"{cart}@example.com"),
            track("Product Added", anonymous_id=f"a-{cart}", at=at, cart_id=cart, product_id="p",
                  name="Mug", price=25, quantity=1),
        ]  # fmt: skip
    parsed = parse_messages(messages, context=ParseContext(now=clock.now()))
    ingest(uow=container.uow_factory(), clock=clock, store_id=store_id, messages=parsed.messages)
    clock.advance(timedelta(minutes=31))
    container.new_worker(name="seed").run_pass()
    container.close()


def _row_counts(database_url: str) -> dict[str, int]:
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        counts = {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }
    engine.dispose()
    return counts


def test_simulate_prints_what_would_have_gone_out_and_writes_nothing(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """
    Two carts left 5 days ago, a 3-step file: six touches, the offer in the last two, shown
    as tables and as JSON; the database has the rows it had.
    """
    # given
    store = cli.create_store("--country", "US", "--timezone", "America/New_York")["id"]
    _abandoned_days_ago(database_url, tmp_path, store, 5, "c-1", "c-2")
    tried = tmp_path / "tried.yaml"
    tried.write_text(TRIED)
    before = _row_counts(database_url)
    # when
    shown = cli.run("flows", "simulate", str(tried), "--store", store, "--days", "7")
    as_json = cli.run("flows", "simulate", str(tried), "--store", store, "--json")
    # then
    assert 0 == shown.returncode, shown.stderr
    assert "2 carts went idle; 6 touches would have been sent (nothing was)" in shown.stdout
    assert "Touches that would be sent" in shown.stdout
    assert "10% off" in shown.stdout
    assert 0 == as_json.returncode, as_json.stderr
    report = json.loads(as_json.stdout)
    assert [(0, 2), (1, 2), (2, 2)] == [(r["step"], r["count"]) for r in report["sent"]]
    assert [(2, "10", 2, 0)] == [
        (o["step"], o["value"], o["shown"], o["left_out"]) for o in report["offers"]
    ]
    assert before == _row_counts(database_url)


def test_simulate_prints_every_error_of_an_invalid_file(cli: Cli, tmp_path: Path) -> None:
    """
    As `flows apply`: FILE:LINE:COLUMN for each error, then one summary line, exit 2.
    """
    # given
    store = cli.create_store()["id"]
    bad = tmp_path / "flows.yaml"
    bad.write_text(TRIED.replace("wait: 1h", "wait: soon").replace("[cart, checkout]", "[cart, x]"))
    # when
    result = cli.run("flows", "simulate", str(bad), "--store", store)
    # then
    assert 2 == result.returncode
    lines = result.stderr.strip().splitlines()
    assert 3 == len(lines), result.stderr
    assert lines[0].startswith(f"{bad}:4:")
    assert lines[1].startswith(f"{bad}:6:")
    assert f"cartback: {bad}: the flow file has 2 errors; nothing simulated" == lines[2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("/nonexistent/flows.yaml",), "cannot read"),
        (("{file}", "--store", "st_nope"), "no store 'st_nope'"),
        (("{file}", "--days", "0"), "--days must be 1 to 90, not 0"),
        (("{file}", "--days", "91"), "--days must be 1 to 90, not 91"),
    ],
)
def test_simulate_refuses_bad_arguments_in_one_line(
    cli: Cli, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """
    A missing file, an unknown store, a window outside 1..90 days: exit 2, one line.
    """
    # given
    store = cli.create_store()["id"]
    tried = tmp_path / "tried.yaml"
    tried.write_text(TRIED)
    arguments = [a.format(file=tried) for a in args]
    if "--store" not in arguments:
        arguments += ["--store", store]
    # when
    result = cli.run("flows", "simulate", *arguments)
    # then
    assert 2 == result.returncode
    assert message in result.stderr
    assert 1 == len(result.stderr.strip().splitlines()), result.stderr
