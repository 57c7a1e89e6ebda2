"""
Reading carts back: one cart with its contact, or a page of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cartback.domain.errors import NotFound
from cartback.domain.ports import CartPage, CartRecord, CartTouch, Contact, UnitOfWork


@dataclass(frozen=True, kw_only=True, slots=True)
class CartView:
    """
    A cart as the read API shows it.
    """

    record: CartRecord
    contact: Contact | None
    #: Filled by `list_carts`; `GET /v1/carts/{id}` reads them with `cart_touches`.
    touches: tuple[CartTouch, ...] = ()


def get_cart(*, uow: UnitOfWork, store_id: str, cart_key: str) -> CartView:
    """
    One cart of a store, by the platform's cart id.

    Raises:
        NotFound: this store has no such cart (whether or not another store has).
    """
    with uow:
        record = uow.carts.get(store_id, cart_key)
        if record is None:
            raise NotFound(f"no cart {cart_key!r} in this store")
        contact = uow.contacts.get(store_id, record.contact_id) if record.contact_id else None
    return CartView(record=record, contact=contact)


def list_carts(
    *,
    uow: UnitOfWork,
    store_id: str,
    status: str | None = None,
    email: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[CartView], str | None]:
    """
    A page of a store's carts, newest first, and the cursor of the next page.
    """
    with uow:
        contact_id = None
        if email:
            _, by_email, _ = uow.contacts.find(store_id, user_id=None, email=email, phone=None)
            if by_email is None:
                return [], None
            contact_id = by_email.id
        page: CartPage = uow.carts.list_page(
            store_id,
            status=status,
            contact_id=contact_id,
            since=since,
            limit=limit,
            cursor=cursor,
        )
        contacts: dict[str, Contact | None] = {}
        for record in page.records:
            if record.contact_id and record.contact_id not in contacts:
                contacts[record.contact_id] = uow.contacts.get(store_id, record.contact_id)
        touches = uow.touches.for_carts(store_id, [r.id for r in page.records])
    views = [
        CartView(
            record=r,
            contact=contacts.get(r.contact_id) if r.contact_id else None,
            touches=tuple(touches.get(r.id, ())),
        )
        for r in page.records
    ]
    return views, page.next_cursor
