"""
Counts of track event names that nothing maps, per store and name: one upsert per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, case, select

from cartback.domain.ports import UnmappedEvent
from cartback.store.repositories import dialect_insert
from cartback.store.tables import unmapped_events


class SqlUnmappedEventRepository:
    """
    The `unmapped_events` table.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def record(self, store_id: str, counts: Mapping[str, int], *, now: datetime) -> None:
        """
        Add `counts` to each name's row (created on first sight), in one statement.
        """
        if not counts:
            return
        # Sorted, so two transactions upserting the same names lock them in the same order
        # and cannot deadlock on PostgreSQL.
        rows = [
            {
                "store_id": store_id,
                "name": name,
                "count": counts[name],
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for name in sorted(counts)
        ]
        statement = dialect_insert(self._db, unmapped_events)  # rows as parameters: cached
        table, new = unmapped_events.c, statement.excluded
        self._db.execute(
            statement.on_conflict_do_update(
                index_elements=[table.store_id, table.name],
                set_={
                    "count": table["count"] + new["count"],
                    # Group commit may apply an older batch after a newer one: keep the extremes.
                    "first_seen_at": case(
                        (new.first_seen_at < table.first_seen_at, new.first_seen_at),
                        else_=table.first_seen_at,
                    ),
                    "last_seen_at": case(
                        (new.last_seen_at > table.last_seen_at, new.last_seen_at),
                        else_=table.last_seen_at,
                    ),
                },
            ),
            rows,
        )

    def list_recent(self, store_id: str, *, limit: int) -> list[UnmappedEvent]:
        """
        The store's unmapped names, most recently seen first.
        """
        query = (
            select(unmapped_events)
            .where(unmapped_events.c.store_id == store_id)
            .order_by(unmapped_events.c.last_seen_at.desc(), unmapped_events.c.name)
            .limit(limit)
        )
        return [
            UnmappedEvent(
                name=row["name"],
                count=row["count"],  # by key: `row.count` is the tuple method
                first_seen_at=row["first_seen_at"],
                last_seen_at=row["last_seen_at"],
            )
            for row in self._db.execute(query).mappings()
        ]
