"""
Where a phone number's owner probably is, as plain values for the guards: the country, the US
state and the time zones libphonenumber gives for the number's prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import timezone

from cartback.domain.us_area_codes import state_for_area_code

_STATES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL",
    "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA",
    "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN",
    "Mississippi": "MS", "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington": "WA", "Washington D.C.": "DC", "West Virginia": "WV", "Wisconsin": "WI",
    "Wyoming": "WY",
}  # fmt: skip
_CODES = frozenset(_STATES.values())


@dataclass(frozen=True, kw_only=True, slots=True)
class PhoneLocality:
    """
    A number's country (region code), area code and US state where known, and time zones.
    """

    country: str | None = None
    area_code: str | None = None
    us_state: str | None = None
    timezones: tuple[str, ...] = ()


def phone_locality(e164: str) -> PhoneLocality:
    """
    Read a number in E.164. A non-geographic number (toll-free, mobile-only ranges that span
    a continent) gives no time zones, so the guards fall back to the address or the store.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return PhoneLocality()
    country = phonenumbers.region_code_for_number(number)
    zones: tuple[str, ...] = ()
    if phonenumbers.is_number_geographical(number):
        zones = tuple(z for z in timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    if country != "US":
        return PhoneLocality(country=country or None, timezones=zones)
    area_code = phonenumbers.national_significant_number(number)[:3]
    state = state_for_area_code(area_code) or _state_from_geocoder(number)
    return PhoneLocality(country=country, area_code=area_code, us_state=state, timezones=zones)


def phone_country(e164: str) -> str | None:
    """
    The country a number in E.164 belongs to (ISO 3166 alpha-2), or None; unlike
    `phone_locality`, never reads the geocoder.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(number) or None


def us_state_from_libphonenumber(e164: str) -> str | None:
    """
    libphonenumber's own idea of a US number's state, used to cross-check our table.
    """
    return _state_from_geocoder(phonenumbers.parse(e164, None))


def _state_from_geocoder(number: phonenumbers.PhoneNumber) -> str | None:
    # Imported on first use: the geocoder's place names take about 100 MB, and the area-code
    # table answers nearly every US number without them (a worker's memory budget, issue #5).
    from phonenumbers import geocoder

    place = geocoder.description_for_number(number, "en")
    if place in _STATES:
        return _STATES[place]
    suffix = place.rpartition(", ")[2]
    return suffix if suffix in _CODES else None
