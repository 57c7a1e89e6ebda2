"""
The measurement report's pure part: which order recovers a cart, whether a touch came before
it, which touch the order is attributed to (last touch within the store's windows), and the
small sums over those answers. The facts come from `ReportRepository`; definitions are in
`docs/metrics.md`.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from cartback.domain.time import check_aware

#: Default attribution windows (docs/metrics.md "Attribution windows").
DEFAULT_CLICK_WINDOW = timedelta(days=7)
DEFAULT_SEND_WINDOW = timedelta(days=1)
#: The longest period one report covers.
MAX_PERIOD = timedelta(days=366)
#: The default period: the last 30 days.
DEFAULT_PERIOD = timedelta(days=30)
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, kw_only=True, slots=True)
class Period:
    """
    `[start, end)` of abandonment time.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        check_aware(self.start, "start")
        check_aware(self.end, "end")


@dataclass(frozen=True, kw_only=True, slots=True)
class AttributionWindows:
    """
    How long after a click, or after a send, an order is credited to that touch.
    """

    click: timedelta = DEFAULT_CLICK_WINDOW
    send: timedelta = DEFAULT_SEND_WINDOW


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderCandidate:
    """
    An order that may have recovered an abandoned cart: the cart's own, or its contact's,
    placed at or after the abandonment.
    """

    cart_id: str
    abandoned_at: datetime
    #: The furthest stage the cart reached before the order, and why its payment failed.
    stage: str
    payment_failure_reason: str | None
    order_key: str
    placed_at: datetime
    total: Decimal | None
    currency: str
    #: The order is the cart's own (else it was found through the cart's contact).
    same_cart: bool = True
    #: Where the cart came from (`domain/origin.py`); None when unknown.
    device: str | None = None
    country: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TouchFact:
    """
    One touch that went (or was clicked) for a cart, with where it belongs.
    """

    cart_id: str
    flow: str
    step: int
    channel: str
    variant: str | None
    sent_at: datetime | None
    clicked_at: datetime | None


@dataclass(frozen=True, kw_only=True, slots=True)
class EnrolledCart:
    """
    A cart enrolled into a flow, in the treated or the control group.
    """

    cart_id: str
    flow: str
    group: str
    started_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """
    What became of one ordered cart: its first order in the recovery window, whether a touch
    or click came before it (`recovered`, else `converted`), and the touch credited for it.
    """

    order: OrderCandidate
    recovered: bool
    attributed: TouchFact | None

    @property
    def time_to_order(self) -> timedelta:
        """
        From the abandonment to the order.
        """
        return self.order.placed_at - self.order.abandoned_at


def first_orders(
    candidates: Iterable[OrderCandidate], *, recovery_window: timedelta
) -> dict[str, OrderCandidate]:
    """
    Each cart's first order placed in `[abandoned_at, abandoned_at + recovery_window)`.

    An order recovers one cart at most: its own cart when that is among them, else the
    contact's cart abandoned last before it (so one order is never counted twice).
    """
    in_window = [
        o for o in candidates if o.abandoned_at <= o.placed_at < o.abandoned_at + recovery_window
    ]
    owner: dict[str, OrderCandidate] = {}
    for order in in_window:
        known = owner.get(order.order_key)
        if known is None or (order.same_cart, order.abandoned_at, order.cart_id) > (
            known.same_cart,
            known.abandoned_at,
            known.cart_id,
        ):
            owner[order.order_key] = order
    first: dict[str, OrderCandidate] = {}
    for order in owner.values():
        known = first.get(order.cart_id)
        if known is None or (order.placed_at, order.order_key) < (known.placed_at, known.order_key):
            first[order.cart_id] = order
    return first


def outcome(
    order: OrderCandidate, touches: Sequence[TouchFact], windows: AttributionWindows
) -> Outcome:
    """
    Classify one ordered cart and find its last touch: the latest click within the click
    window before the order, else the latest send within the send window. A touch or click
    after the order never counts.
    """
    at = order.placed_at
    recovered = any(
        (t.sent_at is not None and t.sent_at <= at)
        or (t.clicked_at is not None and t.clicked_at <= at)
        for t in touches
    )
    clicked = [
        t for t in touches if t.clicked_at is not None and at - windows.click <= t.clicked_at <= at
    ]
    if clicked:
        latest = max(clicked, key=lambda t: (t.clicked_at or _NEVER, t.step))
        return Outcome(order=order, recovered=recovered, attributed=latest)
    sent = [t for t in touches if t.sent_at is not None and at - windows.send <= t.sent_at <= at]
    attributed = max(sent, key=lambda t: (t.sent_at or _NEVER, t.step)) if sent else None
    return Outcome(order=order, recovered=recovered, attributed=attributed)


def revenue(order: OrderCandidate, currency: str) -> Decimal | None:
    """
    The order's revenue in the report's currency; None for another currency (left out).
    """
    if order.currency != currency:
        return None
    return order.total if order.total is not None else Decimal(0)


def rate(part: int, whole: int) -> float | None:
    """
    `part / whole` to four places; None when there is nothing to divide by.
    """
    return None if whole == 0 else round(part / whole, 4)


def median_seconds(durations: Sequence[timedelta]) -> int | None:
    """
    The median duration in whole seconds; None for none.
    """
    if not durations:
        return None
    return round(statistics.median(d.total_seconds() for d in durations))


def holdout_seed(store_id: str, period: Period) -> int:
    """
    A fixed bootstrap seed for a store and period, so the same report comes out every time.
    """
    text = f"{store_id}|{period.start.isoformat()}|{period.end.isoformat()}"
    value = 0
    for char in text:  # FNV-1a, 32 bits: stable across processes (unlike `hash`)
        value = ((value ^ ord(char)) * 16777619) & 0xFFFFFFFF
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class ReachPolicy:
    """
    What the store's consent policy allows without a ledger entry: recovery email on the
    opt-out model (US), or to existing customers under the EU soft opt-in.
    """

    email_by_default: bool = False
    email_to_customers: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class FunnelCounts:
    """
    Carts at each stage of the funnel (bots left out): created in the period, then abandoned
    in it and how far those went.
    """

    carts: int
    abandoned: int
    captured: int
    reachable: int
    enrolled: int
    touched: int
    clicked: int
    #: The abandoned and reachable carts by stage, reason, device and country (the same scan).
    segments: tuple[SegmentCount, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class StepCounts:
    """
    One flow step's touches by channel and variant: sent, clicked, and what came back.
    """

    flow: str
    step: int
    channel: str
    variant: str | None
    sent: int = 0
    clicked: int = 0
    bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class ReasonCount:
    """
    Touches left in `status` (skipped, deferred, cancelled, failed) for `reason`.
    """

    status: str
    reason: str
    count: int


@dataclass(frozen=True, kw_only=True, slots=True)
class SegmentCount:
    """
    Abandoned carts (and how many of them were reachable) by the stage they had reached,
    their payment failure reason, their device and their country (None when unknown).
    """

    stage: str
    payment_failure_reason: str | None
    count: int
    reachable: int = 0
    device: str | None = None
    country: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DiscountTotal:
    """
    Redeemed offers of the period's carts in one currency: how many and what they cost.
    """

    currency: str
    redeemed: int
    cost: Decimal


class ReportRepository(Protocol):
    """
    The report's reads (`store/reports.py`): aggregates, and bounded lists where the report
    needs rows (orders after an abandonment, ordered carts' touches, enrolled carts).
    """

    def funnel(self, store_id: str, period: Period, *, reach: ReachPolicy) -> FunnelCounts:
        """
        The funnel's counts up to clicked, with the abandoned and reachable carts by stage,
        payment failure reason, device and country.
        """
        ...

    def order_candidates(
        self, store_id: str, period: Period, *, until: datetime
    ) -> list[OrderCandidate]:
        """
        Placed orders by the same cart or its contact, from the abandonment to `until`.
        """
        ...

    def touches_of(self, store_id: str, cart_ids: Sequence[str]) -> list[TouchFact]:
        """
        The touches of these carts that went or were clicked.
        """
        ...

    def enrolled(self, store_id: str, period: Period) -> list[EnrolledCart]:
        """
        Enrollments of the period's abandoned carts, earliest first.
        """
        ...

    def step_counts(self, store_id: str, period: Period) -> list[StepCounts]:
        """
        Sends, clicks, bounces, complaints and unsubscribes per flow, step, channel, variant.
        """
        ...

    def touch_reasons(self, store_id: str, period: Period) -> list[ReasonCount]:
        """
        Skipped, deferred, cancelled and failed touches by reason.
        """
        ...

    def discounts(self, store_id: str, period: Period) -> list[DiscountTotal]:
        """
        Redeemed offers' cost per currency.
        """
        ...

    def captures_by_widget(self, store_id: str, period: Period) -> dict[str, int]:
        """
        Abandoned carts per widget their contact's consent came from.
        """
        ...
