"""
Who gets an offer (issue #7): each built-in rule alone passes at its boundary, refuses just past
it with its own reason, and falls back on the store's rule where the offer sets none; the
offer's own `when` is a safe expression; the first refusing rule in the documented order wins.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from cartback.domain.expressions import CartFacts, ContactFacts, activation, compile_expression
from cartback.domain.flows import Offer, OfferKind
from cartback.domain.offers import (
    Eligibility,
    OfferFacts,
    OfferItem,
    OfferReason,
    OfferRules,
    eligibility,
    margin_after,
)

ELIGIBLE = Eligibility(eligible=True, discount=Decimal("10.00"))


def _item(**overrides: Any) -> OfferItem:
    values: dict[str, Any] = {
        "key": "v1",
        "quantity": 2,
        "unit_price": Decimal(50),
        "product_id": "p1",
        "variant_id": "v1",
        "sku": "SKU-1",
        "category": "shoes",
        **overrides,
    }
    return OfferItem(**values)


def _facts(**overrides: Any) -> OfferFacts:
    values: dict[str, Any] = {
        "total": Decimal(100),
        "currency": "USD",
        "items": (_item(),),
        "orders_count": 0,
        "given_recently": 0,
        **overrides,
    }
    return OfferFacts(**values)


def _offer(**overrides: Any) -> Offer:
    return Offer(kind=OfferKind.PERCENT, value=Decimal(10), **overrides)


def _check(offer: Offer, facts: OfferFacts, rules: OfferRules | None = None) -> Eligibility:
    return eligibility(offer, rules or OfferRules(), facts)


def _refused(reason: OfferReason) -> Eligibility:
    return Eligibility(eligible=False, reason=reason.value)


def test_an_offer_with_no_rules_is_given_with_its_discount() -> None:
    """
    Nothing refuses: eligible, 10 % of 100.
    """
    # then
    assert ELIGIBLE == _check(_offer(), _facts())


@pytest.mark.parametrize(
    "facts", [_facts(items=()), _facts(total=Decimal(0)), _facts(total=Decimal("-1"))]
)
def test_an_empty_cart_gets_no_offer(facts: OfferFacts) -> None:
    """
    No lines, or nothing to pay: `cart_empty`.
    """
    # then
    assert _refused(OfferReason.CART_EMPTY) == _check(_offer(), facts)


def test_the_minimum_total_is_inclusive() -> None:
    """
    A cart of exactly the minimum gets it; a cent less does not (`min_total`).
    """
    # given
    offer = _offer(min_total=Decimal(100))
    # then
    assert ELIGIBLE == _check(offer, _facts(total=Decimal(100)))
    assert _refused(OfferReason.MIN_TOTAL) == _check(offer, _facts(total=Decimal("99.99")))


def test_a_first_time_offer_is_not_for_a_returning_customer() -> None:
    """
    No orders: given; one order: `returning_customer`. Without the flag, orders do not matter.
    """
    # given
    offer = _offer(first_time_only=True)
    # then
    assert ELIGIBLE == _check(offer, _facts(orders_count=0))
    assert _refused(OfferReason.RETURNING_CUSTOMER) == _check(offer, _facts(orders_count=1))
    assert ELIGIBLE == _check(_offer(), _facts(orders_count=5))


def test_an_offer_excluding_sale_items_skips_a_cart_with_one() -> None:
    """
    A compare-at price equal to the price is not a sale; a cent above is (`on_sale`).
    """
    # given
    offer = _offer(exclude=("on_sale",))
    full_price = _facts(items=(_item(compare_at_price=Decimal(50)),))
    reduced = _facts(items=(_item(), _item(key="v2", compare_at_price=Decimal("50.01"))))
    # then
    assert ELIGIBLE == _check(offer, full_price)
    assert _refused(OfferReason.ON_SALE) == _check(offer, reduced)
    assert ELIGIBLE == _check(_offer(), reduced)


@pytest.mark.parametrize(
    ("rule", "item"),
    [
        ("category:Shoes", _item(category="shoes")),
        ("sku:SKU-9", _item(sku="sku-9")),
        ("product:p7", _item(product_id="p7")),
    ],
)
def test_a_cart_holding_an_excluded_item_gets_no_code(rule: str, item: OfferItem) -> None:
    """
    One excluded line (category, SKU or product, any case) keeps the whole cart from a code,
    so no code can ever discount it (`excluded_item`).
    """
    # given
    offer = _offer(exclude=(rule,))
    clean = _facts(items=(_item(category="bags", sku="SKU-1", product_id="p1"),))
    holding = _facts(items=(_item(category="bags"), item))
    # then
    assert ELIGIBLE == _check(offer, clean)
    assert _refused(OfferReason.EXCLUDED_ITEM) == _check(offer, holding)


def test_the_offers_own_limit_per_contact_counts_given_offers() -> None:
    """
    One below the limit: given; at the limit: `offer_limit` (no coupon farming).
    """
    # given
    offer = _offer(max_per_contact=2)
    # then
    assert ELIGIBLE == _check(offer, _facts(given_recently=1))
    assert _refused(OfferReason.OFFER_LIMIT) == _check(offer, _facts(given_recently=2))


def test_the_stores_limit_applies_when_the_offer_sets_none() -> None:
    """
    The store's `max_per_contact` is the fallback; the offer's own limit wins over it.
    """
    # given
    rules = OfferRules(max_per_contact=1)
    # then
    assert ELIGIBLE == _check(_offer(), _facts(given_recently=0), rules)
    assert _refused(OfferReason.OFFER_LIMIT) == _check(_offer(), _facts(given_recently=1), rules)
    assert ELIGIBLE == _check(_offer(max_per_contact=3), _facts(given_recently=2), rules)


def test_the_offers_condition_is_a_safe_expression() -> None:
    """
    `when` true for the cart and contact: given; false: `condition_false`.
    """
    # given
    offer = _offer(when=compile_expression("cart.total >= 80 && contact.orders_count == 0"))

    def values(total: str, orders: int) -> dict[str, Any]:
        cart = CartFacts(total=Decimal(total), currency="USD", stage="checkout")
        return activation(cart, ContactFacts(orders_count=orders))

    # then
    assert ELIGIBLE == _check(offer, _facts(values=values("80", 0)))
    assert _refused(OfferReason.CONDITION_FALSE) == _check(offer, _facts(values=values("79", 0)))
    assert _refused(OfferReason.CONDITION_FALSE) == _check(offer, _facts(values=values("90", 1)))


def test_a_condition_that_cannot_be_evaluated_refuses() -> None:
    """
    Missing values make the expression fail, which is never a yes.
    """
    # given
    offer = _offer(when=compile_expression("cart.total >= 80"))
    # then
    assert _refused(OfferReason.CONDITION_FALSE) == _check(offer, _facts(values={}))


def test_the_margin_floor_is_inclusive() -> None:
    """
    Cost 45 on 100 less 10 % leaves (90 - 45) / 90 = 0.5: a floor of 0.5 passes, just above
    it refuses (`margin_floor`).
    """
    # given
    costed = _facts(items=(_item(cost=Decimal("22.5")),))
    # then
    assert Decimal("0.5") == margin_after(costed, Decimal(10))
    assert ELIGIBLE == _check(_offer(margin_floor=Decimal("0.5")), costed)
    assert _refused(OfferReason.MARGIN_FLOOR) == _check(
        _offer(margin_floor=Decimal("0.5001")), costed
    )


def test_the_stores_margin_floor_applies_when_the_offer_sets_none() -> None:
    """
    The store's floor is the fallback; the offer's own floor wins over it.
    """
    # given
    costed = _facts(items=(_item(cost=Decimal("22.5")),))
    rules = OfferRules(margin_floor=Decimal("0.6"))
    # then
    assert _refused(OfferReason.MARGIN_FLOOR) == _check(_offer(), costed, rules)
    assert ELIGIBLE == _check(_offer(margin_floor=Decimal("0.4")), costed, rules)


def test_the_margin_floor_is_not_guessed_when_a_cost_is_unknown() -> None:
    """
    One line without a cost: no margin to check, the offer is given.
    """
    # given
    partly = _facts(items=(_item(cost=Decimal(49)), _item(key="v2")))
    # then
    assert margin_after(partly, Decimal(10)) is None
    assert ELIGIBLE == _check(_offer(margin_floor=Decimal("0.9")), partly)


def test_a_discount_of_everything_is_below_any_floor() -> None:
    """
    Nothing left to pay is a margin of minus one: even a floor of 0 refuses it.
    """
    # given
    costed = _facts(items=(_item(cost=Decimal(0)),))
    offer = Offer(kind=OfferKind.PERCENT, value=Decimal(100), margin_floor=Decimal(0))
    # then
    assert _refused(OfferReason.MARGIN_FLOOR) == _check(offer, costed)


def test_the_margin_is_checked_on_the_discounted_total_for_fixed_offers() -> None:
    """
    A fixed 20 off 100 with costs of 60 leaves 20 / 80 = 0.25.
    """
    # given
    costed = _facts(items=(_item(cost=Decimal(30)),))
    offer = Offer(kind=OfferKind.FIXED, value=Decimal(20), margin_floor=Decimal("0.25"))
    # then
    assert Eligibility(eligible=True, discount=Decimal("20.00")) == _check(offer, costed)
    assert _refused(OfferReason.MARGIN_FLOOR) == _check(
        replace(offer, value=Decimal("20.01")), costed
    )


def test_free_shipping_takes_nothing_off_the_cart() -> None:
    """
    Eligible with a discount of zero (the platform waives shipping).
    """
    # given
    offer = Offer(kind=OfferKind.FREE_SHIPPING, value=Decimal(0))
    # then
    assert Eligibility(eligible=True, discount=Decimal(0)) == _check(offer, _facts())


def test_the_first_refusing_rule_in_order_gives_the_reason() -> None:
    """
    A cart failing every rule is refused for the first one documented (`min_total` before
    `returning_customer`, before `on_sale` and so on).
    """
    # given
    offer = _offer(
        min_total=Decimal(500),
        first_time_only=True,
        exclude=("on_sale", "category:shoes"),
        max_per_contact=1,
        when=compile_expression("cart.total > 1000"),
        margin_floor=Decimal("0.9"),
    )
    bad = _facts(
        items=(_item(compare_at_price=Decimal(99), cost=Decimal(49)),),
        orders_count=3,
        given_recently=4,
    )
    reasons = [reason.value for reason in OfferReason]
    # when
    seen = []
    for drop in (
        {},
        {"min_total": None},
        {"min_total": None, "first_time_only": False},
        {"min_total": None, "first_time_only": False, "exclude": ("category:shoes",)},
        {"min_total": None, "first_time_only": False, "exclude": ()},
        {"min_total": None, "first_time_only": False, "exclude": (), "max_per_contact": None},
        {
            "min_total": None,
            "first_time_only": False,
            "exclude": (),
            "max_per_contact": None,
            "when": None,
        },
    ):
        seen.append(_check(replace(offer, **drop), bad).reason)
    # then
    assert reasons[1:] == seen


@pytest.mark.parametrize(
    "rules",
    [
        {"max_per_contact": 0},
        {"margin_floor": Decimal(1)},
        {"margin_floor": Decimal("-0.1")},
        {"prefix": "cb-"},
    ],
)
def test_store_rules_refuse_impossible_values(rules: dict[str, Any]) -> None:
    """
    The rules object cannot hold a limit of zero, a floor outside [0, 1) or a bad prefix.
    """
    # then
    with pytest.raises(ValueError, match=r"must|prefix"):
        OfferRules(**rules)
