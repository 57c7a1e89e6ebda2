"""
Retention: what a store keeps only for `store.retention` (default 90 days) is purged, a small
batch per transaction, so a purge never holds locks for long: anonymous carts (no contact, no
order) whose last activity is older, with their lines, and raw events received before then.
Carts with a contact, and orders, are the merchant's records and stay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from cartback.domain.errors import NotFound
from cartback.domain.ports import RetentionRepository, UnitOfWorkFactory
from cartback.domain.stores import Store
from cartback.domain.time import Clock

log = structlog.get_logger(__name__)

#: Rows per transaction.
BATCH_SIZE = 500
KINDS = ("carts", "raw_events")  # see _PURGES


@dataclass(frozen=True, kw_only=True, slots=True)
class RetentionReport:
    """
    Rows purged (or, in a dry run, that would be) per kind, and whether a batch budget ran out
    before everything expired was gone.
    """

    purged: dict[str, int] = field(default_factory=dict)
    more: bool = False

    @property
    def total(self) -> int:
        """
        Rows of every kind.
        """
        return sum(self.purged.values())


def purge_expired(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    store_id: str | None = None,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """
    Purge every store's (or one store's) expired rows, `batch_size` rows per transaction and at
    most `max_batches` transactions per store and kind (None: until done).

    With `dry_run`, count what would go and change nothing.

    Raises:
        NotFound: `store_id` names no store.
    """
    now = clock.now()
    purged = dict.fromkeys(KINDS, 0)
    more = False
    for store in _stores(uow_factory, store_id):
        before = now - store.retention
        if dry_run:
            with uow_factory(read_only=True) as uow:
                found = uow.retention.expired(store.id, before=before)
        else:
            found = {}
            for kind in KINDS:
                count, unfinished = _purge_kind(
                    uow_factory, kind, store.id, before, batch_size, max_batches
                )
                found[kind] = count
                more = more or unfinished
        for kind, count in found.items():
            purged[kind] += count
        if any(found.values()):
            log.info(
                "retention.purged",
                store_id=store.id,
                before=before.isoformat(),
                dry_run=dry_run,
                **found,
            )
    return RetentionReport(purged=purged, more=more)


def _stores(uow_factory: UnitOfWorkFactory, store_id: str | None) -> list[Store]:
    with uow_factory(read_only=True) as uow:
        if store_id is None:
            return uow.stores.list_all()
        store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    return [store]


def _purge_kind(
    uow_factory: UnitOfWorkFactory,
    kind: str,
    store_id: str,
    before: datetime,
    batch_size: int,
    max_batches: int | None,
) -> tuple[int, bool]:
    """
    Batches of one kind until one comes back short; (rows, whether the budget ran out first).
    """
    total, batches = 0, 0
    while max_batches is None or batches < max_batches:
        with uow_factory() as uow:
            count = _PURGES[kind](uow.retention)(store_id, before=before, limit=batch_size)
            uow.commit()
        total, batches = total + count, batches + 1
        if count < batch_size:
            return total, False
    return total, True


_PURGES: dict[str, Callable[[RetentionRepository], Callable[..., int]]] = {
    "carts": lambda repository: repository.purge_carts,
    "raw_events": lambda repository: repository.purge_raw_events,
}
