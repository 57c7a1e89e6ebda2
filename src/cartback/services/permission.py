"""
The one question every flow asks before a message: may this contact get this channel for this
purpose now? The answer combines the consent ledger, the suppression list, whether the person
has ordered before, and the store's consent policy (`domain.consent.may_contact`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cartback.domain.audiences import withdraws_email_marketing
from cartback.domain.consent import (
    Channel,
    ConsentClaim,
    Permission,
    Purpose,
    changes,
    may_contact,
)
from cartback.domain.ports import Contact, UnitOfWork
from cartback.domain.stores import Store


def contact_address(contact: Contact, channel: Channel) -> str | None:
    """
    The contact's address on a channel (email, or phone in E.164), if it has one.
    """
    return contact.email if channel is Channel.EMAIL else contact.phone


def may_message(
    uow: UnitOfWork, store: Store, contact: Contact, channel: Channel, purpose: Purpose
) -> Permission:
    """
    Whether `contact` may be sent `channel` for `purpose` now, and on what basis.

    Runs inside the caller's open unit of work (the flow engine decides and schedules in one
    transaction); it only reads. A suppressed address is refused whatever the ledger says.

    Args:
        uow: an open unit of work.
        store: the contact's store (its `consent_policy` decides what the ledger leaves open).
        contact: the person.
        channel: email or SMS.
        purpose: recovery or marketing.

    Returns:
        The permission with its basis (`suppressed`, `withdrawn`, `consent`, ...).
    """
    address = contact_address(contact, channel)
    suppressed = address is not None and uow.suppressions.is_suppressed(store.id, channel, address)
    return may_contact(
        store.consent_policy,
        uow.consents.current(contact.id),
        channel,
        purpose,
        has_address=address is not None,
        suppressed=suppressed,
        is_customer=uow.orders.has_ordered(store.id, contact.id),
    )


def append_claims(
    uow: UnitOfWork,
    store_id: str,
    contact_id: str,
    claims: Sequence[ConsentClaim],
    *,
    now: datetime,
) -> None:
    """
    Fold claims into a contact's ledger inside the caller's unit of work (`changes` decides
    what is new; a repetition only confirms the latest entry).
    """
    update = changes(uow.consents.current(contact_id), claims)
    if not update.is_empty:
        uow.consents.record(store_id, contact_id, update, now=now)
        if withdraws_email_marketing(update):
            # Ads are marketing too: a "no" to marketing email leaves every audience at once.
            uow.audiences.leave(store_id, contact_ids=[contact_id], reason="opted_out", at=now)
