"""
The dashboard's pages: Jinja2 templates under `web/templates/admin/`, autoescaped, with the
security headers every `/admin` response gets (`AdminHeaders`), and its static files (the CSS
and the vendored htmx), served from the package so the dashboard works offline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cartback.kit.charts import percent

#: No inline script or style anywhere: everything comes from `/admin/static/`. Frames only
#: from the dashboard itself: the messages pages embed emails' HTML from their own sandboxed
#: routes (api/admin/messages_routes.py).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"x-robots-tag", b"noindex, nofollow"),
)
PREFIX = "/admin"


class AdminHeaders:
    """
    Adds the security headers to every response under `/admin` (pages, redirects, errors),
    and `Cache-Control: no-store` to those that set no caching of their own.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True, kw_only=True, slots=True)
class StaticFile:
    """
    One file under `web/static/` the dashboard serves.
    """

    body: bytes
    media_type: str
    etag: str


#: The dashboard's static files: name in the URL -> (path under `web/static/`, media type).
STATIC = {
    "admin.css": (("admin", "admin.css"), "text/css; charset=utf-8"),
    "htmx.min.js": (("vendor", "htmx.min.js"), "text/javascript; charset=utf-8"),
}


@cache
def static_file(name: str) -> StaticFile:
    """
    A dashboard static file, read once per process.

    Raises:
        KeyError: not one of `STATIC`.
    """
    parts, media_type = STATIC[name]
    body = resources.files("cartback.web").joinpath("static", *parts).read_bytes()
    return StaticFile(
        body=body, media_type=media_type, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    )


def serve_static(request: Request, name: str) -> Response:
    """
    The file with an ETag; browsers keep it an hour and then revalidate.
    """
    found = static_file(name)
    headers = {"ETag": found.etag, "Cache-Control": "public, max-age=3600"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _money(value: Decimal | None, currency: str) -> str:
    return f"{value:,.2f} {currency}" if value is not None else ""


def _points(value: float | None) -> str:
    """
    A difference of rates in percentage points, signed (`+4.0 pts`).
    """
    return "-" if value is None else f"{value * 100:+.1f} pts"


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("cartback.web", "templates/admin"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = _when
    environment.filters["money"] = _money
    environment.filters["percent"] = percent
    environment.filters["points"] = _points
    return environment


def render(
    template: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """
    A dashboard template filled in (every value escaped).
    """
    html = _environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=headers)
