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
    #: The step's code is being created on the store's platform: the touch waits briefly.
    OFFER_PENDING = "offer_pending"
    #: The platform did not create the code in time or refused it: the message went without.
    OFFER_FAILED = "offer_failed"
    STALE_STOCK = "stale_stock"
    QUIET_HOURS = "quiet_hours"
    FREQUENCY_CAP = "frequency_cap"
    #: The sender's carrier rate (SMS long code 1/s, toll-free 3/s) has no slot now.
    SENDER_RATE = "sender_rate"
    #: The shopper answered a text and the flow ends on a reply (`exit_on: [replied]`).
    REPLIED = "replied"
    #: The shopper followed a restore link and the flow ends on a click (`exit_on: [clicked]`).
    CLICKED = "clicked"
    #: The step's `when` is false at send time.
    CONDITION_FALSE = "condition_false"
    #: The shopper came back and the cart is active again: no reminder while they shop.
    SHOPPER_ACTIVE = "shopper_active"
    #: The settings provide no backend for the touch's channel yet: it waits.
    NO_CHANNEL = "no_channel"
    #: A restore link in the rendered message does not verify or leads to no cart with items
    #: (the send-time quality check, `domain.quality`; recorded with status `failed`).
    BROKEN_LINK = "broken_link"
