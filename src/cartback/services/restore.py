"""
Following a restore link (`contract.md` §5.4): the store, the touch and the cart a valid token
brings back, with the lines that still sell, the offer's code if it still holds, and, when
nothing is left, similar items to offer instead. The platform's own cart-rebuilding URL is made
from them at the edge (`sources`), with `with_link_utm`'s parameters.

Reading is one read-only transaction; the click is written apart (`services.clicks`), so a
failure to count it never keeps the shopper from their cart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, unquote_plus, urlencode, urlsplit, urlunsplit

from cartback.domain.catalog import line_keys
from cartback.domain.errors import NotFound
from cartback.domain.events import LineItem
from cartback.domain.ports import SimilarItem, TouchRecord, UnitOfWork
from cartback.domain.restore import is_expired, split_available, valid_code
from cartback.domain.stores import Store
from cartback.services._formatting import UTM_KEYS, absolute, babel_locale, money
from cartback.services.links import InvalidRestoreLink, RestoreTarget
from cartback.services.message_settings import restore_link_expiry

#: Similar items a page offers when none of the cart's items sells any more.
SIMILAR_ITEMS = 4


class RestoreLinkExpired(InvalidRestoreLink):
    """
    An authentic restore token older than its store's link lifetime.
    """

    def __init__(self, detail: str, *, store: Store | None) -> None:
        super().__init__(detail)
        self.store = store


@dataclass(frozen=True, kw_only=True, slots=True)
class RestoreCart:
    """
    What a restore link brings back: the store, the touch and its flow, the cart's lines that
    can still be bought (`lines`) and those that cannot (`dropped`), the offer's code if it is
    valid now, and similar items when no line is left.
    """

    store: Store
    touch: TouchRecord
    flow: str
    lines: tuple[LineItem, ...]
    dropped: tuple[LineItem, ...] = ()
    code: str | None = None
    similar: tuple[SimilarItem, ...] = ()


def restore_cart(*, uow: UnitOfWork, target: RestoreTarget, now: datetime) -> RestoreCart:
    """
    The store, touch and cart lines of the touch a restore token names, as they stand at `now`.

    Raises:
        RestoreLinkExpired: the token is older than the store's `restore_link_expiry`.
        NotFound: the store, the touch or its cart is gone (erased, or purged).
    """
    with uow:
        store = uow.stores.get(target.store_id)
        if store is not None and is_expired(target.signed_at, restore_link_expiry(store), now):
            raise RestoreLinkExpired("this link has expired", store=store)
        touch = uow.touches.get(target.touch_id)
        if store is None or touch is None or touch.store_id != store.id:
            raise NotFound("this link's cart is gone")
        key = uow.touches.cart_key(touch.cart_id)
        record = uow.carts.get(store.id, key) if key is not None else None
        if record is None:
            raise NotFound("this link's cart is gone")
        lines = [line for line in record.cart.lines if line.quantity > 0]
        keys = [k for line in lines for k in line_keys(line)]
        split = split_available(lines, uow.catalog.get_many(store.id, keys))
        enrollment = uow.enrollments.get(touch.enrollment_id)
        code = valid_code(uow.offers.for_enrollment(touch.enrollment_id), now)
        similar = _similar(uow, store.id, split.dropped) if not split.kept else []
    return RestoreCart(
        store=store,
        touch=touch,
        flow=enrollment.flow if enrollment is not None else "",
        lines=split.kept,
        dropped=split.dropped,
        code=code,
        similar=tuple(similar),
    )


def _similar(uow: UnitOfWork, store_id: str, dropped: tuple[LineItem, ...]) -> list[SimilarItem]:
    if not dropped:
        return []
    keys = [k for line in dropped for k in line_keys(line)]
    categories = sorted({line.category for line in dropped if line.category})
    return uow.catalog.similar(store_id, keys, categories=categories, limit=SIMILAR_ITEMS)


def price_text(item: SimilarItem, language: str) -> str | None:
    """
    A similar item's price as the page's language writes it, or None when it has none.
    """
    if item.price is None or not item.currency:
        return None
    return money(item.price, item.currency, babel_locale(language))


def similar_href(item: SimilarItem, found: RestoreCart) -> str:
    """
    A similar item's page (made absolute against the store's site), with the UTM parameters.
    """
    home = f"https://{found.store.domains[0]}" if found.store.domains else "/"
    return with_link_utm(absolute(item.url, home), found)


def with_link_utm(url: str, found: RestoreCart) -> str:
    """
    The URL with Cartback's UTM parameters for the touch, as its message's links carry them
    (`utm_source=cartback`, the channel, the flow, `<template>-<step>`). The URL's own query
    is kept as written (a platform's `products=1:2,3:1` or `sku[0]=` stay as its builder made
    them); only an earlier value of one of these four keys is replaced.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and unquote_plus(pair.partition("=")[0]) not in UTM_KEYS
    ]
    touch = found.touch
    utm = urlencode(
        [
            ("utm_source", "cartback"),
            ("utm_medium", touch.channel.value),
            ("utm_campaign", found.flow),
            ("utm_content", f"{touch.template}-{touch.step}"),
        ],
        quote_via=quote,
    )
    return urlunsplit(parts._replace(path=parts.path or "/", query="&".join([*kept, utm])))
