"""
Text messages: GSM-7 and UCS-2 segment counting (extension characters, emoji, no split escape
or surrogate pair), shortening to the store's segment budget without ever losing the link, the
store's name or the opt-out notice, the opt-out notice in the first text only, German, and the
cost estimate from the store's price per segment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from cartback.domain.cart import Cart
from cartback.domain.consent import Channel
from cartback.domain.errors import InvalidInput
from cartback.domain.events import LineItem
from cartback.domain.send_rate import sms_segments
from cartback.domain.sms_text import Encoding, Part, count_segments, fit, gsm_friendly
from cartback.domain.stores import Platform, Store
from cartback.engine.clock import SimulatedClock
from cartback.services.message_parts import MessageLinks, OfferView, RenderRequest
from cartback.services.sms_config import (
    DEFAULT_SEGMENT_PRICE,
    configure_sms_pricing,
    sms_pricing,
)
from cartback.services.sms_text import render_sms
from fakes import FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SHORT = "https://cb.example.com/s/ABCDEFGHJ"
RESTORE = "https://cb.example.com/r/" + "x" * 90


# --- counting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", Encoding.GSM_7, 0, 1),
        ("a" * 160, Encoding.GSM_7, 160, 1),
        ("a" * 161, Encoding.GSM_7, 161, 2),
        ("a" * 306, Encoding.GSM_7, 306, 2),
        ("a" * 307, Encoding.GSM_7, 307, 3),
        ("€" * 80, Encoding.GSM_7, 160, 1),
        ("a" * 159 + "€", Encoding.GSM_7, 161, 2),
        ("{}[]~^|\\", Encoding.GSM_7, 16, 1),
        ("Grüße aus Köln, ¿qué?", Encoding.GSM_7, 21, 1),
        ("ç" * 70, Encoding.UCS_2, 70, 1),
        ("ç" * 71, Encoding.UCS_2, 71, 2),
        ("👍" * 35, Encoding.UCS_2, 70, 1),
        ("a" + "👍" * 35, Encoding.UCS_2, 71, 2),
        ("مرحبا بك", Encoding.UCS_2, 8, 1),
        ("こんにちは" * 14, Encoding.UCS_2, 70, 1),
    ],
)
def test_counts_units_and_segments_per_encoding(
    text: str, encoding: Encoding, units: int, segments: int
) -> None:
    """
    GSM-7 holds 160 septets (an extension character takes two); anything else is UCS-2 with
    70 code units (an emoji takes two); longer texts split into 153 or 67 per segment.
    """
    # when
    counted = count_segments(text)

    # then
    assert (encoding, units, segments) == (counted.encoding, counted.units, counted.segments)


def test_an_escape_sequence_never_straddles_two_segments() -> None:
    """
    A `€` that would be split over the 153-septet boundary moves to the next segment.
    """
    # given: 152 septets, then a two-septet euro sign, then 153 more
    text = "a" * 152 + "€" + "b" * 153

    # when
    counted = count_segments(text)

    # then: 307 septets would fit in three segments of 153 only if the escape could split
    assert 3 == counted.segments


def test_a_surrogate_pair_never_straddles_two_segments() -> None:
    """
    An emoji that would be split over the 67-unit boundary moves to the next segment.
    """
    # given: 66 units, an emoji (two units), 66 more: 134 units, yet three segments
    text = "ç" * 66 + "👍" + "ç" * 66

    # when
    counted = count_segments(text)

    # then
    assert 3 == counted.segments


def test_send_rate_still_counts_segments_for_its_callers() -> None:
    """
    `send_rate.sms_segments` answers what the new counter does.
    """
    # given
    text = "a" * 159 + "€"

    # when
    found = sms_segments(text)

    # then
    assert count_segments(text).segments == found


def test_typographic_punctuation_becomes_ascii_when_that_keeps_the_text_gsm() -> None:
    """
    Smart quotes, dashes and an ellipsis alone must not switch a text to UCS-2.
    """
    # given
    text = "\u201cBlue\u201d shoes \u2013 nearly gone\u2026"

    # when
    friendly = gsm_friendly(text)

    # then
    assert '"Blue" shoes - nearly gone...' == friendly
    assert Encoding.GSM_7 is count_segments(friendly).encoding


def test_non_latin_names_are_never_mangled_to_stay_gsm() -> None:
    """
    A text that needs UCS-2 for a name keeps its punctuation and its letters as written.
    """
    # given
    text = "\u201c山田\u201d \u2013 ok"

    # when
    friendly = gsm_friendly(text)

    # then
    assert text == friendly


# --- fitting to a budget -------------------------------------------------------------------


def _parts(wording: str = "Your cart is still waiting for you.") -> list[Part]:
    return [
        Part(text="Test Shop:"),
        Part(text="Hi Anna!", drop=2),
        Part(text=wording, truncatable=True),
        Part(text="In your cart: " + ", ".join(["Blue Shoes"] * 8) + ".", drop=1),
        Part(text="Finish your order:", drop=3),
        Part(text=SHORT),
        Part(text="Reply STOP to opt out."),
    ]


def test_drops_item_names_first() -> None:
    """
    Over one segment, the item names go first; the greeting and the wording stay.
    """
    # given
    parts = _parts()

    # when
    text = fit(parts, budget=1)

    # then
    assert (
        f"Test Shop: Hi Anna! Your cart is still waiting for you. Finish your order: {SHORT} "
        "Reply STOP to opt out."
    ) == text


def test_drops_the_greeting_after_the_item_names() -> None:
    """
    When the text is still too long without the items, the greeting goes next, and the
    wording stays whole while that is enough.
    """
    # given: 164 characters with the greeting, 155 without
    parts = _parts("Your cart is still waiting for you, saved just the way you left it.")

    # when
    text = fit(parts, budget=1)

    # then
    assert (
        "Test Shop: Your cart is still waiting for you, saved just the way you left it. "
        f"Finish your order: {SHORT} Reply STOP to opt out."
    ) == text
    assert 1 == count_segments(text).segments


def test_keeps_every_part_within_the_budget() -> None:
    """
    A budget the whole text fits keeps it whole.
    """
    # given
    parts = _parts()

    # when
    text = fit(parts, budget=3)

    # then
    assert "Hi Anna!" in text
    assert "In your cart:" in text
    assert count_segments(text).segments <= 3


@pytest.mark.parametrize("budget", [1, 2, 3])
def test_truncates_the_wording_with_an_ellipsis_only_as_a_last_resort(budget: int) -> None:
    """
    A wording too long for the budget is cut at a word with `...`; the store's name, the
    link and the opt-out notice are all there, and the budget holds.
    """
    # given
    parts = _parts("We kept everything you picked, " * 30)

    # when
    text = fit(parts, budget=budget)

    # then
    assert text.startswith("Test Shop: We kept")
    assert f"... {SHORT} Reply STOP to opt out." in text
    assert "Hi Anna" not in text
    assert "In your cart" not in text
    assert budget == count_segments(text).segments


def test_mandatory_parts_longer_than_the_budget_give_the_shortest_form() -> None:
    """
    When the name, link and notice alone exceed the budget, only they remain.
    """
    # given
    long_name = "The Very Long Store Name " * 8
    parts = [Part(text=long_name.strip() + ":"), *_parts()[1:]]

    # when
    text = fit(parts, budget=1)

    # then
    assert f"{long_name.strip()}: {SHORT} Reply STOP to opt out." == text


def test_dropping_a_non_latin_item_name_can_bring_the_text_back_to_gsm() -> None:
    """
    A Japanese product name that makes the text UCS-2 and too long goes; the rest is GSM-7.
    """
    # given
    parts = [
        Part(text="Test Shop:"),
        Part(text="Your cart is waiting.", truncatable=True),
        Part(text="In your cart: " + "抹茶ラテ " * 12, drop=1),
        Part(text=SHORT),
    ]

    # when
    text = fit(parts, budget=1)

    # then
    assert Encoding.GSM_7 is count_segments(text).encoding
    assert "抹茶" not in text


def test_a_budget_under_one_segment_is_refused() -> None:
    """
    Zero segments is not a budget.
    """
    # when / then
    with pytest.raises(ValueError, match="at least one segment"):
        fit(_parts(), budget=0)


# --- rendering ------------------------------------------------------------------------------


def _store(**settings: Any) -> Store:
    return Store(
        id="st_test",
        name="Test Shop",
        platform=Platform.CUSTOM,
        domains=("shop.example.com",),
        currency="EUR",
        timezone="Europe/Berlin",
        created_at=NOW,
        updated_at=NOW,
        settings=dict(settings),
    )


def _cart(*names: str) -> Cart:
    lines = tuple(
        LineItem(sku=f"sku-{i}", name=name, quantity=2 if i == 0 else 1, unit_price=Decimal(10))
        for i, name in enumerate(names)
    )
    return Cart(key="cart-1", currency="EUR", lines=lines)


@pytest.fixture
def request_factory() -> Callable[..., RenderRequest]:
    """
    A text's render request with sensible defaults; override any field.
    """

    def make(**overrides: Any) -> RenderRequest:
        values: dict[str, Any] = {
            "store": _store(),
            "cart": _cart("Blue Shoes", "Red Hat"),
            "channel": Channel.SMS,
            "template": "reminder",
            "flow": "recovery",
            "step": 0,
            "links": MessageLinks(
                restore=RESTORE,
                short_restore=SHORT,
                unsubscribe="https://cb.example.com/u/t",
                store="https://shop.example.com",
            ),
            "now": NOW,
            **overrides,
        }
        return RenderRequest(**values)

    return make


def test_a_first_text_has_the_store_link_items_and_stop_notice(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    The reminder names the store, greets, lists the items, links short, and says how to stop.
    """
    # given
    request = request_factory(first_name="Anna")

    # when
    rendered = render_sms(request)

    # then
    assert (
        "Test Shop: Hi Anna! Your cart is still waiting for you. In your cart: "
        f"2x Blue Shoes, Red Hat. Finish your order: {SHORT} Reply STOP to opt out."
    ) == rendered.text
    assert (2, "GSM-7", "en") == (rendered.segments, rendered.encoding, rendered.locale)


def test_a_later_text_has_no_stop_notice(request_factory: Callable[..., RenderRequest]) -> None:
    """
    Only the first text a number gets says how to stop.
    """
    # given
    request = request_factory(first_text=False)

    # when
    rendered = render_sms(request)

    # then
    assert "STOP" not in rendered.text
    assert rendered.text.endswith(SHORT)


def test_the_full_restore_link_is_used_without_a_short_one(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    A text without a short link carries the signed restore link.
    """
    # given
    request = request_factory(
        links=MessageLinks(restore=RESTORE, short_restore=None, unsubscribe="u", store="s")
    )

    # when
    rendered = render_sms(request)

    # then
    assert RESTORE in rendered.text


@pytest.mark.parametrize("locale", ["de-DE", "de", "de_AT"])
def test_a_german_shopper_gets_german(
    request_factory: Callable[..., RenderRequest], locale: str
) -> None:
    """
    The shopper's locale picks the language, whatever its region.
    """
    # given
    request = request_factory(locale=locale, first_name="Jürgen")

    # when
    rendered = render_sms(request)

    # then
    assert rendered.text.startswith("Test Shop: Hallo Jürgen! Ihr Warenkorb wartet noch auf Sie.")
    assert rendered.text.endswith("Abmelden: Antworten Sie STOP.")
    assert "de" == rendered.locale


def test_the_stores_locale_setting_applies_without_the_shoppers(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    With no shopper locale, the store's `messages.locale` decides; an unknown one is English.
    """
    # given
    german = request_factory(store=_store(messages={"locale": "de-CH"}))
    unknown = request_factory(locale="pt-BR", store=_store(messages={"locale": "de-CH"}))

    # when
    texts = (render_sms(german).locale, render_sms(unknown).locale)

    # then
    assert ("de", "en") == texts


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("support", "Questions about shipping, returns or paying?"),
        ("resolution", "Still deciding? Your cart is saved for you."),
        ("browse", "Still thinking about the products you looked at?"),
        ("back_in_stock", "Good news: something in your cart is back in stock."),
        ("launch", "It's here: what you were waiting for is now available."),
        ("my_own_template", "Your cart is still waiting for you."),
    ],
)
def test_each_template_has_its_own_words(
    request_factory: Callable[..., RenderRequest], template: str, words: str
) -> None:
    """
    Each built-in template reads differently; an unknown name is sent as a reminder.
    """
    # given
    request = request_factory(template=template)

    # when
    rendered = render_sms(request)

    # then
    assert words in rendered.text
    assert SHORT in rendered.text


def test_a_resolution_shows_the_offer_code_only_with_an_offer(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    The code and its value appear when the request carries a valid offer, never otherwise.
    """
    # given
    offer = OfferView(code="SAVE10", kind="percent", value=Decimal("10.00"), expires_at=NOW)

    # when
    with_offer = render_sms(request_factory(template="resolution", offer=offer))
    without = render_sms(request_factory(template="resolution"))

    # then
    assert "Here's 10% off your cart with code SAVE10." in with_offer.text
    assert "SAVE10" not in without.text


def test_long_texts_are_shortened_to_the_stores_budget_keeping_link_name_and_stop(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    Many long item names over a one-segment budget: the names go, the essentials stay.
    """
    # given
    store = _store(twilio={"segment_budget": 1})
    cart = _cart(*(f"Handmade Ceramic Coffee Mug No. {i}" for i in range(6)))
    request = request_factory(store=store, cart=cart, first_name="Anna")

    # when
    rendered = render_sms(request)

    # then
    assert 1 == rendered.segments
    assert rendered.text.startswith("Test Shop:")
    assert SHORT in rendered.text
    assert rendered.text.endswith("Reply STOP to opt out.")
    assert "Ceramic" not in rendered.text


def test_a_non_latin_name_keeps_the_text_in_ucs2(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    An Arabic first name is kept as written; the text goes as UCS-2 within the budget.
    """
    # given
    request = request_factory(first_name="ليلى")

    # when
    rendered = render_sms(request)

    # then
    assert "ليلى" in rendered.text
    assert "UCS-2" == rendered.encoding
    assert rendered.segments is not None
    assert rendered.segments <= 2


def test_names_with_line_breaks_and_control_characters_are_flattened(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    A product name cannot break the text into lines or smuggle control characters.
    """
    # given
    request = request_factory(cart=_cart("Blue\nShoes\x07  now"))

    # when
    rendered = render_sms(request)

    # then
    assert "2x Blue Shoes now" in rendered.text
    assert "\n" not in rendered.text
    assert "\x07" not in rendered.text


def test_the_cost_estimate_is_segments_times_the_stores_price(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    Two segments at the store's price of 0.0750 EUR cost 0.1500 EUR.
    """
    # given
    store = _store(twilio={"segment_price": "0.0750", "price_currency": "EUR"})
    cart = _cart(*(f"Item {i}" for i in range(3)))
    request = request_factory(store=store, cart=cart, template="support", first_name="Anna")

    # when
    rendered = render_sms(request)

    # then
    assert 2 == rendered.segments
    assert (Decimal("0.1500"), "EUR") == (rendered.cost_estimate, rendered.cost_currency)


def test_the_default_price_is_twilios_us_price(
    request_factory: Callable[..., RenderRequest],
) -> None:
    """
    A store without a price is estimated at 0.0083 USD a segment.
    """
    # when
    rendered = render_sms(request_factory(first_text=False))

    # then
    assert 1 == rendered.segments
    assert (DEFAULT_SEGMENT_PRICE, "USD") == (rendered.cost_estimate, rendered.cost_currency)


# --- the settings ----------------------------------------------------------------------------


def test_pricing_is_set_without_the_twilio_credentials(
    uow_factory: FakeUnitOfWorkFactory, shop: Store, clock: SimulatedClock
) -> None:
    """
    The budget, price and currency are saved on their own; the rest of the section stays.
    """
    # given
    uow_factory.database.stores[shop.id] = replace(
        shop, settings={"twilio": {"account_sid": "AC" + "1" * 32}}
    )

    # when
    saved = configure_sms_pricing(
        uow=uow_factory(),
        clock=clock,
        store_id=shop.id,
        segment_budget=3,
        segment_price="0.0079",
        price_currency="usd",
    )

    # then
    pricing = sms_pricing(saved)
    assert (3, Decimal("0.0079"), "USD") == (
        pricing.segment_budget,
        pricing.segment_price,
        pricing.price_currency,
    )
    section = uow_factory.database.stores[shop.id].settings["twilio"]
    assert isinstance(section, dict)
    assert "AC" + "1" * 32 == section["account_sid"]


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"segment_budget": 0}, "segment_budget"),
        ({"segment_budget": 11}, "segment_budget"),
        ({"segment_price": "-0.01"}, "segment_price"),
        ({"segment_price": "0.00001"}, "segment_price"),
        ({"segment_price": "cheap"}, "segment_price"),
        ({"segment_price": "NaN"}, "segment_price"),
        ({"price_currency": "dollars"}, "price_currency"),
        ({}, "segment_budget"),
    ],
)
def test_bad_pricing_is_refused_and_changes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    shop: Store,
    clock: SimulatedClock,
    values: dict[str, Any],
    path: str,
) -> None:
    """
    A budget outside 1 to 10, a price that is not a small decimal, a currency that is not
    ISO 4217, or nothing at all: a field error, nothing saved.
    """
    # when
    with pytest.raises(InvalidInput) as raised:
        configure_sms_pricing(uow=uow_factory(), clock=clock, store_id=shop.id, **values)

    # then
    assert [path] == [error.path for error in raised.value.errors]
    assert 0 == uow_factory.database.commits
