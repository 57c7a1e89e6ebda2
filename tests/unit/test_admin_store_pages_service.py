"""
The consent log, audiences and feeds health reads (`services/store_pages.py`) on fakes:
store scoping, the log's filters and pages, audience counts beside the definitions and their
syncs, and left-out items with their reasons.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cartback.domain.catalog import CatalogItem
from cartback.domain.consent import Channel, ConsentClaim, LedgerEntry, Purpose
from cartback.domain.errors import NotFound
from cartback.domain.feeds import LeftOut
from cartback.domain.operators import Operator
from cartback.domain.ports import AudienceMembership
from cartback.domain.store_pages import LedgerFilters
from cartback.domain.stores import Platform, Store
from cartback.services.store_pages import audiences_overview, consent_log, feeds_health
from fakes import FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _store(factory: FakeUnitOfWorkFactory, store_id: str) -> None:
    factory.database.stores[store_id] = Store(
        id=store_id,
        name="Shop",
        platform=Platform.CUSTOM,
        domains=("shop.example.com",),
        currency="USD",
        timezone="UTC",
        abandon_after=timedelta(minutes=30),
        recovery_window=timedelta(days=7),
        created_at=NOW,
        updated_at=NOW,
    )


def _operator(*stores: str) -> Operator:
    return Operator(
        id="op_1",
        email="ops@example.com",
        password_hash="x",
        all_stores=not stores,
        store_ids=frozenset(stores),
        created_at=NOW,
    )


@pytest.fixture
def factory() -> FakeUnitOfWorkFactory:
    """
    Two stores: `st_a` with a ledger of three entries, `st_b` with one.
    """
    made = FakeUnitOfWorkFactory()
    _store(made, "st_a")
    _store(made, "st_b")
    for minutes, (store, contact, channel, granted) in enumerate(
        [
            ("st_a", "co_1", Channel.EMAIL, True),
            ("st_a", "co_2", Channel.SMS, True),
            ("st_b", "co_3", Channel.EMAIL, True),
            ("st_a", "co_1", Channel.EMAIL, False),
        ]
    ):
        at = NOW + timedelta(minutes=minutes)
        claim = ConsentClaim(
            channel=channel,
            purpose=Purpose.MARKETING,
            granted=granted,
            text=f"{contact} {channel} {granted}",
            source="footer_form",
            occurred_at=at,
        )
        made.database.consents.append((store, contact, LedgerEntry(claim=claim, confirmed_at=at)))
    return made


def test_another_stores_reads_are_not_found(factory: FakeUnitOfWorkFactory) -> None:
    """
    An operator of `st_b` reading `st_a`'s pages gets `NotFound`, as for no store at all.
    """
    operator = _operator("st_b")
    with pytest.raises(NotFound):
        consent_log(uow=factory(), operator=operator, store_id="st_a", filters=LedgerFilters())
    with pytest.raises(NotFound):
        audiences_overview(uow=factory(), operator=operator, store_id="st_a", now=NOW)
    with pytest.raises(NotFound):
        feeds_health(uow=factory(), operator=operator, store_id="nope", now=NOW)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (LedgerFilters(), ["co_1 email False", "co_2 sms True", "co_1 email True"]),
        (LedgerFilters(channel=Channel.SMS), ["co_2 sms True"]),
        (LedgerFilters(granted=False), ["co_1 email False"]),
        (LedgerFilters(contact_id="co_1"), ["co_1 email False", "co_1 email True"]),
        (LedgerFilters(contact_id="co_3"), []),
    ],
)
def test_the_consent_log_is_the_stores_ledger_newest_first(
    factory: FakeUnitOfWorkFactory, filters: LedgerFilters, expected: list[str]
) -> None:
    """
    Only the store's own entries, narrowed by channel, kind and contact.
    """
    log = consent_log(uow=factory(), operator=_operator(), store_id="st_a", filters=filters)
    assert expected == [row.text for row in log.rows]


def test_the_consent_log_pages(factory: FakeUnitOfWorkFactory) -> None:
    """
    Two at a time: the cursor leads to the last entry, then no further.
    """
    operator, filters = _operator(), LedgerFilters()
    first = consent_log(uow=factory(), operator=operator, store_id="st_a", filters=filters, limit=2)
    second = consent_log(
        uow=factory(),
        operator=operator,
        store_id="st_a",
        filters=filters,
        cursor=first.next_cursor,
        limit=2,
    )
    assert (2, 1, None) == (len(first.rows), len(second.rows), second.next_cursor)
    assert "co_1 email True" == second.rows[0].text


def test_audiences_show_the_built_ins_with_current_members(
    factory: FakeUnitOfWorkFactory,
) -> None:
    """
    Without an applied file, the built-ins; a current contact and visitor count, one who
    left and one whose window is over do not.
    """
    # given
    later = NOW + timedelta(days=1)
    factory.database.memberships.extend(
        [
            AudienceMembership(store_id="st_a", audience="viewed-cart", contact_id="co_1", entered_at=NOW, expires_at=later),  # noqa: E501
            AudienceMembership(store_id="st_a", audience="viewed-cart", visitor_id="vi_1", entered_at=NOW, expires_at=later),  # noqa: E501
            AudienceMembership(store_id="st_a", audience="viewed-cart", contact_id="co_2", entered_at=NOW, expires_at=later, left_at=NOW),  # noqa: E501
            AudienceMembership(store_id="st_a", audience="viewed-cart", contact_id="co_3", entered_at=NOW, expires_at=NOW),  # noqa: E501
            AudienceMembership(store_id="st_b", audience="viewed-cart", contact_id="co_4", entered_at=NOW, expires_at=later),  # noqa: E501
        ]
    )  # fmt: skip
    factory.database.audience_syncs[("st_a", "viewed-cart", "meta", "email", "h1")] = (None, True)
    # when
    overview = audiences_overview(uow=factory(), operator=_operator(), store_id="st_a", now=NOW)
    # then
    assert ("defaults", 0) == (overview.origin, overview.version)
    viewed = next(a for a in overview.audiences if a.name == "viewed-cart")
    assert (1, 1, True, "7d") == (
        viewed.members.contacts,
        viewed.members.visitors,
        viewed.enabled,
        viewed.window,
    )
    assert [("meta", 1, 0)] == [(s.network, s.present, s.removed) for s in viewed.syncs]
    assert [] == overview.retired_syncs


def _item(variant: str, **fields: Any) -> CatalogItem:
    listed = CatalogItem(
        product_id="p-1",
        variant_id=variant,
        title="Mug",
        available=True,
        price=Decimal(15),
        currency="USD",
        url="https://shop.example.com/mug",
        image_url="https://cdn.example.com/mug.jpg",
        read_at=NOW,
        updated_at=NOW,
    )
    return replace(listed, **fields)


def test_feeds_health_counts_left_out_items_by_their_first_reason(
    factory: FakeUnitOfWorkFactory,
) -> None:
    """
    An item without a title or price counts once, as `no_title` (the first reason).
    """
    # given
    catalog = factory.database.catalog
    catalog[("st_a", "v:v-1")] = _item("v-1")
    catalog[("st_a", "v:v-2")] = _item("v-2", title=None, price=None)
    catalog[("st_a", "v:v-3")] = _item("v-3", price=None)
    # when
    health = feeds_health(uow=factory(), operator=_operator(), store_id="st_a", now=NOW)
    # then
    assert {LeftOut.NO_TITLE: 1, LeftOut.NO_PRICE: 1} == health.left_out
    assert [("v:v-2", LeftOut.NO_TITLE), ("v:v-3", LeftOut.NO_PRICE)] == [
        (i.key, i.reason) for i in health.left_out_items
    ]
    assert (NOW - timedelta(days=7), 0, 0) == (
        health.since,
        health.mismatch_count,
        health.more_mismatches,
    )
