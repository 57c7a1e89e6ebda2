"""
Segments and conditions in flow files: a safe expression language, never `eval`.

Expressions are CEL (the Common Expression Language, https://cel.dev) through the
`common-expression-language` package (a Rust implementation): no statements, no loops beyond
the bounded macros (`exists`, `all`, `map`, `filter`), no access to anything but the plain
values given to it. An expression is compiled once, when a flow file is validated, and then
evaluated against an *activation* built from `CartFacts` and `ContactFacts`: maps, lists,
strings, numbers and booleans only, never a Python object.

Money is `Decimal` everywhere else in Cartback; inside an expression it is a float, because CEL
compares `double` and `int` values with each other but has no decimal type. Amounts are only
*compared* in conditions (`cart.total >= 80`), where a float's rounding cannot change the answer
at the cent scale; nothing computed by an expression is ever charged or shown.

Evaluation never raises: an error (a missing field, a division by zero, a wrong type) or a
result that is not a boolean gives `Verdict(matched=False, reason=...)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import cel

#: Longer expressions are refused at validation: a condition is one line a merchant reads.
MAX_LENGTH = 1000
#: The variables an expression may name.
VARIABLES = ("cart", "contact")


class ExpressionError(ValueError):
    """
    An expression that does not compile, names something unknown, or does not give a boolean.
    """


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemFacts:
    """
    One cart line as an expression sees it.
    """

    product_id: str
    variant_id: str | None = None
    sku: str | None = None
    name: str | None = None
    quantity: int = 1
    unit_price: Decimal = Decimal(0)
    category: str | None = None
    on_sale: bool = False
    in_stock: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalFacts:
    """
    What the shopper did around the cart (abandonment and intent signals).
    """

    shipping_cost_seen: bool = False
    payment_failure_reason: str | None = None
    out_of_stock_item: bool = False
    returns: int = 0  # visits back to the cart
    repeated_adds: int = 0  # the same product added more than once
    product_views: int = 0  # views of products now in the cart


@dataclass(frozen=True, kw_only=True, slots=True)
class CartFacts:
    """
    The cart as an expression sees it.
    """

    total: Decimal
    currency: str
    stage: str
    items: Sequence[ItemFacts] = ()
    signals: SignalFacts = field(default_factory=SignalFacts)


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactFacts:
    """
    The person as an expression sees them. Consents are the current, derived state.
    """

    orders_count: int = 0
    email_consent: bool = False
    sms_consent: bool = False
    marketing_consent: bool = False
    country: str | None = None
    locale: str | None = None
    timezone: str | None = None
    is_bot: bool = False


def _money(value: Decimal) -> float:
    # Comparison only; see the module docstring.
    return float(value)


def _item(item: ItemFacts) -> dict[str, Any]:
    return {
        "product_id": item.product_id,
        "variant_id": item.variant_id,
        "sku": item.sku,
        "name": item.name,
        "quantity": item.quantity,
        "unit_price": _money(item.unit_price),
        "category": item.category,
        "on_sale": item.on_sale,
        "in_stock": item.in_stock,
    }


def activation(cart: CartFacts, contact: ContactFacts) -> dict[str, Any]:
    """
    The plain values an expression is evaluated against: `cart` and `contact`.
    """
    signals = cart.signals
    return {
        "cart": {
            "total": _money(cart.total),
            "currency": cart.currency,
            "stage": cart.stage,
            "item_count": sum(i.quantity for i in cart.items),
            "items": [_item(i) for i in cart.items],
            "categories": sorted({i.category for i in cart.items if i.category}),
            "signals": {
                "shipping_cost_seen": signals.shipping_cost_seen,
                "payment_failure_reason": signals.payment_failure_reason,
                "out_of_stock_item": signals.out_of_stock_item,
                "returns": signals.returns,
                "repeated_adds": signals.repeated_adds,
                "product_views": signals.product_views,
            },
        },
        "contact": {
            "orders_count": contact.orders_count,
            "is_first_time": contact.orders_count == 0,
            "email_consent": contact.email_consent,
            "sms_consent": contact.sms_consent,
            "marketing_consent": contact.marketing_consent,
            "country": contact.country,
            "locale": contact.locale,
            "timezone": contact.timezone,
            "is_bot": contact.is_bot,
        },
    }


#: A cart and a contact with every field set: validation evaluates each expression against it
#: so that misspelt fields and non-boolean results are reported before a flow is installed.
SAMPLE = activation(
    CartFacts(
        total=Decimal("99.50"),
        currency="USD",
        stage="checkout",
        items=[
            ItemFacts(
                product_id="p1",
                variant_id="v1",
                sku="SKU-1",
                name="Sample",
                quantity=2,
                unit_price=Decimal("49.75"),
                category="shoes",
            )
        ],
        signals=SignalFacts(payment_failure_reason="card_declined"),
    ),
    ContactFacts(country="US", locale="en-US", timezone="America/New_York"),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    """
    The outcome of a condition: matched, or not and why not (`None` when it simply was false).
    """

    matched: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Expression:
    """
    A compiled expression and its source text.
    """

    source: str
    program: Any = field(compare=False, repr=False)

    def evaluate(self, values: Mapping[str, Any]) -> Verdict:
        """
        Evaluate against an activation (see `activation`); never raises.
        """
        try:
            result = self.program.execute(dict(values))
        except Exception as error:  # an expression must never break the engine
            return Verdict(matched=False, reason=_reason(error))
        if not isinstance(result, bool):
            return Verdict(matched=False, reason=f"not a boolean: {type(result).__name__}")
        return Verdict(matched=result)


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, KeyError):
        return f"no such field: {text}"
    return text[:200]


def compile_expression(source: str) -> Expression:
    """
    Compile `source` and check it against `SAMPLE`.

    Raises:
        ExpressionError: a syntax error (with CEL's message), an unknown variable or field, or a
            result that is not a boolean.
    """
    if not source.strip():
        raise ExpressionError("the expression is empty")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        program = cel.compile(source)
    except (ValueError, RuntimeError) as error:
        raise ExpressionError(_syntax_message(str(error))) from None
    expression = Expression(source, program)
    try:
        result = program.execute(dict(SAMPLE))
    except KeyError as error:
        raise ExpressionError(f"no such field: {error}") from None
    except RuntimeError as error:
        # Undefined variables and functions; data-dependent errors (division by zero on the
        # sample) are left to evaluation, where they make the condition false.
        if "Undefined" in str(error):
            raise ExpressionError(_first_line(str(error))) from None
        return expression
    except Exception:  # a failure that depends on the sample's data is not a definition error
        return expression
    if not isinstance(result, bool):
        raise ExpressionError(f"the expression must be true or false, not {type(result).__name__}")
    return expression


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "invalid expression"


def _syntax_message(text: str) -> str:
    # CEL's message: "Failed to parse expression '…': ERROR: <input>:1:15: Syntax error: …"
    # followed by a caret drawing; keep the position and the reason.
    first = _first_line(text)
    marker = first.find("ERROR: <input>:")
    return first[marker + len("ERROR: <input>:") :].strip() if marker >= 0 else first
