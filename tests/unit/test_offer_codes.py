"""
Discount codes (issue #7): unambiguous symbols, enough randomness, the store's prefix, unique
over a large draw; the same offer gives the same key; amounts round to the currency's unit;
a code ends with its offer (or the store's default), never after its enrollment.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from babel import Locale
from babel.numbers import get_currency_precision

from cartback.domain.flows import Offer, OfferKind
from cartback.domain.offers import (
    CODE_ALPHABET,
    CODE_LENGTH,
    OfferRules,
    currency_places,
    discount_amount,
    expiry,
    new_code,
    normalise_code,
    offer_key,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_the_alphabet_has_no_look_alike_symbols() -> None:
    """
    32 distinct upper-case symbols, none of 0, O, 1 or I.
    """
    # then
    assert 32 == len(set(CODE_ALPHABET)) == len(CODE_ALPHABET)
    assert set() == set(CODE_ALPHABET) & set("0O1I")
    assert CODE_ALPHABET == CODE_ALPHABET.upper()


def test_a_code_carries_at_least_40_bits_of_randomness() -> None:
    """
    Length times bits per symbol: 10 x 5 = 50 bits.
    """
    # then
    assert 40 <= CODE_LENGTH * math.log2(len(CODE_ALPHABET))


def test_a_code_is_its_length_from_the_alphabet() -> None:
    """
    Every symbol of a drawn code is from the alphabet, and there are exactly `CODE_LENGTH`.
    """
    # when
    codes = [new_code() for _ in range(200)]
    # then
    assert {CODE_LENGTH} == {len(code) for code in codes}
    assert set("".join(codes)) <= set(CODE_ALPHABET)


def test_a_fixed_source_of_randomness_gives_a_known_code() -> None:
    """
    The code is the alphabet's symbols at the drawn positions, each drawn below 32.
    """
    # given
    draws = iter([0, 1, 2, 3, 4, 5, 6, 7, 30, 31])
    asked: list[int] = []

    def randbelow(bound: int) -> int:
        asked.append(bound)
        return next(draws)

    # when
    code = new_code(prefix="CB-", randbelow=randbelow)
    # then
    assert "CB-ABCDEFGH89" == code
    assert [32] * CODE_LENGTH == asked


def test_100_000_codes_are_all_different() -> None:
    """
    No collision over 100,000 draws (50 bits: a collision here would mean a broken source).
    """
    # when
    codes = {new_code() for _ in range(100_000)}
    # then
    assert 100_000 == len(codes)


@pytest.mark.parametrize("prefix", ["", "CB-", "SHOP", "A2-", "ZZZZZZZZ-"])
def test_a_valid_prefix_starts_the_code(prefix: str) -> None:
    """
    The prefix is kept as given, before the random part.
    """
    # when
    code = new_code(prefix=prefix)
    # then
    assert code.startswith(prefix)
    assert len(prefix) + CODE_LENGTH == len(code)


@pytest.mark.parametrize("prefix", ["cb-", "C0-", "ABCDEFGHJ", "-", "CB--", "C B"])
def test_a_bad_prefix_is_refused(prefix: str) -> None:
    """
    Lower case, 0 and 1, more than 8 symbols, a lone or double dash and spaces are not prefixes.
    """
    # then
    with pytest.raises(ValueError, match="not a code prefix"):
        new_code(prefix=prefix)


def test_a_typed_code_is_normalised() -> None:
    """
    Shoppers' spaces and lower case do not matter.
    """
    # then
    assert "CB-ABCD2345XY" == normalise_code("  cb-abcd2345xy \n")


def test_the_offer_key_names_kind_and_value() -> None:
    """
    The same kind and value (however written) is the same key; another value another key.
    """
    # given
    ten = Offer(kind=OfferKind.PERCENT, value=Decimal("10.0"), expires_in=timedelta(days=1))
    also_ten = Offer(kind=OfferKind.PERCENT, value=Decimal(10))
    shipping = Offer(kind=OfferKind.FREE_SHIPPING, value=Decimal(0))
    # then
    assert "percent:10" == offer_key(ten) == offer_key(also_ten)
    assert "free_shipping:0" == offer_key(shipping)
    assert "fixed:5.5" == offer_key(Offer(kind=OfferKind.FIXED, value=Decimal("5.50")))


@pytest.mark.parametrize(
    ("kind", "value", "subtotal", "currency", "expected"),
    [
        (OfferKind.PERCENT, "10", "80.25", "USD", "8.02"),  # 8.025 to even
        (OfferKind.PERCENT, "10", "80.35", "USD", "8.04"),  # 8.035 to even
        (OfferKind.PERCENT, "15", "1999", "JPY", "300"),  # 299.85, no minor unit
        (OfferKind.PERCENT, "10", "12.345", "KWD", "1.234"),  # 1.2345, three decimals
        (OfferKind.PERCENT, "100", "40", "EUR", "40.00"),
        (OfferKind.FIXED, "15", "40", "EUR", "15.00"),
        (OfferKind.FIXED, "50", "40", "EUR", "40.00"),  # never more than the cart
        (OfferKind.FREE_SHIPPING, "0", "40", "EUR", "0"),
        (OfferKind.PERCENT, "10", "0", "EUR", "0"),
    ],
)
def test_the_discount_rounds_half_even_to_the_minor_unit(
    kind: OfferKind, value: str, subtotal: str, currency: str, expected: str
) -> None:
    """
    Percent of the subtotal, fixed up to the subtotal, free shipping nothing off the cart.
    """
    # when
    amount = discount_amount(kind, Decimal(value), Decimal(subtotal), currency=currency)
    # then
    assert Decimal(expected) == amount
    assert str(Decimal(expected)) == str(amount)


def test_currency_decimals_agree_with_babel() -> None:
    """
    The domain's minor units are the ones babel formats money with, for every currency it knows.
    """
    # given
    codes = sorted(Locale("en").currencies)
    # then
    assert {c: get_currency_precision(c) for c in codes} == {c: currency_places(c) for c in codes}


def test_a_code_ends_after_the_offers_own_expiry() -> None:
    """
    The flow's `expires_in` wins over the store's default.
    """
    # given
    offer = Offer(kind=OfferKind.PERCENT, value=Decimal(10), expires_in=timedelta(hours=24))
    # then
    assert NOW + timedelta(hours=24) == expiry(offer, OfferRules(), NOW)


def test_a_code_without_its_own_expiry_takes_the_stores() -> None:
    """
    No `expires_in` in the flow file: the store's setting (48 hours unless changed).
    """
    # given
    offer = Offer(kind=OfferKind.PERCENT, value=Decimal(10))
    # then
    assert NOW + timedelta(hours=48) == expiry(offer, OfferRules(), NOW)
    assert NOW + timedelta(hours=5) == expiry(offer, OfferRules(expires_in=timedelta(hours=5)), NOW)


def test_a_code_never_outlives_its_enrollment() -> None:
    """
    The end is cut to the enrollment's end when that comes first, not moved when it comes later.
    """
    # given
    offer = Offer(kind=OfferKind.PERCENT, value=Decimal(10), expires_in=timedelta(hours=48))
    soon, late = NOW + timedelta(hours=6), NOW + timedelta(days=7)
    # then
    assert soon == expiry(offer, OfferRules(), NOW, ends_by=soon)
    assert NOW + timedelta(hours=48) == expiry(offer, OfferRules(), NOW, ends_by=late)


def test_expiry_refuses_a_naive_time() -> None:
    """
    Time is always timezone-aware.
    """
    # given
    offer = Offer(kind=OfferKind.PERCENT, value=Decimal(10))
    # then
    with pytest.raises(ValueError, match="timezone-aware"):
        expiry(offer, OfferRules(), datetime(2026, 11, 27, 12, 0))  # noqa: DTZ001
