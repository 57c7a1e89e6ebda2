"""
Three read-only dashboard pages of a store, HTML for people:

- `/admin/stores/{id}/consent`: the consent ledger, newest first, in keyset pages of 50,
  filtered by channel (`email`, `sms`), kind (`grant`, `withdraw`) and contact id. Contacts
  appear by id only, with the evidence the ledger keeps; no email or phone.
- `/admin/stores/{id}/audiences`: the audience definitions with their current contacts and
  visitors and what each ad network holds of them.
- `/admin/stores/{id}/feeds`: the feed URLs, the catalog's version, items left out and why,
  and the consistency check of the carts abandoned in the last 7 days.

Sign-in and scoping are the dashboard's own (`routes.py`): no session goes to the sign-in
page; a store the operator may not see answers the same 404 as one that does not exist; a
filter value the page does not know answers a 400 page.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from cartback.api.admin._guards import not_found, signed_in, to_login
from cartback.api.admin._pages import render
from cartback.api.admin._state import admin_state
from cartback.api.state import app_state
from cartback.domain.consent import Channel
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.store_pages import LedgerFilters
from cartback.services.operator_sessions import CurrentSession
from cartback.services.store_pages import (
    CHECK_PERIOD,
    audiences_overview,
    consent_log,
    feeds_health,
)

router = APIRouter(prefix="/admin", include_in_schema=False)

#: The ledger's entry kinds, as the filter names them.
KINDS = {"grant": True, "withdraw": False}
#: What a contact id can look like (`co_` and 21 base32 characters, or an older form).
_CONTACT_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _invalid(current: CurrentSession, message: str) -> Response:
    return render(
        "error.html", status=400, title="Invalid filter", message=message, current=current
    )


@router.get("/stores/{store_id}/consent")
def consent_page(request: Request, store_id: str) -> Response:
    """
    A store's consent ledger, newest first: when, the contact's id, channel, purpose, grant
    or withdrawal, and the evidence (the words shown, their version and language, the
    source, the client's address and browser, when it was recorded and last confirmed).
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    query = dict(request.query_params)
    container = app_state(request).container
    try:
        filters = _ledger_filters(query)
        log = consent_log(
            uow=container.uow_factory(read_only=True),
            operator=current.operator,
            store_id=store_id,
            filters=filters,
            cursor=query.get("cursor") or None,
        )
    except NotFound:
        return not_found(current)
    except InvalidInput as error:
        return _invalid(current, error.detail)
    kept = {k: v for k, v in query.items() if k != "cursor" and v}
    next_href = f"?{urlencode({**kept, 'cursor': log.next_cursor})}" if log.next_cursor else None
    return render(
        "consent.html",
        title=f"Consent log of {log.store.name}",
        current=current,
        store=log.store,
        log=log,
        query=query,
        next_href=next_href,
        channels=[c.value for c in Channel],
    )


def _ledger_filters(query: dict[str, str]) -> LedgerFilters:
    """
    The log's filters from the query string.

    Raises:
        InvalidInput: a value the log does not know.
    """
    channel = query.get("channel") or None
    if channel and channel not in {c.value for c in Channel}:
        raise InvalidInput(f"unknown channel {channel!r}")
    kind = query.get("kind") or None
    if kind and kind not in KINDS:
        raise InvalidInput("kind must be grant or withdraw")
    contact = (query.get("contact") or "").strip()
    if contact and not _CONTACT_ID.fullmatch(contact):
        raise InvalidInput("contact must be a contact id (such as co_…)")
    return LedgerFilters(
        channel=Channel(channel) if channel else None,
        granted=KINDS[kind] if kind else None,
        contact_id=contact or None,
    )


@router.get("/stores/{store_id}/audiences")
def audiences_page(request: Request, store_id: str) -> Response:
    """
    A store's audiences (its applied file, else the built-ins): stages, window, whether
    visitors without a contact enter, enabled; current contacts and visitors; and per ad
    network the identifiers held there, removed since, and the latest change.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    container = app_state(request).container
    try:
        overview = audiences_overview(
            uow=container.uow_factory(read_only=True),
            operator=current.operator,
            store_id=store_id,
            now=container.clock.now(),
        )
    except NotFound:
        return not_found(current)
    return render(
        "audiences.html",
        title=f"Audiences of {overview.store.name}",
        current=current,
        store=overview.store,
        overview=overview,
    )


@router.get("/stores/{store_id}/feeds")
def feeds_page(request: Request, store_id: str) -> Response:
    """
    A store's product feeds: their URLs, item count, items left out and why, the newest
    update and stock read, and how the lines of carts abandoned in the last 7 days differ
    from the feed (the same check as `GET /v1/feeds/check`).
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    container = app_state(request).container
    try:
        health = feeds_health(
            uow=container.uow_factory(read_only=True),
            operator=current.operator,
            store_id=store_id,
            now=container.clock.now(),
        )
    except NotFound:
        return not_found(current)
    return render(
        "feeds.html",
        title=f"Feeds of {health.store.name}",
        current=current,
        store=health.store,
        health=health,
        urls=_feed_urls(request, health.store.id),
        check_days=CHECK_PERIOD.days,
    )


def _feed_urls(request: Request, store_id: str) -> dict[str, str]:
    """
    The feeds' public URLs, on the configured base URL (what the networks are given).
    """
    base = admin_state(request).base_url.rstrip("/")
    return {name: f"{base}/feeds/{store_id}/{name}" for name in ("google.xml", "meta.csv")}
