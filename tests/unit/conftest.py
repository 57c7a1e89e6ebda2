"""
Unit-test fixtures: the in-memory database and units of work from `tests/fakes.py`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cartback.domain.stores import Platform, Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from fakes import FakeDatabase, FakeUnitOfWorkFactory


@pytest.fixture
def database() -> FakeDatabase:
    """
    The committed in-memory state.
    """
    return FakeDatabase()


@pytest.fixture
def uow_factory(database: FakeDatabase) -> FakeUnitOfWorkFactory:
    """
    Fake units of work on the test's database.
    """
    return FakeUnitOfWorkFactory(database)


@pytest.fixture
def shop(database: FakeDatabase, clock: SimulatedClock) -> Store:
    """
    A US store (recovery email allowed under the opt-out model) on the shipped flows, a month
    old. Tests with a store of their own define `shop` themselves.
    """
    store = Store(
        id=new_id("st"),
        name="Fake Shop",
        platform=Platform.CUSTOM,
        domains=("shop.example.com",),
        currency="USD",
        timezone="America/New_York",
        country="US",
        abandon_after=timedelta(minutes=30),
        created_at=clock.now() - timedelta(days=30),
        updated_at=clock.now() - timedelta(days=30),
    )
    database.stores[store.id] = store
    return store
