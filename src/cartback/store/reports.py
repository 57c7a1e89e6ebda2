"""
The measurement report's reads: SQL aggregates over carts abandoned in a period (counts,
group-bys), and the few bounded lists the report needs row by row (orders after an
abandonment, the touches of ordered carts, enrolled carts for the holdout bootstrap). The same
statements run on SQLite and PostgreSQL; robots' carts are never counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    distinct,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.sql.elements import KeyedColumnElement

from cartback.domain.reports import (
    DiscountTotal,
    EnrolledCart,
    FunnelCounts,
    OrderCandidate,
    Period,
    ReachPolicy,
    ReasonCount,
    SegmentCount,
    StepCounts,
    TouchFact,
)
from cartback.store.database import unindexed
from cartback.store.tables import (
    carts,
    consent_ledger,
    contacts,
    delivery_events,
    enrollments,
    offers,
    orders,
    suppressions,
    touches,
)

#: Order statuses that count: a cancelled or refunded order recovered nothing.
_PLACED = "placed"
#: Touch statuses the report lists with their reasons (`failed`: for the quality checks).
_REASONED = ("skipped", "deferred", "cancelled", "failed")
#: Suppression reasons that are a person saying no (not a bounce or a complaint).
_UNSUBSCRIBES = ("unsubscribed", "sms_stop")
#: Ids per `IN (…)` list.
_CHUNK = 500


def _human() -> ColumnElement[bool]:
    """
    Not a robot: neither the cart nor its contact.
    """
    bot_contact = exists().where(contacts.c.id == carts.c.contact_id, contacts.c.is_bot == true())
    return and_(carts.c.is_bot == false(), ~bot_contact)


def _abandoned_in(store_id: str, period: Period) -> ColumnElement[bool]:
    return and_(
        carts.c.store_id == store_id,
        carts.c.abandoned_at >= period.start,
        carts.c.abandoned_at < period.end,
        _human(),
    )


def _stage() -> ColumnElement[Any]:
    """
    The furthest stage a cart reached before any order (an order moves it to `ordered`).
    """
    return case(
        (carts.c.stage != "ordered", carts.c.stage),
        (carts.c.payment_failure_reason.is_not(None), literal("payment_failed")),
        (carts.c.checkout_id.is_not(None), literal("checkout")),
        else_=literal("cart"),
    )


class SqlReportRepository:
    """
    Aggregates for `services/reports.py`, each one statement (or one per chunk of ids).
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def funnel(self, store_id: str, period: Period, *, reach: ReachPolicy) -> FunnelCounts:
        """
        Carts created in the period, and the carts abandoned in it: with a contact, reachable
        (a channel allowed at abandonment), enrolled, touched, clicked. The abandoned carts
        are counted in one scan grouped by stage, payment failure reason, device and country,
        which gives the report's breakdowns too.
        """
        created = select(func.count()).where(
            carts.c.store_id == store_id,
            carts.c.created_at >= period.start,
            carts.c.created_at < period.end,
            _human(),
        )
        enrolled = exists().where(enrollments.c.cart_id == carts.c.id)
        touched = exists().where(touches.c.cart_id == carts.c.id, touches.c.sent_at.is_not(None))
        clicked = exists().where(touches.c.cart_id == carts.c.id, touches.c.clicked_at.is_not(None))
        stage = _stage().label("stage")
        key = (stage, carts.c.payment_failure_reason, carts.c.device, carts.c.country)
        query = (
            select(
                *key,
                func.count(),
                _count_if(carts.c.contact_id.is_not(None)),
                _count_if(_reachable(reach)),
                _count_if(enrolled),
                _count_if(touched),
                _count_if(clicked),
            )
            .where(_abandoned_in(store_id, period))
            .group_by(*key)
        )
        rows = [(row[:4], [int(n or 0) for n in row[4:]]) for row in self._db.execute(query)]
        totals = [sum(counts[i] for _, counts in rows) for i in range(6)]
        return FunnelCounts(
            carts=int(self._db.execute(created).scalar_one()),
            abandoned=totals[0],
            captured=totals[1],
            reachable=totals[2],
            enrolled=totals[3],
            touched=totals[4],
            clicked=totals[5],
            segments=tuple(
                SegmentCount(
                    stage=group[0],
                    payment_failure_reason=group[1],
                    device=group[2],
                    country=group[3],
                    count=counts[0],
                    reachable=counts[2],
                )
                for group, counts in rows
            ),
        )

    def order_candidates(
        self, store_id: str, period: Period, *, until: datetime
    ) -> list[OrderCandidate]:
        """
        Placed orders of the period's abandoned carts, by the same cart (or its checkout,
        which ingest resolves to the cart) or the cart's contact, from the abandonment to
        `until`; the caller keeps each cart's first within its recovery window.
        """
        # By cart or contact, not by time: see `unindexed`.
        placed = unindexed(orders.c.placed_at, self._db)
        common = (
            orders.c.store_id == store_id,
            orders.c.status == _PLACED,
            placed >= carts.c.abandoned_at,
            placed < until,
            _abandoned_in(store_id, period),
        )
        columns = (
            carts.c.id.label("cart_id"),
            carts.c.abandoned_at,
            _stage().label("stage"),
            carts.c.payment_failure_reason,
            carts.c.device,
            carts.c.country,
            orders.c.order_key,
            orders.c.placed_at,
            orders.c.total,
            orders.c.currency,
        )
        by_cart = select(*columns, literal(True).label("same_cart")).select_from(
            carts.join(orders, orders.c.cart_id == carts.c.id)
        )
        by_contact = select(*columns, literal(False).label("same_cart")).select_from(
            carts.join(
                orders,
                and_(orders.c.contact_id == carts.c.contact_id, carts.c.contact_id.is_not(None)),
            )
        )
        query = union_all(by_cart.where(*common), by_contact.where(*common))
        return [
            OrderCandidate(
                cart_id=row.cart_id,
                abandoned_at=_utc(row.abandoned_at),
                stage=row.stage,
                payment_failure_reason=row.payment_failure_reason,
                order_key=row.order_key,
                placed_at=_utc(row.placed_at),
                total=_money(row.total),
                currency=row.currency,
                same_cart=bool(row.same_cart),
                device=row.device,
                country=row.country,
            )
            for row in self._db.execute(query)
        ]

    def touches_of(self, store_id: str, cart_ids: Sequence[str]) -> list[TouchFact]:
        """
        The touches of these carts that went or were clicked, with their flow.
        """
        found: list[TouchFact] = []
        for start in range(0, len(cart_ids), _CHUNK):
            chunk = list(cart_ids[start : start + _CHUNK])
            query = (
                select(
                    touches.c.cart_id,
                    enrollments.c.flow,
                    touches.c.step,
                    touches.c.channel,
                    touches.c.variant,
                    touches.c.sent_at,
                    touches.c.clicked_at,
                )
                .select_from(touches.join(enrollments, enrollments.c.id == touches.c.enrollment_id))
                .where(
                    touches.c.store_id == store_id,
                    touches.c.cart_id.in_(chunk),
                    or_(touches.c.sent_at.is_not(None), touches.c.clicked_at.is_not(None)),
                )
            )
            found.extend(
                TouchFact(
                    cart_id=row.cart_id,
                    flow=row.flow,
                    step=row.step,
                    channel=row.channel,
                    variant=row.variant,
                    sent_at=_utc_or_none(row.sent_at),
                    clicked_at=_utc_or_none(row.clicked_at),
                )
                for row in self._db.execute(query)
            )
        return found

    def enrolled(self, store_id: str, period: Period) -> list[EnrolledCart]:
        """
        Every enrollment of the period's abandoned carts with its flow and holdout group.
        """
        query = (
            select(
                enrollments.c.cart_id,
                enrollments.c.flow,
                enrollments.c.group,
                enrollments.c.started_at,
            )
            .select_from(enrollments.join(carts, carts.c.id == enrollments.c.cart_id))
            .where(_abandoned_in(store_id, period))
            .order_by(enrollments.c.started_at, enrollments.c.id)
        )
        return [
            EnrolledCart(
                cart_id=row.cart_id,
                flow=row.flow,
                group=row.group,
                started_at=_utc(row.started_at),
            )
            for row in self._db.execute(query)
        ]

    def step_counts(self, store_id: str, period: Period) -> list[StepCounts]:
        """
        Per flow, step, channel and variant: touches sent and clicked, bounces and complaints
        reported for them, and unsubscribes that followed them.
        """
        key = (enrollments.c.flow, touches.c.step, touches.c.channel, touches.c.variant)
        joined = touches.join(enrollments, enrollments.c.id == touches.c.enrollment_id).join(
            carts, carts.c.id == touches.c.cart_id
        )
        base = (
            select(
                *key,
                _count_if(touches.c.sent_at.is_not(None)),
                _count_if(touches.c.clicked_at.is_not(None)),
                _count_if(_reported(touches.c.id, "bounced")),
                _count_if(_reported(touches.c.id, "complained")),
            )
            .select_from(joined)
            .where(_abandoned_in(store_id, period))
            .group_by(*key)
        )
        counts: dict[tuple[str, int, str, str | None], StepCounts] = {}
        for row in self._db.execute(base):
            counts[(row[0], row[1], row[2], row[3])] = StepCounts(
                flow=row[0],
                step=row[1],
                channel=row[2],
                variant=row[3],
                sent=int(row[4] or 0),
                clicked=int(row[5] or 0),
                bounced=int(row[6] or 0),
                complained=int(row[7] or 0),
            )
        for flow, step, channel, variant, unsubscribed in self._unsubscribes(store_id, period):
            known = counts.get((flow, step, channel, variant))
            if known is not None:
                counts[(flow, step, channel, variant)] = StepCounts(
                    flow=flow,
                    step=step,
                    channel=channel,
                    variant=variant,
                    sent=known.sent,
                    clicked=known.clicked,
                    bounced=known.bounced,
                    complained=known.complained,
                    unsubscribed=unsubscribed,
                )
        return sorted(counts.values(), key=lambda s: (s.flow, s.step, s.channel, s.variant or ""))

    def _unsubscribes(
        self, store_id: str, period: Period
    ) -> list[tuple[str, int, str, str | None, int]]:
        """
        Unsubscribes (link, STOP) credited to the last touch sent to that address on that
        channel before them, when that touch belongs to a cart abandoned in the period.
        """
        address = case((suppressions.c.channel == "sms", contacts.c.phone), else_=contacts.c.email)
        last = touches.alias("last_touch")
        last_touch = (
            select(last.c.id)
            .where(
                last.c.store_id == store_id,
                last.c.channel == suppressions.c.channel,
                last.c.sent_at.is_not(None),
                last.c.sent_at <= suppressions.c.created_at,
                last.c.enrollment_id.in_(
                    select(enrollments.c.id)
                    .where(enrollments.c.contact_id == contacts.c.id)
                    .correlate(contacts)
                ),
            )
            .order_by(last.c.sent_at.desc(), last.c.id.desc())
            .limit(1)
            .correlate(suppressions, contacts)
            .scalar_subquery()
        )
        credited = (
            select(last_touch.label("touch_id"))
            .select_from(
                suppressions.join(
                    contacts,
                    and_(
                        contacts.c.store_id == suppressions.c.store_id,
                        address == suppressions.c.address,
                    ),
                )
            )
            .where(
                suppressions.c.store_id == store_id,
                suppressions.c.reason.in_(_UNSUBSCRIBES),
                suppressions.c.created_at >= period.start,
            )
            .subquery()
        )
        key = (enrollments.c.flow, touches.c.step, touches.c.channel, touches.c.variant)
        query = (
            select(*key, func.count())
            .select_from(
                credited.join(touches, touches.c.id == credited.c.touch_id)
                .join(enrollments, enrollments.c.id == touches.c.enrollment_id)
                .join(carts, carts.c.id == touches.c.cart_id)
            )
            .where(_abandoned_in(store_id, period))
            .group_by(*key)
        )
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in self._db.execute(query)]

    def touch_reasons(self, store_id: str, period: Period) -> list[ReasonCount]:
        """
        Touches skipped, deferred (still waiting), cancelled or failed, by reason.
        """
        query = (
            select(touches.c.status, touches.c.reason, func.count())
            .select_from(touches.join(carts, carts.c.id == touches.c.cart_id))
            .where(_abandoned_in(store_id, period), touches.c.status.in_(_REASONED))
            .group_by(touches.c.status, touches.c.reason)
        )
        return [
            ReasonCount(status=row[0], reason=row[1] or "unknown", count=int(row[2]))
            for row in self._db.execute(query)
        ]

    def discounts(self, store_id: str, period: Period) -> list[DiscountTotal]:
        """
        Redeemed offers given for the period's abandoned carts, per currency.
        """
        query = (
            select(offers.c.currency, func.count(), func.sum(offers.c.discount_amount))
            .select_from(offers.join(carts, carts.c.id == offers.c.cart_id))
            .where(_abandoned_in(store_id, period), offers.c.redeemed_at.is_not(None))
            .group_by(offers.c.currency)
        )
        return [
            DiscountTotal(currency=row[0], redeemed=int(row[1]), cost=_money(row[2]) or Decimal(0))
            for row in self._db.execute(query)
        ]

    def captures_by_widget(self, store_id: str, period: Period) -> dict[str, int]:
        """
        Abandoned carts whose contact granted a consent through each widget (the ledger's
        `source`) before the abandonment; a cart may count for several widgets.
        """
        query = (
            select(consent_ledger.c.source, func.count(distinct(carts.c.id)))
            .select_from(
                carts.join(consent_ledger, consent_ledger.c.contact_id == carts.c.contact_id)
            )
            .where(
                _abandoned_in(store_id, period),
                consent_ledger.c.granted == true(),
                consent_ledger.c.occurred_at <= carts.c.abandoned_at,
            )
            .group_by(consent_ledger.c.source)
        )
        return {row[0]: int(row[1]) for row in self._db.execute(query)}


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def _reported(touch_id: KeyedColumnElement[Any], outcome: str) -> ColumnElement[bool]:
    return exists().where(
        delivery_events.c.touch_id == touch_id, delivery_events.c.outcome == outcome
    )


def _reachable(reach: ReachPolicy) -> ColumnElement[bool]:
    """
    At the abandonment, the cart's contact could be sent recovery email or SMS: an address,
    not suppressed, and the ledger's latest word (or the store's policy without one) allows it.
    Mirrors `domain.consent.may_contact`, evaluated at `abandoned_at`.
    """
    return or_(_channel_allowed("email", reach), _channel_allowed("sms", reach))


def _channel_allowed(channel: str, reach: ReachPolicy) -> ColumnElement[bool]:
    at = carts.c.abandoned_at
    address = contacts.c.email if channel == "email" else contacts.c.phone
    suppressed = (
        exists()
        .where(
            suppressions.c.store_id == carts.c.store_id,
            suppressions.c.channel == channel,
            suppressions.c.address == address,
            suppressions.c.created_at <= at,
        )
        .correlate(carts, contacts)
    )
    own_word = _has_word(channel, "recovery", at)
    default: ColumnElement[bool] = false()
    if channel == "email" and reach.email_by_default:
        default = true()
    elif channel == "email" and reach.email_to_customers:
        default = (
            exists()
            .where(orders.c.contact_id == carts.c.contact_id, orders.c.placed_at < at)
            .correlate(carts)
        )
    allowed = or_(
        _latest_granted(channel, "recovery", at),
        and_(~own_word, or_(_latest_granted(channel, "marketing", at), default)),
    )
    return exists().where(
        contacts.c.id == carts.c.contact_id, address.is_not(None), ~suppressed, allowed
    )


def _has_word(channel: str, purpose: str, at: ColumnElement[Any]) -> ColumnElement[bool]:
    return (
        exists()
        .where(
            consent_ledger.c.contact_id == carts.c.contact_id,
            consent_ledger.c.channel == channel,
            consent_ledger.c.purpose == purpose,
            consent_ledger.c.occurred_at <= at,
        )
        .correlate(carts)
    )


def _latest_granted(channel: str, purpose: str, at: ColumnElement[Any]) -> ColumnElement[bool]:
    entry = consent_ledger.alias(f"entry_{channel}_{purpose}")
    newer = consent_ledger.alias(f"newer_{channel}_{purpose}")
    # Explicitly correlated: auto-correlation reaches only the enclosing query, and this one
    # sits three levels below the query over `carts`.
    later = (
        exists()
        .where(
            newer.c.contact_id == entry.c.contact_id,
            newer.c.channel == channel,
            newer.c.purpose == purpose,
            newer.c.occurred_at <= at,
            or_(
                newer.c.occurred_at > entry.c.occurred_at,
                and_(newer.c.occurred_at == entry.c.occurred_at, newer.c.id > entry.c.id),
            ),
        )
        .correlate(carts, entry)
    )
    return (
        exists()
        .where(
            entry.c.contact_id == carts.c.contact_id,
            entry.c.channel == channel,
            entry.c.purpose == purpose,
            entry.c.granted == true(),
            entry.c.occurred_at <= at,
            ~later,
        )
        .correlate(carts)
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)
