"""
Custom sites (the storefront snippet, or a Segment or RudderStack SDK): how a restore link
rebuilds a cart. The merchant sets a URL template with two placeholders, and the site's own
code reads them back:

- `{items}`: the lines as `id:quantity` pairs joined by commas (`sku-1:2,sku-9:1`), each id
  percent-encoded; the id is the line's `variant_id`, else its `product_id`, else its `sku`.
- `{code}`: the discount code, percent-encoded. It must sit in the query string: without a code,
  the query parameter that holds it is left out (`…&coupon={code}` disappears whole).

`https://shop.example.com/cart/restore?items={items}&coupon={code}` becomes
`https://shop.example.com/cart/restore?items=sku-1:2,sku-9:1&coupon=WELCOME10`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote, urlsplit, urlunsplit

from cartback.domain.events import LineItem

ITEMS = "{items}"
CODE = "{code}"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def check_restore_template(template: str) -> list[str]:
    """
    What is wrong with a restore URL template (an empty list when nothing is).
    """
    text = template.strip()
    parts = urlsplit(text)
    problems: list[str] = []
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append("must be an absolute http(s) URL")
    unknown = sorted({f"{{{name}}}" for name in _PLACEHOLDER.findall(text)} - {ITEMS, CODE})
    if unknown:
        problems.append(f"unknown placeholder {', '.join(unknown)}; use {ITEMS} and {CODE}")
    if ITEMS not in text:
        problems.append(f"must contain {ITEMS}")
    outside_query = urlunsplit(parts._replace(query=""))
    if CODE in outside_query:
        problems.append(f"{CODE} must be in the query string, so it can be left out")
    if re.search(r"[{}]", _PLACEHOLDER.sub("", text)):
        problems.append("has an unmatched brace")
    return problems


def custom_restore_url(template: str, lines: Sequence[LineItem], code: str | None = None) -> str:
    """
    The URL that rebuilds a cart on a custom site, from the store's template.

    Args:
        template: the store's restore URL template (see the module's docstring).
        lines: the cart's lines; lines with no quantity left are skipped.
        code: a discount code still valid for this cart, or None.

    Raises:
        ValueError: the template is not valid (`check_restore_template` says why).
    """
    problems = check_restore_template(template)
    if problems:
        raise ValueError("; ".join(problems))
    parts = urlsplit(template.strip())
    pairs = [p for p in parts.query.split("&") if p and (code or CODE not in p)]
    query = "&".join(p.replace(CODE, quote(code or "", safe="")) for p in pairs)
    items = ",".join(
        f"{quote(_line_id(line), safe='')}:{line.quantity}" for line in lines if line.quantity > 0
    )
    return urlunsplit(parts._replace(query=query)).replace(ITEMS, items)


def _line_id(line: LineItem) -> str:
    # LineItem guarantees one of the three ids.
    return line.variant_id or line.product_id or line.sku or ""
