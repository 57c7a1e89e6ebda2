"""
The suppression list as the merchant manages it: addresses no flow may message, whatever the
consent ledger says (hard bounces, complaints, addresses added by hand), beside the ones
Cartback adds itself (unsubscribe links, SMS STOP).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import structlog

from cartback.domain.consent import Channel
from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.ports import Suppression, UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.normalise import normalise_email, normalise_phone

log = structlog.get_logger(__name__)

#: Reasons a merchant may give through the API (Cartback's own: `unsubscribed`, `sms_stop`).
API_REASONS = ("manual", "hard_bounce", "complaint")
API_SOURCE = "api"
DEFAULT_LIMIT = 50
#: The stored form of an erased person's address (`domain.consent.erased_address`).
_ERASED = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Added:
    """
    The entry for an address, and whether this request put it there (False: already listed,
    with its original reason).
    """

    suppression: Suppression
    created: bool


def parse_channel(raw: str) -> Channel:
    """
    A channel by name.

    Raises:
        InvalidInput: not `email` or `sms`.
    """
    try:
        return Channel(raw.strip().lower())
    except ValueError:
        errors = [FieldError(path="channel", message="must be email or sms")]
        raise InvalidInput("unknown channel", errors=errors) from None


def normalise_address(channel: Channel, raw: str, *, country: str | None) -> str:
    """
    The stored form of an address: email lower-cased, phone in E.164 (read in the store's
    country when it has no country code).

    Raises:
        InvalidInput: not an address of that channel.
    """
    try:
        if channel is Channel.EMAIL:
            return normalise_email(raw)
        return normalise_phone(raw, default_region=country)
    except ValueError as error:
        raise InvalidInput(
            f"not a valid {'email address' if channel is Channel.EMAIL else 'phone number'}",
            errors=[FieldError(path="address", message=str(error))],
        ) from None


def list_suppressions(
    *, uow: UnitOfWork, store_id: str, channel: Channel | None, limit: int
) -> list[Suppression]:
    """
    The store's suppressed addresses, newest first, on one channel or all.
    """
    with uow:
        return uow.suppressions.list_recent(store_id, limit=limit, channel=channel)


def add_suppression(
    *, uow: UnitOfWork, clock: Clock, store: Store, channel: Channel, address: str, reason: str
) -> Added:
    """
    Put an address on the list (idempotent: an address already there keeps its entry).

    Raises:
        InvalidInput: a bad address or reason.
    """
    if reason not in API_REASONS:
        errors = [FieldError(path="reason", message=f"must be one of {', '.join(API_REASONS)}")]
        raise InvalidInput("unknown reason", errors=errors)
    normalised = normalise_address(channel, address, country=store.country)
    entry = Suppression(
        store_id=store.id,
        channel=channel,
        address=normalised,
        reason=reason,
        source=API_SOURCE,
        created_at=clock.now(),
    )
    with uow:
        created = uow.suppressions.add(entry)
        stored = uow.suppressions.get(store.id, channel, normalised)
        uow.commit()
    if created:
        log.info("suppression.added", store_id=store.id, channel=channel.value, reason=reason)
    return Added(suppression=stored or entry, created=created)


def remove_suppression(*, uow: UnitOfWork, store: Store, channel: Channel, address: str) -> None:
    """
    Take an address off the list (its plain and erased forms; an erased entry may also be
    named by its `sha256:…` form as listed).

    Raises:
        InvalidInput: not an address of that channel.
        NotFound: the address is not on the list.
    """
    text = address.strip()
    normalised = (
        text if _ERASED.fullmatch(text) else normalise_address(channel, text, country=store.country)
    )
    with uow:
        removed = uow.suppressions.remove(store.id, channel, normalised)
        uow.commit()
    if not removed:
        raise NotFound("the address is not on the suppression list")
    log.info("suppression.removed", store_id=store.id, channel=channel.value)
