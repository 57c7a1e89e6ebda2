"""
The expression language of flow files: CEL over plain `cart` and `contact` values. Conditions
read a realistic cart; nothing reaches Python; errors and non-booleans are false with a reason.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from cartback.domain.expressions import (
    CartFacts,
    ContactFacts,
    ExpressionError,
    ItemFacts,
    SignalFacts,
    Verdict,
    activation,
    compile_expression,
)

CART = CartFacts(
    total=Decimal("184.90"),
    currency="EUR",
    stage="payment_failed",
    items=[
        ItemFacts(
            product_id="p-boot",
            variant_id="v-42",
            sku="BOOT-42",
            name="Trail boot",
            quantity=1,
            unit_price=Decimal("149.90"),
            category="shoes",
        ),
        ItemFacts(
            product_id="p-sock",
            sku="SOCK-3",
            name="Wool socks",
            quantity=2,
            unit_price=Decimal("17.50"),
            category="accessories",
            on_sale=True,
            in_stock=False,
        ),
    ],
    signals=SignalFacts(
        shipping_cost_seen=True,
        payment_failure_reason="card_declined",
        out_of_stock_item=True,
        returns=3,
        repeated_adds=1,
        product_views=5,
    ),
)
CONTACT = ContactFacts(
    orders_count=0,
    email_consent=True,
    sms_consent=False,
    country="DE",
    locale="de-DE",
    timezone="Europe/Berlin",
)
VALUES = activation(CART, CONTACT)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("cart.total >= 150 && !contact.is_bot", True),
        ("cart.total >= 184.91", False),
        ("cart.total > 184", True),  # an int literal compares with the float total
        ("contact.is_first_time && contact.orders_count == 0", True),
        ("'shoes' in cart.categories", True),
        ("cart.items.exists(i, i.on_sale && !i.in_stock)", True),
        ("cart.items.all(i, i.in_stock)", False),
        ("cart.item_count == 3", True),
        ("size(cart.items) == 2 && cart.items[0].sku == 'BOOT-42'", True),
        ("cart.signals.payment_failure_reason == 'card_declined'", True),
        ("cart.signals.returns >= 2 || cart.signals.product_views > 10", True),
        ("cart.stage in ['checkout', 'payment_failed']", True),
        ("contact.country == 'DE' && contact.locale.startsWith('de')", True),
        ("contact.sms_consent", False),
        ("cart.currency == 'EUR' && contact.timezone == 'Europe/Berlin'", True),
        ("cart.items.filter(i, i.category == 'shoes').size() == 1", True),
    ],
)
def test_conditions_over_a_realistic_cart(source: str, expected: bool) -> None:
    """
    Money, items, categories, stage, signals and contact fields read as a merchant expects.
    """
    # given
    expression = compile_expression(source)
    # when
    verdict = expression.evaluate(VALUES)
    # then
    assert Verdict(matched=expected) == verdict


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os').system('true')", "Undefined variable or function: '__import__'"),
        ("cart.__class__ == 1", "no such field"),
        ("open('/etc/passwd') == ''", "Undefined variable or function: 'open'"),
        ("settings.secret == ''", "Undefined variable or function: 'settings'"),
        ("cart.total +", "Syntax error"),
        ("cart.total", "must be true or false"),
        ("", "empty"),
        ("x" * 1001, "longer than 1000"),
    ],
)
def test_nothing_outside_the_values_is_reachable(source: str, message: str) -> None:
    """
    No Python names, builtins or attributes: only `cart` and `contact`, and only their fields.
    """
    # when / then
    with pytest.raises(ExpressionError, match=re.escape(message)):
        compile_expression(source)


def test_an_attribute_of_a_value_is_not_reachable_at_run_time() -> None:
    """
    `__class__` of a number compiles (CEL reads it as a field) but evaluates to false.
    """
    # given
    expression = compile_expression("cart.total.__class__ == 1")
    # when
    verdict = expression.evaluate(VALUES)
    # then
    assert False is verdict.matched
    assert verdict.reason is not None


@pytest.mark.parametrize(
    ("source", "values", "reason"),
    [
        ("1 / (cart.item_count - 3) > 0", VALUES, "division by zero"),
        ("cart.total > 1", {"cart": {}, "contact": {}}, "no such field: 'total'"),
        ("cart.signals.returns > 1", {"cart": {"signals": {"returns": "3"}}}, "No such overload"),
    ],
)
def test_evaluation_errors_are_false_with_a_reason(
    source: str, values: dict[str, object], reason: str
) -> None:
    """
    A failing evaluation never raises out of the engine: the condition is simply not met.
    """
    # given
    expression = compile_expression(source)
    # when
    verdict = expression.evaluate(values)
    # then
    assert False is verdict.matched
    assert reason in (verdict.reason or ""), verdict


def test_a_python_object_in_the_values_is_refused_not_read() -> None:
    """
    Even if a caller slipped an object in, CEL cannot convert it, so nothing of it is read.
    """

    class Secret:
        token = "s3cret"

    # given
    expression = compile_expression("cart.total > 1")
    # when
    verdict = expression.evaluate({"cart": Secret(), "contact": {}})
    # then
    assert False is verdict.matched
    assert verdict.reason is not None
    assert "s3cret" not in verdict.reason


def test_money_goes_in_as_a_float_for_comparison_only() -> None:
    """
    Decimal totals and prices become floats in the activation; nothing else does.
    """
    # then
    assert (184.9, 149.9, 4) == (
        VALUES["cart"]["total"],
        VALUES["cart"]["items"][0]["unit_price"],
        VALUES["cart"]["item_count"] + 1,
    )
    assert ["accessories", "shoes"] == VALUES["cart"]["categories"]
