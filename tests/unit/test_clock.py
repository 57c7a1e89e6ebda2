"""
Clocks (`engine/clock.py`) and the timezone rule (`domain/time.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cartback.domain.time import check_aware, to_utc
from cartback.engine.clock import SimulatedClock, SystemClock

START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
NAIVE = datetime(2026, 11, 27, 10, 0)  # noqa: DTZ001 - the point of these tests


def test_a_simulated_clock_starts_where_it_is_told() -> None:
    """
    The clock reads its start until moved.
    """
    # given
    clock = SimulatedClock(START)
    # when
    now = clock.now()
    # then
    assert START == now


def test_advancing_moves_time_and_returns_the_new_instant() -> None:
    """
    `advance` moves the clock forward and returns where it is now.
    """
    # given
    clock = SimulatedClock(START)
    # when
    returned = clock.advance(timedelta(minutes=31))
    # then
    assert (START + timedelta(minutes=31), returned) == (clock.now(), returned)


def test_advancing_by_nothing_is_allowed() -> None:
    """
    A zero step leaves the clock where it was.
    """
    # given
    clock = SimulatedClock(START)
    # when
    clock.advance(timedelta(0))
    # then
    assert START == clock.now()


def test_a_simulated_clock_does_not_go_backwards_by_advance() -> None:
    """
    A negative step is refused and the time is unchanged.
    """
    # given
    clock = SimulatedClock(START)
    # when
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(timedelta(seconds=-1))
    # then
    assert START == clock.now()


def test_setting_jumps_to_a_later_instant() -> None:
    """
    `set` jumps forward to the given instant.
    """
    # given
    clock = SimulatedClock(START)
    later = START + timedelta(days=3)
    # when
    clock.set(later)
    # then
    assert later == clock.now()


def test_a_simulated_clock_does_not_go_backwards_by_set() -> None:
    """
    Setting an earlier instant is refused.
    """
    # given
    clock = SimulatedClock(START)
    # when / then
    with pytest.raises(ValueError, match="backwards"):
        clock.set(START - timedelta(seconds=1))


def test_a_simulated_clock_refuses_a_naive_start() -> None:
    """
    The start must carry a timezone.
    """
    # given / when / then
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedClock(NAIVE)


def test_a_simulated_clock_refuses_a_naive_jump() -> None:
    """
    A jump target must carry a timezone.
    """
    # given
    clock = SimulatedClock(START)
    # when / then
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(NAIVE)


def test_the_system_clock_is_timezone_aware_utc() -> None:
    """
    The real clock answers in UTC.
    """
    # given
    clock = SystemClock()
    # when
    now = clock.now()
    # then
    assert timedelta(0) == now.utcoffset()


@pytest.mark.parametrize(
    "value",
    [START, datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5))), None],
    ids=["utc", "minus-five", "none"],
)
def test_check_aware_accepts_aware_times_and_none(value: datetime | None) -> None:
    """
    Aware datetimes and missing values pass the check.
    """
    # given / when / then: no error
    check_aware(value, "value")


def test_check_aware_refuses_naive_times_naming_the_field() -> None:
    """
    A naive datetime is refused with the field's name in the message.
    """
    # given / when / then
    with pytest.raises(ValueError, match="occurred_at must be timezone-aware"):
        check_aware(NAIVE, "occurred_at")


def test_to_utc_keeps_the_instant() -> None:
    """
    The same instant, expressed in UTC.
    """
    # given
    berlin_winter = datetime(2026, 11, 27, 11, 0, tzinfo=timezone(timedelta(hours=1)))
    # when
    converted = to_utc(berlin_winter)
    # then
    assert (START, UTC) == (converted, converted.tzinfo)


def test_to_utc_refuses_naive_times() -> None:
    """
    A naive datetime has no instant to convert.
    """
    # given / when / then
    with pytest.raises(ValueError, match="timezone-aware"):
        to_utc(NAIVE)
