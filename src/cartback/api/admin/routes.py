"""
The dashboard's routes (`/admin`), HTML for people, never problem documents.

- Sign-in: `GET/POST /admin/login`, `POST /admin/logout`. The session cookie
  (`cartback_session`) carries a random token, `HttpOnly; SameSite=Strict; Path=/admin`, and
  `Secure` over https or in production; the server keeps only its digest (services/
  operator_sessions.py), so signing out ends it everywhere.
- CSRF: every form carries the session's token in a hidden field, checked on every POST, and
  a foreign `Origin`/`Referer` is refused; a refusal is a 403 page and changes nothing. The
  sign-in form, which has no session yet, pairs its field with a short-lived cookie
  (double submit).
- Pages: the store picker, a store's overview (the measurement report with charts, from its
  snapshot, with "Refresh now"), its carts, a cart's timeline. A store the operator may not
  see answers 404, exactly like a store that does not exist.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from cartback.api.admin._guards import (
    PATH,
    SESSION_COOKIE,
    checked_post,
    not_found,
    read_form,
    refused,
    same_token,
    signed_in,
    to_login,
)
from cartback.api.admin._pages import STATIC, render, serve_static
from cartback.api.admin._state import AdminState, admin_state
from cartback.api.ratelimit import retry_after_seconds
from cartback.api.state import app_state
from cartback.domain.cart import CartStatus
from cartback.domain.errors import InvalidInput, NotFound, Unauthenticated
from cartback.domain.events import Stage
from cartback.domain.ports import CartFilters
from cartback.kit.charts import report_charts
from cartback.services.dashboard import cart_timeline, list_carts, visible_stores
from cartback.services.dashboard_overview import refresh_overview, store_overview
from cartback.services.operator_sessions import (
    SIGN_IN_REFUSED,
    sign_in,
    sign_out,
)

router = APIRouter(prefix="/admin", include_in_schema=False)

LOGIN_COOKIE = "cartback_login"
#: The sign-in form's own token lives this long (the time to type a password).
LOGIN_FORM_AGE = 30 * 60


@router.get("/static/{name}")
def admin_static(request: Request, name: str) -> Response:
    """
    The dashboard's CSS and the vendored htmx, from the package itself (works offline).
    """
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    return serve_static(request, name)


@router.get("")
def admin_home(request: Request) -> Response:
    """
    The dashboard's entry: the store picker (or the sign-in page).
    """
    return RedirectResponse("/admin/stores", status_code=303)


@router.get("/login")
def login_form(request: Request) -> Response:
    """
    The sign-in form, with a fresh form token paired to a short-lived cookie.
    """
    return _login_page(request, admin_state(request))


def _login_page(
    request: Request, state: AdminState, *, status: int = 200, notice: str | None = None
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render("login.html", status=status, title="Sign in", form_token=token, notice=notice)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_FORM_AGE,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=state.secure(request),
    )
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    """
    Check the email and password and open a session. Unknown email, wrong password and
    disabled operator get the same page after the same work; repeated attempts are throttled
    per client address and per address-and-email.
    """
    state = admin_state(request)
    form = await read_form(request)
    if form is None:
        return refused("The form is not valid.")
    if not state.same_origin(request) or not same_token(
        form.get("csrf_token"), request.cookies.get(LOGIN_COOKIE)
    ):
        return refused("The sign-in form expired or came from another site. Reload it.")
    email = form.get("email", "").strip().lower()
    wait = _throttle(state, request, email)
    if wait:
        notice = "Too many attempts. Wait a few minutes and try again."
        response = _login_page(request, state, status=429, notice=notice)
        response.headers["Retry-After"] = str(retry_after_seconds(wait))
        return response
    container = app_state(request).container
    try:
        signed = await run_in_threadpool(
            sign_in,
            uow_factory=container.uow_factory,
            hasher=state.hasher,
            policy=state.policy,
            now=container.clock.now(),
            email=email,
            password=form.get("password", ""),
        )
    except Unauthenticated:
        return _login_page(request, state, status=401, notice=SIGN_IN_REFUSED.capitalize() + ".")
    response = RedirectResponse("/admin/stores", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        max_age=int(state.policy.lifetime.total_seconds()),
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=state.secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=PATH)
    return response


def _throttle(state: AdminState, request: Request, email: str) -> float:
    address = request.client.host if request.client else "unknown"
    return max(
        state.per_address.acquire(address),
        state.per_email.acquire(f"{address} {email}"),
    )


@router.post("/logout")
async def logout(request: Request) -> Response:
    """
    End the session on the server and forget the cookie.
    """
    checked = await checked_post(request)
    if isinstance(checked, Response):
        return checked
    container = app_state(request).container
    await run_in_threadpool(
        sign_out, uow=container.uow_factory(), token=request.cookies[SESSION_COOKIE]
    )
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PATH)
    return response


@router.get("/stores")
def stores_page(request: Request) -> Response:
    """
    The stores the operator may see.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    container = app_state(request).container
    stores = visible_stores(uow=container.uow_factory(read_only=True), operator=current.operator)
    return render("stores.html", title="Stores", current=current, stores=stores)


@router.get("/stores/{store_id}")
def overview_page(request: Request, store_id: str) -> Response:
    """
    A store's overview for a period of days (`from`, `to`, both included, the store's time
    zone; default the last 30 days): KPIs, the funnel, recovered revenue per day, the holdout
    per flow, the reasons touches did not go, and open health alerts. The numbers are
    `build_report`'s, the same as `GET /v1/reports/summary`; the default period's are its
    stored snapshot (`services.report_snapshots`), as of the time the page shows.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    container = app_state(request).container
    try:
        first, last = (_period_day(request, name) for name in ("from", "to"))
        overview = store_overview(
            uow_factory=container.uow_factory,
            clock=container.clock,
            operator=current.operator,
            store_id=store_id,
            first_day=first,
            last_day=last,
        )
    except NotFound:
        return not_found(current)
    except InvalidInput as error:
        return render(
            "error.html", status=400, title="Invalid period", message=error.detail, current=current
        )
    return render(
        "overview.html",
        title=f"Overview of {overview.store.name}",
        current=current,
        overview=overview,
        report=overview.report,
        charts=report_charts(overview.report),
        holdout_rows=_holdout_rows(overview.report),
        reasons=_reasons(overview.report),
        refresh_every=_interval_text(container.settings.report_snapshot_every),
    )


@router.post("/stores/{store_id}/refresh")
async def refresh_overview_page(request: Request, store_id: str) -> Response:
    """
    "Refresh now": recompute the store's overview snapshot, then back to the overview.
    """
    checked = await checked_post(request)
    if isinstance(checked, Response):
        return checked
    current, _ = checked
    container = app_state(request).container
    try:
        await run_in_threadpool(
            refresh_overview,
            uow_factory=container.uow_factory,
            clock=container.clock,
            operator=current.operator,
            store_id=store_id,
        )
    except NotFound:
        return not_found(current)
    return RedirectResponse(f"/admin/stores/{store_id}", status_code=303)


def _interval_text(every: timedelta) -> str:
    """
    The refresh interval as the page says it ("10 minutes", "1 minute", "30 seconds").
    """
    seconds = int(every.total_seconds())
    if seconds % 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{seconds // 60} minute{'s' if seconds != 60 else ''}"


def _holdout_rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = [("all flows", report["holdout"])]
    return rows + [(flow["flow"], flow["holdout"]) for flow in report["by_flow"]]


def _reasons(report: dict[str, Any]) -> list[tuple[str, str, int]]:
    """
    Touches of the period's carts that did not go, by status and reason.
    """
    return [
        (status, reason, count)
        for status in ("skipped", "deferred", "cancelled")
        for reason, count in report[status].items()
    ]


def _period_day(request: Request, name: str) -> date | None:
    """
    One end of the overview's period from the query string.

    Raises:
        InvalidInput: not a day, or a year far from any cart.
    """
    day = _day(request.query_params.get(name), name)
    if day is not None and not 1970 <= day.year <= 9000:
        raise InvalidInput(f"{name} is out of range (1970 to 9000)")
    return day.date() if day else None


@router.get("/stores/{store_id}/carts")
def carts_page(request: Request, store_id: str) -> Response:
    """
    A store's carts, newest first, filtered by status, stage, abandonment dates and contact.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    query = dict(request.query_params)
    container = app_state(request).container
    try:
        filters = _filters(query)
        page = list_carts(
            uow=container.uow_factory(read_only=True),
            operator=current.operator,
            store_id=store_id,
            filters=filters,
            cursor=query.get("cursor") or None,
        )
    except NotFound:
        return not_found(current)
    except InvalidInput as error:
        return render(
            "error.html", status=400, title="Invalid filter", message=error.detail, current=current
        )
    kept = {k: v for k, v in query.items() if k != "cursor" and v}
    next_href = f"?{urlencode({**kept, 'cursor': page.next_cursor})}" if page.next_cursor else None
    return render(
        "carts.html",
        title=f"Carts of {page.store.name}",
        current=current,
        store=page.store,
        page=page,
        query=query,
        next_href=next_href,
        statuses=[s.value for s in CartStatus],
        stages=[s.value for s in Stage],
    )


def _filters(query: dict[str, str]) -> CartFilters:
    """
    The list's filters from the query string.

    Raises:
        InvalidInput: a value the list does not know.
    """
    status = query.get("status") or None
    if status and status not in {s.value for s in CartStatus}:
        raise InvalidInput(f"unknown status {status!r}")
    stage = query.get("stage") or None
    if stage and stage not in {s.value for s in Stage}:
        raise InvalidInput(f"unknown stage {stage!r}")
    contact = query.get("contact") or ""
    if contact not in {"", "yes", "no"}:
        raise InvalidInput("contact must be yes or no")
    start = _day(query.get("abandoned_from"), "abandoned_from")
    end = _day(query.get("abandoned_to"), "abandoned_to")
    return CartFilters(
        status=status,
        stage=stage,
        abandoned_from=start,
        # The last day is included: up to the start of the next one.
        abandoned_to=end + timedelta(days=1) if end else None,
        has_contact={"yes": True, "no": False}.get(contact),
    )


def _day(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD)") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@router.get("/stores/{store_id}/carts/{cart_id}")
def cart_page(request: Request, store_id: str, cart_id: str) -> Response:
    """
    One cart's timeline: events, enrollments, touches (status, reason, sent, delivered,
    clicked), offers and the order.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    container = app_state(request).container
    try:
        timeline = cart_timeline(
            uow=container.uow_factory(read_only=True),
            operator=current.operator,
            store_id=store_id,
            cart_id=cart_id,
        )
    except NotFound:
        return not_found(current)
    context: dict[str, Any] = {"current": current, "timeline": timeline}
    return render("cart.html", title=f"Cart {timeline.record.cart.key}", **context)
