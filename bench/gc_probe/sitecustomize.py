"""
Garbage-collector pauses per process, for the ingestion benchmark's latency tail.

Put this directory first on PYTHONPATH and set GC_PROBE_DIR to a directory: every Python
process started that way (the benchmark, `cartback serve`, its writer process) writes
`<pid>.json` there after each full collection and when it exits: its command line; per
generation, how many collections ran, their total and their longest pause in milliseconds;
and every full (generation 2) pause in order, with how many objects it freed, how many were
left in the oldest generation and how many were frozen (out of its reach). See
docs/benchmarks.md, "Ingestion".
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

_OUT = os.environ.get("GC_PROBE_DIR")
_started: list[float] = []
_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
#: For each full collection: objects freed, objects left in generation 2, frozen objects.
_full: list[tuple[int, int, int]] = []


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        _pauses[info["generation"]].append((time.perf_counter() - _started.pop()) * 1000)
        if info["generation"] == 2:
            _full.append(
                (info["collected"], len(gc.get_objects(generation=2)), gc.get_freeze_count())
            )
            _write()  # now too: a process may end without running `atexit` (a killed writer)


def _write() -> None:
    summary = {
        "pid": os.getpid(),
        "argv": sys.argv,
        "generations": {
            str(generation): {
                "collections": len(pauses),
                "total_ms": round(sum(pauses), 1),
                "longest_ms": round(max(pauses, default=0.0), 1),
            }
            for generation, pauses in _pauses.items()
        },
        "full_pauses_ms": [round(pause, 1) for pause in _pauses[2]],
        "full_collected_left_frozen": _full,
    }
    Path(str(_OUT), f"{os.getpid()}.json").write_text(json.dumps(summary) + "\n")


if _OUT:
    Path(_OUT).mkdir(parents=True, exist_ok=True)
    gc.callbacks.append(_on_collection)
    atexit.register(_write)
