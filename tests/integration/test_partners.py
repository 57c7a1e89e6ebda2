"""
Partner programs and code pools on a real database (SQLite and PostgreSQL): programs kept
exactly, names unique per store, each pool code handed out once (per program, until none is
left, never again after its offer is erased, and to two PostgreSQL transactions at once), and
the report's sums over a small fixed set of offers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, text

from cartback.bootstrap import Container
from cartback.domain.discounts import OfferStatus
from cartback.domain.flows import OfferKind
from cartback.domain.ports import CodeSource, OfferRecord, PartnerProgram
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services.partners import program_report
from cartback.services.stores import CreatedStore
from cartback.store.tables import offers, partner_codes
from helpers import enrolled_touch


@pytest.fixture
def program_factory(
    container: Container, store: CreatedStore, clock: SimulatedClock
) -> Callable[..., PartnerProgram]:
    """
    Stores a 15 % pool program with the given codes; override any field.
    """

    def make(*codes: str, **fields: object) -> PartnerProgram:
        now = clock.now()
        program = PartnerProgram(
            id=new_id("pp"),
            store_id=store.store.id,
            name="acme",
            partner="Acme Socks",
            segment="cart.total > 0.0",
            kind=OfferKind.PERCENT,
            value=Decimal("12.5"),
            currency="USD",
            code_source=CodeSource.POOL,
            expires_in=timedelta(hours=72),
            starts_at=now,
            created_at=now,
            updated_at=now,
        )
        program = replace(program, **fields)  # type: ignore[arg-type]
        with container.uow_factory() as uow:
            assert uow.partners.add(program)
            uow.partners.add_codes(program.id, list(codes))
            uow.commit()
        return program

    return make


def _offer(
    container: Container,
    store: CreatedStore,
    clock: SimulatedClock,
    *,
    code: str,
    source: str,
    status: OfferStatus = OfferStatus.ACTIVE,
    amount: str | None = None,
) -> OfferRecord:
    """
    Stores an offer (with its contact, cart and enrollment).
    """
    now = clock.now()
    with container.uow_factory() as uow:
        contact = uow.contacts.create(
            store.store.id, fields={"email": f"{new_id('x')}@example.com"}, is_bot=False, now=now
        )
        cart, enrollment, _ = enrolled_touch(
            store_id=store.store.id, contact_id=contact.id, key=new_id("k"), now=now, due_at=now
        )
        uow.carts.add([cart], now=now)
        uow.enrollments.add(enrollment)
        record = OfferRecord(
            id=new_id("of"),
            store_id=store.store.id,
            code=code,
            kind=OfferKind.PERCENT,
            value=Decimal(15),
            currency="USD",
            source=source,
            offer_key=source,
            enrollment_id=enrollment.id,
            contact_id=contact.id,
            cart_id=cart.id,
            flow=enrollment.flow,
            step=0,
            status=status,
            expires_at=now + timedelta(hours=72),
            created_at=now,
            updated_at=now,
            redeemed_at=now if amount is not None else None,
            discount_amount=Decimal(amount) if amount is not None else None,
        )
        stored = uow.offers.add(record)
        uow.commit()
    assert stored is not None
    return stored


def test_a_program_is_kept_exactly_and_its_name_is_unique(
    container: Container, program_factory: Callable[..., PartnerProgram]
) -> None:
    """
    Money, durations and aware times read back as written; a second `acme` is refused.
    """
    # given
    ends = datetime(2027, 1, 1, 12, tzinfo=UTC)
    program = program_factory(eligibility="contact.is_first_time", ends_at=ends)
    # when
    with container.uow_factory() as uow:
        again = uow.partners.add(replace(program, id=new_id("pp"), partner="Other"))
        found = uow.partners.get(program.store_id, "acme")
        listed = uow.partners.list(program.store_id)
    # then
    assert False is again
    assert program == found
    assert [program] == listed


def test_a_saved_change_is_read_back(
    container: Container,
    program_factory: Callable[..., PartnerProgram],
    clock: SimulatedClock,
) -> None:
    """
    `save` writes the changeable fields.
    """
    # given
    program = program_factory()
    changed = replace(program, enabled=False, segment="cart.total > 9.0", updated_at=clock.now())
    # when
    with container.uow_factory() as uow:
        uow.partners.save(changed)
        uow.commit()
    # then
    with container.uow_factory(read_only=True) as uow:
        assert changed == uow.partners.get(program.store_id, "acme")


def test_each_code_is_handed_out_once_per_program_until_none_is_left(
    container: Container,
    program_factory: Callable[..., PartnerProgram],
    clock: SimulatedClock,
) -> None:
    """
    Two programs with the same code each hand it out once; duplicates are not added; an empty
    pool answers None.
    """
    # given
    first = program_factory("SAME-1", "FIRST-2")
    second = program_factory("SAME-1", name="other")
    # when
    with container.uow_factory() as uow:
        duplicates = uow.partners.add_codes(first.id, ["SAME-1", "FIRST-2"])
        taken = [uow.partners.take_code(first.id, clock.now()) for _ in range(3)]
        other = [uow.partners.take_code(second.id, clock.now()) for _ in range(2)]
        left = (uow.partners.codes_available(first.id), uow.partners.codes_available(second.id))
        uow.commit()
    # then
    assert 0 == duplicates
    assert (["SAME-1", "FIRST-2", None], ["SAME-1", None]) == (taken, other)
    assert (0, 0) == left


def test_an_erased_offer_does_not_free_its_code(
    container: Container,
    store: CreatedStore,
    program_factory: Callable[..., PartnerProgram],
    clock: SimulatedClock,
) -> None:
    """
    The code stays taken when its offer is deleted (the link is cleared, not the code).
    """
    # given
    program = program_factory("ACME-1", "ACME-2")
    with container.uow_factory() as uow:
        code = uow.partners.take_code(program.id, clock.now())
        uow.commit()
    assert code is not None
    offer = _offer(container, store, clock, code=code, source=program.source)
    with container.uow_factory() as uow:
        uow.partners.link_code(program.id, code, offer.id)
        uow.commit()
    linked = select(partner_codes.c.offer_id).where(partner_codes.c.code == code)
    with container.engine.connect() as connection:
        before = connection.execute(linked).scalar()
        connection.execute(delete(offers).where(offers.c.id == offer.id))
        after = connection.execute(linked).scalar()
        connection.commit()
    # when
    with container.uow_factory() as uow:
        taken = [uow.partners.take_code(program.id, clock.now()) for _ in range(2)]
        uow.commit()
    # then
    assert (offer.id, None) == (before, after)
    assert ["ACME-2", None] == taken


def test_two_postgresql_transactions_take_different_codes_without_waiting(
    backend: str, container: Container, program_factory: Callable[..., PartnerProgram]
) -> None:
    """
    While one transaction holds a code it took, another skips it instead of waiting for it.
    """
    if backend != "postgresql":
        pytest.skip("row locks with SKIP LOCKED are PostgreSQL's")
    # given
    program = program_factory("ACME-1", "ACME-2", "ACME-3")
    at = datetime(2026, 11, 27, 10, tzinfo=UTC)
    # when
    with container.uow_factory() as first, container.uow_factory() as second:
        # A wait would fail the test quickly rather than hang it.
        second.partners._db.execute(text("SET LOCAL lock_timeout = '2s'"))
        one = first.partners.take_code(program.id, at)
        two = second.partners.take_code(program.id, at)
        second.commit()
        first.commit()
    # then
    assert ("ACME-1", "ACME-2") == (one, two)
    with container.uow_factory(read_only=True) as uow:
        assert 1 == uow.partners.codes_available(program.id)


def test_the_report_counts_its_own_offers(
    container: Container,
    store: CreatedStore,
    program_factory: Callable[..., PartnerProgram],
    clock: SimulatedClock,
) -> None:
    """
    Three given (a failed one is not), two redeemed for 4.50 + 3.25, a store offer left out.
    """
    # given
    program = program_factory("ACME-1", "ACME-2")
    for code, status, amount in (
        ("P1", OfferStatus.ACTIVE, None),
        ("P2", OfferStatus.REDEEMED, "4.50"),
        ("P3", OfferStatus.REDEEMED, "3.25"),
        ("P4", OfferStatus.FAILED, None),
    ):
        _offer(
            container, store, clock, code=code, source=program.source, status=status, amount=amount
        )
    _offer(
        container, store, clock, code="S1", source="store", status=OfferStatus.REDEEMED, amount="9"
    )
    # when
    report = program_report(
        uow=container.uow_factory(read_only=True), store_id=store.store.id, name="acme"
    )
    # then
    assert (3, 2, Decimal("7.75"), "USD", 2) == (
        report.given,
        report.redeemed,
        report.discount_total,
        report.currency,
        report.codes_available,
    )
