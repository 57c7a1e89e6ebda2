"""
Offers (issue #7): discount codes, who may get one, how much it takes off, and when it ends.

Pure: no I/O and no clock. The service that gives offers gathers `OfferFacts` about the cart and
the contact, asks `eligibility`, draws a code with `new_code` and sets its end with `expiry`.

Decisions a reader may look for:

- Codes use 32 symbols without the look-alikes 0/O and 1/I, so a code read aloud or copied
  from a phone screen is typed right; ten of them carry 50 bits of randomness from `secrets`,
  far too many to guess against a shop's rate limits. Shoppers' typing is normalised
  (`normalise_code`) before any lookup.
- Eligibility is strict where money leaks: a cart holding an excluded item gets no code at all
  (platforms cannot all restrict a code to some lines, so a code could otherwise discount the
  excluded item), and the margin floor refuses a discount that would sell below it. It is only
  checked when every line's cost is known; guessing a cost would refuse or allow at random.
- The per-contact limit counts offers *given*, used or not, so abandoning carts on purpose does
  not farm codes.
- Amounts are rounded half-even to the currency's minor unit (CLDR's digits, as babel formats
  them elsewhere: none for JPY, three for KWD).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any

from cartback.domain.flows import Offer, OfferKind
from cartback.domain.time import check_aware

#: 32 symbols: no 0/O and no 1/I, which shoppers confuse.
CODE_ALPHABET: str = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
#: 10 symbols of 5 bits: 50 bits of randomness (the issue asks for at least 40).
CODE_LENGTH: int = 10
#: A store's code prefix: up to 8 letters or digits 2-9, optionally ending in `-` (`CB-`).
PREFIX = re.compile(r"(?:[A-Z2-9]{1,8}-?)?")
DEFAULT_EXPIRES_IN = timedelta(hours=48)
DEFAULT_WINDOW = timedelta(days=90)

#: Currencies whose minor unit is not the cent, by decimals (CLDR's digits, which babel uses to
#: format money elsewhere in Cartback).
_UNCOMMON_PLACES = {
    0: "ADP AFN ALL BIF BYR CLP COP DJF ESP GNF HUF IDR IQD IRR ISK ITL JPY KMF KPW KRW LAK LBP "
    "LUF MGA MGF MMK MRO PYG RWF SLL SOS STD SYP TMM TRL UGX UYI VND VUV XAF XOF XPF YER ZMK ZWD",
    3: "BHD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}
_CURRENCY_PLACES = {
    code: places for places, codes in _UNCOMMON_PLACES.items() for code in codes.split()
}


class OfferReason(StrEnum):
    """
    Why a cart or contact gets no offer, in the order `eligibility` checks.
    """

    CART_EMPTY = "cart_empty"
    MIN_TOTAL = "min_total"
    RETURNING_CUSTOMER = "returning_customer"
    ON_SALE = "on_sale"
    EXCLUDED_ITEM = "excluded_item"
    OFFER_LIMIT = "offer_limit"
    CONDITION_FALSE = "condition_false"
    MARGIN_FLOOR = "margin_floor"


# --- codes ---------------------------------------------------------------------------------


def new_code(*, prefix: str = "", randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """
    A fresh code: `prefix` and `CODE_LENGTH` symbols of `CODE_ALPHABET`. Uniqueness in the
    store is the repository's to enforce (it refuses a taken code: draw again).

    Args:
        prefix: the store's prefix (`PREFIX`), e.g. `CB-`.
        randbelow: the source of randomness; `secrets.randbelow` unless a test fixes it.

    Raises:
        ValueError: the prefix is not a valid one.
    """
    if not PREFIX.fullmatch(prefix):
        raise ValueError(f"{prefix!r} is not a code prefix (up to 8 of A-Z, 2-9, then -)")
    size = len(CODE_ALPHABET)
    return prefix + "".join(CODE_ALPHABET[randbelow(size)] for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str:
    """
    A code as shoppers type it, made comparable: surrounding spaces dropped, upper case.
    """
    return text.strip().upper()


def offer_key(offer: Offer) -> str:
    """
    What makes two offers the same for one enrollment (`percent:10`, `free_shipping:0`): the
    same key means the same code, in every channel of that enrollment.
    """
    return f"{offer.kind.value}:{offer.value.normalize():f}"


# --- eligibility ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferItem:
    """
    One cart line as the offer rules see it: price, catalog facts and, when known, its cost.
    """

    key: str
    quantity: int
    unit_price: Decimal
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    category: str | None = None
    compare_at_price: Decimal | None = None
    #: What one unit cost the merchant; None when the catalog does not say.
    cost: Decimal | None = None

    @property
    def on_sale(self) -> bool:
        """
        Already reduced: its compare-at price is above what it sells for.
        """
        return self.compare_at_price is not None and self.compare_at_price > self.unit_price


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferRules:
    """
    A store's defaults for its offers (`cartback offers configure`); an offer in a flow file
    may set its own `expires_in`, `max_per_contact` and `margin_floor`.
    """

    expires_in: timedelta = DEFAULT_EXPIRES_IN
    #: At most this many offers per contact in `window`; None: no limit.
    max_per_contact: int | None = None
    window: timedelta = DEFAULT_WINDOW
    #: The smallest margin left after a discount, as a fraction of the discounted total.
    margin_floor: Decimal | None = None
    #: Put before every code (`CB-`).
    prefix: str = ""

    def __post_init__(self) -> None:
        if self.expires_in <= timedelta(0) or self.window <= timedelta(0):
            raise ValueError("expires_in and window must be longer than zero")
        if self.max_per_contact is not None and self.max_per_contact < 1:
            raise ValueError("max_per_contact must be at least 1")
        if self.margin_floor is not None and not 0 <= self.margin_floor < 1:
            raise ValueError("margin_floor must be from 0 to below 1")
        if not PREFIX.fullmatch(self.prefix):
            raise ValueError(f"{self.prefix!r} is not a code prefix")


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferFacts:
    """
    What eligibility is decided on: the cart (total in `currency`, lines), the contact's orders,
    the offers they were given in the store's window, and the activation for `offer.when`.
    """

    total: Decimal
    currency: str
    items: tuple[OfferItem, ...]
    orders_count: int
    #: Offers given to this contact in `OfferRules.window`, not counting this enrollment's.
    given_recently: int
    #: `expressions.activation(cart, contact)`, what `offer.when` is evaluated on.
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class Eligibility:
    """
    The answer: eligible with the discount it gives, or not and why (an `OfferReason`).
    """

    eligible: bool
    reason: str | None = None
    discount: Decimal = Decimal(0)


def eligibility(offer: Offer, rules: OfferRules, facts: OfferFacts) -> Eligibility:
    """
    Whether the offer may be given for this cart and contact, checked in this order (the first
    rule that refuses gives the reason):

    1. `cart_empty`: no lines, or a total of zero or less.
    2. `min_total`: the total is below the offer's `min_total` (equal passes).
    3. `returning_customer`: a `first_time_only` offer and the contact has ordered.
    4. `on_sale`: the offer excludes `on_sale` and a line is on sale.
    5. `excluded_item`: a line matches an excluded `category:`, `sku:` or `product:`
       (compared without regard to case).
    6. `offer_limit`: the contact was given `max_per_contact` offers (the offer's, else the
       store's) in the window already.
    7. `condition_false`: the offer's `when` is not true for `facts.values`.
    8. `margin_floor`: with every line's cost known, the margin left after the discount is
       below the floor (the offer's, else the store's); equal passes.
    """
    discount = discount_amount(offer.kind, offer.value, facts.total, currency=facts.currency)
    checks: tuple[tuple[OfferReason, Callable[[], bool]], ...] = (
        (OfferReason.CART_EMPTY, lambda: not facts.items or facts.total <= 0),
        (OfferReason.MIN_TOTAL, lambda: _below_minimum(offer, facts)),
        (OfferReason.RETURNING_CUSTOMER, lambda: offer.first_time_only and facts.orders_count > 0),
        (OfferReason.ON_SALE, lambda: "on_sale" in offer.exclude and _any_on_sale(facts)),
        (OfferReason.EXCLUDED_ITEM, lambda: _holds_excluded(offer.exclude, facts.items)),
        (OfferReason.OFFER_LIMIT, lambda: _over_limit(offer, rules, facts)),
        (OfferReason.CONDITION_FALSE, lambda: _condition_false(offer, facts)),
        (OfferReason.MARGIN_FLOOR, lambda: _below_margin(offer, rules, facts, discount)),
    )
    for reason, refuses in checks:
        if refuses():
            return Eligibility(eligible=False, reason=reason.value)
    return Eligibility(eligible=True, discount=discount)


def _below_minimum(offer: Offer, facts: OfferFacts) -> bool:
    return offer.min_total is not None and facts.total < offer.min_total


def _any_on_sale(facts: OfferFacts) -> bool:
    return any(item.on_sale for item in facts.items)


def excluded(rule: str, item: OfferItem) -> bool:
    """
    Whether an `exclude` entry (`category:NAME`, `sku:SKU`, `product:ID`) names this line.
    `on_sale` is not an item rule here (see `OfferItem.on_sale`).
    """
    kind, _, wanted = rule.partition(":")
    value = {"category": item.category, "sku": item.sku, "product": item.product_id}.get(kind)
    # Case-insensitive on purpose: a merchant writing `category:Sale` for `sale` means it, and
    # an exclusion that misses by case would discount what they meant to protect.
    return value is not None and value.strip().casefold() == wanted.strip().casefold()


def _holds_excluded(rules: tuple[str, ...], items: tuple[OfferItem, ...]) -> bool:
    return any(excluded(rule, item) for rule in rules if rule != "on_sale" for item in items)


def _over_limit(offer: Offer, rules: OfferRules, facts: OfferFacts) -> bool:
    limit = offer.max_per_contact if offer.max_per_contact is not None else rules.max_per_contact
    return limit is not None and facts.given_recently >= limit


def _condition_false(offer: Offer, facts: OfferFacts) -> bool:
    return offer.when is not None and not offer.when.evaluate(facts.values).matched


def _below_margin(offer: Offer, rules: OfferRules, facts: OfferFacts, discount: Decimal) -> bool:
    floor = offer.margin_floor if offer.margin_floor is not None else rules.margin_floor
    margin = margin_after(facts, discount)
    return floor is not None and margin is not None and margin < floor


def margin_after(facts: OfferFacts, discount: Decimal) -> Decimal | None:
    """
    The share of the discounted total left once the lines' costs are paid; None when a cost
    is unknown. Nothing left to sell for (a total discount) is a margin of minus one.
    """
    if any(item.cost is None for item in facts.items):
        return None
    costs = sum(
        (item.cost * item.quantity for item in facts.items if item.cost is not None), Decimal(0)
    )
    paid = facts.total - discount
    if paid <= 0:
        return Decimal(-1)
    return (paid - costs) / paid


# --- amounts and time ----------------------------------------------------------------------


def currency_places(currency: str | None) -> int:
    """
    The decimals of a currency's minor unit (2 unless CLDR says otherwise: 0 for JPY).
    """
    return _CURRENCY_PLACES.get((currency or "").upper(), 2)


def discount_amount(
    kind: OfferKind, value: Decimal, subtotal: Decimal, *, currency: str | None = None
) -> Decimal:
    """
    What an offer takes off a subtotal, rounded half-even to the currency's minor unit: a
    percent of it, a fixed amount (never more than the subtotal), or nothing for free
    shipping (the platform waives the shipping itself).
    """
    if subtotal <= 0 or kind is OfferKind.FREE_SHIPPING:
        return Decimal(0)
    unit = Decimal(1).scaleb(-currency_places(currency))
    amount = subtotal * value / 100 if kind is OfferKind.PERCENT else value
    return min(amount, subtotal).quantize(unit, rounding=ROUND_HALF_EVEN)


def expiry(
    offer: Offer, rules: OfferRules, now: datetime, *, ends_by: datetime | None = None
) -> datetime:
    """
    When a code given now ends: after the offer's `expires_in` (else the store's), but never
    after `ends_by` (the enrollment's end), so a code does not outlive its flow.

    Raises:
        ValueError: a naive datetime.
    """
    check_aware(now, "now")
    check_aware(ends_by, "ends_by")
    ends = now + (offer.expires_in if offer.expires_in is not None else rules.expires_in)
    return ends if ends_by is None else min(ends, ends_by)
