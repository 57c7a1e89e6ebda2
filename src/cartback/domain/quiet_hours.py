"""
Quiet hours: the local times at which a recipient may be messaged, as weekly windows, and the
next allowed instant across every time zone the recipient might be in (DST-safe, zoneinfo).

The legal table is US law for marketing texts (`performance-and-reliability.md` row 55); see
`docs/guards.md` for its sources and limits. Windows are half-open: `09:00-20:00` allows 09:00:00
up to, not including, 20:00:00 local time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cartback.domain.time import check_aware

#: How far ahead the next allowed moment is searched; beyond it there is none (an empty window).
SEARCH_HORIZON = timedelta(days=15)


@dataclass(frozen=True, kw_only=True, slots=True)
class DailyWindow:
    """
    A same-day span of local wall-clock time, `start` included and `end` excluded.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("a daily window is local wall-clock time, without a zone")
        if not self.start < self.end:
            raise ValueError("a daily window must end after it starts, on the same day")

    @classmethod
    def parse(cls, text: str) -> DailyWindow:
        """
        Read a window as flow files write it: `09:00-20:00`.

        Raises:
            ValueError: not `HH:MM-HH:MM`, or the end is not after the start.
        """
        start, sep, end = text.strip().partition("-")
        if not sep:
            raise ValueError(f"{text!r} is not a window; write it like 09:00-20:00")
        return cls(start=time.fromisoformat(start.strip()), end=time.fromisoformat(end.strip()))

    def contains(self, wall: time) -> bool:
        return self.start <= wall < self.end

    def intersect(self, other: DailyWindow) -> DailyWindow | None:
        start, end = max(self.start, other.start), min(self.end, other.end)
        return DailyWindow(start=start, end=end) if start < end else None


#: Seven entries, Monday first; `None` means no message at all that day.
Week = tuple[DailyWindow | None, ...]


def every_day(window: DailyWindow) -> Week:
    """
    The same window on all seven days.
    """
    return (window,) * 7


def _hours(start: int, end: int) -> DailyWindow:
    return DailyWindow(start=time(start), end=time(end))


def intersect_weeks(first: Week, second: Week) -> Week:
    """
    The days and hours both weeks allow.
    """
    return tuple(
        a.intersect(b) if a is not None and b is not None else None
        for a, b in zip(first, second, strict=True)
    )


#: TCPA (47 CFR 64.1200(c)(1)): 8 am to 9 pm at the called party's location.
US_FEDERAL: Week = every_day(_hours(8, 21))
_EIGHT_TO_EIGHT = every_day(_hours(8, 20))
#: State "mini-TCPA" windows that are stricter than the federal one (row 55). Rhode Island is
#: given only for weekdays in our reference, so weekends send nothing there.
US_STATES: Mapping[str, Week] = {
    "FL": _EIGHT_TO_EIGHT,
    "MD": _EIGHT_TO_EIGHT,
    "MS": _EIGHT_TO_EIGHT,
    "NJ": _EIGHT_TO_EIGHT,
    "OK": _EIGHT_TO_EIGHT,
    "CT": every_day(_hours(9, 20)),
    "TX": (_hours(9, 21),) * 6 + (_hours(12, 21),),
    "RI": (_hours(9, 18),) * 5 + (None, None),
}
#: Every US window at once: for a US number whose state we cannot tell.
US_STRICTEST: Week = reduce(intersect_weeks, US_STATES.values(), US_FEDERAL)
#: The US and the territories where the TCPA applies, as phone region codes.
US_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})


def legal_week(country: str | None, us_state: str | None) -> Week | None:
    """
    The legal window for marketing texts to a number, or `None` where we know no such law.

    A US number in a known state gets the federal window narrowed by the state's; a US number
    whose state is unknown, and a number whose country is unknown, get the strictest window.
    """
    if country is None or (country == "US" and us_state is None):
        return US_STRICTEST
    if country not in US_REGIONS:
        return None
    if country != "US" or us_state is None:
        return US_FEDERAL
    return intersect_weeks(US_FEDERAL, US_STATES.get(us_state, US_FEDERAL))


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """
    The IANA zone of that name, or `None` for a missing or unknown name (`Etc/Unknown`).
    """
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def resolve_zones(
    phone_zones: Sequence[str], address_zone: str | None, store_zone: str
) -> tuple[ZoneInfo, ...]:
    """
    Where the recipient may be: every zone of the phone number, else the address's, else the
    store's. The caller checks a window in all of them, which is the strictest reading.

    Raises:
        ValueError: the store's zone is not an IANA zone.
    """
    from_phone = tuple(z for z in map(zone_or_none, phone_zones) if z is not None)
    if from_phone:
        return from_phone
    address = zone_or_none(address_zone)
    if address is not None:
        return (address,)
    store = zone_or_none(store_zone)
    if store is None:
        raise ValueError(f"{store_zone!r} is not an IANA time zone")
    return (store,)


def allowed_in(instant: datetime, zone: ZoneInfo, week: Week) -> bool:
    """
    Whether `instant` falls inside the week's window for that day, in `zone`'s wall-clock time.
    """
    local = instant.astimezone(zone)
    window = week[local.weekday()]
    return window is not None and window.contains(local.time())


def allowed(instant: datetime, zones: Sequence[ZoneInfo], week: Week) -> bool:
    """
    Whether `instant` is inside the window in every one of `zones`.
    """
    check_aware(instant, "instant")
    return all(allowed_in(instant, zone, week) for zone in zones)


def next_allowed(
    instant: datetime, zones: Sequence[ZoneInfo], week: Week, *, horizon: timedelta = SEARCH_HORIZON
) -> datetime | None:
    """
    The earliest moment at or after `instant` inside the window in all `zones`, in UTC, or
    `None` when there is none within `horizon` (the zones' windows never overlap).

    Each round moves to the next opening of a zone that is closed; no common moment is skipped,
    since every zone is closed between the candidate and that zone's next opening.
    """
    check_aware(instant, "instant")
    candidate, limit = instant.astimezone(UTC), instant + horizon
    while candidate <= limit:
        closed = next((z for z in zones if not allowed_in(candidate, z, week)), None)
        if closed is None:
            return candidate
        opening = _next_opening(candidate, closed, week)
        if opening is None:
            return None
        candidate = opening
    return None


def _next_opening(instant: datetime, zone: ZoneInfo, week: Week) -> datetime | None:
    first_day = instant.astimezone(zone).date()
    for offset in range(9):
        day = first_day + timedelta(days=offset)
        window = week[day.weekday()]
        if window is None:
            continue
        found = [
            at
            for at in _instants_of(day, window.start, zone)
            if at >= instant and allowed_in(at, zone, week)
        ]
        if found:
            return min(found)
    return None


def _instants_of(day: date, wall: time, zone: ZoneInfo) -> Iterator[datetime]:
    """
    The instants a wall-clock time can mean on a day: one normally, two in a repeated hour
    (DST ends), and in a skipped hour (DST starts) the first instant after the jump.
    """
    naive = datetime.combine(day, wall)
    early, late = (naive.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    yield from (early, late)
    if early.astimezone(zone).replace(tzinfo=None) != naive:
        yield _first_reaching(min(early, late), max(early, late), naive, zone)


def _first_reaching(low: datetime, high: datetime, wall: datetime, zone: ZoneInfo) -> datetime:
    # Wall time only moves forward across a skipped hour, so bisect to the second.
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high
