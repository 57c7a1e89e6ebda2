"""
What the dashboard's consent log, audiences and feeds health pages read, each in one
read-only unit of work and through `access_store` (a store the operator may not see is
`NotFound`, like one that does not exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cartback.domain.audiences import Audience
from cartback.domain.durations import format_duration
from cartback.domain.feeds import CatalogVersion, LeftOut, Mismatch
from cartback.domain.operators import Operator
from cartback.domain.ports import UnitOfWork
from cartback.domain.store_pages import (
    AudienceCount,
    AudienceSyncSummary,
    LedgerFilters,
    LedgerRow,
    LeftOutItem,
)
from cartback.domain.stores import Store
from cartback.services.audiences import store_audiences
from cartback.services.dashboard import access_store
from cartback.services.feeds import feed_mismatches

#: Ledger entries per page of the consent log.
LEDGER_PAGE_SIZE = 50
#: The feeds health page checks the carts abandoned this long before now (as the API's
#: `GET /v1/feeds/check?since=` would with that date).
CHECK_PERIOD = timedelta(days=7)
#: Carts the page checks (the oldest first in the period): a page must answer in well under
#: 300 ms at 1 M carts; checking the API's 10,000 took 3 s there (docs/benchmarks.md).
CHECKED_CARTS = 500
#: Mismatches listed; the page says how many more were found.
MISMATCHES_SHOWN = 100
#: Left-out items listed as examples (the counts by reason cover all of them).
LEFT_OUT_SHOWN = 20


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsentLog:
    """
    One page of a store's consent ledger, newest first, and the cursor of the next.
    """

    store: Store
    rows: list[LedgerRow]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class AudienceSummary:
    """
    One audience the store defines, who is in it now, and what each network holds of it.
    """

    name: str
    stages: tuple[str, ...]
    window: str
    anonymous: bool
    handed_over: bool
    enabled: bool
    members: AudienceCount
    syncs: list[AudienceSyncSummary]


@dataclass(frozen=True, kw_only=True, slots=True)
class AudiencesOverview:
    """
    A store's audiences: `applied` (its own file, at `version`) or the built-in `defaults`;
    and syncs of audiences the store no longer defines (`retired_syncs`), still held by a
    network until the next pass removes them.
    """

    store: Store
    origin: Literal["applied", "defaults"]
    version: int
    audiences: list[AudienceSummary]
    retired_syncs: list[AudienceSyncSummary]


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedsHealth:
    """
    A store's product feeds: the catalog's version (items, left out, newest update and read),
    why items are left out, and how the carts abandoned since `since` differ from the feed
    (the first `MISMATCHES_SHOWN` of `mismatch_count`).
    """

    store: Store
    version: CatalogVersion
    left_out: dict[LeftOut, int]
    left_out_items: list[LeftOutItem]
    since: datetime
    mismatches: list[Mismatch]
    mismatch_count: int
    #: At most this many carts were checked (the oldest first).
    checked_carts: int

    @property
    def more_mismatches(self) -> int:
        """
        How many mismatches the page does not list.
        """
        return self.mismatch_count - len(self.mismatches)


def consent_log(
    *,
    uow: UnitOfWork,
    operator: Operator,
    store_id: str,
    filters: LedgerFilters,
    cursor: str | None = None,
    limit: int = LEDGER_PAGE_SIZE,
) -> ConsentLog:
    """
    A page of the store's consent ledger entries, newest first.

    Raises:
        NotFound: the operator may not see the store.
        InvalidInput: the cursor is not one this listing made.
    """
    with uow:
        store = access_store(uow, operator, store_id)
        page = uow.store_pages.ledger_page(store.id, filters=filters, limit=limit, cursor=cursor)
    return ConsentLog(store=store, rows=page.rows, next_cursor=page.next_cursor)


def audiences_overview(
    *, uow: UnitOfWork, operator: Operator, store_id: str, now: datetime
) -> AudiencesOverview:
    """
    The store's audiences (its applied file, else the built-ins), each with its current
    contacts and visitors and each network's sync summary.

    Raises:
        NotFound: the operator may not see the store.
    """
    with uow:
        store = access_store(uow, operator, store_id)
        stored = uow.audiences.list_for_store(store.id)
        defined = store_audiences(uow, store.id)
        counts = uow.store_pages.audience_counts(store.id, now=now)
        syncs = uow.store_pages.audience_syncs(store.id)
    summaries = [
        _summary(a, a.name in defined.enabled, counts, syncs)
        for a in sorted(defined.audience_set.audiences, key=lambda a: a.name)
    ]
    names = {a.name for a in defined.audience_set.audiences}
    return AudiencesOverview(
        store=store,
        origin="applied" if stored else "defaults",
        version=max((r.version for r in stored), default=0),
        audiences=summaries,
        retired_syncs=[s for s in syncs if s.audience not in names],
    )


def _summary(
    audience: Audience,
    enabled: bool,
    counts: dict[str, AudienceCount],
    syncs: list[AudienceSyncSummary],
) -> AudienceSummary:
    return AudienceSummary(
        name=audience.name,
        stages=audience.stages,
        window=format_duration(audience.window),
        anonymous=audience.anonymous,
        handed_over=audience.handed_over,
        enabled=enabled,
        members=counts.get(audience.name, AudienceCount()),
        syncs=[s for s in syncs if s.audience == audience.name],
    )


def feeds_health(
    *, uow: UnitOfWork, operator: Operator, store_id: str, now: datetime
) -> FeedsHealth:
    """
    The store's feed version, left-out items by reason (and the first few), and the
    consistency check of the carts abandoned in the last `CHECK_PERIOD` (`feed_mismatches`,
    the same as `GET /v1/feeds/check`).

    Raises:
        NotFound: the operator may not see the store.
    """
    since = now - CHECK_PERIOD
    with uow:
        store = access_store(uow, operator, store_id)
        version = uow.catalog.feed_version(store.id)
        left_out = uow.store_pages.left_out_counts(store.id)
        examples = uow.store_pages.left_out_items(store.id, limit=LEFT_OUT_SHOWN)
        found = feed_mismatches(uow, store.id, since, limit=CHECKED_CARTS)
    return FeedsHealth(
        store=store,
        version=version,
        left_out=left_out,
        left_out_items=examples,
        since=since,
        mismatches=found[:MISMATCHES_SHOWN],
        mismatch_count=len(found),
        checked_carts=CHECKED_CARTS,
    )
