"""
The honest test of the measurement: over 20 seeds, the simulator's true incremental recovery
(which it knows, because it decides who would have bought anyway) lies inside the report's
95 % holdout interval in at least 17, and the lift is not biased against the truth.

In CI the shop is small (the full size takes about 50 s of CPU per seed), so every
flow holds out half its carts instead of the shipped tenth: the interval is then about 37
points wide on average (±19), and the bias check over 20 seeds catches a lift that is off
by about 6 points or more. The demo's own
embedded SQLite database is used (as `cartback demo` does), so the test runs once, not once per
backend: in a run whose backends include SQLite (CI's SQLite half).
`CARTBACK_FULL_CALIBRATION=1` runs the demo's full size with the shipped flows.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cartback.commands.demo import run_demo
from helpers import BACKENDS

FULL = os.environ.get("CARTBACK_FULL_CALIBRATION", "") == "1"
#: A file for every seed's figures as JSON (how docs/demo.md's calibration figures were read).
REPORT = os.environ.get("CARTBACK_CALIBRATION_REPORT", "")
#: Shoppers, days, step minutes and holdout share.
SHOPPERS, DAYS, STEP, HOLDOUT = (2000, 7, 15, None) if FULL else (200, 2, 60, 0.5)
SEEDS = range(1, 21)
START = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.mark.skipif("sqlite" not in BACKENDS, reason="the demo runs on its embedded SQLite")
def test_the_truth_lies_inside_the_holdout_interval_for_most_seeds(tmp_path: Path) -> None:
    """
    At least 17 of 20 seeds cover the truth (a 95 % interval should cover about 19), and the
    mean of lift minus truth is within three of its standard errors of zero.
    """
    # when
    covered, errors, variances, widths = 0, [], [], []
    rows: list[dict[str, float]] = []
    for seed in SEEDS:
        directory = tmp_path / str(seed)
        directory.mkdir()
        url = f"sqlite:///{directory / 'demo.db'}"
        document, truth, _ = run_demo(
            url, directory, SHOPPERS, DAYS, seed, START, STEP, holdout=HOLDOUT
        )
        holdout = document["holdout"]
        rate = truth["incremental_rate"]
        assert rate is not None, f"seed {seed}: no treated carts"
        low, high = holdout["ci_low"], holdout["ci_high"]
        covered += low <= rate <= high
        errors.append(holdout["lift"] - rate)
        variances.append(((high - low) / (2 * 1.96)) ** 2)
        widths.append(high - low)
        rows.append(
            {"seed": seed, "truth": rate, "lift": holdout["lift"], "low": low, "high": high}
        )
    # then
    bias = sum(errors) / len(errors)
    error = math.sqrt(sum(variances)) / len(variances)
    summary = (
        f"covered {covered}/{len(SEEDS)}, mean width {sum(widths) / len(widths):.3f}, "
        f"mean lift - truth {bias:+.3f} (standard error {error:.3f})"
    )
    if REPORT:
        Path(REPORT).write_text(json.dumps({"summary": summary, "seeds": rows}, indent=2))
    assert covered >= 17, summary
    assert abs(bias) <= 3 * error, summary
