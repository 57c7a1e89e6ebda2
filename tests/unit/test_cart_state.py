"""
The cart state machine (`domain/cart.py`): every transition of stage and status, staleness,
totals, line merging and the abandonment timer, with time always passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

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
    reschedule,
)
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
from cartback.domain.stores import Platform, Store

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
ABANDON_AFTER = timedelta(minutes=30)
WINDOW = timedelta(days=7)
POLICY = CartPolicy(abandon_after=ABANDON_AFTER, recovery_window=WINDOW)


def line(**overrides: Any) -> LineItem:
    """
    A line with sensible defaults: one unit of `p-1` at 10.00.
    """
    values: dict[str, Any] = {"product_id": "p-1", "quantity": 1, "unit_price": Decimal("10")}
    return LineItem(**{**values, **overrides})


def added(at: datetime = T0, **overrides: Any) -> ItemAdded:
    """
    An ItemAdded event for `line(**overrides)`.
    """
    return ItemAdded(occurred_at=at, item=line(**overrides))


def viewed(at: datetime = T0, product_id: str = "p-1") -> ProductViewed:
    """
    A ProductViewed event.
    """
    return ProductViewed(occurred_at=at, item=line(product_id=product_id))


def snapshot(at: datetime = T0, stage: Stage = Stage.CHECKOUT, **fields: Any) -> CartSnapshot:
    """
    A CartSnapshot at a stage.
    """
    return CartSnapshot(occurred_at=at, stage=stage, **fields)


def order(at: datetime = T0, **fields: Any) -> OrderPlaced:
    """
    An OrderPlaced event.
    """
    return OrderPlaced(occurred_at=at, **{"order_id": "o-1", **fields})


def replay(*events: CartEvent, start: Cart | None = None) -> Cart:
    """
    Apply events in order to a fresh (or given) cart and return the result.
    """
    cart = start or new_cart(key="c-1", currency="USD")
    for event in events:
        cart, _ = apply_event(cart, event, policy=POLICY)
    return cart


def abandoned() -> Cart:
    """
    A cart with one line, abandoned by its timer half an hour after the add.
    """
    cart, outcome = on_timer(replay(added(T0)), now=T0 + ABANDON_AFTER, policy=POLICY)
    assert TimerOutcome.ABANDONED == outcome
    return cart


def lost() -> Cart:
    """
    A cart whose recovery window ran out after its abandonment.
    """
    cart, outcome = on_timer(abandoned(), now=T0 + ABANDON_AFTER + WINDOW, policy=POLICY)
    assert TimerOutcome.LOST == outcome
    return cart


# --- values ---------------------------------------------------------------------------------


def test_stage_ranks_follow_the_funnel() -> None:
    """
    Stages rank browsing < cart < checkout < payment_failed < ordered.
    """
    # given
    funnel = ["browsing", "cart", "checkout", "payment_failed", "ordered"]
    # when
    ranked = [s.value for s in sorted(Stage, key=lambda s: s.rank)]
    # then
    assert funnel == ranked


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"product_id": None}, "needs a product_id"),
        ({"quantity": -1}, "quantity must be between"),
        ({"quantity": MAX_QUANTITY + 1}, "quantity must be between"),
        ({"unit_price": Decimal("-0.01")}, "price must be between"),
        ({"unit_price": Decimal("100000000.01")}, "price must be between"),
    ],
)
def test_line_item_refuses_absurd_values(overrides: dict[str, Any], message: str) -> None:
    """
    A line without an identifier, or with a negative or absurd quantity or price, is refused.
    """
    # given / when / then
    with pytest.raises(ValueError, match=message):
        line(**overrides)


@pytest.mark.parametrize(
    ("identifiers", "expected"),
    [
        ({"product_id": "p", "variant_id": "v"}, ("p", "v")),
        ({"product_id": None, "sku": "s"}, ("s", "")),
        ({"product_id": None, "variant_id": "v"}, ("v", "v")),
        ({"product_id": "p", "variant_name": "Red"}, ("p", "Red")),
    ],
)
def test_line_key_is_product_and_variant(
    identifiers: dict[str, Any], expected: tuple[str, str]
) -> None:
    """
    A line's key is its product (id, else sku, else variant id) and its variant (id, else name).
    """
    # given
    item = line(**identifiers)
    # when
    key = item.key
    # then
    assert expected == key


@pytest.mark.parametrize(
    "field_name",
    ["last_activity_at", "check_at", "abandoned_at", "lost_at", "ordered_at", "touched_at"],
)
def test_cart_refuses_naive_datetimes(field_name: str) -> None:
    """
    Every time on a cart must carry a timezone.
    """
    # given
    times: dict[str, Any] = {field_name: datetime(2026, 1, 1)}  # noqa: DTZ001 - the point
    # when / then
    with pytest.raises(ValueError, match=field_name):
        Cart(key="c", currency="USD", **times)


def test_event_refuses_a_naive_occurred_at() -> None:
    """
    An event must say when it happened in a known zone.
    """
    # given
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
    # when / then
    with pytest.raises(ValueError, match="occurred_at"):
        ItemAdded(occurred_at=naive, item=line())


def test_a_store_policy_carries_its_timing_rules() -> None:
    """
    The cart policy of a store is its abandonment delay and recovery window.
    """
    # given
    store = Store(
        id="st_1",
        name="Shop",
        platform=Platform.CUSTOM,
        domains=("shop.example.com",),
        currency="USD",
        timezone="Europe/Berlin",
        abandon_after=timedelta(hours=1),
        recovery_window=timedelta(days=3),
        created_at=T0,
        updated_at=T0,
    )
    # when
    policy = store.cart_policy
    # then
    assert CartPolicy(abandon_after=timedelta(hours=1), recovery_window=timedelta(days=3)) == policy


def test_a_store_refuses_naive_times() -> None:
    """
    A store's timestamps carry a timezone.
    """
    # given
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
    # when / then
    with pytest.raises(ValueError, match="created_at"):
        Store(
            id="st_1",
            name="Shop",
            platform=Platform.CUSTOM,
            domains=(),
            currency="USD",
            timezone="UTC",
            created_at=naive,
            updated_at=T0,
        )


# --- stage ----------------------------------------------------------------------------------


def test_a_new_cart_is_browsing_and_active_without_a_timer() -> None:
    """
    A cart no event touched is browsing, active, empty and has no timer.
    """
    # given / when
    cart = new_cart(key="c-1", currency="EUR")
    # then
    assert (Stage.BROWSING, CartStatus.ACTIVE, (), None) == (
        cart.stage,
        cart.status,
        cart.lines,
        cart.check_at,
    )


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([viewed()], Stage.BROWSING),
        ([added()], Stage.CART),
        ([added(), snapshot(stage=Stage.CART)], Stage.CART),
        ([added(), snapshot(stage=Stage.CHECKOUT)], Stage.CHECKOUT),
        ([added(), PaymentFailed(occurred_at=T0)], Stage.PAYMENT_FAILED),
        ([added(), order()], Stage.ORDERED),
    ],
)
def test_events_move_the_stage_forward(events: list[CartEvent], expected: Stage) -> None:
    """
    Each kind of event moves the cart to its own stage.
    """
    # given / when
    cart = replay(*events)
    # then
    assert expected == cart.stage


@pytest.mark.parametrize(
    ("reached", "later"),
    [
        (snapshot(T0, Stage.CHECKOUT), snapshot(T0 + timedelta(seconds=1), Stage.CART)),
        (snapshot(T0, Stage.CHECKOUT), added(T0 + timedelta(seconds=1), product_id="p-2")),
        (PaymentFailed(occurred_at=T0), snapshot(T0 + timedelta(seconds=1), Stage.CHECKOUT)),
        (PaymentFailed(occurred_at=T0), added(T0 + timedelta(seconds=1))),
    ],
)
def test_stage_never_moves_backwards(reached: CartEvent, later: CartEvent) -> None:
    """
    A later event of an earlier stage leaves the stage where it was.
    """
    # given
    cart = replay(added(T0 - timedelta(minutes=1)), reached)
    # when
    after, outcome = apply_event(cart, later, policy=POLICY)
    # then
    assert (Outcome.APPLIED, cart.stage) == (outcome, after.stage)


def test_payment_failure_keeps_the_last_known_reason() -> None:
    """
    A second failure without a reason keeps the first one's reason.
    """
    # given
    first = PaymentFailed(occurred_at=T0, reason="card_declined")
    second = PaymentFailed(occurred_at=T0 + timedelta(minutes=1))
    # when
    cart = replay(added(T0), first, second)
    # then
    assert "card_declined" == cart.payment_failure_reason


# --- ordered is terminal --------------------------------------------------------------------


@pytest.mark.parametrize(
    "later",
    [
        added(T0 + timedelta(hours=1), product_id="p-2"),
        ItemRemoved(occurred_at=T0 + timedelta(hours=1), item=line(quantity=0)),
        viewed(T0 + timedelta(hours=1)),
        snapshot(T0 + timedelta(hours=1), Stage.CHECKOUT, items=()),
        PaymentFailed(occurred_at=T0 + timedelta(hours=1), reason="x"),
    ],
)
def test_nothing_but_an_order_changes_an_ordered_cart(later: CartEvent) -> None:
    """
    After an order, every other event is reported as after-order and changes nothing.
    """
    # given
    cart = replay(added(T0), order(T0 + timedelta(minutes=5)))
    # when
    after, outcome = apply_event(cart, later, policy=POLICY)
    # then
    assert (Outcome.AFTER_ORDER, cart) == (outcome, after)


def test_a_second_order_leaves_the_closed_cart_alone() -> None:
    """
    A second order for an ordered cart is recorded on the order, not on the cart.
    """
    # given
    cart = replay(added(T0), order(T0 + timedelta(minutes=5), order_id="o-1"))
    # when
    after, _ = apply_event(cart, order(T0 + timedelta(minutes=6), order_id="o-2"), policy=POLICY)
    # then
    assert cart == after


@pytest.mark.parametrize("change", ["cancelled", "refunded"])
def test_a_cancelled_or_refunded_order_does_not_reopen_the_cart(change: str) -> None:
    """
    Cancellations and refunds change the order; the cart still converted.
    """
    # given
    cart = replay(added(T0), order(T0 + timedelta(minutes=5)))
    event = OrderChanged(occurred_at=T0 + timedelta(days=1), order_id="o-1", change=change)
    # when
    after, _ = apply_event(cart, event, policy=POLICY)
    # then
    assert cart == after


def test_an_order_older_than_the_last_activity_still_applies() -> None:
    """
    An order is the fact that matters most, so it applies even when it arrives out of order.
    """
    # given
    cart = replay(added(T0), added(T0 + timedelta(minutes=10), product_id="p-2"))
    # when
    after, outcome = apply_event(cart, order(T0 + timedelta(minutes=5)), policy=POLICY)
    # then
    assert (Outcome.APPLIED, CartStatus.CONVERTED, Stage.ORDERED) == (
        outcome,
        after.status,
        after.stage,
    )


def test_an_old_order_does_not_move_last_activity_back() -> None:
    """
    The last activity stays the latest moment seen, even when the order is older.
    """
    # given
    latest = T0 + timedelta(minutes=10)
    cart = replay(added(T0), added(latest, product_id="p-2"))
    # when
    after, _ = apply_event(cart, order(T0 + timedelta(minutes=5)), policy=POLICY)
    # then
    assert latest == after.last_activity_at


def test_an_order_records_itself_and_stops_the_timer() -> None:
    """
    An order sets the order id, the ordered time and clears the timer.
    """
    # given
    at = T0 + timedelta(minutes=5)
    cart = replay(added(T0))
    # when
    after, _ = apply_event(cart, order(at, order_id="o-9", checkout_id="k-1"), policy=POLICY)
    # then
    assert ("o-9", "k-1", at, None) == (
        after.order_id,
        after.checkout_id,
        after.ordered_at,
        after.check_at,
    )


def test_an_order_closes_an_abandoned_cart() -> None:
    """
    An abandoned cart that orders without any touch converts.
    """
    # given
    cart = abandoned()
    # when
    after, _ = apply_event(cart, order(T0 + timedelta(hours=2)), policy=POLICY)
    # then
    assert (CartStatus.CONVERTED, None) == (after.status, after.check_at)


@pytest.mark.parametrize(
    ("touched_at", "expected"),
    [
        (None, CartStatus.CONVERTED),
        (T0 + timedelta(hours=1), CartStatus.RECOVERED),
        (T0 + timedelta(hours=2), CartStatus.RECOVERED),
        (T0 + timedelta(hours=3), CartStatus.CONVERTED),
    ],
)
def test_an_order_after_a_touch_is_recovered_otherwise_converted(
    touched_at: datetime | None, expected: CartStatus
) -> None:
    """
    An order placed at or after a touch counts as recovered; one placed before it (or with no
    touch at all) converted on its own.
    """
    # given
    cart = replace(abandoned(), touched_at=touched_at)
    # when
    after, _ = apply_event(cart, order(T0 + timedelta(hours=2)), policy=POLICY)
    # then
    assert expected == after.status


def test_an_order_with_items_replaces_the_lines() -> None:
    """
    The order's own lines are what was bought.
    """
    # given
    bought = (line(product_id="p-9", quantity=3),)
    cart = replay(added(T0))
    # when
    after, _ = apply_event(cart, order(T0 + timedelta(minutes=1), items=bought), policy=POLICY)
    # then
    assert bought == after.lines


def test_an_order_without_items_keeps_the_cart_lines() -> None:
    """
    An order that does not list its products keeps what the cart held.
    """
    # given
    cart = replay(added(T0))
    # when
    after, _ = apply_event(cart, order(T0 + timedelta(minutes=1)), policy=POLICY)
    # then
    assert cart.lines == after.lines


def test_an_order_with_new_items_and_no_total_sums_the_new_items() -> None:
    """
    A total the cart declared for its old lines does not survive an order with other lines.
    """
    # given
    cart = replay(snapshot(T0, items=(line(),), total=Decimal("12.00")))
    bought = (line(product_id="p-9", quantity=2, unit_price=Decimal("7.50")),)
    # when
    after, _ = apply_event(cart, order(T0 + timedelta(minutes=1), items=bought), policy=POLICY)
    # then
    assert Decimal("15.00") == after.total


def test_an_order_total_is_declared() -> None:
    """
    The order's total, when given, is the cart's total.
    """
    # given
    cart = replay(added(T0))
    # when
    after, _ = apply_event(
        cart, order(T0 + timedelta(minutes=1), total=Decimal("42.10")), policy=POLICY
    )
    # then
    assert Decimal("42.10") == after.total


def test_an_order_in_another_currency_sets_the_currency() -> None:
    """
    The order's currency wins.
    """
    # given
    cart = replay(added(T0))
    # when
    after, _ = apply_event(cart, order(T0 + timedelta(minutes=1), currency="EUR"), policy=POLICY)
    # then
    assert "EUR" == after.currency


# --- staleness ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stale",
    [
        added(T0 - timedelta(seconds=1), product_id="p-2"),
        ItemRemoved(occurred_at=T0 - timedelta(seconds=1), item=line(quantity=0)),
        viewed(T0 - timedelta(seconds=1), product_id="p-3"),
        snapshot(T0 - timedelta(seconds=1), Stage.CHECKOUT, items=()),
        PaymentFailed(occurred_at=T0 - timedelta(seconds=1)),
    ],
)
def test_a_stale_event_changes_nothing(stale: CartEvent) -> None:
    """
    Any non-order event older than the cart's latest change is stale and rolls nothing back.
    """
    # given
    cart = replay(added(T0))
    # when
    after, outcome = apply_event(cart, stale, policy=POLICY)
    # then
    assert (Outcome.STALE, cart) == (outcome, after)


def test_an_event_at_the_same_instant_is_not_stale() -> None:
    """
    Two events in the same instant both apply.
    """
    # given
    cart = replay(added(T0))
    # when
    after, outcome = apply_event(cart, added(T0, product_id="p-2"), policy=POLICY)
    # then
    assert (Outcome.APPLIED, 2) == (outcome, len(after.lines))


# --- timers ---------------------------------------------------------------------------------


def test_activity_schedules_the_timer_after_the_inactivity_delay() -> None:
    """
    A recoverable cart's timer is its last activity plus the store's abandonment delay.
    """
    # given
    at = T0 + timedelta(minutes=3)
    # when
    cart = replay(added(T0), added(at, product_id="p-2"))
    # then
    assert (at, at + ABANDON_AFTER) == (cart.last_activity_at, cart.check_at)


def test_a_cart_with_browsing_views_only_gets_a_timer() -> None:
    """
    Browse abandonment: viewed products alone are worth a timer.
    """
    # given / when
    cart = replay(viewed(T0))
    # then
    assert T0 + ABANDON_AFTER == cart.check_at


def test_an_emptied_cart_gets_no_timer() -> None:
    """
    Removing the last line clears the timer: there is nothing to recover.
    """
    # given
    removal = ItemRemoved(occurred_at=T0 + timedelta(minutes=1), item=line(quantity=0))
    # when
    cart = replay(viewed(T0), added(T0), removal)
    # then
    assert ((), None) == (cart.lines, cart.check_at)


def test_a_bot_cart_gets_no_timer() -> None:
    """
    Bot carts are kept and flagged, never scheduled.
    """
    # given
    bot = new_cart(key="c-1", currency="USD", is_bot=True)
    # when
    cart = replay(added(T0), start=bot)
    # then
    assert (1, None) == (len(cart.lines), cart.check_at)


def test_the_timer_is_not_due_before_its_time() -> None:
    """
    One second early, the timer decides nothing.
    """
    # given
    cart = replay(added(T0))
    # when
    after, outcome = on_timer(cart, now=T0 + ABANDON_AFTER - timedelta(seconds=1), policy=POLICY)
    # then
    assert (TimerOutcome.NOT_DUE, cart) == (outcome, after)


def test_a_cart_without_a_timer_is_never_due() -> None:
    """
    No check_at, no decision, however late it is.
    """
    # given
    cart = new_cart(key="c-1", currency="USD")
    # when
    _, outcome = on_timer(cart, now=T0 + timedelta(days=365), policy=POLICY)
    # then
    assert TimerOutcome.NOT_DUE == outcome


def test_an_inactive_cart_is_abandoned_at_the_due_moment_not_now() -> None:
    """
    A late worker still records the moment inactivity ran out.
    """
    # given
    cart = replay(added(T0))
    late = T0 + ABANDON_AFTER + timedelta(minutes=7)
    # when
    after, outcome = on_timer(cart, now=late, policy=POLICY)
    # then
    assert (TimerOutcome.ABANDONED, CartStatus.ABANDONED, T0 + ABANDON_AFTER) == (
        outcome,
        after.status,
        after.abandoned_at,
    )


def test_a_cart_noticed_after_its_window_ended_goes_straight_to_lost() -> None:
    """
    A cart due for abandonment but found only after the recovery window too (a backfill, a
    worker that was down) is lost at once, with both moments recorded.
    """
    # given
    cart = replay(added(T0))
    # when
    after, outcome = on_timer(cart, now=T0 + ABANDON_AFTER + WINDOW, policy=POLICY)
    # then
    assert (TimerOutcome.LOST, CartStatus.LOST, None) == (outcome, after.status, after.check_at)
    assert (T0 + ABANDON_AFTER, T0 + ABANDON_AFTER + WINDOW) == (after.abandoned_at, after.lost_at)


def test_an_abandoned_cart_is_checked_again_when_its_window_ends() -> None:
    """
    The next check of an abandoned cart is when its recovery window runs out.
    """
    # given / when
    cart = abandoned()
    # then
    assert T0 + ABANDON_AFTER + WINDOW == cart.check_at


def test_an_abandoned_cart_is_lost_after_the_recovery_window() -> None:
    """
    When the window ends, the cart is lost at that moment and has no further timer.
    """
    # given
    cart = abandoned()
    # when
    after, outcome = on_timer(cart, now=T0 + ABANDON_AFTER + WINDOW, policy=POLICY)
    # then
    assert (TimerOutcome.LOST, CartStatus.LOST, T0 + ABANDON_AFTER + WINDOW, None) == (
        outcome,
        after.status,
        after.lost_at,
        after.check_at,
    )


def test_an_abandoned_cart_within_its_window_stays_abandoned() -> None:
    """
    Until the window ends, an abandoned cart stays abandoned.
    """
    # given
    cart = abandoned()
    # when
    _, outcome = on_timer(cart, now=T0 + ABANDON_AFTER + timedelta(days=6), policy=POLICY)
    # then
    assert TimerOutcome.NOT_DUE == outcome


def test_a_due_cart_that_became_a_bot_is_cleared() -> None:
    """
    A cart flagged as a bot after its timer was set is cleared, not abandoned.
    """
    # given
    cart = replace(replay(added(T0)), is_bot=True)
    # when
    after, outcome = on_timer(cart, now=T0 + ABANDON_AFTER, policy=POLICY)
    # then
    assert (TimerOutcome.CLEARED, CartStatus.ACTIVE, None) == (
        outcome,
        after.status,
        after.check_at,
    )


def test_the_timer_refuses_a_naive_now() -> None:
    """
    `now` must be timezone-aware.
    """
    # given
    cart = replay(added(T0))
    # when / then
    with pytest.raises(ValueError, match="now"):
        on_timer(cart, now=datetime(2026, 12, 1), policy=POLICY)  # noqa: DTZ001


# --- returns --------------------------------------------------------------------------------


@pytest.mark.parametrize("closed", [abandoned, lost], ids=["abandoned", "lost"])
def test_a_returning_shopper_reopens_the_cart_and_counts_a_return(
    closed: Callable[[], Cart],
) -> None:
    """
    Activity on an abandoned or lost cart makes it active again and counts one return.
    """
    # given
    cart = closed()
    back = T0 + timedelta(days=8)
    # when
    after, _ = apply_event(cart, added(back, product_id="p-2"), policy=POLICY)
    # then
    assert (CartStatus.ACTIVE, 1, back + ABANDON_AFTER) == (
        after.status,
        after.signals.returns,
        after.check_at,
    )


def test_a_late_event_from_before_the_abandonment_is_not_a_return() -> None:
    """
    An event that happened before the abandonment but arrived after it reopens the cart (it was
    not inactive after all) without counting a return.
    """
    # given
    cart = abandoned()
    late = T0 + timedelta(minutes=10)
    # when
    after, _ = apply_event(cart, added(late, product_id="p-2"), policy=POLICY)
    # then
    assert (CartStatus.ACTIVE, 0, late + ABANDON_AFTER) == (
        after.status,
        after.signals.returns,
        after.check_at,
    )


# --- lines and totals -----------------------------------------------------------------------


def test_adding_the_same_product_twice_merges_the_quantities() -> None:
    """
    Two adds of one product make one line with both quantities.
    """
    # given / when
    cart = replay(added(T0, quantity=2), added(T0 + timedelta(seconds=5), quantity=3))
    # then
    assert [5] == [item.quantity for item in cart.lines]


def test_merged_quantity_is_capped() -> None:
    """
    Repeated adds never push a line beyond the maximum quantity.
    """
    # given
    big = MAX_QUANTITY - 1
    # when
    cart = replay(added(T0, quantity=big), added(T0 + timedelta(seconds=1), quantity=big))
    # then
    assert [MAX_QUANTITY] == [item.quantity for item in cart.lines]


def test_a_merge_takes_the_newer_fields_and_keeps_the_older_ones_it_lacks() -> None:
    """
    The newer report of a line wins for every field it carries.
    """
    # given
    first = added(T0, name="Mug", image_url="https://img/1.png", unit_price=Decimal("5"))
    second = added(T0 + timedelta(seconds=1), unit_price=Decimal("6"), url="https://shop/mug")
    # when
    (merged,) = replay(first, second).lines
    # then
    assert ("Mug", "https://img/1.png", Decimal("6"), "https://shop/mug") == (
        merged.name,
        merged.image_url,
        merged.unit_price,
        merged.url,
    )


def test_variants_of_one_product_are_separate_lines() -> None:
    """
    A red and a blue mug are two lines.
    """
    # given / when
    cart = replay(added(T0, variant_id="red"), added(T0, variant_id="blue"))
    # then
    assert [("p-1", "red"), ("p-1", "blue")] == [item.key for item in cart.lines]


def test_a_cart_holds_at_most_max_lines() -> None:
    """
    One line beyond the maximum is refused.
    """
    # given
    full = replay(
        snapshot(T0, Stage.CART, items=tuple(line(product_id=f"p{i}") for i in range(MAX_LINES)))
    )
    # when / then
    with pytest.raises(ValueError, match="at most"):
        apply_event(full, added(T0, product_id="one-too-many"), policy=POLICY)


def test_a_full_cart_still_merges_into_an_existing_line() -> None:
    """
    At the maximum, adding more of a product already there still works.
    """
    # given
    items = tuple(line(product_id=f"p{i}") for i in range(MAX_LINES))
    full = replay(snapshot(T0, Stage.CART, items=items))
    # when
    after, _ = apply_event(full, added(T0, product_id="p0"), policy=POLICY)
    # then
    assert (MAX_LINES, 2) == (len(after.lines), after.lines[0].quantity)


def test_a_snapshot_with_more_than_max_lines_is_refused() -> None:
    """
    A reported cart with too many lines is refused like too many adds.
    """
    # given
    items = tuple(line(product_id=f"p{i}") for i in range(MAX_LINES + 1))
    # when / then
    with pytest.raises(ValueError, match="at most"):
        replay(snapshot(T0, Stage.CART, items=items))


@pytest.mark.parametrize(
    ("removed_quantity", "expected"),
    [(0, []), (1, [2]), (3, []), (7, [])],
    ids=["all", "some", "exactly-all", "more-than-all"],
)
def test_removing_takes_the_quantity_away(removed_quantity: int, expected: list[int]) -> None:
    """
    A removal takes its quantity from the line (all of it when the quantity is 0).
    """
    # given
    cart = replay(added(T0, quantity=3))
    removal = ItemRemoved(
        occurred_at=T0 + timedelta(seconds=1), item=line(quantity=removed_quantity)
    )
    # when
    after, _ = apply_event(cart, removal, policy=POLICY)
    # then
    assert expected == [item.quantity for item in after.lines]


def test_removing_an_unknown_product_keeps_the_lines() -> None:
    """
    A removal of something the cart never held changes no line.
    """
    # given
    cart = replay(added(T0))
    removal = ItemRemoved(occurred_at=T0 + timedelta(seconds=1), item=line(product_id="other"))
    # when
    after, _ = apply_event(cart, removal, policy=POLICY)
    # then
    assert cart.lines == after.lines


def test_the_computed_total_sums_priced_lines() -> None:
    """
    Without a declared total, the total is the sum of price times quantity; unpriced lines add 0.
    """
    # given
    events = [
        added(T0, product_id="a", quantity=2, unit_price=Decimal("3.25")),
        added(T0, product_id="b", quantity=1, unit_price=Decimal("10")),
        added(T0, product_id="c", quantity=4, unit_price=None),
    ]
    # when
    cart = replay(*events)
    # then
    assert (Decimal("16.50"), 7) == (cart.total, cart.item_count)


def test_a_snapshot_total_is_declared() -> None:
    """
    The platform's own total (with tax, shipping, discounts) wins over the lines' sum.
    """
    # given
    items = (line(quantity=2),)
    # when
    cart = replay(snapshot(T0, items=items, total=Decimal("23.99")))
    # then
    assert Decimal("23.99") == cart.total


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (added(T0 + timedelta(seconds=1), product_id="p-2"), Decimal("30")),
        (ItemRemoved(occurred_at=T0 + timedelta(seconds=1), item=line(quantity=1)), Decimal("10")),
        (
            snapshot(T0 + timedelta(seconds=1), Stage.CHECKOUT, items=(line(quantity=3),)),
            Decimal("30"),
        ),
    ],
    ids=["add", "remove", "snapshot-items"],
)
def test_a_change_of_lines_drops_the_declared_total(change: CartEvent, expected: Decimal) -> None:
    """
    After the lines change without a new total, the total is computed from the lines again.
    """
    # given
    cart = replay(snapshot(T0, items=(line(quantity=2),), total=Decimal("99")))
    # when
    after, _ = apply_event(cart, change, policy=POLICY)
    # then
    assert expected == after.total


def test_a_snapshot_without_items_or_total_keeps_the_declared_total() -> None:
    """
    A bare "Checkout Step Viewed" does not forget the total the platform declared.
    """
    # given
    cart = replay(snapshot(T0, items=(line(),), total=Decimal("11.50")))
    # when
    after, _ = apply_event(cart, snapshot(T0 + timedelta(seconds=1)), policy=POLICY)
    # then
    assert Decimal("11.50") == after.total


def test_a_snapshot_without_items_keeps_the_lines() -> None:
    """
    A snapshot that does not list products leaves the lines alone.
    """
    # given
    cart = replay(added(T0, quantity=2))
    # when
    after, _ = apply_event(cart, snapshot(T0 + timedelta(seconds=1)), policy=POLICY)
    # then
    assert cart.lines == after.lines


def test_a_later_snapshot_keeps_the_checkout_id() -> None:
    """
    A checkout id, once known, stays until another replaces it.
    """
    # given
    cart = replay(added(T0), snapshot(T0, checkout_id="k-1"))
    # when
    after, _ = apply_event(cart, snapshot(T0 + timedelta(seconds=1)), policy=POLICY)
    # then
    assert "k-1" == after.checkout_id


def test_an_event_currency_becomes_the_cart_currency() -> None:
    """
    The currency the shopper is buying in is the one the event names.
    """
    # given
    event = ItemAdded(occurred_at=T0, currency="GBP", item=line())
    # when
    cart = replay(event)
    # then
    assert "GBP" == cart.currency


# --- signals --------------------------------------------------------------------------------


def test_adds_and_cart_views_are_counted() -> None:
    """
    Each add and each Cart Viewed snapshot counts as an intent signal; other snapshots do not.
    """
    # given
    events = [
        added(T0),
        added(T0, product_id="p-2"),
        snapshot(T0, Stage.CART),
        snapshot(T0, Stage.CHECKOUT),
    ]
    # when
    cart = replay(*events)
    # then
    assert (2, 1) == (cart.signals.adds, cart.signals.cart_views)


def test_views_are_counted_per_product() -> None:
    """
    Repeated views of a product add up; the most recently viewed comes last.
    """
    # given / when
    cart = replay(viewed(T0, "a"), viewed(T0, "b"), viewed(T0, "a"))
    # then
    assert (("b", 1), ("a", 2)) == cart.signals.viewed


def test_only_the_most_recent_viewed_products_are_kept() -> None:
    """
    The view list keeps the latest MAX_VIEWED_PRODUCTS products and forgets the oldest.
    """
    # given
    signals = Signals()
    # when
    for i in range(MAX_VIEWED_PRODUCTS + 5):
        signals = signals.with_view(f"p{i}")
    # then
    assert (MAX_VIEWED_PRODUCTS, "p5") == (len(signals.viewed), signals.viewed[0][0])


def test_signals_survive_the_json_round_trip() -> None:
    """
    The stored form reads back as the same signals.
    """
    # given
    signals = Signals(viewed=(("a", 2), ("b", 1)), adds=3, cart_views=1, returns=2)
    # when
    restored = Signals.from_json(signals.to_json())
    # then
    assert signals == restored


@pytest.mark.parametrize("stored", [None, {}])
def test_missing_signals_read_as_empty(stored: dict[str, Any] | None) -> None:
    """
    A cart stored before signals existed has none.
    """
    # given / when
    signals = Signals.from_json(stored)
    # then
    assert Signals() == signals


# --- reschedule -----------------------------------------------------------------------------


def test_reschedule_moves_an_active_cart_timer_to_the_new_delay() -> None:
    """
    A store that changes its delay moves every active cart's timer.
    """
    # given
    cart = replay(added(T0))
    longer = CartPolicy(abandon_after=timedelta(hours=2), recovery_window=WINDOW)
    # when
    after = reschedule(cart, policy=longer)
    # then
    assert T0 + timedelta(hours=2) == after.check_at


def test_reschedule_leaves_an_abandoned_cart_alone_when_the_window_is_unchanged() -> None:
    """
    An abandoned cart keeps its recovery-window timer when only the delay changed.
    """
    # given
    cart = abandoned()
    # when
    after = reschedule(
        cart, policy=CartPolicy(abandon_after=timedelta(hours=2), recovery_window=WINDOW)
    )
    # then
    assert cart == after


def test_reschedule_moves_an_abandoned_cart_to_the_new_window() -> None:
    """
    A shorter recovery window moves the moment an abandoned cart becomes lost.
    """
    # given
    cart = abandoned()
    shorter = CartPolicy(abandon_after=ABANDON_AFTER, recovery_window=timedelta(days=2))
    # when
    after = reschedule(cart, policy=shorter)
    # then
    assert T0 + ABANDON_AFTER + timedelta(days=2) == after.check_at


def test_reschedule_clears_the_timer_of_a_cart_with_nothing_to_recover() -> None:
    """
    An active cart that is not recoverable loses any timer it had.
    """
    # given
    cart = replace(replay(added(T0)), is_bot=True)
    # when
    after = reschedule(cart, policy=POLICY)
    # then
    assert after.check_at is None


def test_reschedule_leaves_an_untouched_cart_alone() -> None:
    """
    A cart with no activity has no timer to move.
    """
    # given
    cart = new_cart(key="c-1", currency="USD")
    # when
    after = reschedule(cart, policy=POLICY)
    # then
    assert cart == after


def test_adding_nothing_of_a_new_product_makes_no_line() -> None:
    """
    An add with quantity 0 (some platforms send it) leaves the lines as they were.
    """
    # given / when
    cart = replay(added(T0, product_id="p-1"), added(T0, product_id="p-2", quantity=0))
    # then
    assert ["p-1"] == [line.product_id for line in cart.lines]
