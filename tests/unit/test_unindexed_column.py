"""
`store.database.unindexed`: `+column` on SQLite (an index cannot be searched by it), the column
itself on PostgreSQL; the comparison still binds values through the column's type.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from cartback.store.database import unindexed
from cartback.store.tables import orders


def _connection(dialect: Any) -> Connection:
    return cast(Connection, SimpleNamespace(dialect=dialect))


def _sql(condition: Any, dialect: Any) -> str:
    return str(condition.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def test_on_sqlite_the_column_is_prefixed_with_a_unary_plus() -> None:
    # given
    dialect = sqlite.dialect()
    moment = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    # when
    condition = unindexed(orders.c.placed_at, _connection(dialect)) < moment
    # then
    assert "(+ orders.placed_at) < '2026-11-27 10:00:00.000000'" == _sql(condition, dialect)


def test_on_postgresql_the_column_is_left_as_it_is() -> None:
    # given
    dialect = postgresql.dialect()
    # when
    column = unindexed(orders.c.store_id, _connection(dialect))
    # then
    assert column is orders.c.store_id
