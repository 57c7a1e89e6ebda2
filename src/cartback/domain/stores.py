"""
A store (one shop, one tenant) and its settings. Every other object belongs to exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from cartback.domain.cart import CartPolicy
from cartback.domain.consent import ConsentPolicy, Region, default_region
from cartback.domain.schedule import PeakPeriod, PeakSeason
from cartback.domain.time import check_aware

DEFAULT_ABANDON_AFTER = timedelta(minutes=30)
DEFAULT_RECOVERY_WINDOW = timedelta(days=7)
DEFAULT_RETENTION = timedelta(days=90)

#: Settings kept in the store's `settings` document rather than columns of their own.
CONSENT_REGION = "consent_region"
SOFT_OPT_IN = "soft_opt_in"
SMS_DOUBLE_OPT_IN = "sms_double_opt_in"
RETENTION_SECONDS = "retention_seconds"
PEAK_SEASON = "peak_season"


class Platform(StrEnum):
    """
    The shop software a store runs on.
    """

    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"
    MAGENTO = "magento"
    CUSTOM = "custom"


class KeyKind(StrEnum):
    """
    Server keys read and write everything in their store; public keys only send browser events.
    """

    SECRET = "secret"  # noqa: S105 - a kind of key, not a key
    PUBLIC = "public"

    @property
    def prefix(self) -> str:
        """
        What every key of this kind starts with, so a leaked key is recognisable.
        """
        return "cb_sk_" if self is KeyKind.SECRET else "cb_pk_"


@dataclass(frozen=True, kw_only=True, slots=True)
class Store:
    """
    One shop and its recovery settings.
    """

    id: str
    name: str
    platform: Platform
    domains: tuple[str, ...]
    currency: str
    timezone: str
    country: str | None = None
    abandon_after: timedelta = DEFAULT_ABANDON_AFTER
    recovery_window: timedelta = DEFAULT_RECOVERY_WINDOW
    created_at: datetime
    updated_at: datetime
    settings: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_aware(self.created_at, "created_at")
        check_aware(self.updated_at, "updated_at")

    @property
    def cart_policy(self) -> CartPolicy:
        """
        The timing rules the cart state machine applies to this store's carts.
        """
        return CartPolicy(abandon_after=self.abandon_after, recovery_window=self.recovery_window)

    @property
    def consent_policy(self) -> ConsentPolicy:
        """
        The consent rules for this store's shoppers: the region the merchant chose, else the
        one its country implies (`default_region`).
        """
        chosen = self.settings.get(CONSENT_REGION)
        known = isinstance(chosen, str) and chosen in set(Region)
        region = (
            Region(chosen) if known and isinstance(chosen, str) else default_region(self.country)
        )
        return ConsentPolicy(
            region=region,
            soft_opt_in=self.settings.get(SOFT_OPT_IN) is True,
            sms_double_opt_in=self.settings.get(SMS_DOUBLE_OPT_IN) is True,
        )

    @property
    def retention(self) -> timedelta:
        """
        How long anonymous carts and raw events are kept.
        """
        seconds = self.settings.get(RETENTION_SECONDS)
        return timedelta(seconds=seconds) if isinstance(seconds, int) else DEFAULT_RETENTION

    @property
    def peak_season(self) -> PeakSeason | None:
        """
        The store's peak-season calendar (stretched waits, a touch cap, paused discounts on
        its days, in the store's time zone), or None when it has no peak days.
        """
        found = self.settings.get(PEAK_SEASON)
        if not isinstance(found, dict) or not found.get("periods"):
            return None
        return peak_season_from_document(found, self.timezone)


def peak_season_from_document(document: dict[str, Any], zone: str) -> PeakSeason:
    """
    A peak season from its stored form: `periods` as [first, last] ISO dates, `delay_factor`,
    `max_touches` (None: no cap) and `pause_discounts`.

    Raises:
        ValueError: a value is out of range (the store service checks before storing).
    """
    periods = tuple(
        PeakPeriod(first=date.fromisoformat(first), last=date.fromisoformat(last))
        for first, last in document.get("periods", [])
    )
    cap = document.get("max_touches")
    return PeakSeason(
        periods=periods,
        zone=ZoneInfo(zone),
        delay_factor=float(document.get("delay_factor", 1.0)),
        max_touches=int(cap) if cap is not None else None,
        pause_discounts=document.get("pause_discounts", True) is not False,
    )


def peak_season_document(season: PeakSeason) -> dict[str, Any]:
    """
    The stored form of a peak season (`peak_season_from_document` reads it back).
    """
    return {
        "periods": [[p.first.isoformat(), p.last.isoformat()] for p in season.periods],
        "delay_factor": season.delay_factor,
        "max_touches": season.max_touches,
        "pause_discounts": season.pause_discounts,
    }


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """
    Who is calling: a store, through one kind of key.
    """

    store: Store
    kind: KeyKind
