"""
Alembic environment: runs on the connection `cartback migrate` (or a test) hands over, or on
the URL in the Alembic config.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

from cartback.store.database import create_database_engine
from cartback.store.tables import metadata
from cartback.store.types import MONEY_PRECISION, MONEY_SCALE, Money, UTCDateTime


def _render_item(kind: str, item: Any, _context: Any) -> str | Literal[False]:
    """
    Write our column types as plain SQLAlchemy types, so a migration stays what it was even
    when `cartback.store.types` changes later.
    """
    if kind == "type" and isinstance(item, Money):
        return (
            f'sa.Numeric({MONEY_PRECISION}, {MONEY_SCALE}).with_variant(sa.BigInteger(), "sqlite")'
        )
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite rebuilds tables for ALTERs
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """
    Migrate the given connection, or a fresh one to the configured URL.
    """
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_database_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as fresh:
        _run(fresh)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `cartback migrate`")
run_migrations_online()
