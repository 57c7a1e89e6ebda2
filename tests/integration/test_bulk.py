"""
The bulk writer writes exactly what SQLAlchemy reads back, on both databases: money to the
ten-thousandth, aware times, JSON, booleans and NULLs; and only schema names reach the SQL.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from cartback.bootstrap import Container
from cartback.services.stores import CreatedStore
from cartback.store._bulk import BulkWriter, member_of
from cartback.store.tables import carts

MOMENT = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)


def _cart_row(store_id: str, key: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"ca_{key}",
        "store_id": store_id,
        "cart_key": key,
        "visitor_id": None,
        "contact_id": None,
        "status": "active",
        "stage": "cart",
        "currency": "EUR",
        "total": Decimal("1234567.8912"),
        "declared_total": None,
        "item_count": 3,
        "is_bot": True,
        "last_activity_at": MOMENT,
        "check_at": MOMENT + timedelta(minutes=30),
        "abandoned_at": None,
        "lost_at": None,
        "ordered_at": None,
        "touched_at": None,
        "order_id": None,
        "checkout_id": None,
        "payment_failure_reason": 'card "declined", {retry}',
        "signals": {"viewed": [["p-1", 2]], "adds": 1},
        "device": "mobile",
        "country": "DE",
        "country_source": "address",
        "created_at": MOMENT,
        "updated_at": MOMENT,
    }
    return {**row, **overrides}


def test_inserted_rows_read_back_exactly(container: Container, store: CreatedStore) -> None:
    """
    Every kind of value survives the bulk insert and SQLAlchemy's read unchanged.
    """
    # given
    rows = [_cart_row(store.store.id, "k-1"), _cart_row(store.store.id, "k-2", is_bot=False)]
    # when
    with container.engine.begin() as connection:
        BulkWriter(connection).insert(carts, rows)
    with container.engine.connect() as connection:
        found = connection.execute(select(carts).order_by(carts.c.id)).mappings().all()
    # then
    assert [dict(r) for r in rows] == [dict(r) for r in found]


def test_conflicting_rows_are_skipped_and_only_new_ones_returned(
    container: Container, store: CreatedStore
) -> None:
    """
    With a conflict key, existing rows are left alone and only inserted keys come back.
    """
    # given
    with container.engine.begin() as connection:
        BulkWriter(connection).insert(carts, [_cart_row(store.store.id, "old")])
    rows = [
        _cart_row(store.store.id, "old", id="ca_other"),
        _cart_row(store.store.id, "new"),
    ]
    # when
    with container.engine.begin() as connection:
        returned = BulkWriter(connection).insert(
            carts, rows, skip_conflicts_on=["store_id", "cart_key"], returning=["cart_key"]
        )
    # then
    assert [("new",)] == returned


def test_update_sets_every_column_by_key(container: Container, store: CreatedStore) -> None:
    """
    A bulk update changes each row to its own new values, NULLs included.
    """
    # given
    with container.engine.begin() as connection:
        BulkWriter(connection).insert(
            carts, [_cart_row(store.store.id, "a"), _cart_row(store.store.id, "b")]
        )
    changes = [
        {"id": "ca_a", "status": "abandoned", "check_at": None, "total": Decimal("0.0001")},
        {"id": "ca_b", "status": "lost", "check_at": MOMENT, "total": Decimal("99.5")},
    ]
    # when
    with container.engine.begin() as connection:
        BulkWriter(connection).update(carts, changes, key="id")
    with container.engine.connect() as connection:
        found = connection.execute(
            select(carts.c.id, carts.c.status, carts.c.check_at, carts.c.total)
            .where(member_of(connection, carts.c.id, ["ca_a", "ca_b"]))
            .order_by(carts.c.id)
        ).all()
    # then
    assert [tuple(c.values()) for c in changes] == [tuple(r) for r in found]


def test_a_name_that_is_not_a_column_never_reaches_the_sql(container: Container) -> None:
    """
    Row keys become identifiers in the statement, so each must be a column of the table.
    """
    # given
    rows = [{"id": "x", "cart_key; DROP TABLE carts": 1}]
    # when / then
    with container.engine.begin() as connection, pytest.raises(KeyError, match="no column"):
        BulkWriter(connection).insert(carts, rows)


def test_naive_times_are_refused(container: Container, store: CreatedStore) -> None:
    """
    A datetime without a zone is refused before anything is written.
    """
    # given
    naive = datetime(2026, 11, 27, 10, 0)  # noqa: DTZ001 - the point of the test
    rows = [_cart_row(store.store.id, "n", last_activity_at=naive)]
    # when / then
    with container.engine.begin() as connection, pytest.raises(ValueError, match="naive"):
        BulkWriter(connection).insert(carts, rows)


def test_a_background_checkpoint_copies_the_log_into_the_database_file(
    backend: str, database_url: str, store: CreatedStore
) -> None:
    """
    With automatic checkpoints off (the writer process), committed rows stay in the write-ahead
    log until `checkpoint_sqlite` copies them into the database file itself.
    """
    # given
    if backend != "sqlite":
        pytest.skip("a write-ahead-log checkpoint is SQLite's")
    import sqlite3

    from cartback.store.database import checkpoint_sqlite, create_database_engine

    path = database_url.removeprefix("sqlite:///")

    def rows_in_the_file() -> int:
        # `immutable` reads the database file alone, ignoring the write-ahead log
        with contextlib.closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as file:
            return int(file.execute("SELECT count(*) FROM carts").fetchone()[0])

    engine = create_database_engine(database_url, checkpoints_elsewhere=True)
    with engine.begin() as connection:
        BulkWriter(connection).insert(
            carts, [_cart_row(store.store.id, f"w-{n}") for n in range(200)]
        )
    before = rows_in_the_file()
    # when
    checkpoint_sqlite(engine)
    after = rows_in_the_file()
    engine.dispose()
    # then
    assert (0, 200) == (before, after)
