"""
The cart state machine: a pure function from (cart, event, policy) to the next cart, and from
(cart, now, policy) to what the abandonment timer decides. Time is always a parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from cartback.domain.events import (
    MAX_LINES,
    MAX_QUANTITY,
    CartEvent,
    CartSnapshot,
    ItemAdded,
    ItemRemoved,
    LineItem,
    OrderChanged,
    OrderPlaced,
    PaymentFailed,
    ProductViewed,
    Stage,
)
from cartback.domain.time import check_aware

#: How many distinct viewed products a cart remembers for intent signals.
MAX_VIEWED_PRODUCTS = 50


class CartStatus(StrEnum):
    """
    Where a cart is in its recovery life (`contract.md` §6).
    """

    ACTIVE = "active"
    ABANDONED = "abandoned"
    RECOVERED = "recovered"
    CONVERTED = "converted"
    LOST = "lost"


ORDERED_STATUSES = frozenset({CartStatus.RECOVERED, CartStatus.CONVERTED})


class Outcome(StrEnum):
    """
    What applying one event did.
    """

    APPLIED = "applied"
    STALE = "stale"
    AFTER_ORDER = "after_order"


@dataclass(frozen=True, kw_only=True, slots=True)
class CartPolicy:
    """
    A store's timing rules: inactivity before a cart counts as abandoned, and how long an
    abandoned cart stays recoverable before it is lost.
    """

    abandon_after: timedelta
    recovery_window: timedelta


@dataclass(frozen=True, kw_only=True, slots=True)
class Signals:
    """
    Intent a flow can read later: product views, repeated adds, returns to the cart.
    """

    viewed: tuple[tuple[str, int], ...] = ()
    adds: int = 0
    cart_views: int = 0
    returns: int = 0

    def with_view(self, product_key: str) -> Signals:
        """
        Count one more view of a product, keeping the most recent `MAX_VIEWED_PRODUCTS`.
        """
        counts = dict(self.viewed)
        count = counts.pop(product_key, 0) + 1
        kept = list(counts.items())[-(MAX_VIEWED_PRODUCTS - 1) :]
        return replace(self, viewed=(*kept, (product_key, count)))

    def to_json(self) -> dict[str, Any]:
        """
        The JSON-safe form stored with the cart.
        """
        return {
            "viewed": [list(pair) for pair in self.viewed],
            "adds": self.adds,
            "cart_views": self.cart_views,
            "returns": self.returns,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Signals:
        """
        Read the stored form back.
        """
        if not data:
            return cls()
        return cls(
            viewed=tuple((str(k), int(n)) for k, n in data.get("viewed", [])),
            adds=int(data.get("adds", 0)),
            cart_views=int(data.get("cart_views", 0)),
            returns=int(data.get("returns", 0)),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Cart:
    """
    One shopper's cart in one store, as the events so far describe it.
    """

    key: str
    currency: str
    lines: tuple[LineItem, ...] = ()
    stage: Stage = Stage.BROWSING
    status: CartStatus = CartStatus.ACTIVE
    declared_total: Decimal | None = None
    last_activity_at: datetime | None = None
    check_at: datetime | None = None
    abandoned_at: datetime | None = None
    lost_at: datetime | None = None
    ordered_at: datetime | None = None
    touched_at: datetime | None = None
    order_id: str | None = None
    checkout_id: str | None = None
    payment_failure_reason: str | None = None
    is_bot: bool = False
    signals: Signals = Signals()

    def __post_init__(self) -> None:
        for name in ("last_activity_at", "check_at", "abandoned_at", "lost_at", "ordered_at"):
            check_aware(getattr(self, name), name)
        check_aware(self.touched_at, "touched_at")

    @property
    def total(self) -> Decimal:
        """
        The platform's own total when it reported one since the last change, else the lines' sum.
        """
        if self.declared_total is not None:
            return self.declared_total
        return sum(
            (line.unit_price * line.quantity for line in self.lines if line.unit_price is not None),
            Decimal(0),
        )

    @property
    def item_count(self) -> int:
        """
        Units in the cart.
        """
        return sum(line.quantity for line in self.lines)

    @property
    def is_ordered(self) -> bool:
        """
        True once an order closed this cart.
        """
        return self.status in ORDERED_STATUSES

    @property
    def is_recoverable(self) -> bool:
        """
        Worth an abandonment timer: a person (not a bot) left items, or browsed products.
        """
        if self.is_bot or self.is_ordered:
            return False
        return bool(self.lines) or (self.stage is Stage.BROWSING and bool(self.signals.viewed))


def new_cart(*, key: str, currency: str, is_bot: bool = False) -> Cart:
    """
    A cart no event has touched yet.
    """
    return Cart(key=key, currency=currency, is_bot=is_bot)


def apply_event(cart: Cart, event: CartEvent, *, policy: CartPolicy) -> tuple[Cart, Outcome]:
    """
    Apply one event and reschedule the abandonment timer.

    An order always applies (it is the fact that matters most); any other event older than the
    cart's latest change is stale and changes nothing, and nothing changes an ordered cart.

    Returns:
        The next cart and what happened.
    """
    if isinstance(event, OrderPlaced | OrderChanged):
        return _apply_order(cart, event), Outcome.APPLIED
    if cart.is_ordered:
        return cart, Outcome.AFTER_ORDER
    if cart.last_activity_at is not None and event.occurred_at < cart.last_activity_at:
        return cart, Outcome.STALE
    reducer = _REDUCERS[type(event)]
    changed = reducer(cart, event)
    if event.currency and event.currency != changed.currency:
        changed = replace(changed, currency=event.currency)
    return _touch(changed, event.occurred_at, policy), Outcome.APPLIED


def _touch(after: Cart, at: datetime, policy: CartPolicy) -> Cart:
    """
    Record activity: a returning shopper reopens an abandoned or lost cart.
    """
    status, returns = after.status, after.signals.returns
    if status in (CartStatus.ABANDONED, CartStatus.LOST):
        # A late-delivered event from before the abandonment still reopens the cart (it was
        # not inactive after all), but it is not the shopper coming back.
        came_back = after.abandoned_at is None or at >= after.abandoned_at
        status, returns = CartStatus.ACTIVE, returns + (1 if came_back else 0)
    signals = (
        after.signals
        if returns == after.signals.returns
        else replace(after.signals, returns=returns)
    )
    # Recoverability does not depend on status or times (only lines, stage, views, bot),
    # so it can be read from the cart before this change.
    check_at = at + policy.abandon_after if after.is_recoverable else None
    return replace(after, status=status, last_activity_at=at, signals=signals, check_at=check_at)


def _viewed(cart: Cart, event: ProductViewed) -> Cart:
    product_key = event.item.product_id or event.item.sku or event.item.variant_id or ""
    return replace(cart, signals=cart.signals.with_view(product_key))


def _added(cart: Cart, event: ItemAdded) -> Cart:
    lines = list(cart.lines)
    for index, line in enumerate(lines):
        if line.key == event.item.key:
            merged = _merge(line, event.item, line.quantity + event.item.quantity)
            lines[index] = merged
            break
    else:
        if len(lines) >= MAX_LINES:
            raise ValueError(f"a cart holds at most {MAX_LINES} lines")
        if event.item.quantity > 0:  # adding nothing of a new product makes no line
            lines.append(event.item)
    return replace(
        cart,
        lines=tuple(lines),
        stage=_at_least(cart.stage, Stage.CART),
        declared_total=None,
        signals=replace(cart.signals, adds=cart.signals.adds + 1),
    )


def _removed(cart: Cart, event: ItemRemoved) -> Cart:
    lines: list[LineItem] = []
    for line in cart.lines:
        if line.key != event.item.key:
            lines.append(line)
            continue
        left = 0 if event.item.quantity == 0 else line.quantity - event.item.quantity
        if left > 0:
            lines.append(replace(line, quantity=left))
    return replace(cart, lines=tuple(lines), declared_total=None)


def _snapshot(cart: Cart, event: CartSnapshot) -> Cart:
    if event.items is not None and len(event.items) > MAX_LINES:
        raise ValueError(f"a cart holds at most {MAX_LINES} lines")
    lines = cart.lines if event.items is None else event.items
    declared = event.total if event.total is not None else None
    if event.items is None and event.total is None:
        declared = cart.declared_total
    cart_views = cart.signals.cart_views + (1 if event.stage is Stage.CART else 0)
    return replace(
        cart,
        lines=lines,
        stage=_at_least(cart.stage, event.stage),
        declared_total=declared,
        checkout_id=event.checkout_id or cart.checkout_id,
        signals=replace(cart.signals, cart_views=cart_views),
    )


def _payment_failed(cart: Cart, event: PaymentFailed) -> Cart:
    return replace(
        cart,
        stage=_at_least(cart.stage, Stage.PAYMENT_FAILED),
        payment_failure_reason=event.reason or cart.payment_failure_reason,
    )


def _apply_order(cart: Cart, event: OrderPlaced | OrderChanged) -> Cart:
    if isinstance(event, OrderChanged) or cart.is_ordered:
        # A second order for a closed cart, or a cancellation, is recorded on the order,
        # not on the cart: the cart did convert.
        return cart
    touched = cart.touched_at is not None and cart.touched_at <= event.occurred_at
    # New lines without a total make the old declared total wrong: sum the new lines instead.
    kept_total = None if event.items else cart.declared_total
    return replace(
        cart,
        lines=event.items if event.items else cart.lines,
        stage=Stage.ORDERED,
        status=CartStatus.RECOVERED if touched else CartStatus.CONVERTED,
        declared_total=event.total if event.total is not None else kept_total,
        currency=event.currency or cart.currency,
        order_id=event.order_id,
        checkout_id=event.checkout_id or cart.checkout_id,
        ordered_at=event.occurred_at,
        last_activity_at=max(event.occurred_at, cart.last_activity_at or event.occurred_at),
        check_at=None,
    )


def _merge(line: LineItem, update: LineItem, quantity: int) -> LineItem:
    """
    The newer report of a line wins for every field it has.
    """
    return LineItem(
        product_id=update.product_id or line.product_id,
        variant_id=update.variant_id or line.variant_id,
        sku=update.sku or line.sku,
        name=update.name or line.name,
        variant_name=update.variant_name or line.variant_name,
        quantity=min(quantity, MAX_QUANTITY),
        unit_price=update.unit_price if update.unit_price is not None else line.unit_price,
        image_url=update.image_url or line.image_url,
        url=update.url or line.url,
        category=update.category or line.category,
    )


def _at_least(current: Stage, reached: Stage) -> Stage:
    return reached if reached.rank > current.rank else current


_REDUCERS: dict[type[CartEvent], Callable[[Cart, Any], Cart]] = {
    ProductViewed: _viewed,
    ItemAdded: _added,
    ItemRemoved: _removed,
    CartSnapshot: _snapshot,
    PaymentFailed: _payment_failed,
}


class TimerOutcome(StrEnum):
    """
    What the abandonment timer decided for a due cart.
    """

    ABANDONED = "abandoned"
    LOST = "lost"
    CLEARED = "cleared"
    NOT_DUE = "not_due"


def on_timer(cart: Cart, *, now: datetime, policy: CartPolicy) -> tuple[Cart, TimerOutcome]:
    """
    Decide what a cart's timer means at `now`.

    An active cart whose inactivity ran out is abandoned at the moment it ran out (not when the
    worker noticed); an abandoned cart whose recovery window ran out is lost. A cart noticed
    only after both moments passed (a backfill, a worker that was down) goes straight to lost,
    so nothing is ever scheduled for a cart that can no longer be recovered.
    """
    check_aware(now, "now")
    due_at = cart.check_at
    if due_at is None or due_at > now:
        return cart, TimerOutcome.NOT_DUE
    if cart.status is CartStatus.ACTIVE and cart.is_recoverable:
        window_ends = due_at + policy.recovery_window
        if window_ends <= now:
            lost = replace(
                cart,
                status=CartStatus.LOST,
                abandoned_at=due_at,
                lost_at=window_ends,
                check_at=None,
            )
            return lost, TimerOutcome.LOST
        abandoned = replace(
            cart,
            status=CartStatus.ABANDONED,
            abandoned_at=due_at,
            check_at=window_ends,
        )
        return abandoned, TimerOutcome.ABANDONED
    if cart.status is CartStatus.ABANDONED:
        lost = replace(cart, status=CartStatus.LOST, lost_at=due_at, check_at=None)
        return lost, TimerOutcome.LOST
    return replace(cart, check_at=None), TimerOutcome.CLEARED


def reschedule(cart: Cart, *, policy: CartPolicy) -> Cart:
    """
    Recompute a cart's timer after the store changed its abandonment delay or recovery window.
    """
    if cart.status is CartStatus.ABANDONED and cart.abandoned_at is not None:
        return replace(cart, check_at=cart.abandoned_at + policy.recovery_window)
    if cart.status is not CartStatus.ACTIVE or cart.last_activity_at is None:
        return cart
    if not cart.is_recoverable:
        return replace(cart, check_at=None)
    return replace(cart, check_at=cart.last_activity_at + policy.abandon_after)
