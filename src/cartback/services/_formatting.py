"""
Formatting for messages: money and dates in the message's locale (babel), the writing direction
of a language, and the UTM parameters every link of an email carries.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency

#: The locale a message falls back to when the asked one is unknown to babel.
FALLBACK_LOCALE = "en-US"
#: Languages written right to left (the email's `dir="rtl"`).
RTL_LANGUAGES = frozenset({"ar", "he", "fa", "ur"})
#: The UTM parameters Cartback writes; a link's own values for these are replaced.
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")


def babel_locale(tag: str | None) -> Locale:
    """
    The babel locale for a BCP 47 tag (`de-DE`, `pt_BR`), `FALLBACK_LOCALE` when unknown.
    """
    for candidate in (tag, FALLBACK_LOCALE):
        if not candidate:
            continue
        try:
            return Locale.parse(candidate.replace("_", "-"), sep="-")
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    return Locale.parse(FALLBACK_LOCALE, sep="-")


def locale_tag(locale: Locale) -> str:
    """
    The BCP 47 tag of a babel locale (`de-DE`), as `lang` attributes want it.
    """
    return "-".join(p for p in (locale.language, locale.script, locale.territory) if p)


def is_known_locale(tag: str) -> bool:
    """
    True when babel has data for the tag.
    """
    try:
        Locale.parse(tag.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return False
    return True


def direction(locale: Locale) -> str:
    """
    `rtl` for Arabic, Hebrew, Persian and Urdu, else `ltr`.
    """
    return "rtl" if locale.language in RTL_LANGUAGES else "ltr"


def money(amount: Decimal, currency: str, locale: Locale) -> str:
    """
    An amount as the locale writes it in the currency, with the currency's own decimals (none
    for JPY; `12,50 €` in de-DE).
    """
    return _money(amount, currency, str(locale))


@lru_cache(maxsize=8192)
def _money(amount: Decimal, currency: str, locale: str) -> str:
    # babel parses the locale's pattern on every call; shops repeat their prices (the catalog's)
    # across thousands of messages, so the formatted amounts are kept.
    return format_currency(amount, currency, locale=locale)


def long_date(at: datetime, timezone: str, locale: Locale) -> str:
    """
    A day as the locale writes it in full (`3. Januar 2026`), in the store's time zone.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    return format_date(at.astimezone(zone).date(), format="long", locale=locale)


def absolute(url: str, base: str) -> str:
    """
    A link made absolute against the store's site (a product link may be a path).
    """
    return urljoin(base.rstrip("/") + "/", url) if not urlsplit(url).scheme else url


def with_utm(url: str, *, campaign: str, content: str, medium: str = "email") -> str:
    """
    The link with Cartback's UTM parameters merged into its query: the link's other
    parameters (and repeated ones) and its fragment are kept in order, its own UTM values for
    Cartback's keys replaced. Links other than http(s) (`mailto:`) are returned unchanged.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in UTM_KEYS]
    utm = [
        ("utm_source", "cartback"),
        ("utm_medium", medium),
        ("utm_campaign", campaign),
        ("utm_content", content),
    ]
    query = urlencode(kept + utm, quote_via=quote)
    return urlunsplit(parts._replace(path=parts.path or "/", query=query))
