"""
The last check on a fully rendered message, just before it is handed to its channel: what the
message says must still hold at `now`. Three checks, each a way a message can mislead:

1. **Restore links** (`/r/{token}`, and a text's `/s/{code}`): each one verifies (signed by a
   configured key, not expired), names this message's store and touch, and leads to a cart of
   that store that still has items (or, for a browsing visit, the products viewed).
2. **The offer**: a code the message carries is active now (not pending, expired, revoked,
   superseded or used), and belongs to this touch's enrollment and contact.
3. **Stock claims** ("back in stock", "still available", "only 3 left", and their German
   words): each is backed by a catalog read fresher than the store's window at `now` that says
   so; "only N left" needs a fresh count of exactly N.

The caller reads the facts (tokens read with the service's keys, offers, the catalog); this
decides. A message that fails any check is never sent (`docs/guards.md`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cartback.domain.discounts import OfferStatus
from cartback.domain.guards import ItemStock
from cartback.domain.ports import OfferRecord
from cartback.domain.reasons import Reason
from cartback.domain.time import check_aware


class QualityCheck(StrEnum):
    """
    The checks, as the metric's `check` label and the report's `quality` keys name them.
    """

    RESTORE_LINK = "restore_link"
    OFFER = "offer"
    STOCK_CLAIM = "stock_claim"


#: The check behind each reason a failed check records on its touch (with status `failed`).
CHECK_REASONS: Mapping[str, QualityCheck] = {
    Reason.BROKEN_LINK.value: QualityCheck.RESTORE_LINK,
    Reason.OFFER_INELIGIBLE.value: QualityCheck.OFFER,
    Reason.STALE_STOCK.value: QualityCheck.STOCK_CLAIM,
    Reason.OUT_OF_STOCK.value: QualityCheck.STOCK_CLAIM,
}

#: A restore link's path after the service's base URL: `r/<signed token>` or `s/<short code>`.
_LINK = r"/(r|s)/([A-Za-z0-9_\-.]+)"
#: Words that say an item can be bought now (English and German, as the built-in templates
#: and merchants write them). "not in stock" and "no longer in stock" claim nothing.
_AVAILABLE = re.compile(
    r"(?<!not )(?<!no longer )\bin stock\b|\bstill available\b|\bavailable again\b"
    r"|\bnoch verfügbar\b|\bwieder (?:da|verfügbar|erhältlich|auf lager)\b"
    r"|(?<!nicht )\bauf lager\b",
    re.IGNORECASE,
)
#: "only 3 left", "nur noch 3 verfügbar": a count the message states.
_LOW = re.compile(
    r"\bonly (\d+) left\b|\bnur noch (\d+) (?:verfügbar|auf lager|übrig)\b", re.IGNORECASE
)


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageLink:
    """
    A restore link found in a message: `kind` is `r` (signed token) or `s` (short code).
    """

    kind: str
    token: str


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkFacts:
    """
    What a restore link leads to, as the caller read it. `authentic`: signed by a configured
    key (a short code: one that exists). `expires_at`: when it stops working (a signed token:
    its signing time plus the store's link lifetime). `cart_items`: lines with a quantity (for
    a browsing visit, the products viewed); `None` when the cart is gone.
    """

    authentic: bool
    store_id: str | None = None
    touch_id: str | None = None
    expires_at: datetime | None = None
    cart_store_id: str | None = None
    cart_items: int | None = None

    def __post_init__(self) -> None:
        check_aware(self.expires_at, "expires_at")


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageFacts:
    """
    One rendered message and what its claims are checked against.
    """

    store_id: str
    touch_id: str
    enrollment_id: str
    contact_id: str
    #: The message's rendered parts: subject, text and HTML (empty ones may be left out).
    texts: tuple[str, ...]
    #: The service's public URL, which every restore link starts with.
    base_url: str
    #: Each link of `message_links(texts, base_url)`, by its `kind/token`.
    links: Mapping[str, LinkFacts]
    #: The code the message was rendered with (None: it carries no offer).
    offer_code: str | None = None
    #: The carried code's offer and the enrollment's offers (any of whose codes the text shows).
    offers: tuple[OfferRecord, ...] = ()
    #: The cart lines' latest stock reads.
    stock: tuple[ItemStock, ...] = ()
    #: How old a read may be and still back a claim (the store's `StockRules.max_age`).
    fresh_for: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, kw_only=True, slots=True)
class QualityFailure:
    """
    One failed check: the touch reason it records and what exactly was wrong.
    """

    check: QualityCheck
    reason: Reason
    detail: str


@dataclass(frozen=True, kw_only=True, slots=True)
class QualityVerdict:
    """
    Every failed check of one message, in check order; none means it may go.
    """

    failures: tuple[QualityFailure, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures


def message_links(texts: Sequence[str], base_url: str) -> tuple[MessageLink, ...]:
    """
    The restore links (`<base_url>/r/…`, `<base_url>/s/…`) in a message's parts, each once.
    """
    pattern = re.compile(re.escape(base_url.rstrip("/")) + _LINK)
    found = dict.fromkeys(
        MessageLink(kind=m.group(1), token=m.group(2))
        for text in texts
        for m in pattern.finditer(text)
    )
    return tuple(found)


def link_key(link: MessageLink) -> str:
    """
    The key of a link's facts in `MessageFacts.links`.
    """
    return f"{link.kind}/{link.token}"


def check_message(facts: MessageFacts, now: datetime) -> QualityVerdict:
    """
    Run the three checks on a rendered message at `now`.
    """
    check_aware(now, "now")
    failures = [
        *_links(facts, now),
        *_offers(facts, now),
        *_stock(facts, now),
    ]
    return QualityVerdict(failures=tuple(failures))


def _links(facts: MessageFacts, now: datetime) -> list[QualityFailure]:
    failures: list[QualityFailure] = []
    for link in message_links(facts.texts, facts.base_url):
        problem = _link_problem(facts, facts.links.get(link_key(link)), now)
        if problem is not None:
            detail = f"restore link /{link.kind}/…{link.token[-6:]}: {problem}"
            failures.append(_failure(QualityCheck.RESTORE_LINK, Reason.BROKEN_LINK, detail))
    return failures


def _link_problem(facts: MessageFacts, link: LinkFacts | None, now: datetime) -> str | None:
    if link is None or not link.authentic:
        return "not signed by a configured key"
    if link.expires_at is None or now >= link.expires_at:
        return "expired"
    if link.store_id != facts.store_id or link.touch_id != facts.touch_id:
        return "names another store or touch"
    return _cart_problem(facts, link)


def _cart_problem(facts: MessageFacts, link: LinkFacts) -> str | None:
    if link.cart_items is None:
        return "its cart is gone"
    if link.cart_store_id != facts.store_id:
        return "its cart belongs to another store"
    if link.cart_items <= 0:
        return "its cart has no items"
    return None


def _offers(facts: MessageFacts, now: datetime) -> list[QualityFailure]:
    """
    The rendered code, and any of the enrollment's codes the text shows, must be valid now.
    """
    by_code = {offer.code.upper(): offer for offer in facts.offers}
    codes: dict[str, None] = {}
    if facts.offer_code is not None:
        codes[facts.offer_code.upper()] = None
    for code in by_code:
        if code and any(_shows(text, code) for text in facts.texts):
            codes[code] = None
    failures: list[QualityFailure] = []
    for code in codes:
        problem = _offer_problem(facts, code, by_code.get(code), now)
        if problem is not None:
            detail = f"offer {code or '(empty)'}: {problem}"
            failures.append(_failure(QualityCheck.OFFER, Reason.OFFER_INELIGIBLE, detail))
    return failures


def _shows(text: str, code: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(code)}(?![A-Za-z0-9])", text, re.I) is not None


def _offer_problem(
    facts: MessageFacts, code: str, offer: OfferRecord | None, now: datetime
) -> str | None:
    if not code.strip():
        return "no code"
    if offer is None or offer.store_id != facts.store_id:
        return "no such offer"
    if offer.enrollment_id != facts.enrollment_id or offer.contact_id != facts.contact_id:
        return "belongs to another enrollment"
    if not offer.valid_at(now):
        return "expired" if offer.status is OfferStatus.ACTIVE else offer.status.value
    return None


#: Words every stock claim above contains (lower case): a message without any of them is not
#: searched (the patterns' look-behinds make a search cost about 1 ms per email).
_CLAIM_WORDS = (
    "in stock",
    "still available",
    "available again",
    "noch verfügbar",
    "wieder ",
    "auf lager",
    "only ",
    "nur noch ",
)


def _stock(facts: MessageFacts, now: datetime) -> list[QualityFailure]:
    text = "\n".join(facts.texts)
    lowered = text.lower()
    if not any(word in lowered for word in _CLAIM_WORDS):
        return []
    fresh = [s for s in facts.stock if s.read_at is not None and now - s.read_at <= facts.fresh_for]
    selling = [s for s in fresh if s.in_stock and (s.quantity is None or s.quantity > 0)]
    failures: list[QualityFailure] = []
    claim = _AVAILABLE.search(text)
    if claim is not None and not selling:
        failures.append(_stock_failure(claim.group(0), fresh))
    for low in _LOW.finditer(text):
        count = int(low.group(1) or low.group(2))
        if not any(s.quantity == count for s in selling):
            failures.append(_stock_failure(low.group(0), fresh))
    return failures


def _stock_failure(claim: str, fresh: list[ItemStock]) -> QualityFailure:
    """
    A claim a fresh read contradicts is `out_of_stock`; one without a fresh read `stale_stock`.
    """
    if fresh:
        detail = f"stock claim {claim!r}: the fresh read says otherwise"
        return _failure(QualityCheck.STOCK_CLAIM, Reason.OUT_OF_STOCK, detail)
    detail = f"stock claim {claim!r}: no catalog read fresh enough"
    return _failure(QualityCheck.STOCK_CLAIM, Reason.STALE_STOCK, detail)


def _failure(check: QualityCheck, reason: Reason, detail: str) -> QualityFailure:
    return QualityFailure(check=check, reason=reason, detail=detail)


__all__ = [
    "CHECK_REASONS",
    "LinkFacts",
    "MessageFacts",
    "MessageLink",
    "QualityCheck",
    "QualityFailure",
    "QualityVerdict",
    "check_message",
    "link_key",
    "message_links",
]
