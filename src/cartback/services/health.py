"""
Store health: a periodic check (the worker's, every few minutes) opens an alert when a store's
events or orders stopped arriving for longer than usual (`domain.health` says what usual is),
and resolves it when they resume. Each change is one transaction per store, with its
`store.alert` webhook event; `open_alerts` is what the dashboard and the API show.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

import structlog

from cartback.domain.health import (
    LOOKBACK,
    AlertKind,
    OpenAlert,
    ResolveAlert,
    StoreAlert,
    decide,
)
from cartback.domain.ports import UnitOfWork, UnitOfWorkFactory
from cartback.domain.time import Clock
from cartback.services.webhook_events import WebhookEvents, store_alert

log = structlog.get_logger(__name__)


@dataclass(kw_only=True, slots=True)
class HealthReport:
    """
    What one check opened and resolved, and every alert open after it (for the gauge).
    """

    opened: list[StoreAlert] = field(default_factory=list)
    resolved: list[StoreAlert] = field(default_factory=list)
    open_now: list[StoreAlert] = field(default_factory=list)


def open_alerts(uow: UnitOfWork, store_id: str) -> list[StoreAlert]:
    """
    The store's unresolved alerts, oldest first (the dashboard's banner).
    """
    with uow:
        return uow.alerts.open_alerts(store_id)


def check_health(*, uow_factory: UnitOfWorkFactory, clock: Clock) -> HealthReport:
    """
    Check every store's arrivals: read without the write lock, and only a store whose alerts
    change gets a (short) writing transaction.
    """
    report = HealthReport()
    with uow_factory(read_only=True) as uow:
        store_ids = uow.alerts.store_ids()
    for store_id in store_ids:
        now = clock.now()
        with uow_factory(read_only=True) as uow:
            changes = _decisions(uow, store_id, now)
        if changes:
            _apply(uow_factory(), store_id, changes, now, report)
    with uow_factory(read_only=True) as uow:
        report.open_now = uow.alerts.open_alerts()
    return report


_Change = tuple[AlertKind, OpenAlert | ResolveAlert, StoreAlert | None]


def _decisions(uow: UnitOfWork, store_id: str, now: datetime) -> list[_Change]:
    current = {alert.kind: alert for alert in uow.alerts.open_alerts(store_id)}
    changes: list[_Change] = []
    for kind in AlertKind:
        arrivals = uow.alerts.arrivals(store_id, kind, since=now - LOOKBACK)
        decision = decide(kind, arrivals, current.get(kind), now=now)
        if decision is not None:
            changes.append((kind, decision, current.get(kind)))
    return changes


def _apply(
    uow: UnitOfWork, store_id: str, changes: list[_Change], now: datetime, report: HealthReport
) -> None:
    events = WebhookEvents()
    with uow:
        for kind, decision, alert in changes:
            if isinstance(decision, OpenAlert):
                _open(uow, events, store_id, kind, decision.detail, now, report)
            elif alert is not None:
                _resolve(uow, events, alert, now, report)
        uow.commit()


def _open(
    uow: UnitOfWork,
    events: WebhookEvents,
    store_id: str,
    kind: AlertKind,
    detail: str,
    now: datetime,
    report: HealthReport,
) -> None:
    alert = StoreAlert(id=None, store_id=store_id, kind=kind, detail=detail, started_at=now)
    opened = uow.alerts.open(alert)
    if opened is None:
        return  # another worker opened it first
    events.emit(uow, store_alert(opened, state="opened", now=now))
    report.opened.append(opened)
    log.warning("health.alert.opened", store_id=store_id, kind=kind.value, detail=detail)


def _resolve(
    uow: UnitOfWork, events: WebhookEvents, alert: StoreAlert, now: datetime, report: HealthReport
) -> None:
    if alert.id is None or not uow.alerts.resolve(alert.id, at=now):
        return  # another worker resolved it first
    resolved = replace(alert, resolved_at=now)
    events.emit(uow, store_alert(resolved, state="resolved", now=now))
    report.resolved.append(resolved)
    log.info("health.alert.resolved", store_id=alert.store_id, kind=alert.kind.value)
