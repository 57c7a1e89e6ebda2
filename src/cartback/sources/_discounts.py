"""
The discount codes an order used, as every source reports them: codes stripped and upper-cased
(shoppers type them in any case, and offers compare them upper-cased), with what each took off
when the platform says. A code or an amount that does not read is left out, never a reason to
refuse the order: an order matters more than its discount report.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from cartback.domain.events import AppliedDiscount
from cartback.sources._fields import MAX_AMOUNT

#: Longer than any platform's code (Shopify allows 255); longer text is not a code.
MAX_CODE = 255
_CENT_FRACTION = Decimal("0.0001")


def code(value: Any) -> str | None:
    """
    A discount code as Cartback compares it, else None.
    """
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    text = str(value).strip().upper()
    return text if text and len(text) <= MAX_CODE else None


def amount(value: Any, *, negative: bool = False) -> Decimal | None:
    """
    What a discount took off, from a number or a decimal string, else None. `negative`: the
    platform writes discounts below zero (Magento's `discount_amount`).
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        return None
    number = -number if negative else number
    if not number.is_finite() or not 0 <= number <= MAX_AMOUNT:
        return None
    return abs(number).quantize(_CENT_FRACTION)


def applied(pairs: Iterable[tuple[Any, Any]]) -> tuple[AppliedDiscount, ...]:
    """
    The discounts of (code, amount) pairs already read, in order, each code once (the amounts
    of a code listed twice added up).
    """
    found: dict[str, Decimal | None] = {}
    for given, taken in pairs:
        name = code(given)
        if name is None:
            continue
        if name in found:
            known = found[name]
            found[name] = None if known is None or taken is None else known + taken
        else:
            found[name] = taken
    return tuple(AppliedDiscount(code=name, amount=taken) for name, taken in found.items())


def from_objects(entries: Any, *, code_key: str, amount_key: str) -> tuple[AppliedDiscount, ...]:
    """
    The discounts of a list of objects (`[{"code": "TENOFF", "amount": "10.00"}]`).
    """
    objects = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    return applied((e.get(code_key), amount(e.get(amount_key))) for e in objects)


def from_list(codes: Any, total: Decimal | None) -> tuple[AppliedDiscount, ...]:
    """
    The discounts of a comma-separated list of codes and the total they took off, known per
    code only when there is one code.
    """
    names = [c for c in str(codes).split(",") if code(c)] if code(codes) else []
    return applied((name, total if len(names) == 1 else None) for name in names)
