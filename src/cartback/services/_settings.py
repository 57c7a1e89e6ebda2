"""
Checking a change to one section of a store's settings: every value by its own check, every
error reported at once, nothing half-applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cartback.domain.errors import FieldError, InvalidInput


def checked_changes(
    changes: Mapping[str, Any], checks: Mapping[str, Callable[[Any], Any]], *, section: str
) -> dict[str, Any]:
    """
    The changes with each value checked and normalised by `checks[name]` (None kept: back to
    the default).

    Raises:
        InvalidInput: no change, an unknown key or a bad value (with every field's error).
    """
    if not changes:
        raise InvalidInput("nothing to change; give at least one setting")
    errors: list[FieldError] = []
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        check = checks.get(name)
        if check is None:
            errors.append(FieldError(path=name, message="unknown setting"))
            continue
        try:
            checked[name] = None if value is None else check(value)
        except (ValueError, TypeError) as error:
            errors.append(FieldError(path=name, message=str(error)))
    if errors:
        raise InvalidInput(f"invalid {section} settings", errors=errors)
    return checked


def merge_section(
    settings: dict[str, Any],
    section: str,
    checked: Mapping[str, Any],
    stored: Callable[[Any], Any],
) -> None:
    """
    Write checked changes into `settings[section]` (a None value removes its key, so the
    default applies again), each value as `stored` keeps it in JSON.
    """
    current = settings.get(section)
    merged = dict(current) if isinstance(current, dict) else {}
    for name, value in checked.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = stored(value)
    settings[section] = merged
