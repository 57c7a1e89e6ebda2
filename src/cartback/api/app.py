"""
The FastAPI application, built from a container (never from globals).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cartback import __version__
from cartback.api.admin import flows_routes as admin_flows
from cartback.api.admin import messages_routes as admin_messages
from cartback.api.admin import routes as admin
from cartback.api.admin import settings_routes as admin_settings
from cartback.api.admin import store_pages_routes as admin_store_pages
from cartback.api.admin._pages import AdminHeaders
from cartback.api.admin._state import AdminState
from cartback.api.auth import Authenticator
from cartback.api.errors import install_error_handlers
from cartback.api.ratelimit import RateLimiter
from cartback.api.responses import JsonResponse
from cartback.api.routes import (
    ads,
    audience_exports,
    audiences,
    capture,
    carts,
    catalog,
    contacts,
    email_webhooks,
    feeds,
    flows,
    ingest,
    messages,
    offer_settings,
    offers,
    ops,
    optouts,
    outbound_webhooks,
    partners,
    reports,
    restore,
    short_links,
    sources,
    static,
    templates,
    twilio,
    unsubscribe,
    webhooks,
)
from cartback.api.state import AppState
from cartback.api.webhook_targets import WebhookTargets
from cartback.api.writers import IngestWriter, ProcessWriter, ThreadWriter
from cartback.bootstrap import Container
from cartback.domain.operators import SessionPolicy
from cartback.engine.clock import SystemClock
from cartback.services.links import RestoreLinks
from cartback.services.unsubscribe import UnsubscribeLinks
from cartback.settings import Environment, IngestWriterKind


class RequestContext:
    """
    Binds a request id (the caller's `X-Request-Id`, or a new one) to every log line of the
    request and returns it in the response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given[:64] if given.isprintable() and given else os.urandom(12).hex()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


#: The endpoints the storefront calls from the shop's own pages.
BROWSER_PATHS = frozenset({"/v1/t", "/v1/capture", "/v1/capture/config"})


class BrowserErrorsReadable:
    """
    Lets the storefront snippet read refusals of its endpoints (`BROWSER_PATHS`: 400, 401,
    429, 503) instead of seeing opaque CORS failures it would retry: refusals echo the Origin.
    A 403 (an origin the store does not own) stays opaque to that origin; accepted requests
    get their CORS headers from the route, only for the store's own domains.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in BROWSER_PATHS:
            await self.app(scope, receive, send)
            return
        origin = dict(scope.get("headers") or []).get(b"origin")

        async def send_readable(message: Message) -> None:
            if message["type"] == "http.response.start" and origin and _readable(message["status"]):
                headers = message.setdefault("headers", [])
                if not any(name.lower() == b"access-control-allow-origin" for name, _ in headers):
                    headers.append((b"access-control-allow-origin", origin))
                    headers.append((b"vary", b"Origin"))
            await send(message)

        await self.app(scope, receive, send_readable)


def _readable(status: int) -> bool:
    return status >= 400 and status != 403


def create_app(container: Container, *, bench_routes: bool = False) -> FastAPI:
    """
    The HTTP API for a container. `bench_routes` adds the no-op baseline the ingestion
    benchmark measures against.
    """
    settings = container.settings
    writer = _ingest_writer(container)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await writer.start()
        try:
            yield
        finally:
            await writer.stop()

    app = FastAPI(
        title="Cartback",
        version=__version__,
        summary="Abandoned-cart recovery: ingestion, carts, recovery and measurement.",
        lifespan=lifespan,
    )
    app.state.cartback = AppState(
        container=container,
        authenticator=Authenticator(container.uow_factory),
        writer=writer,
        server_limiter=RateLimiter(rate=settings.ingest_rate, burst=settings.ingest_burst),
        public_limiter=RateLimiter(rate=settings.public_rate, burst=settings.public_burst),
        webhook_targets=WebhookTargets(container.uow_factory, container.box),
    )
    app.state.unsubscribe_links = UnsubscribeLinks(
        secret_keys=settings.resolve_secret_keys(), base_url=settings.base_url
    )
    app.state.restore_links = RestoreLinks(
        secret_keys=settings.resolve_secret_keys(), base_url=settings.base_url
    )
    app.state.admin = AdminState(
        policy=SessionPolicy(
            idle=settings.dashboard_session_idle, lifetime=settings.dashboard_session_lifetime
        ),
        always_secure=settings.env is Environment.PRODUCTION,
        base_url=settings.base_url,
        hash_profile=settings.password_hash_profile.value,
    )
    install_error_handlers(app)
    app.include_router(ingest.router)
    app.include_router(capture.router)
    app.include_router(carts.router)
    app.include_router(contacts.router)
    app.include_router(messages.router)
    app.include_router(offers.router)
    app.include_router(restore.router)
    app.include_router(flows.router)
    app.include_router(templates.router)
    app.include_router(partners.router)
    app.include_router(outbound_webhooks.router)
    app.include_router(offer_settings.router)
    app.include_router(reports.router)
    app.include_router(ads.router)
    app.include_router(catalog.router)
    app.include_router(audiences.router)
    app.include_router(audience_exports.router)
    app.include_router(feeds.router)
    app.include_router(twilio.router)  # before the catch-all /webhooks/{platform}/{store_id}
    app.include_router(email_webhooks.router)  # before the catch-all, too
    app.include_router(webhooks.router)
    app.include_router(sources.router)
    app.include_router(static.router)
    app.include_router(ops.router)
    app.include_router(optouts.router)
    app.include_router(unsubscribe.router)
    app.include_router(short_links.router)
    for admin_router in (
        admin.router,
        admin_settings.router,
        admin_flows.router,
        admin_messages.router,
        admin_store_pages.router,
    ):
        app.include_router(admin_router)
    if bench_routes:

        @app.post("/_bench/noop", include_in_schema=False)
        async def noop() -> JsonResponse:
            return JsonResponse(ingest.SUCCESS)

    app.add_middleware(AdminHeaders)
    app.add_middleware(BrowserErrorsReadable)
    app.add_middleware(RequestContext)
    return app


def _ingest_writer(container: Container) -> IngestWriter:
    """
    The writer process for real service; a thread where the clock is simulated (a second
    process could not share it) or when the settings ask for one.
    """
    kind = container.settings.ingest_writer
    if kind is IngestWriterKind.PROCESS and isinstance(container.clock, SystemClock):
        return ProcessWriter(settings=container.settings, metrics=container.metrics)
    return ThreadWriter(
        uow_factory=container.uow_factory,
        clock=container.clock,
        metrics=container.metrics,
        committers=1 if container.is_sqlite else 2,
    )
