"""
Creating and changing stores, and telling which store a key belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import structlog
from babel.numbers import list_currencies

from cartback.domain.cart import reschedule
from cartback.domain.consent import Region
from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.ports import UnitOfWork
from cartback.domain.schedule import parse_peak_periods
from cartback.domain.stores import (
    CONSENT_REGION,
    DEFAULT_ABANDON_AFTER,
    DEFAULT_RECOVERY_WINDOW,
    PEAK_SEASON,
    RETENTION_SECONDS,
    SMS_DOUBLE_OPT_IN,
    SOFT_OPT_IN,
    KeyKind,
    Platform,
    Principal,
    Store,
    peak_season_document,
    peak_season_from_document,
)
from cartback.domain.time import Clock
from cartback.kit.ids import new_id
from cartback.kit.keys import (
    SecretBox,
    digest_key,
    generate_key,
    generate_webhook_secret,
    shown_prefix,
)

log = structlog.get_logger(__name__)

_HOSTNAME = re.compile(r"(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")
_MIN_ABANDON_AFTER = timedelta(minutes=1)
_MAX_ABANDON_AFTER = timedelta(days=30)


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreSettings:
    """
    What a merchant sets on a store; None leaves a value as it is (on update).
    """

    name: str | None = None
    platform: str | None = None
    domains: Sequence[str] | None = None
    currency: str | None = None
    timezone: str | None = None
    country: str | None = None
    abandon_after: timedelta | None = None
    recovery_window: timedelta | None = None
    consent_region: str | None = None
    soft_opt_in: bool | None = None
    sms_double_opt_in: bool | None = None
    retention: timedelta | None = None
    #: Peak days as `FIRST..LAST` ISO date ranges, comma-separated; "" or "none" clears them.
    peak_periods: str | None = None
    peak_delay_factor: float | None = None
    #: At most this many sent touches per enrollment on peak days; 0 sends none, -1 no cap.
    peak_max_touches: int | None = None
    peak_pause_discounts: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CreatedStore:
    """
    A new store and its keys, shown this once and stored only as digests (the webhook secret
    sealed, since signatures must be checked with it).
    """

    store: Store
    secret_key: str
    public_key: str
    webhook_secret: str


def create_store(
    *, uow: UnitOfWork, clock: Clock, box: SecretBox, settings: StoreSettings
) -> CreatedStore:
    """
    Create a store with a server key, a public key and a webhook secret.

    Raises:
        InvalidInput: with every invalid field.
    """
    missing = [n for n in ("name", "platform", "domains") if not getattr(settings, n)]
    if missing:
        raise InvalidInput(
            "a store needs a name, a platform and a domain",
            errors=[FieldError(path=n, message="required") for n in missing],
        )
    now = clock.now()
    draft = Store(
        id=new_id("st"),
        name="",
        platform=Platform.CUSTOM,
        domains=(),
        currency="USD",
        timezone="UTC",
        abandon_after=DEFAULT_ABANDON_AFTER,
        recovery_window=DEFAULT_RECOVERY_WINDOW,
        created_at=now,
        updated_at=now,
    )
    store = _apply_settings(draft, settings)
    keys = {kind: generate_key(kind) for kind in KeyKind}
    webhook_secret = generate_webhook_secret()
    with uow:
        uow.stores.add(store)
        for kind, key in keys.items():
            uow.stores.add_key(
                store_id=store.id,
                kind=kind,
                prefix=shown_prefix(key),
                digest=digest_key(key),
                created_at=now,
            )
        uow.stores.add_webhook_secret(
            store_id=store.id, sealed=box.seal(webhook_secret), created_at=now
        )
        uow.commit()
    log.info("store.created", store_id=store.id, platform=store.platform.value)
    return CreatedStore(
        store=store,
        secret_key=keys[KeyKind.SECRET],
        public_key=keys[KeyKind.PUBLIC],
        webhook_secret=webhook_secret,
    )


def update_store(*, uow: UnitOfWork, clock: Clock, store_id: str, settings: StoreSettings) -> Store:
    """
    Change a store's settings. A new abandonment delay reschedules every active cart's timer.

    Raises:
        NotFound: no such store.
        InvalidInput: with every invalid field.
    """
    with uow:
        current = uow.stores.get(store_id)
        if current is None:
            raise NotFound(f"no store {store_id!r}")
        store = replace(_apply_settings(current, settings), updated_at=clock.now())
        uow.stores.save(store)
        if (store.abandon_after, store.recovery_window) != (
            current.abandon_after,
            current.recovery_window,
        ):
            carts = uow.carts.timed_for_store(store.id)
            moved = [replace(r, cart=reschedule(r.cart, policy=store.cart_policy)) for r in carts]
            uow.carts.save_states(moved, now=store.updated_at)
        uow.commit()
    log.info("store.updated", store_id=store.id)
    return store


def get_store(*, uow: UnitOfWork, store_id: str) -> Store:
    """
    Read one store.

    Raises:
        NotFound: no such store.
    """
    with uow:
        store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    return store


def authenticate(*, uow: UnitOfWork, key: str) -> Principal | None:
    """
    The store and key kind a key stands for, or None for an unknown or revoked key.
    """
    if not key.startswith((KeyKind.SECRET.prefix, KeyKind.PUBLIC.prefix)):
        return None
    with uow:
        found = uow.stores.find_key(digest_key(key))
        store = uow.stores.get(found[0]) if found else None
    if found is None or store is None:
        return None
    return Principal(store=store, kind=found[1])


def _apply_settings(store: Store, settings: StoreSettings) -> Store:
    errors: list[FieldError] = []
    values: dict[str, object] = {}
    for name, check in _CHECKS.items():
        raw = getattr(settings, name)
        if raw is None:
            continue
        try:
            values[name] = check(raw)
        except ValueError as error:
            errors.append(FieldError(path=name, message=str(error)))
    window = values.get("recovery_window", store.recovery_window)
    after = values.get("abandon_after", store.abandon_after)
    if isinstance(window, timedelta) and isinstance(after, timedelta) and window < after:
        errors.append(
            FieldError(path="recovery_window", message="must be at least the abandonment delay")
        )
    document = dict(store.settings)
    for name, (key, check) in _DOCUMENT_CHECKS.items():
        raw = getattr(settings, name)
        if raw is None:
            continue
        try:
            document[key] = check(raw)
        except ValueError as error:
            errors.append(FieldError(path=name, message=str(error)))
    zone = values.get("timezone", store.timezone)
    _apply_peak_season(document, settings, str(zone), errors)
    if errors:
        raise InvalidInput("invalid store settings", errors=errors)
    return replace(store, settings=document, **values)  # type: ignore[arg-type]


_PEAK_OPTIONS = ("peak_periods", "peak_delay_factor", "peak_max_touches", "peak_pause_discounts")


def _apply_peak_season(
    document: dict[str, object], settings: StoreSettings, zone: str, errors: list[FieldError]
) -> None:
    """
    Merge the peak-season options into the settings document; the periods "" or "none" turn
    peak-season mode off. An option other than the periods needs periods to apply to.
    """
    if all(getattr(settings, name) is None for name in _PEAK_OPTIONS):
        return
    current = document.get(PEAK_SEASON)
    merged: dict[str, Any] = dict(current) if isinstance(current, dict) else {}
    if settings.peak_periods is not None:
        text = settings.peak_periods.strip()
        if text.lower() in ("", "none"):
            document.pop(PEAK_SEASON, None)
            return
        try:
            periods = parse_peak_periods(text)
        except ValueError as error:
            errors.append(FieldError(path="peak_periods", message=str(error)))
            return
        merged["periods"] = [[p.first.isoformat(), p.last.isoformat()] for p in periods]
    if not merged.get("periods"):
        errors.append(
            FieldError(path="peak_periods", message="set the peak days before their options")
        )
        return
    if settings.peak_delay_factor is not None:
        merged["delay_factor"] = settings.peak_delay_factor
    if settings.peak_max_touches is not None:
        merged["max_touches"] = None if settings.peak_max_touches < 0 else settings.peak_max_touches
    if settings.peak_pause_discounts is not None:
        merged["pause_discounts"] = settings.peak_pause_discounts
    try:
        season = peak_season_from_document(merged, zone)
    except ValueError as error:
        errors.append(FieldError(path="peak_delay_factor", message=str(error)))
        return
    document[PEAK_SEASON] = peak_season_document(season)


def _name(value: str) -> str:
    cleaned = value.strip()
    if not 1 <= len(cleaned) <= 200:
        raise ValueError("must be 1 to 200 characters")
    return cleaned


def _platform(value: str) -> Platform:
    try:
        return Platform(value.strip().lower())
    except ValueError:
        raise ValueError(f"must be one of {', '.join(p.value for p in Platform)}") from None


def _domains(values: Sequence[str]) -> tuple[str, ...]:
    cleaned: list[str] = []
    for raw in values:
        for part in raw.split(","):
            host = re.sub(r"^https?://", "", part.strip().lower()).split("/")[0].split(":")[0]
            if not host:
                continue
            if not _HOSTNAME.fullmatch(host):
                raise ValueError(f"{part.strip()!r} is not a domain name")
            cleaned.append(host)
    if not cleaned:
        raise ValueError("at least one domain is required")
    return tuple(dict.fromkeys(cleaned))


def _currency(value: str) -> str:
    code = value.strip().upper()
    if code not in list_currencies():
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


def _timezone(value: str) -> str:
    name = value.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin") from None
    if name not in _zone_names() and name != "UTC":
        raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin")
    return name


@cache
def _zone_names() -> frozenset[str]:
    # `available_timezones()` walks the time zone database's files on every call.
    return frozenset(available_timezones())


def _country(value: str) -> str:
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise ValueError("must be a two-letter ISO 3166 country code")
    return code


def _abandon_after(value: timedelta) -> timedelta:
    if not _MIN_ABANDON_AFTER <= value <= _MAX_ABANDON_AFTER:
        raise ValueError("must be between 1m and 30d")
    return value


def _recovery_window(value: timedelta) -> timedelta:
    if not timedelta(hours=1) <= value <= timedelta(days=90):
        raise ValueError("must be between 1h and 90d")
    return value


_CHECKS: dict[str, Callable[[Any], object]] = {
    "name": _name,
    "platform": _platform,
    "domains": _domains,
    "currency": _currency,
    "timezone": _timezone,
    "country": _country,
    "abandon_after": _abandon_after,
    "recovery_window": _recovery_window,
}


def _consent_region(value: str) -> str:
    try:
        return Region(value.strip().lower()).value
    except ValueError:
        raise ValueError(f"must be one of {', '.join(r.value for r in Region)}") from None


def _retention(value: timedelta) -> int:
    if not timedelta(days=1) <= value <= timedelta(days=3650):
        raise ValueError("must be between 1d and 3650d")
    return int(value.total_seconds())


def _flag(value: bool) -> bool:
    return bool(value)


#: Settings kept in the store's settings document: option name → (document key, check).
_DOCUMENT_CHECKS: dict[str, tuple[str, Callable[[Any], object]]] = {
    "consent_region": (CONSENT_REGION, _consent_region),
    "soft_opt_in": (SOFT_OPT_IN, _flag),
    "sms_double_opt_in": (SMS_DOUBLE_OPT_IN, _flag),
    "retention": (RETENTION_SECONDS, _retention),
}


def webhook_target(*, uow: UnitOfWork, store_id: str) -> tuple[Store, list[str]] | None:
    """
    A store and its sealed webhook secrets (newest first), or None for an unknown store.
    """
    with uow:
        store = uow.stores.get(store_id)
        sealed = uow.stores.webhook_secrets(store_id) if store else []
    return (store, sealed) if store else None


def add_webhook_secret(
    *, uow: UnitOfWork, clock: Clock, box: SecretBox, store_id: str, secret: str
) -> None:
    """
    Add a signing secret (a platform's app secret); older ones keep verifying, for rotation.

    Raises:
        NotFound: no such store.
        InvalidInput: the secret is empty or absurdly long.
    """
    value = secret.strip()
    if not 1 <= len(value) <= 500:
        raise InvalidInput(
            "invalid webhook secret",
            errors=[FieldError(path="webhook_secret", message="must be 1 to 500 characters")],
        )
    with uow:
        if uow.stores.get(store_id) is None:
            raise NotFound(f"no store {store_id!r}")
        uow.stores.add_webhook_secret(
            store_id=store_id, sealed=box.seal(value), created_at=clock.now()
        )
        uow.commit()
    log.info("store.webhook_secret.added", store_id=store_id)
