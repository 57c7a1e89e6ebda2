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
