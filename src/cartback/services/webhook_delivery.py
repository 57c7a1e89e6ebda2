"""
Deliver pending outbound webhooks: claim due deliveries (leased, `SKIP LOCKED` on PostgreSQL),
then for each, outside any transaction, check the endpoint's URL again (DNS can change since
registration), sign, and POST to the address just checked; then record the outcome in a short
transaction: `delivered` on 2xx, else the retry schedule (`domain.webhooks.after_attempt`),
and an endpoint failing for `DISABLE_AFTER` is disabled with its reason.

Delivery is at least once: a worker that dies after the POST but before the record leaves the
delivery to be sent again when its lease runs out, with the same `webhook-id`, which is what
receivers deduplicate on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from cartback.domain.destinations import UnsafeDestination
from cartback.domain.errors import ConfigurationError
from cartback.domain.ports import UnitOfWorkFactory, WebhookTransport
from cartback.domain.time import Clock
from cartback.domain.webhooks import (
    DISABLE_AFTER,
    AttemptResult,
    Delivered,
    DeliveryStatus,
    RetryAt,
    WebhookDelivery,
    WebhookEndpoint,
    after_attempt,
    describe,
    signed_headers,
)
from cartback.kit.keys import SecretBox
from cartback.services.webhooks import DestinationPolicy, check_destination

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryConfig:
    """
    What a delivery pass needs. The lease covers a whole pass (`limit` attempts, each within
    the transport's timeout), so no other worker takes a delivery while it is in flight.
    """

    policy: DestinationPolicy
    transport: WebhookTransport
    box: SecretBox
    limit: int = 20
    lease: timedelta = timedelta(minutes=5)


@dataclass(kw_only=True, slots=True)
class WebhookReport:
    """
    What one pass did: deliveries by the status they ended it in.
    """

    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def processed(self) -> int:
        """
        Deliveries claimed in this pass.
        """
        return sum(self.statuses.values())

    def count(self, outcome: str) -> None:
        """
        Count one delivery that ended the pass `outcome` (delivered, retry, failed, lost).
        """
        self.statuses[outcome] = self.statuses.get(outcome, 0) + 1


def deliver_due_webhooks(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, config: DeliveryConfig
) -> WebhookReport:
    """
    One pass over up to `config.limit` due deliveries.
    """
    report = WebhookReport()
    with uow_factory(read_only=True) as uow:
        # Most passes find nothing due: SQLite's write lock is taken only when something is.
        if not uow.webhooks.any_due(now=clock.now()):
            return report
    with uow_factory() as uow:
        claimed = uow.webhooks.claim_due(now=clock.now(), limit=config.limit, lease=config.lease)
        if not claimed:
            return report
        endpoints = uow.webhooks.endpoints_by_id([d.endpoint_id for d in claimed])
        uow.commit()
    for delivery in claimed:
        endpoint = endpoints.get(delivery.endpoint_id)
        if endpoint is None:
            continue  # removed meanwhile: its deliveries went with it
        if not endpoint.enabled:
            _give_up_disabled(uow_factory, clock, delivery, endpoint, report)
            continue
        result = attempt(delivery, endpoint, clock=clock, config=config)
        _record(uow_factory, clock, delivery, endpoint, result, report)
    return report


def attempt(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint, *, clock: Clock, config: DeliveryConfig
) -> AttemptResult:
    """
    One POST of the delivery to the endpoint, to an address checked just now.
    """
    try:
        destination, addresses = check_destination(endpoint.url, config.policy)
    except UnsafeDestination as refused:
        return AttemptResult(error=f"refused: the URL {refused.reason}")
    try:
        secret = config.box.open(endpoint.sealed_secret)
    except ConfigurationError as error:
        return AttemptResult(error=error.detail)
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = signed_headers(secret, message_id=delivery.id, sent_at=clock.now(), body=body)
    named = destination.address is None and destination.scheme == "https"
    return config.transport.post(
        url=destination.url_for(addresses[0]),
        host_header=destination.host_header,
        server_name=destination.host if named else None,
        headers=headers,
        body=body,
    )


def _record(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    result: AttemptResult,
    report: WebhookReport,
) -> None:
    now = clock.now()
    attempts = delivery.attempts + 1
    updated = _after(delivery, result, attempts=attempts, now=now)
    leased = delivery.lease_until
    with uow_factory() as uow:
        if leased is None or not uow.webhooks.finish_attempt(updated, leased_until=leased):
            report.count("lost")  # the lease ran out and another worker took it over
            return
        marked = uow.webhooks.mark_endpoint(endpoint.id, ok=result.ok, at=now)
        if marked is not None and _failing_too_long(marked, now):
            reason = f"every attempt failed since {_day(marked.failing_since)}: {describe(result)}"
            uow.webhooks.disable_endpoint(endpoint.id, reason=reason, at=now)
            log.warning("webhook.endpoint.disabled", endpoint_id=endpoint.id, reason=reason)
        uow.commit()
    outcome = {
        DeliveryStatus.DELIVERED: "delivered",
        DeliveryStatus.FAILED: "failed",
        DeliveryStatus.PENDING: "retry",
    }[updated.status]
    report.count(outcome)
    log.info(
        f"webhook.delivery.{outcome}",
        delivery_id=delivery.id,
        endpoint_id=endpoint.id,
        attempts=attempts,
        status_code=result.status_code,
    )


def _after(
    delivery: WebhookDelivery, result: AttemptResult, *, attempts: int, now: datetime
) -> WebhookDelivery:
    decision = after_attempt(result, attempts=attempts, now=now)
    answered = replace(
        delivery,
        attempts=attempts,
        last_status_code=result.status_code,
        last_error=None if result.ok else describe(result),
        lease_until=None,
    )
    if isinstance(decision, Delivered):
        return replace(
            answered, status=DeliveryStatus.DELIVERED, next_attempt_at=None, delivered_at=now
        )
    if isinstance(decision, RetryAt):
        return replace(answered, status=DeliveryStatus.PENDING, next_attempt_at=decision.at)
    return replace(answered, status=DeliveryStatus.FAILED, next_attempt_at=None)  # GiveUp


def _failing_too_long(endpoint: WebhookEndpoint, now: datetime) -> bool:
    since = endpoint.failing_since
    return endpoint.enabled and since is not None and now - since >= DISABLE_AFTER


def _day(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment else "?"


def _give_up_disabled(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    report: WebhookReport,
) -> None:
    """
    A delivery for a disabled endpoint is not attempted: it fails with the endpoint's reason.
    """
    leased = delivery.lease_until
    failed = replace(
        delivery,
        status=DeliveryStatus.FAILED,
        next_attempt_at=None,
        lease_until=None,
        last_error=f"endpoint disabled: {endpoint.disabled_reason or 'by the store'}"[:500],
    )
    with uow_factory() as uow:
        if leased is not None and uow.webhooks.finish_attempt(failed, leased_until=leased):
            uow.commit()
            report.count("failed")
