"""
US area codes (NPAs) of the states whose texting hours are stricter than the TCPA's.

Source: the North American Numbering Plan Administrator's NPA assignments (nationalnanpa.com),
cross-checked in the tests against the geocoding data of `phonenumbers` (libphonenumber). An area
code says where a number was issued, not where its owner lives today (numbers move with people);
Florida's and Oklahoma's laws presume the area code, which is why we read it. The table lists
only the stricter states; `kit.phone_locality` learns every other state from libphonenumber.
"""

from __future__ import annotations

from collections.abc import Mapping

_BY_STATE: Mapping[str, tuple[str, ...]] = {
    "FL": (
        "239", "305", "321", "324", "352", "386", "407", "448", "561", "645", "656", "689",
        "727", "728", "754", "772", "786", "813", "850", "863", "904", "941", "954",
    ),
    "MD": ("227", "240", "301", "410", "443", "667"),
    "MS": ("228", "601", "662", "769"),
    "NJ": ("201", "551", "609", "640", "732", "848", "856", "862", "908", "973"),
    "OK": ("405", "539", "572", "580", "918"),
    "CT": ("203", "475", "860", "959"),
    "TX": (
        "210", "214", "254", "281", "325", "346", "361", "409", "430", "432", "469", "512",
        "682", "713", "726", "737", "806", "817", "830", "832", "903", "915", "936", "940",
        "945", "956", "972", "979",
    ),
    "RI": ("401",),
}  # fmt: skip

#: Area code to USPS state code, for the states in `quiet_hours.US_STATES`.
STRICT_STATE_AREA_CODES: Mapping[str, str] = {
    code: state for state, codes in _BY_STATE.items() for code in codes
}


def state_for_area_code(area_code: str) -> str | None:
    """
    The stricter state an area code belongs to, or `None` when it is not one of theirs.
    """
    return STRICT_STATE_AREA_CODES.get(area_code)
