"""
Contact details as ad networks want them: normalised by each network's own rules, then
SHA-256 hashed (lower-case hex). The same person must hash to the same value on our side and on
the network's, so every rule here follows what the network documents:

- Meta (Custom Audiences, Conversions API), by the rules of Meta's own Business SDK: trim and
  lower-case; an email must match Meta's pattern; a phone keeps its digits, without the `+`
  and without leading zeros (the country code must be there already).
- Google (Customer Match, enhanced conversions): email trimmed and lower-cased; phone in E.164
  WITH the `+` (`+16502531234`), unlike every other network here.
- TikTok (customer files): email lower-cased, spaces removed, and a `+tag` before the `@`
  removed; phone digits only (no `+`, letters or leading zeros).
- Snap (Conversions API): email trimmed and lower-cased; phone digits only, no `+` or leading
  zeros.

A value that cannot be normalised (not an email, no country code) gives None: it is left out
rather than sent in a form that matches nobody.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum


class Network(StrEnum):
    """
    An ad network Cartback hashes contact details for.
    """

    META = "meta"
    GOOGLE = "google"
    TIKTOK = "tiktok"
    SNAP = "snap"


#: Meta's SDK pattern for `em` (after trimming and lower-casing).
_META_EMAIL = re.compile(r"^[a-z0-9_.+-]+@[a-z0-9-]+\.[a-z0-9-.]+$")
#: What every network can read as an address: one `@`, something on both sides, no spaces.
_ANY_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Separators people write inside phone numbers.
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
#: A country code and a subscriber number: E.164 allows at most 15 digits; 7 is the shortest
#: international number Meta's SDK accepts (1-4 country, 2-3 area, 4+ subscriber digits).
_PHONE_DIGITS = re.compile(r"^[1-9][0-9]{6,14}$")


def normalise_email(network: Network, raw: str) -> str | None:
    """
    The email address as `network` hashes it, or None when it is not an address.

    Args:
        network: whose rules apply.
        raw: the address as stored or typed.

    Returns:
        The normalised address (the text to hash), or None.
    """
    text = raw.strip().lower()
    if network is Network.META:
        return text if _META_EMAIL.match(text) else None
    if network is Network.TIKTOK:
        text = _without_tag("".join(text.split()))
    return text if _ANY_EMAIL.match(text) else None


def _without_tag(address: str) -> str:
    # TikTok: "remove '+' and any characters following it until '@'".
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    return local.split("+", 1)[0] + at + domain


def normalise_phone(network: Network, raw: str) -> str | None:
    """
    The phone number as `network` hashes it, or None when it has no usable country code.

    Google keeps E.164's `+`; Meta, TikTok and Snap want the bare digits. A leading `00`
    (the international call prefix) counts as the `+`.

    Args:
        network: whose rules apply.
        raw: the number, ideally in E.164 (how Cartback stores phones).

    Returns:
        The normalised number (the text to hash), or None.
    """
    text = _PHONE_SEPARATORS.sub("", raw.strip().lower())
    if network in (Network.TIKTOK, Network.SNAP):
        text = "".join(c for c in text if c.isdigit())  # also drops letters and symbols
    digits = text.removeprefix("+").lstrip("0")
    if not _PHONE_DIGITS.match(digits):
        return None
    if network is Network.GOOGLE:
        # A national number (no `+`, no `00`) has no country code: E.164 cannot be made.
        has_country = text.startswith(("+", "00"))
        return "+" + digits if has_country else None
    return digits


def sha256_hex(text: str) -> str:
    """
    The SHA-256 digest of the UTF-8 text, in lower-case hex (what every network expects).
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hashed(network: Network, email: str | None, phone: str | None) -> tuple[tuple[str, str], ...]:
    """
    A person's identifiers for `network`: `("email", hash)` then `("phone", hash)`, each only
    when present and normalisable.

    Args:
        network: whose normalisation rules apply.
        email: the address, if known.
        phone: the number, if known.

    Returns:
        Pairs of kind (`email` or `phone`) and SHA-256 hex; empty when nothing is usable.
    """
    found: list[tuple[str, str]] = []
    if email is not None and (normal := normalise_email(network, email)) is not None:
        found.append(("email", sha256_hex(normal)))
    if phone is not None and (normal := normalise_phone(network, phone)) is not None:
        found.append(("phone", sha256_hex(normal)))
    return tuple(found)
