"""
Dashboard sign-in: check a password, open a server-side session, find it again from the
cookie's token, end it. The cookie carries a random token; only its SHA-256 digest is stored,
so a copy of the database opens no session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from cartback.domain.errors import InvalidInput, Unauthenticated
from cartback.domain.operators import (
    MAX_PASSWORD_LENGTH,
    Operator,
    OperatorSession,
    SessionPolicy,
    SessionState,
    needs_touch,
    session_state,
)
from cartback.domain.ports import PasswordHasher, UnitOfWork, UnitOfWorkFactory
from cartback.kit.keys import digest_key
from cartback.services.operators import operator_email

log = structlog.get_logger(__name__)

#: The one answer for an unknown email, a wrong password and a disabled operator.
SIGN_IN_REFUSED = "wrong email or password"


@dataclass(frozen=True, kw_only=True, slots=True)
class SignedIn:
    """
    A session just opened: the token goes into the cookie and is never stored.
    """

    token: str
    session: OperatorSession
    operator: Operator


@dataclass(frozen=True, kw_only=True, slots=True)
class CurrentSession:
    """
    The operator behind a request's cookie, with the session's CSRF token.
    """

    operator: Operator
    session: OperatorSession


def sign_in(
    *,
    uow_factory: UnitOfWorkFactory,
    hasher: PasswordHasher,
    policy: SessionPolicy,
    now: datetime,
    email: str,
    password: str,
) -> SignedIn:
    """
    Check the password and open a session. A hash made with older parameters is replaced.

    Raises:
        Unauthenticated: `SIGN_IN_REFUSED`, the same for every reason, after the same work.
    """
    operator = _find(uow_factory(read_only=True), email)
    password = password[:MAX_PASSWORD_LENGTH]  # bounded work per attempt
    if operator is None:
        hasher.waste(password)  # the time a real verification takes: no enumeration by timing
        raise _refused("unknown")
    if not hasher.verify(operator.password_hash, password):
        raise _refused("mismatch", operator.id)
    if not operator.active:
        raise _refused("disabled", operator.id)
    token = secrets.token_urlsafe(32)
    session = OperatorSession(
        digest=digest_key(token),
        operator_id=operator.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.lifetime,
    )
    operator = replace(operator, last_login_at=now)
    if hasher.needs_rehash(operator.password_hash):
        operator = replace(operator, password_hash=hasher.hash(password))
    with uow_factory() as uow:
        uow.operators.save(operator)
        uow.operators.add_session(session)
        uow.commit()
    log.info("operator.signed_in", operator_id=operator.id)
    return SignedIn(token=token, session=session, operator=operator)


def _find(uow: UnitOfWork, email: str) -> Operator | None:
    try:
        address = operator_email(email)
    except InvalidInput:
        return None  # an unreadable email is an unknown account
    with uow:
        return uow.operators.by_email(address)


def _refused(why: str, operator_id: str | None = None) -> Unauthenticated:
    log.info("operator.sign_in_refused", reason=why, operator_id=operator_id)
    return Unauthenticated(SIGN_IN_REFUSED)


def current_session(
    *, uow_factory: UnitOfWorkFactory, policy: SessionPolicy, now: datetime, token: str
) -> CurrentSession | None:
    """
    The live session behind a cookie's token, or None. An expired or idle session is deleted;
    a live one is marked seen (at most once per `policy.touch_every`, so reading pages does
    not take SQLite's write lock on every request).
    """
    digest = digest_key(token)
    with uow_factory(read_only=True) as uow:
        session = uow.operators.session(digest)
        operator = uow.operators.get(session.operator_id) if session else None
    if session is None:
        return None
    state = session_state(session, policy=policy, now=now)
    if state is not SessionState.LIVE or operator is None or not operator.active:
        _end(uow_factory(), digest)
        log.info("operator.session_ended", operator_id=session.operator_id, reason=state.value)
        return None
    if needs_touch(session, policy=policy, now=now):
        with uow_factory() as uow:
            uow.operators.touch_session(digest, at=now)
            uow.commit()
        session = replace(session, last_seen_at=now)
    return CurrentSession(operator=operator, session=session)


def _end(uow: UnitOfWork, digest: str) -> None:
    with uow:
        uow.operators.delete_session(digest)
        uow.commit()


def sign_out(*, uow: UnitOfWork, token: str) -> None:
    """
    End the session behind a cookie's token on the server (whether or not it still lives).
    """
    _end(uow, digest_key(token))
    log.info("operator.signed_out")
