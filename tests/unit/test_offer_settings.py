"""
A store's offer settings (`services.offer_settings`) on in-memory fakes: set, read back as
`OfferRules`, put back to defaults; bad values are all reported and nothing is written; a
stored value that no longer validates never breaks a send.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.offers import OfferRules
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.services.offer_settings import (
    configure_offers,
    offer_rules,
    read_offer_settings,
    rules_json,
)
from fakes import FakeDatabase, FakeUnitOfWorkFactory


def _configure(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store, **changes: Any
) -> OfferRules:
    return configure_offers(uow=uow_factory(), clock=clock, store_id=shop.id, **changes)


def test_a_store_without_settings_has_the_defaults(
    uow_factory: FakeUnitOfWorkFactory, shop: Store
) -> None:
    """
    48 hours, no limit, no floor, no prefix, a 90-day window.
    """
    # when
    rules = read_offer_settings(uow=uow_factory(), store_id=shop.id)
    # then
    assert OfferRules() == rules
    assert (timedelta(hours=48), None, None, "", timedelta(days=90)) == (
        rules.expires_in,
        rules.max_per_contact,
        rules.margin_floor,
        rules.prefix,
        rules.window,
    )


def test_settings_are_stored_and_read_back_as_rules(
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
    database: FakeDatabase,
) -> None:
    """
    Durations as text or seconds, the floor as text or a number, the prefix upper-cased; the
    store's document keeps seconds and decimal strings.
    """
    # when
    saved = _configure(
        uow_factory,
        clock,
        shop,
        expires_in="72h",
        max_per_contact=2,
        margin_floor=0.25,
        prefix="cb-",
    )
    # then
    expected = OfferRules(
        expires_in=timedelta(hours=72),
        max_per_contact=2,
        margin_floor=Decimal("0.25"),
        prefix="CB-",
    )
    assert expected == saved
    assert expected == offer_rules(database.stores[shop.id])
    assert {
        "expires_in": 259200,
        "max_per_contact": 2,
        "margin_floor": "0.25",
        "prefix": "CB-",
    } == database.stores[shop.id].settings["offers"]
    assert clock.now() == database.stores[shop.id].updated_at


def test_none_puts_a_setting_back_and_others_keep_their_value(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store
) -> None:
    """
    A second change touches only what it names.
    """
    # given
    _configure(uow_factory, clock, shop, expires_in=3600, max_per_contact=3)
    # when
    rules = _configure(uow_factory, clock, shop, max_per_contact=None, prefix="VIP")
    # then
    assert (timedelta(hours=1), None, "VIP") == (
        rules.expires_in,
        rules.max_per_contact,
        rules.prefix,
    )


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"expires_in": "30m"}, {"expires_in"}),
        ({"expires_in": "91d"}, {"expires_in"}),
        ({"expires_in": "soon"}, {"expires_in"}),
        ({"expires_in": True}, {"expires_in"}),
        ({"max_per_contact": 0, "margin_floor": "1"}, {"max_per_contact", "margin_floor"}),
        ({"max_per_contact": "2"}, {"max_per_contact"}),
        ({"margin_floor": "-0.1"}, {"margin_floor"}),
        ({"margin_floor": "NaN"}, {"margin_floor"}),
        ({"margin_floor": "a quarter"}, {"margin_floor"}),
        ({"prefix": "C0-"}, {"prefix"}),
        ({"prefix": "TOOLONGPREFIX"}, {"prefix"}),
        ({"prefix": "-"}, {"prefix"}),
        ({"window": 5}, {"window"}),
    ],
)
def test_bad_values_are_all_reported_and_nothing_is_written(
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
    database: FakeDatabase,
    changes: dict[str, Any],
    fields: set[str],
) -> None:
    """
    Too short or long, not a duration, not a whole number, outside [0, 1), a bad prefix, an
    unknown setting: `InvalidInput` naming each field, and the store is unchanged.
    """
    # given
    before = database.stores[shop.id]
    # when
    with pytest.raises(InvalidInput) as caught:
        _configure(uow_factory, clock, shop, **changes)
    # then
    assert fields == {e.path for e in caught.value.errors}
    assert before == database.stores[shop.id]


def test_no_change_is_refused(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store
) -> None:
    """
    Nothing given is a mistake, not a silent success.
    """
    # then
    with pytest.raises(InvalidInput, match="nothing to change"):
        _configure(uow_factory, clock, shop)


def test_another_stores_id_is_not_found(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> None:
    """
    An unknown store answers `NotFound`.
    """
    # then
    with pytest.raises(NotFound):
        configure_offers(uow=uow_factory(), clock=clock, store_id="st_nope", prefix="CB")


def test_a_stored_value_that_no_longer_validates_is_ignored(shop: Store) -> None:
    """
    A broken value in the document falls back to its default; the good ones still count.
    """
    # given
    store = replace(
        shop, settings={"offers": {"expires_in": -5, "max_per_contact": 4, "prefix": "bad prefix"}}
    )
    # when
    rules = offer_rules(store)
    # then
    assert OfferRules(max_per_contact=4) == rules


def test_the_json_form_shows_seconds_and_text() -> None:
    """
    What the API and the CLI print.
    """
    # when
    shown = rules_json(OfferRules(margin_floor=Decimal("0.3"), prefix="CB-"))
    # then
    assert {
        "expires_in": 172800,
        "expires_in_text": "2d",
        "max_per_contact": None,
        "margin_floor": "0.3",
        "prefix": "CB-",
        "window": 7776000,
    } == shown
