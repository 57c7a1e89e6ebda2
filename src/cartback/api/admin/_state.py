"""
What the dashboard keeps per process: the password hasher, the session policy and the
sign-in throttles. Built by `api/app.py` from the container, kept on `app.state.admin`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlsplit

from starlette.requests import Request

from cartback.api.ratelimit import RateLimiter
from cartback.domain.operators import SessionPolicy
from cartback.kit.passwords import Argon2Hasher


def _per_email() -> RateLimiter:
    # Five attempts at once, then one a minute: slow enough to make guessing hopeless, and
    # keyed by address *and* email, so nobody can lock an operator out from elsewhere.
    return RateLimiter(rate=1 / 60, burst=5)


def _per_address() -> RateLimiter:
    # Twenty attempts at once from one client address, then one every ten seconds.
    return RateLimiter(rate=1 / 10, burst=20)


@dataclass(kw_only=True)
class AdminState:
    """
    The dashboard's per-process parts.
    """

    policy: SessionPolicy
    #: Cookies are `Secure` over https, and always in production (behind a TLS proxy).
    always_secure: bool
    base_url: str
    #: argon2-cffi's parameter profile (`CARTBACK_PASSWORD_HASH_PROFILE`, whose default the
    #: settings own).
    hash_profile: str
    per_email: RateLimiter = field(default_factory=_per_email)
    per_address: RateLimiter = field(default_factory=_per_address)

    @cached_property
    def hasher(self) -> Argon2Hasher:
        """
        The argon2 hasher, made on first use.
        """
        return Argon2Hasher.for_profile(self.hash_profile)

    def secure(self, request: Request) -> bool:
        """
        Whether this request's cookies must be `Secure`.
        """
        return self.always_secure or request.url.scheme == "https"

    def same_origin(self, request: Request) -> bool:
        """
        False when the request's `Origin` (or, without one, its `Referer`) names another
        origin than this server's; True when it names ours or neither is sent.
        """
        claimed = request.headers.get("origin")
        if claimed is None:
            referer = request.headers.get("referer")
            if not referer:
                return True
            parts = urlsplit(referer)
            claimed = f"{parts.scheme}://{parts.netloc}"
        own = {_origin(str(request.url)), _origin(self.base_url)}
        return claimed.lower() in own


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def admin_state(request: Request) -> AdminState:
    """
    The dashboard state of the app serving this request.
    """
    state: AdminState = request.app.state.admin
    return state
