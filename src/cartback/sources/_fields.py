"""
Field types shared by the sources: identifiers, prices, quantities, URLs and currencies, each
refusing what would be a bug or an attack (negative or absurd numbers, `javascript:` links).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator

from cartback.domain.events import MAX_QUANTITY, MAX_UNIT_PRICE

#: An order or cart total may be far above one unit's price, but not unbounded.
MAX_AMOUNT = Decimal("1000000000000")
_CENT_FRACTION = Decimal("0.0001")
_SAFE_URL = re.compile(r"(https?://|//|/)[^\s]*", re.IGNORECASE)
_CURRENCY = re.compile(r"[A-Za-z]{3}")


def _identifier(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a string or an integer")
    text = str(value).strip()
    if len(text) > 255:
        raise ValueError("must be at most 255 characters")
    return text or None


def _text(limit: int) -> Any:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValueError("must be a string")
        text = str(value).strip()
        if len(text) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return text or None

    return check


def _decimal(value: Any, *, limit: Decimal) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        if isinstance(value, float):
            amount = Decimal(repr(value))  # the shortest text that reads back as this float
        elif isinstance(value, int | str):
            amount = Decimal(str(value).strip())
        else:
            raise ValueError("must be a number")
    except InvalidOperation:
        raise ValueError("must be a number") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount < 0:
        raise ValueError("must not be negative")
    if amount > limit:
        raise ValueError(f"must be at most {limit}")
    # abs() turns "-0" into 0 (negatives were refused above), so no "-0.00" is ever shown.
    return abs(amount).quantize(_CENT_FRACTION)


def _price(value: Any) -> Decimal | None:
    return _decimal(value, limit=MAX_UNIT_PRICE)


def _amount(value: Any) -> Decimal | None:
    return _decimal(value, limit=MAX_AMOUNT)


def _quantity(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # isdecimal, not isdigit: int() refuses digits such as "²" that isdigit accepts.
    elif isinstance(value, str) and value.strip().lstrip("-").isdecimal():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    if value < 0:
        raise ValueError("must not be negative")
    if value > MAX_QUANTITY:
        raise ValueError(f"must be at most {MAX_QUANTITY}")
    return value


def _url(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("must be a URL string")
    text = value.strip()
    if len(text) > 2048:
        raise ValueError("must be at most 2048 characters")
    if not _SAFE_URL.fullmatch(text):
        raise ValueError("must be an http(s) URL or a path")
    return text


def _currency(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value.strip()):
        raise ValueError("must be a three-letter ISO 4217 code")
    return value.strip().upper()


Identifier = Annotated[str | None, BeforeValidator(_identifier)]
Name = Annotated[str | None, BeforeValidator(_text(500))]
ShortText = Annotated[str | None, BeforeValidator(_text(200))]
Price = Annotated[Decimal | None, BeforeValidator(_price)]
Amount = Annotated[Decimal | None, BeforeValidator(_amount)]
Quantity = Annotated[int | None, BeforeValidator(_quantity)]
Url = Annotated[str | None, BeforeValidator(_url)]
Currency = Annotated[str | None, BeforeValidator(_currency)]
