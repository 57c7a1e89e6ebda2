"""
What the WooCommerce and Magento adapters share: validating a platform object with field paths,
reading the platforms' UTC timestamps, turning billing details into identity claims, and
building idempotency keys that fit the event log.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from cartback.domain.errors import FieldError
from cartback.domain.events import IdentityClaims
from cartback.domain.origin import alpha2
from cartback.kit.normalise import normalise_email, normalise_phone

_M = TypeVar("_M", bound=BaseModel)

#: The event log keeps idempotency keys of at most this many characters.
MAX_KEY = 255
#: A shop's clock may run ahead of ours; beyond this its time is not trusted (see `occurred`).
FUTURE_TOLERANCE = timedelta(minutes=5)


class Invalid(Exception):
    """
    A platform object that cannot be translated, with every field that is wrong.
    """

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors)
        self.errors = errors


def validated(model: type[_M], data: Any, *, prefix: str = "") -> _M:
    """
    The object validated by `model`.

    Raises:
        Invalid: with a path per bad field (`line_items[1].price`).
    """
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise Invalid(
            [
                FieldError(
                    path=_path(prefix, e["loc"]), message=e["msg"].removeprefix("Value error, ")
                )
                for e in error.errors()
            ]
        ) from None


def _path(prefix: str, loc: Sequence[int | str]) -> str:
    parts = [prefix, *(f"[{p}]" if isinstance(p, int) else str(p) for p in loc)]
    return ".".join(p for p in parts if p).replace(".[", "[")


def parse_utc(value: str | None) -> datetime | None:
    """
    A platform timestamp as an aware UTC datetime. WooCommerce's `*_gmt` fields and Magento's
    `updated_at` (`2017-03-22T19:28:08`, `2024-05-01 10:00:00`) are UTC without an offset;
    a value with an offset keeps it. None for a missing, zero or unreadable value.
    """
    if not value or value.startswith("0000"):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)


def occurred(stamp: datetime | None, *, received_at: datetime) -> datetime:
    """
    When a change happened: the platform's own time, so an older update is recognised as stale,
    or the time of receipt when the platform gave none. A time far ahead of ours (a shop server
    with a wrong clock) is replaced by the time of receipt rather than refused, since WooCommerce
    never resends what we refuse.
    """
    if stamp is None or stamp > received_at + FUTURE_TOLERANCE:
        return received_at
    return stamp


def claims(
    *,
    user_id: str | None,
    email: Any,
    phone: Any,
    region: str | None,
) -> IdentityClaims | None:
    """
    Who placed an order or owns a quote. An address or number that does not normalise is
    dropped: a checkout form's typo is a hint lost, not a reason to refuse the order.
    """
    found = IdentityClaims(
        user_id=user_id,
        email=_normalised(email, normalise_email),
        phone=_normalised(phone, lambda raw: normalise_phone(raw, default_region=region)),
    )
    return None if found.is_empty else found


def _normalised(value: Any, normalise: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        result: str = normalise(value)
    except ValueError:
        return None
    return result


def region_of(country: Any, fallback: str | None) -> str | None:
    """
    The ISO country a phone number without `+` is read in: the address's, else the store's.
    """
    if isinstance(country, str) and len(country.strip()) == 2:
        return country.strip().upper()
    return fallback


#: Where the platforms put an order's or checkout's addresses, shipping first (Shopify
#: `shipping_address`, WooCommerce `shipping`, Magento `billing_address` and
#: `extension_attributes.shipping_assignments[].shipping.address`), and the country's field.
_ADDRESSES = ("shipping_address", "shipping", "billing_address", "billing")
_COUNTRY_FIELDS = ("country_code", "country_id", "country")


def address_country(document: Any) -> str | None:
    """
    The ISO alpha-2 country of the first address a platform payload carries, or None (for
    the cart's country: `domain/origin.py`).
    """
    if not isinstance(document, dict):
        return None
    addresses = [document.get(name) for name in _ADDRESSES]
    extension = document.get("extension_attributes")
    assignments = extension.get("shipping_assignments") if isinstance(extension, dict) else None
    for assignment in assignments if isinstance(assignments, list) else []:
        shipping = assignment.get("shipping") if isinstance(assignment, dict) else None
        addresses.append(shipping.get("address") if isinstance(shipping, dict) else None)
    for address in addresses:
        if isinstance(address, dict):  # Shopify sends `[]` for an empty address
            for name in _COUNTRY_FIELDS:
                code = alpha2(address.get(name))
                if code is not None:
                    return code
    return None


def plain(name: str | None) -> str | None:
    """
    A product name as shoppers read it: platforms send HTML entities (`Ship Your Idea &ndash; M`).
    """
    return html.unescape(name) if name else name


def nonzero(identifier: str | None) -> str | None:
    """
    An id, or None for the platforms' `0` meaning "none" (a guest, a product without variants).
    """
    return None if identifier in (None, "", "0") else identifier


def bounded_key(*parts: object) -> str:
    """
    An idempotency key from its parts, joined with `:`; a key longer than the log allows is
    replaced by its digest, so a long header can neither fail the insert nor collide.
    """
    key = ":".join(str(p) for p in parts)
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def content_digest(document: Any) -> str:
    """
    A short digest of an object's content, so two reads of the same state share a key.
    """
    encoded = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest()[:16]
