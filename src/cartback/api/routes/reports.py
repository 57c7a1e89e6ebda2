"""
The measurement report and the attribution windows over HTTP (server key): the same as
`cartback report --json` and `cartback attribution configure` (`docs/metrics.md`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.state import app_state
from cartback.domain.reports import AttributionWindows
from cartback.services.attribution_settings import (
    configure_attribution,
    read_attribution_settings,
    windows_json,
)
from cartback.services.reports import build_report

router = APIRouter(tags=["reports"], responses=PROBLEM_RESPONSES)

#: Rates are fractions (0.125 is 12.5 %), null when there is nothing to divide by.
Rate = float | None


class AttributionPublic(BaseModel):
    """
    How long after a click, or a send, an order is credited to that touch: seconds, and as a
    flow file writes it.
    """

    click_window: int
    click_window_text: str
    send_window: int
    send_window_text: str


class AttributionIn(BaseModel):
    """
    A change to the windows (seconds or a duration such as `7d`, `24h`; 1 hour to 30 days);
    fields left out keep their value, null restores the default.
    """

    model_config = ConfigDict(extra="forbid")
    click_window: StrictInt | StrictStr | None = Field(default=None)
    send_window: StrictInt | StrictStr | None = Field(default=None)


class FunnelStage(BaseModel):
    """
    Carts that reached one stage of the funnel.
    """

    stage: str
    count: int


class HoldoutPublic(BaseModel):
    """
    Treated against control enrolled carts: recovery rates, their difference (`lift`, rate
    points) with its 95 % interval, revenue per enrolled cart and the incremental revenue,
    and a plain `warning` when the groups are too small to trust.
    """

    treated_carts: int
    treated_recovered: int
    control_carts: int
    control_recovered: int
    treated_rate: float
    control_rate: float
    lift: float
    ci_low: float
    ci_high: float
    revenue_per_cart_treated: str | None
    revenue_per_cart_control: str | None
    revenue_lift: str | None
    revenue_ci_low: str | None
    revenue_ci_high: str | None
    incremental_revenue: str | None
    warning: str | None


class FlowReport(BaseModel):
    """
    One flow: enrolled carts, touches sent and clicked, orders credited to its touches, and
    its own holdout.
    """

    flow: str
    enrolled_carts: int
    sent: int
    clicked: int
    attributed_carts: int
    attributed_revenue: str
    holdout: HoldoutPublic


class Attributed(BaseModel):
    """
    Sends, clicks and last-touch credit for one group of touches.
    """

    sent: int
    clicked: int
    click_rate: Rate
    attributed_carts: int
    attributed_revenue: str


class StepReport(Attributed):
    """
    One step of a flow on one channel, with what came back from its touches.
    """

    flow: str
    step: int
    channel: str
    bounced: int
    bounce_rate: Rate
    complained: int
    complaint_rate: Rate
    unsubscribed: int
    unsubscribe_rate: Rate


class ChannelReport(Attributed):
    """
    One channel.
    """

    channel: str


class VariantReport(Attributed):
    """
    One variant of a step (null: the step has no variants).
    """

    flow: str
    step: int
    variant: str | None


class SegmentReport(BaseModel):
    """
    The counts every breakdown row carries (stage, reason, device, country).
    """

    abandoned: int
    reachable: int
    recovered: int
    recovery_rate: Rate
    recovered_revenue: str


class StageReport(SegmentReport):
    """
    Abandoned, reachable and recovered carts by the furthest stage reached.
    """

    stage: str


class ReasonReport(SegmentReport):
    """
    Abandoned, reachable and recovered carts by payment failure reason (`none`: no failure).
    """

    reason: str


class DeviceReport(SegmentReport):
    """
    Abandoned, reachable and recovered carts by device (`desktop`, `mobile`, `tablet`,
    `unknown`), read from the shopper's user agent.
    """

    device: str


class CountryReport(SegmentReport):
    """
    Abandoned, reachable and recovered carts by country (ISO 3166 alpha-2, or `unknown`):
    the address's, else the phone number's, else the browser locale's.
    """

    country: str


class WidgetReport(BaseModel):
    """
    Abandoned carts whose contact's consent came through a capture widget.
    """

    widget: str
    carts: int
    capture_rate: Rate


class DayReport(BaseModel):
    """
    Revenue of the orders placed on one day (store time zone).
    """

    date: str
    recovered_revenue: str
    attributed_revenue: str


class OtherCurrencies(BaseModel):
    """
    Orders in another currency than the store's: counted here, left out of every amount.
    """

    orders_left_out: int
    currencies: list[str]


class QualityReport(BaseModel):
    """
    Messages the send-time quality check stopped (never sent), by check; each is expected to be
    0: a broken restore link, an offer invalid at send time, a stock claim without a fresh read.
    """

    restore_link: int
    offer: int
    stock_claim: int


class ReportPublic(BaseModel):
    """
    The measurement report for carts abandoned in `[from, to)`. Money is a string in
    `currency`; rates are fractions; `median_time_to_recovery` is in seconds. Definitions:
    `docs/metrics.md`.
    """

    model_config = ConfigDict(populate_by_name=True)

    store_id: str
    from_: str = Field(alias="from")
    to: str
    currency: str
    attribution: AttributionPublic
    recovery_window: int
    carts: int
    abandoned_carts: int
    captured_carts: int
    capture_rate: Rate
    reachable_carts: int
    enrolled_carts: int
    touched_carts: int
    clicked_carts: int
    recovered_carts: int
    recovered_revenue: str
    recovery_rate: Rate
    converted_carts: int
    converted_revenue: str
    attributed_carts: int
    attributed_revenue: str
    discount_cost: str
    net_recovered_revenue: str
    median_time_to_recovery: int | None
    unsubscribe_rate: Rate
    complaint_rate: Rate
    bounce_rate: Rate
    funnel: list[FunnelStage]
    holdout: HoldoutPublic
    by_flow: list[FlowReport]
    by_step: list[StepReport]
    by_channel: list[ChannelReport]
    by_variant: list[VariantReport]
    by_stage: list[StageReport]
    by_abandonment_reason: list[ReasonReport]
    by_device: list[DeviceReport]
    by_country: list[CountryReport]
    capture_by_widget: list[WidgetReport]
    skipped: dict[str, int]
    deferred: dict[str, int]
    cancelled: dict[str, int]
    quality: QualityReport
    revenue_by_day: list[DayReport]
    other_currencies: OtherCurrencies


@router.get(
    "/v1/reports/summary",
    response_model=ReportPublic,
    response_model_by_alias=True,
    summary="The measurement report",
)
def read_report(
    principal: ServerPrincipal,
    request: Request,
    from_: Annotated[
        datetime | None,
        Query(
            alias="from",
            description="Start of abandonment time, with a zone (default: to - 30 days).",
        ),
    ] = None,
    to: Annotated[
        datetime | None, Query(description="End (excluded), with a zone (default: now).")
    ] = None,
) -> ReportPublic:
    """
    Carts abandoned in `[from, to)` (at most 366 days): funnel, recovered and attributed
    revenue, holdout lift with its interval, breakdowns by flow, step, channel and variant,
    skip reasons. A bad or zone-less time, `from` not before `to`, or too long a range answers
    400 naming the field.
    """
    state = app_state(request)
    document = build_report(
        uow=state.container.uow_factory(read_only=True),
        clock=state.container.clock,
        store_id=principal.store.id,
        start=from_,
        end=to,
    )
    return ReportPublic.model_validate(document)


def _public(windows: AttributionWindows) -> AttributionPublic:
    return AttributionPublic.model_validate(windows_json(windows))


@router.get(
    "/v1/settings/attribution",
    response_model=AttributionPublic,
    summary="Read the attribution windows",
)
def read_attribution(principal: ServerPrincipal, request: Request) -> AttributionPublic:
    """
    The store's click and send windows.
    """
    uow = app_state(request).container.uow_factory(read_only=True)
    return _public(read_attribution_settings(uow=uow, store_id=principal.store.id))


@router.put(
    "/v1/settings/attribution",
    response_model=AttributionPublic,
    summary="Change the attribution windows",
)
def put_attribution(
    body: AttributionIn, principal: ServerPrincipal, request: Request
) -> AttributionPublic:
    """
    Change the windows (`{"click_window": "3d", "send_window": 3600}`); every bad field
    answers 400 and nothing changes.
    """
    state = app_state(request)
    windows = configure_attribution(
        uow=state.container.uow_factory(),
        clock=state.container.clock,
        store_id=principal.store.id,
        **body.model_dump(exclude_unset=True),
    )
    return _public(windows)
