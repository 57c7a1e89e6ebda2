"""
Outbound webhook events, written as pending deliveries in the transaction of the change they
report (an outbox): a rolled-back change sends nothing, a committed one is delivered by the
worker (`services.webhook_delivery`).

The hot paths (ingest, timers, dispatch) keep one `WebhookEvents` per batch or pass: it reads a
store's subscriptions once, on the store's first event, so a store without endpoints costs one
small query per pass at most and nothing per event. Payloads name ids, statuses, reasons and
amounts (strings with their currency), never an email address or a phone number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from babel.numbers import get_currency_precision

from cartback.domain.cart import Cart
from cartback.domain.consent import Channel
from cartback.domain.health import StoreAlert
from cartback.domain.ports import CartRecord, TouchRecord, UnitOfWork
from cartback.domain.webhooks import EventType, OutboundEvent

log = structlog.get_logger(__name__)


class WebhookEvents:
    """
    The outbound events of one batch or pass, with each store's subscriptions read once.

    The subscriptions may be used by later transactions of the same pass (a send recorded
    after the channel call): `enqueue` writes only for endpoints that still exist and are
    enabled, so a stale read never fails the caller's transaction.
    """

    def __init__(self) -> None:
        self._subscriptions: dict[str, Mapping[str, tuple[str, ...]]] = {}

    def wants(self, uow: UnitOfWork, store_id: str, event_type: EventType) -> bool:
        """
        Whether any enabled endpoint of the store takes this type.
        """
        return bool(self._endpoints(uow, store_id, event_type))

    def emit(self, uow: UnitOfWork, event: OutboundEvent) -> int:
        """
        Write the event's deliveries in `uow`'s transaction; how many.
        """
        endpoint_ids = self._endpoints(uow, event.store_id, event.type)
        if not endpoint_ids:
            return 0
        written = uow.webhooks.enqueue(event, endpoint_ids, now=event.occurred_at)
        log.debug("webhook.event.queued", store_id=event.store_id, type=event.type.value)
        return written

    def _endpoints(self, uow: UnitOfWork, store_id: str, event_type: EventType) -> tuple[str, ...]:
        if store_id not in self._subscriptions:
            self._subscriptions[store_id] = uow.webhooks.subscriptions(store_id)
        return self._subscriptions[store_id].get(event_type.value, ())


def money(value: Decimal | None, currency: str) -> str | None:
    """
    An amount as a string in the currency's precision (`"59.90"`, `"1500"` for JPY).
    """
    if value is None:
        return None
    places = get_currency_precision(currency)
    return str(value.quantize(Decimal(1).scaleb(-places)))


def _stamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cart_data(store_id: str, record: CartRecord, cart: Cart) -> dict[str, Any]:
    return {
        "store_id": store_id,
        "cart_id": cart.key,
        "contact_id": record.contact_id,
        "status": cart.status.value,
        "stage": cart.stage.value,
        "total": money(cart.total, cart.currency),
        "currency": cart.currency,
        "items": cart.item_count,
    }


def cart_abandoned(record: CartRecord, cart: Cart, *, now: datetime) -> OutboundEvent:
    """
    `cart.abandoned`: the cart's inactivity ran out.
    """
    data = {**_cart_data(record.store_id, record, cart), "abandoned_at": _stamp(cart.abandoned_at)}
    return OutboundEvent(
        store_id=record.store_id, type=EventType.CART_ABANDONED, occurred_at=now, data=data
    )


def cart_recovered(
    record: CartRecord, cart: Cart, *, order_id: str | None, now: datetime
) -> OutboundEvent:
    """
    `cart.recovered`: an order followed a touch or a click.
    """
    data = {
        **_cart_data(record.store_id, record, cart),
        "order_id": order_id,
        "ordered_at": _stamp(cart.ordered_at),
        "touched_at": _stamp(cart.touched_at),
    }
    return OutboundEvent(
        store_id=record.store_id, type=EventType.CART_RECOVERED, occurred_at=now, data=data
    )


def touch_event(
    event_type: EventType, touch: TouchRecord, *, cart_id: str | None, now: datetime
) -> OutboundEvent:
    """
    `touch.sent` or `touch.skipped` (with its reason code).
    """
    data: dict[str, Any] = {
        "store_id": touch.store_id,
        "touch_id": touch.id,
        "cart_id": cart_id,
        "enrollment_id": touch.enrollment_id,
        "step": touch.step,
        "channel": touch.channel.value,
        "template": touch.template,
        "variant": touch.variant,
    }
    if event_type is EventType.TOUCH_SKIPPED:
        data["reason"] = touch.reason
    else:
        data["sent_at"] = _stamp(now)
    return OutboundEvent(store_id=touch.store_id, type=event_type, occurred_at=now, data=data)


def emit_touches_sent(
    events: WebhookEvents, uow: UnitOfWork, touches: Sequence[TouchRecord], *, now: datetime
) -> None:
    """
    `touch.sent` for each sent touch whose store listens (cart keys read in one query, and
    only then).
    """
    wanted = [t for t in touches if events.wants(uow, t.store_id, EventType.TOUCH_SENT)]
    if not wanted:
        return
    carts = uow.carts.get_by_ids(sorted({t.cart_id for t in wanted}))
    for touch in wanted:
        found = carts.get(touch.cart_id)
        key = found.cart.key if found else None
        events.emit(uow, touch_event(EventType.TOUCH_SENT, touch, cart_id=key, now=now))


def contact_unsubscribed(
    store_id: str, contact_id: str, channel: Channel, *, source: str, now: datetime
) -> OutboundEvent:
    """
    `contact.unsubscribed`: the person withdrew on a channel (a link, a STOP reply).
    """
    data = {
        "store_id": store_id,
        "contact_id": contact_id,
        "channel": channel.value,
        "source": source,
    }
    return OutboundEvent(
        store_id=store_id, type=EventType.CONTACT_UNSUBSCRIBED, occurred_at=now, data=data
    )


def store_alert(alert: StoreAlert, *, state: str, now: datetime) -> OutboundEvent:
    """
    `store.alert`: a health alert `opened` or `resolved`.
    """
    data = {
        "store_id": alert.store_id,
        "alert_id": alert.id,
        "kind": alert.kind.value,
        "state": state,
        "detail": alert.detail,
        "started_at": _stamp(alert.started_at),
        "resolved_at": _stamp(alert.resolved_at),
    }
    return OutboundEvent(
        store_id=alert.store_id, type=EventType.STORE_ALERT, occurred_at=now, data=data
    )
