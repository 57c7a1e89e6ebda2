"""
The report service (`services.reports`) on canned facts: the period's defaults and checks,
amounts only in the store currency (others counted), discount cost and net revenue, the
holdout per flow, breakdowns by stage and reason; and the attribution settings service.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.reports import (
    AttributionWindows,
    DiscountTotal,
    EnrolledCart,
    FunnelCounts,
    OrderCandidate,
    Period,
    SegmentCount,
    StepCounts,
    TouchFact,
)
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.services.attribution_settings import (
    attribution_windows,
    configure_attribution,
    read_attribution_settings,
)
from cartback.services.reports import build_report, report_period
from fakes import FakeDatabase, FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
A = NOW - timedelta(days=5)


def _report(uow_factory: FakeUnitOfWorkFactory, shop: Store, **kwargs: Any) -> dict[str, Any]:
    return build_report(
        uow=uow_factory(read_only=True), clock=SimulatedClock(NOW), store_id=shop.id, **kwargs
    )


def _order(
    cart: str, hours: int, total: str, currency: str = "USD", **extra: Any
) -> OrderCandidate:
    values: dict[str, Any] = {
        "cart_id": cart,
        "abandoned_at": A,
        "stage": "checkout",
        "payment_failure_reason": None,
        "order_key": f"o-{cart}",
        "placed_at": A + timedelta(hours=hours),
        "total": Decimal(total),
        "currency": currency,
        **extra,
    }
    return OrderCandidate(**values)


def _sent(cart: str, hours: int, flow: str = "f") -> TouchFact:
    return TouchFact(
        cart_id=cart,
        flow=flow,
        step=0,
        channel="email",
        variant=None,
        sent_at=A + timedelta(hours=hours),
        clicked_at=None,
    )


def test_the_default_period_is_the_last_30_days() -> None:
    """
    No ends: [now - 30 d, now); a day is its midnight in the store's zone.
    """
    # when
    default = report_period(None, None, now=NOW)
    days = report_period(date(2026, 11, 1), date(2026, 11, 2), now=NOW, zone="Europe/Berlin")
    # then
    assert Period(start=NOW - timedelta(days=30), end=NOW) == default
    assert datetime(2026, 10, 31, 23, 0, tzinfo=UTC) == days.start
    assert timedelta(days=1) == days.end - days.start


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (datetime(2026, 11, 1), None, "from"),  # noqa: DTZ001 - the naive time is the point
        (NOW, NOW, "from"),
        (NOW, NOW - timedelta(days=1), "from"),
        (NOW - timedelta(days=367), NOW, "from"),
    ],
)
def test_bad_periods_name_their_field(
    start: datetime | None, end: datetime | None, field: str
) -> None:
    """
    No zone, not before the end, more than 366 days: InvalidInput on the field.
    """
    # when
    with pytest.raises(InvalidInput) as raised:
        report_period(start, end, now=NOW)
    # then
    assert [field] == [e.path for e in raised.value.errors]


def test_an_unknown_store_is_not_found(uow_factory: FakeUnitOfWorkFactory) -> None:
    """
    No store: NotFound, nothing read.
    """
    # when / then
    with pytest.raises(NotFound):
        build_report(uow=uow_factory(), clock=SimulatedClock(NOW), store_id="st_nope")


def test_amounts_are_in_the_store_currency_and_others_are_counted(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, shop: Store
) -> None:
    """
    Two recovered orders, 40 USD and 30 EUR: the revenue is 40.00 USD, the EUR order is
    counted as left out; 5 USD of discounts make the net 35.00.
    """
    # given
    database.reports.counts = FunnelCounts(
        carts=4, abandoned=4, captured=2, reachable=2, enrolled=2, touched=2, clicked=0
    )
    database.reports.orders = [_order("c-1", 2, "40"), _order("c-2", 2, "30", "EUR")]
    database.reports.touches = [_sent("c-1", 1), _sent("c-2", 1)]
    database.reports.discount_totals = [
        DiscountTotal(currency="USD", redeemed=1, cost=Decimal("5")),
        DiscountTotal(currency="EUR", redeemed=1, cost=Decimal("9")),
    ]
    # when
    body = _report(uow_factory, shop)
    # then
    assert (2, "40.00", 0.5) == (
        body["recovered_carts"],
        body["recovered_revenue"],
        body["recovery_rate"],
    )
    assert ("5.00", "35.00") == (body["discount_cost"], body["net_recovered_revenue"])
    assert {"orders_left_out": 1, "currencies": ["EUR"]} == body["other_currencies"]


def test_holdout_per_flow_uses_every_enrolled_cart(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, shop: Store
) -> None:
    """
    Flow f: treated c-1 (ordered 40) and c-2 (nothing), control c-3 (ordered 20): rates 0.5
    and 1.0, revenue per cart 20.00 each; the same report twice is the same (fixed seed).
    """
    # given
    database.reports.orders = [_order("c-1", 2, "40"), _order("c-3", 2, "20")]
    database.reports.touches = [_sent("c-1", 1)]
    database.reports.enrollments = [
        EnrolledCart(cart_id=c, flow="f", group=g, started_at=A)
        for c, g in (("c-1", "treated"), ("c-2", "treated"), ("c-3", "control"))
    ]
    database.reports.steps = [StepCounts(flow="f", step=0, channel="email", variant=None, sent=1)]
    # when
    body = _report(uow_factory, shop)
    again = _report(uow_factory, shop)
    # then
    (flow,) = body["by_flow"]
    assert (0.5, 1.0, -0.5) == (
        flow["holdout"]["treated_rate"],
        flow["holdout"]["control_rate"],
        flow["holdout"]["lift"],
    )
    assert ("20.00", "20.00") == (
        flow["holdout"]["revenue_per_cart_treated"],
        flow["holdout"]["revenue_per_cart_control"],
    )
    assert (1, 1) == (body["recovered_carts"], body["converted_carts"])
    assert body == again


def test_recovery_by_stage_and_payment_failure_reason(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, shop: Store
) -> None:
    """
    3 checkout carts (one recovered) and 2 with a declined card (one recovered).
    """
    # given
    database.reports.segments = [
        SegmentCount(stage="checkout", payment_failure_reason=None, count=3),
        SegmentCount(stage="payment_failed", payment_failure_reason="card_declined", count=2),
    ]
    database.reports.orders = [
        _order("c-1", 2, "10"),
        _order("c-2", 2, "10", stage="payment_failed", payment_failure_reason="card_declined"),
    ]
    database.reports.touches = [_sent("c-1", 1), _sent("c-2", 1)]
    # when
    body = _report(uow_factory, shop)
    # then
    assert [("checkout", 3, 1, 0.3333), ("payment_failed", 2, 1, 0.5)] == [
        (r["stage"], r["abandoned"], r["recovered"], r["recovery_rate"]) for r in body["by_stage"]
    ]
    assert [("card_declined", 2, 1), ("none", 3, 1)] == [
        (r["reason"], r["abandoned"], r["recovered"]) for r in body["by_abandonment_reason"]
    ]


def test_attribution_windows_default_and_change(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store
) -> None:
    """
    7 days and 1 day by default; "3d" and 3600 s are stored; None puts a default back.
    """
    # when
    before = read_attribution_settings(uow=uow_factory(), store_id=shop.id)
    changed = configure_attribution(
        uow=uow_factory(), clock=clock, store_id=shop.id, click_window="3d", send_window=3600
    )
    reset = configure_attribution(
        uow=uow_factory(), clock=clock, store_id=shop.id, click_window=None
    )
    # then
    assert AttributionWindows() == before
    assert AttributionWindows(click=timedelta(days=3), send=timedelta(hours=1)) == changed
    assert AttributionWindows(send=timedelta(hours=1)) == reset


def test_bad_windows_are_all_reported_and_nothing_changes(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store, database: FakeDatabase
) -> None:
    """
    Too short, too long, not a duration, an unknown key: every field named, settings intact.
    """
    # when
    with pytest.raises(InvalidInput) as raised:
        configure_attribution(
            uow=uow_factory(),
            clock=clock,
            store_id=shop.id,
            click_window="10m",
            send_window="31d",
            open_window="1d",
        )
    # then
    assert {"click_window", "send_window", "open_window"} == {e.path for e in raised.value.errors}
    assert AttributionWindows() == attribution_windows(database.stores[shop.id])
