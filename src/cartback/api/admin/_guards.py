"""
What every dashboard page checks before it answers: the operator's session (else the sign-in
page), the posted form (bounded), the CSRF token compared in constant time; and the two
refusals (403, and 404 for a store the operator may not see, exactly as for one that does not
exist).
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cartback.api.admin._pages import render
from cartback.api.admin._state import admin_state
from cartback.api.routes.ingest import read_body
from cartback.api.state import app_state
from cartback.domain.errors import InvalidInput, PayloadTooLarge
from cartback.services.operator_sessions import CurrentSession, current_session

SESSION_COOKIE = "cartback_session"
#: A form of a few short fields; anything larger is not one of ours.
MAX_FORM_BYTES = 16 * 1024
PATH = "/admin"


def signed_in(request: Request) -> CurrentSession | None:
    """
    The operator's live session, or None (no cookie, unknown, expired or ended).
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    container = app_state(request).container
    return current_session(
        uow_factory=container.uow_factory,
        policy=admin_state(request).policy,
        now=container.clock.now(),
        token=token,
    )


def to_login(request: Request) -> Response:
    """
    To the sign-in page, clearing a session cookie that no longer works.
    """
    response = RedirectResponse("/admin/login", status_code=303)
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path=PATH)
    return response


def refused(reason: str) -> Response:
    """
    403: a form without the right CSRF token or from another origin; nothing changed.
    """
    return render("error.html", status=403, title="Request refused", message=reason)


def not_found(current: CurrentSession) -> Response:
    """
    404, the same for a store that does not exist and one the operator may not see.
    """
    return render(
        "error.html",
        status=404,
        title="Not found",
        message="There is no such page, or it belongs to a store you may not see.",
        current=current,
    )


async def read_form(request: Request) -> dict[str, str] | None:
    """
    The posted urlencoded form (last value wins), or None when it is too large to be ours.
    """
    try:
        body = await read_body(request, limit=MAX_FORM_BYTES)
    except (PayloadTooLarge, InvalidInput):
        return None
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def same_token(given: str | None, expected: str | None) -> bool:
    """
    Both present and equal, compared in constant time.
    """
    return bool(given and expected) and hmac.compare_digest(str(given), str(expected))


async def checked_post(request: Request) -> tuple[CurrentSession, dict[str, str]] | Response:
    """
    The operator and the posted form, or the answer that refuses it: to the sign-in page
    without a session, 403 for a foreign origin or a missing or wrong CSRF token.
    """
    state = admin_state(request)
    form = await read_form(request)
    current = await run_in_threadpool(signed_in, request)
    if current is None:
        return to_login(request)
    if form is None or not state.same_origin(request):
        return refused("The request came from another site.")
    if not same_token(form.get("csrf_token"), current.session.csrf_token):
        return refused("The form expired. Reload the page and try again.")
    return current, form
