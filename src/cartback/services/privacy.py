"""
Privacy and lifecycle requests from platforms (Shopify's mandatory compliance webhooks and the
like): erase a person, erase a shop's data, note an uninstall, record an export request.
Logs name what was done and how much, never who.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import structlog

from cartback.domain.ports import UnitOfWork
from cartback.domain.time import Clock

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class ErasureReport:
    """
    What an erasure removed.
    """

    contacts: int = 0
    raw_events: int = 0


def erase_customer(
    *,
    uow: UnitOfWork,
    store_id: str,
    email: str | None = None,
    phone: str | None = None,
    user_id: str | None = None,
) -> ErasureReport:
    """
    Erase every contact of the store holding one of these identifiers: the contact, its
    consent ledger, its links from carts, visitors and orders, and every raw event that
    mentions one of the identifiers.
    """
    with uow:
        found = uow.contacts.find(store_id, user_id=user_id, email=email, phone=phone)
        contact_ids = {c.id for c in found if c is not None}
        mentions: set[str] = {m for m in (email, phone, user_id) if m}
        for contact in (c for c in found if c is not None):
            mentions.update(m for m in (contact.email, contact.phone, contact.user_id) if m)
        raw_events = 0
        for contact_id in sorted(contact_ids):
            raw_events += uow.privacy.erase_contact(store_id, contact_id, sorted(mentions))
        if not contact_ids and mentions:
            raw_events += uow.privacy.erase_contact(store_id, "", sorted(mentions))
        uow.commit()
    report = ErasureReport(contacts=len(contact_ids), raw_events=raw_events)
    log.info(
        "privacy.customer.erased",
        store_id=store_id,
        contacts=report.contacts,
        raw_events=report.raw_events,
    )
    return report


def erase_store_data(*, uow: UnitOfWork, store_id: str) -> int:
    """
    Erase everything the store collected (carts, contacts, visitors, events, orders, consent);
    the store and its keys stay so the merchant can reconnect. Returns rows removed.
    """
    with uow:
        removed = uow.privacy.erase_store_data(store_id)
        uow.commit()
    log.info("privacy.shop.erased", store_id=store_id, rows=removed)
    return removed


def note_platform_event(
    *, uow: UnitOfWork, clock: Clock, store_id: str, platform: str, event: str
) -> None:
    """
    Record a platform lifecycle event on the store (`{"shopify": {"uninstalled_at": …}}`).
    """
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            return
        now = clock.now()
        settings = dict(store.settings)
        section = dict(settings.get(platform, {}) or {})  # type: ignore[call-overload]
        section[f"{event}_at"] = now.isoformat()
        settings[platform] = section
        uow.stores.save(replace(store, settings=settings, updated_at=now))
        uow.commit()
    log.info("platform.event", store_id=store_id, platform=platform, what=event)
