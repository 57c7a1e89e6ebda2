"""
Privacy requests on the in-memory fakes: erasing a person everywhere (withdrawals kept as
hashed suppressions), exporting them, erasing a shop's data, data requests, platform events;
and consent claims arriving with messages land in the ledger once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cartback.domain.consent import Channel, ConsentClaim, Purpose, erased_address
from cartback.domain.errors import NotFound
from cartback.domain.events import IdentityClaims
from cartback.domain.ingest import Inbound, MessageKind
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.keys import SecretBox
from cartback.services.ingest import ingest
from cartback.services.privacy import (
    WITHDRAWN,
    erase_contact,
    erase_customer,
    erase_store_data,
    export_contact,
    note_platform_event,
    record_data_request,
)
from cartback.services.stores import StoreSettings, create_store
from fakes import FakeDatabase, FakeUnitOfWorkFactory


@pytest.fixture
def shop(uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock) -> Store:
    """
    One store.
    """
    settings = StoreSettings(name="Shop", platform="shopify", domains=["shop.example.com"])
    return create_store(
        uow=uow_factory(), clock=clock, box=SecretBox(["k"]), settings=settings
    ).store


def identified(
    clock: SimulatedClock,
    email: str,
    *,
    minutes: int = 0,
    consents: tuple[ConsentClaim, ...] = (),
) -> Inbound:
    """
    An identify message for an email, optionally carrying consent claims.
    """
    return Inbound(
        source="shopify",
        message_id=uuid.uuid4().hex,
        kind=MessageKind.IDENTIFY,
        name=None,
        occurred_at=clock.now() + timedelta(minutes=minutes),
        anonymous_id="anon-1",
        claims=IdentityClaims(email=email),
        consents=consents,
        payload={"email": email},
    )


def marketing(clock: SimulatedClock, granted: bool, *, minutes: int = 0) -> ConsentClaim:
    """
    An email-marketing claim from Shopify's checkbox.
    """
    return ConsentClaim(
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
        granted=granted,
        text="Shopify checkout: buyer_accepts_marketing",
        source="shopify_checkout",
        occurred_at=clock.now() + timedelta(minutes=minutes),
    )


def test_consent_claims_are_recorded_only_when_they_change(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, clock: SimulatedClock, shop: Store
) -> None:
    """
    The same flag on three updates is one ledger entry; a change is another.
    """
    # given
    batches = [
        [identified(clock, "a@example.com", minutes=m, consents=(marketing(clock, g, minutes=m),))]
        for m, g in ((0, True), (1, True), (2, False))
    ]
    # when
    for batch in batches:
        ingest(uow=uow_factory(), clock=clock, store_id=shop.id, messages=batch)
    # then
    assert [True, False] == [entry.claim.granted for _, _, entry in database.consents]


def test_erasing_a_customer_removes_the_contact_its_consent_and_the_events_naming_it(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, clock: SimulatedClock, shop: Store
) -> None:
    """
    After erasure nothing holds the email: no contact, no ledger entry, no raw event.
    """
    # given
    message = identified(clock, "gone@example.com", consents=(marketing(clock, True),))
    ingest(uow=uow_factory(), clock=clock, store_id=shop.id, messages=[message])
    # when
    report = erase_customer(uow=uow_factory(), store_id=shop.id, email="gone@example.com")
    # then
    assert (1, 1) == (report.contacts, report.raw_events)
    assert ([], [], []) == (
        list(database.contacts),
        database.consents,
        [e for e in database.events.values() if "gone@example.com" in str(e.payload)],
    )


def test_erasing_a_shop_removes_everything_it_collected(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, clock: SimulatedClock, shop: Store
) -> None:
    """
    `shop/redact` leaves the store but none of its contacts or events.
    """
    # given
    ingest(
        uow=uow_factory(),
        clock=clock,
        store_id=shop.id,
        messages=[identified(clock, "a@example.com")],
    )
    # when
    removed = erase_store_data(uow=uow_factory(), store_id=shop.id)
    # then
    assert removed >= 2
    assert ({}, {}) == (database.contacts, database.events)
    assert shop.id in database.stores


def test_a_platform_event_is_noted_on_the_store(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, clock: SimulatedClock, shop: Store
) -> None:
    """
    An uninstall is recorded with its time under the platform's section of the settings.
    """
    # when
    note_platform_event(
        uow=uow_factory(), clock=clock, store_id=shop.id, platform="shopify", event="uninstalled"
    )
    # then
    assert {"uninstalled_at": clock.now().isoformat()} == database.stores[shop.id].settings[
        "shopify"
    ]


def _contact_id(database: FakeDatabase, email: str) -> str:
    return next(c.id for c in database.contacts.values() if c.email == email)


def test_erasing_an_unknown_contact_is_not_found(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, shop: Store
) -> None:
    """
    An id the store does not hold raises NotFound and commits nothing.
    """
    # given
    before = database.commits
    # when
    with pytest.raises(NotFound):
        erase_contact(uow=uow_factory(), store_id=shop.id, contact_id="ct_unknown")
    # then
    assert before == database.commits


def test_erasing_a_contact_keeps_a_withdrawal_as_a_hashed_suppression(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, clock: SimulatedClock, shop: Store
) -> None:
    """
    A person who said no to email marketing stays unreachable by email after erasure, through
    the hash of the address only, dated when they said no.
    """
    # given
    claims = (marketing(clock, True), marketing(clock, False, minutes=1))
    message = identified(clock, "no@example.com", minutes=2, consents=claims)
    ingest(uow=uow_factory(), clock=clock, store_id=shop.id, messages=[message])
    # when
    erase_contact(
        uow=uow_factory(), store_id=shop.id, contact_id=_contact_id(database, "no@example.com")
    )
    # then
    assert [
        (
            Channel.EMAIL,
            erased_address("no@example.com"),
            WITHDRAWN,
            clock.now() + timedelta(minutes=1),
        )
    ] == [(s.channel, s.address, s.reason, s.created_at) for s in database.suppressions]


def test_a_granted_consent_leaves_no_suppression(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, clock: SimulatedClock, shop: Store
) -> None:
    """
    Erasing someone who never withdrew adds nothing to the suppression list.
    """
    # given
    message = identified(clock, "yes@example.com", consents=(marketing(clock, True),))
    ingest(uow=uow_factory(), clock=clock, store_id=shop.id, messages=[message])
    # when
    erase_contact(
        uow=uow_factory(), store_id=shop.id, contact_id=_contact_id(database, "yes@example.com")
    )
    # then
    assert ([], {}) == (database.suppressions, database.contacts)


def test_the_export_of_another_stores_contact_is_not_found(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, clock: SimulatedClock, shop: Store
) -> None:
    """
    A contact id of one store exports nothing through another.
    """
    # given
    ingest(
        uow=uow_factory(), clock=clock, store_id=shop.id, messages=[identified(clock, "a@b.com")]
    )
    other = create_store(
        uow=uow_factory(),
        clock=clock,
        box=SecretBox(["k"]),
        settings=StoreSettings(name="Other", platform="custom", domains=["o.example.com"]),
    ).store
    # when / then
    with pytest.raises(NotFound):
        export_contact(
            uow=uow_factory(), store_id=other.id, contact_id=_contact_id(database, "a@b.com")
        )


def test_a_data_request_names_the_contacts_and_erases_nothing(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, clock: SimulatedClock, shop: Store
) -> None:
    """
    `customers/data_request` returns the contact ids to export, notes the request on the
    store, and the contact stays.
    """
    # given
    ingest(
        uow=uow_factory(), clock=clock, store_id=shop.id, messages=[identified(clock, "d@e.com")]
    )
    # when
    found = record_data_request(
        uow=uow_factory(), clock=clock, store_id=shop.id, platform="shopify", email="d@e.com"
    )
    # then
    assert ([_contact_id(database, "d@e.com")], True) == (
        found,
        "data_request_at" in database.stores[shop.id].settings["shopify"],  # type: ignore[operator]
    )
