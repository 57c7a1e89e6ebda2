"""
What the dashboard's pages read: the stores an operator may see, a store's carts, and one
cart's timeline. Every read goes through `access_store`: a store the operator may not see is
`NotFound`, exactly like a store that does not exist (never 403, never data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cartback.domain.errors import NotFound
from cartback.domain.operators import Operator
from cartback.domain.ports import (
    CartEvent,
    CartFilters,
    CartRecord,
    CartTouch,
    Contact,
    EnrollmentRecord,
    OfferRecord,
    OrderRecord,
    UnitOfWork,
)
from cartback.domain.stores import Store

#: The most raw events a timeline shows (oldest first); the count says when there are more.
TIMELINE_EVENTS = 200
#: Carts per page of the list.
PAGE_SIZE = 50


@dataclass(frozen=True, kw_only=True, slots=True)
class CartsPage:
    """
    One page of a store's carts and the cursor of the next.
    """

    store: Store
    records: list[CartRecord]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class TimelineEntry:
    """
    One dated line of a cart's timeline.
    """

    at: datetime
    kind: str
    label: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class CartTimeline:
    """
    Everything the cart page shows: the cart, its contact, what happened to it, in order.
    """

    store: Store
    record: CartRecord
    contact: Contact | None
    events: list[CartEvent]
    enrollments: list[EnrollmentRecord]
    touches: list[CartTouch]
    offers: list[OfferRecord]
    orders: list[OrderRecord]
    entries: list[TimelineEntry]


def access_store(uow: UnitOfWork, operator: Operator, store_id: str) -> Store:
    """
    The store, when the operator may see it.

    Raises:
        NotFound: no such store, or one this operator may not see (the same answer).
    """
    store = uow.stores.get(store_id) if operator.may_see(store_id) else None
    if store is None:
        raise NotFound("no such store")
    return store


def visible_stores(*, uow: UnitOfWork, operator: Operator) -> list[Store]:
    """
    The stores the operator may see, by name.
    """
    with uow:
        stores = uow.stores.list_all()
    return sorted((s for s in stores if operator.may_see(s.id)), key=lambda s: (s.name, s.id))


def list_carts(
    *,
    uow: UnitOfWork,
    operator: Operator,
    store_id: str,
    filters: CartFilters,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> CartsPage:
    """
    A page of a store's carts, newest first.

    Raises:
        NotFound: the operator may not see the store.
        InvalidInput: the cursor is not one this listing made.
    """
    with uow:
        store = access_store(uow, operator, store_id)
        page = uow.dashboard.carts_page(store.id, filters=filters, limit=limit, cursor=cursor)
    return CartsPage(store=store, records=page.records, next_cursor=page.next_cursor)


def cart_timeline(
    *, uow: UnitOfWork, operator: Operator, store_id: str, cart_id: str
) -> CartTimeline:
    """
    One cart's page: its lines, contact, raw events, enrollments, touches, offers and orders,
    and all of their moments merged into one timeline.

    Raises:
        NotFound: the operator may not see the store, or the store has no such cart.
    """
    with uow:
        store = access_store(uow, operator, store_id)
        record = uow.dashboard.cart(store.id, cart_id)
        if record is None:
            raise NotFound("no such cart in this store")
        contact = uow.contacts.get(store.id, record.contact_id) if record.contact_id else None
        events = uow.dashboard.cart_events(store.id, record.cart.key, limit=TIMELINE_EVENTS)
        enrollments = uow.enrollments.for_cart(record.id)
        touches = uow.touches.for_cart(store.id, record.id)
        offers = [o for e in enrollments for o in uow.offers.for_enrollment(e.id)]
        orders = uow.dashboard.cart_orders(store.id, record.id)
    entries = _entries(record, events, enrollments, touches, offers, orders)
    return CartTimeline(
        store=store,
        record=record,
        contact=contact,
        events=events,
        enrollments=enrollments,
        touches=touches,
        offers=offers,
        orders=orders,
        entries=entries,
    )


def _entries(
    record: CartRecord,
    events: list[CartEvent],
    enrollments: list[EnrollmentRecord],
    touches: list[CartTouch],
    offers: list[OfferRecord],
    orders: list[OrderRecord],
) -> list[TimelineEntry]:
    found = [*_cart_entries(record)]
    found += [
        TimelineEntry(
            at=e.occurred_at,
            kind="event",
            label=e.name or e.kind,
            detail=f"{e.source}, {e.outcome}",
        )
        for e in events
    ]
    found += [entry for e in enrollments for entry in _enrollment_entries(e)]
    found += [entry for t in touches for entry in _touch_entries(t)]
    found += [
        TimelineEntry(
            at=o.created_at,
            kind="offer",
            label=f"offer {o.code} given",
            detail=f"{o.kind} {o.value}, {o.status}",
        )
        for o in offers
    ]
    found += [
        TimelineEntry(
            at=o.placed_at,
            kind="order",
            label=f"order {o.order_key}",
            detail=f"{o.status}, {o.total if o.total is not None else '?'} {o.currency}",
        )
        for o in orders
    ]
    return sorted(found, key=lambda entry: entry.at)


def _cart_entries(record: CartRecord) -> list[TimelineEntry]:
    cart = record.cart
    moments = [
        (record.created_at, "cart created"),
        (cart.abandoned_at, "cart abandoned"),
        (cart.lost_at, "recovery window over (lost)"),
        (cart.ordered_at, "cart ordered"),
    ]
    return [TimelineEntry(at=at, kind="cart", label=label) for at, label in moments if at]


def _enrollment_entries(enrollment: EnrollmentRecord) -> list[TimelineEntry]:
    found = [
        TimelineEntry(
            at=enrollment.started_at,
            kind="enrollment",
            label=f"enrolled in {enrollment.flow}",
            detail=f"group {enrollment.group}",
        )
    ]
    if enrollment.ended_at:
        found.append(
            TimelineEntry(
                at=enrollment.ended_at,
                kind="enrollment",
                label=f"{enrollment.flow} {enrollment.status}",
                detail=enrollment.reason or "",
            )
        )
    return found


def _touch_entries(item: CartTouch) -> list[TimelineEntry]:
    touch = item.touch
    name = f"{item.flow} step {touch.step} ({touch.channel})"
    moments = [
        (touch.sent_at, "sent"),
        (touch.delivered_at, "delivered"),
        (touch.clicked_at, "clicked"),
    ]
    found = [
        TimelineEntry(at=at, kind="touch", label=f"{name} {what}") for at, what in moments if at
    ]
    if not touch.sent_at:
        found.append(
            TimelineEntry(
                at=touch.due_at,
                kind="touch",
                label=f"{name} {touch.status}",
                detail=touch.reason or "",
            )
        )
    return found
