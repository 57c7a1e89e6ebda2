"""
Per-sender SMS rates (`performance-and-reliability.md` row 56): a US long code sends about one
segment a second, a toll-free number three, a short code a hundred. Carriers count a window,
not an average, so this is a sliding-window log rather than a token bucket (which would allow a
full bucket plus a second's refill, up to twice the rate, in one second).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cartback.domain.sliding_window import earliest_slot
from cartback.domain.sms_text import segments as text_segments
from cartback.domain.time import check_aware

ONE_SECOND = timedelta(seconds=1)


class SenderKind(StrEnum):
    """
    The kind of number a text is sent from.
    """

    LONG_CODE = "long_code"
    TOLL_FREE = "toll_free"
    SHORT_CODE = "short_code"


@dataclass(frozen=True, kw_only=True, slots=True)
class SendRate:
    """
    At most `segments` message segments per `per`.
    """

    segments: int
    per: timedelta = ONE_SECOND

    def __post_init__(self) -> None:
        if self.segments < 1:
            raise ValueError("a send rate allows at least one segment")
        if self.per <= timedelta(0):
            raise ValueError("a send rate's period must be longer than zero")


#: Defaults per sender kind; a store's settings may override them (10DLC tiers, for example).
DEFAULT_RATES: Mapping[SenderKind, SendRate] = {
    SenderKind.LONG_CODE: SendRate(segments=1),
    SenderKind.TOLL_FREE: SendRate(segments=3),
    SenderKind.SHORT_CODE: SendRate(segments=100),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class SenderLog:
    """
    The sends of one sender still inside the rate's period: the state the worker keeps.
    """

    sent: tuple[datetime, ...] = ()


def reserve(
    log: SenderLog, rate: SendRate, now: datetime, *, segments: int = 1
) -> tuple[datetime, SenderLog]:
    """
    When a message of `segments` segments may go (never before `now`), and the log with it.

    A message counts once per segment, all at its send time. Entries a period older than `now`
    are dropped from the returned log, so callers pass a `now` that never goes backwards.

    Raises:
        ValueError: more segments than the rate allows in a period, or a naive `now`.
    """
    check_aware(now, "now")
    if segments > rate.segments:
        raise ValueError(f"a {segments}-segment message exceeds the rate of {rate.segments}")
    at = earliest_slot(log.sent, limit=rate.segments, per=rate.per, at=now, weight=segments)
    kept = tuple(sent for sent in log.sent if sent > now - rate.per)
    return at, SenderLog(sent=(*kept, *(at,) * segments))


def sms_segments(text: str) -> int:
    """
    How many segments a text is sent as (`domain.sms_text.count_segments`): GSM-7 holds 160
    septets in one segment and 153 per segment when split; anything outside GSM-7 goes as
    UCS-2, 70 UTF-16 code units (67 when split, so an emoji takes two).
    """
    return text_segments(text)
