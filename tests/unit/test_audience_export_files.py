"""
Audience files (`services/audience_exports.py`) on the in-memory fakes: which audiences a store
has, members without a usable identifier, and plain cells a spreadsheet would run as formulas.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cartback.domain.errors import NotFound
from cartback.domain.ports import AudienceMembership, Contact, StoredAudience
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services.audience_exports import ExportFormat, export_audience
from fakes import FakeDatabase, FakeUnitOfWorkFactory


def _member(database: FakeDatabase, store: Store, clock: SimulatedClock, email: str) -> None:
    now = clock.now()
    contact = Contact(
        id=new_id("co"),
        store_id=store.id,
        user_id=None,
        email=email,
        phone=None,
        is_bot=False,
        created_at=now,
        updated_at=now,
    )
    database.contacts[contact.id] = contact
    database.memberships.append(
        AudienceMembership(
            store_id=store.id,
            audience="viewed-cart",
            contact_id=contact.id,
            entered_at=now - timedelta(hours=1),
            expires_at=now + timedelta(days=1),
        )
    )


def test_a_member_without_a_usable_identifier_is_left_out_of_hashed_files(
    database: FakeDatabase, uow_factory: FakeUnitOfWorkFactory, shop: Store, clock: SimulatedClock
) -> None:
    """
    An address Meta's pattern refuses, and no phone: no row (an empty row matches nobody),
    while the merchant's plain list still shows the person.
    """
    # given
    _member(database, shop, clock, "odd@localhost")
    # when
    meta = export_audience(
        uow=uow_factory(read_only=True),
        store=shop,
        audience="viewed-cart",
        export_format=ExportFormat.META,
        now=clock.now(),
    )
    plain = export_audience(
        uow=uow_factory(read_only=True),
        store=shop,
        audience="viewed-cart",
        export_format=ExportFormat.CSV,
        now=clock.now(),
    )
    # then
    assert ([], ["odd@localhost"]) == (list(meta.rows), [r[0] for r in plain.rows])


def test_a_plain_cell_that_would_run_as_a_formula_is_kept_as_text(
    database: FakeDatabase, uow_factory: FakeUnitOfWorkFactory, shop: Store, clock: SimulatedClock
) -> None:
    """
    An address starting with `=` gets a leading apostrophe in the plain list (CSV injection).
    """
    # given
    _member(database, shop, clock, "=cmd@example.com")
    # when
    plain = export_audience(
        uow=uow_factory(read_only=True),
        store=shop,
        audience="viewed-cart",
        export_format=ExportFormat.CSV,
        now=clock.now(),
    )
    # then
    assert ["'=cmd@example.com"] == [r[0] for r in plain.rows]


def test_a_store_with_its_own_definitions_has_only_those_audiences(
    database: FakeDatabase, uow_factory: FakeUnitOfWorkFactory, shop: Store, clock: SimulatedClock
) -> None:
    """
    Built-in names exist until the store applies its own audiences; then only its own do.
    """
    # given
    database.audiences[(shop.id, "vip")] = StoredAudience(
        store_id=shop.id,
        name="vip",
        version=1,
        source="audiences:\n  - name: vip\n    stages: [cart]\n    window: 7d\n",
        definition={},
        enabled=True,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    # when
    vip = export_audience(
        uow=uow_factory(read_only=True),
        store=shop,
        audience="vip",
        export_format=ExportFormat.ANONYMOUS,
        now=clock.now(),
    )
    # then
    assert ("external_id", "entered_at", "expires_at") == vip.header
    with pytest.raises(NotFound):
        export_audience(
            uow=uow_factory(read_only=True),
            store=shop,
            audience="viewed-cart",
            export_format=ExportFormat.CSV,
            now=clock.now(),
        )
