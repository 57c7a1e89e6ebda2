"""
Multi-row writes on the ingestion path, written for each database instead of row by row.

SQLAlchemy's generic executemany processes every value of every row in Python, and on
PostgreSQL renders one giant statement that psycopg then re-parses. Here PostgreSQL gets one
short statement per table whose rows arrive as one JSON document, read by the server as a
table (`INSERT … SELECT * FROM json_to_recordset(…) AS v(column type, …)`, `UPDATE … FROM
json_to_recordset(…)`): one parameter that orjson writes in C, where an array per column cost
psycopg a Python-level pass over every element (measured: docs/benchmarks.md). SQLite gets its
own C-level executemany (or multi-row VALUES when rows must come back). Values are converted
once, to exactly what the column types in `types.py` store, so SQLAlchemy reads them back as
usual. The reads every ingested group makes on PostgreSQL (`PostgresRead`) are compiled once
and run the same way, their values converted by the column types as SQLAlchemy would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, cast

import orjson
import psycopg
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Dialect,
    Integer,
    Select,
    String,
    Table,
    Text,
    any_,
    bindparam,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import DBAPIError

from cartback.store.types import MONEY_SCALE, Money, UTCDateTime

#: SQLite allows 32,766 bound variables per statement (since 3.32).
_SQLITE_MAX_VARIABLES = 32_000
_MONEY_FACTOR = Decimal(10) ** MONEY_SCALE
#: For compiling statements to psycopg's SQL without a connection (the constructor is untyped
#: in SQLAlchemy's stubs).
PSYCOPG_DIALECT: Dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]


def _json(value: Any) -> Any:
    if value is None:
        return None
    return orjson.dumps(value, default=str).decode()


def _sqlite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError("naive datetimes are not stored; pass an aware one")
    # The text SQLAlchemy's SQLite DATETIME writes and reads: "2026-11-27 10:00:00.000000".
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_money(value: Decimal | None) -> int | None:
    if value is None:
        return None
    return int(Decimal(value).quantize(Decimal(1) / _MONEY_FACTOR) * _MONEY_FACTOR)


def _json_default(value: Any) -> Any:
    """
    What orjson cannot write itself: `Decimal` (money) as its exact digits.
    """
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _same(value: Any) -> Any:
    return value


def _columns(table: Table, rows: Sequence[dict[str, Any]]) -> list[str]:
    """
    The rows' keys, each checked to be a column of the table (only schema names ever reach the
    SQL text, every value is a bound parameter) and the same in every row (a row short of one
    would otherwise write NULL there).
    """
    first = rows[0].keys()
    unknown = [name for name in first if name not in table.c]
    if unknown:
        raise KeyError(f"{table.name} has no column {', '.join(unknown)}")
    for number, row in enumerate(rows):
        if row.keys() != first:
            raise KeyError(f"{table.name} row {number} has other columns than row 0")
    return list(first)


@cache
def _kind(column: Column[Any]) -> str:
    kinds: list[tuple[type[Any], str]] = [
        (Money, "money"),
        (UTCDateTime, "time"),
        (JSON, "json"),
        (Boolean, "bool"),
        (BigInteger, "bigint"),
        (Integer, "int"),
        (Text, "text"),
        (String, "text"),
    ]
    column_type = column.type
    for variant in (column_type, getattr(column_type, "impl", None)):
        for kind_type, name in kinds:
            if isinstance(variant, kind_type):
                return name
    raise TypeError(f"no bulk conversion for {column.name}: {column.type!r}")


@cache
def _postgres_type(column: Column[Any]) -> str:
    """
    The type `json_to_recordset` reads the column's values as: its kind's base type (strings
    as `text`, so the column's own length check applies when the row is stored), and a JSON
    column's own type, so `json` stays `json` (the raw log is never converted to JSONB).
    """
    kind = _kind(column)
    if kind == "json":
        return str(column.type.compile(dialect=PSYCOPG_DIALECT)).lower()
    return _POSTGRES_ARRAY[kind].removesuffix("[]")


_SQLITE_CONVERT: dict[str, Callable[[Any], Any]] = {
    "money": _sqlite_money,
    "time": _sqlite_time,
    "json": _json,
    "bool": lambda v: None if v is None else int(v),
}
_POSTGRES_ARRAY = {
    "money": "numeric[]",
    "time": "timestamptz[]",
    "json": "jsonb[]",
    "bool": "boolean[]",
    "bigint": "bigint[]",
    "int": "integer[]",
    "text": "text[]",
}


class BulkWriter:
    """
    Inserts and updates many rows of one table in few statements.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection
        self._postgres = connection.dialect.name == "postgresql"

    def insert(
        self,
        table: Table,
        rows: Sequence[dict[str, Any]],
        *,
        skip_conflicts_on: Sequence[str] = (),
        returning: Sequence[str] = (),
    ) -> list[tuple[Any, ...]]:
        """
        Insert `rows` (all with the same keys). With `skip_conflicts_on`, rows that collide on
        that unique key are left out; `returning` names columns to give back for inserted rows.
        """
        if not rows:
            return []
        names = _columns(table, rows)
        conflict = (
            f" ON CONFLICT ({', '.join(skip_conflicts_on)}) DO NOTHING" if skip_conflicts_on else ""
        )
        tail = f"{conflict}{' RETURNING ' + ', '.join(returning) if returning else ''}"
        columns = ", ".join(names)
        if self._postgres:
            source, document = self._recordset(table, names, rows)
            sql = f"INSERT INTO {table.name} ({columns}) SELECT * FROM {source}{tail}"  # noqa: S608 - names from the Table
            return self.execute_postgres(sql, (document,), rows_back=bool(returning))
        values = self._sqlite_rows(table, names, rows)
        if not returning:
            marks = ", ".join("?" * len(names))
            self._db.exec_driver_sql(
                f"INSERT INTO {table.name} ({columns}) VALUES ({marks}){tail}",  # noqa: S608 - names from the Table
                values,
            )
            return []
        found: list[tuple[Any, ...]] = []
        per_statement = max(1, _SQLITE_MAX_VARIABLES // len(names))
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            group = "(" + ", ".join("?" * len(names)) + ")"
            sql = (
                f"INSERT INTO {table.name} ({columns}) VALUES "  # noqa: S608 - names from the Table
                f"{', '.join([group] * len(chunk))}{tail}"
            )
            flat = tuple(v for row in chunk for v in row)
            found.extend(tuple(r) for r in self._db.exec_driver_sql(sql, flat))
        return found

    def insert_or_find(
        self,
        table: Table,
        rows: Sequence[dict[str, Any]],
        *,
        unique: tuple[str, str],
        returning: Sequence[str],
    ) -> list[tuple[Any, ...]]:
        """
        PostgreSQL only: insert the rows that do not collide on the two-column unique key
        `unique` (the first column the same in every row) and find the stored ones that do, in
        one statement instead of a read and a write. Each row comes back as its `returning`
        columns followed by True where this statement inserted it. A row that another
        transaction inserted after this statement began is in neither part: look it up again.
        """
        if not self._postgres:
            raise NotImplementedError("insert_or_find runs on PostgreSQL only")
        if not rows:
            return []
        names = _columns(table, rows)
        scope, key = unique
        source, document = self._recordset(table, names, rows)
        wanted = ", ".join(returning)
        sql = (
            f"WITH inserted AS (INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - names from the Table
            f"SELECT * FROM {source} ON CONFLICT ({scope}, {key}) DO NOTHING "
            f"RETURNING {wanted}) "
            f"SELECT {wanted}, true FROM inserted UNION ALL "
            f"SELECT {wanted}, false FROM {table.name} WHERE {scope} = %s "
            f"AND {key} = ANY(%s::{_POSTGRES_ARRAY[_kind(table.c[key])]})"
        )
        params = (document, rows[0][scope], [row[key] for row in rows])
        return self.execute_postgres(sql, params, rows_back=True)

    def update(self, table: Table, rows: Sequence[dict[str, Any]], *, key: str) -> None:
        """
        Set every other column of each row where `key` equals the row's value.
        """
        if not rows:
            return
        names = [n for n in _columns(table, rows) if n != key]
        if self._postgres:
            source, document = self._recordset(table, [key, *names], rows)
            assignments = ", ".join(f"{n} = v.{n}" for n in names)
            sql = (
                f"UPDATE {table.name} SET {assignments} FROM {source} "  # noqa: S608 - names from the Table
                f"WHERE {table.name}.{key} = v.{key}"
            )
            self.execute_postgres(sql, (document,), rows_back=False)
            return
        ordered = [*names, key]
        assignments = ", ".join(f"{n} = ?" for n in names)
        self._db.exec_driver_sql(
            f"UPDATE {table.name} SET {assignments} WHERE {key} = ?",  # noqa: S608 - names from the Table
            self._sqlite_rows(table, ordered, rows),
        )

    def execute_postgres(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any], *, rows_back: bool
    ) -> list[tuple[Any, ...]]:
        """
        PostgreSQL: run one statement (psycopg's placeholders) on the psycopg connection
        itself, inside the unit of work's transaction: for the bulk statements, which run for
        every ingested group, SQLAlchemy's execution path cost more Python than building the
        statement (measured: docs/benchmarks.md). A failure is raised as SQLAlchemy's error
        for it, as `Connection.execute` would.
        """
        cursor = run_on_psycopg(self._db, sql, params)
        return [tuple(row) for row in cursor.fetchall()] if rows_back else []

    def _recordset(
        self, table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]
    ) -> tuple[str, str]:
        """
        PostgreSQL: the `FROM` item that reads the rows' `names` back as typed columns, and
        its one parameter.
        """
        declared = recordset_columns(table, names)
        return f"json_to_recordset(%s::json) AS v({declared})", _document(table, names, rows)

    def _sqlite_rows(
        self, table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]
    ) -> list[tuple[Any, ...]]:
        converters = [_SQLITE_CONVERT.get(_kind(table.c[n]), _same) for n in names]
        return [
            tuple(convert(row[name]) for convert, name in zip(converters, names, strict=True))
            for row in rows
        ]


def run_on_psycopg(
    connection: Connection, sql: str, params: Sequence[Any] | Mapping[str, Any]
) -> psycopg.Cursor[Any]:
    """
    PostgreSQL: execute `sql` on the unit of work's psycopg connection, inside its transaction,
    and give back the cursor. A failure is SQLAlchemy's error for it, and a dropped connection
    is invalidated (never pooled again), as `Connection.execute` would do.
    """
    driver = connection.connection.driver_connection
    try:
        cursor: psycopg.Cursor[Any] = driver.cursor()  # type: ignore[union-attr]
        cursor.execute(sql, params)
        return cursor
    except psycopg.Error as error:
        dropped = connection.dialect.is_disconnect(cast(Any, error), driver, None)
        if dropped:
            connection.invalidate(error)
        raise DBAPIError.instance(
            sql,
            params,
            error,
            psycopg.Error,
            dialect=connection.dialect,
            connection_invalidated=dropped,
        ) from error


class PostgresRead:
    """
    PostgreSQL: a SELECT the ingestion path runs for every group (the store, its carts),
    compiled once to psycopg's SQL and run by `run_on_psycopg`. Its rows come back as
    `Connection.execute(...).mappings()` would give them: each value converted by its column's
    own type (aware UTC times, money as `Decimal`). Measured with `python -m bench groups`:
    the store read about 40 % cheaper, a one-event group about 25 % (docs/benchmarks.md).
    """

    def __init__(self, statement: Select[Any]) -> None:
        compiled = statement.compile(dialect=PSYCOPG_DIALECT)
        self._sql = str(compiled)
        self._constants = dict(compiled.params)
        self._required = {name for name, bind in compiled.binds.items() if bind.required}
        self._bind_processors = {
            name: processor
            for name, bind in compiled.binds.items()
            if (
                processor := bind.type.dialect_impl(PSYCOPG_DIALECT).bind_processor(PSYCOPG_DIALECT)
            )
        }
        self._columns = list(statement.selected_columns)
        self._keys = [str(column.key) for column in self._columns]
        # By the type codes of the first result: a statement's are the same every time.
        self._processors: list[Callable[[Any], Any] | None] | None = None

    def mappings(self, connection: Connection, **params: Any) -> list[dict[str, Any]]:
        """
        The rows for `params` (the statement's bound parameters by name), as dictionaries.
        """
        missing = self._required - params.keys()
        if missing:
            raise TypeError(f"missing parameters: {', '.join(sorted(missing))}")
        values = {**self._constants, **params}
        for name, convert in self._bind_processors.items():
            values[name] = convert(values[name])
        cursor = run_on_psycopg(connection, self._sql, values)
        rows = cursor.fetchall()
        if not rows:
            return []
        processors = self._processors
        if processors is None:
            dialect = connection.dialect
            processors = self._processors = [
                column.type.dialect_impl(dialect).result_processor(dialect, described.type_code)
                for column, described in zip(self._columns, cursor.description or (), strict=True)
            ]
        keys = self._keys
        return [
            {
                key: value if convert is None else convert(value)
                for key, convert, value in zip(keys, processors, row, strict=True)
            }
            for row in rows
        ]


def recordset_columns(table: Table, names: Sequence[str]) -> str:
    """
    PostgreSQL: the column list of `json_to_recordset(…) AS v(…)` for these columns of `table`.
    """
    return ", ".join(f"{n} {_postgres_type(table.c[n])}" for n in names)


def recordset_document(table: Table, rows: Sequence[dict[str, Any]]) -> str:
    """
    PostgreSQL: rows of `table` (all with the same keys, checked) as the JSON text
    `json_to_recordset` reads: a JSON null is SQL NULL, money keeps its exact digits, a JSON
    column's value is kept as is. A naive datetime is refused before anything is written.
    """
    return _document(table, _columns(table, rows), rows)


def _document(table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    times = [n for n in names if _kind(table.c[n]) == "time"]
    for row in rows:
        for name in times:
            value = row[name]
            if value is not None and value.utcoffset() is None:
                raise ValueError("naive datetimes are not stored; pass an aware one")
    # The rows as they are: their keys are `names`, checked by `_columns`.
    return orjson.dumps(rows, default=_json_default).decode()


def member_of(connection: Connection, column: Column[Any], values: Sequence[Any]) -> Any:
    """
    `column IN (values)`; on PostgreSQL `column = ANY(:array)`, one parameter however many
    values, so a 500-key lookup is still a short, cacheable statement.
    """
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))
