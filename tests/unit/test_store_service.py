"""
The store use cases on in-memory fakes: creation with keys shown once, authentication by key,
validation of settings, and rescheduling when the abandonment delay changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from cartback.domain.cart import Cart, CartStatus
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.events import LineItem
from cartback.domain.ports import CartRecord
from cartback.domain.stores import KeyKind, Platform, Principal
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.kit.keys import SecretBox, digest_key
from cartback.services.stores import (
    CreatedStore,
    StoreSettings,
    authenticate,
    create_store,
    get_store,
    update_store,
)
from fakes import FakeDatabase, FakeUnitOfWorkFactory


@pytest.fixture
def box() -> SecretBox:
    """
    The box that seals webhook secrets.
    """
    return SecretBox(["unit-test-secret"])


@pytest.fixture
def create(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, box: SecretBox
) -> Callable[..., CreatedStore]:
    """
    Creates a store with valid defaults; override any setting by keyword.
    """

    def make(**overrides: Any) -> CreatedStore:
        values: dict[str, Any] = {
            "name": "Fake Shop",
            "platform": "shopify",
            "domains": ["shop.example.com"],
            **overrides,
        }
        return create_store(
            uow=uow_factory(), clock=clock, box=box, settings=StoreSettings(**values)
        )

    return make


@pytest.fixture
def cart_factory(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> Callable[..., CartRecord]:
    """
    Stores a cart last active at the clock's time, scheduled 30 minutes later.
    """

    def make(store_id: str, **overrides: Any) -> CartRecord:
        now = clock.now()
        cart = Cart(
            key=new_id("cart"),
            currency="USD",
            lines=(LineItem(product_id="p-1"),),
            last_activity_at=now,
            check_at=now + timedelta(minutes=30),
        )
        record = CartRecord(
            id=new_id("ca"), store_id=store_id, cart=replace(cart, **overrides), created_at=now
        )
        with uow_factory() as uow:
            uow.carts.add([record], now=now)
            uow.commit()
        return record

    return make


def test_create_returns_keys_with_their_prefixes(create: Callable[..., CreatedStore]) -> None:
    """
    The secret key, public key and webhook secret say what they are.
    """
    # given
    # when
    created = create()
    # then
    assert ("cb_sk_", "cb_pk_", "whsec_") == (
        created.secret_key[:6],
        created.public_key[:6],
        created.webhook_secret[:6],
    )


def test_create_stores_digests_only(
    create: Callable[..., CreatedStore], database: FakeDatabase, box: SecretBox
) -> None:
    """
    No stored row holds a key or the webhook secret in plain text.
    """
    # given
    created = create()
    # when
    stored = repr(vars(database))
    # then
    plain = [created.secret_key, created.public_key, created.webhook_secret]
    assert [] == [p for p in plain if p in stored]
    assert {digest_key(created.secret_key), digest_key(created.public_key)} == set(database.keys)
    assert [created.webhook_secret] == [box.open(s.sealed) for s in database.secrets]


def test_create_keeps_the_settings(
    create: Callable[..., CreatedStore], uow_factory: FakeUnitOfWorkFactory
) -> None:
    """
    The store reads back with the normalised settings it was created with.
    """
    # given
    created = create(
        domains=["https://Shop.Example.com/path", "www.example.com"],
        currency="eur",
        abandon_after=timedelta(hours=1),
    )
    # when
    store = get_store(uow=uow_factory(), store_id=created.store.id)
    # then
    assert (
        Platform.SHOPIFY,
        ("shop.example.com", "www.example.com"),
        "EUR",
        timedelta(hours=1),
    ) == (
        store.platform,
        store.domains,
        store.currency,
        store.abandon_after,
    )


@pytest.mark.parametrize("kind", list(KeyKind))
def test_authenticate_finds_the_store_of_a_key(
    create: Callable[..., CreatedStore], uow_factory: FakeUnitOfWorkFactory, kind: KeyKind
) -> None:
    """
    Each key authenticates as its store and kind.
    """
    # given
    created = create()
    key = created.secret_key if kind is KeyKind.SECRET else created.public_key
    # when
    principal = authenticate(uow=uow_factory(), key=key)
    # then
    assert Principal(store=created.store, kind=kind) == principal


def test_authenticate_refuses_a_revoked_key(
    create: Callable[..., CreatedStore],
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    clock: SimulatedClock,
) -> None:
    """
    A revoked key authenticates as nobody.
    """
    # given
    created = create()
    database.keys[digest_key(created.secret_key)].revoked_at = clock.now()
    # when
    principal = authenticate(uow=uow_factory(), key=created.secret_key)
    # then
    assert principal is None


@pytest.mark.parametrize("key", ["cb_sk_unknown", "cb_pk_unknown", "not-a-key", ""])
def test_authenticate_refuses_an_unknown_key(
    create: Callable[..., CreatedStore], uow_factory: FakeUnitOfWorkFactory, key: str
) -> None:
    """
    A key no store has authenticates as nobody.
    """
    # given
    create()
    # when
    principal = authenticate(uow=uow_factory(), key=key)
    # then
    assert principal is None


def test_invalid_settings_report_every_field(
    create: Callable[..., CreatedStore], database: FakeDatabase
) -> None:
    """
    Every invalid setting is named at once, and nothing is stored.
    """
    # given
    invalid: dict[str, Any] = {
        "name": "   ",
        "platform": "etsy",
        "domains": ["not a domain!"],
        "currency": "ABC",
        "timezone": "Mars/Olympus_Mons",
        "country": "USA",
        "abandon_after": timedelta(seconds=10),
        "recovery_window": timedelta(days=365),
    }
    # when
    with pytest.raises(InvalidInput) as raised:
        create(**invalid)
    # then
    assert sorted(invalid) == sorted(e.path for e in raised.value.errors)
    assert {} == database.stores


def test_missing_settings_are_required(create: Callable[..., CreatedStore]) -> None:
    """
    A store needs a name, a platform and a domain.
    """
    # given
    missing: dict[str, Any] = {"name": None, "platform": None, "domains": []}
    # when
    with pytest.raises(InvalidInput) as raised:
        create(**missing)
    # then
    assert [("name", "required"), ("platform", "required"), ("domains", "required")] == [
        (e.path, e.message) for e in raised.value.errors
    ]


def test_a_recovery_window_shorter_than_the_delay_is_refused(
    create: Callable[..., CreatedStore],
) -> None:
    """
    A cart cannot be lost before it is abandoned.
    """
    # given
    settings = {"abandon_after": timedelta(days=2), "recovery_window": timedelta(days=1)}
    # when
    with pytest.raises(InvalidInput) as raised:
        create(**settings)
    # then
    assert ["recovery_window"] == [e.path for e in raised.value.errors]


def test_a_new_abandonment_delay_reschedules_active_carts(
    create: Callable[..., CreatedStore],
    uow_factory: FakeUnitOfWorkFactory,
    cart_factory: Callable[..., CartRecord],
    clock: SimulatedClock,
    database: FakeDatabase,
) -> None:
    """
    Active carts move to the new delay; abandoned carts keep their recovery timer.
    """
    # given
    store = create().store
    active = cart_factory(store.id)
    recovery_at = clock.now() + timedelta(days=7)
    abandoned = cart_factory(store.id, status=CartStatus.ABANDONED, check_at=recovery_at)
    # when
    update_store(
        uow=uow_factory(),
        clock=clock,
        store_id=store.id,
        settings=StoreSettings(abandon_after=timedelta(hours=2)),
    )
    # then
    assert [clock.now() + timedelta(hours=2), recovery_at] == [
        database.carts[active.id].cart.check_at,
        database.carts[abandoned.id].cart.check_at,
    ]


def test_an_update_keeps_the_settings_it_does_not_name(
    create: Callable[..., CreatedStore], uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> None:
    """
    Only the given settings change.
    """
    # given
    store = create(currency="EUR").store
    clock.advance(timedelta(minutes=5))
    # when
    updated = update_store(
        uow=uow_factory(), clock=clock, store_id=store.id, settings=StoreSettings(name="Renamed")
    )
    # then
    expected = replace(store, name="Renamed", updated_at=clock.now())
    assert expected == updated
    assert expected == get_store(uow=uow_factory(), store_id=store.id)


def test_an_invalid_update_changes_nothing(
    create: Callable[..., CreatedStore], uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> None:
    """
    An update with an invalid setting raises and leaves the store as it was.
    """
    # given
    store = create().store
    # when
    with pytest.raises(InvalidInput):
        update_store(
            uow=uow_factory(),
            clock=clock,
            store_id=store.id,
            settings=StoreSettings(name="Renamed", currency="XXXX"),
        )
    # then
    assert store == get_store(uow=uow_factory(), store_id=store.id)


@pytest.mark.parametrize("use_case", ["get", "update"])
def test_an_unknown_store_is_not_found(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, use_case: str
) -> None:
    """
    Reading or changing a store that does not exist raises NotFound.
    """
    # given
    calls: dict[str, Callable[[], object]] = {
        "get": lambda: get_store(uow=uow_factory(), store_id="st_missing"),
        "update": lambda: update_store(
            uow=uow_factory(), clock=clock, store_id="st_missing", settings=StoreSettings()
        ),
    }
    # when
    with pytest.raises(NotFound) as raised:
        calls[use_case]()
    # then
    assert "no store 'st_missing'" == raised.value.detail


def test_peak_season_is_stored_and_read_back(
    create: Callable[..., CreatedStore], uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> None:
    """
    Two periods, a delay factor, a cap and paused discounts, in the store's time zone.
    """
    # given
    created = create(timezone="Europe/Berlin")
    settings = StoreSettings(
        peak_periods="2026-11-27..2026-11-30, 2026-12-24",
        peak_delay_factor=1.5,
        peak_max_touches=2,
    )
    # when
    store = update_store(
        uow=uow_factory(), clock=clock, store_id=created.store.id, settings=settings
    )
    # then
    season = store.peak_season
    assert season is not None
    assert [("2026-11-27", "2026-11-30"), ("2026-12-24", "2026-12-24")] == [
        (p.first.isoformat(), p.last.isoformat()) for p in season.periods
    ]
    assert (1.5, 2, True, "Europe/Berlin") == (
        season.delay_factor,
        season.max_touches,
        season.pause_discounts,
        str(season.zone),
    )


def test_peak_season_none_turns_it_off(
    create: Callable[..., CreatedStore], uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> None:
    """
    `none` clears the calendar and its options.
    """
    # given
    created = create()
    store_id = created.store.id
    update_store(
        uow=uow_factory(),
        clock=clock,
        store_id=store_id,
        settings=StoreSettings(peak_periods="2026-11-27"),
    )
    # when
    store = update_store(
        uow=uow_factory(),
        clock=clock,
        store_id=store_id,
        settings=StoreSettings(peak_periods="none"),
    )
    # then
    assert (None, False) == (store.peak_season, "peak_season" in store.settings)


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        (StoreSettings(peak_periods="2026-12-01..2026-11-27"), "peak_periods"),
        (StoreSettings(peak_periods="black friday"), "peak_periods"),
        (StoreSettings(peak_periods="2026-11-27", peak_delay_factor=20.0), "peak_delay_factor"),
        (StoreSettings(peak_max_touches=2), "peak_periods"),
    ],
)
def test_bad_peak_season_is_refused_and_changes_nothing(
    create: Callable[..., CreatedStore],
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    database: FakeDatabase,
    settings: StoreSettings,
    path: str,
) -> None:
    """
    A reversed range, a word, a factor above 10, or options without any peak days.
    """
    # given
    created = create()
    before = database.stores[created.store.id]
    # when
    with pytest.raises(InvalidInput) as raised:
        update_store(uow=uow_factory(), clock=clock, store_id=created.store.id, settings=settings)
    # then
    assert [path] == [e.path for e in raised.value.errors]
    assert before == database.stores[created.store.id]
