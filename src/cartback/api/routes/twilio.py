"""
Twilio's webhooks: inbound SMS (`contract.md` §5.3), `POST /webhooks/twilio/{store_id}/inbound`,
and outbound message status callbacks, `POST /webhooks/twilio/{store_id}/status?touch={id}`.

Verify, dedupe, persist, answer. Twilio posts the message form-encoded and signs it with the
account's auth token (`X-Twilio-Signature`: HMAC-SHA1 over the URL it called and the sorted
parameters). The official `twilio` library's `RequestValidator` checks it, in constant time,
against two URLs: the public one (`CARTBACK_BASE_URL` plus the path, what Twilio was told to
call, right even behind a TLS-terminating proxy) and the URL the request itself arrived at
(local set-ups and tunnels). A bad or missing signature answers 401 and stores nothing.

The answer is TwiML: `<Response/>`, or the store's help text as a `<Message>` for HELP/INFO.
STOP gets no answer from Cartback: Twilio's own opt-out handling confirms it, and blocks any
further message to the number (error 21610) until START.

A status callback is verified the same way (the signed URL includes its `?touch=` query), kept
once per `MessageSid` and status, and moves the touch (`services.delivery.record_delivery`):
`delivered` (and WhatsApp's `read`) delivers it, `undelivered` and `failed` end it (error 21610,
a number that replied STOP, suppresses the number), and the statuses that say Twilio holds the
message (`queued`, `accepted`, `scheduled`, `sending`, `sent`) are recorded as accepted, which
resolves a touch parked as ambiguous and changes nothing else. `canceled` (a scheduled message
withdrawn) fails the touch. An inbound status (`receiving`, `received`) or an unknown one is a
400 and stores nothing. The answer is an empty 204.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.ingest import read_body
from cartback.api.state import AppState, app_state
from cartback.domain.consent import Channel
from cartback.domain.delivery import DeliveryOutcome
from cartback.domain.errors import (
    ConfigurationError,
    FieldError,
    InvalidInput,
    Unauthenticated,
)
from cartback.services.delivery import DeliveryReport, record_delivery
from cartback.services.sms_config import SmsCredentials, sms_credentials
from cartback.services.sms_replies import SmsReply, receive_sms

router = APIRouter(tags=["webhooks"])

#: An SMS is at most 1,600 characters; Twilio adds a few dozen fields around it.
MAX_TWILIO_BYTES = 64 * 1024
TWIML = "text/xml"
_FIELD_LIMITS = {"MessageSid": 64, "From": 320, "MessageStatus": 30}
PROVIDER = "twilio"
#: Twilio's error for a message to a number that replied STOP: the number is suppressed.
OPTED_OUT_ERROR = "21610"
#: Outbound message statuses (`message_enum_status`) and what each says about the message.
STATUS_OUTCOMES = {
    "queued": DeliveryOutcome.ACCEPTED,
    "accepted": DeliveryOutcome.ACCEPTED,
    "scheduled": DeliveryOutcome.ACCEPTED,
    "sending": DeliveryOutcome.ACCEPTED,
    "sent": DeliveryOutcome.ACCEPTED,
    "delivered": DeliveryOutcome.DELIVERED,
    "read": DeliveryOutcome.DELIVERED,
    "undelivered": DeliveryOutcome.UNDELIVERED,
    "failed": DeliveryOutcome.FAILED,
    "canceled": DeliveryOutcome.FAILED,
}
_MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
_TOUCH_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ERROR_CODE = re.compile(r"[0-9]{1,10}")

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "TwiML: `<Response/>`, or the help text as a `<Message>` for HELP.",
        "content": {TWIML: {"schema": {"type": "string"}}},
    },
    **PROBLEM_RESPONSES,
}


@router.post(
    "/webhooks/twilio/{store_id}/inbound",
    response_class=Response,
    responses=_RESPONSES,
    summary="Receive an SMS reply (Twilio)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["MessageSid", "From"],
                        "properties": {
                            "MessageSid": {"type": "string"},
                            "From": {"type": "string"},
                            "To": {"type": "string"},
                            "Body": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def receive_inbound(store_id: str, request: Request) -> Response:
    """
    A shopper's SMS to the store's number: stored once per `MessageSid`; STOP (and synonyms)
    withdraws SMS consent, START/UNSTOP/YES restores it, HELP/INFO is answered.
    """
    state = app_state(request)
    body = await read_body(request, limit=MAX_TWILIO_BYTES)
    params = _params(body)
    credentials = await run_in_threadpool(_credentials, state, store_id)
    _verify(request, state, credentials.auth_token, params)
    reply = SmsReply(
        message_sid=_field(params, "MessageSid"),
        sender=_field(params, "From"),
        body=params.get("Body", "").replace("\x00", ""),  # PostgreSQL text holds no NUL
    )
    outcome = await run_in_threadpool(
        lambda: receive_sms(
            uow=state.container.uow_factory(),
            clock=state.container.clock,
            store=credentials.store,
            reply=reply,
            help_text=credentials.help_text,
        )
    )
    return Response(twiml(outcome.answer), media_type=TWIML)


@router.post(
    "/webhooks/twilio/{store_id}/status",
    status_code=204,
    response_class=Response,
    responses=PROBLEM_RESPONSES,
    summary="Receive a text's delivery status (Twilio)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["MessageSid", "MessageStatus"],
                        "properties": {
                            "MessageSid": {"type": "string"},
                            "MessageStatus": {"type": "string", "enum": list(STATUS_OUTCOMES)},
                            "ErrorCode": {"type": "string"},
                            "ErrorMessage": {"type": "string"},
                            "To": {"type": "string"},
                            "From": {"type": "string"},
                            "AccountSid": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def receive_status(store_id: str, request: Request, touch: str | None = None) -> Response:
    """
    Twilio's report on a text sent with `StatusCallback`: kept once per message and status,
    it moves the touch named in the URL (or found by the message's SID).
    """
    state = app_state(request)
    body = await read_body(request, limit=MAX_TWILIO_BYTES)
    params = _params(body)
    credentials = await run_in_threadpool(_credentials, state, store_id)
    _verify(request, state, credentials.auth_token, params)
    report = _status_report(store_id, params, touch)
    await run_in_threadpool(
        lambda: record_delivery(
            uow=state.container.uow_factory(), clock=state.container.clock, report=report
        )
    )
    return Response(status_code=204)


def _status_report(
    store_id: str, params: ImmutableMultiDict[str, str], touch: str | None
) -> DeliveryReport:
    """
    The callback as a delivery report.

    Raises:
        InvalidInput: no valid MessageSid, an unknown or inbound status, a malformed ErrorCode
            or touch id.
    """
    sid = _field(params, "MessageSid")
    status = _field(params, "MessageStatus").lower()
    errors: list[FieldError] = []
    if not _MESSAGE_SID.fullmatch(sid):
        errors.append(FieldError(path="MessageSid", message="must be SM or MM and 32 hex"))
    outcome = STATUS_OUTCOMES.get(status)
    if outcome is None:
        errors.append(FieldError(path="MessageStatus", message="not an outbound message status"))
    code = params.get("ErrorCode", "").strip()
    if code and not _ERROR_CODE.fullmatch(code):
        errors.append(FieldError(path="ErrorCode", message="must be a number"))
    if touch is not None and not _TOUCH_ID.fullmatch(touch):
        errors.append(FieldError(path="touch", message="not a touch id"))
    if errors or outcome is None:
        raise InvalidInput("the status callback is not valid", errors=errors)
    if code == OPTED_OUT_ERROR and outcome in (DeliveryOutcome.FAILED, DeliveryOutcome.UNDELIVERED):
        outcome = DeliveryOutcome.OPTED_OUT
    return DeliveryReport(
        store_id=store_id,
        provider=PROVIDER,
        event_key=f"{sid}:{status}",
        outcome=outcome,
        provider_id=sid,
        touch_id=touch,
        detail=_detail(status, code, params.get("ErrorMessage", "")),
        address=params.get("To", "").strip()[:320] or None,
        channel=Channel.SMS,
    )


def _detail(status: str, code: str, message: str) -> str | None:
    """
    Twilio's words on a failure: `twilio_30003: Unreachable destination handset`.
    """
    words = " ".join(message.replace("\x00", "").split())[:400]
    if code:
        return f"twilio_{code}: {words}" if words else f"twilio_{code}"
    if status == "canceled":
        return "twilio: canceled"
    return words or None


def twiml(message: str | None) -> str:
    """
    A TwiML answer: empty, or one message back to the sender (XML-escaped by the library).
    """
    response = MessagingResponse()
    if message:
        response.message(message)
    return str(response)


def _params(body: bytes) -> ImmutableMultiDict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 form data") from None
    return ImmutableMultiDict(parse_qsl(text, keep_blank_values=True))


def _credentials(state: AppState, store_id: str) -> SmsCredentials:
    fallback = state.container.settings.twilio_auth_token
    try:
        return sms_credentials(
            uow=state.container.uow_factory(read_only=True),
            box=state.container.box,
            store_id=store_id,
            fallback_token=fallback.get_secret_value() if fallback else None,
        )
    except ConfigurationError as error:
        # Nothing can verify the signature, so nothing is accepted.
        raise Unauthenticated(error.detail) from None


def _verify(
    request: Request, state: AppState, auth_token: str, params: ImmutableMultiDict[str, str]
) -> None:
    """
    Raises:
        Unauthenticated: no signature, or none of the candidate URLs matches it.
    """
    signature = request.headers.get("x-twilio-signature", "")
    if not signature:
        raise Unauthenticated("the X-Twilio-Signature header is missing")
    validator = RequestValidator(auth_token)
    # `validate` compares in constant time, and tries each URL with and without its port.
    if not any(bool(validator.validate(url, params, signature)) for url in _urls(request, state)):
        raise Unauthenticated("the X-Twilio-Signature does not match")


def _urls(request: Request, state: AppState) -> list[str]:
    """
    The URLs Twilio may have signed: the public one, then the one the request arrived at.
    """
    query = f"?{request.url.query}" if request.url.query else ""
    public = state.container.settings.base_url.rstrip("/") + request.url.path + query
    return list(dict.fromkeys([public, str(request.url)]))


def _field(params: ImmutableMultiDict[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value or len(value) > _FIELD_LIMITS[name] or "\x00" in value:
        errors = [FieldError(path=name, message="required, and a Twilio value")]
        raise InvalidInput(f"the webhook has no valid {name}", errors=errors)
    return value
