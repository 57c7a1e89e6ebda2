"""
What every benchmark needs: a fresh database, a store, a running server, and a description of
the machine the numbers came from.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from cartback.bootstrap import bootstrap
from cartback.services.stores import StoreSettings, create_store
from cartback.settings import Environment, Settings
from cartback.store.migrate import upgrade

POSTGRES_URL = os.environ.get(
    "CARTBACK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SECRET = "bench-secret-key-that-is-long-enough-0123456789"


def machine() -> dict[str, str]:
    """
    The hardware and software the numbers were measured on.
    """
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


@contextlib.contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """
    A new, migrated database for one run, removed afterwards.
    """
    if backend == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="cartback-bench-"))
        url = f"sqlite:///{directory / 'bench.db'}"
        try:
            _migrate(url)
            yield url
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    name = f"cartback_bench_{os.urandom(4).hex()}"
    admin = make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _migrate(url: str) -> None:
    container = bootstrap(settings(url))
    upgrade(container.engine)
    container.close()


def settings(url: str) -> Settings:
    """
    Settings for a benchmark process: no rate limit in the way, quiet logs.
    """
    return Settings(
        database_url=url,
        env=Environment.TEST,
        secret_key=SECRET,
        data_dir=Path(tempfile.gettempdir()) / "cartback-bench-data",
        ingest_rate=1e9,
        ingest_burst=1_000_000_000,
    )


def create_bench_store(url: str, *, abandon_after_minutes: int = 30) -> tuple[str, str]:
    """
    A store; returns its id and server key.
    """
    from datetime import timedelta

    container = bootstrap(settings(url))
    created = create_store(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        settings=StoreSettings(
            name="Bench",
            platform="custom",
            domains=["bench.example"],
            abandon_after=timedelta(minutes=abandon_after_minutes),
        ),
    )
    container.close()
    return created.store.id, created.secret_key


def free_port() -> int:
    """
    A TCP port nobody listens on right now.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningServer:
    """
    A `cartback serve` process.
    """

    process: subprocess.Popen[bytes]
    url: str


@contextlib.contextmanager
def server(url: str, *, web_workers: int = 1) -> Iterator[RunningServer]:
    """
    `cartback serve --no-worker --bench-routes` on the database, ready to take load.
    """
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CARTBACK_")},
        "CARTBACK_DATABASE_URL": url,
        "CARTBACK_ENV": "test",
        "CARTBACK_SECRET_KEY": SECRET,
        "CARTBACK_INGEST_RATE": "1000000000",
        "CARTBACK_INGEST_BURST": "1000000000",
        "CARTBACK_LOG_LEVEL": "warning",
    }
    command = [
        sys.executable,
        "-m",
        "cartback",
        "serve",
        "--port",
        str(port),
        "--no-worker",
        "--bench-routes",
        "--workers",
        str(web_workers),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start")
        yield RunningServer(process=process, url=base)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def median_claim_ms(
    factory: Callable[[], Any],
    claim: Callable[[Any, datetime, int], Sized],
    *,
    limit: int,
    repeats: int,
) -> float:
    """
    The median time of `repeats` claims of `limit` due rows (`claim(uow, now, limit)`), each
    rolled back so the next claims the same rows.

    Raises:
        RuntimeError: a claim found fewer due rows than `limit`.
    """
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        with factory() as uow:
            claimed = claim(uow, datetime.now(UTC), limit)
            uow.rollback()
        timings.append((time.perf_counter() - started) * 1000)
        if len(claimed) != limit:
            raise RuntimeError(f"expected {limit} due rows, claimed {len(claimed)}")
    return statistics.median(timings)
