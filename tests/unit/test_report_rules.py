"""
The report's pure rules (`domain.reports`): each cart's first order in the recovery window,
recovered against converted, last-touch attribution (a click in its window beats a send),
the median and the fixed holdout seed.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from cartback.domain.reports import (
    AttributionWindows,
    OrderCandidate,
    Period,
    TouchFact,
    first_orders,
    holdout_seed,
    median_seconds,
    outcome,
    rate,
    revenue,
)

A = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
WINDOWS = AttributionWindows(click=timedelta(days=7), send=timedelta(days=1))


def _order(
    at: timedelta, key: str = "o-1", currency: str = "USD", total: str = "40"
) -> OrderCandidate:
    return OrderCandidate(
        cart_id="c-1",
        abandoned_at=A,
        stage="cart",
        payment_failure_reason=None,
        order_key=key,
        placed_at=A + at,
        total=Decimal(total),
        currency=currency,
    )


def _touch(step: int, sent: timedelta | None, clicked: timedelta | None = None) -> TouchFact:
    return TouchFact(
        cart_id="c-1",
        flow="f",
        step=step,
        channel="email",
        variant=None,
        sent_at=None if sent is None else A + sent,
        clicked_at=None if clicked is None else A + clicked,
    )


def test_the_first_order_inside_the_recovery_window_counts() -> None:
    """
    Of three orders, the earliest within [A, A + 7 d) wins; one at exactly A + 7 d is out.
    """
    # given
    orders = [_order(timedelta(days=3), "o-late"), _order(timedelta(hours=2), "o-early")]
    outside = replace(_order(timedelta(days=7)), cart_id="c-2")
    # when
    first = first_orders([*orders, outside], recovery_window=timedelta(days=7))
    # then
    assert {"c-1": "o-early"} == {cart: o.order_key for cart, o in first.items()}


def test_an_order_with_no_touch_before_it_is_converted() -> None:
    """
    A touch sent after the order neither recovers nor gets credit.
    """
    # when
    found = outcome(_order(timedelta(hours=1)), [_touch(0, timedelta(hours=2))], WINDOWS)
    # then
    assert (False, None) == (found.recovered, found.attributed)


def test_a_click_in_its_window_beats_a_later_send() -> None:
    """
    Step 0 clicked 3 days before the order, step 1 sent 2 hours before: the click wins.
    """
    # given
    touches = [
        _touch(0, timedelta(hours=1), clicked=timedelta(hours=2)),
        _touch(1, timedelta(days=3)),
    ]
    # when
    found = outcome(_order(timedelta(days=3, hours=2)), touches, WINDOWS)
    # then
    assert found.recovered
    assert found.attributed is not None
    assert 0 == found.attributed.step


def test_without_a_click_the_latest_send_within_a_day_is_credited() -> None:
    """
    Two sends within the send window: the later one; a send 25 h before credits nothing.
    """
    # given
    touches = [_touch(0, timedelta(hours=1)), _touch(1, timedelta(hours=5))]
    # when
    credited = outcome(_order(timedelta(hours=6)), touches, WINDOWS)
    stale = outcome(_order(timedelta(hours=26)), [_touch(0, timedelta(hours=1))], WINDOWS)
    # then
    assert credited.attributed is not None
    assert 1 == credited.attributed.step
    assert (True, None) == (stale.recovered, stale.attributed)


def test_window_edges_are_included() -> None:
    """
    A click exactly 7 days before the order still counts.
    """
    # when
    found = outcome(
        _order(timedelta(days=8)), [_touch(0, timedelta(hours=1), timedelta(days=1))], WINDOWS
    )
    # then
    assert found.attributed is not None


def test_other_currencies_have_no_revenue_here() -> None:
    """
    Revenue counts only in the report's currency.
    """
    # then
    assert Decimal("40") == revenue(_order(timedelta(hours=1)), "USD")
    assert revenue(_order(timedelta(hours=1), currency="EUR"), "USD") is None


def test_rates_medians_and_seeds() -> None:
    """
    Nothing to divide by is None; the median of an even count is the mean of the middle two;
    the seed is the same for the same store and period and differs for another period.
    """
    # given
    period = Period(start=A, end=A + timedelta(days=30))
    later = Period(start=A + timedelta(days=1), end=A + timedelta(days=30))
    # then
    assert (None, 0.3333) == (rate(1, 0), rate(1, 3))
    assert median_seconds([]) is None
    assert 150 == median_seconds([timedelta(seconds=s) for s in (100, 200, 50, 300)])
    assert holdout_seed("st_1", period) == holdout_seed("st_1", period)
    assert holdout_seed("st_1", period) != holdout_seed("st_1", later)


def test_one_order_recovers_one_cart() -> None:
    """
    The contact's order matches c-1 and c-2 (both abandoned before it): it recovers the one
    abandoned last; an order of c-1's own goes to c-1 even though c-2 was abandoned later.
    """
    # given
    older = _order(timedelta(hours=5), "o-contact")
    later = replace(older, cart_id="c-2", abandoned_at=A + timedelta(hours=1), same_cart=False)
    older = replace(older, same_cart=False)
    own = replace(_order(timedelta(hours=6), "o-own"), same_cart=True)
    own_by_contact = replace(
        own, cart_id="c-2", abandoned_at=A + timedelta(hours=1), same_cart=False
    )
    # when
    by_contact = first_orders([older, later], recovery_window=timedelta(days=7))
    by_own = first_orders([own, own_by_contact], recovery_window=timedelta(days=7))
    # then
    assert {"c-2": "o-contact"} == {c: o.order_key for c, o in by_contact.items()}
    assert {"c-1": "o-own"} == {c: o.order_key for c, o in by_own.items()}
