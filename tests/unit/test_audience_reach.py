"""
Who in an audience may be advertised to (`services/audience_reach.py`), on the in-memory fakes:
each exclusion rule alone, consent judged exactly as `may_message` judges email marketing, and
anonymous visitors known only by the hash of their anonymous id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from cartback.domain.consent import Channel, ConsentClaim, Purpose
from cartback.domain.events import Stage
from cartback.domain.ports import (
    AudienceMembership,
    Contact,
    EnrollmentRecord,
    Suppression,
    TouchRecord,
)
from cartback.domain.stores import CONSENT_REGION, Store
from cartback.domain.touches import EnrollmentStatus, Group, TouchStatus
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services.audience_reach import anonymous_members, reachable_members
from cartback.services.permission import append_claims, may_message
from fakes import FakeDatabase, FakeUnitOfWorkFactory, VisitorRow

AUDIENCE = "viewed-cart"


@pytest.fixture
def person(database: FakeDatabase, shop: Store, clock: SimulatedClock) -> Callable[..., Contact]:
    """
    Adds a contact who is a current member of `AUDIENCE` (entered an hour ago, for 7 days).
    """

    def make(email: str | None = None, phone: str | None = None, **flags: object) -> Contact:
        now = clock.now()
        contact = Contact(
            id=new_id("co"),
            store_id=shop.id,
            user_id=None,
            email=email if email is not None else f"{new_id('p')}@example.com",
            phone=phone,
            is_bot=False,
            created_at=now - timedelta(days=1),
            updated_at=now - timedelta(days=1),
        )
        contact = replace(contact, **flags)  # type: ignore[arg-type]
        database.contacts[contact.id] = contact
        database.memberships.append(
            AudienceMembership(
                store_id=shop.id,
                audience=AUDIENCE,
                contact_id=contact.id,
                offer_eligible=True,
                entered_at=now - timedelta(hours=1),
                expires_at=now + timedelta(days=7),
            )
        )
        return contact

    return make


def _enroll(
    database: FakeDatabase, contact: Contact, now: datetime, *, group: Group, handed: bool = False
) -> None:
    enrollment = EnrollmentRecord(
        id=new_id("en"),
        store_id=contact.store_id,
        contact_id=contact.id,
        cart_id=new_id("ca"),
        flow="cart-recovery",
        flow_version=0,
        group=group,
        status=EnrollmentStatus.ACTIVE,
        stage=Stage.CART,
        triggered_at=now - timedelta(hours=2),
        started_at=now - timedelta(hours=2),
    )
    database.enrollments[enrollment.id] = enrollment
    touch = TouchRecord(
        id=new_id("tc"),
        store_id=contact.store_id,
        enrollment_id=enrollment.id,
        cart_id=enrollment.cart_id,
        step=2,
        channel=Channel.EMAIL,
        template="reminder",
        status=TouchStatus.SKIPPED if handed else TouchStatus.SENT,
        reason="handed_to_ads" if handed else None,
        due_at=now - timedelta(hours=1),
        created_at=now - timedelta(hours=2),
        updated_at=now - timedelta(hours=1),
    )
    database.touches[touch.id] = touch


def _reachable(uow_factory: FakeUnitOfWorkFactory, store: Store, now: datetime) -> set[str]:
    with uow_factory(read_only=True) as uow:
        return {m.contact_id for m in reachable_members(uow, store, AUDIENCE, now)}


def _consent(
    uow_factory: FakeUnitOfWorkFactory, contact: Contact, now: datetime, *, granted: bool
) -> None:
    claim = ConsentClaim(
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
        granted=granted,
        text="Email me offers",
        source="checkout",
        occurred_at=now - timedelta(minutes=30),
    )
    with uow_factory() as uow:
        append_claims(uow, contact.store_id, contact.id, [claim], now=now)
        uow.commit()


def test_a_plain_member_of_a_us_store_is_reachable_with_their_details(
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    person: Callable[..., Contact],
    clock: SimulatedClock,
) -> None:
    """
    US opt-out model, no flow, no opt-out: the member is reachable, with address, phone,
    offer eligibility and membership times.
    """
    # given
    contact = person("ann@example.com", "+14155550100")
    now = clock.now()
    # when
    with uow_factory(read_only=True) as uow:
        found = reachable_members(uow, shop, AUDIENCE, now)
    # then
    assert [(contact.id, "ann@example.com", "+14155550100", True, now + timedelta(days=7))] == [
        (m.contact_id, m.email, m.phone, m.offer_eligible, m.expires_at) for m in found
    ]


def test_a_contact_who_said_no_to_ads_is_left_out(
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    person: Callable[..., Contact],
    clock: SimulatedClock,
) -> None:
    """
    `ads_opt_out_at` (GPC, denied cookies) excludes, whatever the consent ledger says.
    """
    # given
    kept = person()
    person(ads_opt_out_at=clock.now() - timedelta(days=1))
    # when / then
    assert {kept.id} == _reachable(uow_factory, shop, clock.now())


def test_a_bot_is_left_out(
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    person: Callable[..., Contact],
    clock: SimulatedClock,
) -> None:
    """
    A contact flagged as a bot is never advertised to.
    """
    # given
    kept = person()
    person(is_bot=True)
    # when / then
    assert {kept.id} == _reachable(uow_factory, shop, clock.now())


def test_an_eu_store_needs_an_email_marketing_grant(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    person: Callable[..., Contact],
    clock: SimulatedClock,
) -> None:
    """
    EU rules: only the member who granted email marketing is reachable; silence and a
    withdrawal are not enough.
    """
    # given
    eu = replace(shop, settings={**shop.settings, CONSENT_REGION: "eu"})
    database.stores[eu.id] = eu
    granted, silent, withdrawn = person(), person(), person()
    _consent(uow_factory, granted, clock.now(), granted=True)
    _consent(uow_factory, withdrawn, clock.now(), granted=False)
    # when
    found = _reachable(uow_factory, eu, clock.now())
    # then
    assert {granted.id} == found
    assert silent.id not in found


def test_a_us_member_who_withdrew_or_is_suppressed_is_left_out(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    person: Callable[..., Contact],
    clock: SimulatedClock,
) -> None:
    """
    The US opt-out model allows unless the person withdrew marketing or the address is on the
    suppression list.
    """
    # given
    kept, withdrawn = person(), person()
    suppressed = person("gone@example.com")
    _consent(uow_factory, withdrawn, clock.now(), granted=False)
    database.suppressions.append(
        Suppression(
            store_id=shop.id,
            channel=Channel.EMAIL,
            address="gone@example.com",
            reason="unsubscribed",
            source="link",
            created_at=clock.now(),
        )
    )
    # when
    found = _reachable(uow_factory, shop, clock.now())
    # then
    assert {kept.id} == found
    assert suppressed.id not in found


@pytest.mark.parametrize("region", ["us", "eu", "strict"])
def test_consent_is_exactly_what_may_message_allows_for_email_marketing(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    person: Callable[..., Contact],
    clock: SimulatedClock,
    region: str,
) -> None:
    """
    The batched consent check agrees with `may_message(EMAIL, MARKETING)` contact by contact,
    in every region, over grants, withdrawals, silence and a phone-only contact.
    """
    # given
    store = replace(shop, settings={**shop.settings, CONSENT_REGION: region})
    database.stores[store.id] = store
    people = [person(), person(), person(), person(phone="+14155550101")]
    database.contacts[people[3].id] = replace(people[3], email=None)
    _consent(uow_factory, people[0], clock.now(), granted=True)
    _consent(uow_factory, people[1], clock.now(), granted=False)
    # when
    found = _reachable(uow_factory, store, clock.now())
    # then
    with uow_factory(read_only=True) as uow:
        expected = {
            c.id
            for c in people
            if may_message(
                uow, store, uow.contacts.get(store.id, c.id), Channel.EMAIL, Purpose.MARKETING
            ).allowed
        }
    assert expected == found


def test_a_contact_in_an_active_email_flow_is_held(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    person: Callable[..., Contact],
    clock: SimulatedClock,
) -> None:
    """
    An active `treated` enrollment whose emails still go holds the contact out of the ads.
    """
    # given
    kept, held = person(), person()
    _enroll(database, held, clock.now(), group=Group.TREATED)
    # when / then
    assert {kept.id} == _reachable(uow_factory, shop, clock.now())


def test_a_contact_the_flow_handed_to_ads_is_reachable(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    person: Callable[..., Contact],
    clock: SimulatedClock,
) -> None:
    """
    Once a touch of the active enrollment is skipped `handed_to_ads`, the ads take over.
    """
    # given
    handed = person()
    _enroll(database, handed, clock.now(), group=Group.TREATED, handed=True)
    # when / then
    assert {handed.id} == _reachable(uow_factory, shop, clock.now())


@pytest.mark.parametrize("handed", [False, True])
def test_a_holdout_contact_is_always_held(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    person: Callable[..., Contact],
    clock: SimulatedClock,
    handed: bool,
) -> None:
    """
    A contact in the control group of an active enrollment gets no recovery contact of any
    kind, ads included.
    """
    # given
    kept, control = person(), person()
    _enroll(database, control, clock.now(), group=Group.CONTROL, handed=handed)
    # when / then
    assert {kept.id} == _reachable(uow_factory, shop, clock.now())


def test_a_finished_enrollment_holds_no_one(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    person: Callable[..., Contact],
    clock: SimulatedClock,
) -> None:
    """
    Only an ACTIVE enrollment holds: a completed one leaves the contact reachable.
    """
    # given
    done = person()
    _enroll(database, done, clock.now(), group=Group.TREATED)
    for key, enrollment in list(database.enrollments.items()):
        database.enrollments[key] = replace(enrollment, status=EnrollmentStatus.COMPLETED)
    # when / then
    assert {done.id} == _reachable(uow_factory, shop, clock.now())


def test_left_and_expired_members_are_not_current(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    person: Callable[..., Contact],
    clock: SimulatedClock,
) -> None:
    """
    A membership that ended (`left_at`) or whose window is over (`expires_at <= now`) is out.
    """
    # given
    kept, left, expired = person(), person(), person()
    now = clock.now()
    database.memberships = [
        replace(m, left_at=now - timedelta(minutes=1), left_reason="ordered")
        if m.contact_id == left.id
        else replace(m, expires_at=now)
        if m.contact_id == expired.id
        else m
        for m in database.memberships
    ]
    # when / then
    assert {kept.id} == _reachable(uow_factory, shop, now)


def test_anonymous_members_are_known_by_the_hash_of_their_anonymous_id_only(
    database: FakeDatabase, uow_factory: FakeUnitOfWorkFactory, shop: Store, clock: SimulatedClock
) -> None:
    """
    Visitors are reachable unless opted out of ads or bots; each carries the SHA-256 of its
    anonymous id as `external_id`, nothing else that identifies them.
    """
    # given
    now = clock.now()
    for anonymous_id, flags in (
        ("anon-kept", {}),
        ("anon-optout", {"ads_opt_out_at": now}),
        ("anon-bot", {"is_bot": True}),
    ):
        visitor = VisitorRow(
            id=new_id("vi"),
            store_id=shop.id,
            anonymous_id=anonymous_id,
            contact_id=None,
            user_agent=None,
            is_bot=False,
            first_seen_at=now,
            last_seen_at=now,
        )
        for name, value in flags.items():
            setattr(visitor, name, value)
        database.visitors[visitor.id] = visitor
        database.memberships.append(
            AudienceMembership(
                store_id=shop.id,
                audience=AUDIENCE,
                visitor_id=visitor.id,
                entered_at=now - timedelta(hours=1),
                expires_at=now + timedelta(days=7),
            )
        )
    # when
    with uow_factory(read_only=True) as uow:
        found = anonymous_members(uow, shop, AUDIENCE, now)
    # then
    assert [hashlib.sha256(b"anon-kept").hexdigest()] == [m.external_id for m in found]
