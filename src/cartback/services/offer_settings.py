"""
A store's offer settings: the defaults every offer of its flows falls back on. Changed by the
merchant (`cartback offers configure`, `PUT /v1/settings/offers`), read by the offer service
through `offer_rules(store)`.

Kept in the store's settings document:

    {"offers": {"expires_in": 172800, "max_per_contact": 2, "margin_floor": "0.25",
                "prefix": "CB-"}}

`expires_in` is in seconds; `margin_floor` a fraction of the discounted total, as a decimal
string. A key left out (or set back with None) takes its default (`domain.offers.OfferRules`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog

from cartback.domain.durations import format_duration
from cartback.domain.errors import NotFound
from cartback.domain.offers import PREFIX, OfferRules
from cartback.domain.ports import UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services._settings import checked_changes, checked_duration, save_section

log = structlog.get_logger(__name__)

#: The key of the section in the store's settings.
SECTION = "offers"
#: A code must live long enough for a shopper to come back, and not for a season.
MIN_EXPIRES_IN = timedelta(hours=1)
MAX_EXPIRES_IN = timedelta(days=90)
MAX_PER_CONTACT = 1000


def offer_rules(store: Store) -> OfferRules:
    """
    The store's offer rules, defaults where the merchant chose nothing (a stored value that no
    longer validates is ignored, never fatal to a send).
    """
    section = store.settings.get(SECTION)
    if not isinstance(section, dict):
        return OfferRules()
    values: dict[str, Any] = {}
    for name, value in section.items():
        check = _CHECKS.get(name)
        if check is None or value is None:
            continue
        try:
            values[name] = check(value)
        except (ValueError, TypeError):
            continue
    return OfferRules(**values)


def read_offer_settings(*, uow: UnitOfWork, store_id: str) -> OfferRules:
    """
    `offer_rules` of a store read now.

    Raises:
        NotFound: no such store.
    """
    with uow:
        store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    return offer_rules(store)


def configure_offers(*, uow: UnitOfWork, clock: Clock, store_id: str, **changes: Any) -> OfferRules:
    """
    Change some offer settings: each key given is set, None puts it back to its default; keys
    not given keep their value. Every bad field is reported, and nothing changes then.

    Args:
        changes: `expires_in` (a timedelta, seconds or a duration like `48h`),
            `max_per_contact` (1 to 1000), `margin_floor` (a fraction from 0 to below 1),
            `prefix` (up to 8 of A-Z and 2-9, optionally ending in `-`; `""` for none).

    Raises:
        InvalidInput: no change, an unknown key or a bad value (with every field's error).
        NotFound: no such store.
    """
    checked = checked_changes(changes, _CHECKS, section="offer")
    store = save_section(
        uow=uow,
        clock=clock,
        store_id=store_id,
        section=SECTION,
        checked=checked,
        stored=_stored,
    )
    log.info("offers.configured", store_id=store_id, fields=sorted(checked))
    return offer_rules(store)


def rules_json(rules: OfferRules) -> dict[str, Any]:
    """
    The settings as the API and the CLI show them (`expires_in` in seconds, and as written in
    flow files; the floor as a decimal string).
    """
    return {
        "expires_in": int(rules.expires_in.total_seconds()),
        "expires_in_text": format_duration(rules.expires_in),
        "max_per_contact": rules.max_per_contact,
        "margin_floor": None if rules.margin_floor is None else str(rules.margin_floor),
        "prefix": rules.prefix,
        "window": int(rules.window.total_seconds()),
    }


def _expires_in(value: Any) -> timedelta:
    return checked_duration(value, low=MIN_EXPIRES_IN, high=MAX_EXPIRES_IN, example="48h")


def _max_per_contact(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PER_CONTACT:
        raise ValueError(f"must be a whole number from 1 to {MAX_PER_CONTACT}")
    return value


def _margin_floor(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be a fraction such as 0.25")
    try:
        # Through str: a float from JSON (0.25) means its decimal text, not its binary value.
        floor = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not floor.is_finite() or not 0 <= floor < 1:
        raise ValueError("must be a fraction from 0 to below 1, such as 0.25")
    return floor


def _prefix(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    # Codes compare upper-cased (what shoppers type), so a prefix is kept that way.
    prefix = value.strip().upper()
    if not PREFIX.fullmatch(prefix):
        raise ValueError(
            f"{value!r}: up to 8 letters or digits 2-9 (no 0 or 1), optionally ending in -"
        )
    return prefix


def _stored(value: Any) -> Any:
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, Decimal):
        return str(value)
    return value


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "expires_in": _expires_in,
    "max_per_contact": _max_per_contact,
    "margin_floor": _margin_floor,
    "prefix": _prefix,
}

#: The settings a merchant may set.
FIELDS = tuple(_CHECKS)
