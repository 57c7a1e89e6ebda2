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


#: Concurrency levels tried; each endpoint's sustained maximum is its best level.
LEVELS = (32, 64, 128, 256)


def _sustained_maximum(
    url: str, script: str, *, seconds: int, env: dict[str, str], label: str
) -> tuple[WrkResult, int, list[WrkResult]]:
    """
    Raise the number of connections until throughput stops growing; the best run is the
    sustained maximum (a pipeline with group commit needs more requests in flight to fill).
    """
    runs = []
    for connections in LEVELS:
        runs.append(
            run_wrk(
                url,
                script,
                seconds=seconds,
                connections=connections,
                env={**env, "BENCH_RUN": f"{label}{connections}"},
            )
        )
    best = max(range(len(runs)), key=lambda n: runs[n].rate)
    return runs[best], LEVELS[best], runs


def bench_ingest(backend: str, *, seconds: int = 10) -> dict[str, Any]:
    """
    Single-event throughput vs the no-op baseline (each at its sustained maximum), latency at
    half the ingestion maximum, and batched throughput; every accepted event is checked to be
    stored.
    """
    with fresh_database(backend) as url:
        _store_id, key = create_bench_store(url)
        env = {"BENCH_KEY": key}
        with server(url) as running:
            run_wrk(running.url, "noop.lua", seconds=2, connections=32)
            warm = run_wrk(
                running.url,
                "track.lua",
                seconds=2,
                connections=32,
                env={**env, "BENCH_RUN": "warm"},
            )
            noop, noop_level, noop_runs = _sustained_maximum(
                running.url, "noop.lua", seconds=seconds, env=env, label="noop"
            )
            track, track_level, track_runs = _sustained_maximum(
                running.url, "track.lua", seconds=seconds, env=env, label="max"
            )
            half_rate = track.rate / 2
            paced = run_wrk(  # 32 clients, each pausing so that together they send half
                running.url,
                "track.lua",
                seconds=seconds,
                connections=32,
                env={
                    **env,
                    "BENCH_RUN": "half",
                    "BENCH_DELAY_MS": str(int(32 * 1000 / half_rate)),
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
    accepted = (
        warm.requests
        + sum(r.requests for r in track_runs)
        + paced.requests
        + batch.requests * BATCH_SIZE
    )
    failures = sum(r.failures for r in [*noop_runs, *track_runs, paced, batch])
    return {
        "backend": backend,
        "machine": machine(),
        "noop": {**asdict(noop), "connections": noop_level},
        "noop_by_connections": {str(c): r.rate for c, r in zip(LEVELS, noop_runs, strict=True)},
        "track": {**asdict(track), "connections": track_level},
        "track_by_connections": {str(c): r.rate for c, r in zip(LEVELS, track_runs, strict=True)},
        "ratio": round(track.rate / noop.rate, 3),
        "half_load": asdict(paced),
        "batch": asdict(batch),
        "batch_events_per_second": round(batch.rate * BATCH_SIZE),
        # wrk counts answers it saw; requests still in flight when it stops may be stored too
        "accepted_events": accepted,
        "stored_events": stored,
        "failures": failures,
    }
