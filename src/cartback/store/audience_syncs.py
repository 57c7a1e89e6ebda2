"""
The `audience_syncs` table: what each ad network holds of each audience, one row per hashed
identifier, kept (with `removed_at`) after the network let it go so a return reuses the row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select, update

from cartback.domain.ports import SyncedIdentifier
from cartback.store.repositories import dialect_insert
from cartback.store.tables import audience_syncs

#: Rows per statement: 8 values a row stays well under SQLite's bound-variable limit.
_CHUNK = 1000


class SqlAudienceSyncRepository:
    """
    Audience syncs, unique by store, audience, network, kind and identifier.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def held(self, store_id: str, audience: str, network: str) -> list[SyncedIdentifier]:
        table = audience_syncs.c
        rows = self._db.execute(
            select(table.kind, table.identifier, table.contact_id)
            .where(
                table.store_id == store_id,
                table.audience == audience,
                table.network == network,
                table.removed_at.is_(None),
            )
            .order_by(table.id)
        )
        return [
            SyncedIdentifier(kind=kind, identifier=identifier, contact_id=contact_id)
            for kind, identifier, contact_id in rows
        ]

    def mark_added(
        self,
        store_id: str,
        audience: str,
        network: str,
        entries: Sequence[SyncedIdentifier],
        *,
        at: datetime,
    ) -> None:
        for start in range(0, len(entries), _CHUNK):
            rows = [
                {
                    "store_id": store_id,
                    "audience": audience,
                    "network": network,
                    "kind": entry.kind,
                    "identifier": entry.identifier,
                    "contact_id": entry.contact_id,
                    "added_at": at,
                    "removed_at": None,
                }
                for entry in entries[start : start + _CHUNK]
            ]
            statement = dialect_insert(self._db, audience_syncs).values(rows)
            # A row the network let go before is held again: the same row, added anew.
            statement = statement.on_conflict_do_update(
                index_elements=["store_id", "audience", "network", "kind", "identifier"],
                set_={
                    "contact_id": statement.excluded.contact_id,
                    "added_at": statement.excluded.added_at,
                    "removed_at": None,
                },
            )
            self._db.execute(statement)

    def mark_removed(
        self,
        store_id: str,
        audience: str,
        network: str,
        identifiers: Sequence[tuple[str, str]],
        *,
        at: datetime,
    ) -> None:
        by_kind: dict[str, list[str]] = defaultdict(list)
        for kind, identifier in identifiers:
            by_kind[kind].append(identifier)
        table = audience_syncs.c
        for kind, hashes in by_kind.items():
            for start in range(0, len(hashes), _CHUNK):
                self._db.execute(
                    update(audience_syncs)
                    .where(
                        table.store_id == store_id,
                        table.audience == audience,
                        table.network == network,
                        table.kind == kind,
                        table.identifier.in_(hashes[start : start + _CHUNK]),
                        table.removed_at.is_(None),
                    )
                    .values(removed_at=at)
                )
