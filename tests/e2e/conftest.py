"""
End-to-end fixtures: the CLI on the test's database, and a running server with one store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Cli, Server, start_server

from helpers import TEST_SECRET


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """
    The environment every subprocess gets: test settings, no inherited CARTBACK_ variables.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTBACK_")}
    env.update(
        CARTBACK_ENV="test",
        CARTBACK_SECRET_KEY=TEST_SECRET,
        CARTBACK_DATA_DIR=str(tmp_path / "data"),
        CARTBACK_LOG_FORMAT="json",
        CARTBACK_LOG_LEVEL="info",
        CARTBACK_PASSWORD_HASH_PROFILE="cheapest",
    )
    return env


@pytest.fixture
def cli(database_url: str, cli_env: dict[str, str], tmp_path: Path) -> Cli:
    """
    The CLI on the test's (migrated) database.
    """
    return Cli(env={**cli_env, "CARTBACK_DATABASE_URL": database_url}, cwd=tmp_path)


@pytest.fixture
def server(cli: Cli, tmp_path: Path) -> Iterator[Server]:
    """
    A running server with one store (abandonment after 1 minute).
    """
    keys = cli.create_store("--abandon-after", "1m")
    running = start_server(cli, tmp_path)
    running.keys = keys
    yield running
    running.stop()
