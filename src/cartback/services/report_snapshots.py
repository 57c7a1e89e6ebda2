"""
Report snapshots: the dashboard overview's default report (the last 30 days) computed by
`build_report` and stored, so the page reads one row. The worker keeps each store's fresh
(`refresh_stalest`, one store per pass, oldest first, each in its own transaction); "Refresh
now" and a store's first view compute it on the spot (`refresh_snapshot`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

from cartback.domain.errors import NotFound
from cartback.domain.ports import UnitOfWorkFactory
from cartback.domain.report_snapshots import OVERVIEW_PERIOD, ReportSnapshot
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services.reports import build_report

log = structlog.get_logger(__name__)

#: Days the overview shows when no period is asked for: today and the 29 before.
DEFAULT_DAYS = 30


def default_days(store: Store, now: datetime) -> tuple[date, date]:
    """
    The overview's default period, both days included: the last `DEFAULT_DAYS` days up to
    today in the store's time zone.
    """
    today = now.astimezone(ZoneInfo(store.timezone)).date()
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def refresh_snapshot(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, store: Store
) -> ReportSnapshot:
    """
    Compute the store's overview report now (a read-only transaction) and store it (a short
    write transaction of its own).

    Raises:
        NotFound: the store was deleted meanwhile.
    """
    first, last = default_days(store, clock.now())
    report = build_report(
        uow=uow_factory(read_only=True),
        clock=clock,
        store_id=store.id,
        start=first,
        end=last + timedelta(days=1),  # the last day is included: up to the next midnight
    )
    snapshot = ReportSnapshot(
        store_id=store.id, period=OVERVIEW_PERIOD, computed_at=clock.now(), report=report
    )
    with uow_factory() as uow:
        if uow.stores.get(store.id) is None:
            # Deleted while the report was computed: nothing to keep (and no row to refer to).
            return snapshot
        uow.report_snapshots.save(snapshot)
        uow.commit()
    log.info("report.snapshot.saved", store_id=store.id, period=OVERVIEW_PERIOD)
    return snapshot


def stored_snapshot(*, uow_factory: UnitOfWorkFactory, store_id: str) -> ReportSnapshot | None:
    """
    The store's stored overview snapshot, or None before the first one.
    """
    with uow_factory(read_only=True) as uow:
        return uow.report_snapshots.get(store_id, OVERVIEW_PERIOD)


def refresh_stalest(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, every: timedelta
) -> str | None:
    """
    Refresh one store's overview snapshot: one that has none, else the oldest computed
    `every` ago or more. Returns its id, or None when every store's is fresh.
    """
    with uow_factory(read_only=True) as uow:
        store_id = uow.report_snapshots.stalest(
            OVERVIEW_PERIOD, computed_before=clock.now() - every
        )
        store = uow.stores.get(store_id) if store_id is not None else None
    if store is None:
        return None
    try:
        refresh_snapshot(uow_factory=uow_factory, clock=clock, store=store)
    except NotFound:
        return None  # deleted since: its row went with it
    return store.id
