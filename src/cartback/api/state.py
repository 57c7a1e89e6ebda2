"""
What the routes share, kept on `app.state` (never in module globals).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from cartback.api.auth import Authenticator
from cartback.api.ratelimit import RateLimiter
from cartback.api.webhook_targets import WebhookTargets
from cartback.api.writers import IngestWriter
from cartback.bootstrap import Container


@dataclass(kw_only=True)
class AppState:
    """
    The container plus the API's own per-process parts.
    """

    container: Container
    authenticator: Authenticator
    writer: IngestWriter
    server_limiter: RateLimiter
    public_limiter: RateLimiter
    webhook_targets: WebhookTargets


def app_state(request: Request) -> AppState:
    """
    The state of the app serving this request.
    """
    state: AppState = request.app.state.cartback
    return state
