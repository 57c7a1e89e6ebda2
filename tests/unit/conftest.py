"""
Unit-test fixtures: the in-memory database and units of work from `tests/fakes.py`.
"""

from __future__ import annotations

import pytest

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
