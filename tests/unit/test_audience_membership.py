"""
Audience membership on in-memory fakes: who enters at abandonment (a contact, else a visitor),
who never does (robots, people who said no to ads), one row per person and audience (entering
again extends it), the offer judged by the email rules, and leaving (purchase, opt-out, window).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from cartback.domain.audiences import EntryReason, LeaveReason
from cartback.domain.cart import Cart
from cartback.domain.events import LineItem, Stage
from cartback.domain.ports import AudienceMembership, CartRecord, Contact, StoredAudience
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services.abandonment import process_due_carts
from cartback.services.audiences import (
    enter_audiences,
    expire_memberships,
    leave_audiences,
)
from fakes import FakeDatabase, FakeUnitOfWorkFactory, VisitorRow

OFFERS = """
audiences:
  - name: big-carts
    stages: [cart]
    window: 7d
    offer: {kind: percent, value: 10, min_total: 150}
"""


@pytest.fixture
def contact(database: FakeDatabase, shop: Store, clock: SimulatedClock) -> Contact:
    """
    Ada, a known contact.
    """
    ada = Contact(
        id=new_id("co"),
        store_id=shop.id,
        user_id=None,
        email="ada@example.com",
        phone=None,
        is_bot=False,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    database.contacts[ada.id] = ada
    return ada


@pytest.fixture
def visitor_factory(
    database: FakeDatabase, shop: Store, clock: SimulatedClock
) -> Callable[..., str]:
    """
    Stores an anonymous visitor; returns its id.
    """

    def make(**overrides: Any) -> str:
        values: dict[str, Any] = {
            "id": new_id("vi"),
            "store_id": shop.id,
            "anonymous_id": new_id("anon"),
            "contact_id": None,
            "user_agent": None,
            "is_bot": False,
            "first_seen_at": clock.now(),
            "last_seen_at": clock.now(),
            **overrides,
        }
        row = VisitorRow(**values)
        database.visitors[row.id] = row
        return row.id

    return make


@pytest.fixture
def cart_factory(
    database: FakeDatabase, shop: Store, clock: SimulatedClock
) -> Callable[..., CartRecord]:
    """
    Stores a cart of one line at `price`, at `stage`, due for abandonment in 30 minutes.
    """

    def make(
        *, price: str = "25", stage: Stage = Stage.CART, is_bot: bool = False, **owner: Any
    ) -> CartRecord:
        record = CartRecord(
            id=new_id("ca"),
            store_id=shop.id,
            cart=Cart(
                key=new_id("cart"),
                currency="USD",
                lines=(LineItem(product_id="p-1", unit_price=Decimal(price)),),
                stage=stage,
                last_activity_at=clock.now(),
                check_at=clock.now() + timedelta(minutes=30),
                is_bot=is_bot,
            ),
            created_at=clock.now(),
            **owner,
        )
        database.carts[record.id] = record
        return record

    return make


def _abandon(uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock) -> None:
    clock.advance(timedelta(minutes=31))
    process_due_carts(uow=uow_factory(), clock=clock, limit=100)


def _current(database: FakeDatabase) -> list[tuple[str, str | None, str | None]]:
    return sorted(
        (m.audience, m.contact_id, m.visitor_id) for m in database.memberships if m.left_at is None
    )


def _apply(database: FakeDatabase, shop: Store, text: str, clock: SimulatedClock) -> None:
    database.audiences[(shop.id, "big-carts")] = StoredAudience(
        store_id=shop.id,
        name="big-carts",
        version=1,
        source=text,
        definition={},
        enabled=True,
        created_at=clock.now(),
        updated_at=clock.now(),
    )


def test_an_abandoned_cart_puts_its_contact_in_the_stage_audiences(
    cart_factory: Callable[..., CartRecord],
    contact: Contact,
    visitor_factory: Callable[..., str],
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
) -> None:
    """
    A 250 USD checkout: `started-checkout` and `high-value`, for the contact only (not the
    visitor: a known person is one row, with contact details), for the built-in windows.
    """
    # given
    cart_factory(
        price="250", stage=Stage.CHECKOUT, contact_id=contact.id, visitor_id=visitor_factory()
    )
    # when
    _abandon(uow_factory, clock)
    # then
    assert [
        ("high-value", contact.id, None),
        ("started-checkout", contact.id, None),
    ] == _current(database)
    windows = {m.audience: m.expires_at - m.entered_at for m in database.memberships}
    assert {"high-value": timedelta(days=30), "started-checkout": timedelta(days=7)} == windows


def test_a_visitor_without_contact_enters_the_anonymous_audiences(
    cart_factory: Callable[..., CartRecord],
    visitor_factory: Callable[..., str],
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
) -> None:
    """
    No contact: the cart's visitor enters `viewed-cart` (its `when`-less built-in).
    """
    # given
    visitor_id = visitor_factory()
    cart_factory(visitor_id=visitor_id)
    # when
    _abandon(uow_factory, clock)
    # then
    assert [("viewed-cart", None, visitor_id)] == _current(database)


@pytest.mark.parametrize(
    "who", ["bot_cart", "bot_contact", "opted_out_contact", "opted_out_visitor", "bot_visitor"]
)
def test_robots_and_people_who_said_no_to_ads_never_enter(
    who: str,
    cart_factory: Callable[..., CartRecord],
    contact: Contact,
    visitor_factory: Callable[..., str],
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
) -> None:
    """
    A robot's cart, contact or visitor, and a "no" to ads on the contact or the browser: no row.
    """
    # given
    if who == "bot_contact":
        database.contacts[contact.id] = replace(contact, is_bot=True)
    if who == "opted_out_contact":
        database.contacts[contact.id] = replace(contact, ads_opt_out_at=clock.now())
    visitor = visitor_factory(
        is_bot=who == "bot_visitor",
        ads_opt_out_at=clock.now() if who == "opted_out_visitor" else None,
    )
    cart_factory(is_bot=who == "bot_cart", contact_id=contact.id, visitor_id=visitor)
    # when
    _abandon(uow_factory, clock)
    # then
    assert [] == database.memberships


def test_entering_again_extends_the_one_membership(
    cart_factory: Callable[..., CartRecord],
    contact: Contact,
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    shop: Store,
    clock: SimulatedClock,
) -> None:
    """
    A second abandoned cart three days later: still one `viewed-cart` row, entered at the first
    time, expiring seven days after the second, pointing to the second cart.
    """
    # given
    cart_factory(contact_id=contact.id)
    _abandon(uow_factory, clock)
    first = database.memberships[0]
    clock.advance(timedelta(days=3))
    second = cart_factory(contact_id=contact.id)
    # when
    _abandon(uow_factory, clock)
    # then
    assert 1 == len(database.memberships)
    held = database.memberships[0]
    assert (first.entered_at, clock.now() + timedelta(days=7), second.id) == (
        held.entered_at,
        held.expires_at,
        held.cart_id,
    )


@pytest.mark.parametrize(("price", "eligible"), [("200", True), ("100", False)])
def test_the_offer_follows_the_email_rules(
    price: str,
    eligible: bool,
    cart_factory: Callable[..., CartRecord],
    contact: Contact,
    visitor_factory: Callable[..., str],
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    shop: Store,
    clock: SimulatedClock,
) -> None:
    """
    `min_total: 150` admits a 200 cart and refuses a 100 one, for a contact and for an
    anonymous visitor alike.
    """
    # given
    _apply(database, shop, OFFERS, clock)
    cart_factory(price=price, contact_id=contact.id)
    cart_factory(price=price, visitor_id=visitor_factory())
    # when
    _abandon(uow_factory, clock)
    # then
    assert [eligible, eligible] == [m.offer_eligible for m in database.memberships]


def test_a_built_in_without_offer_records_no_eligibility(
    cart_factory: Callable[..., CartRecord],
    contact: Contact,
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
) -> None:
    """
    `offer_eligible` is None where the audience has no offer.
    """
    # given
    cart_factory(contact_id=contact.id)
    # when
    _abandon(uow_factory, clock)
    # then
    assert [None] == [m.offer_eligible for m in database.memberships]


def test_a_hand_over_enters_only_the_hand_over_audiences(
    cart_factory: Callable[..., CartRecord],
    contact: Contact,
    visitor_factory: Callable[..., str],
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    shop: Store,
    clock: SimulatedClock,
) -> None:
    """
    `handed_to_ads` puts the contact in `email-unengaged` and nowhere else; a visitor's cart
    is never handed over.
    """
    # given
    record = cart_factory(contact_id=contact.id)
    anonymous = cart_factory(visitor_id=visitor_factory())
    # when
    with uow_factory() as uow:
        entered = enter_audiences(uow, shop, record, clock.now(), reason=EntryReason.HANDED_OVER)
        nobody = enter_audiences(uow, shop, anonymous, clock.now(), reason=EntryReason.HANDED_OVER)
        uow.commit()
    # then
    assert (1, 0) == (entered, nobody)
    assert [("email-unengaged", contact.id, None)] == _current(database)


def test_leaving_ends_every_current_membership_of_the_person(
    cart_factory: Callable[..., CartRecord],
    contact: Contact,
    visitor_factory: Callable[..., str],
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    shop: Store,
    clock: SimulatedClock,
) -> None:
    """
    A purchase ends the contact's two memberships at once, with the reason; others stay.
    """
    # given
    cart_factory(price="250", contact_id=contact.id)
    visitor_id = visitor_factory()
    cart_factory(visitor_id=visitor_id)
    _abandon(uow_factory, clock)
    # when
    with uow_factory() as uow:
        ended = leave_audiences(
            uow,
            shop.id,
            contact_ids=[contact.id, None],
            reason=LeaveReason.PURCHASED,
            now=clock.now(),
        )
        uow.commit()
    # then
    assert 2 == ended
    assert [("viewed-cart", None, visitor_id)] == _current(database)
    assert {("purchased", clock.now())} == {
        (m.left_reason, m.left_at) for m in database.memberships if m.contact_id
    }


def test_the_window_end_ends_a_membership_at_its_expiry(
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    contact: Contact,
    shop: Store,
    clock: SimulatedClock,
) -> None:
    """
    Past `expires_at` the worker pass ends it, `left_at` = `expires_at`; a later one stays.
    """
    # given
    now = clock.now()
    for name, days in (("viewed-cart", 1), ("high-value", 30)):
        database.memberships.append(
            AudienceMembership(
                store_id=shop.id,
                audience=name,
                contact_id=contact.id,
                entered_at=now,
                expires_at=now + timedelta(days=days),
            )
        )
    clock.advance(timedelta(days=2))
    # when
    ended = expire_memberships(uow_factory=uow_factory, clock=clock, limit=1)
    # then
    assert 1 == ended
    assert [("high-value", contact.id, None)] == _current(database)
    gone = next(m for m in database.memberships if m.audience == "viewed-cart")
    assert ("window_ended", now + timedelta(days=1)) == (gone.left_reason, gone.left_at)
