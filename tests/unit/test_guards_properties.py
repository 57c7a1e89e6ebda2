"""
Properties of the guards: no SMS outside the configured and legal windows in any zone, at any
instant of 2025-2027 (DST changes included); frequency-cap deferral never loses a touch nor
breaks the cap. `CARTBACK_FULL_PROPERTIES=1` runs many more examples.
"""

from __future__ import annotations

import os
import zoneinfo
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartback.domain.consent import Basis, Channel, Permission
from cartback.domain.guards import (
    Defer,
    FrequencyCap,
    GuardPolicy,
    Locality,
    Send,
    Skip,
    TouchContext,
    decide,
)
from cartback.domain.quiet_hours import DailyWindow
from cartback.domain.reasons import Reason
from cartback.domain.us_area_codes import STRICT_STATE_AREA_CODES

FULL = os.environ.get("CARTBACK_FULL_PROPERTIES") == "1"
EXAMPLES = settings(
    max_examples=5000 if FULL else 300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ZONES = sorted(zoneinfo.available_timezones())
#: The law as row 55 states it, written out again here (not imported) so a wrong table fails:
#: (first hour, last hour) per weekday, Monday first; `None` is no texts that day.
LAW: dict[str | None, list[tuple[int, int] | None]] = {
    "federal": [(8, 21)] * 7,
    "FL": [(8, 20)] * 7,
    "MD": [(8, 20)] * 7,
    "MS": [(8, 20)] * 7,
    "NJ": [(8, 20)] * 7,
    "OK": [(8, 20)] * 7,
    "CT": [(9, 20)] * 7,
    "TX": [(9, 21)] * 6 + [(12, 21)],
    "RI": [(9, 18)] * 5 + [None, None],
}
STATES: list[str | None] = [*sorted(set(STRICT_STATE_AREA_CODES.values())), "NY", "CA", None]

instants = st.datetimes(
    min_value=datetime(2025, 1, 1),  # noqa: DTZ001 - made aware by `timezones`
    max_value=datetime(2027, 12, 31, 23, 59),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@st.composite
def windows(draw: st.DrawFn) -> DailyWindow:
    start = draw(st.integers(min_value=0, max_value=23 * 60 + 58))
    end = draw(st.integers(min_value=start + 1, max_value=24 * 60 - 1))
    return DailyWindow(start=time(*divmod(start, 60)), end=time(*divmod(end, 60)))


def within_law(instant: datetime, zone: ZoneInfo, state: str | None) -> bool:
    local = instant.astimezone(zone)
    if state is None:  # a US number of unknown state: every state's law at once
        rules = list(LAW.values())
    else:
        rules = [LAW["federal"]] + ([LAW[state]] if state in LAW else [])
    for week in rules:
        hours = week[local.weekday()]
        if hours is None or not time(hours[0]) <= local.time() < time(hours[1]):
            return False
    return True


def inside(instant: datetime, zones: list[str], state: str | None, window: DailyWindow) -> bool:
    return all(
        window.start <= instant.astimezone(ZoneInfo(z)).time() < window.end
        and within_law(instant, ZoneInfo(z), state)
        for z in zones
    )


def sms(zones: list[str], state: str | None, window: DailyWindow) -> TouchContext:
    return TouchContext(
        channel=Channel.SMS,
        permission=Permission(allowed=True, basis=Basis.CONSENT),
        locality=Locality(store_zone="UTC", phone_zones=tuple(zones), country="US", us_state=state),
        policy=GuardPolicy(quiet_hours={Channel.SMS: window}, frequency_cap=None),
    )


@EXAMPLES
@given(
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True),
    state=st.sampled_from(STATES),
    window=st.one_of(st.just(DailyWindow.parse("09:00-20:00")), windows()),
    now=instants,
)
def test_no_sms_is_ever_sent_or_deferred_outside_the_windows(
    zones: list[str], state: str | None, window: DailyWindow, now: datetime
) -> None:
    """
    Any zones, state, configured window and instant: a `Send` only inside both windows in every
    zone, a `Defer` to a later moment inside them, a `Skip` only when they never meet.
    """
    # when
    decision = decide(sms(zones, state, window), now)
    # then
    if isinstance(decision, Send):
        assert inside(now, zones, state, window)
    elif isinstance(decision, Defer):
        assert Reason.QUIET_HOURS == decision.reason
        assert decision.until > now
        assert inside(decision.until, zones, state, window)
        assert not inside(decision.until - timedelta(seconds=1), zones, state, window) or (
            decision.until - now <= timedelta(seconds=1)
        )
    else:
        assert Skip(reason=Reason.QUIET_HOURS) == decision
        assert not inside(now, zones, state, window)


DST_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Anchorage",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Beirut",
    "America/Havana",
)


#: Instants within an hour of DST changes in zones that have them, where off-by-an-hour hides.
def _transitions() -> list[tuple[str, datetime]]:
    found = []
    for name in DST_ZONES:
        zone, at = ZoneInfo(name), datetime(2025, 1, 1, tzinfo=UTC)
        while at.year < 2028:
            nxt = at + timedelta(hours=1)
            if at.astimezone(zone).utcoffset() != nxt.astimezone(zone).utcoffset():
                found.append((name, nxt))
            at = nxt
    return found


TRANSITIONS = _transitions()


@EXAMPLES
@given(
    transition=st.sampled_from(TRANSITIONS),
    offset=st.integers(min_value=-26 * 3600, max_value=26 * 3600),
    state=st.sampled_from(STATES),
    window=st.one_of(st.just(DailyWindow.parse("09:00-20:00")), windows()),
)
def test_dst_changes_never_let_an_sms_out_of_the_window(
    transition: tuple[str, datetime], offset: int, state: str | None, window: DailyWindow
) -> None:
    """
    Around every DST change of 2025-2027 in zones that shift at 0:00, 2:00 or by 30 min.
    """
    zone, at = transition
    now = at + timedelta(seconds=offset)
    decision = decide(sms([zone], state, window), now)
    if isinstance(decision, Send):
        assert inside(now, [zone], state, window)
    elif isinstance(decision, Defer):
        assert decision.until > now
        assert inside(decision.until, [zone], state, window)


@EXAMPLES
@given(
    dues=st.lists(st.integers(min_value=0, max_value=7 * 24 * 60), min_size=1, max_size=12),
    messages=st.integers(min_value=1, max_value=4),
    hours=st.integers(min_value=1, max_value=48),
    channels=st.lists(st.sampled_from(list(Channel)), min_size=12, max_size=12),
)
def test_frequency_cap_deferral_never_loses_a_touch_nor_breaks_the_cap(
    dues: list[int], messages: int, hours: int, channels: list[Channel]
) -> None:
    """
    A simulated worker runs the guards at each due time and re-queues deferrals: every touch
    is eventually sent, and no window of the cap's length ever holds more than the cap.
    """
    # given
    start = datetime(2026, 11, 27, tzinfo=UTC)
    cap = FrequencyCap(messages=messages, per=timedelta(hours=hours))
    base = replace(
        sms(["America/New_York"], "NY", DailyWindow.parse("09:00-20:00")),
        policy=GuardPolicy(frequency_cap=cap),
    )
    queue = sorted((start + timedelta(minutes=m), i) for i, m in enumerate(dues))
    sent: list[datetime] = []
    # when
    for _ in range(1000):
        if not queue:
            break
        due, i = queue.pop(0)
        decision = decide(replace(base, channel=channels[i], recent_sends=tuple(sent)), due)
        if isinstance(decision, Send):
            sent.append(due)
        else:
            assert isinstance(decision, Defer)
            assert decision.until > due
            queue = sorted([*queue, (decision.until, i)])
    # then
    assert len(dues) == len(sent)
    for first in sent:
        assert messages >= sum(first <= other < first + cap.per for other in sent)
