"""
Incremental audience pushes (issue #8): keep each ad network's list of an audience equal to
the people Cartback may advertise to in it, by sending only what changed.

For each store with an ads account (`services/ads_config.py`) and each audience its account
maps to a network list:

1. read, in one read-only transaction, who is reachable in the audience now
   (`audience_reach.reachable_members`: current members, not opted out, with the consent the
   store needs, not held by a flow) and what the network holds (`audience_syncs` rows not
   removed);
2. hash the reachable people as that network documents (`domain/ad_hashing.py`: Meta's phone
   hashes have no `+`, Google's do), and compare: what is wanted and not held is added, what is
   held and no longer wanted is removed (left the audience, opted out, erased: an erased
   contact's rows keep their hash with no contact and go here);
3. push the removals, then the additions, outside any transaction (the adapter batches them
   within the network's limits and retries rate limits);
4. record each change only after the network took it, in its own short transaction. A push
   that fails records nothing, so the next pass sends it again; both networks ignore an
   identifier added twice or removed when absent.

A failing network, list or store is logged and counted; the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from cartback.domain.ad_hashing import Network, hashed
from cartback.domain.errors import AdsError, NotFound
from cartback.domain.ports import (
    AudiencePusher,
    SyncedIdentifier,
    UnitOfWorkFactory,
)
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.keys import SecretBox
from cartback.services.ads_config import GoogleAccount, MetaAccount, google_account, meta_account
from cartback.services.audience_reach import reachable_members

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class AudiencePushers:
    """
    How to reach each network's lists with a store's account (built in `bootstrap` with the
    settings' API URLs); a network left None is not pushed to.
    """

    meta: Callable[[MetaAccount], AudiencePusher] | None = None
    google: Callable[[GoogleAccount], AudiencePusher] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncPlan:
    """
    What one network's list of one audience needs: identifiers to add (with their contact),
    `(kind, hash)`es to remove, and held identifiers to re-link to a contact (no push).
    """

    adds: list[SyncedIdentifier]
    removes: list[tuple[str, str]]
    relinks: list[SyncedIdentifier]


@dataclass(kw_only=True, slots=True)
class SyncReport:
    """
    What one sync pass did: identifiers added and removed, pushes that failed (each with
    `store/audience/network: reason`).
    """

    added: int = 0
    removed: int = 0
    failures: list[str] = field(default_factory=list)


def sync_audiences(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    box: SecretBox,
    pushers: AudiencePushers,
    store_id: str | None = None,
    now: datetime | None = None,
) -> SyncReport:
    """
    Bring every mapped audience list of every store (or of `store_id`) up to date.

    Raises:
        NotFound: `store_id` names no store.
    """
    at = now or clock.now()
    with uow_factory(read_only=True) as uow:
        if store_id is None:
            stores = uow.stores.list_all()
        else:
            found = uow.stores.get(store_id)
            if found is None:
                raise NotFound(f"no store {store_id!r}")
            stores = [found]
    report = SyncReport()
    for store in stores:
        for network, lists, pusher in _targets(store, box, pushers):
            try:
                for audience, list_id in sorted(lists.items()):
                    _sync_list(uow_factory, store, network, audience, list_id, pusher, at, report)
            finally:
                pusher.close()
    log.info(
        "audience.sync.done",
        added=report.added,
        removed=report.removed,
        failed=len(report.failures),
    )
    return report


def plan_sync(desired: Mapping[tuple[str, str], str], held: Sequence[SyncedIdentifier]) -> SyncPlan:
    """
    The difference between the identifiers wanted (`(kind, hash)` → contact id) and those the
    network holds.
    """
    holding = {(row.kind, row.identifier): row.contact_id for row in held}
    adds = [
        SyncedIdentifier(kind=kind, identifier=digest, contact_id=contact_id)
        for (kind, digest), contact_id in desired.items()
        if (kind, digest) not in holding
    ]
    removes = [key for key in holding if key not in desired]
    # Held for a contact since erased, and wanted again for another: keep it, owned anew.
    relinks = [
        SyncedIdentifier(kind=kind, identifier=digest, contact_id=desired[(kind, digest)])
        for (kind, digest), contact_id in holding.items()
        if contact_id is None and (kind, digest) in desired
    ]
    return SyncPlan(adds=adds, removes=removes, relinks=relinks)


def _targets(
    store: Store, box: SecretBox, pushers: AudiencePushers
) -> list[tuple[Network, Mapping[str, str], AudiencePusher]]:
    """
    The store's networks with mapped audiences, each with a pusher on its account.
    """
    targets: list[tuple[Network, Mapping[str, str], AudiencePusher]] = []
    meta = meta_account(store, box)
    if meta is not None and meta.audiences and pushers.meta is not None:
        targets.append((Network.META, meta.audiences, pushers.meta(meta)))
    google = google_account(store, box)
    if google is not None and google.audiences and pushers.google is not None:
        targets.append((Network.GOOGLE, google.audiences, pushers.google(google)))
    return targets


def _sync_list(
    uow_factory: UnitOfWorkFactory,
    store: Store,
    network: Network,
    audience: str,
    list_id: str,
    pusher: AudiencePusher,
    at: datetime,
    report: SyncReport,
) -> None:
    with uow_factory(read_only=True) as uow:
        members = reachable_members(uow, store, audience, at)
        held = uow.audience_syncs.held(store.id, audience, network.value)
    desired: dict[tuple[str, str], str] = {}
    for member in members:
        for key in hashed(network, member.email, member.phone):
            desired.setdefault(key, member.contact_id)
    plan = plan_sync(desired, held)
    where = {"store_id": store.id, "audience": audience, "network": network.value}
    # Removals first: someone who left or was erased goes even when additions fail.
    removed = _pushed(pusher.remove, list_id, plan.removes, where, report)
    if removed:
        with uow_factory() as uow:
            uow.audience_syncs.mark_removed(store.id, audience, network.value, plan.removes, at=at)
            uow.commit()
    adds = [(entry.kind, entry.identifier) for entry in plan.adds]
    added = _pushed(pusher.add, list_id, adds, where, report)
    if added or plan.relinks:
        with uow_factory() as uow:
            entries = [*(plan.adds if added else []), *plan.relinks]
            uow.audience_syncs.mark_added(store.id, audience, network.value, entries, at=at)
            uow.commit()
    report.added += len(adds) if added else 0
    report.removed += len(plan.removes) if removed else 0
    log.info(
        "audience.sync.list",
        **where,
        wanted=len(desired),
        added=len(adds) if added else 0,
        removed=len(plan.removes) if removed else 0,
    )


def _pushed(
    push: Callable[[str, Sequence[tuple[str, str]]], None],
    list_id: str,
    identifiers: Sequence[tuple[str, str]],
    where: Mapping[str, str],
    report: SyncReport,
) -> bool:
    """
    True once the network took the change (False for no change: nothing to record); a
    refusal is logged and counted, not raised.
    """
    if not identifiers:
        return False
    try:
        push(list_id, identifiers)
    except AdsError as error:
        log.warning("audience.sync.failed", **where, reason=error.reason, transient=error.transient)
        report.failures.append(
            f"{where['store_id']}/{where['audience']}/{where['network']}: {error.reason}"
        )
        return False
    return True
