"""
Platform webhooks (`contract.md` §5.3): `POST /webhooks/{platform}/{store_id}`.

Verify, dedupe, persist, answer: the platform's adapter checks the signature over the raw body
(401 and nothing stored when it fails), set-up pings are answered at once, privacy requests are
carried out, topics Cartback does not use are acknowledged and ignored (logged once per topic),
and the rest goes to the ingest writer like any event: stored under its delivery id, applied in
one transaction, committed before the answer, well inside Shopify's 5 seconds.
"""

from __future__ import annotations

import threading

import structlog
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.ingest_work import IngestRequest
from cartback.api.responses import JsonResponse, success_response
from cartback.api.routes.ingest import SUCCESS, read_body
from cartback.api.state import AppState, app_state
from cartback.domain.catalog import CatalogItem
from cartback.domain.errors import InvalidInput, NotFound, ServiceUnavailable
from cartback.services.catalog import write_items
from cartback.services.privacy import (
    erase_customer,
    erase_store_data,
    note_platform_event,
    record_data_request,
)
from cartback.sources._webhooks import Delivery, PrivacyKind, PrivacyRequest, WebhookSource
from cartback.sources.registry import webhook_sources

log = structlog.get_logger(__name__)
router = APIRouter(tags=["webhooks"])

#: Platforms send whole orders; allow more than the Segment limit.
MAX_WEBHOOK_BYTES = 2 * 1024 * 1024
_IGNORED_LOGGED: set[tuple[str, str]] = set()
_IGNORED_LOCK = threading.Lock()

_RESPONSES = {
    **success_response("Received (stored, ignored or carried out)."),
    **PROBLEM_RESPONSES,
}


@router.post(
    "/webhooks/{platform}/{store_id}",
    responses=_RESPONSES,
    summary="Receive a platform webhook",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_webhook(platform: str, store_id: str, request: Request) -> JsonResponse:
    """
    A Shopify, WooCommerce or Magento webhook for one store, signed with the store's secret.
    """
    state = app_state(request)
    source = webhook_sources().get(platform)
    if source is None:
        raise NotFound(f"no webhook receiver for {platform!r}")
    body = await read_body(request, limit=MAX_WEBHOOK_BYTES)
    store, secrets = await run_in_threadpool(state.webhook_targets.resolve, store_id)
    delivery = Delivery(
        platform=platform,
        store_id=store.id,
        body=body,
        headers={k.lower(): v for k, v in request.headers.items()},
        received_at=state.container.clock.now(),
        default_region=store.country,
        currency=store.currency,
    )
    if source.is_ping(delivery):
        log.info("webhook.ping", platform=platform, store_id=store.id)
        return JsonResponse(SUCCESS)
    source.verify(delivery, secrets, now=delivery.received_at)
    privacy = source.privacy(delivery)
    if privacy is not None:
        await run_in_threadpool(_carry_out, state, store.id, platform, privacy)
        return JsonResponse(SUCCESS)
    items = source.catalog(delivery)
    if items is not None:
        # A product's availability, read just now: the catalog, not the event log.
        await run_in_threadpool(_write_catalog, state, store.id, items)
        return JsonResponse(SUCCESS)
    topic = source.topic(delivery) or ""
    if topic not in source.HANDLED_TOPICS:
        _log_ignored_once(platform, topic)
        return JsonResponse(SUCCESS)
    await _ingest(state, source, delivery)
    return JsonResponse(SUCCESS)


async def _ingest(state: AppState, source: WebhookSource, delivery: Delivery) -> None:
    answer = await state.writer.submit(
        IngestRequest(
            store_id=delivery.store_id,
            body=delivery.body,
            now=delivery.received_at,
            default_region=delivery.default_region,
            source=source.SOURCE,
            headers=delivery.headers,
            currency=delivery.currency,
        )
    )
    if answer.failure is not None:
        status, detail = answer.failure
        raise ServiceUnavailable(detail) if status == 503 else RuntimeError(detail)
    for outcome, count in answer.outcomes.items():
        state.container.metrics.events_ingested.labels(source=source.SOURCE, outcome=outcome).inc(
            count
        )
    if answer.errors:
        state.container.metrics.events_rejected.labels(source=source.SOURCE).inc(answer.invalid)
        raise InvalidInput("the webhook payload is not valid", errors=list(answer.errors))


def _carry_out(state: AppState, store_id: str, platform: str, request: PrivacyRequest) -> None:
    container = state.container
    if request.kind is PrivacyKind.ERASE_CUSTOMER:
        erase_customer(
            uow=container.uow_factory(),
            store_id=store_id,
            email=request.email,
            phone=request.phone,
            user_id=request.customer_id,
        )
    elif request.kind is PrivacyKind.ERASE_SHOP:
        erase_store_data(uow=container.uow_factory(), store_id=store_id)
    elif request.kind is PrivacyKind.EXPORT_CUSTOMER:
        # The export itself is `GET /v1/contacts/{id}` for the ids this logs.
        record_data_request(
            uow=container.uow_factory(),
            clock=container.clock,
            store_id=store_id,
            platform=platform,
            email=request.email,
            phone=request.phone,
            user_id=request.customer_id,
            reference=request.reference,
        )
    else:
        note_platform_event(
            uow=container.uow_factory(),
            clock=container.clock,
            store_id=store_id,
            platform=platform,
            event="uninstalled",
        )


def _write_catalog(state: AppState, store_id: str, items: list[CatalogItem]) -> None:
    container = state.container
    write_items(uow=container.uow_factory(), clock=container.clock, store_id=store_id, items=items)


def _log_ignored_once(platform: str, topic: str) -> None:
    with _IGNORED_LOCK:
        if (platform, topic) in _IGNORED_LOGGED:
            return
        _IGNORED_LOGGED.add((platform, topic))
    log.info("webhook.topic.ignored", platform=platform, topic=topic)
