"""
Finding or creating the contact an identity claim belongs to: shared by ingestion (identify
calls, checkout traits) and lead capture, so both follow `domain.identity.resolve_identity`.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from cartback.domain.events import IdentityClaims
from cartback.domain.identity import is_bot_email, resolve_identity
from cartback.domain.ports import UnitOfWork

log = structlog.get_logger(__name__)


def resolve_contact(
    *, uow: UnitOfWork, store_id: str, claims: IdentityClaims, now: datetime
) -> str:
    """
    The id of the contact `claims` belong to, created or given the identifiers it lacks.
    An identifier another contact holds stays where it is (logged as `identity.conflict`);
    an address Google's StoreBot uses flags the contact as a robot.
    """
    by_user, by_email, by_phone = uow.contacts.find(
        store_id, user_id=claims.user_id, email=claims.email, phone=claims.phone
    )
    resolution = resolve_identity(claims, by_user_id=by_user, by_email=by_email, by_phone=by_phone)
    bot = is_bot_email(claims.email)
    if resolution.contact_id is None:
        created = uow.contacts.create(store_id, fields=resolution.updates, is_bot=bot, now=now)
        contact_id = created.id
    else:
        contact_id = resolution.contact_id
        if resolution.updates:
            uow.contacts.update(contact_id, fields=resolution.updates, now=now)
        if bot:
            uow.contacts.mark_bot(contact_id)
    if resolution.conflicts:
        log.info(
            "identity.conflict",
            store_id=store_id,
            contact_id=contact_id,
            identifiers=list(resolution.conflicts),
        )
    return contact_id
