"""
Rendering a touch into a message. For now a minimal plain-text rendering of the cart's items
and total in the store's currency; real templates (Jinja2, HTML, locale) replace `render` in
the messages issue without changing its callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_currency

from cartback.domain.cart import Cart
from cartback.domain.consent import Channel
from cartback.domain.events import Stage
from cartback.domain.stores import Store


@dataclass(frozen=True, kw_only=True, slots=True)
class Rendered:
    """
    A message's content: a subject (email only) and the plain text.
    """

    subject: str | None
    text: str


def _amount(value: Decimal, currency: str) -> str:
    return format_currency(value, currency, locale="en_US")


def render(*, store: Store, cart: Cart, channel: Channel, template: str) -> Rendered:
    """
    The message for one touch: the cart's items with quantities and prices, and its total.
    """
    if cart.stage is Stage.BROWSING and not cart.lines:
        return _browse(store, cart, channel)
    currency = cart.currency or store.currency
    lines = []
    for line in cart.lines:
        name = line.name or line.sku or line.product_id or "item"
        price = (
            f" - {_amount(line.unit_price * line.quantity, currency)}"
            if line.unit_price is not None
            else ""
        )
        lines.append(f"{line.quantity} x {name}{price}")
    total = _amount(cart.total, currency)
    if channel is Channel.SMS:
        count = cart.item_count
        noun = "item" if count == 1 else "items"
        text = f"{store.name}: your cart ({count} {noun}, {total}) is waiting for you."
        return Rendered(subject=None, text=text)
    body = "\n".join(
        [
            "You left these in your cart:",
            "",
            *lines,
            "",
            f"Total: {total}",
            "",
            f"-- {store.name}",
        ]
    )
    return Rendered(subject=f"{store.name}: your cart is waiting ({template})", text=body)


def _browse(store: Store, cart: Cart, channel: Channel) -> Rendered:
    """
    Browse abandonment: no cart, only the products the shopper looked at.
    """
    count = len(cart.signals.viewed)
    noun = "product" if count == 1 else "products"
    text = f"{store.name}: still thinking about the {count} {noun} you looked at?"
    if channel is Channel.SMS:
        return Rendered(subject=None, text=text)
    return Rendered(
        subject=f"{store.name}: still thinking it over?", text=f"{text}\n\n-- {store.name}"
    )
