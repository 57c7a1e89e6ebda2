"""
What a restore link brings back (`contract.md` §5.4), decided from data: which of the cart's
lines still sell, which discount code still holds, and whether the link is too old.

- **A line is dropped** only when the catalog says its item cannot be bought now (not
  available, or a stock count of zero or less). A line the catalog does not know is kept: the
  platform decides then, as it did when the shopper added it.
- **The code** is the enrollment's newest offer that is valid now (`OfferRecord.valid_at`):
  a superseded, failed, expired or used one is never put in a link, and without a valid one
  the link carries no code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cartback.domain.catalog import CatalogItem, find_item
from cartback.domain.events import LineItem
from cartback.domain.ports import OfferRecord
from cartback.domain.time import check_aware


@dataclass(frozen=True, kw_only=True, slots=True)
class LineSplit:
    """
    A cart's lines: those that can still be bought, and those that cannot any more.
    """

    kept: tuple[LineItem, ...]
    dropped: tuple[LineItem, ...]


def split_available(lines: Sequence[LineItem], items: Mapping[str, CatalogItem]) -> LineSplit:
    """
    The lines with a quantity, split by what the catalog says of each now.

    Args:
        lines: the cart's lines.
        items: catalog items by key and by `s:<sku>` (`CatalogRepository.get_many`).
    """
    known = dict(items)
    kept: list[LineItem] = []
    dropped: list[LineItem] = []
    for line in lines:
        if line.quantity <= 0:
            continue
        item = find_item(line, known)
        (dropped if item is not None and not item.in_stock else kept).append(line)
    return LineSplit(kept=tuple(kept), dropped=tuple(dropped))


def valid_code(offers: Sequence[OfferRecord], now: datetime) -> str | None:
    """
    The code of the newest offer valid at `now`, or None.

    Args:
        offers: the enrollment's offers, oldest first (`OfferRepository.for_enrollment`).
        now: the time of the click.
    """
    check_aware(now, "now")
    valid = [offer for offer in offers if offer.valid_at(now)]
    return max(valid, key=lambda o: (o.created_at, o.id)).code if valid else None


def is_expired(signed_at: datetime, lifetime: timedelta, now: datetime) -> bool:
    """
    Whether a link signed at `signed_at` has outlived `lifetime` at `now`.
    """
    check_aware(signed_at, "signed_at")
    check_aware(now, "now")
    return now - signed_at > lifetime


def line_title(line: LineItem) -> str:
    """
    How a page names a line: its name and variant, else the first id it has.
    """
    name = line.name or line.sku or line.product_id or line.variant_id or ""
    return f"{name} ({line.variant_name})" if line.variant_name else name


__all__ = ["LineSplit", "is_expired", "line_title", "split_available", "valid_code"]
