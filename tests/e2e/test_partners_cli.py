"""
`cartback partners …` as an operator runs it: a pool program created from a codes file, more
codes added, listed, reported on and disabled; a bad codes file names its line, exits 2 and
writes nothing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from harness import Cli

pytestmark = pytest.mark.e2e

SEGMENT = 'cart.categories.exists(c, c == "socks")'


def _create(cli: Cli, store: str, codes: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli.run(
        "partners", "create", "--store", store, "--name", "acme", "--partner", "Acme Socks",
        "--segment", SEGMENT, "--when", "cart.total >= 20.0", "--kind", "percent",
        "--value", "15", "--codes-from", str(codes), "--expires-in", "72h", *extra,
    )  # fmt: skip


def test_a_pool_program_is_created_filled_reported_and_disabled(cli: Cli, tmp_path: Path) -> None:
    """
    The whole life of a program through the real command.
    """
    # given
    store = cli.create_store()["id"]
    first = tmp_path / "codes.txt"
    first.write_text("# from Acme, 2026-11\nacme-0001\n\nACME-0002\n")
    more = tmp_path / "more.txt"
    more.write_text("ACME-0002\nACME-0003\n")
    # when
    created = _create(cli, store, first, "--ends", "2027-01-01T00:00:00Z")
    added = cli.run("partners", "codes", "--store", store, "--name", "acme", "--from", str(more))
    disabled = cli.run("partners", "disable", "--store", store, "--name", "acme")
    listed = cli.run("partners", "list", "--store", store, "--json")
    report = cli.run("partners", "report", "--store", store, "--name", "acme", "--json")
    # then
    for result in (created, added, disabled, listed, report):
        assert 0 == result.returncode, result.stderr
    assert "created partner program acme (pool, 2 codes)" in created.stdout
    assert "added 1 codes (1 duplicates); 3 available" in added.stdout
    program = json.loads(listed.stdout)["data"][0]
    assert ("acme", False, "3d", "2027-01-01T00:00:00+00:00") == (
        program["name"],
        program["enabled"],
        program["expires_in"],
        program["ends_at"],
    )
    assert {"given": 0, "redeemed": 0, "codes_available": 3} == {
        k: v
        for k, v in json.loads(report.stdout).items()
        if k in ("given", "redeemed", "codes_available")
    }


def test_a_bad_codes_file_names_its_line_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    """
    The bad code's line is printed, the command exits 2, and no program exists.
    """
    # given
    store = cli.create_store()["id"]
    codes = tmp_path / "codes.txt"
    codes.write_text("ACME-0001\n\nno\n")
    # when
    result = _create(cli, store, codes)
    # then
    assert 2 == result.returncode
    assert [
        f"{codes}:3: 'no': 4 to 64 letters, digits and dashes",
        f"cartback: {codes}: 1 bad codes; nothing written",
    ] == result.stderr.strip().splitlines()
    assert "no partner programs" in cli.run("partners", "list", "--store", store).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--segment", "cart.total >"), "segment: bad expression"),
        (("--kind", "bogo"), "kind: 'bogo' is not one of"),
        (("--expires-in", "soon"), "--expires-in: 'soon' is not a duration"),
        (("--starts", "2026-12-01T00:00"), "--starts: give a time zone"),
    ],
)
def test_a_bad_option_is_one_line(
    cli: Cli, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """
    Bad input is one line on stderr and exit 2.
    """
    # given
    store = cli.create_store()["id"]
    codes = tmp_path / "codes.txt"
    codes.write_text("ACME-0001\n")
    # when
    result = _create(cli, store, codes, *args)
    # then
    assert 2 == result.returncode
    assert message in result.stderr
    assert 1 == len(result.stderr.strip().splitlines())
