"""
A store's message settings: what its emails say about the store beyond the cart. Changed by
the merchant (`cartback messages configure`, `PUT /v1/settings/messages`), read by the renderer
and the dispatcher through `message_settings(store)`.

Kept in the store's settings document:

    {"messages": {"locale": "de-DE", "postal_address": "Shop GmbH\\nHauptstr. 1\\n10115 Berlin",
     "support_email": "help@shop.example", "returns_summary": "30 days, free",
     "returns_url": "https://shop.example/returns", "payment_options": ["Visa", "PayPal"],
     "shipping": [{"country": "DE", "cost": "4.90", "free_over": "50", "min_days": 1,
                   "max_days": 3}, {"country": "*", "cost": "9.90", ...}],
     "logo_url": "https://shop.example/logo.png", "brand_color": "#0a7c59"}}

Shipping costs are in the store's currency. `free_over` makes shipping free from that cart
total on (with `cost` below it, or no cost named).

`restore_link_expiry` (how long a message's restore and short links work, `30d` unless set) is
set here too, but kept apart, as seconds, in `{"links": {"restore_expires_in": 2592000}}`: it
belongs to the links, which read it with `restore_link_expiry(store)`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import structlog

from cartback.domain.capture import canonical_locale
from cartback.domain.durations import format_duration, parse_duration
from cartback.domain.errors import NotFound
from cartback.domain.ports import UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.normalise import normalise_email
from cartback.services._formatting import is_known_locale
from cartback.services._settings import checked_changes, merge_section

log = structlog.get_logger(__name__)

#: The key of the section in the store's settings.
SECTION = "messages"
#: The links' section, and its key for the restore links' lifetime in seconds.
LINKS_SECTION = "links"
RESTORE_EXPIRES_IN = "restore_expires_in"
#: The setting's name in the API and the CLI (a duration such as `30d`).
RESTORE_LINK_EXPIRY = "restore_link_expiry"
DEFAULT_RESTORE_LINK_EXPIRY = timedelta(days=30)
#: A link must outlive the sequence's waits a little, and not live forever (a year at most).
MIN_RESTORE_LINK_EXPIRY = timedelta(hours=1)
MAX_RESTORE_LINK_EXPIRY = timedelta(days=365)
DEFAULT_LOCALE = "en-US"
MAX_ADDRESS = 500
MAX_ADDRESS_LINES = 8
MAX_SUMMARY = 500
MAX_URL = 2000
MAX_PAYMENT_OPTIONS = 20
MAX_PAYMENT_OPTION = 40
MAX_SHIPPING_RATES = 100
MAX_DAYS = 365
MAX_AMOUNT = Decimal("1000000")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_COUNTRY = re.compile(r"[A-Z]{2}|\*")
_DAYS = re.compile(r"(\d{1,3})(?:\s*-\s*(\d{1,3}))?")


@dataclass(frozen=True, kw_only=True, slots=True)
class ShippingRate:
    """
    Shipping to one destination (ISO country code, or `*` for everywhere else): its cost, the
    cart total from which it is free, and the delivery estimate in days.
    """

    country: str
    cost: Decimal | None = None
    free_over: Decimal | None = None
    min_days: int | None = None
    max_days: int | None = None

    def to_json(self) -> dict[str, Any]:
        """
        The stored (and API) form; amounts as decimal strings.
        """
        return {
            "country": self.country,
            "cost": None if self.cost is None else str(self.cost),
            "free_over": None if self.free_over is None else str(self.free_over),
            "min_days": self.min_days,
            "max_days": self.max_days,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageSettings:
    """
    What a store's emails say about it: the message locale (babel tag), the postal address
    (CAN-SPAM), the support address, the returns policy, payment options, shipping table, logo
    and brand colour.
    """

    locale: str = DEFAULT_LOCALE
    postal_address: str | None = None
    support_email: str | None = None
    returns_summary: str | None = None
    returns_url: str | None = None
    payment_options: tuple[str, ...] = ()
    shipping: tuple[ShippingRate, ...] = field(default_factory=tuple)
    logo_url: str | None = None
    brand_color: str | None = None
    #: How long restore and short links work after the message went (kept in `links`).
    restore_link_expiry: timedelta = DEFAULT_RESTORE_LINK_EXPIRY

    def shipping_to(self, country: str | None) -> ShippingRate | None:
        """
        The rate for a destination country, else the `*` rate, else None.
        """
        wanted = (country or "").upper()
        exact = next((r for r in self.shipping if r.country == wanted), None)
        return exact or next((r for r in self.shipping if r.country == "*"), None)

    def to_json(self) -> dict[str, Any]:
        """
        The stored (and API) form.
        """
        return {
            "locale": self.locale,
            "postal_address": self.postal_address,
            "support_email": self.support_email,
            "returns_summary": self.returns_summary,
            "returns_url": self.returns_url,
            "payment_options": list(self.payment_options),
            "shipping": [rate.to_json() for rate in self.shipping],
            "logo_url": self.logo_url,
            "brand_color": self.brand_color,
            RESTORE_LINK_EXPIRY: format_duration(self.restore_link_expiry),
        }


def message_settings(store: Store) -> MessageSettings:
    """
    The store's message settings, defaults where the merchant chose nothing (a stored value
    that no longer validates is ignored, never fatal to a send).
    """
    section = store.settings.get(SECTION)
    values: dict[str, Any] = {RESTORE_LINK_EXPIRY: restore_link_expiry(store)}
    for name, value in section.items() if isinstance(section, dict) else ():
        check = _CHECKS.get(name)
        if check is None or value is None or name == RESTORE_LINK_EXPIRY:
            continue
        try:
            values[name] = check(value)
        except (ValueError, TypeError):
            continue
    return MessageSettings(**values)


def restore_link_expiry(store: Store) -> timedelta:
    """
    How long the store's restore and short links work after they were made (the default when
    unset, or when the stored value no longer validates).
    """
    section = store.settings.get(LINKS_SECTION)
    seconds = section.get(RESTORE_EXPIRES_IN) if isinstance(section, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        return DEFAULT_RESTORE_LINK_EXPIRY
    try:
        return _expiry(timedelta(seconds=seconds))
    except ValueError:
        return DEFAULT_RESTORE_LINK_EXPIRY


def read_message_settings(*, uow: UnitOfWork, store_id: str) -> MessageSettings:
    """
    `message_settings` of a store read now.

    Raises:
        NotFound: no such store.
    """
    with uow:
        store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    return message_settings(store)


def update_message_settings(
    *, uow: UnitOfWork, clock: Clock, store_id: str, changes: Mapping[str, Any]
) -> MessageSettings:
    """
    Change some message settings: each key given is set, None puts it back to its default;
    keys not given keep their value. Every bad field is reported, and nothing changes then.

    Raises:
        InvalidInput: no change, an unknown key or a bad value (with every field's error).
        NotFound: no such store.
    """
    checked = checked_changes(changes, _CHECKS, section="message")
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        settings = copy.deepcopy(store.settings)
        if RESTORE_LINK_EXPIRY in checked:
            _set_restore_link_expiry(settings, checked.pop(RESTORE_LINK_EXPIRY))
        merge_section(settings, SECTION, checked, _stored)
        store = replace(store, settings=settings, updated_at=clock.now())
        uow.stores.save(store)
        uow.commit()
    log.info("messages.configured", store_id=store_id, fields=sorted(changes))
    return message_settings(store)


def _set_restore_link_expiry(settings: dict[str, Any], value: timedelta | None) -> None:
    """
    Keep the links' lifetime in its own section, as seconds (None: back to the default).
    """
    section = settings.get(LINKS_SECTION)
    links = dict(section) if isinstance(section, dict) else {}
    if value is None:
        links.pop(RESTORE_EXPIRES_IN, None)
    else:
        links[RESTORE_EXPIRES_IN] = int(value.total_seconds())
    settings[LINKS_SECTION] = links


def parse_shipping(text: str) -> ShippingRate:
    """
    A shipping rate from the command line: `COUNTRY:COST[:DAYS]`, where COST is an amount,
    `free`, `free over 50` or `4.90 free over 50`, and DAYS `2-4` or `3`
    (`DE:4.90 free over 50:1-3`, `*:9.90:3-7`).

    Raises:
        ValueError: not in that form.
    """
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3):
        raise ValueError(f"{text!r}: write COUNTRY:COST[:DAYS], e.g. DE:4.90 free over 50:1-3")
    cost, free_over = _cost_words(parts[1])
    rate: dict[str, Any] = {"country": parts[0], "cost": cost, "free_over": free_over}
    if len(parts) == 3:
        days = _DAYS.fullmatch(parts[2])
        if days is None:
            raise ValueError(f"{parts[2]!r}: delivery days are N or N-M")
        rate["min_days"] = int(days.group(1))
        rate["max_days"] = int(days.group(2) or days.group(1))
    return _rate(rate, 0)


def _cost_words(words: str) -> tuple[str | None, str | None]:
    lowered = words.lower()
    before, _, over = lowered.partition("free over")
    cost = before.strip() or None
    if cost == "free":
        cost = "0"
    if not over and lowered.strip() == "free":
        return "0", None
    return cost, (over.strip() or None)


def _locale(value: Any) -> str:
    tag = canonical_locale(_text(value, 35))
    if not is_known_locale(tag):
        raise ValueError(f"{tag!r} is not a locale Cartback knows (e.g. en-US, de-DE)")
    return tag


def _address(value: Any) -> str:
    text = _text(value, MAX_ADDRESS)
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if len(lines) > MAX_ADDRESS_LINES:
        raise ValueError(f"at most {MAX_ADDRESS_LINES} lines")
    return "\n".join(lines)


def _email(value: Any) -> str:
    return normalise_email(_text(value, 320))


def _url(value: Any) -> str:
    text = _text(value, MAX_URL)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in text):
        raise ValueError("must be an absolute http(s) URL")
    return text


def _summary(value: Any) -> str:
    return _text(value, MAX_SUMMARY)


def _payment_options(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or len(value) > MAX_PAYMENT_OPTIONS:
        raise ValueError(f"must be a list of at most {MAX_PAYMENT_OPTIONS} names")
    return tuple(dict.fromkeys(_text(v, MAX_PAYMENT_OPTION) for v in value))


def _shipping(value: Any) -> tuple[ShippingRate, ...]:
    if not isinstance(value, list | tuple) or len(value) > MAX_SHIPPING_RATES:
        raise ValueError(f"must be a list of at most {MAX_SHIPPING_RATES} rates")
    rates = tuple(r if isinstance(r, ShippingRate) else _rate(r, i) for i, r in enumerate(value))
    countries = [r.country for r in rates]
    if len(set(countries)) != len(countries):
        raise ValueError("each country (and *) at most once")
    return rates


def _rate(raw: Any, index: int) -> ShippingRate:
    where = f"rate {index + 1}"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be an object with country, cost, free_over, days")
    unknown = set(raw) - {"country", "cost", "free_over", "min_days", "max_days"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    country = str(raw.get("country") or "").strip().upper()
    if not _COUNTRY.fullmatch(country):
        raise ValueError(f"{where}: country must be a two-letter ISO code or *")
    rate = ShippingRate(
        country=country,
        cost=_amount(raw.get("cost"), where),
        free_over=_amount(raw.get("free_over"), where),
        min_days=_days(raw.get("min_days"), where),
        max_days=_days(raw.get("max_days"), where),
    )
    if rate.cost is None and rate.free_over is None:
        raise ValueError(f"{where}: give a cost (0 for free) or free_over")
    if (rate.min_days is None) != (rate.max_days is None) or (
        rate.min_days is not None and rate.max_days is not None and rate.min_days > rate.max_days
    ):
        raise ValueError(f"{where}: min_days and max_days go together, min <= max")
    return rate


def _amount(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{where}: {value!r} is not an amount") from None
    if not amount.is_finite() or not Decimal(0) <= amount < MAX_AMOUNT:
        raise ValueError(f"{where}: amounts are between 0 and {MAX_AMOUNT}")
    return amount


def _days(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise ValueError(f"{where}: days are whole numbers from 0 to {MAX_DAYS}")
    return value


def _expiry(value: Any) -> timedelta:
    duration = value if isinstance(value, timedelta) else parse_duration(_text(value, 20))
    if not MIN_RESTORE_LINK_EXPIRY <= duration <= MAX_RESTORE_LINK_EXPIRY:
        low = format_duration(MIN_RESTORE_LINK_EXPIRY)
        raise ValueError(f"must be between {low} and {format_duration(MAX_RESTORE_LINK_EXPIRY)}")
    return duration


def _colour(value: Any) -> str:
    text = _text(value, 7)
    if not _COLOUR.fullmatch(text):
        raise ValueError("must be a colour as #rrggbb")
    return text.lower()


def _text(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = value.strip()
    if not text or len(text) > limit:
        raise ValueError(f"must be 1 to {limit} characters")
    if any(ord(c) < 32 and c not in "\n\r\t" for c in text):
        raise ValueError("must not contain control characters")
    return text


def _stored(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_stored(v) for v in value]
    if isinstance(value, ShippingRate):
        return value.to_json()
    return value


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "locale": _locale,
    "postal_address": _address,
    "support_email": _email,
    "returns_summary": _summary,
    "returns_url": _url,
    "payment_options": _payment_options,
    "shipping": _shipping,
    "logo_url": _url,
    "brand_color": _colour,
    RESTORE_LINK_EXPIRY: _expiry,
}

#: The settings a merchant may set.
FIELDS = tuple(_CHECKS)
