"""
Co-marketing partner programs (`services.partners`) on the fakes: every bad field refused at
once with nothing written, pools filled and handed out a code at a time, programs changed and
disabled, a program chosen only for its segment, eligibility and dates, and the report's sums.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cartback.domain.discounts import OfferStatus
from cartback.domain.errors import Conflict, InvalidInput, NotFound
from cartback.domain.expressions import CartFacts, ContactFacts, ItemFacts, activation
from cartback.domain.flows import OfferKind
from cartback.domain.ports import CodeSource, OfferRecord, PartnerProgram
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services.partners import (
    add_codes,
    choose_partner_offer,
    create_program,
    list_programs,
    program_report,
    take_pool_code,
    update_program,
)
from fakes import FakeDatabase, FakeUnitOfWorkFactory

SOCKS = 'cart.categories.exists(c, c == "socks")'


@pytest.fixture
def create(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store
) -> Callable[..., PartnerProgram]:
    """
    Creates a 15 % pool program `acme` for sock carts; override any argument.
    """

    def make(**overrides: Any) -> PartnerProgram:
        values: dict[str, Any] = {
            "name": "acme",
            "partner": "Acme Socks",
            "segment": SOCKS,
            "eligibility": None,
            "kind": "percent",
            "value": Decimal(15),
            "code_source": "pool",
            "expires_in": timedelta(hours=72),
            **overrides,
        }
        return create_program(uow=uow_factory(), clock=clock, store_id=shop.id, **values)

    return make


def _values(*, category: str = "socks", total: str = "50", orders: int = 0) -> dict[str, Any]:
    cart = CartFacts(
        total=Decimal(total),
        currency="USD",
        stage="cart",
        items=[ItemFacts(product_id="p", unit_price=Decimal(total), category=category)],
    )
    return activation(cart, ContactFacts(orders_count=orders))


def test_a_pool_program_is_created_with_its_codes_upper_cased(
    create: Callable[..., PartnerProgram], database: FakeDatabase, shop: Store
) -> None:
    """
    The program is stored in the store's currency and its codes are normalised.
    """
    # when
    program = create(codes=[" acme-0001 ", "ACME-0002"])
    # then
    assert [program] == list(database.partner_programs.values())
    assert ("USD", CodeSource.POOL, OfferKind.PERCENT) == (
        program.currency,
        program.code_source,
        program.kind,
    )
    assert ["ACME-0001", "ACME-0002"] == [r.code for r in database.partner_codes]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "Acme Socks"}, "name"),
        ({"name": "-acme"}, "name"),
        ({"partner": "  "}, "partner"),
        ({"segment": ""}, "segment"),
        ({"segment": "cart.total >="}, "segment"),
        ({"segment": "cart.colour == 'red'"}, "segment"),
        ({"segment": "cart.total"}, "segment"),
        ({"eligibility": "nobody.knows"}, "eligibility"),
        ({"kind": "bogo"}, "kind"),
        ({"value": Decimal(0)}, "value"),
        ({"value": Decimal(101)}, "value"),
        ({"value": None}, "value"),
        ({"value": Decimal("1.00001")}, "value"),
        ({"value": Decimal("NaN")}, "value"),
        ({"kind": "fixed", "value": Decimal(-5)}, "value"),
        ({"kind": "free_shipping", "value": Decimal(5)}, "value"),
        ({"code_source": "mixed"}, "code_source"),
        ({"expires_in": timedelta(minutes=30)}, "expires_in"),
        ({"starts_at": datetime(2026, 12, 1)}, "starts_at"),  # noqa: DTZ001 - naive on purpose
        (
            {
                "starts_at": datetime(2026, 12, 2, tzinfo=UTC),
                "ends_at": datetime(2026, 12, 1, tzinfo=UTC),
            },
            "ends_at",
        ),
        ({"codes": ["ACME-1", "no"]}, "codes"),
        ({"code_source": "joint", "codes": ["ACME-0001"]}, "codes"),
    ],
)
def test_a_bad_field_is_refused_and_nothing_is_written(
    create: Callable[..., PartnerProgram],
    database: FakeDatabase,
    overrides: dict[str, Any],
    field: str,
) -> None:
    """
    Each rule names its field; no program and no code is stored.
    """
    # when
    with pytest.raises(InvalidInput) as raised:
        create(**overrides)
    # then
    assert field in {e.path for e in raised.value.errors}
    assert ({}, []) == (database.partner_programs, database.partner_codes)


def test_every_problem_is_reported_at_once_with_bad_codes_by_index(
    create: Callable[..., PartnerProgram],
) -> None:
    """
    A bad name, expression, value and two bad codes come back together.
    """
    # when
    with pytest.raises(InvalidInput) as raised:
        create(name="A", segment="cart.", value=Decimal(200), codes=["GOOD-1", "x", "BAD CODE"])
    # then
    found = [(e.path, e.index) for e in raised.value.errors]
    assert [("name", None), ("segment", None), ("value", None), ("codes", 1), ("codes", 2)] == (
        found
    )


def test_a_free_shipping_program_needs_no_value(create: Callable[..., PartnerProgram]) -> None:
    """
    Free shipping is stored with the value 0.
    """
    program = create(kind="free_shipping", value=None, code_source="joint")
    assert (OfferKind.FREE_SHIPPING, Decimal(0)) == (program.kind, program.value)


def test_a_second_program_with_the_same_name_conflicts(
    create: Callable[..., PartnerProgram], database: FakeDatabase
) -> None:
    """
    Names are unique per store; the first program is kept as it was.
    """
    # given
    first = create()
    # when
    with pytest.raises(Conflict):
        create(partner="Other")
    # then
    assert [first] == list(database.partner_programs.values())


def test_codes_are_added_counting_duplicates(
    create: Callable[..., PartnerProgram], uow_factory: FakeUnitOfWorkFactory, shop: Store
) -> None:
    """
    Codes the pool has, or that repeat in the upload, are duplicates; all others are added.
    """
    # given
    create(codes=["ACME-0001"])
    # when
    added = add_codes(
        uow=uow_factory(), store_id=shop.id, name="acme", codes=["acme-0001", "ACME-2", "acme-2"]
    )
    # then
    assert (1, 2, 2) == (added.added, added.duplicates, added.available)


@pytest.mark.parametrize(
    ("codes", "index"), [([], None), (["OK-CODE", "é-CODE"], 1), (["A" * 65], 0)]
)
def test_bad_codes_add_nothing(
    create: Callable[..., PartnerProgram],
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    shop: Store,
    codes: list[str],
    index: int | None,
) -> None:
    """
    An empty upload or a bad code (named by its index) is refused whole.
    """
    # given
    create()
    # when
    with pytest.raises(InvalidInput) as raised:
        add_codes(uow=uow_factory(), store_id=shop.id, name="acme", codes=codes)
    # then
    assert [index] == [e.index for e in raised.value.errors]
    assert [] == database.partner_codes


def test_a_joint_program_takes_no_codes(
    create: Callable[..., PartnerProgram], uow_factory: FakeUnitOfWorkFactory, shop: Store
) -> None:
    """
    A joint program's codes come from the store's platform, not an upload.
    """
    create(code_source="joint")
    with pytest.raises(InvalidInput):
        add_codes(uow=uow_factory(), store_id=shop.id, name="acme", codes=["ACME-0001"])


def test_another_stores_program_is_not_found(
    create: Callable[..., PartnerProgram],
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    A program belongs to its store only.
    """
    # given
    create()
    other = replace(shop, id=new_id("st"))
    database.stores[other.id] = other
    # when / then
    with pytest.raises(NotFound):
        add_codes(uow=uow_factory(), store_id=other.id, name="acme", codes=["ACME-0001"])
    assert [] == list_programs(uow=uow_factory(), store_id=other.id)


def test_a_program_is_disabled_and_its_eligibility_changed(
    create: Callable[..., PartnerProgram],
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
) -> None:
    """
    Only the fields given change.
    """
    # given
    create()
    # when
    changed = update_program(
        uow=uow_factory(),
        clock=clock,
        store_id=shop.id,
        name="acme",
        changes={"enabled": False, "eligibility": "contact.is_first_time"},
    )
    # then
    assert (False, "contact.is_first_time", SOCKS) == (
        changed.enabled,
        changed.eligibility,
        changed.segment,
    )
    assert [changed] == list_programs(uow=uow_factory(), store_id=shop.id)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({}, ""),
        ({"partner": "Other"}, "partner"),
        ({"enabled": "no"}, "enabled"),
        ({"segment": None}, "segment"),
        ({"segment": "cart.nothing"}, "segment"),
        ({"eligibility": "cart.total >"}, "eligibility"),
        ({"ends_at": datetime(2026, 11, 1, tzinfo=UTC)}, "ends_at"),
    ],
)
def test_a_bad_change_changes_nothing(
    create: Callable[..., PartnerProgram],
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
    changes: dict[str, Any],
    field: str,
) -> None:
    """
    Unknown keys, wrong types, bad expressions and an end before the start are refused.
    """
    # given
    before = create(starts_at=datetime(2026, 11, 20, tzinfo=UTC))
    # when
    with pytest.raises(InvalidInput) as raised:
        update_program(
            uow=uow_factory(), clock=clock, store_id=shop.id, name="acme", changes=changes
        )
    # then
    assert field in {e.path for e in raised.value.errors}
    assert [before] == list_programs(uow=uow_factory(), store_id=shop.id)


@pytest.mark.parametrize(
    ("values", "chosen"),
    [
        (_values(), True),
        (_values(category="shoes"), False),
        (_values(total="10"), False),
        (_values(orders=3), False),
    ],
)
def test_a_program_is_chosen_for_its_segment_and_eligibility(
    create: Callable[..., PartnerProgram],
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
    values: dict[str, Any],
    chosen: bool,
) -> None:
    """
    Sock carts of 20 or more from first-time buyers get it; other carts do not.
    """
    # given
    program = create(eligibility="cart.total >= 20.0 && contact.is_first_time")
    # when
    with uow_factory(read_only=True) as uow:
        found = choose_partner_offer(uow, shop, "acme", values, clock.now())
    # then
    assert (program if chosen else None) == found


@pytest.mark.parametrize(
    ("offset", "chosen"),
    [(timedelta(hours=-1), False), (timedelta(0), True), (timedelta(days=7), False)],
)
def test_a_program_is_chosen_only_between_its_dates(
    create: Callable[..., PartnerProgram],
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
    offset: timedelta,
    chosen: bool,
) -> None:
    """
    Before `starts_at` and from `ends_at` on, the program is not offered.
    """
    # given
    start = clock.now()
    create(starts_at=start, ends_at=start + timedelta(days=7))
    # when
    with uow_factory(read_only=True) as uow:
        found = choose_partner_offer(uow, shop, "acme", _values(), start + offset)
    # then
    assert chosen == (found is not None)


def test_a_disabled_or_unknown_program_is_not_chosen(
    create: Callable[..., PartnerProgram],
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
) -> None:
    """
    Disabling a program stops it at once; a name the store lacks chooses nothing.
    """
    # given
    create()
    update_program(
        uow=uow_factory(), clock=clock, store_id=shop.id, name="acme", changes={"enabled": False}
    )
    # when
    with uow_factory(read_only=True) as uow:
        disabled = choose_partner_offer(uow, shop, "acme", _values(), clock.now())
        unknown = choose_partner_offer(uow, shop, "nope", _values(), clock.now())
    # then
    assert (None, None) == (disabled, unknown)


def _offer(
    shop: Store, *, code: str, source: str, status: OfferStatus, amount: str | None = None
) -> OfferRecord:
    now = datetime(2026, 11, 27, 10, tzinfo=UTC)
    return OfferRecord(
        id=new_id("of"),
        store_id=shop.id,
        code=code,
        kind=OfferKind.PERCENT,
        value=Decimal(15),
        currency="USD",
        source=source,
        offer_key=f"partner:{code}",
        enrollment_id=new_id("en"),
        contact_id=new_id("co"),
        cart_id=new_id("ca"),
        flow="f",
        step=0,
        status=status,
        expires_at=now + timedelta(hours=72),
        created_at=now,
        updated_at=now,
        redeemed_at=now if amount is not None else None,
        discount_amount=Decimal(amount) if amount is not None else None,
    )


def test_pool_codes_are_handed_out_once_until_none_is_left(
    create: Callable[..., PartnerProgram],
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
    shop: Store,
) -> None:
    """
    Codes go in upload order; a code the store already gave as an offer is skipped; an empty
    pool answers None.
    """
    # given
    program = create(codes=["ACME-0001", "ACME-0002", "ACME-0003"])
    clash = _offer(shop, code="ACME-0002", source="store", status=OfferStatus.ACTIVE)
    database.offers[clash.id] = clash
    # when
    with uow_factory() as uow:
        taken = [take_pool_code(uow, program, clock.now()) for _ in range(3)]
        uow.commit()
    # then
    assert ["ACME-0001", "ACME-0003", None] == taken


def test_the_report_sums_its_own_offers(
    create: Callable[..., PartnerProgram],
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    shop: Store,
) -> None:
    """
    Given offers count (a failed one does not), redeemed ones add their discount, and other
    sources' offers are left out.
    """
    # given
    create(codes=["ACME-0001", "ACME-0002"])
    for offer in (
        _offer(shop, code="A1", source="partner:acme", status=OfferStatus.ACTIVE),
        _offer(shop, code="A2", source="partner:acme", status=OfferStatus.REDEEMED, amount="4.5"),
        _offer(shop, code="A3", source="partner:acme", status=OfferStatus.REDEEMED, amount="3"),
        _offer(shop, code="A4", source="partner:acme", status=OfferStatus.FAILED),
        _offer(shop, code="S1", source="store", status=OfferStatus.REDEEMED, amount="9"),
    ):
        database.offers[offer.id] = offer
    # when
    report = program_report(uow=uow_factory(read_only=True), store_id=shop.id, name="acme")
    # then
    assert (3, 2, Decimal("7.5"), "USD", 2) == (
        report.given,
        report.redeemed,
        report.discount_total,
        report.currency,
        report.codes_available,
    )
