"""
Shared fixtures: a fresh, migrated database per test on each selected backend (copied from a
template made once per session), a container and an API client on it, and factories.

Backends: `CARTBACK_TEST_BACKENDS=sqlite,postgresql` (the default runs PostgreSQL too when it
answers at `CARTBACK_TEST_POSTGRES_URL`). Under `CI=true` an unreachable PostgreSQL fails the
run instead of skipping.

`CARTBACK_TEST_DATABASE_FREE=START:END` (fractions; CI: `0:0.8` and `0.8:1`) splits the tests
that use no backend between runs that each test one backend, as CI's two side-by-side runs do:
a run keeps those whose place (a stable hash of the test's id, in [0, 1)) lies in [START, END)
and deselects the others, which the other run keeps. Unset, a run keeps them all.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from cartback.api.app import create_app
from cartback.bootstrap import Container, bootstrap
from cartback.engine.clock import SimulatedClock
from cartback.services.stores import CreatedStore, StoreSettings, create_store
from cartback.settings import Environment, Settings
from cartback.store.database import create_database_engine
from cartback.store.migrate import upgrade
from helpers import BACKENDS, TEST_SECRET
from webhook_fakes import FakeResolver

POSTGRES_URL = os.environ.get(
    "CARTBACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect(_libpq(POSTGRES_URL), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def pytest_configure(config: pytest.Config) -> None:
    """
    Refuse an unknown backend name early.
    """
    unknown = set(BACKENDS) - {"sqlite", "postgresql"}
    if unknown:
        raise pytest.UsageError(f"unknown CARTBACK_TEST_BACKENDS: {', '.join(sorted(unknown))}")
    _database_free_share()


def _database_free_share() -> tuple[float, float]:
    """
    The [start, end) share of the backend-free tests this run keeps (`CARTBACK_TEST_DATABASE_FREE`).
    """
    value = os.environ.get("CARTBACK_TEST_DATABASE_FREE", "").strip()
    if not value:
        return (0.0, 1.0)
    try:
        start, end = (float(part) for part in value.split(":"))
    except ValueError:
        start, end = 1.0, 0.0
    if not 0.0 <= start < end <= 1.0:
        raise pytest.UsageError(
            f"CARTBACK_TEST_DATABASE_FREE must be START:END with 0 <= START < END <= 1: {value!r}"
        )
    return (start, end)


def _place(nodeid: str) -> float:
    """
    A test's stable place in [0, 1): the same in every run and on every machine.
    """
    digest = hashlib.blake2b(nodeid.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _uses_no_backend(item: pytest.Item) -> bool:
    """
    A test that neither runs on a backend nor says (with `skipif`) which run it belongs to:
    it does the same in either backend's run.
    """
    return "backend" not in getattr(item, "fixturenames", ()) and not any(
        item.iter_markers("skipif")
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """
    Keep only this run's share of the backend-free tests (`CARTBACK_TEST_DATABASE_FREE`).
    """
    start, end = _database_free_share()
    if (start, end) == (0.0, 1.0):
        return
    kept, elsewhere = [], []
    for item in items:
        free = _uses_no_backend(item)
        (elsewhere if free and not start <= _place(item.nodeid) < end else kept).append(item)
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = kept


class _PostgresTemplates:
    """
    One migrated template database per session; each test gets a copy (CREATE DATABASE …
    TEMPLATE), emptied afterwards for a later test, or dropped if its schema changed.
    """

    def __init__(self) -> None:
        suffix = os.urandom(4).hex()
        self.template = f"cb_template_{suffix}"
        self._admin = _libpq(POSTGRES_URL)
        self._connection: psycopg.Connection[Any] | None = None
        self._counter = 0
        self._suffix = suffix
        self._execute(f'CREATE DATABASE "{self.template}"')
        engine = create_database_engine(self.url(self.template))
        upgrade(engine)
        engine.dispose()
        self._reusable: list[str] = []
        with psycopg.connect(self._libpq_of(self.template), autocommit=True) as connection:
            self._template_shape = _shape(connection)
            tables = connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'alembic_version'"
            ).fetchall()
        # Names read from the catalog, not from input.
        self._emptying = "".join(f'DELETE FROM "{table}";' for (table,) in tables)  # noqa: S608

    def url(self, name: str) -> str:
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def _libpq_of(self, name: str) -> str:
        return _libpq(self.url(name))

    def fresh(self) -> str:
        if self._reusable:
            return self._reusable.pop()
        self._counter += 1
        name = f"cb_test_{self._suffix}_{self._counter}"
        # PostgreSQL 15's default strategy (WAL_LOG) is the faster one while other tests
        # write: FILE_COPY checkpoints the whole server for each copy.
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def release(self, name: str) -> None:
        """
        Empty a test's database for the next test when its schema is still the template's;
        drop it otherwise. Emptying costs a few milliseconds where copying a template and
        dropping the copy cost over a hundred, most of them CPU the other backend's run needs.
        """
        try:
            with psycopg.connect(self._libpq_of(name), autocommit=True) as connection:
                connection.execute("SET lock_timeout = '2s'")
                # What the test left connected goes, as DROP … WITH (FORCE) would do.
                connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                if _shape(connection) != self._template_shape:
                    raise _NotAsTheTemplate(name)
                with connection.transaction():
                    # Foreign keys are not checked while everything is deleted anyway.
                    connection.execute("SET LOCAL session_replication_role = replica")
                    connection.execute(self._emptying)  # type: ignore[arg-type]
                    connection.execute(
                        "SELECT setval(oid::regclass, 1, false) FROM pg_class"
                        " WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
                    )
        except (psycopg.Error, _NotAsTheTemplate):
            self.drop(name)
            return
        self._reusable.append(name)

    def close(self) -> None:
        for name in self._reusable:
            self.drop(name)
        self.drop(self.template)
        if self._connection is not None:
            self._connection.close()

    def _connect(self) -> psycopg.Connection[Any]:
        # One administrative connection for the session: a connection per statement costs
        # more than some of the statements.
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self._admin, autocommit=True)
        return self._connection

    def _execute(self, sql: str) -> None:
        try:
            self._connect().execute(sql)  # type: ignore[arg-type]
        except psycopg.OperationalError:
            # A test that restarts the database (or terminates its backends) ended this
            # connection too: connect again, once.
            if self._connection is not None:
                self._connection.close()
            self._connection = None
            self._connect().execute(sql)  # type: ignore[arg-type]


class _NotAsTheTemplate(Exception):
    """
    A test changed its database's schema: the database is dropped, not reused.
    """


def _shape(connection: psycopg.Connection[Any]) -> tuple[Any, ...]:
    """
    What a test could have changed in a database's schema: its migration, relations, columns,
    functions and schemas.
    """
    row = connection.execute(
        "SELECT (SELECT string_agg(version_num, ',') FROM alembic_version),"
        " (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace),"
        " (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON a.attrelid = c.oid"
        "   WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0"
        "   AND NOT a.attisdropped),"
        " (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace),"
        " (SELECT count(*) FROM pg_namespace)"
    ).fetchone()
    assert row is not None
    return tuple(row)


@pytest.fixture(scope="session")
def postgres_templates() -> Iterator[_PostgresTemplates]:
    """
    The PostgreSQL template manager (skips, or fails under CI, when PostgreSQL is away).
    """
    if not _postgres_reachable():
        message = f"PostgreSQL is not reachable at {POSTGRES_URL}"
        if IN_CI:
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(message)
    templates = _PostgresTemplates()
    yield templates
    templates.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """
    A migrated SQLite file to copy from.
    """
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_database_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """
    The database backend this test runs on.
    """
    name: str = request.param
    return name


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """
    The URL of a fresh, migrated database for this test alone.
    """
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "cartback.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    templates: _PostgresTemplates = request.getfixturevalue("postgres_templates")
    name = templates.fresh()
    try:
        yield templates.url(name)
    finally:
        templates.release(name)


@pytest.fixture
def empty_database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """
    The URL of a fresh database with no tables (for migration tests).
    """
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    templates: _PostgresTemplates = request.getfixturevalue("postgres_templates")
    name = f"cb_empty_{os.urandom(4).hex()}"
    templates._execute(f'CREATE DATABASE "{name}"')
    try:
        yield templates.url(name)
    finally:
        templates.drop(name)


@pytest.fixture
def clock() -> SimulatedClock:
    """
    A simulated clock, starting at a fixed recent instant.
    """
    return SimulatedClock(datetime(2026, 11, 27, 10, 0, tzinfo=UTC))


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    """
    Settings for tests: test environment, a fixed secret, data in the test's directory.
    """

    def make(database_url: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "env": Environment.TEST,
            "secret_key": TEST_SECRET,
            "data_dir": tmp_path / "data",
            "ingest_writer": "thread",  # in-process tests share the simulated clock
            "password_hash_profile": "cheapest",  # argon2's test profile: sign-ins in ms
            **overrides,
        }
        return Settings(**values)

    return make


@pytest.fixture
def container(
    database_url: str, clock: SimulatedClock, settings_factory: Callable[..., Settings]
) -> Iterator[Container]:
    """
    A container on the test's database and the simulated clock.
    """
    built = bootstrap(settings_factory(database_url), clock=clock)
    built.resolver = FakeResolver()  # webhook URLs: no DNS (a test sets the names it needs)
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    """
    An API client on the container (lifespan started, so the ingest writer runs).
    """
    with TestClient(create_app(container), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def store_factory(container: Container) -> Callable[..., CreatedStore]:
    """
    Creates stores with sensible defaults; override any setting by keyword.
    """

    def make(**overrides: Any) -> CreatedStore:
        values: dict[str, Any] = {
            "name": "Test Shop",
            "platform": "custom",
            "domains": ["shop.example.com"],
            "currency": "USD",
            "timezone": "Europe/Berlin",
            "abandon_after": timedelta(minutes=30),
            **overrides,
        }
        return create_store(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            settings=StoreSettings(**values),
        )

    return make


@pytest.fixture
def store(store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    One store with its keys.
    """
    return store_factory()
