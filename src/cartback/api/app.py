"""
The FastAPI application, built from a container (never from globals).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cartback import __version__
from cartback.api.auth import Authenticator
from cartback.api.errors import install_error_handlers
from cartback.api.pipeline import IngestPipeline
from cartback.api.ratelimit import RateLimiter
from cartback.api.responses import JsonResponse
from cartback.api.routes import carts, ingest, ops
from cartback.api.state import AppState
from cartback.bootstrap import Container


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
        request_id = given[:64] if given.isprintable() and given else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


def create_app(container: Container, *, bench_routes: bool = False) -> FastAPI:
    """
    The HTTP API for a container. `bench_routes` adds the no-op baseline the ingestion
    benchmark measures against.
    """
    settings = container.settings
    pipeline = IngestPipeline(
        uow_factory=container.uow_factory,
        clock=container.clock,
        metrics=container.metrics,
        committers=1 if container.is_sqlite else 2,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await pipeline.start()
        try:
            yield
        finally:
            await pipeline.stop()

    app = FastAPI(
        title="Cartback",
        version=__version__,
        summary="Abandoned-cart recovery: ingestion, carts, recovery and measurement.",
        lifespan=lifespan,
    )
    app.state.cartback = AppState(
        container=container,
        authenticator=Authenticator(container.uow_factory),
        pipeline=pipeline,
        server_limiter=RateLimiter(rate=settings.ingest_rate, burst=settings.ingest_burst),
        public_limiter=RateLimiter(rate=settings.public_rate, burst=settings.public_burst),
    )
    install_error_handlers(app)
    app.include_router(ingest.router)
    app.include_router(carts.router)
    app.include_router(ops.router)
    if bench_routes:

        @app.post("/_bench/noop", include_in_schema=False)
        async def noop() -> JsonResponse:
            return JsonResponse(ingest.SUCCESS)

    app.add_middleware(RequestContext)
    return app
