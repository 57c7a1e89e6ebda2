"""
The ingest use case on in-memory fakes: idempotency, ordering, identity stitching, implicit
carts, orders, bots, staleness, and the store read inside the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cartback.domain.cart import CartStatus
from cartback.domain.errors import NotFound
from cartback.domain.events import (
    CartEvent,
    CartSnapshot,
    IdentityClaims,
    ItemAdded,
    ItemRemoved,
    LineItem,
    OrderChanged,
    OrderPlaced,
    PaymentFailed,
    ProductViewed,
    Stage,
)
from cartback.domain.ingest import EventOutcome, Inbound, IngestReport, MessageKind
from cartback.domain.origin import CartOrigin, CountryGuess, CountrySource, Device
from cartback.domain.ports import CartRecord
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.keys import SecretBox
from cartback.services.ingest import ingest
from cartback.services.stores import StoreSettings, create_store
from fakes import FakeDatabase, FakeUnitOfWorkFactory

HUMAN = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

Send = Callable[..., IngestReport]


@pytest.fixture
def store_factory(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> Callable[..., Store]:
    """
    Creates stores through the store service (abandonment after 30 minutes by default).
    """

    def make(**overrides: Any) -> Store:
        settings = StoreSettings(
            **{
                "name": "Fake Shop",
                "platform": "custom",
                "domains": ["shop.example.com"],
                "abandon_after": timedelta(minutes=30),
                **overrides,
            }
        )
        box = SecretBox(["unit-test-secret"])
        return create_store(uow=uow_factory(), clock=clock, box=box, settings=settings).store

    return make


@pytest.fixture
def shop(store_factory: Callable[..., Store]) -> Store:
    """
    One store.
    """
    return store_factory()


@pytest.fixture
def send(uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store) -> Send:
    """
    Ingests messages as one batch (into `shop` unless another store is given).
    """

    def run(*messages: Inbound, store: Store | None = None) -> IngestReport:
        target = store or shop
        return ingest(uow=uow_factory(), clock=clock, store_id=target.id, messages=messages)

    return run


@pytest.fixture
def at(clock: SimulatedClock) -> Callable[[float], datetime]:
    """
    The instant a number of minutes after the test's start.
    """
    start = clock.now()

    def moment(minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    return moment


@pytest.fixture
def track() -> Callable[..., Inbound]:
    """
    Builds a track message around a cart event, timed by the event.
    """

    def make(
        event: CartEvent,
        *,
        cart_key: str | None = "c-1",
        anonymous_id: str | None = "anon-1",
        message_id: str | None = None,
        order_key: str | None = None,
        user_agent: str | None = HUMAN,
        claims: IdentityClaims | None = None,
    ) -> Inbound:
        return Inbound(
            source="segment",
            message_id=message_id or uuid.uuid4().hex,
            kind=MessageKind.TRACK,
            name=type(event).__name__,
            occurred_at=event.occurred_at,
            anonymous_id=anonymous_id,
            cart_key=cart_key,
            order_key=order_key,
            event=event,
            claims=claims,
            user_agent=user_agent,
        )

    return make


@pytest.fixture
def identify() -> Callable[..., Inbound]:
    """
    Builds an identify message.
    """

    def make(
        at: datetime,
        *,
        anonymous_id: str | None = "anon-1",
        user_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        user_agent: str | None = HUMAN,
    ) -> Inbound:
        return Inbound(
            source="segment",
            message_id=uuid.uuid4().hex,
            kind=MessageKind.IDENTIFY,
            name=None,
            occurred_at=at,
            anonymous_id=anonymous_id,
            user_id=user_id,
            claims=IdentityClaims(user_id=user_id, email=email, phone=phone),
            user_agent=user_agent,
        )

    return make


def added(
    at: datetime, product_id: str = "p-1", *, quantity: int = 1, price: str = "10"
) -> ItemAdded:
    """
    A Product Added event.
    """
    line = LineItem(product_id=product_id, quantity=quantity, unit_price=Decimal(price))
    return ItemAdded(occurred_at=at, item=line)


def carts_of(database: FakeDatabase, store: Store) -> list[CartRecord]:
    """
    A store's committed carts, oldest activity first.
    """
    found = [r for r in database.carts.values() if r.store_id == store.id]
    return sorted(found, key=lambda r: r.cart.last_activity_at or r.created_at)


def only_cart(database: FakeDatabase, store: Store) -> CartRecord:
    """
    The store's one committed cart.
    """
    (record,) = carts_of(database, store)
    return record


def test_a_replayed_message_changes_nothing(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    A second message with a known messageId is a duplicate, even with other content.
    """
    # given
    send(track(added(at(0)), message_id="m-1"))
    before = only_cart(database, shop)
    # when
    report = send(track(added(at(1), quantity=5), message_id="m-1"))
    # then
    assert {"m-1": EventOutcome.DUPLICATE} == report.outcomes
    assert before == only_cart(database, shop)
    assert 1 == len(database.events)


def test_a_message_repeated_within_a_batch_is_applied_once(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    The same messageId twice in one batch adds the product once.
    """
    # given
    message = track(added(at(0), quantity=2), message_id="m-1")
    # when
    send(message, message)
    # then
    assert [2] == [line.quantity for line in only_cart(database, shop).cart.lines]
    assert 1 == len(database.events)


def test_a_shuffled_batch_ends_as_one_in_order(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
    store_factory: Callable[..., Store],
) -> None:
    """
    Events apply by their own timestamps, so arrival order does not matter.
    """
    # given
    events: list[CartEvent] = [
        ProductViewed(occurred_at=at(1), item=LineItem(product_id="p-1")),
        added(at(2), "p-1", quantity=2),
        added(at(3), "p-2", price="5.50"),
        ItemRemoved(occurred_at=at(4), item=LineItem(product_id="p-1", quantity=1)),
        CartSnapshot(occurred_at=at(5), stage=Stage.CHECKOUT, checkout_id="co-1"),
        PaymentFailed(occurred_at=at(6), reason="card_declined"),
    ]
    other = store_factory(name="Other Shop")
    send(*(track(e) for e in events))
    # when
    report = send(*(track(e) for e in reversed(events)), store=other)
    # then
    assert 6 == report.count(EventOutcome.APPLIED)
    assert only_cart(database, shop).cart == only_cart(database, other).cart


def test_identify_links_the_visitor_and_its_open_carts_to_the_contact(
    send: Send,
    track: Callable[..., Inbound],
    identify: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    An anonymous shopper's cart belongs to the contact once they identify.
    """
    # given
    send(track(added(at(0))))
    # when
    send(identify(at(1), email="ada@example.com"))
    # then
    (contact,) = database.contacts.values()
    (visitor,) = database.visitors.values()
    assert ("ada@example.com", contact.id) == (contact.email, visitor.contact_id)
    assert contact.id == only_cart(database, shop).contact_id


def test_a_later_identify_with_the_same_email_reuses_the_contact(
    send: Send,
    identify: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
) -> None:
    """
    Two browsers giving one email address are one person.
    """
    # given
    send(identify(at(0), anonymous_id="anon-1", email="ada@example.com"))
    # when
    send(identify(at(1), anonymous_id="anon-2", email="ada@example.com"))
    # then
    (contact,) = database.contacts.values()
    assert [contact.id, contact.id] == [v.contact_id for v in database.visitors.values()]


def test_conflicting_identifiers_are_not_merged(
    send: Send,
    identify: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
) -> None:
    """
    A user id of one contact with another contact's email leaves both contacts as they were.
    """
    # given
    send(identify(at(0), anonymous_id="anon-1", user_id="u-1", email="ada@example.com"))
    send(identify(at(1), anonymous_id="anon-2", email="bob@example.com"))
    before = {c.id: (c.user_id, c.email) for c in database.contacts.values()}
    # when
    send(identify(at(2), anonymous_id="anon-3", user_id="u-1", email="bob@example.com"))
    # then
    assert before == {c.id: (c.user_id, c.email) for c in database.contacts.values()}
    by_anonymous_id = {v.anonymous_id: v.contact_id for v in database.visitors.values()}
    assert by_anonymous_id["anon-1"] == by_anonymous_id["anon-3"]


def test_events_without_a_cart_id_go_to_the_visitors_open_cart(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    Two adds in two batches, neither naming a cart, make one cart with two lines.
    """
    # given
    send(track(added(at(0), "p-1"), cart_key=None))
    # when
    send(track(added(at(1), "p-2"), cart_key=None))
    # then
    assert ["p-1", "p-2"] == [line.product_id for line in only_cart(database, shop).cart.lines]


@pytest.mark.parametrize("same_batch", [False, True], ids=["later-batch", "same-batch"])
def test_after_an_order_a_new_implicit_cart_is_started(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
    same_batch: bool,
) -> None:
    """
    An add after the visitor's implicit cart was ordered starts a new cart.
    """
    # given
    send(track(added(at(0), "p-1"), cart_key=None))
    order = track(OrderPlaced(occurred_at=at(1), order_id="o-1"), cart_key=None, order_key="o-1")
    after = track(added(at(2), "p-2"), cart_key=None)
    # when
    if same_batch:
        report = send(order, after)
    else:
        send(order)
        report = send(after)
    # then
    assert EventOutcome.APPLIED == report.outcomes[after.message_id]
    assert [(CartStatus.CONVERTED, ("p-1",)), (CartStatus.ACTIVE, ("p-2",))] == [
        (r.cart.status, tuple(line.product_id for line in r.cart.lines))
        for r in carts_of(database, shop)
    ]


def test_an_order_with_only_a_checkout_id_closes_the_cart_of_that_checkout(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    Order Completed without cart_id (a server-side call) finds the cart by checkout id.
    """
    # given
    send(track(added(at(0))))
    send(track(CartSnapshot(occurred_at=at(1), stage=Stage.CHECKOUT, checkout_id="co-1")))
    order = OrderPlaced(occurred_at=at(2), order_id="o-1", checkout_id="co-1")
    # when
    send(track(order, cart_key=None, anonymous_id=None, user_agent=None, order_key="o-1"))
    # then
    record = only_cart(database, shop)
    assert (CartStatus.CONVERTED, Stage.ORDERED) == (record.cart.status, record.cart.stage)
    assert record.id == database.orders[(shop.id, "o-1")].order.cart_id


def test_an_order_before_abandonment_converts_the_cart(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    An order within the abandonment delay makes the cart converted and stops its timer.
    """
    # given
    send(track(added(at(0))))
    # when
    send(
        track(OrderPlaced(occurred_at=at(10), order_id="o-1", total=Decimal("10")), order_key="o-1")
    )
    # then
    cart = only_cart(database, shop).cart
    assert (CartStatus.CONVERTED, None, at(10)) == (cart.status, cart.check_at, cart.ordered_at)


def test_an_event_after_the_order_is_recorded_as_after_order(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    An add to a cart already ordered changes nothing and says why.
    """
    # given
    send(track(added(at(0))), track(OrderPlaced(occurred_at=at(1), order_id="o-1")))
    late = track(added(at(2), "p-2"))
    # when
    report = send(late)
    # then
    assert EventOutcome.AFTER_ORDER == report.outcomes[late.message_id]
    assert (
        EventOutcome.AFTER_ORDER == database.events[(shop.id, "segment", late.message_id)].outcome
    )
    assert ["p-1"] == [line.product_id for line in only_cart(database, shop).cart.lines]


def test_a_bot_user_agent_flags_the_cart_and_clears_its_timer(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    A cart built by a crawler is kept, flagged, and never comes due.
    """
    # given
    message = track(added(at(0)), user_agent=GOOGLEBOT)
    # when
    send(message)
    # then
    cart = only_cart(database, shop).cart
    assert (True, None) == (cart.is_bot, cart.check_at)


@pytest.mark.parametrize(
    "batches",
    [
        [["add", "identify"]],
        [["add"], ["identify"]],
        [["add"], ["add-more", "identify"]],
    ],
    ids=["same-batch", "later-batch", "changed-in-the-identify-batch"],
)
def test_a_storebot_email_flags_the_visitors_carts_and_clears_their_timers(
    send: Send,
    track: Callable[..., Inbound],
    identify: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
    batches: list[list[str]],
) -> None:
    """
    Google's StoreBot checking out with its storebotmail address is a bot, whenever it says so.
    """
    # given
    messages = {
        "add": track(added(at(0))),
        "add-more": track(added(at(1), "p-2")),
        "identify": identify(at(2), email="walker@storebotmail.joonix.net"),
    }
    # when
    for batch in batches:
        send(*(messages[name] for name in batch))
    # then
    cart = only_cart(database, shop).cart
    (contact,) = database.contacts.values()
    assert (True, None, True) == (cart.is_bot, cart.check_at, contact.is_bot)


def test_a_stale_event_is_recorded_as_stale_and_changes_nothing(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    An event older than the cart's latest change does not roll the cart back.
    """
    # given
    send(track(added(at(10), "p-1")))
    stale = track(added(at(5), "p-2"))
    # when
    report = send(stale)
    # then
    assert EventOutcome.STALE == report.outcomes[stale.message_id]
    assert EventOutcome.STALE == database.events[(shop.id, "segment", stale.message_id)].outcome
    assert ["p-1"] == [line.product_id for line in only_cart(database, shop).cart.lines]


def test_the_store_is_read_inside_the_transaction(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    A changed abandonment delay applies to the next batch.
    """
    # given
    send(track(added(at(0))))
    database.stores[shop.id] = replace(shop, abandon_after=timedelta(hours=2))
    # when
    send(track(added(at(1), "p-2")))
    # then
    assert at(1) + timedelta(hours=2) == only_cart(database, shop).cart.check_at


def test_an_unknown_store_is_not_found_and_nothing_is_stored(
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
) -> None:
    """
    Ingesting for a store that does not exist raises NotFound and writes nothing.
    """
    # given
    message = track(added(at(0)))
    # when
    with pytest.raises(NotFound):
        ingest(uow=uow_factory(), clock=clock, store_id="st_missing", messages=[message])
    # then
    assert ({}, {}) == (database.events, database.carts)


def test_a_new_cart_of_a_visitor_known_as_storebot_is_flagged(
    send: Send,
    track: Callable[..., Inbound],
    identify: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    A cart started after the visitor was identified as StoreBot is a bot cart from the start.
    """
    # given
    send(identify(at(0), email="walker@storebotmail.joonix.net"))
    # when
    send(track(added(at(1)), cart_key="c-2"))
    # then
    cart = only_cart(database, shop).cart
    assert (True, None) == (cart.is_bot, cart.check_at)


def test_orders_naming_nobody_each_get_a_cart_of_their_own(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    Two server-side orders with no cart, checkout, visitor or contact never share a cart.
    """
    # given
    first = track(
        OrderPlaced(occurred_at=at(1), order_id="o-1"),
        cart_key=None,
        anonymous_id=None,
        order_key="o-1",
        claims=IdentityClaims(user_id=None),
    )
    second = track(
        OrderPlaced(occurred_at=at(2), order_id="o-2"),
        cart_key=None,
        anonymous_id=None,
        order_key="o-2",
        claims=IdentityClaims(user_id=None),
    )
    # when
    send(first, second)
    # then
    assert ["o-1", "o-2"] == sorted(r.cart.order_id or "" for r in carts_of(database, shop))


def test_a_cancellation_before_its_order_leaves_the_order_cancelled(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    Webhooks come in any order: a cancellation first, then the placement, ends cancelled.
    """
    # given
    cancelled = track(
        OrderChanged(occurred_at=at(5), order_id="o-9", change="cancelled"), order_key="o-9"
    )
    placed = track(OrderPlaced(occurred_at=at(1), order_id="o-9"), order_key="o-9")
    # when
    send(cancelled)
    send(placed)
    # then
    assert "cancelled" == database.orders[(shop.id, "o-9")].order.status


IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_the_cart_keeps_its_device_and_best_country_across_batches(
    send: Send,
    track: Callable[..., Inbound],
    at: Callable[[float], datetime],
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    Locale, then a phone (better), then a later locale (worse: ignored), then an address
    (best); a platform event without a browser keeps the iPhone.
    """
    # given
    first = replace(track(added(at(0)), user_agent=IPHONE), locale="en-US")
    phone = IdentityClaims(phone="+447400123456")
    second = replace(track(added(at(1), "p-2"), claims=phone, user_agent=None), locale="en-US")
    third = replace(track(added(at(2), "p-3"), user_agent=None), locale="fr-FR")
    # when / then
    send(first)
    cart_id = only_cart(database, shop).id
    assert (
        CartOrigin(
            device=Device.MOBILE,
            country=CountryGuess(country="US", source=CountrySource.LOCALE),
        )
        == database.cart_origins[cart_id]
    )
    send(second)
    send(third)
    assert CountryGuess(country="GB", source=CountrySource.PHONE) == (
        database.cart_origins[cart_id].country
    )
    send(replace(track(added(at(3), "p-4"), user_agent=None), country="DE"))
    assert (
        CartOrigin(
            device=Device.MOBILE,
            country=CountryGuess(country="DE", source=CountrySource.ADDRESS),
        )
        == database.cart_origins[cart_id]
    )
