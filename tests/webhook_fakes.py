"""
In-memory fakes of the outbound webhook and store alert repositories, a resolver with a fixed
table of names, and a transport that records requests and answers from a script.

The repositories keep their rows in `FakeDatabase.webhooks` (a `WebhookState`), so a fake unit
of work's copy-and-publish covers them like every other table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cartback.domain.health import AlertKind, Arrivals, StoreAlert
from cartback.domain.webhooks import (
    AttemptResult,
    DeliveryStatus,
    OutboundEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from cartback.kit.ids import new_id

if TYPE_CHECKING:
    from fakes import FakeDatabase


@dataclass
class WebhookState:
    """
    Endpoints, deliveries, alerts, and the arrivals each store and kind shows (set by tests).
    """

    endpoints: dict[str, WebhookEndpoint] = field(default_factory=dict)
    deliveries: dict[str, WebhookDelivery] = field(default_factory=dict)
    alerts: list[StoreAlert] = field(default_factory=list)
    arrivals: dict[tuple[str, AlertKind], list[datetime]] = field(default_factory=dict)
    subscription_reads: int = 0


class InMemoryWebhookRepository:
    """
    `WebhookRepository` over `WebhookState`.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    @property
    def _state(self) -> WebhookState:
        return self._db.webhooks

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        self._state.endpoints[endpoint.id] = endpoint

    def endpoints(self, store_id: str) -> list[WebhookEndpoint]:
        found = [e for e in self._state.endpoints.values() if e.store_id == store_id]
        return sorted(found, key=lambda e: (e.created_at, e.id))

    def endpoint(self, store_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        found = self._state.endpoints.get(endpoint_id)
        return found if found is not None and found.store_id == store_id else None

    def endpoints_by_id(self, endpoint_ids: Sequence[str]) -> dict[str, WebhookEndpoint]:
        return {i: self._state.endpoints[i] for i in endpoint_ids if i in self._state.endpoints}

    def remove_endpoint(self, store_id: str, endpoint_id: str) -> bool:
        if self.endpoint(store_id, endpoint_id) is None:
            return False
        del self._state.endpoints[endpoint_id]
        for key in [k for k, d in self._state.deliveries.items() if d.endpoint_id == endpoint_id]:
            del self._state.deliveries[key]
        return True

    def subscriptions(self, store_id: str) -> dict[str, tuple[str, ...]]:
        self._state.subscription_reads += 1
        found: dict[str, list[str]] = {}
        for endpoint in self.endpoints(store_id):
            if endpoint.enabled:
                for event_type in endpoint.event_types:
                    found.setdefault(event_type.value, []).append(endpoint.id)
        return {k: tuple(v) for k, v in found.items()}

    def enqueue(self, event: OutboundEvent, endpoint_ids: Sequence[str], *, now: datetime) -> int:
        written = 0
        for endpoint_id in endpoint_ids:
            endpoint = self._state.endpoints.get(endpoint_id)
            if endpoint is None or not endpoint.enabled or endpoint.store_id != event.store_id:
                continue
            delivery = WebhookDelivery(
                id=new_id("msg"),
                store_id=event.store_id,
                endpoint_id=endpoint_id,
                event_type=event.type.value,
                payload=event.payload(),
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            self._state.deliveries[delivery.id] = delivery
            written += 1
        return written

    def any_due(self, *, now: datetime) -> bool:
        return any(
            d.status is DeliveryStatus.PENDING
            and d.next_attempt_at is not None
            and d.next_attempt_at <= now
            for d in self._state.deliveries.values()
        )

    def claim_due(self, *, now: datetime, limit: int, lease: timedelta) -> list[WebhookDelivery]:
        due = sorted(
            (
                d
                for d in self._state.deliveries.values()
                if d.status is DeliveryStatus.PENDING
                and d.next_attempt_at is not None
                and d.next_attempt_at <= now
            ),
            key=lambda d: (d.next_attempt_at or now, d.id),
        )[:limit]
        claimed = []
        for delivery in due:
            leased = replace(delivery, next_attempt_at=now + lease, lease_until=now + lease)
            self._state.deliveries[delivery.id] = leased
            claimed.append(leased)
        return claimed

    def finish_attempt(self, delivery: WebhookDelivery, *, leased_until: datetime) -> bool:
        current = self._state.deliveries.get(delivery.id)
        if current is None or current.lease_until != leased_until:
            return False
        self._state.deliveries[delivery.id] = replace(delivery, lease_until=None)
        return True

    def mark_endpoint(self, endpoint_id: str, *, ok: bool, at: datetime) -> WebhookEndpoint | None:
        endpoint = self._state.endpoints.get(endpoint_id)
        if endpoint is None:
            return None
        if ok and endpoint.failing_since is not None:
            endpoint = replace(endpoint, failing_since=None, updated_at=at)
        elif not ok and endpoint.failing_since is None:
            endpoint = replace(endpoint, failing_since=at, updated_at=at)
        self._state.endpoints[endpoint_id] = endpoint
        return endpoint

    def disable_endpoint(self, endpoint_id: str, *, reason: str, at: datetime) -> None:
        endpoint = self._state.endpoints[endpoint_id]
        self._state.endpoints[endpoint_id] = replace(
            endpoint, enabled=False, disabled_reason=reason[:200], updated_at=at
        )

    def deliveries(self, store_id: str, endpoint_id: str, *, limit: int) -> list[WebhookDelivery]:
        found = [
            d
            for d in self._state.deliveries.values()
            if d.store_id == store_id and d.endpoint_id == endpoint_id
        ]
        return sorted(found, key=lambda d: (d.created_at, d.id), reverse=True)[:limit]


class InMemoryStoreAlertRepository:
    """
    `StoreAlertRepository` over `WebhookState` (arrivals come from `WebhookState.arrivals`).
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    @property
    def _state(self) -> WebhookState:
        return self._db.webhooks

    def store_ids(self) -> list[str]:
        return sorted(self._db.stores)

    def open_alerts(self, store_id: str | None = None) -> list[StoreAlert]:
        return [
            a
            for a in self._state.alerts
            if a.resolved_at is None and (store_id is None or a.store_id == store_id)
        ]

    def open(self, alert: StoreAlert) -> StoreAlert | None:
        if any(a.kind is alert.kind for a in self.open_alerts(alert.store_id)):
            return None
        stored = replace(alert, id=len(self._state.alerts) + 1)
        self._state.alerts.append(stored)
        return stored

    def resolve(self, alert_id: int, *, at: datetime) -> bool:
        if not any(a.id == alert_id and a.resolved_at is None for a in self._state.alerts):
            return False
        self._state.alerts = [
            replace(a, resolved_at=at) if a.id == alert_id and a.resolved_at is None else a
            for a in self._state.alerts
        ]
        return True

    def arrivals(self, store_id: str, kind: AlertKind, *, since: datetime) -> Arrivals:
        moments = sorted(self._state.arrivals.get((store_id, kind), []))
        hours = {m.replace(minute=0, second=0, microsecond=0) for m in moments if m >= since}
        return Arrivals(hours=tuple(sorted(hours)), last_at=moments[-1] if moments else None)


class FakeResolver:
    """
    DNS from a table: names not in it resolve to nothing. Records every question.
    """

    def __init__(self, table: Mapping[str, Sequence[str]] | None = None) -> None:
        self.table = dict(table or {})
        self.asked: list[str] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return list(self.table.get(host, ()))


@dataclass
class SentRequest:
    """
    One POST the fake transport took.
    """

    url: str
    host_header: str
    server_name: str | None
    headers: dict[str, str]
    body: bytes


class FakeTransport:
    """
    Records each POST and answers from `answers` (then 200).
    """

    def __init__(self, *answers: AttemptResult) -> None:
        self.answers = list(answers)
        self.sent: list[SentRequest] = []

    def post(
        self,
        *,
        url: str,
        host_header: str,
        server_name: str | None,
        headers: Mapping[str, str],
        body: bytes,
    ) -> AttemptResult:
        self.sent.append(SentRequest(url, host_header, server_name, dict(headers), body))
        return self.answers.pop(0) if self.answers else AttemptResult(status_code=200)


def at(hours: float, *, base: datetime = datetime(2026, 11, 20, tzinfo=UTC)) -> datetime:
    """
    A moment `hours` after a fixed base.
    """
    return base + timedelta(hours=hours)


def payload_of(request: SentRequest) -> Any:
    """
    The JSON document a request carried.
    """
    import json

    return json.loads(request.body)
