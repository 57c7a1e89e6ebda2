"""
Time as data: the clock port and the rule that every datetime is timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """
    Where services and the worker read the time; the demo and tests pass a simulated one.
    """

    def now(self) -> datetime:
        """
        Return the current time, timezone-aware.
        """
        ...


def check_aware(value: datetime | None, name: str) -> None:
    """
    Refuse naive datetimes, which silently compare wrong across zones.

    Raises:
        ValueError: the value has no timezone.
    """
    # UTC first: nearly every value is, and the identity test is cheaper than the offset call.
    if value is not None and value.tzinfo is not UTC and value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def to_utc(value: datetime) -> datetime:
    """
    Return the same instant in UTC; naive values are refused.
    """
    check_aware(value, "datetime")
    return value.astimezone(UTC)
