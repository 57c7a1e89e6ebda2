"""
Response schemas of the read API (`contract.md` §5.5). Money is a decimal string in the
currency's precision (`"129.99"`, `"1500"` for JPY), never a float.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from babel.numbers import get_currency_precision
from pydantic import BaseModel

from cartback.domain.events import LineItem
from cartback.domain.ports import CartTouch, Contact, OutboxMessage
from cartback.services.carts import CartView


def money(amount: Decimal | None, currency: str) -> str | None:
    """
    An amount as a string with the currency's number of decimals.
    """
    if amount is None:
        return None
    places = get_currency_precision(currency)
    return str(amount.quantize(Decimal(1).scaleb(-places)))


class ItemPublic(BaseModel):
    """
    One line of a cart.
    """

    product_id: str | None
    variant_id: str | None
    variant: str | None
    sku: str | None
    name: str | None
    quantity: int
    unit_price: str | None
    line_total: str | None
    image_url: str | None
    url: str | None
    category: str | None


class ContactPublic(BaseModel):
    """
    The person a cart belongs to.
    """

    id: str
    email: str | None = None
    phone: str | None = None
    user_id: str | None = None


class TouchPublic(BaseModel):
    """
    A recovery message scheduled, sent or skipped for a cart.
    """

    id: str
    flow: str
    step: int
    channel: str
    status: str
    reason: str | None = None
    due_at: datetime
    sent_at: datetime | None = None
    clicked_at: datetime | None = None
    #: When the provider reported it delivered, and its words when it did not deliver.
    delivered_at: datetime | None = None
    error: str | None = None
    #: A text's segments and estimated cost (a decimal string) in `cost_currency`.
    segments: int | None = None
    cost_estimate: str | None = None
    cost_currency: str | None = None


class CartPublic(BaseModel):
    """
    A cart as it is now.
    """

    cart_id: str
    status: str
    stage: str
    currency: str
    total: str
    item_count: int
    items: list[ItemPublic]
    contact: ContactPublic | None
    is_bot: bool
    checkout_id: str | None
    payment_failure_reason: str | None
    last_activity_at: datetime | None
    next_check_at: datetime | None
    abandoned_at: datetime | None
    recovered_at: datetime | None
    converted_at: datetime | None
    lost_at: datetime | None
    order_id: str | None
    created_at: datetime
    touches: list[TouchPublic]


class CartsPublic(BaseModel):
    """
    A page of carts, newest first.
    """

    data: list[CartPublic]
    count: int
    next_cursor: str | None


def _item(line: LineItem, currency: str) -> ItemPublic:
    line_total = line.unit_price * line.quantity if line.unit_price is not None else None
    return ItemPublic(
        product_id=line.product_id,
        variant_id=line.variant_id,
        variant=line.variant_name,
        sku=line.sku,
        name=line.name,
        quantity=line.quantity,
        unit_price=money(line.unit_price, currency),
        line_total=money(line_total, currency),
        image_url=line.image_url,
        url=line.url,
        category=line.category,
    )


def _contact(contact: Contact | None) -> ContactPublic | None:
    if contact is None:
        return None
    return ContactPublic(
        id=contact.id, email=contact.email, phone=contact.phone, user_id=contact.user_id
    )


class MessagePublic(BaseModel):
    """
    A message the `outbox` channel kept (contract §5.5).
    """

    id: str
    touch_id: str
    channel: str
    to: str
    subject: str | None
    text: str
    html: str | None = None
    headers: dict[str, str] | None = None
    status: str | None
    sent_at: datetime | None


class MessagesPublic(BaseModel):
    """
    Outbox messages, oldest first.
    """

    data: list[MessagePublic]
    count: int


def message_public(message: OutboxMessage) -> MessagePublic:
    """
    The public form of an outbox message.
    """
    return MessagePublic(
        id=message.id,
        touch_id=message.touch_id,
        channel=message.channel.value,
        to=message.to,
        subject=message.subject,
        text=message.text,
        html=message.html,
        headers=message.headers,
        status=message.status,
        sent_at=message.sent_at,
    )


def touch_public(found: CartTouch) -> TouchPublic:
    """
    The public form of a touch.
    """
    touch = found.touch
    return TouchPublic(
        id=touch.id,
        flow=found.flow,
        step=touch.step,
        channel=touch.channel.value,
        status=touch.status.value,
        reason=touch.reason,
        due_at=touch.due_at,
        sent_at=touch.sent_at,
        clicked_at=touch.clicked_at,
        delivered_at=touch.delivered_at,
        error=touch.provider_error,
        segments=touch.segments,
        cost_estimate=str(touch.cost_estimate) if touch.cost_estimate is not None else None,
        cost_currency=touch.cost_currency,
    )


def cart_public(view: CartView, touches: list[CartTouch] | None = None) -> CartPublic:
    """
    The public form of a cart, with its touches when they were read.
    """
    cart = view.record.cart
    recovered = cart.status.value == "recovered"
    return CartPublic(
        cart_id=cart.key,
        status=cart.status.value,
        stage=cart.stage.value,
        currency=cart.currency,
        total=money(cart.total, cart.currency) or "0",
        item_count=cart.item_count,
        items=[_item(line, cart.currency) for line in cart.lines],
        contact=_contact(view.contact),
        is_bot=cart.is_bot,
        checkout_id=cart.checkout_id,
        payment_failure_reason=cart.payment_failure_reason,
        last_activity_at=cart.last_activity_at,
        next_check_at=cart.check_at,
        abandoned_at=cart.abandoned_at,
        recovered_at=cart.ordered_at if recovered else None,
        converted_at=cart.ordered_at if cart.status.value == "converted" else None,
        lost_at=cart.lost_at,
        order_id=cart.order_id,
        created_at=view.record.created_at,
        touches=[touch_public(t) for t in touches or []],
    )
