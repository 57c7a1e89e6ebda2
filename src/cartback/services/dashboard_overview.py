"""
The dashboard's overview of one store: the measurement report (`services.reports.build_report`,
the very numbers of `GET /v1/reports/summary`) for a period of whole days in the store's time
zone, and the store's open health alerts. Scoped like every dashboard read (`access_store`).

The default period (the last 30 days) is read from the store's report snapshot
(`services.report_snapshots`), which the worker keeps fresh; a period asked for is computed
live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cartback.domain.errors import FieldError, InvalidInput
from cartback.domain.health import StoreAlert
from cartback.domain.operators import Operator
from cartback.domain.ports import UnitOfWorkFactory
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services.dashboard import access_store
from cartback.services.health import open_alerts
from cartback.services.report_snapshots import (
    DEFAULT_DAYS,
    default_days,
    refresh_snapshot,
    stored_snapshot,
)
from cartback.services.reports import ReportDocument, build_report

__all__ = ["DEFAULT_DAYS", "StoreOverview", "refresh_overview", "store_overview"]


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreOverview:
    """
    What the overview page shows: the report for `first_day`..`last_day` (both included, the
    store's time zone) and the alerts open now. `computed_at` is the snapshot's time, None
    for a period computed live.
    """

    store: Store
    first_day: date
    last_day: date
    report: ReportDocument
    alerts: list[StoreAlert]
    computed_at: datetime | None = None


def store_overview(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    operator: Operator,
    store_id: str,
    first_day: date | None = None,
    last_day: date | None = None,
) -> StoreOverview:
    """
    The store's report for carts abandoned from `first_day` to `last_day`, both included, and
    its open alerts. Without a period, the stored snapshot of the last 30 days (computed and
    stored first when there is none yet); with one, the report computed now.

    Raises:
        NotFound: the operator may not see the store (or there is no such store).
        InvalidInput: `first_day` after `last_day`, or more than a report covers.
    """
    with uow_factory(read_only=True) as uow:
        store = access_store(uow, operator, store_id)
    alerts = open_alerts(uow_factory(read_only=True), store.id)
    if first_day is None and last_day is None:
        snapshot = stored_snapshot(uow_factory=uow_factory, store_id=store.id)
        if snapshot is None:
            snapshot = refresh_snapshot(uow_factory=uow_factory, clock=clock, store=store)
        return StoreOverview(
            store=store,
            first_day=snapshot.first_day,
            last_day=snapshot.last_day,
            report=snapshot.report,
            alerts=alerts,
            computed_at=snapshot.computed_at,
        )
    first, last = _period(store, clock.now(), first_day, last_day)
    report = build_report(
        uow=uow_factory(read_only=True),
        clock=clock,
        store_id=store.id,
        start=first,
        end=last + timedelta(days=1),  # the last day is included: up to the next midnight
    )
    return StoreOverview(store=store, first_day=first, last_day=last, report=report, alerts=alerts)


def refresh_overview(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, operator: Operator, store_id: str
) -> None:
    """
    Recompute and store the store's overview snapshot now ("Refresh now").

    Raises:
        NotFound: the operator may not see the store (or there is no such store).
    """
    with uow_factory(read_only=True) as uow:
        store = access_store(uow, operator, store_id)
    refresh_snapshot(uow_factory=uow_factory, clock=clock, store=store)


def _period(
    store: Store, now: datetime, first_day: date | None, last_day: date | None
) -> tuple[date, date]:
    """
    The asked period, completed: `last_day` defaults to today (or `first_day` if later),
    `first_day` to 30 days before `last_day`.

    Raises:
        InvalidInput: `first_day` after `last_day`.
    """
    today = default_days(store, now)[1]
    last = last_day or (today if first_day is None else max(today, first_day))
    first = first_day or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidInput(
            "invalid report period: from must not be after to",
            errors=[FieldError(path="from", message="must not be after to")],
        )
    return first, last
