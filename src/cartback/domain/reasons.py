"""
The reason codes every skipped, deferred or cancelled touch carries (`contract.md` §6).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """
    Why a touch did not go now.
    """

    ORDERED = "ordered"
    CART_EMPTY = "cart_empty"
    NEWER_CART = "newer_cart"
    BOT = "bot"
    NO_CONSENT = "no_consent"
    UNSUBSCRIBED = "unsubscribed"
    HANDED_TO_ADS = "handed_to_ads"
    PEAK_SEASON = "peak_season"
    OUT_OF_STOCK = "out_of_stock"
    OFFER_INELIGIBLE = "offer_ineligible"
    STALE_STOCK = "stale_stock"
    QUIET_HOURS = "quiet_hours"
    FREQUENCY_CAP = "frequency_cap"
