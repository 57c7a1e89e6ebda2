"""
Privacy rights and platform privacy requests: export a person's data, erase a person (the API's
`DELETE /v1/contacts/{id}` and Shopify's `customers/redact` share one code path), erase a
shop's data, note a data request or an uninstall.
Logs name what was done, how much, and at most the contact's id; never an address.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import structlog

from cartback.domain.consent import Channel, erased_address
from cartback.domain.errors import NotFound
from cartback.domain.identity import ContactRef
from cartback.domain.ports import PersonalData, Suppression, UnitOfWork
from cartback.domain.time import Clock
from cartback.kit.normalise import phone_forms

log = structlog.get_logger(__name__)

#: Why an erased person's address is on the suppression list when they had withdrawn consent.
WITHDRAWN = "consent_withdrawn"


@dataclass(frozen=True, kw_only=True, slots=True)
class ErasureReport:
    """
    What an erasure removed: contacts erased, raw events deleted, and rows touched per table.
    """

    contacts: int = 0
    raw_events: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def export_contact(*, uow: UnitOfWork, store_id: str, contact_id: str) -> PersonalData:
    """
    Everything the store holds about one contact (`GET /v1/contacts/{id}`).

    Raises:
        NotFound: the store has no such contact (whether or not another store has).
    """
    with uow:
        contact = uow.privacy.identifiers(store_id, contact_id)
        data = uow.privacy.personal_data(store_id, contact_id, _mentions(contact))
    if data is None:
        raise NotFound(f"no contact {contact_id!r} in this store")
    log.info("privacy.contact.exported", store_id=store_id, contact_id=contact_id)
    return data


def erase_contact(*, uow: UnitOfWork, store_id: str, contact_id: str) -> ErasureReport:
    """
    Erase one contact everywhere, in one transaction (`DELETE /v1/contacts/{id}`).

    Raises:
        NotFound: the store has no such contact (or it was erased already).
    """
    with uow:
        contact = uow.privacy.identifiers(store_id, contact_id)
        if contact is None:
            raise NotFound(f"no contact {contact_id!r} in this store")
        report = _erase(uow, store_id, [contact], set())
        uow.commit()
    log.info("privacy.contact.erased", store_id=store_id, contact_id=contact_id, **report.rows)
    return report


def erase_customer(
    *,
    uow: UnitOfWork,
    store_id: str,
    email: str | None = None,
    phone: str | None = None,
    user_id: str | None = None,
) -> ErasureReport:
    """
    Erase every contact of the store holding one of these identifiers (Shopify's
    `customers/redact`), as `erase_contact` does, and every raw event that mentions one of the
    identifiers even where no contact holds them.
    """
    with uow:
        contacts = _find(uow, store_id, email=email, phone=phone, user_id=user_id)
        given = {m for m in (email, phone, user_id) if m}
        report = _erase(uow, store_id, contacts, given)
        uow.commit()
    log.info(
        "privacy.customer.erased",
        store_id=store_id,
        contacts=report.contacts,
        raw_events=report.raw_events,
    )
    return report


def record_data_request(
    *,
    uow: UnitOfWork,
    clock: Clock,
    store_id: str,
    platform: str,
    email: str | None = None,
    phone: str | None = None,
    user_id: str | None = None,
    reference: str | None = None,
) -> list[str]:
    """
    A platform asked for a customer's data (Shopify's `customers/data_request`): note it on
    the store and log `privacy.data_request` with the contact ids, whose export the merchant
    then reads with `GET /v1/contacts/{id}`. Returns those ids.
    """
    with uow:
        contact_ids = [
            c.id for c in _find(uow, store_id, email=email, phone=phone, user_id=user_id)
        ]
        _note(uow, clock, store_id, platform, "data_request")
        uow.commit()
    log.info(
        "privacy.data_request",
        store_id=store_id,
        platform=platform,
        contact_ids=contact_ids,
        reference=reference,
    )
    return contact_ids


def _find(
    uow: UnitOfWork, store_id: str, *, email: str | None, phone: str | None, user_id: str | None
) -> list[ContactRef]:
    found = uow.contacts.find(store_id, user_id=user_id, email=email, phone=phone)
    unique = {c.id: c for c in found if c is not None}
    return [unique[key] for key in sorted(unique)]


def _mentions(contact: ContactRef | None) -> list[str]:
    """
    How a person may be named in stored payloads: email, user id, and the phone in every form.
    """
    if contact is None:
        return []
    forms = [contact.email, contact.user_id, *(phone_forms(contact.phone) if contact.phone else [])]
    return sorted({f for f in forms if f})


def _erase(
    uow: UnitOfWork, store_id: str, contacts: list[ContactRef], given: set[str]
) -> ErasureReport:
    """
    The one erasure path. For each contact: keep their withdrawals as hashed suppressions,
    hash their suppressed addresses, then delete or unlink their rows everywhere. Identifiers
    no contact holds still take their raw events with them.
    """
    rows: dict[str, int] = {}
    for contact in contacts:
        mentions = sorted({*_mentions(contact), *given})
        _keep_withdrawals(uow, store_id, contact)
        addresses = [a for a in (contact.email, contact.phone) if a]
        hashed = uow.suppressions.hash_addresses(store_id, addresses)
        rows["suppressions_hashed"] = rows.get("suppressions_hashed", 0) + hashed
        for table, count in uow.privacy.erase_contact(store_id, contact.id, mentions).items():
            rows[table] = rows.get(table, 0) + count
    if not contacts and given:
        rows = dict(uow.privacy.erase_contact(store_id, "", sorted(given)))
    return ErasureReport(
        contacts=rows.get("contacts", 0), raw_events=rows.get("raw_events", 0), rows=rows
    )


def _keep_withdrawals(uow: UnitOfWork, store_id: str, contact: ContactRef) -> None:
    """
    The legally needed proof of a withdrawal outlives the ledger: where the ledger's latest
    word on a channel (for any purpose) is "no", the address goes on the suppression list in
    its hashed form, dated when the person said no, so the erased person is never messaged on
    that channel again, yet no readable address is kept.
    """
    addresses = {Channel.EMAIL: contact.email, Channel.SMS: contact.phone}
    for (channel, _purpose), fact in sorted(uow.consents.current(contact.id).items()):
        address = addresses.get(channel)
        if fact.granted or not address:
            continue
        uow.suppressions.add(
            Suppression(
                store_id=store_id,
                channel=channel,
                address=erased_address(address),
                reason=WITHDRAWN,
                source="erasure",
                created_at=fact.occurred_at,
            )
        )


def erase_store_data(*, uow: UnitOfWork, store_id: str) -> int:
    """
    Erase everything the store collected (carts, contacts, visitors, events, orders, consent,
    suppressions, replies); the store and its keys stay so the merchant can reconnect.
    Returns rows removed.
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
        _note(uow, clock, store_id, platform, event)
        uow.commit()
    log.info("platform.event", store_id=store_id, platform=platform, what=event)


def _note(uow: UnitOfWork, clock: Clock, store_id: str, platform: str, event: str) -> None:
    store = uow.stores.get(store_id)
    if store is None:
        return
    now = clock.now()
    settings = dict(store.settings)
    section = dict(settings.get(platform, {}) or {})  # type: ignore[call-overload]
    section[f"{event}_at"] = now.isoformat()
    settings[platform] = section
    uow.stores.save(replace(store, settings=settings, updated_at=now))
