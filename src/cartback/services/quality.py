"""
The send-time quality check's reads (`domain.quality` decides): each restore link in the
rendered message read with the service's keys and followed to its touch and cart, the offers
the message may show, and the cart lines' latest stock reads. The dispatcher runs it in a short
transaction just before handing each message to its channel, with the clock's `now` then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from cartback.domain.events import Stage
from cartback.domain.ports import CartRecord, OfferRecord, OutboundMessage, TouchRecord, UnitOfWork
from cartback.domain.quality import (
    LinkFacts,
    MessageFacts,
    MessageLink,
    QualityVerdict,
    check_message,
    link_key,
    message_links,
)
from cartback.services.catalog import cart_stock
from cartback.services.links import InvalidRestoreLink, RestoreTarget
from cartback.services.short_links import normalised_code


class LinkReader(Protocol):
    """
    Reads the service's restore tokens (the `Composer` that signed them).
    """

    @property
    def base_url(self) -> str: ...

    def read_restore(self, token: str) -> RestoreTarget:
        """
        Raises:
            InvalidRestoreLink: no configured key signed the token.
        """
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class QualityTerms:
    """
    What the deciding transaction knew about a message that its check needs: the contact, the
    code it was rendered with, and the store's stock freshness and restore link lifetime.
    """

    contact_id: str
    offer_code: str | None
    fresh_for: timedelta
    link_lifetime: timedelta


def check_outgoing(
    *,
    uow: UnitOfWork,
    links: LinkReader,
    touch: TouchRecord,
    message: OutboundMessage,
    terms: QualityTerms,
    now: datetime,
) -> QualityVerdict:
    """
    Read the facts behind the message's links, offer and stock claims, and check it at `now`.
    """
    texts = _texts(message)
    found = message_links(texts, links.base_url)
    carts = _CartsOfTouches(uow)
    record = carts.of(touch)
    facts = MessageFacts(
        store_id=touch.store_id,
        touch_id=touch.id,
        enrollment_id=touch.enrollment_id,
        contact_id=terms.contact_id,
        texts=texts,
        base_url=links.base_url,
        links={link_key(link): _link_facts(uow, carts, links, link, terms) for link in found},
        offer_code=terms.offer_code,
        offers=_offers(uow, touch, terms.offer_code),
        stock=cart_stock(uow, record) if record is not None else (),
        fresh_for=terms.fresh_for,
    )
    return check_message(facts, now)


def _texts(message: OutboundMessage) -> tuple[str, ...]:
    html = message.email.html if message.email is not None else ""
    return tuple(part for part in (message.subject or "", message.text, html) if part)


def _link_facts(
    uow: UnitOfWork,
    carts: _CartsOfTouches,
    links: LinkReader,
    link: MessageLink,
    terms: QualityTerms,
) -> LinkFacts:
    if link.kind == "s":
        code = normalised_code(link.token)
        short = uow.short_links.get(code) if code is not None else None
        if short is None:
            return LinkFacts(authentic=False)
        store_id, touch_id, expires_at = short.store_id, short.touch_id, short.expires_at
    else:
        try:
            target = links.read_restore(link.token)
        except InvalidRestoreLink:
            return LinkFacts(authentic=False)
        store_id, touch_id = target.store_id, target.touch_id
        expires_at = target.signed_at + terms.link_lifetime
    named = carts.touch(touch_id)
    record = carts.of(named) if named is not None and named.store_id == store_id else None
    return LinkFacts(
        authentic=True,
        store_id=store_id,
        touch_id=touch_id,
        expires_at=expires_at,
        cart_store_id=record.store_id if record is not None else None,
        cart_items=_items(record) if record is not None else None,
    )


class _CartsOfTouches:
    """
    Touches and their carts read once per check: a message's links nearly always name its own
    touch, whose cart the check has already read.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._touches: dict[str, TouchRecord | None] = {}
        self._carts: dict[tuple[str, str], CartRecord | None] = {}

    def touch(self, touch_id: str) -> TouchRecord | None:
        if touch_id not in self._touches:
            self._touches[touch_id] = self._uow.touches.get(touch_id)
        return self._touches[touch_id]

    def of(self, touch: TouchRecord) -> CartRecord | None:
        self._touches.setdefault(touch.id, touch)
        ref = (touch.store_id, touch.cart_id)
        if ref not in self._carts:
            key = self._uow.touches.cart_key(touch.cart_id)
            self._carts[ref] = self._uow.carts.get(touch.store_id, key) if key is not None else None
        return self._carts[ref]


def _items(record: CartRecord) -> int:
    """
    What a restore link brings back: lines with a quantity, or a browsing visit's products.
    """
    cart = record.cart
    lines = sum(1 for line in cart.lines if line.quantity > 0)
    if lines or cart.stage is not Stage.BROWSING:
        return lines
    return len(cart.signals.viewed)


def _offers(uow: UnitOfWork, touch: TouchRecord, code: str | None) -> tuple[OfferRecord, ...]:
    """
    The enrollment's offers, and the rendered code's own offer when it is not one of them.
    """
    offers = list(uow.offers.for_enrollment(touch.enrollment_id))
    if code and all(o.code.upper() != code.upper() for o in offers):
        found = uow.offers.by_code(touch.store_id, code)
        if found is not None:
            offers.append(found)
    return tuple(offers)


__all__ = ["LinkReader", "QualityTerms", "check_outgoing"]
