"""
Every error becomes an RFC 9457 problem here, and only here.

Problem types are tag URIs (RFC 4151), stable and not dereferenced. Each problem also carries
`code` and `message`, the fields Segment's and RudderStack's SDKs read from an error body.
"""

from __future__ import annotations

from typing import Any, cast

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cartback.api.responses import JsonResponse
from cartback.domain.errors import (
    CartbackError,
    Conflict,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
)

log = structlog.get_logger(__name__)

PROBLEM_TYPE_BASE = "tag:cartback.dev,2026:problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

_STATUS = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    RateLimited: 429,
    ServiceUnavailable: 503,
}
_TITLES = {
    400: "Invalid request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class ProblemError(BaseModel):
    """
    One invalid field.
    """

    field: str
    #: The same as `field` (the name the browser widgets read).
    path: str | None = None
    message: str
    index: int | None = None


class Problem(BaseModel):
    """
    An RFC 9457 problem document.
    """

    type: str
    title: str
    status: int
    detail: str
    code: str
    message: str
    errors: list[ProblemError] | None = None


def problem_response(
    status: int,
    slug: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    """
    A problem+json response.
    """
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": slug,
        "message": detail,
    }
    if errors:
        body["errors"] = [
            {
                "field": e.path,
                "path": e.path,
                "message": e.message,
                **({"index": e.index} if e.index is not None else {}),
            }
            for e in errors
        ]
    return JsonResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _status_for(error: CartbackError) -> int:
    for kind, status in _STATUS.items():
        if isinstance(error, kind):
            return status
    return 500


async def _cartback_error(_request: Request, error: Exception) -> JsonResponse:
    error = cast(CartbackError, error)  # registered for this type only
    status = _status_for(error)
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, ServiceUnavailable):
        headers["Retry-After"] = "5"
    if isinstance(error, Unauthenticated):
        # RFC 9110 §15.5.2 requires a challenge. Not `Basic`: browsers answer that with a login
        # dialog, which the storefront snippet's shoppers must never see.
        headers["WWW-Authenticate"] = 'Bearer realm="cartback"'
    errors = error.errors if isinstance(error, InvalidInput) else None
    if status == 500:
        log.error("api.error", error=type(error).__name__, detail=error.detail)
    return problem_response(status, error.slug, error.detail, errors=errors, headers=headers)


async def _validation_error(_request: Request, error: Exception) -> JsonResponse:
    error = cast(RequestValidationError, error)  # registered for this type only
    fields = [
        FieldError(
            path=".".join(str(p) for p in e["loc"] if p not in ("query", "path", "body", "header")),
            message=str(e["msg"]).removeprefix("Value error, "),
        )
        for e in error.errors()
    ]
    return problem_response(400, "invalid-request", "the request is not valid", errors=fields)


async def _http_error(_request: Request, error: Exception) -> JsonResponse:
    error = cast(StarletteHTTPException, error)  # registered for this type only
    slug = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "error")
    detail = str(error.detail) if error.detail else _TITLES.get(error.status_code, "Error")
    return problem_response(error.status_code, slug, detail, headers=dict(error.headers or {}))


async def _database_error(_request: Request, error: Exception) -> JsonResponse:
    log.error("api.database.unavailable", error=str(error)[:300])
    return problem_response(
        503,
        "unavailable",
        "the database is unavailable; retry shortly",
        headers={"Retry-After": "5"},
    )


async def _unexpected(_request: Request, error: Exception) -> JsonResponse:
    log.exception("api.unexpected", error=type(error).__name__)
    return problem_response(500, "internal", "an unexpected error occurred; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    """
    Map every error to a problem.
    """
    app.add_exception_handler(CartbackError, _cartback_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected)


#: `model` registers the `Problem` component; the schema is stated for the media type actually
#: sent, since FastAPI attaches `model` to `application/json` only.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "description": title,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, title in _TITLES.items()
    if status in (400, 401, 403, 404, 413, 429, 503)
}
