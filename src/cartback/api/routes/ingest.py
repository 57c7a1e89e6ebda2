"""
Event ingestion in the Segment HTTP Tracking API format (`contract.md` §5.1), for server keys,
and `/v1/t` for the storefront snippet with a public key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from cartback.api.auth import key_from_headers, require_server_key
from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.ingest_work import IngestRequest
from cartback.api.ratelimit import retry_after_seconds
from cartback.api.responses import JsonResponse, success_response
from cartback.api.state import AppState, app_state
from cartback.domain.errors import (
    Forbidden,
    InvalidInput,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
)
from cartback.domain.stores import KeyKind, Principal
from cartback.services.sources import event_aliases
from cartback.sources._body import decompress, parse_json
from cartback.sources.segment import (
    MAX_BATCH_MESSAGES,
    SOURCE,
)

router = APIRouter(tags=["ingestion"])

MAX_REQUEST_BYTES = 500 * 1024
SUCCESS = {"success": True}

_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Segment HTTP Tracking API message (e-commerce spec v2 properties).",
    "properties": {
        "type": {
            "type": "string",
            "enum": ["track", "identify", "page", "screen", "group", "alias"],
        },
        "event": {"type": "string", "maxLength": 200},
        "messageId": {"type": "string", "maxLength": 255},
        "anonymousId": {"type": "string", "maxLength": 255},
        "userId": {"type": "string", "maxLength": 255},
        "timestamp": {"type": "string", "format": "date-time"},
        "sentAt": {"type": "string", "format": "date-time"},
        "properties": {"type": "object"},
        "traits": {"type": "object"},
        "context": {"type": "object"},
    },
    "additionalProperties": True,
}
_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": _MESSAGE_SCHEMA, "maxItems": MAX_BATCH_MESSAGES},
        "sentAt": {"type": "string", "format": "date-time"},
        "context": {"type": "object"},
        "writeKey": {"type": "string"},
    },
    "additionalProperties": True,
}
_SUCCESS_RESPONSE = success_response("Committed (repeated messageIds are accepted and ignored).")
_RESPONSES = {**_SUCCESS_RESPONSE, **PROBLEM_RESPONSES}


def _body_doc(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


async def read_body(request: Request, *, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """
    The request body, decompressed, refused past `limit` bytes before it is all read.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit // 1024} KB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit // 1024} KB")
        chunks.append(chunk)
    raw = b"".join(chunks)
    return decompress(raw, encoding=request.headers.get("content-encoding"), limit=limit)


async def _principal(state: AppState, request: Request, document: Any) -> Principal:
    key = key_from_headers(request)
    if key is None and isinstance(document, dict) and isinstance(document.get("writeKey"), str):
        key = document["writeKey"]
    # Most requests reuse a key seen seconds ago: answer those without a thread hop.
    known = state.authenticator.cached(key)
    if known is not None:
        return known
    return await run_in_threadpool(state.authenticator.resolve, key)


def _limit(state: AppState, principal: Principal, request: Request) -> None:
    if principal.kind is KeyKind.SECRET:
        wait = state.server_limiter.acquire(principal.store.id)
    else:
        client = request.client.host if request.client else "unknown"
        wait = state.public_limiter.acquire(f"{principal.store.id}|{client}")
    if wait:
        state.container.metrics.requests_limited.labels(kind=principal.kind.value).inc()
        raise RateLimited(
            f"too many requests for this store; retry in {retry_after_seconds(wait)} s",
            retry_after=retry_after_seconds(wait),
        )


async def _ingest(
    state: AppState,
    request: Request,
    principal: Principal,
    body: bytes,
    *,
    single: bool,
    single_type: str | None = None,
) -> None:
    container = state.container
    work = IngestRequest(
        store_id=principal.store.id,
        body=body,
        single=single,
        single_type=single_type,
        now=container.clock.now(),
        default_region=principal.store.country,
        user_agent=request.headers.get("user-agent") if principal.kind is KeyKind.PUBLIC else None,
        aliases=event_aliases(principal.store),
        # Only a browser's own request speaks for the shopper; a server's header would not.
        gpc=principal.kind is KeyKind.PUBLIC and request.headers.get("sec-gpc") == "1",
    )
    answer = await state.writer.submit(work)
    if answer.failure is not None:
        status, detail = answer.failure
        raise ServiceUnavailable(detail) if status == 503 else RuntimeError(detail)
    for outcome, count in answer.outcomes.items():
        container.metrics.events_ingested.labels(source=SOURCE, outcome=outcome).inc(count)
    if answer.errors:
        container.metrics.events_rejected.labels(source=SOURCE).inc(answer.invalid)
        stored = "; the valid ones were stored" if answer.stored else ""
        raise InvalidInput(
            f"{answer.invalid} of {answer.total} events are invalid{stored}",
            errors=list(answer.errors),
        )


def _check_batch(document: Any) -> None:
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object with a `batch` array")
    batch = document.get("batch")
    if not isinstance(batch, list):
        raise InvalidInput("the body must have a `batch` array")
    if len(batch) > MAX_BATCH_MESSAGES:
        raise InvalidInput(f"a batch holds at most {MAX_BATCH_MESSAGES} events")


@router.post(
    "/v1/batch",
    responses=_RESPONSES,
    openapi_extra=_body_doc(_BATCH_SCHEMA),
    summary="Send a batch of events",
)
async def post_batch(request: Request) -> JsonResponse:
    """
    Segment's batch call: up to 500 KB of events in one request. Valid events are committed
    even when others are invalid; the 400 answer lists the invalid ones by index and field.
    """
    state = app_state(request)
    body = await read_body(request)
    document = parse_json(body)
    principal = require_server_key(await _principal(state, request, document))
    _limit(state, principal, request)
    _check_batch(document)
    await _ingest(state, request, principal, body, single=False)
    return JsonResponse(SUCCESS)


async def _single(request: Request, kind: str) -> JsonResponse:
    state = app_state(request)
    body = await read_body(request)
    document = parse_json(body)
    principal = require_server_key(await _principal(state, request, document))
    _limit(state, principal, request)
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object")
    await _ingest(state, request, principal, body, single=True, single_type=kind)
    return JsonResponse(SUCCESS)


def _single_route(kind: str) -> None:
    async def endpoint(request: Request) -> JsonResponse:
        return await _single(request, kind)

    endpoint.__doc__ = f"Segment's `{kind}` call: one message; `type` is implied by the path."
    router.add_api_route(
        f"/v1/{kind}",
        endpoint,
        methods=["POST"],
        responses=_RESPONSES,
        openapi_extra=_body_doc(_MESSAGE_SCHEMA),
        summary=f"Send one {kind} message",
        name=f"post_{kind}",
    )


for _kind in ("track", "identify", "page", "screen", "group", "alias"):
    _single_route(_kind)


def _allowed_origin(request: Request, principal: Principal) -> str | None:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return None
    host = (urlsplit(origin).hostname or "").lower()
    allowed = any(host == d or host.endswith("." + d) for d in principal.store.domains)
    if not allowed:
        raise Forbidden(f"origin {origin!r} is not one of this store's domains")
    return origin


@router.post(
    "/v1/t",
    responses=_RESPONSES,
    openapi_extra=_body_doc({"anyOf": [_BATCH_SCHEMA, _MESSAGE_SCHEMA]}),
    summary="Send browser events (public key)",
)
async def post_browser_events(request: Request) -> JsonResponse:
    """
    The storefront snippet's endpoint: a batch or one message, authenticated by the public key
    (header, `writeKey` query parameter or body field), accepted only from the store's domains.
    Sent as `text/plain` by `sendBeacon`, so it needs no CORS preflight.
    """
    state = app_state(request)
    body = await read_body(request)
    document = parse_json(body)
    principal = await _principal(state, request, document)
    origin = _allowed_origin(request, principal)
    _limit(state, principal, request)
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object")
    single = "batch" not in document
    if not single:
        _check_batch(document)
    await _ingest(state, request, principal, body, single=single)
    headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else None
    return JsonResponse(SUCCESS, headers=headers)


@router.options("/v1/t", include_in_schema=False)
async def preflight_browser_events(request: Request) -> Response:
    """
    CORS preflight; the origin itself is checked on the real request, against the key's store.
    """
    origin = request.headers.get("origin", "*")
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, Authorization",
            "Access-Control-Max-Age": "86400",
            "Vary": "Origin",
        },
    )
