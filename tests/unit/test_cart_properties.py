"""
Properties of the cart state machine that hold for any sequence of events (Hypothesis).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cartback.domain.cart import (
    MAX_VIEWED_PRODUCTS,
    Cart,
    CartPolicy,
    CartStatus,
    Outcome,
    Signals,
    TimerOutcome,
    apply_event,
    new_cart,
    on_timer,
)
from cartback.domain.events import (
    MAX_QUANTITY,
    CartEvent,
    CartSnapshot,
    ItemAdded,
    ItemRemoved,
    LineItem,
    OrderPlaced,
    PaymentFailed,
    ProductViewed,
    Stage,
)

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
POLICY = CartPolicy(abandon_after=timedelta(minutes=30), recovery_window=timedelta(days=7))
EXAMPLES = settings(max_examples=150, deadline=None)

moments = st.integers(min_value=0, max_value=20_000).map(lambda s: T0 + timedelta(seconds=s))
prices = st.none() | st.decimals(
    min_value=Decimal(0), max_value=Decimal(1000), places=2, allow_nan=False, allow_infinity=False
)


def lines(quantities: st.SearchStrategy[int]) -> st.SearchStrategy[LineItem]:
    """
    Lines over a few products and variants, so adds and removals meet.
    """
    return st.builds(
        LineItem,
        product_id=st.sampled_from(["a", "b", "c"]),
        variant_id=st.none() | st.sampled_from(["red", "blue"]),
        quantity=quantities,
        unit_price=prices,
    )


positive = st.integers(min_value=1, max_value=5) | st.just(MAX_QUANTITY)
non_order_events: st.SearchStrategy[CartEvent] = st.one_of(
    st.builds(ProductViewed, occurred_at=moments, item=lines(positive)),
    st.builds(ItemAdded, occurred_at=moments, item=lines(positive)),
    st.builds(ItemRemoved, occurred_at=moments, item=lines(st.integers(min_value=0, max_value=5))),
    st.builds(
        CartSnapshot,
        occurred_at=moments,
        stage=st.sampled_from([Stage.CART, Stage.CHECKOUT]),
        items=st.none() | st.lists(lines(positive), max_size=4).map(tuple),
        total=prices,
    ),
    st.builds(PaymentFailed, occurred_at=moments, reason=st.none() | st.just("declined")),
)
orders = st.builds(OrderPlaced, occurred_at=moments, order_id=st.just("o-1"), total=prices)
any_events = st.one_of(non_order_events, orders)


def replay(events: list[CartEvent], *, is_bot: bool = False) -> Cart:
    """
    Apply events in the given order to a fresh cart.
    """
    cart = new_cart(key="c-1", currency="USD", is_bot=is_bot)
    for event in events:
        cart, _ = apply_event(cart, event, policy=POLICY)
    return cart


carts = st.builds(replay, st.lists(any_events, max_size=12), is_bot=st.booleans())


@EXAMPLES
@given(events=st.lists(non_order_events, min_size=1, max_size=12), event=non_order_events)
def test_a_stale_event_never_changes_a_cart(events: list[CartEvent], event: CartEvent) -> None:
    """
    A non-order event older than the last activity leaves the cart exactly as it was.
    """
    # given
    cart = replay(events)
    assert cart.last_activity_at is not None
    stale = _moved(event, cart.last_activity_at - timedelta(seconds=1))
    # when
    after, outcome = apply_event(cart, stale, policy=POLICY)
    # then
    assert (Outcome.STALE, cart) == (outcome, after)


@EXAMPLES
@given(events=st.lists(non_order_events, min_size=1, max_size=12))
def test_an_active_recoverable_cart_is_due_after_the_inactivity_delay(
    events: list[CartEvent],
) -> None:
    """
    After any events, an active recoverable cart is due at last activity plus the delay, and
    any other active cart has no timer.
    """
    # given / when
    cart = replay(events)
    # then
    assert cart.last_activity_at is not None
    expected = cart.last_activity_at + POLICY.abandon_after if cart.is_recoverable else None
    assert expected == cart.check_at


@EXAMPLES
@given(cart=carts)
def test_totals_and_quantities_are_never_negative(cart: Cart) -> None:
    """
    No sequence of events makes a total or a line quantity negative or absurd.
    """
    # given / when
    quantities = [line.quantity for line in cart.lines]
    # then
    assert (True, True) == (
        cart.total >= 0,
        all(0 <= q <= MAX_QUANTITY for q in quantities),
    )


@EXAMPLES
@given(events=st.lists(any_events, max_size=12))
def test_the_stage_never_moves_backwards(events: list[CartEvent]) -> None:
    """
    Each applied event leaves the stage at the same rank or a later one.
    """
    # given
    cart = new_cart(key="c-1", currency="USD")
    ranks = [cart.stage.rank]
    # when
    for event in events:
        cart, _ = apply_event(cart, event, policy=POLICY)
        ranks.append(cart.stage.rank)
    # then
    assert sorted(ranks) == ranks


@EXAMPLES
@given(events=st.lists(any_events, max_size=12), the_order=orders, later=non_order_events)
def test_an_ordered_cart_is_terminal(
    events: list[CartEvent], the_order: OrderPlaced, later: CartEvent
) -> None:
    """
    Once ordered, no non-order event changes the cart.
    """
    # given
    cart = replay([*events, the_order])
    # when
    after, outcome = apply_event(cart, later, policy=POLICY)
    # then
    assert (Outcome.AFTER_ORDER, cart) == (outcome, after)


@EXAMPLES
@given(
    events=st.lists(non_order_events, min_size=1, max_size=12),
    late_by=st.integers(min_value=0, max_value=int(POLICY.recovery_window.total_seconds()) - 1),
)
def test_the_timer_applied_twice_equals_once(events: list[CartEvent], late_by: int) -> None:
    """
    A worker that decides the same cart twice at one moment changes nothing the second time
    (for any lateness short of the whole recovery window).
    """
    # given
    cart = replay(events)
    assume(cart.check_at is not None)
    assert cart.check_at is not None
    now = cart.check_at + timedelta(seconds=late_by)
    once, _ = on_timer(cart, now=now, policy=POLICY)
    # when
    twice, outcome = on_timer(once, now=now, policy=POLICY)
    # then
    assert (TimerOutcome.NOT_DUE, once) == (outcome, twice)


@EXAMPLES
@given(
    events=st.lists(any_events, max_size=12, unique_by=lambda e: e.occurred_at),
    data=st.data(),
)
def test_sorting_a_batch_by_time_makes_its_arrival_order_irrelevant(
    events: list[CartEvent], data: st.DataObject
) -> None:
    """
    A batch whose events are sorted by their own time ends in the same cart however it arrived.
    """
    # given
    shuffled = data.draw(st.permutations(events))
    # when
    in_order = replay(sorted(events, key=lambda e: e.occurred_at))
    from_shuffle = replay(sorted(shuffled, key=lambda e: e.occurred_at))
    # then
    assert in_order == from_shuffle


@EXAMPLES
@given(
    before=st.lists(non_order_events, max_size=8),
    the_order=orders,
    after=st.lists(non_order_events, max_size=8),
)
def test_an_order_anywhere_in_the_stream_closes_the_cart(
    before: list[CartEvent], the_order: OrderPlaced, after: list[CartEvent]
) -> None:
    """
    Wherever an order arrives among other events, the cart ends ordered at the order's time.
    """
    # given
    events = [*before, the_order, *after]
    # when
    cart = replay(events)
    # then
    assert (Stage.ORDERED, CartStatus.CONVERTED, the_order.occurred_at, None) == (
        cart.stage,
        cart.status,
        cart.ordered_at,
        cart.check_at,
    )


@EXAMPLES
@given(events=st.lists(non_order_events, max_size=12))
def test_a_bot_cart_never_gets_a_timer(events: list[CartEvent]) -> None:
    """
    Whatever a bot does, its cart is never scheduled for abandonment.
    """
    # given / when
    cart = replay(events, is_bot=True)
    # then
    assert cart.check_at is None


@EXAMPLES
@given(products=st.lists(st.text(min_size=1, max_size=3), max_size=120))
def test_viewed_products_stay_bounded_and_unique(products: list[str]) -> None:
    """
    However many views, the view list holds each product once and at most the maximum.
    """
    # given
    signals = Signals()
    # when
    for product in products:
        signals = signals.with_view(product)
    # then
    keys = [key for key, _ in signals.viewed]
    assert (True, len(set(keys))) == (len(keys) <= MAX_VIEWED_PRODUCTS, len(keys))


def _moved(event: CartEvent, at: datetime) -> CartEvent:
    """
    The same event at another moment.
    """
    fields = {name: getattr(event, name) for name in type(event).__dataclass_fields__}
    return type(event)(**{**fields, "occurred_at": at})
