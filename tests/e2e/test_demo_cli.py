"""
`cartback demo` as a newcomer runs it: a simulated shop through the real API and worker, on
the test's database (SQLite and PostgreSQL) or on its own fresh embedded one; the report is
written, carts are recovered, bots and buyers are never messaged, and a seed repeats itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from harness import Cli
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.e2e

#: A fixed first instant, so two runs on different days still match.
START = "2026-11-02T00:00:00Z"


def _demo(cli: Cli, directory: Path, **env: str) -> dict[str, Any]:
    result = cli.run(
        "demo",
        "--shoppers",
        "200",
        "--seed",
        "1",
        "--dir",
        str(directory),
        timeout=600.0,
        CARTBACK_DEMO_START=START,
        **env,
    )
    assert 0 == result.returncode, result.stderr[-2000:] + result.stdout[-2000:]
    assert "What the simulator knows" in result.stdout
    assert str((directory / "report.html").resolve()) in result.stdout
    assert "/admin" in result.stdout
    loaded: dict[str, Any] = json.loads((directory / "report.json").read_text())
    return loaded


def _count(database_url: str, sql: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def test_the_demo_recovers_carts_and_never_messages_bots_or_buyers(
    cli: Cli, database_url: str, tmp_path: Path
) -> None:
    """
    On the test's database: exit 0, the reports written, a cart recovered, no touch sent to a
    robot's cart and none sent after a cart's order.
    """
    # when
    summary = _demo(cli, tmp_path / "demo")
    # then
    assert (tmp_path / "demo" / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert summary["report"]["recovered_carts"] >= 1
    assert summary["truth"]["kinds"]["bot"] >= 1
    bot_touches = _count(
        database_url,
        "SELECT count(*) FROM touches t JOIN carts c ON c.id = t.cart_id "
        "LEFT JOIN contacts k ON k.id = c.contact_id "
        "WHERE t.sent_at IS NOT NULL AND (c.is_bot OR k.email LIKE '%storebotmail%')",
    )
    late_touches = _count(
        database_url,
        "SELECT count(*) FROM touches t JOIN carts c ON c.id = t.cart_id "
        "WHERE t.sent_at IS NOT NULL AND c.ordered_at IS NOT NULL AND t.sent_at > c.ordered_at",
    )
    assert (0, 0) == (bot_touches, late_touches)
    assert _count(database_url, "SELECT count(*) FROM carts WHERE is_bot") >= 1


def test_the_same_seed_gives_the_same_report(cli_env: dict[str, str], tmp_path: Path) -> None:
    """
    Two runs of one seed, each on its own fresh embedded database, write the same JSON.
    """
    # given
    cli = Cli(env=cli_env, cwd=tmp_path)
    # when
    first = _demo(cli, tmp_path / "one")
    second = _demo(cli, tmp_path / "two")
    # then
    assert first == second
