"""
The product feed benchmark (`python -m bench feed`) at a small size, so a change that breaks it
is caught by the suite; the 100,000-item run is for `docs/benchmarks.md` only. Nothing here
asserts a time or a memory figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import BACKENDS

ROOT = Path(__file__).parent.parent.parent
_RUN = (
    "import json; from bench.feed import bench_feed; "
    "print(json.dumps(bench_feed('sqlite', items=250)))"
)


@pytest.mark.skipif("sqlite" not in BACKENDS, reason="the smoke run uses SQLite")
def test_the_feed_benchmark_runs_and_both_ways_produce_the_same_document() -> None:
    """
    250 items: the streamed feed and the whole-document baseline are the same size, and both
    peaks are measured.
    """
    # given
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARTBACK_")}
    env["CARTBACK_LOG_LEVEL"] = "warning"
    # when
    done = subprocess.run(
        [sys.executable, "-c", _RUN], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    # then
    assert 0 == done.returncode, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert 250 == result["items"]
    assert result["streamed"]["bytes"] == result["whole_document_baseline"]["bytes"] > 0
    assert result["streamed"]["peak_mib"] > 0
    assert result["whole_document_baseline"]["peak_mib"] > 0
