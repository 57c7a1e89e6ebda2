"""
The SQLAlchemy repositories on a real database (SQLite and PostgreSQL): exact money, aware
times, idempotent writes, unique identities, cart lines in order, cursor pages, and the
due-timer claim, including two PostgreSQL transactions claiming at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError

from cartback.bootstrap import Container
from cartback.domain.cart import Cart, CartStatus
from cartback.domain.events import MAX_LINES, MAX_QUANTITY, MAX_UNIT_PRICE, LineItem, Stage
from cartback.domain.ingest import EventOutcome, Inbound, MessageKind
from cartback.domain.origin import CartOrigin, Device
from cartback.domain.ports import CartRecord, OrderRecord, VisitorSeen
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services.stores import CreatedStore
from cartback.store.tables import carts, contacts, metadata, orders, raw_events, visitors
from cartback.store.uow import SqlUnitOfWork, SqlUnitOfWorkFactory

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def uow_factory(container: Container) -> SqlUnitOfWorkFactory:
    """
    Units of work on the test's database.
    """
    return container.uow_factory


@pytest.fixture
def postgresql_only(backend: str) -> None:
    """
    Skips a test about PostgreSQL's row locks on other backends.
    """
    if backend != "postgresql":
        pytest.skip("row locks with SKIP LOCKED are PostgreSQL's")


@pytest.fixture
def cart_factory(
    uow_factory: SqlUnitOfWorkFactory, store: CreatedStore, clock: SimulatedClock
) -> Callable[..., CartRecord]:
    """
    Stores a cart (one line, active now, due in 30 minutes); override record or cart fields.
    """

    def make(
        *,
        store_id: str | None = None,
        created_at: datetime | None = None,
        visitor_id: str | None = None,
        contact_id: str | None = None,
        **cart_fields: Any,
    ) -> CartRecord:
        now = clock.now()
        cart = Cart(
            key=new_id("cart"),
            currency="USD",
            lines=(LineItem(product_id="p-1", unit_price=Decimal("10")),),
            stage=Stage.CART,
            last_activity_at=now,
            check_at=now + timedelta(minutes=30),
        )
        record = CartRecord(
            id=new_id("ca"),
            store_id=store_id or store.store.id,
            cart=replace(cart, **cart_fields),
            visitor_id=visitor_id,
            contact_id=contact_id,
            created_at=created_at or now,
        )
        with uow_factory() as uow:
            uow.carts.add([record], now=now)
            uow.commit()
        return record

    return make


@pytest.fixture
def message_factory(clock: SimulatedClock) -> Callable[..., Inbound]:
    """
    Builds an inbound message with a given idempotency key.
    """

    def make(message_id: str, *, source: str = "segment") -> Inbound:
        return Inbound(
            source=source,
            message_id=message_id,
            kind=MessageKind.TRACK,
            name="Product Viewed",
            occurred_at=clock.now(),
            anonymous_id="anon-1",
            payload={"messageId": message_id},
        )

    return make


def read_cart(uow_factory: SqlUnitOfWorkFactory, record: CartRecord) -> CartRecord | None:
    """
    A cart as stored now.
    """
    with uow_factory(read_only=True) as uow:
        return uow.carts.get(record.store_id, record.cart.key)


@pytest.mark.parametrize(
    "amount", ["0.0001", "0.1", "19.99", "999999999999.9999", "99999999999999.9999"]
)
def test_money_round_trips_exactly(
    cart_factory: Callable[..., CartRecord], uow_factory: SqlUnitOfWorkFactory, amount: str
) -> None:
    """
    An amount reads back as the same Decimal, up to the largest NUMERIC(18, 4).
    """
    # given
    record = cart_factory(declared_total=Decimal(amount))
    # when
    stored = read_cart(uow_factory, record)
    # then
    assert stored is not None
    assert Decimal(amount) == stored.cart.declared_total


def test_money_sums_exactly_in_the_database(
    cart_factory: Callable[..., CartRecord], container: Container
) -> None:
    """
    0.1 + 0.2 summed by the database is 0.3, not a float's 0.30000000000000004.
    """
    # given
    for amount in ("0.1", "0.2"):
        cart_factory(lines=(LineItem(product_id="p-1", unit_price=Decimal(amount)),))
    # when
    with container.engine.connect() as connection:
        total = connection.execute(select(func.sum(carts.c.total))).scalar_one()
    # then
    assert Decimal("0.3") == total


def test_line_prices_round_trip_exactly(
    cart_factory: Callable[..., CartRecord], uow_factory: SqlUnitOfWorkFactory
) -> None:
    """
    Unit prices and the cart's total read back exact.
    """
    # given
    lines = (
        LineItem(product_id="p-1", unit_price=Decimal("0.1"), quantity=3),
        LineItem(product_id="p-2", unit_price=Decimal("99999999.99")),
    )
    record = cart_factory(lines=lines)
    # when
    stored = read_cart(uow_factory, record)
    # then
    assert stored is not None
    assert (lines, Decimal("100000000.29")) == (stored.cart.lines, stored.cart.total)


def test_an_order_total_round_trips_exactly(
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    clock: SimulatedClock,
    container: Container,
) -> None:
    """
    A large order total is stored without rounding.
    """
    # given
    order = OrderRecord(
        store_id=store.store.id,
        order_key="o-1",
        cart_id=None,
        contact_id=None,
        status="placed",
        total=Decimal("123456789012.3456"),
        currency="USD",
        placed_at=clock.now(),
    )
    # when
    with uow_factory() as uow:
        uow.orders.upsert(order, now=clock.now())
        uow.commit()
    # then
    with container.engine.connect() as connection:
        total = connection.execute(select(orders.c.total)).scalar_one()
    assert Decimal("123456789012.3456") == total


def test_datetimes_come_back_aware_in_utc(
    cart_factory: Callable[..., CartRecord], uow_factory: SqlUnitOfWorkFactory
) -> None:
    """
    An instant written in another zone reads back as the same instant, in UTC.
    """
    # given
    moment = datetime(2026, 7, 1, 12, 30, 15, 123456, tzinfo=BERLIN)
    record = cart_factory(created_at=moment, last_activity_at=moment, check_at=moment)
    # when
    stored = read_cart(uow_factory, record)
    # then
    assert stored is not None
    read = [stored.created_at, stored.cart.last_activity_at, stored.cart.check_at]
    assert [datetime(2026, 7, 1, 10, 30, 15, 123456, tzinfo=UTC)] * 3 == read
    assert [UTC] * 3 == [value.tzinfo for value in read if value is not None]


def test_a_store_reads_back_with_aware_times(
    uow_factory: SqlUnitOfWorkFactory, store: CreatedStore
) -> None:
    """
    The store row round trips whole, times included.
    """
    # given
    created = store.store
    # when
    with uow_factory(read_only=True) as uow:
        stored = uow.stores.get(created.id)
    # then
    assert created == stored


@pytest.mark.parametrize("repository", ["workers", "events"])
def test_naive_datetimes_are_refused(
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    message_factory: Callable[..., Inbound],
    repository: str,
) -> None:
    """
    A datetime without a zone never reaches the database.
    """
    # given
    naive = datetime(2026, 11, 27, 10, 0)  # noqa: DTZ001 - the point of the test
    writes: dict[str, Callable[[SqlUnitOfWork], object]] = {
        "workers": lambda uow: uow.workers.register(
            worker_id="wk_1", name="w", hostname="h", pid=1, now=naive
        ),
        "events": lambda uow: uow.events.add_new(
            store.store.id, [message_factory("m-1")], received_at=naive
        ),
    }
    # when
    # (SQLAlchemy wraps the refusal in a StatementError; the bulk writer raises it as is)
    with uow_factory() as uow, pytest.raises((StatementError, ValueError)) as raised:
        writes[repository](uow)
    # then
    assert "naive datetimes are not stored" in str(raised.value)


def test_raw_events_are_deduplicated_across_transactions(
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    message_factory: Callable[..., Inbound],
    clock: SimulatedClock,
) -> None:
    """
    A key stored by an earlier transaction is not new; another source's same key is.
    """
    # given
    store_id = store.store.id
    with uow_factory() as uow:
        uow.events.add_new(
            store_id, [message_factory("m-1"), message_factory("m-2")], received_at=clock.now()
        )
        uow.commit()
    replay = [
        message_factory("m-2"),
        message_factory("m-3"),
        message_factory("m-2", source="shopify"),
    ]
    # when
    with uow_factory() as uow:
        fresh = uow.events.add_new(store_id, replay, received_at=clock.now())
        uow.commit()
    # then
    with uow_factory(read_only=True) as uow:
        count = uow.events.count(store_id)
    assert ({"m-2", "m-3"}, 4) == (fresh, count)


def test_raw_event_keys_are_per_store(
    uow_factory: SqlUnitOfWorkFactory,
    store_factory: Callable[..., CreatedStore],
    message_factory: Callable[..., Inbound],
    clock: SimulatedClock,
) -> None:
    """
    Two stores may receive the same message id.
    """
    # given
    first, second = store_factory().store.id, store_factory().store.id
    with uow_factory() as uow:
        uow.events.add_new(first, [message_factory("m-1")], received_at=clock.now())
        uow.commit()
    # when
    with uow_factory() as uow:
        fresh = uow.events.add_new(second, [message_factory("m-1")], received_at=clock.now())
        uow.commit()
    # then
    assert {"m-1"} == fresh


def test_event_outcomes_are_recorded(
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    message_factory: Callable[..., Inbound],
    clock: SimulatedClock,
    container: Container,
) -> None:
    """
    Only the named events change outcome; the rest stay applied.
    """
    # given
    store_id = store.store.id
    with uow_factory() as uow:
        uow.events.add_new(
            store_id, [message_factory("m-1"), message_factory("m-2")], received_at=clock.now()
        )
        # when
        uow.events.set_outcomes(store_id, "segment", {"m-2": EventOutcome.STALE})
        uow.commit()
    # then
    with container.engine.connect() as connection:
        rows = connection.execute(
            select(raw_events.c.idempotency_key, raw_events.c.outcome).order_by(
                raw_events.c.idempotency_key
            )
        ).all()
    assert [("m-1", "applied"), ("m-2", "stale")] == [tuple(r) for r in rows]


@pytest.mark.parametrize(
    "fields",
    [{"user_id": "u-1"}, {"email": "ada@example.com"}, {"phone": "+14155550123"}],
    ids=["user_id", "email", "phone"],
)
def test_a_contact_identifier_is_unique_per_store(
    uow_factory: SqlUnitOfWorkFactory,
    store_factory: Callable[..., CreatedStore],
    clock: SimulatedClock,
    fields: dict[str, str],
    container: Container,
) -> None:
    """
    A second contact with the same identifier is refused in one store, allowed in another.
    """
    # given
    first, second = store_factory().store.id, store_factory().store.id
    with uow_factory() as uow:
        uow.contacts.create(first, fields=fields, is_bot=False, now=clock.now())
        uow.contacts.create(second, fields=fields, is_bot=False, now=clock.now())
        uow.commit()
    # when
    with uow_factory() as uow, pytest.raises(IntegrityError):
        uow.contacts.create(first, fields=fields, is_bot=False, now=clock.now())
    # then
    with container.engine.connect() as connection:
        query = select(contacts.c.store_id, func.count()).group_by(contacts.c.store_id)
        counts: dict[str, int] = dict(connection.execute(query).all())
    assert {first: 1, second: 1} == counts


def test_contacts_are_found_by_each_identifier(
    uow_factory: SqlUnitOfWorkFactory, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    `find` answers which contact holds each of the identifiers asked about.
    """
    # given
    store_id = store.store.id
    with uow_factory() as uow:
        ada = uow.contacts.create(
            store_id,
            fields={"user_id": "u-1", "email": "ada@example.com"},
            is_bot=False,
            now=clock.now(),
        )
        bob = uow.contacts.create(
            store_id, fields={"phone": "+14155550123"}, is_bot=False, now=clock.now()
        )
        uow.commit()
    # when
    with uow_factory(read_only=True) as uow:
        found = uow.contacts.find(
            store_id, user_id="u-1", email="nobody@example.com", phone="+14155550123"
        )
    # then
    assert (ada, None, bob) == found


def test_visitors_ensure_is_idempotent(
    uow_factory: SqlUnitOfWorkFactory, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    Seeing an anonymous id again returns the same visitor; a bot sighting sticks.
    """
    # given
    store_id = store.store.id
    first_seen = {"anon-1": VisitorSeen(at=clock.now(), user_agent="Firefox")}
    with uow_factory() as uow:
        before = uow.visitors.ensure(store_id, first_seen)
        uow.commit()
    later = {
        "anon-1": VisitorSeen(at=clock.now() + timedelta(minutes=1), is_bot=True),
        "anon-2": VisitorSeen(at=clock.now()),
    }
    # when
    with uow_factory() as uow:
        after = uow.visitors.ensure(store_id, later)
        again = uow.visitors.ensure(store_id, {"anon-1": VisitorSeen(at=clock.now())})
        uow.commit()
    # then
    assert before["anon-1"].id == after["anon-1"].id == again["anon-1"].id
    assert (False, True, True) == (
        before["anon-1"].is_bot,
        after["anon-1"].is_bot,
        again["anon-1"].is_bot,
    )
    assert after["anon-1"].id != after["anon-2"].id


def test_cart_lines_keep_their_order(
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    clock: SimulatedClock,
) -> None:
    """
    Lines read back in the order they were written, also after a rewrite.
    """
    # given
    lines = tuple(LineItem(product_id=f"p-{n}", quantity=n) for n in (3, 1, 12, 2))
    record = cart_factory(lines=lines)
    reordered = replace(record, cart=replace(record.cart, lines=tuple(reversed(lines))))
    # when
    with uow_factory() as uow:
        uow.carts.update([reordered], now=clock.now())
        uow.commit()
    # then
    stored = read_cart(uow_factory, record)
    assert stored is not None
    assert tuple(reversed(lines)) == stored.cart.lines


def test_save_states_leaves_the_lines_alone(
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    clock: SimulatedClock,
) -> None:
    """
    Writing a cart's state keeps its stored lines.
    """
    # given
    record = cart_factory()
    changed = replace(record, cart=replace(record.cart, status=CartStatus.ABANDONED, lines=()))
    # when
    with uow_factory() as uow:
        uow.carts.save_states([changed], now=clock.now())
        uow.commit()
    # then
    stored = read_cart(uow_factory, record)
    assert stored is not None
    assert (CartStatus.ABANDONED, record.cart.lines) == (stored.cart.status, stored.cart.lines)


def test_a_store_cannot_read_another_stores_cart(
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    store_factory: Callable[..., CreatedStore],
) -> None:
    """
    Cart keys are looked up within one store only.
    """
    # given
    record = cart_factory()
    other = store_factory().store.id
    # when
    with uow_factory(read_only=True) as uow:
        found = uow.carts.get(other, record.cart.key)
    # then
    assert found is None


def test_find_open_takes_the_latest_open_cart_of_a_visitor(
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    clock: SimulatedClock,
) -> None:
    """
    A converted cart is not open, and of two open carts the one active last wins.
    """
    # given
    with uow_factory() as uow:
        visitor = uow.visitors.ensure(store.store.id, {"anon-1": VisitorSeen(at=clock.now())})[
            "anon-1"
        ]
        uow.commit()
    start = clock.now()
    cart_factory(visitor_id=visitor.id, last_activity_at=start)
    latest = cart_factory(visitor_id=visitor.id, last_activity_at=start + timedelta(minutes=1))
    cart_factory(
        visitor_id=visitor.id,
        last_activity_at=start + timedelta(minutes=2),
        status=CartStatus.CONVERTED,
    )
    # when
    with uow_factory(read_only=True) as uow:
        found = uow.carts.find_open(store.store.id, visitor_id=visitor.id)
    # then
    assert found is not None
    assert latest.id == found.id


def test_find_by_checkout_finds_the_cart_of_a_checkout(
    cart_factory: Callable[..., CartRecord], uow_factory: SqlUnitOfWorkFactory, store: CreatedStore
) -> None:
    """
    A checkout id leads to its cart.
    """
    # given
    cart_factory(checkout_id="co-0")
    wanted = cart_factory(checkout_id="co-1")
    # when
    with uow_factory(read_only=True) as uow:
        found = uow.carts.find_by_checkout(store.store.id, "co-1")
    # then
    assert found is not None
    assert wanted.id == found.id


def test_flag_bot_touches_only_the_owners_open_carts(
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    clock: SimulatedClock,
) -> None:
    """
    A bot's open carts are flagged and lose their timer; its ordered and others' carts do not.
    """
    # given
    with uow_factory() as uow:
        seen = {a: VisitorSeen(at=clock.now()) for a in ("bot", "human")}
        visitors = uow.visitors.ensure(store.store.id, seen)
        uow.commit()
    open_cart = cart_factory(visitor_id=visitors["bot"].id)
    ordered = cart_factory(visitor_id=visitors["bot"].id, status=CartStatus.CONVERTED)
    human = cart_factory(visitor_id=visitors["human"].id)
    # when
    with uow_factory() as uow:
        uow.carts.flag_bot(store.store.id, visitor_id=visitors["bot"].id)
        uow.commit()
    # then
    stored = [read_cart(uow_factory, r) for r in (open_cart, ordered, human)]
    assert [(True, None), (False, ordered.cart.check_at), (False, human.cart.check_at)] == [
        (r.cart.is_bot, r.cart.check_at) for r in stored if r is not None
    ]


@pytest.mark.parametrize("limit", [1, 3, 50])
def test_list_page_walks_every_cart_once_newest_first(
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    clock: SimulatedClock,
    limit: int,
) -> None:
    """
    Following the cursors yields each cart once, with no gaps, even among equal created_at.
    """
    # given
    start = clock.now()
    made = [cart_factory(created_at=start + timedelta(seconds=n // 3)) for n in range(8)]
    expected = [r.id for r in sorted(made, key=lambda r: (r.created_at, r.id), reverse=True)]
    # when
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(20):
        with uow_factory(read_only=True) as uow:
            page = uow.carts.list_page(
                store.store.id, status=None, contact_id=None, since=None, limit=limit, cursor=cursor
            )
        seen.extend(r.id for r in page.records)
        cursor = page.next_cursor
        if cursor is None:
            break
    # then
    assert expected == seen


def test_list_page_filters_by_status_and_since(
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    clock: SimulatedClock,
) -> None:
    """
    Only carts with the status, created since the instant, are listed.
    """
    # given
    start = clock.now()
    cart_factory(created_at=start - timedelta(days=1), status=CartStatus.ABANDONED)
    wanted = cart_factory(created_at=start, status=CartStatus.ABANDONED)
    cart_factory(created_at=start)
    # when
    with uow_factory(read_only=True) as uow:
        page = uow.carts.list_page(
            store.store.id, status="abandoned", contact_id=None, since=start, limit=10, cursor=None
        )
    # then
    assert ([wanted.id], None) == ([r.id for r in page.records], page.next_cursor)


def test_claim_due_returns_due_carts_oldest_first(
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    clock: SimulatedClock,
) -> None:
    """
    Carts due now or earlier are claimed in due order; later and timerless carts are not.
    """
    # given
    now = clock.now()
    late = cart_factory(check_at=now - timedelta(minutes=1))
    exactly = cart_factory(check_at=now)
    oldest = cart_factory(check_at=now - timedelta(hours=2))
    cart_factory(check_at=now + timedelta(microseconds=1))
    cart_factory(check_at=None)
    # when
    with uow_factory() as uow:
        claimed = uow.carts.claim_due(now=now, limit=10)
        due = uow.carts.due_count(now=now)
        next_at = uow.carts.next_check_at()
    # then
    assert [oldest.id, late.id, exactly.id] == [r.id for r in claimed]
    assert (3, oldest.cart.check_at) == (due, next_at)


def test_claim_due_respects_the_limit(
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    clock: SimulatedClock,
) -> None:
    """
    At most `limit` carts are claimed, the oldest ones.
    """
    # given
    now = clock.now()
    made = [cart_factory(check_at=now - timedelta(minutes=m)) for m in range(5)]
    # when
    with uow_factory() as uow:
        claimed = uow.carts.claim_due(now=now, limit=2)
    # then
    assert [made[4].id, made[3].id] == [r.id for r in claimed]


def test_concurrent_claims_never_share_a_cart(
    postgresql_only: None,
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    clock: SimulatedClock,
) -> None:
    """
    While one transaction holds its claim, a second one skips those carts and takes the rest.
    """
    # given
    now = clock.now()
    made = [cart_factory(check_at=now - timedelta(minutes=m)) for m in range(5)]
    # when
    with uow_factory() as first:
        held = first.carts.claim_due(now=now, limit=2)
        with uow_factory() as second:
            rest = second.carts.claim_due(now=now, limit=10)
    # then
    assert [made[4].id, made[3].id] == [r.id for r in held]
    assert [made[2].id, made[1].id, made[0].id] == [r.id for r in rest]


def test_a_released_claim_can_be_taken_again(
    postgresql_only: None,
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    clock: SimulatedClock,
) -> None:
    """
    A claim rolled back (a worker that died) returns its carts to the queue.
    """
    # given
    now = clock.now()
    record = cart_factory(check_at=now)
    with uow_factory() as first:
        first.carts.claim_due(now=now, limit=10)
    # when
    with uow_factory() as second:
        claimed = second.carts.claim_due(now=now, limit=10)
    # then
    assert [record.id] == [r.id for r in claimed]


def test_orders_upsert_keeps_what_a_repeat_lacks(
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    clock: SimulatedClock,
    container: Container,
) -> None:
    """
    A second report of an order without cart or total keeps the first report's.
    """
    # given
    record = cart_factory()
    first = OrderRecord(
        store_id=store.store.id,
        order_key="o-1",
        cart_id=record.id,
        contact_id=None,
        status="placed",
        total=Decimal("42.50"),
        currency="USD",
        placed_at=clock.now(),
    )
    with uow_factory() as uow:
        uow.orders.upsert(first, now=clock.now())
        uow.commit()
    # when
    with uow_factory() as uow:
        uow.orders.upsert(replace(first, cart_id=None, total=None), now=clock.now())
        changed = uow.orders.set_status(store.store.id, "o-1", "refunded", now=clock.now())
        missing = uow.orders.set_status(store.store.id, "o-2", "refunded", now=clock.now())
        uow.commit()
    # then
    with container.engine.connect() as connection:
        row = connection.execute(select(orders.c.cart_id, orders.c.total, orders.c.status)).one()
    assert ((record.id, Decimal("42.50"), "refunded"), True, False) == (
        tuple(row),
        changed,
        missing,
    )


def test_workers_register_beat_and_stop(
    uow_factory: SqlUnitOfWorkFactory, clock: SimulatedClock
) -> None:
    """
    A registered worker is alive while it beats and not once it stopped.
    """
    # given
    start = clock.now()
    with uow_factory() as uow:
        uow.workers.register(worker_id="wk_1", name="w", hostname="h", pid=1, now=start)
        uow.workers.heartbeat("wk_1", now=start + timedelta(seconds=10))
        uow.commit()
    with uow_factory(read_only=True) as uow:
        alive = uow.workers.alive(since=start + timedelta(seconds=5))
    # when
    with uow_factory() as uow:
        uow.workers.stop("wk_1", now=start + timedelta(seconds=11))
        uow.commit()
    # then
    with uow_factory(read_only=True) as uow:
        after_stop = uow.workers.alive(since=start)
    assert (["wk_1"], [start + timedelta(seconds=10)], []) == (
        [w["id"] for w in alive],
        [w["heartbeat_at"] for w in alive],
        after_stop,
    )


def test_a_rolled_back_unit_of_work_leaves_nothing(
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    message_factory: Callable[..., Inbound],
    clock: SimulatedClock,
) -> None:
    """
    Leaving a unit of work without commit discards its writes.
    """
    # given
    store_id = store.store.id
    # when
    with uow_factory() as uow:
        uow.events.add_new(store_id, [message_factory("m-1")], received_at=clock.now())
    # then
    with uow_factory(read_only=True) as uow:
        assert 0 == uow.events.count(store_id)


def test_no_stored_row_holds_a_plaintext_key(store: CreatedStore, container: Container) -> None:
    """
    Keys are stored as digests and the webhook secret sealed: no table holds them in clear.
    """
    # given
    plain = [store.secret_key, store.public_key, store.webhook_secret]
    # when
    with container.engine.connect() as connection:
        dump = repr([connection.execute(select(t)).all() for t in metadata.sorted_tables])
    # then
    assert [] == [p for p in plain if p in dump]
    assert store.secret_key[:12] in dump  # the shown prefix is kept, so the dump is real


def test_the_largest_cart_the_domain_allows_is_stored(
    cart_factory: Callable[..., CartRecord], uow_factory: SqlUnitOfWorkFactory
) -> None:
    """
    A cart of the most lines, each of the most units at the highest price, keeps its total.
    """
    # given
    line = LineItem(product_id="p", quantity=MAX_QUANTITY, unit_price=MAX_UNIT_PRICE)
    lines = tuple(replace(line, product_id=f"p-{n}") for n in range(MAX_LINES))
    # when
    record = cart_factory(lines=lines)
    # then
    stored = read_cart(uow_factory, record)
    assert stored is not None
    assert MAX_LINES * MAX_QUANTITY * MAX_UNIT_PRICE == stored.cart.total


def test_each_visitor_keeps_its_own_last_sighting(
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    clock: SimulatedClock,
    container: Container,
) -> None:
    """
    A batch moves each visitor's last sighting to its own latest time, never backwards.
    """
    # given
    start = clock.now()
    first = {
        a: VisitorSeen(at=start + timedelta(minutes=2)) for a in ("anon-1", "anon-2", "anon-3")
    }
    with uow_factory() as uow:
        uow.visitors.ensure(store.store.id, first)
        uow.commit()
    later = {
        "anon-1": VisitorSeen(at=start + timedelta(minutes=5)),
        "anon-2": VisitorSeen(at=start + timedelta(minutes=10)),
        "anon-3": VisitorSeen(at=start + timedelta(minutes=1)),
    }
    # when
    with uow_factory() as uow:
        uow.visitors.ensure(store.store.id, later)
        uow.commit()
    # then
    with container.engine.connect() as connection:
        query = select(visitors.c.anonymous_id, visitors.c.last_seen_at)
        seen: dict[str, datetime] = dict(connection.execute(query).all())
    assert {
        "anon-1": start + timedelta(minutes=5),
        "anon-2": start + timedelta(minutes=10),
        "anon-3": start + timedelta(minutes=2),
    } == seen


@pytest.mark.parametrize("read", ["get", "find_open", "find_by_checkout", "timed_for_store"])
def test_a_cart_read_for_writing_is_not_claimed_under_it(
    postgresql_only: None,
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    store: CreatedStore,
    clock: SimulatedClock,
    read: str,
) -> None:
    """
    While a writing transaction (ingest, a store update) holds a cart it read, the worker's
    claim passes it by, so the worker's decision cannot be overwritten by a stale copy.
    """
    # given
    now = clock.now()
    with uow_factory() as uow:
        visitor = uow.visitors.ensure(store.store.id, {"anon-1": VisitorSeen(at=now)})["anon-1"]
        uow.commit()
    record = cart_factory(visitor_id=visitor.id, checkout_id="co-1", check_at=now)
    reads: dict[str, Callable[[SqlUnitOfWork], object]] = {
        "get": lambda uow: uow.carts.get(store.store.id, record.cart.key),
        "find_open": lambda uow: uow.carts.find_open(store.store.id, visitor_id=visitor.id),
        "find_by_checkout": lambda uow: uow.carts.find_by_checkout(store.store.id, "co-1"),
        "timed_for_store": lambda uow: uow.carts.timed_for_store(store.store.id),
    }
    # when
    with uow_factory() as writer:
        reads[read](writer)
        with uow_factory() as worker:
            claimed = worker.carts.claim_due(now=now, limit=10)
    # then
    assert [] == claimed


def test_a_read_only_read_leaves_the_cart_claimable(
    postgresql_only: None,
    cart_factory: Callable[..., CartRecord],
    uow_factory: SqlUnitOfWorkFactory,
    clock: SimulatedClock,
) -> None:
    """
    Reading a cart for the read API locks nothing: the worker can claim it meanwhile.
    """
    # given
    now = clock.now()
    record = cart_factory(check_at=now)
    # when
    with uow_factory(read_only=True) as reader:
        reader.carts.get(record.store_id, record.cart.key)
        with uow_factory() as worker:
            claimed = worker.carts.claim_due(now=now, limit=10)
    # then
    assert [record.id] == [r.id for r in claimed]


def test_pipelined_writes_are_committed_like_any_others(
    uow_factory: SqlUnitOfWorkFactory,
    cart_factory: Callable[..., CartRecord],
    clock: SimulatedClock,
) -> None:
    """
    Writes sent in one pipelined block (one round trip on PostgreSQL) land as if sent one by
    one: a new cart with its lines and its origin, and a stored cart's new state.
    """
    # given
    stored = cart_factory()
    fresh = replace(stored, id=new_id("ca"), cart=replace(stored.cart, key="pipelined"))
    moved = replace(stored, cart=replace(stored.cart, stage=Stage.CHECKOUT))
    origin = CartOrigin(device=Device.MOBILE)
    # when
    with uow_factory() as uow:
        with uow.pipelined():
            uow.carts.add([fresh], now=clock.now(), origins={fresh.id: origin})
            uow.carts.update([moved], now=clock.now())
        uow.commit()
    # then
    with uow_factory() as uow:
        found = uow.carts.get_many(stored.store_id, ["pipelined", stored.cart.key])
        origins = uow.carts.origins([fresh.id])
    assert (fresh.cart.lines, Stage.CHECKOUT, {fresh.id: origin}) == (
        found["pipelined"].cart.lines,
        found[stored.cart.key].cart.stage,
        origins,
    )


def test_a_pipelined_unique_key_race_is_an_integrity_error_and_writes_nothing(
    uow_factory: SqlUnitOfWorkFactory,
    cart_factory: Callable[..., CartRecord],
    clock: SimulatedClock,
) -> None:
    """
    A failure inside a pipelined block surfaces at its end as SQLAlchemy's `IntegrityError`
    (what ingestion retries on), and the transaction's other writes are rolled back.
    """
    # given
    stored = cart_factory()
    other = replace(stored, id=new_id("ca"), cart=replace(stored.cart, key="other"))
    twin = replace(stored, id=new_id("ca"))  # the same cart key: a concurrent first sighting

    def write_both() -> None:
        with uow_factory() as uow:
            with uow.pipelined():
                uow.carts.add([other], now=clock.now())
                uow.carts.add([twin], now=clock.now())
            uow.commit()

    # when
    with pytest.raises(IntegrityError):
        write_both()
    # then
    with uow_factory() as uow:
        assert {} == uow.carts.get_many(stored.store_id, ["other"])
