"""
Contact normalisation: email addresses checked and lower-cased, phone numbers in E.164.
"""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email


def normalise_email(raw: str) -> str:
    """
    Return the address trimmed and lower-cased, as ad networks and deduplication expect.

    Raises:
        ValueError: the text is not an email address.
    """
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None
    return checked.normalized.lower()


def normalise_phone(raw: str, *, default_region: str | None = None) -> str:
    """
    Return the number in E.164 (`+14155550123`).

    A number without a country code is read in `default_region` (the store's country).

    Raises:
        ValueError: the text is not a valid phone number.
    """
    try:
        number = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException:
        raise ValueError(
            "not a phone number; write it with its country code, e.g. +14155550123"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def phone_forms(e164: str) -> list[str]:
    """
    The ways a stored E.164 number may have been written by a source: E.164, international
    (`+49 30 1234567`), national (`030 1234567`) and the national digits alone; for finding
    every mention of a person in raw payloads. A number that does not parse is itself only.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return [e164]
    formats = (
        phonenumbers.PhoneNumberFormat.E164,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.NATIONAL,
    )
    forms = [str(phonenumbers.format_number(number, f)) for f in formats]
    forms.append("".join(c for c in forms[2] if c.isdigit()))  # 015123456789
    forms.append(str(phonenumbers.national_significant_number(number)))
    return list(dict.fromkeys(f for f in forms if f))
