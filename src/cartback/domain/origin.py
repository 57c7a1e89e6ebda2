"""
Where a cart came from, for the report's breakdowns (`docs/metrics.md` "Device and country"):
the kind of device its shopper used, read from the browser's user agent, and the shopper's
country (ISO 3166 alpha-2), taken from the best source an event gave.

Country precedence, best first: an order's or checkout's shipping or billing address, the
contact's phone number region, the region of the browser's locale (`en-GB` is GB). A better
source replaces a worse one; a source never gives way to a worse one, so a later `en-US`
browser cannot overwrite a shipping address in France.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from cartback.domain.identity import is_bot_user_agent


class Device(StrEnum):
    """
    The kind of device a user agent belongs to.
    """

    DESKTOP = "desktop"
    MOBILE = "mobile"
    TABLET = "tablet"
    UNKNOWN = "unknown"


# Tablets first: iPads and Android tablets also say "Mobile" or "Safari" somewhere.
_TABLET = re.compile(
    r"iPad|Tablet|PlayBook|Silk/|Kindle|SM-T\d|SM-X\d|Nexus (?:7|9|10)\b|KF[A-Z]{2,4}\b", re.I
)
# Android without "Mobile" is a tablet by Google's own convention for Chrome on Android.
_ANDROID = re.compile(r"Android", re.I)
_MOBILE = re.compile(
    r"Mobile|iPhone|iPod|Windows Phone|BlackBerry|BB10|Opera Mini|IEMobile|webOS", re.I
)
_DESKTOP = re.compile(r"Windows NT|Macintosh|Mac OS X|X11|Linux x86_64|CrOS|Ubuntu", re.I)


def device_of(user_agent: str | None) -> Device:
    """
    The device kind of a user agent: `unknown` without one, for robots, and for strings none
    of the rules recognise.

    iPadOS 13+ Safari claims to be a Mac ("Macintosh; Intel Mac OS X"), indistinguishable
    from a desktop without JavaScript; it counts as desktop here.
    """
    if not user_agent or is_bot_user_agent(user_agent):
        return Device.UNKNOWN
    if _TABLET.search(user_agent):
        return Device.TABLET
    if _ANDROID.search(user_agent):
        return Device.MOBILE if "mobile" in user_agent.lower() else Device.TABLET
    if _MOBILE.search(user_agent):
        return Device.MOBILE
    if _DESKTOP.search(user_agent):
        return Device.DESKTOP
    return Device.UNKNOWN


class CountrySource(IntEnum):
    """
    Where a cart's country came from; a higher value is a better source.
    """

    LOCALE = 1
    PHONE = 2
    ADDRESS = 3

    @property
    def label(self) -> str:
        """
        The name stored on the cart (`carts.country_source`).
        """
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str | None) -> CountrySource | None:
        """
        The source a stored label names, or None for none (or one no longer known).
        """
        return cls.__members__.get((label or "").upper())


@dataclass(frozen=True, kw_only=True, slots=True)
class CountryGuess:
    """
    A country (ISO 3166 alpha-2, upper case) and the source it came from.
    """

    country: str
    source: CountrySource


_ALPHA2 = re.compile(r"[A-Za-z]{2}")
# BCP 47 (`en-GB`, `zh-Hant-TW`) or POSIX (`en_GB.UTF-8`): the region is the 2-letter subtag.
_LOCALE_REGION = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z]{4})?[-_]([A-Za-z]{2})(?:$|[-_.@])")


def alpha2(value: object) -> str | None:
    """
    An ISO 3166 alpha-2 code from a source's field (`fr`, ` FR `), or None when it is not one.
    """
    if not isinstance(value, str) or not _ALPHA2.fullmatch(value.strip()):
        return None
    return value.strip().upper()


def locale_region(locale: object) -> str | None:
    """
    The region of a locale (`en-GB` is GB, `pt_BR.UTF-8` is BR); None for a bare language.
    """
    if not isinstance(locale, str):
        return None
    found = _LOCALE_REGION.match(locale.strip())
    return found.group(1).upper() if found else None


def guess_country(
    *, address: str | None = None, phone: str | None = None, locale: str | None = None
) -> CountryGuess | None:
    """
    The best of the countries one event gives: its address's, else its phone number's region,
    else its locale's region (each already an alpha-2 code or None).
    """
    for value, source in (
        (address, CountrySource.ADDRESS),
        (phone, CountrySource.PHONE),
        (locale, CountrySource.LOCALE),
    ):
        code = alpha2(value)
        if code is not None:
            return CountryGuess(country=code, source=source)
    return None


def better_country(known: CountryGuess | None, new: CountryGuess | None) -> CountryGuess | None:
    """
    The guess to keep: the new one when its source is at least as good (a newer address
    replaces an older one), else the one known.
    """
    if new is None:
        return known
    if known is None or new.source >= known.source:
        return new
    return known


@dataclass(frozen=True, kw_only=True, slots=True)
class CartOrigin:
    """
    What is known of where a cart came from: its device kind and its country guess.
    """

    device: Device | None = None
    country: CountryGuess | None = None


def merge_origin(known: CartOrigin, new: CartOrigin) -> CartOrigin:
    """
    The origin after another event: the latest known device (a browser that said nothing
    leaves the device as it was), and the better country guess.
    """
    device = new.device if new.device not in (None, Device.UNKNOWN) else known.device
    return CartOrigin(device=device, country=better_country(known.country, new.country))
