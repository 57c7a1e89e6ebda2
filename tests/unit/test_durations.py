"""
Durations as people write them (`domain/durations.py`): `45s`, `30m`, `1h30m`, `2d`, `1w`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartback.domain.durations import MAX_DURATION, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        (" 30M ", timedelta(minutes=30)),
        ("90m", timedelta(minutes=90)),
        ("3650d", MAX_DURATION),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    """
    Units combine, upper case and surrounding spaces are accepted.
    """
    # given / when
    parsed = parse_duration(text)
    # then
    assert expected == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30", "not a duration"),
        ("", "not a duration"),
        ("m", "not a duration"),
        ("1.5h", "not a duration"),
        ("-5m", "not a duration"),
        ("5 minutes", "not a duration"),
        ("5y", "not a duration"),
        ("0s", "longer than zero"),
        ("0h0m", "longer than zero"),
        ("3651d", "longer than ten years"),
        ("99999999999999999999w", "longer than ten years"),
    ],
)
def test_bad_durations_are_refused_with_a_reason(text: str, message: str) -> None:
    """
    Text that is not a positive duration of at most ten years is refused, saying why.
    """
    # given / when / then
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(minutes=90), "1h30m"),
        (timedelta(seconds=45), "45s"),
        (timedelta(days=14), "14d"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=-5), "0s"),
    ],
)
def test_durations_format_in_the_largest_units(value: timedelta, expected: str) -> None:
    """
    A duration is written in days, hours, minutes and seconds, largest first.
    """
    # given / when
    text = format_duration(value)
    # then
    assert expected == text


@settings(max_examples=200, deadline=None)
@given(seconds=st.integers(min_value=1, max_value=int(MAX_DURATION.total_seconds())))
def test_a_formatted_duration_parses_back_to_itself(seconds: int) -> None:
    """
    `parse_duration(format_duration(d)) == d` for every whole-second duration allowed.
    """
    # given
    value = timedelta(seconds=seconds)
    # when
    parsed = parse_duration(format_duration(value))
    # then
    assert value == parsed


def test_spaces_inside_a_duration_are_ignored() -> None:
    """
    `1h 30m` reads like `1h30m`.
    """
    # given / when
    value = parse_duration("1h 30m")
    # then
    assert timedelta(hours=1, minutes=30) == value
