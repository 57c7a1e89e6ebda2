"""
What the product translators share: the selling pair of a product on sale, page links made
from a payload's parts, and the product feeds' details (a description without HTML, a brand, a
GTIN). Each refuses to guess: a value it cannot read is left out (None), so the catalog keeps
what it knew, rather than losing the product's stock read over a price.
"""

from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

from cartback.domain.catalog import MAX_BRAND, MAX_DESCRIPTION, MAX_MPN, MAX_URL, is_gtin

_HOST = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
)
_WEB_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)
#: Tags whose end starts a new line of text; their content is kept.
_BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption"}
    | {"footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre"}
    | {"section", "table", "td", "th", "tr", "ul"}
)
#: Tags whose content is not text a shopper reads.
_HIDDEN = frozenset({"script", "style", "template", "noscript", "iframe", "svg"})
_SPACES = re.compile(r"[^\S\n]+")


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


def description(value: Any) -> str | None:
    """
    A product description as plain text (feeds allow no HTML): tags removed, entities decoded,
    blocks on their own lines, spaces collapsed, cut to the feeds' 5,000 characters.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    reader = _TextReader()
    reader.feed(value)
    reader.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(reader.parts).splitlines())
    found = "\n".join(line for line in lines if line)
    return found[:MAX_DESCRIPTION].rstrip() or None


def brand(value: Any) -> str | None:
    """
    A brand name, stripped and cut to 200 characters, else None.
    """
    name = text(value)
    return name[:MAX_BRAND].rstrip() if name else None


def mpn(value: Any) -> str | None:
    """
    A manufacturer part number of at most 70 characters, else None (never cut: a shortened
    part number names another part).
    """
    code = text(value)
    return code if code and len(code) <= MAX_MPN else None


def gtin(value: Any) -> str | None:
    """
    A valid GTIN (8, 12, 13 or 14 digits with its check digit), spaces and dashes removed;
    else None: a shop's internal barcode is not a GTIN, and a wrong one gets items refused.
    """
    code = re.sub(r"[\s-]", "", value) if isinstance(value, str) else None
    return code if code and is_gtin(code) else None


class _TextReader(HTMLParser):
    """
    Collects the text of an HTML fragment, with a line break after each block.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)
