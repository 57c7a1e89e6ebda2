"""
The dashboard's messages pages (`/admin/stores/{store}/messages`, `.../previews`): the
messages the `outbox` channel kept, one message with its text and rendered email, and every
flow step rendered for an example cart.

An email's HTML carries inline styles the dashboard's CSP forbids, and is content we did not
write by hand (templates, merchant overrides). It is never put into a dashboard page: its own
route serves it with its own CSP (`sandbox`, no scripts, only inline styles and https or data
images) and the page embeds it in an `<iframe sandbox>`. Only the dashboard itself may frame
those routes (`frame-ancestors 'self'`); every other response keeps `frame-ancestors 'none'`.
Recipients' addresses are shown on the message page but never put into URLs or logs.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from cartback.api.admin._guards import not_found, signed_in, to_login
from cartback.api.admin._pages import render
from cartback.api.admin._state import admin_state
from cartback.api.state import app_state
from cartback.domain.consent import Channel
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.ports import MessageFilters
from cartback.domain.touches import TouchStatus
from cartback.services.dashboard_messages import (
    list_messages,
    message_view,
    step_preview,
    step_previews,
)

router = APIRouter(prefix="/admin/stores/{store_id}", include_in_schema=False)

#: What an email's HTML may do inside its frame: show itself with its inline styles and
#: images, nothing else (no scripts, forms, plugins or navigation of the dashboard).
EMAIL_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; sandbox; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
_EMAIL_HEADERS = {
    "Content-Security-Policy": EMAIL_CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "SAMEORIGIN",
}
#: A step number in a URL (flows have a handful of steps).
_STEP = re.compile(r"[0-9]{1,3}")


@router.get("/messages")
def messages_page(request: Request, store_id: str) -> Response:
    """
    The store's messages, newest first, filtered by channel and touch status.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    query = dict(request.query_params)
    container = app_state(request).container
    try:
        page = list_messages(
            uow=container.uow_factory(read_only=True),
            operator=current.operator,
            store_id=store_id,
            filters=_filters(query),
            cursor=query.get("cursor") or None,
        )
    except NotFound:
        return not_found(current)
    except InvalidInput as error:
        return render(
            "error.html", status=400, title="Invalid filter", message=error.detail, current=current
        )
    kept = {k: v for k, v in query.items() if k in {"channel", "status"} and v}
    next_href = f"?{urlencode({**kept, 'cursor': page.next_cursor})}" if page.next_cursor else None
    return render(
        "messages.html",
        title=f"Messages of {page.store.name}",
        current=current,
        store=page.store,
        page=page,
        query=query,
        next_href=next_href,
        channels=[c.value for c in Channel],
        statuses=[s.value for s in TouchStatus],
    )


def _filters(query: dict[str, str]) -> MessageFilters:
    """
    The list's filters from the query string.

    Raises:
        InvalidInput: a value the list does not know.
    """
    channel = query.get("channel") or None
    if channel and channel not in {c.value for c in Channel}:
        raise InvalidInput(f"unknown channel {channel!r}")
    status = query.get("status") or None
    if status and status not in {s.value for s in TouchStatus}:
        raise InvalidInput(f"unknown status {status!r}")
    return MessageFilters(channel=Channel(channel) if channel else None, status=status)


@router.get("/messages/{message_id}")
def message_page(request: Request, store_id: str, message_id: str) -> Response:
    """
    One message: its subject, recipient, touch, text, and its HTML in a sandboxed frame.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    container = app_state(request).container
    try:
        view = message_view(
            uow=container.uow_factory(read_only=True),
            operator=current.operator,
            store_id=store_id,
            message_id=message_id,
        )
    except NotFound:
        return not_found(current)
    return render("message.html", title="Message", current=current, view=view, store=view.store)


@router.get("/messages/{message_id}/html")
def message_html(request: Request, store_id: str, message_id: str) -> Response:
    """
    The message's HTML alone, for the message page's sandboxed frame.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    container = app_state(request).container
    try:
        view = message_view(
            uow=container.uow_factory(read_only=True),
            operator=current.operator,
            store_id=store_id,
            message_id=message_id,
        )
    except NotFound:
        return not_found(current)
    if view.message.html is None:
        return not_found(current)
    return _email_html(view.message.html)


@router.get("/previews")
def previews_page(request: Request, store_id: str) -> Response:
    """
    Every step of the store's flows rendered for an example cart in the store's currency,
    with preview links and example offers (what `cartback preview` writes). Nothing is sent.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    container = app_state(request).container
    try:
        store, flows = step_previews(
            uow_factory=container.uow_factory,
            clock=container.clock,
            operator=current.operator,
            store_id=store_id,
            base_url=admin_state(request).base_url,
        )
    except NotFound:
        return not_found(current)
    return render(
        "previews.html",
        title=f"Previews of {store.name}",
        current=current,
        store=store,
        flows=flows,
    )


@router.get("/previews/{flow}/{step}/html")
def preview_html(request: Request, store_id: str, flow: str, step: str) -> Response:
    """
    One step's rendered HTML alone, for the previews page's sandboxed frames.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    container = app_state(request).container
    try:
        if not _STEP.fullmatch(step):
            raise NotFound("no such step")
        shown = step_preview(
            uow_factory=container.uow_factory,
            clock=container.clock,
            operator=current.operator,
            store_id=store_id,
            flow=flow,
            step=int(step),
            base_url=admin_state(request).base_url,
        )
    except NotFound:
        return not_found(current)
    if shown.rendered.html is None:
        return not_found(current)
    return _email_html(shown.rendered.html)


def _email_html(html: str) -> Response:
    """
    An email's HTML with the CSP that sandboxes it (`AdminHeaders` keeps a page's own CSP
    and frame options, and adds the rest).
    """
    return HTMLResponse(html, headers=_EMAIL_HEADERS)
