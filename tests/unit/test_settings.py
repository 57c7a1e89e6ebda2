"""
Settings (`settings.py`) from environment variables and `.env`: defaults, the production secret
rule, key rotation, and the development key generated once into the data directory.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from cartback.domain.errors import ConfigurationError
from cartback.kit.passwords import Argon2Hasher
from cartback.settings import (
    MIN_SECRET_LENGTH,
    EmailBackend,
    Environment,
    LogFormat,
    Settings,
    SmsBackend,
    _create_key_file,
)

LONG_KEY = "k" * MIN_SECRET_LENGTH
OTHER_LONG_KEY = "o" * MIN_SECRET_LENGTH


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """
    No CARTBACK_ variable from the outer environment and no `.env` but the test's own.
    """
    for name in list(os.environ):
        if name.startswith("CARTBACK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """
    Sets CARTBACK_ variables by keyword: `environment(env="production")`.
    """

    def put(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"CARTBACK_{name.upper()}", value)

    return put


def test_defaults_need_no_configuration() -> None:
    """
    With nothing set, Cartback runs in development on SQLite with the outbox backends.
    """
    # given / when
    settings = Settings()
    # then
    assert (
        "sqlite:///./cartback.db",
        Environment.DEVELOPMENT,
        "http://127.0.0.1:8000",
        EmailBackend.OUTBOX,
        SmsBackend.OUTBOX,
        None,
    ) == (
        settings.database_url,
        settings.env,
        settings.base_url,
        settings.email_backend,
        settings.sms_backend,
        settings.secret_key,
    )


def test_prefixed_environment_variables_are_read(environment: Callable[..., None]) -> None:
    """
    CARTBACK_-prefixed variables configure the service.
    """
    # given
    environment(database_url="postgresql+psycopg://db/cartback", email_backend="smtp", env="test")
    # when
    settings = Settings()
    # then
    assert ("postgresql+psycopg://db/cartback", EmailBackend.SMTP, Environment.TEST) == (
        settings.database_url,
        settings.email_backend,
        settings.env,
    )


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    """
    A `.env` file in the working directory counts like the environment.
    """
    # given
    (tmp_path / ".env").write_text("CARTBACK_BASE_URL=https://shop.example.com\n")
    # when
    settings = Settings()
    # then
    assert "https://shop.example.com" == settings.base_url


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("500ms", 0.5), ("0.5s", 0.5), ("2s", 2.0), ("1m", 60.0), ("PT0.5S", 0.5), ("0.25", 0.25)],
)
def test_worker_durations_read_as_the_docs_write_them(
    environment: Callable[..., None], value: str, seconds: float
) -> None:
    """
    `500ms`, `0.5s`, `1m`, ISO 8601 and plain seconds all work.
    """
    # given
    environment(worker_poll_interval=value)
    # when
    settings = Settings()
    # then
    assert seconds == settings.worker_poll_interval.total_seconds()


def test_an_empty_variable_means_the_default(environment: Callable[..., None]) -> None:
    """
    `CARTBACK_DATABASE_URL=` is as if it were not set.
    """
    # given
    environment(database_url="")
    # when
    settings = Settings()
    # then
    assert "sqlite:///./cartback.db" == settings.database_url


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("env", "staging"),
        ("email_backend", "pigeon"),
        ("ingest_rate", "0"),
        ("ingest_burst", "-1"),
        ("worker_lease", "0.5s"),
        ("worker_lease", "soon"),
    ],
)
def test_invalid_values_are_refused(
    environment: Callable[..., None], name: str, value: str
) -> None:
    """
    Unknown environments and backends, and non-positive rates, are refused at start.
    """
    # given
    environment(**{name: value})
    # when / then
    with pytest.raises(ValidationError, match=name):
        Settings()


@pytest.mark.parametrize("secret", [None, "", " , "])
def test_production_refuses_a_missing_secret(
    environment: Callable[..., None], secret: str | None
) -> None:
    """
    Production does not start without CARTBACK_SECRET_KEY.
    """
    # given
    environment(env="production")
    if secret is not None:
        environment(secret_key=secret)
    # when / then
    with pytest.raises(ValidationError, match="CARTBACK_SECRET_KEY is required"):
        Settings()


@pytest.mark.parametrize(
    "secret",
    ["short", "x" * (MIN_SECRET_LENGTH - 1), f"{LONG_KEY},short"],
    ids=["short", "one-too-short", "one-of-the-list"],
)
def test_production_refuses_a_short_secret(environment: Callable[..., None], secret: str) -> None:
    """
    Every key in production must be at least MIN_SECRET_LENGTH characters.
    """
    # given
    environment(env="production", secret_key=secret)
    # when / then
    with pytest.raises(ValidationError, match=f"at least {MIN_SECRET_LENGTH} characters"):
        Settings()


def test_production_accepts_a_long_secret(environment: Callable[..., None]) -> None:
    """
    A long enough key lets production start.
    """
    # given
    environment(env="production", secret_key=LONG_KEY)
    # when
    settings = Settings()
    # then
    assert [LONG_KEY] == settings.resolve_secret_keys()


def test_the_secret_never_shows_in_the_settings_repr(environment: Callable[..., None]) -> None:
    """
    The secret is kept out of logs and tracebacks.
    """
    # given
    environment(secret_key=LONG_KEY)
    # when
    shown = repr(Settings())
    # then
    assert LONG_KEY not in shown


def test_comma_separated_keys_rotate_newest_first(environment: Callable[..., None]) -> None:
    """
    `new,old` lists the signing key first; spaces and empty entries are dropped.
    """
    # given
    environment(secret_key=f" {LONG_KEY} , {OTHER_LONG_KEY} ,,")
    # when
    keys = Settings().secret_keys_from_env()
    # then
    assert [LONG_KEY, OTHER_LONG_KEY] == keys


def test_configured_keys_are_used_without_a_key_file(
    environment: Callable[..., None], tmp_path: Path
) -> None:
    """
    With a configured key nothing is written to the data directory.
    """
    # given
    environment(secret_key=LONG_KEY, data_dir=str(tmp_path / "data"))
    # when
    keys = Settings().resolve_secret_keys()
    # then
    assert ([LONG_KEY], False) == (keys, (tmp_path / "data").exists())


@pytest.mark.parametrize("env", ["development", "test"])
def test_development_generates_a_private_key_file(
    environment: Callable[..., None], tmp_path: Path, env: str
) -> None:
    """
    Without a key, development and test generate one into the data directory, mode 0600.
    """
    # given
    data_dir = tmp_path / "nested" / "data"
    environment(env=env, data_dir=str(data_dir))
    # when
    keys = Settings().resolve_secret_keys()
    # then
    path = data_dir / "secret_key"
    assert (keys, 0o600, True) == (
        [path.read_text().strip()],
        stat.S_IMODE(path.stat().st_mode),
        len(keys[0]) >= MIN_SECRET_LENGTH,
    )


def test_the_generated_key_is_generated_once(
    environment: Callable[..., None], tmp_path: Path
) -> None:
    """
    Every later start reads the same key back.
    """
    # given
    environment(data_dir=str(tmp_path / "data"))
    first = Settings().resolve_secret_keys()
    # when
    second = Settings().resolve_secret_keys()
    # then
    assert first == second


def test_an_existing_key_file_is_used(environment: Callable[..., None], tmp_path: Path) -> None:
    """
    A key file already in the data directory is the key.
    """
    # given
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret_key").write_text(f"{LONG_KEY}\n")
    environment(data_dir=str(tmp_path / "data"))
    # when
    keys = Settings().resolve_secret_keys()
    # then
    assert [LONG_KEY] == keys


def test_an_empty_key_file_is_refused(environment: Callable[..., None], tmp_path: Path) -> None:
    """
    An empty key file (a crash mid-write, a bad copy) is refused rather than used as a key.
    """
    # given
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret_key").write_text("\n")
    environment(data_dir=str(tmp_path / "data"))
    # when / then
    with pytest.raises(ConfigurationError, match="is empty"):
        Settings().resolve_secret_keys()


def test_a_key_file_created_meanwhile_is_kept(tmp_path: Path) -> None:
    """
    When another process wrote the key first, its key stays and no temporary file is left.
    """
    # given
    path = tmp_path / "secret_key"
    path.write_text(f"{LONG_KEY}\n")
    # when
    _create_key_file(path)
    # then
    assert (f"{LONG_KEY}\n", ["secret_key"]) == (
        path.read_text(),
        sorted(p.name for p in tmp_path.iterdir()),
    )


def test_a_key_file_is_written_where_hard_links_are_unsupported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """
    On a filesystem without hard links the key is still written whole, with no temporary left.
    """
    # given
    monkeypatch.setattr(os, "link", _no_hard_links)
    path = tmp_path / "data" / "secret_key"
    # when
    _create_key_file(path)
    # then
    assert (["secret_key"], True) == (
        sorted(p.name for p in path.parent.iterdir()),
        len(path.read_text().strip()) >= MIN_SECRET_LENGTH,
    )


@pytest.mark.parametrize(
    ("env", "log_format", "expected"),
    [
        ("production", "auto", True),
        ("development", "auto", False),
        ("test", "auto", False),
        ("development", "json", True),
        ("production", "console", False),
    ],
)
def test_json_logs_follow_the_format_or_the_environment(
    environment: Callable[..., None], env: str, log_format: str, expected: bool
) -> None:
    """
    `auto` means JSON in production and console elsewhere; an explicit format wins.
    """
    # given
    environment(env=env, log_format=log_format, secret_key=LONG_KEY)
    # when
    settings = Settings()
    # then
    assert (LogFormat(log_format), expected) == (settings.log_format, settings.json_logs)


def _no_hard_links(source: str, target: Path) -> None:
    """
    `os.link` on a filesystem that has no hard links.
    """
    raise PermissionError(errno.EPERM, "hard links are not supported here")


def test_the_cheapest_password_hashing_is_refused_in_production(
    environment: Callable[..., None],
) -> None:
    """
    argon2's `cheapest` profile makes passwords easy to crack: never in production.
    """
    # given
    environment(env="production", secret_key=LONG_KEY, password_hash_profile="cheapest")
    # when / then
    with pytest.raises(ValidationError, match="cheapest is refused in production"):
        Settings()


def test_tests_may_hash_passwords_cheaply(environment: Callable[..., None]) -> None:
    """
    Outside production the profile is accepted and gives argon2id hashes that verify.
    """
    # given
    environment(env="test", password_hash_profile="cheapest")
    # when
    hasher = Argon2Hasher.for_profile(Settings().password_hash_profile)
    stored = hasher.hash("a password long enough")
    # then
    assert stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert hasher.verify(stored, "a password long enough")
