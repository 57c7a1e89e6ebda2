"""
Privacy requests on the in-memory fakes: erasing a person everywhere, erasing a shop's data,
noting platform events; and consent claims arriving with messages land in the ledger once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cartback.domain.consent import Channel, ConsentClaim, Purpose
from cartback.domain.events import IdentityClaims
from cartback.domain.ingest import Inbound, MessageKind
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.keys import SecretBox
from cartback.services.ingest import ingest
from cartback.services.privacy import erase_customer, erase_store_data, note_platform_event
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
