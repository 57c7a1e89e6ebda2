"""
Lead capture (`contract.md` §5.2): `POST /v1/capture` and `GET /v1/capture/config` for the
storefront widgets (public key, the store's own origins, rate limited like `/v1/t`), and
`GET`/`PUT /v1/capture/settings` for the merchant (server key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.exc import IntegrityError

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.ingest_work import ATTEMPTS
from cartback.api.responses import JsonResponse, success_response
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.routes.ingest import (
    SUCCESS,
    _allowed_origin,
    _limit,
    _principal,
    read_body,
)
from cartback.api.state import AppState, app_state
from cartback.domain.capture import MAX_TEXT, CaptureAction, CookieConsent, Widget
from cartback.domain.consent import Channel, Purpose
from cartback.domain.errors import Forbidden, InvalidInput, ServiceUnavailable
from cartback.domain.stores import KeyKind, Principal
from cartback.services.capture import CaptureEvidence, capture
from cartback.services.capture_settings import (
    capture_change,
    capture_config,
    read_capture_config,
    update_capture_settings,
)
from cartback.sources._body import parse_json

router = APIRouter(tags=["capture"])

#: A capture is a few fields and at most four consent texts.
MAX_CAPTURE_BYTES = 16 * 1024
CONFIG_CACHE = "public, max-age=60"


def _enum(kind: type[Any]) -> dict[str, Any]:
    return {"type": "string", "enum": [k.value for k in kind]}


_CONSENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["channel", "purpose", "granted", "text"],
    "properties": {
        "channel": _enum(Channel),
        "purpose": _enum(Purpose),
        "granted": {"type": "boolean"},
        "text": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT},
        "text_version": {"type": "string", "maxLength": 64},
        "source": _enum(Widget),
    },
    "additionalProperties": False,
}
_CAPTURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["writeKey", "anonymous_id", "action", "widget"],
    "properties": {
        "writeKey": {"type": "string", "description": "The store's public key (cb_pk_…)."},
        "anonymous_id": {"type": "string", "minLength": 1, "maxLength": 255},
        "cart_id": {"type": "string", "maxLength": 255},
        "email": {"type": "string", "maxLength": 320},
        "phone": {"type": "string", "maxLength": 40},
        "action": _enum(CaptureAction),
        "widget": _enum(Widget),
        "consents": {"type": "array", "items": _CONSENT_SCHEMA, "maxItems": 4},
        "locale": {"type": "string", "maxLength": 35},
        "gpc": {"type": "boolean"},
        "cookie_consent": _enum(CookieConsent),
        "website": {"type": "string", "description": "Honeypot: leave empty."},
    },
    "additionalProperties": False,
}
_SUCCESS = success_response("Captured (also the answer to robots, which store nothing).")


class SmsConfigPublic(BaseModel):
    """
    Whether the SMS opt-in is offered, the brand its legal wording names, and whether a
    confirmation text must be answered YES before consent counts.
    """

    enabled: bool
    brand: str
    double_opt_in: bool


class CaptureConfigPublic(BaseModel):
    """
    What the storefront widgets need: the widgets switched on, the consent region
    (`eu`, `us`, `strict`), SMS, whether to offer marketing as a second step, the merchant's
    own texts by locale and key (the widget has defaults for the rest), and the store's
    abandonment delay (the post-abandonment prompt waits for it).
    """

    widgets: dict[str, bool]
    region: str
    sms: SmsConfigPublic
    marketing: bool
    texts: dict[str, dict[str, str]]
    abandon_after_seconds: int


class SmsSettingsIn(BaseModel):
    """
    Offer the SMS opt-in, or not.
    """

    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool | None = None


class CaptureSettingsIn(BaseModel):
    """
    A change to the capture settings: only the fields given change. A text set to null goes
    back to the widget's default.
    """

    model_config = ConfigDict(extra="forbid")
    widgets: dict[str, StrictBool] | None = Field(default=None, max_length=20)
    sms: SmsSettingsIn | None = None
    marketing: StrictBool | None = None
    texts: dict[str, dict[str, str | None]] | None = Field(default=None, max_length=50)


def _public_key(principal: Principal) -> Principal:
    if principal.kind is not KeyKind.PUBLIC:
        raise Forbidden(
            "the capture endpoints take the store's public key (cb_pk_…); a server key must "
            "never be sent from a browser"
        )
    return principal


def _cors(origin: str | None) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}


def _capture(state: AppState, store_id: str, document: Mapping[str, Any], evidence: Any) -> None:
    """
    Run the use case, again when a concurrent request created the same contact first (the
    retry finds it).
    """
    for _attempt in range(ATTEMPTS):
        try:
            capture(
                uow=state.container.uow_factory(),
                clock=state.container.clock,
                store_id=store_id,
                document=document,
                evidence=evidence,
            )
            return
        except IntegrityError:
            continue
    raise ServiceUnavailable("the database is busy; retry shortly")


@router.post(
    "/v1/capture",
    responses={**_SUCCESS, **PROBLEM_RESPONSES},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _CAPTURE_SCHEMA}},
        }
    },
    summary="Capture a shopper's email or phone and consents (public key)",
)
async def post_capture(request: Request) -> JsonResponse:
    """
    A shopper typed an email address or phone number into a capture widget and submitted it,
    or left it in a checkout field (`action`); autofill alone is refused. Every consent answer
    is appended to the ledger with the exact words shown, their version, the locale, the client
    address and user agent; under SMS double opt-in an SMS grant waits for the shopper's YES.
    `Sec-GPC: 1`, `gpc: true` or `cookie_consent: "denied"` keep the person out of ad
    audiences. Sent as `text/plain` or JSON (at most 16 KB), from the store's own domains.
    A filled honeypot (`website`) or a crawler gets the same answer and stores nothing.
    """
    state = app_state(request)
    body = await read_body(request, limit=MAX_CAPTURE_BYTES)
    document = parse_json(body)
    principal = _public_key(await _principal(state, request, document))
    origin = _allowed_origin(request, principal)
    _limit(state, principal, request)
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object")
    evidence = CaptureEvidence(
        client_ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        gpc_header=request.headers.get("sec-gpc", "").strip() == "1",
    )
    await run_in_threadpool(_capture, state, principal.store.id, document, evidence)
    return JsonResponse(SUCCESS, headers=_cors(origin))


@router.options("/v1/capture", include_in_schema=False)
async def preflight_capture(request: Request) -> Response:
    """
    CORS preflight for a JSON capture; the origin is checked on the real request.
    """
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": request.headers.get("origin", "*"),
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
            "Vary": "Origin",
        },
    )


@router.get(
    "/v1/capture/config",
    response_model=CaptureConfigPublic,
    responses=PROBLEM_RESPONSES,
    summary="The capture widgets' configuration (public key)",
)
async def get_capture_config(
    request: Request,
    write_key: Annotated[
        str | None,
        Query(alias="writeKey", max_length=200, description="The store's public key."),
    ] = None,
) -> JsonResponse:
    """
    Which widgets to show, the consent region, SMS and marketing opt-ins and the merchant's
    texts, for the storefront. Cacheable for a minute; changes show within about that long.
    """
    del write_key  # read by `key_from_headers`, with the Authorization header
    state = app_state(request)
    principal = _public_key(await _principal(state, request, None))
    origin = _allowed_origin(request, principal)
    _limit(state, principal, request)
    headers = {"Cache-Control": CONFIG_CACHE, "Vary": "Origin", **_cors(origin)}
    return JsonResponse(capture_config(principal.store), headers=headers)


@router.get(
    "/v1/capture/settings",
    response_model=CaptureConfigPublic,
    responses=PROBLEM_RESPONSES,
    summary="Read the capture settings",
)
def read_capture_settings(principal: ServerPrincipal, request: Request) -> CaptureConfigPublic:
    """
    The store's capture settings, as the widgets get them.
    """
    uow = app_state(request).container.uow_factory(read_only=True)
    return CaptureConfigPublic.model_validate(
        read_capture_config(uow=uow, store_id=principal.store.id)
    )


@router.put(
    "/v1/capture/settings",
    response_model=CaptureConfigPublic,
    responses=PROBLEM_RESPONSES,
    summary="Change the capture settings",
)
def put_capture_settings(
    body: CaptureSettingsIn, principal: ServerPrincipal, request: Request
) -> CaptureConfigPublic:
    """
    Switch widgets on or off (`{"widgets": {"exit_intent": true}}`), offer SMS or marketing,
    and set texts by locale and key (`{"texts": {"de": {"cart_page.title": "…"}}}`; null
    restores the widget's default). Fields left out keep their value. Answers the settings.
    """
    change = capture_change(
        widgets=body.widgets,
        sms_enabled=body.sms.enabled if body.sms else None,
        marketing=body.marketing,
        texts={
            (locale, key): text
            for locale, texts in (body.texts or {}).items()
            for key, text in texts.items()
        },
    )
    if change.is_empty:
        raise InvalidInput("nothing to change; send at least one setting")
    state = app_state(request)
    store = update_capture_settings(
        uow=state.container.uow_factory(),
        clock=state.container.clock,
        store_id=principal.store.id,
        change=change,
    )
    state.authenticator.forget()  # the widgets' config in this process changes at once
    return CaptureConfigPublic.model_validate(capture_config(store))
