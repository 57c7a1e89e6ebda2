"""
Ingestion throughput and latency, measured with wrk against a real `cartback serve`, as a ratio
against a no-op route on the same server in the same run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench._env import create_bench_store, fresh_database, machine, server
from cartback.store.database import create_database_engine
from cartback.store.tables import raw_events

LUA = Path(__file__).parent / "lua"
BATCH_SIZE = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class WrkResult:
    """
    One wrk run: completed requests, their rate, failures and latency percentiles (ms).
    """

    requests: int
    rate: float
    failures: int
    p50_ms: float
    p99_ms: float


def run_wrk(
    url: str, script: str, *, seconds: int, connections: int, env: dict[str, str] | None = None
) -> WrkResult:
    """
    Run wrk with one load thread and parse what it reports.
    """
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / script),
        url,
    ]
    output = subprocess.run(
        command, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=True
    ).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failures = int(failed.group(1)) if failed else 0
    failures += sum(int(n) for n in errors.groups()) if errors else 0
    latency = re.search(r"BENCH_LATENCY p50=(\d+) p90=\d+ p99=(\d+)", output)
    p50, p99 = (int(latency.group(1)) / 1000, int(latency.group(2)) / 1000) if latency else (0, 0)
    return WrkResult(requests=requests, rate=rate, failures=failures, p50_ms=p50, p99_ms=p99)


def _stored_events(url: str) -> int:
    engine = create_database_engine(url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(raw_events)).scalar_one()
    engine.dispose()
    return int(count)


def bench_ingest(backend: str, *, seconds: int = 10, connections: int = 32) -> dict[str, Any]:
    """
    Single-event throughput vs the no-op baseline, latency at half the sustained maximum, and
    batched throughput; every accepted event is checked to be stored.
    """
    with fresh_database(backend) as url:
        _store_id, key = create_bench_store(url)
        env = {"BENCH_KEY": key}
        with server(url) as running:
            run_wrk(running.url, "noop.lua", seconds=2, connections=connections)
            warm = run_wrk(
                running.url,
                "track.lua",
                seconds=2,
                connections=connections,
                env={**env, "BENCH_RUN": "warm"},
            )
            noop = run_wrk(running.url, "noop.lua", seconds=seconds, connections=connections)
            track = run_wrk(
                running.url,
                "track.lua",
                seconds=seconds,
                connections=connections,
                env={**env, "BENCH_RUN": "max"},
            )
            half_rate = track.rate / 2
            paced = run_wrk(
                running.url,
                "track.lua",
                seconds=seconds,
                connections=connections,
                env={
                    **env,
                    "BENCH_RUN": "half",
                    "BENCH_DELAY_MS": str(int(connections * 1000 / half_rate)),
                },
            )
            batch = run_wrk(
                running.url,
                "batch.lua",
                seconds=seconds,
                connections=4,
                env={**env, "BENCH_RUN": "batch", "BENCH_BATCH": str(BATCH_SIZE)},
            )
        stored = _stored_events(url)
    accepted = warm.requests + track.requests + paced.requests + batch.requests * BATCH_SIZE
    return {
        "backend": backend,
        "machine": machine(),
        "noop": asdict(noop),
        "track": asdict(track),
        "ratio": round(track.rate / noop.rate, 3),
        "half_load": asdict(paced),
        "batch": asdict(batch),
        "batch_events_per_second": round(batch.rate * BATCH_SIZE),
        # wrk counts answers it saw; requests still in flight when it stops may be stored too
        "accepted_events": accepted,
        "stored_events": stored,
        "failures": noop.failures + track.failures + paced.failures + batch.failures,
    }
