"""
Unsubscribe links (RFC 8058 one-click) and the preference page behind them.

A link is `{CARTBACK_BASE_URL}/u/{token}`: the token is signed with the service's secret key
(itsdangerous, salt `cartback.unsubscribe`) and carries the store id, contact id and channel,
nothing else (no address in the URL), and never expires. Every configured secret key verifies
it and the first signs, so rotating `CARTBACK_SECRET_KEY` keeps old emails' links working.

Choices write the consent ledger (source `unsubscribe_link`) with the words the person saw:
unsubscribing withdraws recovery and marketing and puts the address on the suppression list
(`unsubscribed`); "recovery only" withdraws marketing and grants recovery; "everything"
grants both. A choice that grants lifts an `unsubscribed` suppression (the person's own), never
one the merchant or the mail provider set (`manual`, `hard_bounce`, `complaint`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from cartback.domain.consent import Channel, Purpose
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.optouts import Evidence, Preference, current_preference, preference_claims
from cartback.domain.ports import Contact, Suppression, UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.signing import Signer
from cartback.services.permission import append_claims, contact_address, may_message
from cartback.services.webhook_events import WebhookEvents, contact_unsubscribed

log = structlog.get_logger(__name__)

LINK_SALT = "cartback.unsubscribe"
FORM_SALT = "cartback.preferences"
#: The ledger source of every choice made through a link.
SOURCE = "unsubscribe_link"
#: The words of an RFC 8058 one-click POST (what the mailbox provider sent for the person).
ONE_CLICK_TEXT = "List-Unsubscribe=One-Click"
#: The suppression reason of an unsubscribe.
UNSUBSCRIBED = "unsubscribed"
#: How long a preference form may sit open before its choice needs the page again.
FORM_MAX_AGE = timedelta(hours=2)


class InvalidLink(InvalidInput):
    """
    The link is not one Cartback signed (tampered, truncated, or signed with a removed key).
    """

    slug = "invalid-link"


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkTarget:
    """
    Whom a link unsubscribes, and from which channel.
    """

    store_id: str
    contact_id: str
    channel: Channel


class UnsubscribeLinks:
    """
    Makes and reads unsubscribe tokens, and the form tokens that prove a preference came from
    the page.
    """

    def __init__(self, *, secret_keys: Sequence[str], base_url: str) -> None:
        self._links = Signer(secret_keys, salt=LINK_SALT)
        self._forms = Signer(secret_keys, salt=FORM_SALT)
        self._base_url = base_url.rstrip("/")

    def token(self, *, store_id: str, contact_id: str, channel: Channel = Channel.EMAIL) -> str:
        """
        The signed token for a contact and channel.
        """
        return self._links.sign([store_id, contact_id, channel.value])

    def url(self, *, store_id: str, contact_id: str, channel: Channel = Channel.EMAIL) -> str:
        """
        The public unsubscribe URL (for `List-Unsubscribe` and the footer link).
        """
        token = self.token(store_id=store_id, contact_id=contact_id, channel=channel)
        return f"{self._base_url}/u/{token}"

    def read(self, token: str) -> LinkTarget:
        """
        Whom a token names.

        Raises:
            InvalidLink: the token is not valid.
        """
        try:
            value = self._links.read(token)
            store_id, contact_id, channel = value
            if not isinstance(store_id, str) or not isinstance(contact_id, str):
                raise ValueError("not ids")
            return LinkTarget(store_id=store_id, contact_id=contact_id, channel=Channel(channel))
        except (ValueError, TypeError):
            raise InvalidLink("this link is not valid") from None

    def form_token(self, token: str, *, now: datetime) -> str:
        """
        A token for the preference form shown now on the page of `token`.
        """
        return self._forms.sign([_digest(token), int(now.timestamp())])

    def form_is_valid(self, form_token: str, token: str, *, now: datetime) -> bool:
        """
        Whether a form token was made for this page, and not longer ago than `FORM_MAX_AGE`.
        """
        try:
            digest, issued = self._forms.read(form_token)
        except (ValueError, TypeError):
            return False
        if digest != _digest(token) or not isinstance(issued, int):
            return False
        age = now.timestamp() - issued
        return 0 <= age <= FORM_MAX_AGE.total_seconds()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def unsubscribe_url(
    *,
    secret_keys: Sequence[str],
    base_url: str,
    store_id: str,
    contact_id: str,
    channel: Channel = Channel.EMAIL,
) -> str:
    """
    The unsubscribe URL for a contact: what every email's `List-Unsubscribe` header and footer
    link carry (with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`).

    Args:
        secret_keys: `Settings.resolve_secret_keys()` (the first signs).
        base_url: `Settings.base_url`, the public URL of this Cartback.
        store_id: the store.
        contact_id: the recipient.
        channel: the channel the link unsubscribes from.
    """
    links = UnsubscribeLinks(secret_keys=secret_keys, base_url=base_url)
    return links.url(store_id=store_id, contact_id=contact_id, channel=channel)


@dataclass(frozen=True, kw_only=True, slots=True)
class Subscription:
    """
    What the page shows: the store, the person's address on the channel and what they get now.
    """

    store: Store
    contact: Contact
    channel: Channel
    address: str | None
    preference: Preference


def _load(uow: UnitOfWork, target: LinkTarget) -> tuple[Store, Contact]:
    store = uow.stores.get(target.store_id)
    contact = uow.contacts.get(target.store_id, target.contact_id) if store else None
    if store is None or contact is None:
        raise NotFound("nobody to unsubscribe: the person's data may have been erased")
    return store, contact


def _subscription(
    uow: UnitOfWork, store: Store, contact: Contact, channel: Channel
) -> Subscription:
    permissions = {p: may_message(uow, store, contact, channel, p) for p in Purpose}
    return Subscription(
        store=store,
        contact=contact,
        channel=channel,
        address=contact_address(contact, channel),
        preference=current_preference(
            recovery=permissions[Purpose.RECOVERY], marketing=permissions[Purpose.MARKETING]
        ),
    )


def view_subscription(*, uow: UnitOfWork, target: LinkTarget) -> Subscription:
    """
    The person's current state on the link's channel (reading only: mail scanners fetch links).

    Raises:
        NotFound: the store or the contact no longer exists.
    """
    with uow:
        store, contact = _load(uow, target)
        return _subscription(uow, store, contact, target.channel)


def choose_preference(
    *,
    uow: UnitOfWork,
    clock: Clock,
    target: LinkTarget,
    preference: Preference,
    text: str,
    client_ip: str | None = None,
    user_agent: str | None = None,
    text_version: str | None = None,
    locale: str | None = None,
) -> Subscription:
    """
    Record a choice: the ledger entries it stands for, and the suppression list to match.

    Raises:
        NotFound: the store or the contact no longer exists.
    """
    now = clock.now()
    evidence = Evidence(
        text=text,
        source=SOURCE,
        at=now,
        client_ip=client_ip,
        user_agent=user_agent,
        text_version=text_version,
        locale=locale,
    )
    with uow:
        store, contact = _load(uow, target)
        claims = preference_claims(preference, channel=target.channel, evidence=evidence)
        append_claims(uow, store.id, contact.id, claims, now=now)
        address = contact_address(contact, target.channel)
        if address is not None:
            _match_suppression(uow, store.id, target.channel, address, preference, now)
        if preference is Preference.NOTHING:
            unsubscribed = contact_unsubscribed(
                store.id, contact.id, target.channel, source=SOURCE, now=now
            )
            WebhookEvents().emit(uow, unsubscribed)
        uow.commit()
    log.info(
        "unsubscribe.choice",
        store_id=target.store_id,
        channel=target.channel.value,
        preference=preference.value,
    )
    return Subscription(
        store=store,
        contact=contact,
        channel=target.channel,
        address=address,
        preference=preference,
    )


def _match_suppression(
    uow: UnitOfWork,
    store_id: str,
    channel: Channel,
    address: str,
    preference: Preference,
    now: datetime,
) -> None:
    if preference is Preference.NOTHING:
        uow.suppressions.add(
            Suppression(
                store_id=store_id,
                channel=channel,
                address=address,
                reason=UNSUBSCRIBED,
                source=SOURCE,
                created_at=now,
            )
        )
        return
    listed = uow.suppressions.get(store_id, channel, address)
    if listed is not None and listed.reason == UNSUBSCRIBED:
        uow.suppressions.remove(store_id, channel, address)


def unsubscribe(
    *,
    uow: UnitOfWork,
    clock: Clock,
    target: LinkTarget,
    text: str = ONE_CLICK_TEXT,
    client_ip: str | None = None,
    user_agent: str | None = None,
) -> Subscription:
    """
    Unsubscribe at once (RFC 8058 one-click, or the page's button): recovery and marketing
    withdrawn, the address suppressed.

    Raises:
        NotFound: the store or the contact no longer exists.
    """
    return choose_preference(
        uow=uow,
        clock=clock,
        target=target,
        preference=Preference.NOTHING,
        text=text,
        client_ip=client_ip,
        user_agent=user_agent,
    )


def contact_unsubscribe_url(
    *, uow: UnitOfWork, links: UnsubscribeLinks, store_id: str, contact_id: str, channel: Channel
) -> str:
    """
    The unsubscribe URL of one of the store's contacts.

    Raises:
        NotFound: no such contact in this store.
    """
    with uow:
        contact = uow.contacts.get(store_id, contact_id)
    if contact is None:
        raise NotFound(f"no contact {contact_id!r} in this store")
    return links.url(store_id=store_id, contact_id=contact_id, channel=channel)
