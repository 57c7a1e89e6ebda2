"""
A store's attribution windows: how long after a click, or after a send, an order is credited
to that touch in the report (`docs/metrics.md`). Changed by the merchant (`cartback
attribution configure`, `PUT /v1/settings/attribution`), read by the report through
`attribution_windows(store)`.

Kept in the store's settings document, in seconds:

    {"attribution": {"click_window": 604800, "send_window": 86400}}

A key left out (or set back with None) takes its default (`domain.reports`: 7 days after a
click, 1 day after a send).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog

from cartback.domain.durations import format_duration
from cartback.domain.errors import NotFound
from cartback.domain.ports import UnitOfWork
from cartback.domain.reports import AttributionWindows
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services._settings import checked_changes, checked_duration, save_section

log = structlog.get_logger(__name__)

#: The key of the section in the store's settings.
SECTION = "attribution"
#: A window shorter than an hour credits almost nothing; longer than 30 days credits orders
#: the message had nothing to do with (the over-claiming merchants complain of).
MIN_WINDOW = timedelta(hours=1)
MAX_WINDOW = timedelta(days=30)


def attribution_windows(store: Store) -> AttributionWindows:
    """
    The store's windows, defaults where the merchant chose nothing (a stored value that no
    longer validates is ignored).
    """
    section = store.settings.get(SECTION)
    if not isinstance(section, dict):
        return AttributionWindows()
    values: dict[str, timedelta] = {}
    for name, value in section.items():
        check = _CHECKS.get(name)
        if check is None or value is None:
            continue
        try:
            values[name.removesuffix("_window")] = check(value)
        except (ValueError, TypeError):
            continue
    return AttributionWindows(**values)


def read_attribution_settings(*, uow: UnitOfWork, store_id: str) -> AttributionWindows:
    """
    `attribution_windows` of a store read now.

    Raises:
        NotFound: no such store.
    """
    with uow:
        store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    return attribution_windows(store)


def configure_attribution(
    *, uow: UnitOfWork, clock: Clock, store_id: str, **changes: Any
) -> AttributionWindows:
    """
    Change the attribution windows: each key given is set, None puts it back to its default.

    Args:
        changes: `click_window`, `send_window`: a timedelta, seconds, or a duration (`7d`,
            `24h`), from 1 hour to 30 days.

    Raises:
        InvalidInput: no change, an unknown key or a bad value (with every field's error).
        NotFound: no such store.
    """
    checked = checked_changes(changes, _CHECKS, section="attribution")
    store = save_section(
        uow=uow,
        clock=clock,
        store_id=store_id,
        section=SECTION,
        checked=checked,
        stored=_seconds,
    )
    log.info("attribution.configured", store_id=store_id, fields=sorted(checked))
    return attribution_windows(store)


def windows_json(windows: AttributionWindows) -> dict[str, Any]:
    """
    The windows as the API, the CLI and the report show them: seconds, and as written.
    """
    return {
        "click_window": int(windows.click.total_seconds()),
        "click_window_text": format_duration(windows.click),
        "send_window": int(windows.send.total_seconds()),
        "send_window_text": format_duration(windows.send),
    }


def _window(value: Any) -> timedelta:
    return checked_duration(value, low=MIN_WINDOW, high=MAX_WINDOW, example="7d")


def _seconds(value: Any) -> Any:
    return int(value.total_seconds()) if isinstance(value, timedelta) else value


_CHECKS: dict[str, Callable[[Any], timedelta]] = {
    "click_window": _window,
    "send_window": _window,
}

#: The settings a merchant may set.
FIELDS = tuple(_CHECKS)
