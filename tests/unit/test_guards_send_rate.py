"""
Per-sender SMS rates: the next allowed send time, on explicit times, never above the rate.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartback.domain.send_rate import (
    DEFAULT_RATES,
    SenderKind,
    SenderLog,
    SendRate,
    reserve,
    sms_segments,
)

T0 = datetime(2026, 11, 27, 12, tzinfo=UTC)
MS = timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (SenderKind.LONG_CODE, [T0, T0 + 1000 * MS, T0 + 2000 * MS, T0 + 3000 * MS]),
        (SenderKind.TOLL_FREE, [T0, T0, T0, T0 + 1000 * MS]),
    ],
)
def test_a_burst_is_spread_at_the_senders_rate(kind: SenderKind, expected: list[datetime]) -> None:
    """
    Four texts asked for at once: a long code sends one a second, toll-free three.
    """
    # given
    log, times = SenderLog(), []
    # when
    for _ in range(4):
        at, log = reserve(log, DEFAULT_RATES[kind], T0)
        times.append(at)
    # then
    assert expected == times


def test_a_multi_segment_message_uses_several_slots() -> None:
    """
    A two-segment text on toll-free leaves one slot in that second.
    """
    at, log = reserve(SenderLog(), DEFAULT_RATES[SenderKind.TOLL_FREE], T0, segments=2)
    second, _ = reserve(log, DEFAULT_RATES[SenderKind.TOLL_FREE], T0, segments=2)
    assert (T0, T0 + 1000 * MS) == (at, second)


def test_a_message_longer_than_the_rate_is_refused() -> None:
    """
    Two segments can never fit a one-per-second long code.
    """
    with pytest.raises(ValueError, match="exceeds"):
        reserve(SenderLog(), DEFAULT_RATES[SenderKind.LONG_CODE], T0, segments=2)


@settings(max_examples=2000 if os.environ.get("CARTBACK_FULL_PROPERTIES") == "1" else 200)
@given(
    rate=st.sampled_from([*DEFAULT_RATES.values(), SendRate(segments=4)]),
    gaps=st.lists(st.integers(min_value=0, max_value=1500), min_size=1, max_size=60),
    segments=st.lists(st.integers(min_value=1, max_value=3), min_size=60, max_size=60),
)
def test_no_one_second_window_ever_holds_more_than_the_rate(
    rate: SendRate, gaps: list[int], segments: list[int]
) -> None:
    """
    Whatever the arrival pattern: every send at or after its request, and at most N segments
    in any one-second window.
    """
    # given
    log, now, sent = SenderLog(), T0, []
    # when
    for gap, wanted in zip(gaps, segments, strict=False):
        now += gap * MS
        weight = min(wanted, rate.segments)
        at, log = reserve(log, rate, now, segments=weight)
        assert at >= now
        sent.extend([at] * weight)
    # then
    for first in sent:
        assert rate.segments >= sum(first <= other < first + rate.per for other in sent)


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # an extension character takes two septets
        ("€" * 81, 2),
        ("é" * 160, 1),  # é is in the GSM basic set
        ("ł" * 70, 1),  # ł is not: UCS-2, 70 per segment
        ("ł" * 71, 2),
        ("🛒" * 35, 1),  # an emoji is two UTF-16 units
        ("🛒" * 36, 2),
        ("", 1),
    ],
)
def test_sms_segments_follow_the_gsm_and_ucs2_limits(text: str, segments: int) -> None:
    """
    160/153 septets in GSM-7, 70/67 UTF-16 units otherwise.
    """
    # when / then
    assert segments == sms_segments(text)
