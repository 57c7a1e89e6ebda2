"""
The `short_links` table: a text's short restore link, one per touch, unique by code.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from cartback.domain.ports import ShortLink
from cartback.store.repositories import dialect_insert
from cartback.store.tables import short_links


class SqlShortLinkRepository:
    """
    Short links; a touch keeps the first code it was given.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, link: ShortLink) -> ShortLink | None:
        # Any conflict (the touch has a link, or the code is taken) inserts nothing; what is
        # stored for the touch afterwards says which.
        statement = (
            dialect_insert(self._db, short_links)
            .values(
                code=link.code,
                store_id=link.store_id,
                touch_id=link.touch_id,
                created_at=link.created_at,
                expires_at=link.expires_at,
            )
            .on_conflict_do_nothing()
        )
        self._db.execute(statement)
        return self.for_touch(link.touch_id)

    def for_touch(self, touch_id: str) -> ShortLink | None:
        row = (
            self._db.execute(select(short_links).where(short_links.c.touch_id == touch_id))
            .mappings()
            .first()
        )
        return _link(row) if row is not None else None

    def get(self, code: str) -> ShortLink | None:
        row = (
            self._db.execute(select(short_links).where(short_links.c.code == code))
            .mappings()
            .first()
        )
        return _link(row) if row is not None else None


def _link(row: Any) -> ShortLink:
    return ShortLink(
        code=row["code"],
        store_id=row["store_id"],
        touch_id=row["touch_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )
