"""
Dashboard operators and their sessions: who may see which store, and when a session ends.
Pure rules; time is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cartback.domain.time import check_aware

#: Shorter passwords are refused (NIST SP 800-63B asks for at least 8; operators see
#: shoppers' personal data, so we ask for more).
MIN_PASSWORD_LENGTH = 12
#: Longer ones are refused too: argon2 would hash megabytes on every attempt.
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, kw_only=True, slots=True)
class Operator:
    """
    A person who signs in to the dashboard: every store (`all_stores`) or the listed ones.
    """

    id: str
    email: str
    password_hash: str
    all_stores: bool
    store_ids: frozenset[str]
    created_at: datetime
    last_login_at: datetime | None = None
    disabled_at: datetime | None = None

    def __post_init__(self) -> None:
        check_aware(self.created_at, "created_at")

    @property
    def active(self) -> bool:
        """
        False once disabled: a disabled operator cannot sign in, and its sessions end.
        """
        return self.disabled_at is None

    def may_see(self, store_id: str) -> bool:
        """
        Whether this operator may see anything of the store.
        """
        return self.active and (self.all_stores or store_id in self.store_ids)


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionPolicy:
    """
    How long a session lives: `idle` without a request, `lifetime` at most in all.
    """

    idle: timedelta
    lifetime: timedelta
    #: `last_seen_at` is written at most this often, so reading pages does not write each time.
    touch_every: timedelta = timedelta(minutes=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class OperatorSession:
    """
    A signed-in session as stored: the digest of the cookie's token, never the token.
    """

    digest: str
    operator_id: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        for name in ("created_at", "last_seen_at", "expires_at"):
            check_aware(getattr(self, name), name)


class SessionState(StrEnum):
    """
    What a stored session is worth at a given moment.
    """

    LIVE = "live"
    IDLE = "idle"
    EXPIRED = "expired"


def session_state(
    session: OperatorSession, *, policy: SessionPolicy, now: datetime
) -> SessionState:
    """
    `EXPIRED` past its absolute end, `IDLE` after `policy.idle` without a request, else `LIVE`.
    """
    if now >= session.expires_at:
        return SessionState.EXPIRED
    if now - session.last_seen_at >= policy.idle:
        return SessionState.IDLE
    return SessionState.LIVE


def needs_touch(session: OperatorSession, *, policy: SessionPolicy, now: datetime) -> bool:
    """
    Whether to write `last_seen_at` now (at most once per `policy.touch_every`).
    """
    return now - session.last_seen_at >= policy.touch_every


def password_problem(password: str) -> str | None:
    """
    Why a new password is refused, or None when it is acceptable.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if not password.strip():
        return "must not be blank"
    return None
