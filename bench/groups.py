"""
What one ingestion group costs the writer, in its own process: CPU and wall time per group of
one event (the shape of light load, where each request is a group of its own) and of 100
events (heavy load), against a baseline of the same store's read alone. No HTTP, no load
generator: the figures say where the writer's time goes, not how the service scales.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import Any

import orjson

from bench._env import create_bench_store, fresh_database, machine, settings
from cartback._logging import configure_logging
from cartback.api.ingest_work import IngestRequest, answer_requests
from cartback.bootstrap import Container, bootstrap

#: Group sizes measured, and how many groups of each.
SHAPES = ((1, 600), (100, 20))
WARM_GROUPS = 100


def _request(container: Container, store_id: str, number: int) -> IngestRequest:
    body = orjson.dumps(
        {
            "type": "track",
            "event": "Product Added",
            "messageId": f"m-{number}",
            "anonymousId": f"a-{number}",
            "properties": {
                "cart_id": f"c-{number}",
                "product_id": "p-1",
                "name": "Mug",
                "price": 12.5,
                "quantity": 1,
                "currency": "USD",
            },
        }
    )
    return IngestRequest(
        store_id=store_id, body=body, single=True, single_type="track", now=container.clock.now()
    )


def _timed(run: Any, times: int) -> tuple[float, float]:
    """
    Median CPU (this thread) and wall milliseconds of `run()` over `times` calls.
    """
    cpu, wall = [], []
    for _ in range(times):
        cpu_start, wall_start = time.thread_time(), time.perf_counter()
        run()
        cpu.append((time.thread_time() - cpu_start) * 1000)
        wall.append((time.perf_counter() - wall_start) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def bench_groups(backend: str) -> dict[str, Any]:
    """
    Per-group CPU and wall time of `answer_requests` (the writer's whole job for a group), and
    of the store read every group starts with, as the baseline.
    """
    configure_logging(level="warning", json_logs=False)  # as the benchmarked server runs
    with fresh_database(backend) as url:
        store_id, _key = create_bench_store(url)
        container = bootstrap(settings(url), ping_on_checkout=False)
        numbers = iter(range(10_000_000))

        def group(size: int) -> None:
            requests = [_request(container, store_id, next(numbers)) for _ in range(size)]
            answer_requests(
                uow_factory=container.uow_factory, clock=container.clock, requests=requests
            )

        def store_read() -> None:
            with container.uow_factory() as uow:
                uow.stores.get(store_id)

        for _ in range(WARM_GROUPS):
            group(1)
        gc.collect()
        gc.freeze()  # as the writer process does after start-up
        base_cpu, base_wall = _timed(store_read, 600)
        shapes = {}
        for size, count in SHAPES:
            cpu, wall = _timed(lambda size=size: group(size), count)
            shapes[str(size)] = {
                "groups": count,
                "cpu_ms": round(cpu, 2),
                "wall_ms": round(wall, 2),
                "cpu_ms_per_event": round(cpu / size, 3),
                "cpu_vs_store_read": round(cpu / base_cpu, 1),
            }
        container.close()
    return {
        "backend": backend,
        "machine": machine(),
        "store_read": {"cpu_ms": round(base_cpu, 3), "wall_ms": round(base_wall, 3)},
        "groups_by_size": shapes,
    }
