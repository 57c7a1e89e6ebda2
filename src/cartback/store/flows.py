"""
Installed flow definitions: the `flows` table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from cartback.domain.ports import StoredFlow
from cartback.store.tables import flows


class SqlFlowRepository:
    """
    The `flows` table, one row per store and flow name.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def list_for_store(self, store_id: str) -> list[StoredFlow]:
        """
        The store's flows, highest priority first, then by name.
        """
        rows = self._db.execute(
            select(flows)
            .where(flows.c.store_id == store_id)
            .order_by(flows.c.priority.desc(), flows.c.name)
        ).mappings()
        return [_flow(row) for row in rows]

    def get(self, store_id: str, name: str) -> StoredFlow | None:
        """
        One flow by name.
        """
        row = (
            self._db.execute(
                select(flows).where(flows.c.store_id == store_id, flows.c.name == name)
            )
            .mappings()
            .first()
        )
        return _flow(row) if row else None

    def replace(self, store_id: str, records: Sequence[StoredFlow]) -> None:
        """
        Delete the store's flows and insert `records`, in the caller's transaction.
        """
        self._db.execute(delete(flows).where(flows.c.store_id == store_id))
        if records:
            self._db.execute(flows.insert(), [_row(r) for r in records])


def _row(record: StoredFlow) -> dict[str, Any]:
    return {
        "store_id": record.store_id,
        "name": record.name,
        "version": record.version,
        "source": record.source,
        "definition": dict(record.definition),
        "priority": record.priority,
        "enabled": record.enabled,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _flow(row: Any) -> StoredFlow:
    return StoredFlow(
        store_id=row["store_id"],
        name=row["name"],
        version=row["version"],
        source=row["source"],
        definition=row["definition"],
        priority=row["priority"],
        enabled=row["enabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
