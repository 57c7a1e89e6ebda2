"""
The email provider's webhook (`contract.md` §5.3): `POST /webhooks/email/{store_id}`.

Verify, dedupe, persist, answer. Resend signs its webhooks with Svix, which is Standard Webhooks
under other header names: `svix-id`, `svix-timestamp` and `svix-signature` (`webhook-*` are
accepted too), an HMAC-SHA256 over `{id}.{timestamp}.{body}` keyed with the store's `whsec_`
secret (`cartback email configure --webhook-secret`), five minutes of tolerance. An unknown
store answers 404; a bad, missing or stale signature 401 and stores nothing; a signed body that
is no event 400. The event is then recorded once per `svix-id` (a redelivery changes nothing)
and applied in the same transaction: a delivery moves the touch, a hard bounce fails it and
suppresses the address, a complaint suppresses it.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.responses import JsonResponse, success_response
from cartback.api.routes.ingest import SUCCESS, read_body
from cartback.api.state import AppState, app_state
from cartback.channels.email.resend_events import PROVIDER, parse_event
from cartback.domain.consent import Channel
from cartback.domain.errors import FieldError, InvalidInput
from cartback.services.delivery import DeliveryReport, DeliveryResult, record_delivery
from cartback.services.email_config import email_webhook_secrets
from cartback.sources._standard_webhooks import verify
from cartback.sources._webhooks import Delivery

log = structlog.get_logger(__name__)
router = APIRouter(tags=["webhooks"])

#: Resend's events carry the addresses and a subject, not the message: small.
MAX_EMAIL_WEBHOOK_BYTES = 256 * 1024
#: The stored event id's room (`delivery_events.event_key`); Svix's ids are ~30 characters.
MAX_EVENT_KEY = 200
#: Svix's names for the Standard Webhooks headers.
_SVIX = {"svix-id": "webhook-id", "svix-timestamp": "webhook-timestamp"}
_SVIX_SIGNATURE = ("svix-signature", "webhook-signature")


@router.post(
    "/webhooks/email/{store_id}",
    responses={**success_response("Received (recorded, applied or ignored)."), **PROBLEM_RESPONSES},
    summary="Receive an email provider's delivery, bounce or complaint (Resend)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["type", "data"],
                        "properties": {"type": {"type": "string"}, "data": {"type": "object"}},
                    }
                }
            },
        }
    },
)
async def receive_email_event(store_id: str, request: Request) -> JsonResponse:
    """
    A delivery report for one of the store's emails, signed with its webhook secret: recorded
    once per event id; bounces and complaints put the address on the suppression list.
    """
    state = app_state(request)
    body = await read_body(request, limit=MAX_EMAIL_WEBHOOK_BYTES)
    secrets = await run_in_threadpool(_secrets, state, store_id)
    now = state.container.clock.now()
    delivery = Delivery(
        platform=PROVIDER,
        store_id=store_id,
        body=body,
        headers=_standard_headers(request),
        received_at=now,
    )
    event_key = verify(delivery, secrets, now=now)
    if len(event_key) > MAX_EVENT_KEY:
        errors = [FieldError(path="svix-id", message=f"at most {MAX_EVENT_KEY} characters")]
        raise InvalidInput("the event id is too long", errors=errors)
    event = parse_event(body)
    if event.outcome is None:
        log.info("email.webhook.ignored", store_id=store_id, kind=event.kind)
        return JsonResponse(SUCCESS)
    report = DeliveryReport(
        store_id=store_id,
        provider=PROVIDER,
        event_key=event_key,
        outcome=event.outcome,
        provider_id=event.provider_id,
        touch_id=event.touch_id,
        detail=event.detail,
        address=event.address,
        channel=Channel.EMAIL,
    )
    result = await run_in_threadpool(_record, state, report)
    log.info(
        "email.webhook.received",
        store_id=store_id,
        kind=event.kind,
        duplicate=result.duplicate,
        touch_id=result.touch_id,
    )
    return JsonResponse(SUCCESS)


def _secrets(state: AppState, store_id: str) -> list[str]:
    container = state.container
    return email_webhook_secrets(
        uow=container.uow_factory(read_only=True), box=container.box, store_id=store_id
    )


def _standard_headers(request: Request) -> dict[str, str]:
    """
    The request's headers with Svix's names mapped to Standard Webhooks' (Svix's win).
    """
    headers = {k.lower(): v for k, v in request.headers.items()}
    for svix, standard in _SVIX.items():
        if svix in headers:
            headers[standard] = headers[svix]
    signature = next((headers[name] for name in _SVIX_SIGNATURE if name in headers), None)
    if signature is not None:
        headers["webhook-signature"] = signature
    return headers


def _record(state: AppState, report: DeliveryReport) -> DeliveryResult:
    container = state.container
    return record_delivery(uow=container.uow_factory(), clock=container.clock, report=report)
