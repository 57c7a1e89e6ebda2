"""
Ad audiences (issue #8): a store's definitions (its applied file, else the shipped built-ins in
`cartback/flows/audiences.yaml`) and who is in them.

People enter in the transaction that decides why: the one that marks a cart abandoned
(`services.abandonment`) and the one that skips a touch `handed_to_ads` (`services.dispatch`).
They leave at once: on an order, in the transaction that records it (`services.ingest`); on a
"no" to ads or to email marketing, in the transaction that records it (`services.ingest`,
`services.capture`); at the end of the window, in the worker's `expire_memberships` pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import structlog

from cartback.domain.audiences import (
    Audience,
    AudienceSet,
    EntryReason,
    LeaveReason,
    audience_json,
    parse_audiences,
    withdraws_email_marketing,
)
from cartback.domain.consent import LedgerUpdate
from cartback.domain.errors import NotFound
from cartback.domain.expressions import ContactFacts, activation
from cartback.domain.offers import eligibility
from cartback.domain.ports import (
    AudienceMembership,
    CartRecord,
    Contact,
    StoredAudience,
    UnitOfWork,
    UnitOfWorkFactory,
)
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services.enrollment import cart_facts, contact_facts
from cartback.services.offer_settings import offer_rules
from cartback.services.offers import offer_facts

log = structlog.get_logger(__name__)

#: The worker ends at most this many memberships per transaction.
EXPIRE_BATCH = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class AudienceView:
    """
    One audience as the commands and the API show it.
    """

    name: str
    version: int
    enabled: bool
    definition: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class AudienceListing:
    """
    A store's audiences and where they come from: `applied` (its own file, at `version`) or
    `defaults` (nothing applied yet; the built-ins are filled, version 0).
    """

    origin: Literal["applied", "defaults"]
    version: int
    audiences: list[AudienceView]


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreAudiences:
    """
    The audiences a store fills now, parsed, and which of them are enabled.
    """

    audience_set: AudienceSet
    enabled: frozenset[str]

    @property
    def running(self) -> tuple[Audience, ...]:
        """
        The enabled audiences.
        """
        return tuple(a for a in self.audience_set.audiences if a.name in self.enabled)


def shipped_source() -> str:
    """
    The text of the shipped built-in audiences.
    """
    return resources.files("cartback.flows").joinpath("audiences.yaml").read_text("utf-8")


@lru_cache(maxsize=1)
def shipped_audiences() -> AudienceSet:
    """
    The built-in audiences, parsed once.
    """
    return parse_audiences(shipped_source())


@lru_cache(maxsize=64)
def _parsed(source: str) -> AudienceSet:
    return parse_audiences(source)


# --- definitions ---------------------------------------------------------------------------


def apply_audiences(*, uow: UnitOfWork, clock: Clock, store_id: str, text: str) -> AudienceListing:
    """
    Validate `text` and make it the store's audiences, all at once: audiences not in the file
    are removed (their memberships stay until they end), every one gets the next version.

    Raises:
        AudiencesInvalid: every error in the file, with its line (nothing is changed).
        NotFound: no such store.
    """
    audience_set = parse_audiences(text)
    now = clock.now()
    with uow:
        if uow.stores.get(store_id) is None:
            raise NotFound(f"no store {store_id!r}")
        current = {a.name: a for a in uow.audiences.list_for_store(store_id)}
        version = max((a.version for a in current.values()), default=0) + 1
        records = [
            StoredAudience(
                store_id=store_id,
                name=audience.name,
                version=version,
                source=text,
                definition=audience_json(audience),
                enabled=True,
                created_at=current[audience.name].created_at if audience.name in current else now,
                updated_at=now,
            )
            for audience in audience_set.audiences
        ]
        uow.audiences.replace(store_id, records)
        uow.commit()
    log.info("audiences.applied", store_id=store_id, version=version, audiences=len(records))
    return _listing(records)


def audience_definitions(uow: UnitOfWork, store_id: str) -> AudienceListing:
    """
    The store's audiences by name; the built-ins while it applied none.

    Raises:
        NotFound: no such store.
    """
    with uow:
        if uow.stores.get(store_id) is None:
            raise NotFound(f"no store {store_id!r}")
        stored = uow.audiences.list_for_store(store_id)
    if stored:
        return _listing(stored)
    views = [
        AudienceView(name=a.name, version=0, enabled=True, definition=audience_json(a))
        for a in sorted(shipped_audiences().audiences, key=lambda a: a.name)
    ]
    return AudienceListing(origin="defaults", version=0, audiences=views)


def audience_names(uow: UnitOfWork, store: Store) -> set[str]:
    """
    The names of the audiences the store fills now, read in the caller's open unit of work.
    """
    return {a.name for a in store_audiences(uow, store.id).running}


def store_audiences(uow: UnitOfWork, store_id: str) -> StoreAudiences:
    """
    The store's audiences, read in the caller's open unit of work (parsed once per file text).
    """
    stored = uow.audiences.list_for_store(store_id)
    if not stored:
        shipped = shipped_audiences()
        return StoreAudiences(
            audience_set=shipped, enabled=frozenset(a.name for a in shipped.audiences)
        )
    return StoreAudiences(
        audience_set=_parsed(stored[0].source),
        enabled=frozenset(a.name for a in stored if a.enabled),
    )


def _listing(records: Sequence[StoredAudience]) -> AudienceListing:
    views = [
        AudienceView(name=r.name, version=r.version, enabled=r.enabled, definition=r.definition)
        for r in sorted(records, key=lambda r: r.name)
    ]
    version = max((r.version for r in records), default=0)
    return AudienceListing(origin="applied", version=version, audiences=views)


# --- entering ------------------------------------------------------------------------------


def enter_audiences(
    uow: UnitOfWork, store: Store, record: CartRecord, now: datetime, *, reason: EntryReason
) -> int:
    """
    Put the cart's person in every audience that `reason` (at the cart's stage) enters and
    whose `when` holds, in the caller's open unit of work: its contact, or without one its
    visitor (only audiences with `anonymous: true`, and never for a hand-over). A current
    member stays one row; its `expires_at` moves on. Robots and people who said no to ads
    never enter.

    Returns:
        How many audiences the person entered or was extended in.
    """
    stage = record.cart.stage.value
    candidates = [a for a in store_audiences(uow, store.id).running if a.admits(stage, reason)]
    if not candidates or record.cart.is_bot:
        return 0
    if record.visitor_id is not None and not uow.audiences.visitor_may_enter(record.visitor_id):
        return 0  # this browser said no to ads (or is a robot's), whoever uses it
    if record.contact_id is not None:
        contact = uow.contacts.get(store.id, record.contact_id)
        if contact is None or contact.is_bot or contact.ads_opt_out_at is not None:
            return 0
        values = activation(cart_facts(record), contact_facts(uow, store, contact))
        chosen = [a for a in candidates if _holds(a, values)]
        return _enter(uow, store, record, contact, chosen, now, contact_id=contact.id)
    if record.visitor_id is None or reason is not EntryReason.ABANDONED:
        return 0
    values = activation(cart_facts(record), ContactFacts(country=store.country))
    chosen = [a for a in candidates if a.anonymous and _holds(a, values)]
    return _enter(uow, store, record, None, chosen, now, visitor_id=record.visitor_id)


def _holds(audience: Audience, values: Mapping[str, Any]) -> bool:
    return audience.when is None or audience.when.evaluate(values).matched


def _enter(
    uow: UnitOfWork,
    store: Store,
    record: CartRecord,
    contact: Contact | None,
    chosen: Sequence[Audience],
    now: datetime,
    *,
    contact_id: str | None = None,
    visitor_id: str | None = None,
) -> int:
    for audience in chosen:
        added = uow.audiences.enter(
            AudienceMembership(
                store_id=store.id,
                audience=audience.name,
                contact_id=contact_id,
                visitor_id=visitor_id,
                cart_id=record.id,
                offer_eligible=_offer_eligible(uow, store, record, contact, audience, now),
                entered_at=now,
                expires_at=now + audience.window,
            )
        )
        log.info(
            "audience.entered" if added else "audience.extended",
            store_id=store.id,
            audience=audience.name,
            cart_id=record.cart.key,
            anonymous=contact_id is None,
        )
    return len(chosen)


def _offer_eligible(
    uow: UnitOfWork,
    store: Store,
    record: CartRecord,
    contact: Contact | None,
    audience: Audience,
    now: datetime,
) -> bool | None:
    """
    The audience's offer decided by the email rules (`domain.offers.eligibility`); an
    anonymous visitor is judged as a person with no history: no orders, no offers, no consent.
    """
    if audience.offer is None:
        return None
    person = contact or Contact(
        id=f"visitor:{record.visitor_id}",
        store_id=store.id,
        user_id=None,
        email=None,
        phone=None,
        is_bot=False,
        created_at=now,
        updated_at=now,
    )
    rules = offer_rules(store)
    facts = offer_facts(uow, store, person, record, rules, now)
    return eligibility(audience.offer, rules, facts).eligible


# --- leaving -------------------------------------------------------------------------------


def leave_audiences(
    uow: UnitOfWork,
    store_id: str,
    *,
    contact_ids: Sequence[str | None] = (),
    visitor_ids: Sequence[str | None] = (),
    reason: LeaveReason,
    now: datetime,
) -> int:
    """
    End every current membership of these contacts and visitors, in the caller's open unit
    of work (None ids are ignored, so callers can pass what a cart or order holds).
    """
    contacts = sorted({c for c in contact_ids if c})
    visitors = sorted({v for v in visitor_ids if v})
    if not contacts and not visitors:
        return 0
    ended = uow.audiences.leave(
        store_id, contact_ids=contacts, visitor_ids=visitors, reason=reason.value, at=now
    )
    if ended:
        log.info("audience.left", store_id=store_id, reason=reason.value, memberships=ended)
    return ended


def leave_on_withdrawal(
    uow: UnitOfWork, store_id: str, contact_id: str, update: LedgerUpdate, now: datetime
) -> int:
    """
    End the contact's memberships when `update` withdraws their email marketing consent.
    """
    if not withdraws_email_marketing(update):
        return 0
    return leave_audiences(
        uow, store_id, contact_ids=[contact_id], reason=LeaveReason.OPTED_OUT, now=now
    )


def expire_memberships(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, limit: int = EXPIRE_BATCH
) -> int:
    """
    End the memberships whose window is over (`left_at` = `expires_at`, `window_ended`), in
    transactions of at most `limit` rows until none is due. Returns how many ended.
    """
    total = 0
    while True:
        with uow_factory() as uow:
            ended = uow.audiences.expire(now=clock.now(), limit=limit)
            uow.commit()
        total += ended
        if ended < limit:
            break
    if total:
        log.info("audience.expired", memberships=total)
    return total
