"""
The `report_snapshots` table: one report document per store and period key, as JSON text.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, and_, or_, select

from cartback.domain.report_snapshots import ReportSnapshot
from cartback.store.repositories import dialect_insert
from cartback.store.tables import report_snapshots, stores


class SqlReportSnapshotRepository:
    """
    Report snapshots, unique by store and period key.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def get(self, store_id: str, period: str) -> ReportSnapshot | None:
        row = (
            self._db.execute(
                select(report_snapshots).where(
                    report_snapshots.c.store_id == store_id, report_snapshots.c.period == period
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return ReportSnapshot(
            store_id=row["store_id"],
            period=row["period"],
            computed_at=row["computed_at"],
            report=json.loads(row["document"]),
        )

    def save(self, snapshot: ReportSnapshot) -> None:
        # `json.dumps` keeps floats exact (shortest repr) and writes an unknown interval as
        # `-Infinity`/`Infinity`, which `json.loads` reads back as the same floats.
        values = {
            "store_id": snapshot.store_id,
            "period": snapshot.period,
            "computed_at": snapshot.computed_at,
            "document": json.dumps(snapshot.report, separators=(",", ":")),
        }
        statement = dialect_insert(self._db, report_snapshots).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["store_id", "period"],
            set_={
                "computed_at": statement.excluded.computed_at,
                "document": statement.excluded.document,
            },
        )
        self._db.execute(statement)

    def stalest(self, period: str, *, computed_before: datetime) -> str | None:
        joined = stores.outerjoin(
            report_snapshots,
            and_(report_snapshots.c.store_id == stores.c.id, report_snapshots.c.period == period),
        )
        query = (
            select(stores.c.id)
            .select_from(joined)
            .where(
                or_(
                    report_snapshots.c.computed_at.is_(None),
                    report_snapshots.c.computed_at < computed_before,
                )
            )
            # Never computed first (NULL sorts first on both databases with this key), then
            # the oldest; the store id keeps the order stable.
            .order_by(report_snapshots.c.computed_at.is_not(None), report_snapshots.c.computed_at)
            .order_by(stores.c.id)
            .limit(1)
        )
        found = self._db.execute(query).scalar()
        return None if found is None else str(found)
