"""
`cartback audiences apply/list` as an operator runs them: the built-ins until a file is
applied; an invalid file prints every error with its line, exits 2 and changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from harness import Cli

pytestmark = pytest.mark.e2e

FILE = """audiences:
  - name: big-checkouts
    stages: [checkout, payment_failed]
    when: "cart.total >= 100"
    window: 14d
    offer: {kind: percent, value: 10}
  - name: email-unengaged
    handed_over: true
    window: 30d
"""


def _listed(cli: Cli, store: str) -> dict[str, Any]:
    result = cli.run("audiences", "list", "--store", store, "--json")
    assert 0 == result.returncode, result.stderr
    listed: dict[str, Any] = json.loads(result.stdout)
    return listed


def test_built_ins_then_apply_then_list(cli: Cli, tmp_path: Path) -> None:
    """
    A new store lists the built-ins (and says so); applying a file replaces them, version 1.
    """
    # given
    store = cli.create_store()["id"]
    path = tmp_path / "audiences.yaml"
    path.write_text(FILE)
    # when
    before = cli.run("audiences", "list", "--store", store)
    applied = cli.run("audiences", "apply", str(path), "--store", store)
    after = _listed(cli, store)
    # then
    assert 0 == before.returncode, before.stderr
    assert "built-ins" in before.stdout
    assert "high-value" in before.stdout
    assert 0 == applied.returncode, applied.stderr
    assert "version 1" in applied.stdout
    assert ("applied", 1, ["big-checkouts", "email-unengaged"], "14d") == (
        after["origin"],
        after["version"],
        [a["name"] for a in after["audiences"]],
        after["audiences"][0]["window"],
    )


def test_an_invalid_file_prints_every_error_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    """
    Two mistakes, two lines on stderr with FILE:LINE:COLUMN, exit 2, still the built-ins.
    """
    # given
    store = cli.create_store()["id"]
    bad = tmp_path / "audiences.yaml"
    bad.write_text("audiences:\n  - name: a\n    stages: [basket]\n    window: soon\n")
    # when
    result = cli.run("audiences", "apply", str(bad), "--store", store)
    # then
    assert 2 == result.returncode
    errors = [line for line in result.stderr.splitlines() if line.startswith(str(bad))]
    assert [(f"{bad}:3:14", "audiences[0].stages[0]"), (f"{bad}:4:13", "audiences[0].window")] == [
        tuple(line.split(": ")[:2]) for line in errors
    ]
    assert "nothing changed" in result.stderr
    assert "defaults" == _listed(cli, store)["origin"]
