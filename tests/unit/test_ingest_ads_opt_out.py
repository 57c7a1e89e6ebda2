"""
Global Privacy Control on the ingestion path, on in-memory fakes: the anonymous ids a request
names as opted out of ads get `ads_opt_out_at` on their visitors, once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from cartback.domain.ingest import Inbound, MessageKind
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.keys import SecretBox
from cartback.services.ingest import ingest
from cartback.services.stores import StoreSettings, create_store
from fakes import FakeDatabase, FakeUnitOfWorkFactory


@pytest.fixture
def shop(uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock) -> Store:
    """
    One store.
    """
    settings = StoreSettings(name="Fake Shop", platform="custom", domains=["shop.example.com"])
    box = SecretBox(["unit-test-secret"])
    return create_store(uow=uow_factory(), clock=clock, box=box, settings=settings).store


def _page(clock: SimulatedClock, anonymous_id: str) -> Inbound:
    return Inbound(
        source="segment",
        message_id=uuid.uuid4().hex,
        kind=MessageKind.PAGE,
        name=None,
        occurred_at=clock.now(),
        anonymous_id=anonymous_id,
    )


def _opted_out(database: FakeDatabase) -> dict[str, object]:
    return {v.anonymous_id: v.ads_opt_out_at for v in database.visitors.values()}


def test_only_the_named_visitors_are_marked(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store, database: FakeDatabase
) -> None:
    """
    In one batch, the GPC browser's visitor is marked and the other is not.
    """
    # when
    ingest(
        uow=uow_factory(),
        clock=clock,
        store_id=shop.id,
        messages=[_page(clock, "gpc"), _page(clock, "plain")],
        ads_opt_out={"gpc"},
    )
    # then
    assert {"gpc": clock.now(), "plain": None} == _opted_out(database)


def test_the_first_time_is_kept(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store, database: FakeDatabase
) -> None:
    """
    A later opted-out batch does not move the time.
    """
    # given
    first = clock.now()
    ingest(
        uow=uow_factory(),
        clock=clock,
        store_id=shop.id,
        messages=[_page(clock, "gpc")],
        ads_opt_out={"gpc"},
    )
    clock.advance(timedelta(days=1))
    # when
    ingest(
        uow=uow_factory(),
        clock=clock,
        store_id=shop.id,
        messages=[_page(clock, "gpc")],
        ads_opt_out={"gpc"},
    )
    # then
    assert {"gpc": first} == _opted_out(database)
