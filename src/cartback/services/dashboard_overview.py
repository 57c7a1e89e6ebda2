"""
The dashboard's overview of one store: the measurement report (`services.reports.build_report`,
the very numbers of `GET /v1/reports/summary`) for a period of whole days in the store's time
zone, and the store's open health alerts. Scoped like every dashboard read (`access_store`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from cartback.domain.errors import FieldError, InvalidInput
from cartback.domain.health import StoreAlert
from cartback.domain.operators import Operator
from cartback.domain.ports import UnitOfWorkFactory
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services.dashboard import access_store
from cartback.services.health import open_alerts
from cartback.services.reports import ReportDocument, build_report

#: Days the overview shows when no period is asked for: today and the 29 before.
DEFAULT_DAYS = 30


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreOverview:
    """
    What the overview page shows: the report for `first_day`..`last_day` (both included, the
    store's time zone) and the alerts open now.
    """

    store: Store
    first_day: date
    last_day: date
    report: ReportDocument
    alerts: list[StoreAlert]


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
    The store's report for carts abandoned from `first_day` to `last_day`, both included
    (default: the last 30 days up to today, in the store's time zone), and its open alerts.
    Three short read-only transactions: the access check, the alerts, the report.

    Raises:
        NotFound: the operator may not see the store (or there is no such store).
        InvalidInput: `first_day` after `last_day`, or more than a report covers.
    """
    with uow_factory(read_only=True) as uow:
        store = access_store(uow, operator, store_id)
    today = clock.now().astimezone(ZoneInfo(store.timezone)).date()
    last = last_day or (today if first_day is None else max(today, first_day))
    first = first_day or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidInput(
            "invalid report period: from must not be after to",
            errors=[FieldError(path="from", message="must not be after to")],
        )
    alerts = open_alerts(uow_factory(read_only=True), store.id)
    report = build_report(
        uow=uow_factory(read_only=True),
        clock=clock,
        store_id=store.id,
        start=first,
        end=last + timedelta(days=1),  # the last day is included: up to the next midnight
    )
    return StoreOverview(store=store, first_day=first, last_day=last, report=report, alerts=alerts)
