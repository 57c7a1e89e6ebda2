"""
Erasure on a real database: a person's contact, consent, links and raw events are gone, on
both SQLite and PostgreSQL (where the raw log is `json` text searched as text).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from cartback.bootstrap import Container
from cartback.services.ingest import ingest
from cartback.services.privacy import erase_customer, erase_store_data
from cartback.services.stores import CreatedStore
from cartback.sources.segment import ParseContext, parse_messages
from cartback.store.tables import carts, contacts, raw_events
from helpers import identify, track


def _send(container: Container, store: CreatedStore, *documents: dict[str, object]) -> None:
    parsed = parse_messages(list(documents), context=ParseContext(now=datetime.now(UTC)))
    assert [] == parsed.errors
    ingest(
        uow=container.uow_factory(),
        clock=container.clock,
        store_id=store.store.id,
        messages=parsed.messages,
    )


def _count(container: Container, query: object) -> int:
    with container.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())  # type: ignore[call-overload]


def test_erasing_a_customer_leaves_no_trace_of_them(
    container: Container, store: CreatedStore
) -> None:
    """
    The contact, its link from the cart and every raw event naming the email are gone; the
    other shopper's data stays.
    """
    # given
    _send(
        container,
        store,
        track("Product Added", anonymous_id="a-1", cart_id="c-1", product_id="p"),
        identify(anonymous_id="a-1", email="Erase.Me@Example.com"),
        identify(anonymous_id="a-2", email="keep@example.com"),
    )
    # when
    report = erase_customer(
        uow=container.uow_factory(), store_id=store.store.id, email="erase.me@example.com"
    )
    # then
    assert 1 == report.contacts
    assert 0 == _count(
        container,
        select(func.count())
        .select_from(raw_events)
        .where(raw_events.c.payload.cast(raw_events.c.name.type).contains("rase.Me@Example.com")),
    )
    with container.engine.connect() as connection:
        remaining = [row.email for row in connection.execute(select(contacts.c.email))]
    assert ["keep@example.com"] == remaining
    assert 0 == _count(
        container, select(func.count()).select_from(carts).where(carts.c.contact_id.is_not(None))
    )


def test_erasing_a_shop_keeps_only_the_store(container: Container, store: CreatedStore) -> None:
    """
    `shop/redact` removes carts, contacts and events; the store and its keys remain.
    """
    # given
    _send(
        container,
        store,
        track("Product Added", cart_id="c-1", product_id="p"),
        identify(email="a@example.com"),
    )
    # when
    erase_store_data(uow=container.uow_factory(), store_id=store.store.id)
    # then
    counts = [
        _count(container, select(func.count()).select_from(table))
        for table in (carts, contacts, raw_events)
    ]
    assert [0, 0, 0] == counts
