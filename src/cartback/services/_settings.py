"""
Checking a change to one section of a store's settings: every value by its own check, every
error reported at once, nothing half-applied.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from cartback.domain.durations import format_duration, parse_duration
from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.ports import UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock


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


def save_section(
    *,
    uow: UnitOfWork,
    clock: Clock,
    store_id: str,
    section: str,
    checked: Mapping[str, Any],
    stored: Callable[[Any], Any],
) -> Store:
    """
    Merge checked changes into one section of the store's settings and save the store, in
    one transaction; the saved store.

    Raises:
        NotFound: no such store.
    """
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        settings = copy.deepcopy(store.settings)
        merge_section(settings, section, checked, stored)
        store = replace(store, settings=settings, updated_at=clock.now())
        uow.stores.save(store)
        uow.commit()
    return store


def checked_duration(value: Any, *, low: timedelta, high: timedelta, example: str) -> timedelta:
    """
    A duration setting: a timedelta, whole seconds, or text such as `example` (`48h`, `7d`),
    from `low` to `high`.

    Raises:
        ValueError: anything else, or out of range (the message says the range).
    """
    try:
        if isinstance(value, str):
            duration = parse_duration(value)
        elif isinstance(value, timedelta):
            duration = value
        elif isinstance(value, int) and not isinstance(value, bool):
            duration = timedelta(seconds=value)
        else:
            raise ValueError(f"must be seconds or a duration like {example}")
    except OverflowError:
        # More seconds than a timedelta holds: out of range like any other too-long value.
        duration = high + timedelta(seconds=1)
    if not low <= duration <= high:
        raise ValueError(f"must be from {format_duration(low)} to {format_duration(high)}")
    return duration
