"""
Short restore links for texts (`/s/{code}`): a nine-character code stands for one touch's
restore link, so a text spends 35 characters on its link instead of a hundred.

Codes are drawn with `secrets` from 31 characters that cannot be misread (no 0/O, 1/I/L):
31^9 is about 2^44.6, so guessing a live code is hopeless, and a code names no person. They
are read case-insensitively (phones capitalise and lowercase what they like). A code lives as
long as the store's restore links from the text it went in (the composer passes
`message_settings.restore_link_expiry(store)` as `ttl`): past it the page says the link has
expired.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from cartback.domain.errors import NotFound
from cartback.domain.ports import ShortLink, UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock, check_aware

log = structlog.get_logger(__name__)

#: Digits and capitals without 0, O, 1, I and L.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 9
#: A code taken by another touch is drawn again; this many collisions means something is wrong.
MAX_DRAWS = 5


class ShortLinkExpired(NotFound):
    """
    The short link's time is over (it outlived the store's recovery window).
    """

    def __init__(self, detail: str, *, store: Store | None) -> None:
        super().__init__(detail)
        self.store = store


@dataclass(frozen=True, kw_only=True, slots=True)
class ShortLinkTarget:
    """
    What a live short link stands for.
    """

    store_id: str
    touch_id: str


def new_code() -> str:
    """
    A fresh random code.
    """
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def short_link(
    *, uow: UnitOfWork, store_id: str, touch_id: str, now: datetime, ttl: timedelta
) -> str:
    """
    The touch's short link code, made on first use (a second call answers the same code).

    Runs inside the caller's unit of work (the dispatcher's deciding transaction), which
    commits it with the touch that uses it.

    Raises:
        ValueError: a naive `now` or a `ttl` that is not positive.
        RuntimeError: no free code after `MAX_DRAWS` draws.
    """
    check_aware(now, "now")
    if ttl <= timedelta(0):
        raise ValueError("a short link lives for a positive time")
    existing = uow.short_links.for_touch(touch_id)
    if existing is not None:
        return existing.code
    for _ in range(MAX_DRAWS):
        link = ShortLink(
            code=new_code(),
            store_id=store_id,
            touch_id=touch_id,
            created_at=now,
            expires_at=now + ttl,
        )
        stored = uow.short_links.add(link)
        if stored is not None:
            return stored.code
    raise RuntimeError("no free short link code")


def normalised_code(raw: str) -> str | None:
    """
    The code as stored (capitals), or None when it cannot be one of ours.
    """
    code = raw.strip().upper()
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def resolve(*, uow: UnitOfWork, clock: Clock, code: str) -> ShortLinkTarget:
    """
    The touch a live code stands for.

    Raises:
        NotFound: no such code (or not a code at all).
        ShortLinkExpired: the code's time is over; it carries the store, for a way back.
    """
    normal = normalised_code(code)
    if normal is None:
        raise NotFound("no such link")
    with uow:
        link = uow.short_links.get(normal)
        store = uow.stores.get(link.store_id) if link is not None else None
    if link is None:
        raise NotFound("no such link")
    if clock.now() >= link.expires_at:
        log.info("short_link.expired", store_id=link.store_id, touch_id=link.touch_id)
        raise ShortLinkExpired("this link has expired", store=store)
    return ShortLinkTarget(store_id=link.store_id, touch_id=link.touch_id)
