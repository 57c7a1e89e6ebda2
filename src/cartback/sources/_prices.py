"""
What the product translators share: the selling pair of a product on sale, and page links made
from a payload's parts. Each refuses to guess: a value it cannot read is left out (None), so
the catalog keeps what it knew, rather than losing the product's stock read over a price.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from cartback.domain.catalog import MAX_URL

_HOST = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
)
_WEB_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)


def selling(price: Decimal | None, was: Decimal | None) -> tuple[Decimal | None, Decimal | None]:
    """
    The price and the "was" price, the latter only when the item is on sale (above the price):
    platforms leave an old compare-at price at or below the price when a sale ends.
    """
    if price is None:
        return None, None
    return price, was if was is not None and was > price else None


def web_url(value: str | None) -> str | None:
    """
    An absolute http(s) link of at most 2,048 characters, else None (a relative path or a
    `javascript:` link is not a product page).
    """
    if value is None or len(value) > MAX_URL or not _WEB_URL.fullmatch(value):
        return None
    return value


def host(value: str | None) -> str | None:
    """
    A bare host name (`snowdevil.myshopify.com`), lower-cased, else None.
    """
    name = (value or "").strip().lower()
    return name if _HOST.fullmatch(name) else None


def page(base: str, *parts: str) -> str | None:
    """
    `base` followed by path segments, each percent-encoded, if the result is a web link.
    """
    return web_url(base.rstrip("/") + "".join("/" + quote(p.strip("/"), safe="/") for p in parts))


def text(value: Any) -> str | None:
    """
    A string value stripped, else None (an empty string or another type).
    """
    return (value.strip() or None) if isinstance(value, str) else None


def first(values: Any) -> Any:
    """
    A list's first element, else None.
    """
    return values[0] if isinstance(values, list) and values else None


def src(image: Any) -> str | None:
    """
    An image object's `src`, else None.
    """
    return text(image.get("src")) if isinstance(image, dict) else None
