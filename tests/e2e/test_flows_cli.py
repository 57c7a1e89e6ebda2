"""
`cartback flows apply/list` as an operator runs them: the shipped defaults until a file is
applied; an invalid file prints every error with its line, exits 2 and changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import Cli

pytestmark = pytest.mark.e2e

CONTRACT = Path(__file__).parent.parent / "fixtures" / "flows" / "contract.yaml"


def _listed(cli: Cli, store: str) -> dict[str, object]:
    result = cli.run("flows", "list", "--store", store, "--json")
    assert 0 == result.returncode, result.stderr
    listed: dict[str, object] = json.loads(result.stdout)
    return listed


def test_defaults_then_apply_then_list(cli: Cli) -> None:
    """
    A new store lists the shipped defaults (and says so); applying the contract's file
    replaces them with version 1.
    """
    # given
    store = cli.create_store()["id"]
    # when
    before = cli.run("flows", "list", "--store", store)
    applied = cli.run("flows", "apply", str(CONTRACT), "--store", store)
    after = _listed(cli, store)
    # then
    assert 0 == before.returncode, before.stderr
    assert "shipped defaults" in before.stdout
    assert "checkout-high-value" in before.stdout
    assert 0 == applied.returncode, applied.stderr
    assert "version 1" in applied.stdout
    assert ("applied", 1, ["checkout-recovery"]) == (
        after["origin"],
        after["version"],
        [f["name"] for f in after["flows"]],  # type: ignore[attr-defined]
    )


def test_an_invalid_file_prints_every_error_and_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    """
    Two mistakes, two lines on stderr with FILE:LINE:COLUMN, exit 2, still the defaults.
    """
    # given
    store = cli.create_store()["id"]
    bad = tmp_path / "flows.yaml"
    bad.write_text(
        "flows:\n"
        "  - name: a\n"
        "    trigger: {stages: [cart], colour: red}\n"
        "    steps: [{wait: soon, channel: email, template: a}]\n"
    )
    # when
    result = cli.run("flows", "apply", str(bad), "--store", store)
    # then
    assert 2 == result.returncode
    assert [
        f"{bad}:3:31: flows[0].trigger.colour: unknown key 'colour'; expected one of stages, "
        "inactive_for, kind, window",
        f"{bad}:4:20: flows[0].steps[0].wait: 'soon' is not a duration; write it like 45s, "
        "30m, 1h or 2d",
        f"cartback: {bad}: the flow file has 2 errors; nothing changed",
    ] == result.stderr.strip().splitlines()
    assert "defaults" == _listed(cli, store)["origin"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("apply", "/nonexistent/flows.yaml", "--store", "st_x"), 2, "cannot read"),
        (("list", "--store", "st_nope"), 1, "no store 'st_nope'"),
    ],
)
def test_bad_arguments_are_one_line(
    cli: Cli, args: tuple[str, ...], code: int, message: str
) -> None:
    """
    A missing file and an unknown store.
    """
    # when
    result = cli.run("flows", *args)
    # then
    assert code == result.returncode
    assert message in result.stderr
    assert 1 == len(result.stderr.strip().splitlines())
