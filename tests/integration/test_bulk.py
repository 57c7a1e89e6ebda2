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
from sqlalchemy.exc import DBAPIError, IntegrityError

from cartback.bootstrap import Container
from cartback.services.stores import CreatedStore
from cartback.store._bulk import BulkWriter, PostgresRead, member_of
from cartback.store.carts import _LOCK_CARTS_BY_KEY, _READ_LINES
from cartback.store.repositories import _READ_STORE
from cartback.store.tables import cart_lines, carts, raw_events, stores

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


def test_a_key_violation_is_sqlalchemys_integrity_error_and_writes_nothing(
    container: Container, store: CreatedStore
) -> None:
    """
    Ingestion retries a unique-key race by catching SQLAlchemy's `IntegrityError`, whichever
    way the statement reached the database (on PostgreSQL the bulk writer runs it on psycopg
    itself); the failed transaction leaves no row behind.
    """
    # given
    with container.engine.begin() as connection:
        BulkWriter(connection).insert(carts, [_cart_row(store.store.id, "taken")])
    rows = [_cart_row(store.store.id, "fresh"), _cart_row(store.store.id, "taken", id="ca_2")]
    # when / then
    with pytest.raises(IntegrityError), container.engine.begin() as connection:
        BulkWriter(connection).insert(carts, rows)
    with container.engine.connect() as connection:
        keys = connection.execute(select(carts.c.cart_key)).scalars().all()
    assert ["taken"] == keys


def test_a_dropped_connection_is_invalidated_and_never_reused(
    backend: str, container: Container, store: CreatedStore
) -> None:
    """
    When the server drops the connection under a bulk statement, the error says so and the
    pool never hands that connection out again: the next unit of work writes normally.
    """
    # given
    if backend != "postgresql":
        pytest.skip("SQLite has no server to drop the connection")
    from sqlalchemy import text

    rows = [_cart_row(store.store.id, "after")]
    with container.engine.connect() as connection:
        backend_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with container.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend_pid})
        # when
        with pytest.raises(DBAPIError) as raised:
            BulkWriter(connection).insert(carts, [_cart_row(store.store.id, "lost")])
    with container.engine.begin() as connection:
        BulkWriter(connection).insert(carts, rows)
        keys = connection.execute(select(carts.c.cart_key)).scalars().all()
    # then
    assert raised.value.connection_invalidated
    assert ["after"] == keys


def test_the_ingestion_reads_give_exactly_what_sqlalchemy_gives(
    backend: str, container: Container, store: CreatedStore
) -> None:
    """
    PostgreSQL: the store, cart and line reads compiled once for psycopg give the same keys,
    values, types and time zones as `Connection.execute(...).mappings()` on the same
    statements: aware UTC times even where the session's zone is another, money as
    `Decimal` to the ten-thousandth, JSON as Python values, NULLs as None.
    """
    # given
    if backend != "postgresql":
        pytest.skip("these reads are PostgreSQL's; SQLite keeps SQLAlchemy's path")
    from sqlalchemy import text

    line = {
        "product_id": "p-1",
        "variant_id": None,
        "sku": "SKU-1",
        "name": "Mug \u2615",
        "variant_name": None,
        "quantity": 2,
        "unit_price": Decimal("12.3456"),
        "image_url": None,
        "url": "https://shop.example.com/mug",
        "category": None,
    }
    with container.engine.begin() as connection:
        BulkWriter(connection).insert(carts, [_cart_row(store.store.id, "k-1")])
        BulkWriter(connection).insert(
            cart_lines,
            [{"cart_id": "ca_k-1", "position": n, **line} for n in range(2)],
        )
    reads: list[tuple[PostgresRead, Any, dict[str, Any]]] = [
        (
            _READ_STORE,
            select(stores).where(stores.c.id == store.store.id),
            {"store_id": store.store.id},
        ),
        (
            _LOCK_CARTS_BY_KEY,
            select(carts).where(carts.c.cart_key.in_(["k-1", "k-2"])),
            {"store_id": store.store.id, "keys": ["k-1", "k-2"]},
        ),
        (
            _READ_LINES,
            select(cart_lines)
            .where(cart_lines.c.cart_id == "ca_k-1")
            .order_by(cart_lines.c.position),
            {"cart_ids": ["ca_k-1"]},
        ),
    ]
    with container.engine.begin() as connection:
        connection.execute(text("SET LOCAL TIME ZONE 'America/New_York'"))
        for read, statement, params in reads:
            # when
            found = read.mappings(connection, **params)
            expected = [dict(row) for row in connection.execute(statement).mappings()]
            # then
            assert expected, statement
            assert repr(expected) == repr(found)


def test_a_read_without_its_parameters_is_refused(backend: str, container: Container) -> None:
    """
    A read missing one of its parameters raises instead of sending NULL in its place.
    """
    # given
    if backend != "postgresql":
        pytest.skip("these reads are PostgreSQL's")
    # when / then
    with (
        container.engine.connect() as connection,
        pytest.raises(TypeError, match="missing parameters: keys"),
    ):
        _LOCK_CARTS_BY_KEY.mappings(connection, store_id="st_1")


def test_the_raw_log_keeps_each_payload_as_sent(container: Container, store: CreatedStore) -> None:
    """
    Payloads travel inside the rows' own JSON document on PostgreSQL: quotes, backslashes,
    other scripts, emoji, large and exact numbers, nesting and JSON nulls all come back equal.
    """
    # given
    payload = {
        "event": 'He said "hi" \\ {braces} [brackets]',
        "names": ["Zoë", "東京", "🛒", "\\u00e9 literally"],
        "numbers": [9007199254740993, 12.5, -0.0001, 0],
        "nested": {"a": {"b": [None, True, False, {"c": None}]}},
        "blank": "",
    }
    rows = [
        {
            "store_id": store.store.id,
            "source": "segment",
            "idempotency_key": f"m-{n}",
            "kind": "track",
            "name": None if n else "Product Added",
            "anonymous_id": "a-1",
            "user_id": None,
            "cart_key": "c-1",
            "occurred_at": MOMENT,
            "received_at": MOMENT + timedelta(seconds=n),
            "outcome": "applied",
            "payload": {**payload, "n": n},
        }
        for n in range(3)
    ]
    # when
    with container.engine.begin() as connection:
        inserted = BulkWriter(connection).insert(
            raw_events,
            rows,
            skip_conflicts_on=["store_id", "source", "idempotency_key"],
            returning=["idempotency_key"],
        )
    with container.engine.connect() as connection:
        found = connection.execute(
            select(raw_events.c.name, raw_events.c.received_at, raw_events.c.payload).order_by(
                raw_events.c.idempotency_key
            )
        ).all()
    # then
    assert [("m-0",), ("m-1",), ("m-2",)] == sorted(inserted)
    assert [(r["name"], r["received_at"], r["payload"]) for r in rows] == [tuple(f) for f in found]


def test_a_value_too_long_for_its_column_is_refused_not_cut(
    backend: str, container: Container, store: CreatedStore
) -> None:
    """
    PostgreSQL checks each column's length when the row is stored, as it would for a plain
    INSERT: a longer value fails the statement instead of being shortened.
    """
    # given
    if backend != "postgresql":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    rows = [_cart_row(store.store.id, "long", currency="EURO")]
    # when / then
    with pytest.raises(DBAPIError, match="too long"), container.engine.begin() as connection:
        BulkWriter(connection).insert(carts, rows)


def test_a_name_that_is_not_a_column_never_reaches_the_sql(container: Container) -> None:
    """
    Row keys become identifiers in the statement, so each must be a column of the table.
    """
    # given
    rows = [{"id": "x", "cart_key; DROP TABLE carts": 1}]
    # when / then
    with container.engine.begin() as connection, pytest.raises(KeyError, match="no column"):
        BulkWriter(connection).insert(carts, rows)


def test_rows_with_different_columns_are_refused_before_anything_is_written(
    container: Container, store: CreatedStore
) -> None:
    """
    Every row must name the same columns: a row short of one would otherwise store NULL there.
    """
    # given
    short = _cart_row(store.store.id, "short")
    del short["currency"]
    rows = [_cart_row(store.store.id, "whole"), short]
    # when / then
    with container.engine.begin() as connection, pytest.raises(KeyError, match="row 1"):
        BulkWriter(connection).insert(carts, rows)
    with container.engine.connect() as connection:
        assert [] == connection.execute(select(carts.c.id)).all()


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
