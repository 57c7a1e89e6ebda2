"""
The catalog use cases: write what the platform says about its items (the catalog API and the
product webhooks), watch abandoned carts' unavailable or pre-order lines, and enroll a watched
cart's contact in a `back_in_stock` or `launch` flow when a write brings the news, in the same
transaction as the write (style rule 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from cartback.domain.catalog import (
    CatalogChange,
    CatalogItem,
    WatchReason,
    changes,
    find_item,
    is_stale,
    item_stock,
    line_keys,
    watch_reason,
)
from cartback.domain.errors import NotFound
from cartback.domain.flows import TriggerKind
from cartback.domain.guards import ItemStock
from cartback.domain.ports import CartRecord, StockWatch, UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services.enrollment import StoreFlows, enroll_for_catalog, store_flows

log = structlog.get_logger(__name__)

#: Which catalog changes tell a watched line's cart what, by why the line was watched.
_TRIGGERS: dict[WatchReason, tuple[frozenset[CatalogChange], TriggerKind]] = {
    WatchReason.UNAVAILABLE: (frozenset({CatalogChange.BACK_IN_STOCK}), TriggerKind.BACK_IN_STOCK),
    WatchReason.PREORDER: (
        frozenset({CatalogChange.LAUNCHED, CatalogChange.RELEASE_DATE_CHANGED}),
        TriggerKind.LAUNCH,
    ),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class CatalogWritten:
    """
    What a catalog write did: items written, stale ones ignored, contacts enrolled.
    """

    written: int = 0
    stale: int = 0
    enrolled: int = 0


def write_items(
    *, uow: UnitOfWork, clock: Clock, store_id: str, items: Sequence[CatalogItem]
) -> CatalogWritten:
    """
    Write the store's items as just read from the platform, in one transaction.

    Raises:
        NotFound: no such store.
    """
    now = clock.now()
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        written = apply_items(uow, store, items, now=now)
        uow.commit()
    return written


def apply_items(
    uow: UnitOfWork, store: Store, items: Sequence[CatalogItem], *, now: datetime
) -> CatalogWritten:
    """
    Upsert the items in the caller's open unit of work, each read `now`; a read the platform
    made before the stored one (older `updated_at`) changes nothing. Then enroll the watched
    carts the changes concern.
    """
    latest: dict[str, CatalogItem] = {}
    for item in items:  # the same item twice in one write: the last one wins
        latest[item.key] = replace(item, read_at=now, updated_at=min(item.updated_at, now))
    stored = uow.catalog.get_many(store.id, list(latest))
    fresh = [item for key, item in latest.items() if not is_stale(stored.get(key), item)]
    uow.catalog.upsert(store.id, fresh)
    changed = {item.key: (item, changes(stored.get(item.key), item)) for item in fresh}
    news = {key: found for key, found in changed.items() if found[1]}
    enrolled = _tell_watchers(uow, store, news, now) if news else 0
    log.info(
        "catalog.written",
        store_id=store.id,
        written=len(fresh),
        stale=len(latest) - len(fresh),
        changed=len(news),
        enrolled=enrolled,
    )
    return CatalogWritten(written=len(fresh), stale=len(latest) - len(fresh), enrolled=enrolled)


def _tell_watchers(
    uow: UnitOfWork,
    store: Store,
    news: dict[str, tuple[CatalogItem, frozenset[CatalogChange]]],
    now: datetime,
) -> int:
    flows: StoreFlows | None = None
    enrolled = 0
    done: set[str] = set()
    for watch in uow.catalog.watches_for(store.id, list(news)):
        item, found = news[watch.item_key]
        wanted, kind = _TRIGGERS[watch.reason]
        if not found & wanted:
            continue
        if item.in_stock and not item.preorder:
            uow.catalog.unwatch(watch.cart_id, [watch.item_key])  # nothing more to wait for
        if watch.cart_id in done:
            continue
        record = _cart(uow, store.id, watch.cart_id)
        if record is None:
            continue
        flows = flows or store_flows(uow, store.id)
        started = enroll_for_catalog(
            uow=uow,
            store=store,
            record=record,
            kind=kind,
            since=watch.since,
            changed_at=item.updated_at,
            now=now,
            flows=flows,
        )
        if started is not None:
            done.add(watch.cart_id)
            enrolled += 1
    return enrolled


def _cart(uow: UnitOfWork, store_id: str, cart_id: str) -> CartRecord | None:
    key = uow.touches.cart_key(cart_id)
    return uow.carts.get(store_id, key) if key is not None else None


def watch_stock(uow: UnitOfWork, record: CartRecord, *, now: datetime) -> int:
    """
    Watch the lines of a just-abandoned cart that the catalog says are unavailable or
    pre-orders (replacing the watches of an earlier abandonment), in the caller's open unit of
    work; the count watched. Lines the catalog does not know are not watched.
    """
    items = uow.catalog.get_many(record.store_id, _keys(record))
    since = record.cart.abandoned_at or now
    watches: dict[str, StockWatch] = {}
    for line in record.cart.lines:
        item = find_item(line, items)
        reason = watch_reason(item)
        if item is not None and reason is not None:
            watches[item.key] = StockWatch(
                store_id=record.store_id,
                cart_id=record.id,
                item_key=item.key,
                reason=reason,
                since=since,
            )
    uow.catalog.watch(record.store_id, record.id, list(watches.values()))
    return len(watches)


def cart_stock(uow: UnitOfWork, record: CartRecord) -> tuple[ItemStock, ...]:
    """
    Each cart line's latest stock read from the catalog, for the guards (never read when the
    catalog does not know the item).
    """
    items = uow.catalog.get_many(record.store_id, _keys(record))
    return tuple(
        item_stock(line_keys(line)[0], find_item(line, items)) for line in record.cart.lines
    )


def _keys(record: CartRecord) -> list[str]:
    return [key for line in record.cart.lines for key in line_keys(line)]


__all__ = ["CatalogWritten", "apply_items", "cart_stock", "watch_stock", "write_items"]
