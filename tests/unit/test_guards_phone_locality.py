"""
The phone number as the guards see it: country, state and zones, and our area-code table
checked against libphonenumber's geocoding data.
"""

from __future__ import annotations

import pytest

from cartback.domain.us_area_codes import STRICT_STATE_AREA_CODES
from cartback.kit.phone_locality import (
    PhoneLocality,
    phone_country,
    phone_locality,
    us_state_from_libphonenumber,
)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+13055550123", PhoneLocality(country="US", area_code="305", us_state="FL",
                                       timezones=("America/New_York",))),
        ("+15415550123", PhoneLocality(country="US", area_code="541", us_state="OR",
                                       timezones=("America/Los_Angeles",))),
        ("+18005550123", PhoneLocality(country="US", area_code="800")),
        ("+17875550123", PhoneLocality(country="PR", timezones=("America/Puerto_Rico",))),
        ("+4930123456", PhoneLocality(country="DE", timezones=("Europe/Berlin",))),
        ("not a number", PhoneLocality()),
    ],
)  # fmt: skip
def test_a_number_gives_its_country_state_and_zones(number: str, expected: PhoneLocality) -> None:
    """
    A toll-free number gives no zone (it could be anywhere); its unknown state means strictest.
    """
    assert expected == phone_locality(number)


def test_the_area_code_table_agrees_with_libphonenumber() -> None:
    """
    Every area code we list is geocoded to the same state, and no other area code is
    geocoded to one of the stricter states.
    """
    # when
    disagreements = {
        code: us_state_from_libphonenumber(f"+1{code}2345678")
        for code, state in STRICT_STATE_AREA_CODES.items()
        if us_state_from_libphonenumber(f"+1{code}2345678") != state
    }
    missing = {
        code
        for code in map(str, range(201, 1000))
        if us_state_from_libphonenumber(f"+1{code}2345678") in set(STRICT_STATE_AREA_CODES.values())
        and code not in STRICT_STATE_AREA_CODES
    }
    # then
    assert {} == disagreements
    assert set() == missing


@pytest.mark.parametrize(
    "number", ["+12125550123", "+33612345678", "+4915112345678", "+61412345678", "+18005550199"]
)
def test_phone_country_agrees_with_the_full_locality(number: str) -> None:
    """
    Ingestion's country read (no geocoder) gives the country the full locality gives.
    """
    assert phone_locality(number).country == phone_country(number)


@pytest.mark.parametrize("number", ["", "not a number", "+999"])
def test_phone_country_of_no_number_is_none(number: str) -> None:
    assert phone_country(number) is None
