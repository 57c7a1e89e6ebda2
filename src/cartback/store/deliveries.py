"""
The `delivery_events` table: providers' reports about sent messages, one row per event.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from cartback.domain.delivery import DeliveryEvent, DeliveryOutcome
from cartback.store.repositories import dialect_insert
from cartback.store.tables import delivery_events


class SqlDeliveryEventRepository:
    """
    Reports kept once per store, provider and event key (a replayed callback adds nothing).
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, event: DeliveryEvent) -> bool:
        insert = dialect_insert(self._db, delivery_events).on_conflict_do_nothing(
            index_elements=["store_id", "provider", "event_key"]
        )
        result = self._db.execute(insert, [_row(event)])
        return bool(result.rowcount)

    def for_touch(self, touch_id: str) -> list[DeliveryEvent]:
        query = (
            select(delivery_events)
            .where(delivery_events.c.touch_id == touch_id)
            .order_by(delivery_events.c.received_at, delivery_events.c.id)
        )
        return [_event(row) for row in self._db.execute(query).mappings()]


def _row(event: DeliveryEvent) -> dict[str, Any]:
    return {
        "store_id": event.store_id,
        "provider": event.provider,
        "event_key": event.event_key[:200],
        "provider_id": event.provider_id,
        "touch_id": event.touch_id,
        "outcome": event.outcome.value,
        "detail": event.detail[:500] if event.detail else None,
        "received_at": event.received_at,
    }


def _event(row: Any) -> DeliveryEvent:
    return DeliveryEvent(
        store_id=row["store_id"],
        provider=row["provider"],
        event_key=row["event_key"],
        outcome=DeliveryOutcome(row["outcome"]),
        received_at=row["received_at"],
        provider_id=row["provider_id"],
        touch_id=row["touch_id"],
        detail=row["detail"],
    )
