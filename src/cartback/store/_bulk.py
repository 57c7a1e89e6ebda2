"""
Multi-row writes on the ingestion path, written for each database instead of row by row.

SQLAlchemy's generic executemany processes every value of every row in Python, and on
PostgreSQL renders one giant statement that psycopg then re-parses. Here PostgreSQL gets one
short statement per table with one array per column (`INSERT … SELECT * FROM unnest(…)`,
`UPDATE … FROM unnest(…)`), sent in psycopg's binary format (no per-element text escaping),
and SQLite gets its own C-level executemany (or multi-row VALUES
when rows must come back). Values are converted once, to exactly what the column types in
`types.py` store, so SQLAlchemy reads them back as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Integer,
    String,
    Table,
    Text,
    any_,
    bindparam,
)
from sqlalchemy.dialects.postgresql import ARRAY

from cartback.store.types import MONEY_SCALE, Money, UTCDateTime

#: SQLite allows 32,766 bound variables per statement (since 3.32).
_SQLITE_MAX_VARIABLES = 32_000
_MONEY_FACTOR = Decimal(10) ** MONEY_SCALE


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


def _postgres_time(value: datetime | None) -> datetime | None:
    if value is not None and value.utcoffset() is None:
        raise ValueError("naive datetimes are not stored; pass an aware one")
    return value


def _same(value: Any) -> Any:
    return value


def _columns(table: Table, row: dict[str, Any]) -> list[str]:
    """
    The row's keys, each checked to be a column of the table: only schema names ever reach the
    SQL text, every value is a bound parameter.
    """
    unknown = [name for name in row if name not in table.c]
    if unknown:
        raise KeyError(f"{table.name} has no column {', '.join(unknown)}")
    return list(row)


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


_SQLITE_CONVERT: dict[str, Callable[[Any], Any]] = {
    "money": _sqlite_money,
    "time": _sqlite_time,
    "json": _json,
    "bool": lambda v: None if v is None else int(v),
}
_POSTGRES_CONVERT: dict[str, Callable[[Any], Any]] = {"time": _postgres_time, "json": _json}
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
        names = _columns(table, rows[0])
        conflict = (
            f" ON CONFLICT ({', '.join(skip_conflicts_on)}) DO NOTHING" if skip_conflicts_on else ""
        )
        tail = f"{conflict}{' RETURNING ' + ', '.join(returning) if returning else ''}"
        columns = ", ".join(names)
        if self._postgres:
            arrays = self._arrays(table, names, rows)
            selects = ", ".join(f"%b::{_POSTGRES_ARRAY[_kind(table.c[n])]}" for n in names)
            sql = f"INSERT INTO {table.name} ({columns}) SELECT * FROM unnest({selects}){tail}"  # noqa: S608 - names from the Table
            result = self._db.exec_driver_sql(sql, tuple(arrays))
            return [tuple(r) for r in result] if returning else []
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
        names = _columns(table, rows[0])
        scope, key = unique
        arrays = self._arrays(table, names, rows)
        selects = ", ".join(f"%b::{_POSTGRES_ARRAY[_kind(table.c[n])]}" for n in names)
        wanted = ", ".join(returning)
        keys = names.index(key)
        sql = (
            f"WITH inserted AS (INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - names from the Table
            f"SELECT * FROM unnest({selects}) ON CONFLICT ({scope}, {key}) DO NOTHING "
            f"RETURNING {wanted}) "
            f"SELECT {wanted}, true FROM inserted UNION ALL "
            f"SELECT {wanted}, false FROM {table.name} WHERE {scope} = %b "
            f"AND {key} = ANY(%b::{_POSTGRES_ARRAY[_kind(table.c[key])]})"
        )
        params = (*arrays, rows[0][scope], arrays[keys])
        return [tuple(r) for r in self._db.exec_driver_sql(sql, params)]

    def update(self, table: Table, rows: Sequence[dict[str, Any]], *, key: str) -> None:
        """
        Set every other column of each row where `key` equals the row's value.
        """
        if not rows:
            return
        names = [n for n in _columns(table, rows[0]) if n != key]
        if self._postgres:
            ordered = [key, *names]
            arrays = self._arrays(table, ordered, rows)
            selects = ", ".join(f"%b::{_POSTGRES_ARRAY[_kind(table.c[n])]}" for n in ordered)
            assignments = ", ".join(f"{n} = v.{n}" for n in names)
            sql = (
                f"UPDATE {table.name} SET {assignments} FROM unnest({selects}) "  # noqa: S608 - names from the Table
                f"AS v({', '.join(ordered)}) WHERE {table.name}.{key} = v.{key}"
            )
            self._db.exec_driver_sql(sql, tuple(arrays))
            return
        ordered = [*names, key]
        assignments = ", ".join(f"{n} = ?" for n in names)
        self._db.exec_driver_sql(
            f"UPDATE {table.name} SET {assignments} WHERE {key} = ?",  # noqa: S608 - names from the Table
            self._sqlite_rows(table, ordered, rows),
        )

    def _arrays(
        self, table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]
    ) -> list[list[Any]]:
        arrays = []
        for name in names:
            convert = _POSTGRES_CONVERT.get(_kind(table.c[name]), _same)
            arrays.append([convert(row[name]) for row in rows])
        return arrays

    def _sqlite_rows(
        self, table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]
    ) -> list[tuple[Any, ...]]:
        converters = [_SQLITE_CONVERT.get(_kind(table.c[n]), _same) for n in names]
        return [
            tuple(convert(row[name]) for convert, name in zip(converters, names, strict=True))
            for row in rows
        ]


def member_of(connection: Connection, column: Column[Any], values: Sequence[Any]) -> Any:
    """
    `column IN (values)`; on PostgreSQL `column = ANY(:array)`, one parameter however many
    values, so a 500-key lookup is still a short, cacheable statement.
    """
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))
