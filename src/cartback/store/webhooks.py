"""
Outbound webhooks (`webhook_endpoints`, `webhook_deliveries`) and store health alerts
(`store_alerts`, with the arrival history of `raw_events` and `orders` they are decided on).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from cartback.domain.health import AlertKind, Arrivals, StoreAlert
from cartback.domain.webhooks import (
    DeliveryStatus,
    EventType,
    OutboundEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from cartback.kit.ids import new_id
from cartback.store.tables import (
    orders,
    raw_events,
    store_alerts,
    stores,
    webhook_deliveries,
    webhook_endpoints,
)
from cartback.store.types import UTCDateTime, json_type

_ENDPOINT = webhook_endpoints.c
_DELIVERY = webhook_deliveries.c
#: Written out (not bound), so SQLite sees the partial index's predicate in the query.
_PENDING: Any = literal_column(f"'{DeliveryStatus.PENDING.value}'")


def _endpoint(row: RowMapping) -> WebhookEndpoint:
    known = {t.value for t in EventType}
    return WebhookEndpoint(
        id=row["id"],
        store_id=row["store_id"],
        url=row["url"],
        event_types=tuple(EventType(t) for t in row["event_types"] if t in known),
        sealed_secret=row["sealed_secret"],
        enabled=row["enabled"],
        disabled_reason=row["disabled_reason"],
        failing_since=row["failing_since"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _delivery(row: RowMapping) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        store_id=row["store_id"],
        endpoint_id=row["endpoint_id"],
        event_type=row["event_type"],
        payload=row["payload"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        lease_until=row["lease_until"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        delivered_at=row["delivered_at"],
    )


class SqlWebhookRepository:
    """
    The `webhook_endpoints` and `webhook_deliveries` tables.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self._db.execute(
            insert(webhook_endpoints).values(
                id=endpoint.id,
                store_id=endpoint.store_id,
                url=endpoint.url,
                event_types=[t.value for t in endpoint.event_types],
                sealed_secret=endpoint.sealed_secret,
                enabled=endpoint.enabled,
                disabled_reason=endpoint.disabled_reason,
                failing_since=endpoint.failing_since,
                created_at=endpoint.created_at,
                updated_at=endpoint.updated_at,
            )
        )

    def endpoints(self, store_id: str) -> list[WebhookEndpoint]:
        query = (
            select(webhook_endpoints)
            .where(_ENDPOINT.store_id == store_id)
            .order_by(_ENDPOINT.created_at, _ENDPOINT.id)
        )
        return [_endpoint(row) for row in self._db.execute(query).mappings()]

    def endpoint(self, store_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        query = select(webhook_endpoints).where(
            _ENDPOINT.store_id == store_id, _ENDPOINT.id == endpoint_id
        )
        row = self._db.execute(query).mappings().first()
        return _endpoint(row) if row else None

    def endpoints_by_id(self, endpoint_ids: Sequence[str]) -> dict[str, WebhookEndpoint]:
        if not endpoint_ids:
            return {}
        query = select(webhook_endpoints).where(_ENDPOINT.id.in_(sorted(set(endpoint_ids))))
        return {row["id"]: _endpoint(row) for row in self._db.execute(query).mappings()}

    def remove_endpoint(self, store_id: str, endpoint_id: str) -> bool:
        # Deliveries first: SQLite enforces ON DELETE CASCADE only with foreign keys on.
        owned = select(_ENDPOINT.id).where(
            _ENDPOINT.store_id == store_id, _ENDPOINT.id == endpoint_id
        )
        self._db.execute(delete(webhook_deliveries).where(_DELIVERY.endpoint_id.in_(owned)))
        removed = self._db.execute(
            delete(webhook_endpoints).where(
                _ENDPOINT.store_id == store_id, _ENDPOINT.id == endpoint_id
            )
        )
        return bool(removed.rowcount)

    def subscriptions(self, store_id: str) -> dict[str, tuple[str, ...]]:
        query = select(_ENDPOINT.id, _ENDPOINT.event_types).where(
            _ENDPOINT.store_id == store_id, _ENDPOINT.enabled.is_(True)
        )
        found: dict[str, list[str]] = {}
        for endpoint_id, types in self._db.execute(query):
            for event_type in types:
                found.setdefault(event_type, []).append(endpoint_id)
        return {event_type: tuple(ids) for event_type, ids in found.items()}

    def enqueue(self, event: OutboundEvent, endpoint_ids: Sequence[str], *, now: datetime) -> int:
        written = 0
        payload = event.payload()
        for endpoint_id in endpoint_ids:
            # INSERT … SELECT: an endpoint removed or disabled since the caller read its
            # subscriptions gets nothing (and no foreign key error undoes the caller's work).
            source = select(
                literal(new_id("msg")),
                literal(event.store_id),
                _ENDPOINT.id,
                literal(event.type.value),
                literal(payload, type_=json_type()),
                literal(DeliveryStatus.PENDING.value),
                literal(0),
                literal(now, type_=UTCDateTime()),
                literal(now, type_=UTCDateTime()),
            ).where(
                _ENDPOINT.id == endpoint_id,
                _ENDPOINT.store_id == event.store_id,
                _ENDPOINT.enabled.is_(True),
            )
            result = self._db.execute(
                insert(webhook_deliveries).from_select(
                    [
                        "id",
                        "store_id",
                        "endpoint_id",
                        "event_type",
                        "payload",
                        "status",
                        "attempts",
                        "next_attempt_at",
                        "created_at",
                    ],
                    source,
                )
            )
            written += result.rowcount or 0
        return written

    def any_due(self, *, now: datetime) -> bool:
        query = (
            select(_DELIVERY.id)
            .where(_DELIVERY.status == _PENDING, _DELIVERY.next_attempt_at <= now)
            .limit(1)
        )
        return self._db.execute(query).first() is not None

    def claim_due(self, *, now: datetime, limit: int, lease: timedelta) -> list[WebhookDelivery]:
        query = (
            select(webhook_deliveries)
            .where(_DELIVERY.status == _PENDING, _DELIVERY.next_attempt_at <= now)
            .order_by(_DELIVERY.next_attempt_at, _DELIVERY.id)
            .limit(limit)
        )
        if self._db.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claimed = [_delivery(row) for row in self._db.execute(query).mappings()]
        if not claimed:
            return []
        until = now + lease
        self._db.execute(
            update(webhook_deliveries)
            .where(_DELIVERY.id.in_([d.id for d in claimed]))
            .values(next_attempt_at=until, lease_until=until)
        )
        return [
            WebhookDelivery(**{**_fields(d), "next_attempt_at": until, "lease_until": until})
            for d in claimed
        ]

    def finish_attempt(self, delivery: WebhookDelivery, *, leased_until: datetime) -> bool:
        result = self._db.execute(
            update(webhook_deliveries)
            .where(_DELIVERY.id == delivery.id, _DELIVERY.lease_until == leased_until)
            .values(
                status=delivery.status.value,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
                lease_until=None,
                last_status_code=delivery.last_status_code,
                last_error=delivery.last_error,
                delivered_at=delivery.delivered_at,
            )
        )
        return bool(result.rowcount)

    def mark_endpoint(self, endpoint_id: str, *, ok: bool, at: datetime) -> WebhookEndpoint | None:
        if ok:
            statement = update(webhook_endpoints).where(
                _ENDPOINT.id == endpoint_id, _ENDPOINT.failing_since.is_not(None)
            )
            self._db.execute(statement.values(failing_since=None, updated_at=at))
        else:
            statement = update(webhook_endpoints).where(
                _ENDPOINT.id == endpoint_id, _ENDPOINT.failing_since.is_(None)
            )
            self._db.execute(statement.values(failing_since=at, updated_at=at))
        return self.endpoints_by_id([endpoint_id]).get(endpoint_id)

    def disable_endpoint(self, endpoint_id: str, *, reason: str, at: datetime) -> None:
        self._db.execute(
            update(webhook_endpoints)
            .where(_ENDPOINT.id == endpoint_id)
            .values(enabled=False, disabled_reason=reason[:200], updated_at=at)
        )

    def deliveries(self, store_id: str, endpoint_id: str, *, limit: int) -> list[WebhookDelivery]:
        query = (
            select(webhook_deliveries)
            .where(_DELIVERY.store_id == store_id, _DELIVERY.endpoint_id == endpoint_id)
            .order_by(_DELIVERY.created_at.desc(), _DELIVERY.id.desc())
            .limit(limit)
        )
        return [_delivery(row) for row in self._db.execute(query).mappings()]


def _fields(delivery: WebhookDelivery) -> dict[str, Any]:
    return {name: getattr(delivery, name) for name in WebhookDelivery.__slots__}


class SqlStoreAlertRepository:
    """
    The `store_alerts` table, and the arrival history of raw events and orders.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def store_ids(self) -> list[str]:
        return list(self._db.execute(select(stores.c.id).order_by(stores.c.id)).scalars())

    def open_alerts(self, store_id: str | None = None) -> list[StoreAlert]:
        query = select(store_alerts).where(store_alerts.c.resolved_at.is_(None))
        if store_id is not None:
            query = query.where(store_alerts.c.store_id == store_id)
        query = query.order_by(store_alerts.c.started_at, store_alerts.c.id)
        return [_alert(row) for row in self._db.execute(query).mappings()]

    def open(self, alert: StoreAlert) -> StoreAlert | None:
        values = {
            "store_id": alert.store_id,
            "kind": alert.kind.value,
            "detail": alert.detail[:500],
            "started_at": alert.started_at,
        }
        try:
            with self._db.begin_nested():
                result = self._db.execute(insert(store_alerts).values(**values))
        except IntegrityError:
            return None  # the partial unique index: one open alert per store and kind
        key = result.inserted_primary_key
        return StoreAlert(
            id=int(key[0]) if key else None,
            store_id=alert.store_id,
            kind=alert.kind,
            detail=alert.detail[:500],
            started_at=alert.started_at,
        )

    def resolve(self, alert_id: int, *, at: datetime) -> bool:
        result = self._db.execute(
            update(store_alerts)
            .where(store_alerts.c.id == alert_id, store_alerts.c.resolved_at.is_(None))
            .values(resolved_at=at)
        )
        return bool(result.rowcount)

    def arrivals(self, store_id: str, kind: AlertKind, *, since: datetime) -> Arrivals:
        if kind is AlertKind.EVENTS_STOPPED:
            table, moment = raw_events, raw_events.c.received_at
        else:
            table, moment = orders, orders.c.placed_at
        owned = table.c.store_id == store_id
        last = self._db.execute(select(func.max(moment)).where(owned)).scalar()
        if self._db.dialect.name == "postgresql":
            # Literals, not bound: PostgreSQL matches the GROUP BY to the select list by text.
            utc = func.timezone(literal_column("'UTC'"), moment)
            hour: Any = func.date_trunc(literal_column("'hour'"), utc)
        else:
            # "YYYY-MM-DD HH" of the stored UTC text.
            hour = func.substr(moment, literal_column("1"), literal_column("13"))
        query = select(hour).where(owned, moment >= since).group_by(hour)
        hours = tuple(_hour(value) for value in self._db.execute(query).scalars())
        return Arrivals(hours=hours, last_at=_aware(last))


def _hour(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.strptime(str(value), "%Y-%m-%d %H").replace(tzinfo=UTC)


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"not a time: {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _alert(row: RowMapping) -> StoreAlert:
    return StoreAlert(
        id=row["id"],
        store_id=row["store_id"],
        kind=AlertKind(row["kind"]),
        detail=row["detail"],
        started_at=row["started_at"],
        resolved_at=row["resolved_at"],
    )
