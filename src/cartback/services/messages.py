"""
Reading what the engine did: a cart's touches, and the messages the `outbox` channel kept.
"""

from __future__ import annotations

from cartback.domain.consent import Channel
from cartback.domain.errors import NotFound
from cartback.domain.ports import CartTouch, OutboxMessage, UnitOfWork


def cart_touches(*, uow: UnitOfWork, store_id: str, cart_key: str) -> list[CartTouch]:
    """
    The touches of one cart (every enrollment), in enrollment and step order.

    Raises:
        NotFound: this store has no such cart.
    """
    with uow:
        record = uow.carts.get(store_id, cart_key)
        if record is None:
            raise NotFound(f"no cart {cart_key!r} in this store")
        return uow.touches.for_cart(store_id, record.id)


def list_messages(
    *,
    uow: UnitOfWork,
    store_id: str,
    cart_key: str | None = None,
    channel: Channel | None = None,
    limit: int = 100,
) -> list[OutboxMessage]:
    """
    The store's outbox messages, oldest first, for one cart and/or one channel.
    """
    with uow:
        return uow.outbox.list_for_store(store_id, cart_key=cart_key, channel=channel, limit=limit)
