"""
The `cartback` command line as a user runs it: migrations, refusals, stores, the worker.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from harness import Cli
from sqlalchemy import select

from cartback.bootstrap import bootstrap
from cartback.domain.ingest import Inbound
from cartback.services.ingest import ingest
from cartback.settings import Environment, Settings
from cartback.sources.segment import ParseContext, parse_messages
from cartback.store.database import create_database_engine
from cartback.store.tables import api_keys, stores, webhook_secrets, workers
from helpers import TEST_SECRET, track

pytestmark = pytest.mark.e2e


@pytest.fixture
def empty_cli(empty_database_url: str, cli_env: dict[str, str], tmp_path: Path) -> Cli:
    """
    The CLI on a database that was never migrated.
    """
    return Cli(env={**cli_env, "CARTBACK_DATABASE_URL": empty_database_url}, cwd=tmp_path)


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["worker", "--once"]])
def test_serve_and_worker_refuse_an_unmigrated_database(empty_cli: Cli, command: list[str]) -> None:
    """
    Before `cartback migrate`, serve and worker exit non-zero with one line saying what to do.
    """
    # when
    result = empty_cli.run(*command)
    # then
    assert 0 != result.returncode
    assert [
        "cartback: the database is not migrated; run `cartback migrate` first"
    ] == result.stderr.strip().splitlines()[-1:]
    assert "Traceback" not in result.stderr


def test_migrate_is_idempotent(empty_cli: Cli) -> None:
    """
    Migrating twice reports the head both times and succeeds.
    """
    # when
    first, second = empty_cli.run("migrate"), empty_cli.run("migrate")
    # then
    assert (0, 0) == (first.returncode, second.returncode)
    assert first.stdout.startswith("database migrated to ")
    assert second.stdout.startswith("database already at ")


def test_store_create_json_prints_exactly_the_keys(cli: Cli, database_url: str) -> None:
    """
    `--json` prints one object with id, secret_key, public_key and webhook_secret; only digests
    of the API keys are stored, and the webhook secret only sealed.
    """
    # when
    result = cli.run(
        "store",
        "create",
        "--name",
        "Shop",
        "--platform",
        "shopify",
        "--domain",
        "a.example",
        "--json",
    )
    created = json.loads(result.stdout)
    # then
    assert {"id", "secret_key", "public_key", "webhook_secret"} == set(created)
    assert created["secret_key"].startswith("cb_sk_")
    assert created["public_key"].startswith("cb_pk_")
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        stored = [
            str(row)
            for table in (stores, api_keys, webhook_secrets)
            for row in connection.execute(select(table))
        ]
    engine.dispose()
    dump = "\n".join(stored)
    for secret in (created["secret_key"], created["public_key"], created["webhook_secret"]):
        assert secret not in dump


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--currency", "ZZZ"], "currency: 'ZZZ' is not an ISO 4217 currency code"),
        (["--timezone", "Mars/Olympus"], "timezone: 'Mars/Olympus' is not an IANA time zone"),
        (["--abandon-after", "5x"], "--abandon-after: '5x' is not a duration"),
        (["--abandon-after", "10s"], "abandon_after: must be between 1m and 30d"),
        (["--platform", "wix"], "platform: must be one of shopify, woocommerce, magento, custom"),
        (["--domain", "not a domain"], "domains: 'not a domain' is not a domain name"),
    ],
)
def test_store_create_refuses_bad_input_with_one_line(
    cli: Cli, database_url: str, options: list[str], message: str
) -> None:
    """
    A bad option exits 2 with one line naming the field, and creates nothing.
    """
    # given
    base = {"--name": "Shop", "--platform": "custom", "--domain": "a.example"}
    for flag, value in zip(options[::2], options[1::2], strict=True):
        base[flag] = value
    args = [part for pair in base.items() for part in pair]
    # when
    result = cli.run("store", "create", *args)
    # then
    assert 2 == result.returncode
    assert 1 == len(result.stderr.strip().splitlines())
    assert message in result.stderr
    engine = create_database_engine(database_url)
    with engine.connect() as connection:
        assert [] == connection.execute(select(stores.c.id)).all()
    engine.dispose()


def test_store_update_changes_settings_and_show_reads_them(cli: Cli) -> None:
    """
    `store update` changes the abandonment delay and `store show --json` reads it back.
    """
    # given
    store_id = cli.create_store()["id"]
    # when
    updated = cli.run("store", "update", store_id, "--abandon-after", "2h", "--currency", "eur")
    shown = json.loads(cli.run("store", "show", store_id, "--json").stdout)
    # then
    assert 0 == updated.returncode
    assert ("2h", "EUR") == (shown["abandon_after"], shown["currency"])


def test_store_update_sets_and_clears_peak_season(cli: Cli) -> None:
    """
    `--peak-season` with its options is shown by `store show`; a bad range is one line and
    changes nothing; `none` clears it.
    """
    # given
    store_id = cli.create_store()["id"]
    # when
    set_ = cli.run(
        "store",
        "update",
        store_id,
        "--peak-season",
        "2026-11-27..2026-11-30",
        "--peak-delay-factor",
        "1.5",
        "--peak-max-touches",
        "1",
        "--no-peak-pause-discounts",
    )
    bad = cli.run("store", "update", store_id, "--peak-season", "2026-11-30..2026-11-27")
    shown = json.loads(cli.run("store", "show", store_id, "--json").stdout)
    cleared = cli.run("store", "update", store_id, "--peak-season", "none")
    after = json.loads(cli.run("store", "show", store_id, "--json").stdout)
    # then
    assert (0, 2, 0) == (set_.returncode, bad.returncode, cleared.returncode)
    assert 1 == len(bad.stderr.strip().splitlines())
    assert "peak_periods: a peak period cannot end before it starts" in bad.stderr
    assert {
        "periods": [["2026-11-27", "2026-11-30"]],
        "delay_factor": 1.5,
        "max_touches": 1,
        "pause_discounts": False,
    } == shown["peak_season"]
    assert after["peak_season"] is None


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["store", "update", "st_nope", "--name", "X"], 1, "no store 'st_nope'"),
        (["store", "show", "st_nope"], 1, "no store 'st_nope'"),
        (["store", "update", "st_nope"], 2, "nothing to change"),
    ],
)
def test_store_commands_explain_unknown_ids_in_one_line(
    cli: Cli, args: list[str], code: int, message: str
) -> None:
    """
    Unknown store ids and empty updates exit non-zero with one line.
    """
    # when
    result = cli.run(*args)
    # then
    assert code == result.returncode
    assert 1 == len(result.stderr.strip().splitlines())
    assert message in result.stderr


def test_production_refuses_to_start_without_a_secret(cli: Cli) -> None:
    """
    CARTBACK_ENV=production with no CARTBACK_SECRET_KEY is refused before anything starts.
    """
    # given
    env = {**cli.env, "CARTBACK_ENV": "production"}
    env.pop("CARTBACK_SECRET_KEY")
    # when
    result = Cli(env=env, cwd=cli.cwd).run("serve", "--port", "1")
    # then
    assert 2 == result.returncode
    assert "CARTBACK_SECRET_KEY is required when CARTBACK_ENV=production" in result.stderr
    assert 1 == len(result.stderr.strip().splitlines())


def _ingest_past_cart(database_url: str, tmp_path: Path, store_id: str, cart_id: str) -> None:
    """
    Put a cart whose inactivity ran out an hour ago into the database, through the service.
    """
    settings = Settings(
        database_url=database_url,
        env=Environment.TEST,
        secret_key=TEST_SECRET,
        data_dir=tmp_path / "data",
    )
    container = bootstrap(settings)
    now = datetime.now(UTC)
    message = track(
        "Product Added", at=now - timedelta(hours=1), cart_id=cart_id, product_id="p", price=3
    )
    parsed = parse_messages([message], context=ParseContext(now=now))
    messages: list[Inbound] = parsed.messages
    ingest(uow=container.uow_factory(), clock=container.clock, store_id=store_id, messages=messages)
    container.close()


def test_worker_once_marks_due_carts_and_exits(cli: Cli, database_url: str, tmp_path: Path) -> None:
    """
    `cartback worker --once` abandons what is due, says how many, and exits 0.
    """
    # given
    store_id = cli.create_store()["id"]
    _ingest_past_cart(database_url, tmp_path, store_id, "cart-due")
    # when
    result = cli.run("worker", "--once")
    # then
    assert 0 == result.returncode, result.stderr
    assert "processed 1 due carts" == result.stdout.strip()


def test_worker_stops_gracefully_on_sigterm(cli: Cli, database_url: str, tmp_path: Path) -> None:
    """
    SIGTERM lets the worker finish its pass, record that it stopped, and exit 0.
    """
    # given
    process = cli.start("worker", log=tmp_path / "worker.log")
    engine = create_database_engine(database_url)
    deadline = time.monotonic() + 30
    registered = False
    while time.monotonic() < deadline and not registered:
        with engine.connect() as connection:
            registered = bool(connection.execute(select(workers.c.id)).first())
        time.sleep(0.1)
    # when
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    # then
    with engine.connect() as connection:
        stopped = connection.execute(select(workers.c.stopped_at)).scalar_one()
    engine.dispose()
    assert registered
    assert 0 == code
    assert stopped is not None
