"""
The harness forks commands from a zygote that imported `cartback` once: a forked command must
behave exactly as `python -m cartback` run afresh (same output, same exit status, same
environment and working directory, signals reach it).
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest
from harness import Cli

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "args",
    [
        ("store", "create", "--name", "Shop", "--currency", "ZZZ", "--json"),
        ("store", "show", "st_nope"),
        (
            "store",
            "create",
            "--name",
            "Shop",
            "--platform",
            "custom",
            "--domain",
            "shop.example.com",
            "--json",
        ),
        ("no-such-command",),
    ],
)
def test_a_forked_command_answers_as_a_fresh_process_does(cli: Cli, args: tuple[str, ...]) -> None:
    """
    Exit status, standard output and standard error are the same, forked or executed.
    """
    # given
    executed_cli, forked_cli = replace(cli, fork=False), replace(cli, fork=True)
    # when
    executed = executed_cli.run(*args)
    forked = forked_cli.run(*args)
    # then
    assert executed.returncode == forked.returncode
    assert _stable(executed.stderr) == _stable(forked.stderr)
    assert _stable(executed.stdout) == _stable(forked.stdout)


def test_a_forked_command_gets_the_environment_and_directory_it_is_given(
    cli: Cli, tmp_path: Path
) -> None:
    """
    The zygote's own environment does not leak into a command: the test's settings apply.
    """
    # given
    forked = replace(cli, fork=True)
    # when: a store is created through the forked CLI on the test's database ...
    result = forked.run(
        "store",
        "create",
        "--name",
        "Shop",
        "--platform",
        "custom",
        "--domain",
        "shop.example.com",
        "--json",
    )
    assert 0 == result.returncode, result.stderr
    created = json.loads(result.stdout)
    # then: ... and an executed CLI on the same settings reads it back
    shown = replace(cli, fork=False).run("store", "show", created["id"], "--json")
    assert created["id"] == json.loads(shown.stdout)["id"]


def test_a_forked_long_running_command_ends_on_sigterm_with_its_status(
    cli: Cli, tmp_path: Path
) -> None:
    """
    `start` gives a process that signals reach and whose exit status is read back.
    """
    # given
    log = tmp_path / "worker.log"
    process = replace(cli, fork=True).start("worker", log=log)
    deadline = time.monotonic() + 30
    while "worker.started" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.poll() is None
    # when
    process.send_signal(signal.SIGTERM)
    # then
    assert 0 == process.wait(timeout=20)
    assert "worker.stopped" in log.read_text()


def _stable(text: str) -> str:
    # Click names the program as it was started: `cartback` forked (as the installed script),
    # `python -m cartback` executed. Generated ids and keys differ between two runs; their
    # shape does not.
    text = text.replace("python -m cartback", "cartback")
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return json.dumps(sorted(data)) if isinstance(data, dict) else text
