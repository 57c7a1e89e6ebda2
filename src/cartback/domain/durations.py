"""
Durations as people write them in flow files and on the command line: `45s`, `30m`, `1h`, `2d`,
or combined (`1h30m`).
"""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"(?:\d+[smhdw])+")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: Longer than any sensible recovery window; keeps arithmetic far from datetime's limits.
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """
    Parse a duration such as `30m` or `1h30m`.

    Raises:
        ValueError: the text is not a duration, or is zero, or is longer than ten years.
    """
    compact = "".join(text.split()).lower()  # "1h 30m" reads as "1h30m"
    if not _WHOLE.fullmatch(compact):
        raise ValueError(f"{text!r} is not a duration; write it like 45s, 30m, 1h or 2d")
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(compact))
    if seconds == 0:
        raise ValueError("a duration must be longer than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is longer than ten years")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """
    Write a duration back the way `parse_duration` reads it (`90m` becomes `1h30m`).
    """
    remaining = int(value.total_seconds())
    if remaining <= 0:
        return "0s"
    parts: list[str] = []
    for unit in ("d", "h", "m", "s"):
        count, remaining = divmod(remaining, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
