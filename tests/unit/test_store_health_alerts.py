"""
Store health alerts: the "longer than usual" rule on hand-made arrival histories, and the
check that opens an alert once, announces it to webhooks, and resolves it when arrivals resume.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cartback.domain.health import (
    FLOOR,
    AlertKind,
    Arrivals,
    OpenAlert,
    ResolveAlert,
    StoreAlert,
    decide,
    usual_silence,
)
from cartback.domain.stores import Store
from cartback.domain.webhooks import EventType, WebhookEndpoint
from cartback.engine.clock import SimulatedClock
from cartback.services.health import check_health, open_alerts
from fakes import FakeDatabase, FakeUnitOfWorkFactory
from webhook_fakes import at


def _hours(*offsets: float) -> tuple[datetime, ...]:
    return tuple(at(h) for h in offsets)


def test_usual_silence_is_three_times_the_longest_gap() -> None:
    """
    Arrivals every hour except three empty hours: 9 hours is still usual.
    """
    assert timedelta(hours=9) == usual_silence(_hours(0, 1, 2, 6, 7, 8))


def test_usual_silence_has_a_floor() -> None:
    """
    A busy store (every hour) may still be quiet for `FLOOR`.
    """
    assert FLOOR == usual_silence(_hours(*range(48)))


def test_too_little_history_means_no_rule() -> None:
    """
    A store with arrivals in fewer than three hours (new, or no traffic) gets no alert.
    """
    assert usual_silence(_hours(0, 1)) is None
    quiet = Arrivals(hours=_hours(0, 1), last_at=at(1))
    assert decide(AlertKind.EVENTS_STOPPED, quiet, None, now=at(500)) is None
    never = Arrivals(hours=(), last_at=None)
    assert decide(AlertKind.ORDERS_STOPPED, never, None, now=at(500)) is None


def test_a_silence_longer_than_usual_opens_an_alert() -> None:
    """
    Hourly events, then nothing for 3 hours (the floor is 2 h): an alert with the numbers.
    """
    arrivals = Arrivals(hours=_hours(*range(24)), last_at=at(23.5))
    assert decide(AlertKind.EVENTS_STOPPED, arrivals, None, now=at(25)) is None
    decision = decide(AlertKind.EVENTS_STOPPED, arrivals, None, now=at(26.5))
    assert OpenAlert(detail="no events for 3h (usually at most 2h)") == decision


def test_an_open_alert_resolves_when_arrivals_resume() -> None:
    """
    Resolved by an arrival after it opened; kept while the silence goes on.
    """
    alert = StoreAlert(
        id=1, store_id="st_1", kind=AlertKind.ORDERS_STOPPED, detail="…", started_at=at(30)
    )
    still = Arrivals(hours=_hours(*range(24)), last_at=at(23))
    back = Arrivals(hours=_hours(*range(24), 31), last_at=at(31))
    assert decide(AlertKind.ORDERS_STOPPED, still, alert, now=at(40)) is None
    assert ResolveAlert() == decide(AlertKind.ORDERS_STOPPED, back, alert, now=at(40))


@pytest.fixture
def quiet_shop(database: FakeDatabase, shop: Store, clock: SimulatedClock) -> Store:
    """
    The shop with hourly events for a day, the last three hours ago, and no orders ever.
    """
    now = clock.now()
    database.webhooks.arrivals[(shop.id, AlertKind.EVENTS_STOPPED)] = [
        now - timedelta(hours=27 - h) for h in range(25)
    ]
    return shop


def test_the_check_opens_one_alert_and_announces_it(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    quiet_shop: Store,
) -> None:
    """
    Opened once (a second check changes nothing), `store.alert` queued for a listening
    endpoint, nothing about orders (the store never had any).
    """
    # given
    database.webhooks.endpoints["we_1"] = WebhookEndpoint(
        id="we_1",
        store_id=quiet_shop.id,
        url="https://hooks.example.com/",
        event_types=(EventType.STORE_ALERT,),
        sealed_secret="sealed",
        enabled=True,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    # when
    first = check_health(uow_factory=uow_factory, clock=clock)
    second = check_health(uow_factory=uow_factory, clock=clock)
    # then
    assert [AlertKind.EVENTS_STOPPED] == [a.kind for a in first.opened]
    assert ([], 1) == (second.opened, len(second.open_now))
    (alert,) = open_alerts(uow_factory(), quiet_shop.id)
    assert alert.detail.startswith("no events for 3h")
    (delivery,) = database.webhooks.deliveries.values()
    assert ("store.alert", "opened", "events_stopped") == (
        delivery.event_type,
        delivery.payload["data"]["state"],
        delivery.payload["data"]["kind"],
    )


def test_the_check_resolves_the_alert_when_events_arrive_again(
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    quiet_shop: Store,
) -> None:
    """
    An event after the alert opened resolves it; the banner list is empty again.
    """
    check_health(uow_factory=uow_factory, clock=clock)
    clock.advance(timedelta(minutes=10))
    database.webhooks.arrivals[(quiet_shop.id, AlertKind.EVENTS_STOPPED)].append(clock.now())
    clock.advance(timedelta(minutes=5))
    report = check_health(uow_factory=uow_factory, clock=clock)
    assert [AlertKind.EVENTS_STOPPED] == [a.kind for a in report.resolved]
    assert [] == open_alerts(uow_factory(), quiet_shop.id)
