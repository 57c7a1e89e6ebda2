"""
`cartback operator create|list|disable`, the real command line on a migrated database: the
password from standard input, every bad input one line on stderr and a non-zero exit, and
nothing written.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from harness import Cli
from sqlalchemy import func, select

from cartback.kit.passwords import Argon2Hasher
from cartback.store.database import create_database_engine
from cartback.store.tables import operator_stores, operators

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def _create(cli: Cli, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    return cli.run("operator", "create", *args, input=password + "\n")


def _count(database_url: str) -> int:
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(operators)).scalar())
    finally:
        engine.dispose()


def test_create_reads_the_password_from_stdin_and_keeps_only_an_argon2_hash(
    cli: Cli, database_url: str
) -> None:
    """
    `operator create --password-stdin --store ID` creates the operator for that store; the
    stored hash is argon2id and verifies the password; `operator list --json` shows it.
    """
    # given
    store = cli.create_store()["id"]
    # when
    created = _create(cli, "--email", "Ops@Example.com", "--store", store, "--password-stdin")
    # then
    assert 0 == created.returncode, created.stderr
    assert "created operator ops@example.com" in created.stdout
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(select(operators.c.password_hash)).scalar_one()
            stores = connection.execute(select(operator_stores.c.store_id)).scalars().all()
    finally:
        engine.dispose()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert Argon2Hasher().verify(stored, PASSWORD)
    assert [store] == stores
    listed = cli.run("operator", "list", "--json")
    assert 0 == listed.returncode, listed.stderr
    [shown] = json.loads(listed.stdout)
    assert ("ops@example.com", False, [store]) == (
        shown["email"],
        shown["all_stores"],
        shown["stores"],
    )


def test_disable_marks_the_operator_disabled(cli: Cli) -> None:
    """
    `operator disable --email` disables; the list says so.
    """
    assert (
        0 == _create(cli, "--email", "a@example.com", "--all-stores", "--password-stdin").returncode
    )
    disabled = cli.run("operator", "disable", "--email", "a@example.com")
    assert 0 == disabled.returncode, disabled.stderr
    listed = cli.run("operator", "list")
    assert "disabled" in listed.stdout
    assert "all stores" in listed.stdout


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["--email", "a@example.com", "--all-stores"], "short", "at least 12 characters"),
        (["--email", "a@example.com"], PASSWORD, "--all-stores or at least one store"),
        (["--email", "a@example.com", "--all-stores", "--store", "st_x"], PASSWORD, "not both"),
        (["--email", "a@example.com", "--store", "st_unknown"], PASSWORD, "no such store"),
        (["--email", "not-an-email", "--all-stores"], PASSWORD, "not a valid email"),
        (["--email", "a@example.com", "--all-stores"], "   " * 5, "must not be blank"),
    ],
    ids=["short-password", "no-stores", "both", "unknown-store", "bad-email", "blank-password"],
)
def test_create_refuses_bad_input_in_one_line_and_writes_nothing(
    cli: Cli, database_url: str, args: list[str], password: str, message: str
) -> None:
    """
    Every refusal: exit 2, one line on stderr naming the problem, no operator.
    """
    result = _create(cli, *args, "--password-stdin", password=password)
    assert 2 == result.returncode, result.stdout
    lines = result.stderr.strip().splitlines()
    assert 1 == len(lines), result.stderr
    assert lines[0].startswith("cartback: ")
    assert message in lines[0]
    assert 0 == _count(database_url)


def test_a_second_operator_with_the_same_email_is_refused(cli: Cli, database_url: str) -> None:
    """
    Emails are unique (whatever their case): exit 1, one line, still one operator.
    """
    assert (
        0 == _create(cli, "--email", "a@example.com", "--all-stores", "--password-stdin").returncode
    )
    again = _create(cli, "--email", "A@example.com", "--all-stores", "--password-stdin")
    assert 1 == again.returncode
    assert "exists" in again.stderr
    assert 1 == _count(database_url)


def test_without_a_terminal_the_password_must_come_from_stdin(cli: Cli, database_url: str) -> None:
    """
    No terminal to prompt on and no --password-stdin: refused, nothing read from the pipe.
    """
    result = _create(cli, "--email", "a@example.com", "--all-stores")
    assert 2 == result.returncode
    assert "--password-stdin" in result.stderr
    assert 0 == _count(database_url)


def test_disabling_an_unknown_operator_fails_in_one_line(cli: Cli) -> None:
    """
    Nothing to disable: exit 1 and a reason.
    """
    result = cli.run("operator", "disable", "--email", "nobody@example.com")
    assert 1 == result.returncode
    assert "no operator with the email nobody@example.com" in result.stderr
