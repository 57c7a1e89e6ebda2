"""
Clocks: the system's, and a simulated one the demo and tests move by hand.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from cartback.domain.time import check_aware


class SystemClock:
    """
    The real time, in UTC.
    """

    def now(self) -> datetime:
        """
        The current instant.
        """
        return datetime.now(UTC)


class SimulatedClock:
    """
    Time that moves only when told to; safe to share between threads.
    """

    def __init__(self, start: datetime) -> None:
        check_aware(start, "start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """
        The simulated instant.
        """
        with self._lock:
            return self._now

    def advance(self, by: timedelta) -> datetime:
        """
        Move time forward and return the new instant.
        """
        if by < timedelta(0):
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += by
            return self._now

    def set(self, moment: datetime) -> None:
        """
        Jump to a later instant.
        """
        check_aware(moment, "moment")
        with self._lock:
            if moment < self._now:
                raise ValueError("a clock does not go backwards")
            self._now = moment
