"""
Where a cart came from: the device kind from real user agents (robots never count as a
device), and the country's precedence (address, then phone region, then locale).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cartback.domain.origin import (
    CartOrigin,
    CountryGuess,
    CountrySource,
    Device,
    better_country,
    device_of,
    guess_country,
    locale_region,
    merge_origin,
)
from cartback.sources._commerce import address_country
from cartback.sources.segment import ParseContext, parse_messages

#: Real user agents as browsers and crawlers send them.
CORPUS = [
    # iPhone, Safari and Chrome for iOS
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        Device.MOBILE,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
        Device.MOBILE,
    ),
    # iPad (iPadOS 12 and the iPad app's own UA)
    (
        "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1",
        Device.TABLET,
    ),
    # Android phone (Chrome, Samsung Internet)
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/121.0.6167.101 Mobile Safari/537.36",
        Device.MOBILE,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
        Device.MOBILE,
    ),
    # Android tablets: Galaxy Tab (no "Mobile"), Kindle Fire (Silk)
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        Device.TABLET,
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Silk/120.3.1 like Chrome/120.0.6099.230 Safari/537.36",
        Device.TABLET,
    ),
    # Windows (Chrome, Edge, Firefox)
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/121.0.0.0 Safari/537.36",
        Device.DESKTOP,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
        Device.DESKTOP,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
        Device.DESKTOP,
    ),
    # Mac (Safari, Chrome), Linux, ChromeOS
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Safari/605.1.15",
        Device.DESKTOP,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
        Device.DESKTOP,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/121.0.0.0 Safari/537.36",
        Device.DESKTOP,
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/121.0.0.0 Safari/537.36",
        Device.DESKTOP,
    ),
]

#: Crawlers, including ones that pretend to be a phone: never a device.
BOTS = [
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/121.0.6167.139 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64; Storebot-Google/1.0) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/79.0.3945.88 Safari/537.36",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/121.0.0.0 Safari/537.36",
]


@pytest.mark.parametrize(("user_agent", "expected"), CORPUS)
def test_real_user_agents_give_their_device(user_agent: str, expected: Device) -> None:
    """
    Each browser's own user agent names its device kind.
    """
    assert expected == device_of(user_agent)


@pytest.mark.parametrize("user_agent", BOTS)
def test_robots_are_not_a_device(user_agent: str) -> None:
    """
    A crawler is `unknown`, even when it claims to be an Android phone.
    """
    assert Device.UNKNOWN == device_of(user_agent)


@pytest.mark.parametrize("user_agent", [None, "", "Wget-like thing", "okhttp/4.9.0"])
def test_missing_or_unrecognised_user_agents_are_unknown(user_agent: str | None) -> None:
    """
    Nothing to read, or nothing recognisable, is `unknown`.
    """
    assert Device.UNKNOWN == device_of(user_agent)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en-GB", "GB"),
        ("pt_BR.UTF-8", "BR"),
        ("zh-Hant-TW", "TW"),
        ("de-at", "AT"),
        ("fr", None),
        ("es-419", None),
        ("", None),
        (None, None),
    ],
)
def test_a_locale_gives_its_region(locale: str | None, expected: str | None) -> None:
    """
    The 2-letter region subtag, never a guess from the language alone.
    """
    assert expected == locale_region(locale)


def test_an_address_beats_a_phone_and_a_locale() -> None:
    """
    Within one event: address first, then phone region, then locale region.
    """
    assert CountryGuess(country="FR", source=CountrySource.ADDRESS) == guess_country(
        address="fr", phone="GB", locale="US"
    )
    assert CountryGuess(country="GB", source=CountrySource.PHONE) == guess_country(
        address=None, phone="GB", locale="US"
    )
    assert CountryGuess(country="US", source=CountrySource.LOCALE) == guess_country(
        address="France", phone=None, locale="US"
    )
    assert guess_country() is None


def test_a_worse_source_never_replaces_a_better_one() -> None:
    """
    A later locale does not undo a phone region; a later address does, and so does a newer
    address.
    """
    # given
    phone = CountryGuess(country="GB", source=CountrySource.PHONE)
    locale = CountryGuess(country="US", source=CountrySource.LOCALE)
    address = CountryGuess(country="FR", source=CountrySource.ADDRESS)
    newer = CountryGuess(country="DE", source=CountrySource.ADDRESS)
    # then
    assert phone == better_country(phone, locale)
    assert address == better_country(phone, address)
    assert newer == better_country(address, newer)
    assert phone == better_country(phone, None)
    assert locale == better_country(None, locale)


def test_an_event_without_a_user_agent_keeps_the_device() -> None:
    """
    A platform webhook (no browser) leaves the device the snippet saw.
    """
    known = CartOrigin(device=Device.MOBILE)
    assert known == merge_origin(known, CartOrigin(device=None))
    assert known == merge_origin(known, CartOrigin(device=Device.UNKNOWN))
    assert CartOrigin(device=Device.DESKTOP) == merge_origin(
        known, CartOrigin(device=Device.DESKTOP)
    )


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("address", CountrySource.ADDRESS),
        ("phone", CountrySource.PHONE),
        ("gps", None),
        (None, None),
    ],
)
def test_stored_source_labels_read_back(label: str | None, expected: CountrySource | None) -> None:
    """
    `carts.country_source` round-trips; an unknown label reads as none.
    """
    assert expected == CountrySource.from_label(label)
    if expected is not None:
        assert label == expected.label


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # Shopify checkout/order: shipping first, `[]` for an empty address
        (
            {"shipping_address": {"country_code": "GB"}, "billing_address": {"country_code": "IE"}},
            "GB",
        ),
        ({"shipping_address": [], "billing_address": {"country_code": "ie"}}, "IE"),
        # WooCommerce order: `shipping` / `billing`
        ({"shipping": {"country": ""}, "billing": {"country": "NL"}}, "NL"),
        # Magento quote: the shipping assignment's address
        (
            {
                "billing_address": {"country_id": None},
                "extension_attributes": {
                    "shipping_assignments": [{"shipping": {"address": {"country_id": "ES"}}}]
                },
            },
            "ES",
        ),
        # a country's name is not a code; nothing at all
        ({"shipping_address": {"country": "United Kingdom"}}, None),
        ({"extension_attributes": []}, None),
        ([], None),
    ],
)
def test_platform_payloads_give_their_address_country(
    payload: object, expected: str | None
) -> None:
    """
    Shopify, WooCommerce and Magento addresses, read where each platform puts them.
    """
    assert expected == address_country(payload)


def test_segment_messages_carry_their_locale_and_address_country() -> None:
    """
    `context.locale` and an order's `properties.shipping_address` reach the inbound message.
    """
    # given
    document = {
        "type": "track",
        "event": "Order Completed",
        "anonymousId": "anon-1",
        "properties": {"order_id": "o-1", "shipping_address": {"country_code": "de"}},
        "context": {"locale": "en-GB", "userAgent": "Mozilla/5.0 (iPad; CPU OS 12_2)"},
    }
    # when
    parsed = parse_messages(
        [document], context=ParseContext(now=datetime(2026, 11, 28, tzinfo=UTC))
    )
    # then
    (message,) = parsed.messages
    assert ("en-GB", "DE") == (message.locale, message.country)
