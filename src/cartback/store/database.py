"""
Engines for the two supported databases, configured the same way for every process.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression
from sqlalchemy.sql.operators import custom_op

from cartback.domain.errors import ConfigurationError

#: How long SQLite waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: PostgreSQL aborts a transaction left idle this long, so a hung process cannot hold the
#: rows it claimed: the claim returns to the queue (style rule 7; issue 2's 30-second bound).
IDLE_IN_TRANSACTION_TIMEOUT_MS = 20_000


def _json_default(value: Any) -> Any:
    # Decimals appear in stored payloads only as plain numbers' text.
    return str(value)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode()


def is_sqlite(url: str) -> bool:
    """
    True for SQLite URLs.
    """
    return make_url(url).get_backend_name() == "sqlite"


def normalise_url(url: str) -> str:
    """
    Use psycopg 3 for PostgreSQL whatever driver the URL names, and refuse other databases.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False)
    raise ConfigurationError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


def create_database_engine(
    url: str,
    *,
    application_name: str = "cartback",
    checkpoints_elsewhere: bool = False,
    ping_on_checkout: bool = True,
) -> Engine:
    """
    Build the engine for a database URL.

    SQLite runs in WAL mode with a busy timeout, foreign keys on, and every transaction taken
    as a writer up front (`BEGIN IMMEDIATE`) so two writers queue instead of deadlocking.
    PostgreSQL runs through psycopg 3 with the process named in `pg_stat_activity`.

    `checkpoints_elsewhere` turns off SQLite's automatic WAL checkpoint on this engine's
    connections, for a process that runs `checkpoint_sqlite` in the background instead, so
    commits never pay for copying the log back into the database.

    `ping_on_checkout` tests each pooled PostgreSQL connection before use (a round trip); a
    process that retries a transaction on a dropped connection can turn it off.
    """
    url = normalise_url(url)
    if is_sqlite(url):
        return _sqlite_engine(url, checkpoints_elsewhere=checkpoints_elsewhere)
    return create_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=ping_on_checkout,
        pool_recycle=1800,
        json_serializer=_dumps,
        connect_args={
            "application_name": application_name,
            "connect_timeout": 5,
            # Measured: server-side prepared statements made ingestion slower here (generic
            # plans for array parameters), so every statement is planned with its values.
            "prepare_threshold": None,
            # JIT compilation off: the report's aggregates (correlated subqueries over tens of
            # thousands of carts) are costed high enough to trigger it, and compiling took
            # about 5 s of a 5.2 s statement at 1 M carts (docs/benchmarks.md, dashboard).
            "options": (
                f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}"
                " -c jit=off"
            ),
        },
    )


def _sqlite_engine(url: str, *, checkpoints_elsewhere: bool) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        pool_size=5,
        max_overflow=10,
        json_serializer=_dumps,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy issue BEGIN itself (below) instead of pysqlite's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if checkpoints_elsewhere:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get("cartback_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def checkpoint_sqlite(engine: Engine) -> None:
    """
    Copy committed pages from SQLite's write-ahead log back into the database without waiting
    for readers or blocking writers (a PASSIVE checkpoint). A no-op on PostgreSQL.
    """
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        # The raw connection is in autocommit (isolation_level None): no BEGIN IMMEDIATE.
        raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        raw.close()


def unindexed(column: ColumnElement[Any], connection: Connection) -> ColumnElement[Any]:
    """
    On SQLite, `+column`: the same value, but not one an index can be searched by; the
    column itself on PostgreSQL.

    Without statistics (the application never runs ANALYZE) SQLite's planner prefers an
    index matching more of a statement's terms even when another is far narrower: it read
    `orders` by `ix_orders_store_placed` (every order of the store in a time range) instead
    of by `cart_id` or `contact_id`, once per abandoned cart in the report and for one cart's
    timeline. At 1 M carts the report's statement did not finish in minutes and the
    timeline's took 420 ms (docs/benchmarks.md, "Dashboard"). PostgreSQL plans those from
    its statistics.
    """
    if connection.dialect.name != "sqlite":
        return column
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)
