"""
Peak-season mode end to end: the store's calendar stretches the waits of enrollments that
start on peak days, caps the touches sent per enrollment, and is set with `store update`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from test_recovery_engine import _parse, cart, leave_cart, messages, run, shop, worker

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services.stores import CreatedStore, StoreSettings, update_store

__all__ = ["shop", "worker"]  # fixtures shared with the recovery engine's tests


def _peak_today(
    container: Container, clock: SimulatedClock, store: CreatedStore, **options: object
) -> None:
    today = clock.now().date()
    days = f"{today - timedelta(days=1)}..{today + timedelta(days=10)}"
    update_store(
        uow=container.uow_factory(),
        clock=clock,
        store_id=store.store.id,
        settings=StoreSettings(peak_periods=days, **options),  # type: ignore[arg-type]
    )


def test_peak_days_stretch_the_waits_between_steps(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    container: Container,
    clock: SimulatedClock,
    worker: Worker,
) -> None:
    """
    A delay factor of 2: the steps due 1 h, 24 h and 72 h after the trigger on a normal day
    are due 2 h, 48 h and 144 h after it on peak days.
    """
    # given
    store = shop(timezone="UTC")
    _peak_today(container, clock, store, peak_delay_factor=2.0)
    leave_cart(client, store, clock)
    # when
    clock.advance(timedelta(minutes=31))
    run(worker)
    # then
    body = cart(client, store)
    trigger = _parse(body["abandoned_at"])
    due = [_parse(t["due_at"]) - trigger for t in body["touches"]]
    assert [timedelta(hours=h) for h in (2, 48, 144)] == due


def test_peak_touch_cap_skips_touches_beyond_it(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    container: Container,
    clock: SimulatedClock,
    worker: Worker,
) -> None:
    """
    At most one sent touch per enrollment on peak days: the first goes, the second is
    skipped `peak_season`.
    """
    # given
    store = shop(timezone="UTC")
    _peak_today(container, clock, store, peak_max_touches=1)
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when: both touches come due
    clock.advance(timedelta(hours=1))
    run(worker)
    clock.advance(timedelta(hours=23))
    run(worker)
    # then
    touches = cart(client, store)["touches"]
    assert [("sent", None), ("skipped", "peak_season")] == [
        (t["status"], t.get("reason")) for t in touches[:2]
    ]
    assert 1 == len(messages(client, store))


def test_without_peak_days_the_cap_does_not_apply(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    container: Container,
    clock: SimulatedClock,
    worker: Worker,
) -> None:
    """
    The same cap on a calendar whose days are all past: both touches go.
    """
    # given
    store = shop(timezone="UTC")
    update_store(
        uow=container.uow_factory(),
        clock=clock,
        store_id=store.store.id,
        settings=StoreSettings(peak_periods="2020-11-27..2020-11-30", peak_max_touches=1),
    )
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    # when
    clock.advance(timedelta(hours=1))
    run(worker)
    clock.advance(timedelta(hours=23))
    run(worker)
    # then
    assert ["sent", "sent"] == [t["status"] for t in cart(client, store)["touches"][:2]]
