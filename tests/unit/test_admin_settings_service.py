"""
The settings page's use cases on in-memory fakes: key rotation (a new key works, the old one
of that kind no longer does, the other kind is untouched), key listings without secrets, the
operator's scope on every change, and reading the store form.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartback.api.admin.settings_routes import store_settings_from_form, store_values
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.operators import Operator
from cartback.domain.stores import KeyKind
from cartback.engine.clock import SimulatedClock
from cartback.kit.keys import SecretBox
from cartback.services.api_keys import key_kind, list_keys, rotate_key
from cartback.services.dashboard_settings import (
    change_attribution,
    change_store,
    rotate_store_key,
    settings_view,
)
from cartback.services.stores import (
    CreatedStore,
    StoreSettings,
    authenticate,
    create_store,
    get_store,
)
from fakes import FakeUnitOfWorkFactory


@pytest.fixture
def created(uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock) -> CreatedStore:
    """
    One store with its keys.
    """
    settings = StoreSettings(name="Fake Shop", platform="custom", domains=["shop.example.com"])
    return create_store(
        uow=uow_factory(), clock=clock, box=SecretBox(["unit-test-secret"]), settings=settings
    )


def _operator(*stores: str) -> Operator:
    return Operator(
        id="op_1",
        email="ops@example.com",
        password_hash="x",
        all_stores=False,
        store_ids=frozenset(stores),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_rotating_the_secret_key_revokes_the_old_one_and_keeps_the_public_key(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, created: CreatedStore
) -> None:
    """
    The new secret key authenticates, the old one does not, the public key still does.
    """
    # when
    clock.advance(timedelta(minutes=5))
    rotated = rotate_key(
        uow=uow_factory(), clock=clock, store_id=created.store.id, kind=KeyKind.SECRET
    )
    # then
    assert 1 == rotated.revoked
    assert rotated.key.startswith("cb_sk_")
    assert rotated.key != created.secret_key
    assert authenticate(uow=uow_factory(), key=created.secret_key) is None
    new = authenticate(uow=uow_factory(), key=rotated.key)
    assert new is not None
    assert (created.store.id, KeyKind.SECRET) == (new.store.id, new.kind)
    assert authenticate(uow=uow_factory(), key=created.public_key) is not None


def test_the_key_listing_shows_kinds_prefixes_and_revocations_never_keys(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, created: CreatedStore
) -> None:
    """
    After a public rotation: three keys, newest first, the old public one revoked at the
    rotation's time; no listed value is a whole key.
    """
    # given
    clock.advance(timedelta(hours=1))
    rotated = rotate_key(
        uow=uow_factory(), clock=clock, store_id=created.store.id, kind=KeyKind.PUBLIC
    )
    # when
    keys = list_keys(uow=uow_factory(), store_id=created.store.id)
    # then
    assert [(KeyKind.PUBLIC, None)] == [(k.kind, k.revoked_at) for k in keys[:1]]
    assert rotated.prefix == keys[0].prefix
    revoked = [k for k in keys if k.revoked_at is not None]
    assert [(KeyKind.PUBLIC, clock.now())] == [(k.kind, k.revoked_at) for k in revoked]
    assert 3 == len(keys)
    secrets = {created.secret_key, created.public_key, rotated.key}
    assert not secrets & {k.prefix for k in keys}
    assert all(len(k.prefix) < len(rotated.key) for k in keys)


def test_rotating_for_an_unknown_store_is_not_found_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, created: CreatedStore
) -> None:
    """
    No store, no key.
    """
    with pytest.raises(NotFound):
        rotate_key(uow=uow_factory(), clock=clock, store_id="st_nope", kind=KeyKind.SECRET)
    assert 2 == len(list_keys(uow=uow_factory(), store_id=created.store.id))


@pytest.mark.parametrize("value", ["", "private", "cb_sk_", "SECRETS"])
def test_an_unknown_key_kind_is_invalid_input(value: str) -> None:
    """
    Only secret and public name a kind of key.
    """
    with pytest.raises(InvalidInput) as raised:
        key_kind(value)
    assert ["kind"] == [e.path for e in raised.value.errors]


def test_key_kinds_read_case_and_spaces_aside() -> None:
    """
    ` Public ` is the public kind.
    """
    assert KeyKind.PUBLIC == key_kind(" Public ")


def test_an_operator_of_another_store_changes_nothing(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, created: CreatedStore
) -> None:
    """
    Every change and the page itself answer NotFound for a store the operator may not see,
    and the store, its windows and its keys stay as they were.
    """
    # given
    stranger = _operator("st_other")
    store_id = created.store.id
    # when / then
    with pytest.raises(NotFound):
        settings_view(uow_factory=uow_factory, operator=stranger, store_id=store_id)
    with pytest.raises(NotFound):
        change_store(
            uow_factory=uow_factory,
            clock=clock,
            operator=stranger,
            store_id=store_id,
            settings=StoreSettings(name="Hijacked"),
        )
    with pytest.raises(NotFound):
        change_attribution(
            uow_factory=uow_factory,
            clock=clock,
            operator=stranger,
            store_id=store_id,
            changes={"click_window": "2d"},
        )
    with pytest.raises(NotFound):
        rotate_store_key(
            uow_factory=uow_factory,
            clock=clock,
            operator=stranger,
            store_id=store_id,
            kind=KeyKind.SECRET,
        )
    assert created.store == get_store(uow=uow_factory(), store_id=store_id)
    assert authenticate(uow=uow_factory(), key=created.secret_key) is not None


def test_the_settings_view_shows_the_shipped_quiet_hours_and_the_keys(
    uow_factory: FakeUnitOfWorkFactory, created: CreatedStore
) -> None:
    """
    A store that applied no flows shows the shipped flows' quiet hours (SMS 09:00-20:00).
    """
    view = settings_view(
        uow_factory=uow_factory, operator=_operator(created.store.id), store_id=created.store.id
    )
    assert "defaults" == view.flows_origin
    assert {"sms": "09:00-20:00"} == dict(view.quiet_hours)
    assert {KeyKind.SECRET, KeyKind.PUBLIC} == {k.kind for k in view.keys}


def test_the_store_form_reads_back_what_it_shows(created: CreatedStore) -> None:
    """
    Posting the form as shown changes nothing that matters: the same durations and zone,
    no country, no explicit consent region, peak season off.
    """
    settings = store_settings_from_form(store_values(created.store))
    assert (
        StoreSettings(
            name="Fake Shop",
            timezone="UTC",
            abandon_after=timedelta(minutes=30),
            recovery_window=timedelta(days=7),
            peak_periods="",
        )
        == settings
    )


def test_the_store_form_reads_peak_season_options_only_with_peak_days() -> None:
    """
    With peak days, an empty cap is no cap (-1) and an unticked box does not pause.
    """
    form = {
        "name": "Shop",
        "timezone": "UTC",
        "abandon_after": "30m",
        "recovery_window": "7d",
        "peak_periods": "2026-11-27..2026-12-01",
        "peak_delay_factor": "2.5",
        "peak_max_touches": "",
    }
    settings = store_settings_from_form(form)
    assert ("2026-11-27..2026-12-01", 2.5, -1, False) == (
        settings.peak_periods,
        settings.peak_delay_factor,
        settings.peak_max_touches,
        settings.peak_pause_discounts,
    )


def test_the_store_form_reports_every_field_that_does_not_read() -> None:
    """
    A bad duration, factor and cap are each reported.
    """
    form = {
        "name": "Shop",
        "abandon_after": "soon",
        "recovery_window": "",
        "peak_periods": "2026-11-27..2026-12-01",
        "peak_delay_factor": "double",
        "peak_max_touches": "2.5",
    }
    with pytest.raises(InvalidInput) as raised:
        store_settings_from_form(form)
    assert {
        "abandon_after",
        "recovery_window",
        "peak_delay_factor",
        "peak_max_touches",
    } == {e.path for e in raised.value.errors}
