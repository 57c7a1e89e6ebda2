"""
Following a restore link: the store and the cart lines a valid token's touch brings back. The
platform's own cart-rebuilding URL is made from them at the edge (`sources`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cartback.domain.errors import NotFound
from cartback.domain.events import LineItem
from cartback.domain.ports import UnitOfWork
from cartback.domain.stores import Store
from cartback.services.links import RestoreTarget


@dataclass(frozen=True, kw_only=True, slots=True)
class RestoreCart:
    """
    What a restore link brings back: the store, and the cart's lines still in it.
    """

    store: Store
    lines: tuple[LineItem, ...]


def restore_cart(*, uow: UnitOfWork, target: RestoreTarget) -> RestoreCart:
    """
    The store and cart lines of the touch a restore token names.

    Raises:
        NotFound: the store, the touch or its cart is gone (erased, or purged).
    """
    with uow:
        store = uow.stores.get(target.store_id)
        touch = uow.touches.get(target.touch_id)
        if store is None or touch is None or touch.store_id != store.id:
            raise NotFound("this link's cart is gone")
        key = uow.touches.cart_key(touch.cart_id)
        record = uow.carts.get(store.id, key) if key is not None else None
    if record is None:
        raise NotFound("this link's cart is gone")
    return RestoreCart(store=store, lines=tuple(ln for ln in record.cart.lines if ln.quantity > 0))
