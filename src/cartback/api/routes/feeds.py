"""
Product feeds over HTTP (`contract.md` §5.6). The feeds are public, as Google Merchant Center
and Meta fetch them without our keys: they hold only what the shop's own pages show (never the
merchant's cost). Both stream, and answer 304 to a poller whose copy is current. The feed
consistency check (`/v1/feeds/check`) needs the store's server key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.routes.static import matches
from cartback.api.state import app_state
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.feeds import Mismatch
from cartback.services.feeds import FeedState, check_feed, feed_state, google_feed, meta_feed

router = APIRouter(tags=["feeds"], responses=PROBLEM_RESPONSES)

#: Networks fetch a few times a day; a minute's cache spares a burst, the ETag does the rest.
CACHE_CONTROL = "public, max-age=60"
#: How many catalog items the feed leaves out (no title, link or price; an id over 50 chars).
LEFT_OUT_HEADER = "X-Feed-Items-Left-Out"


def _feed_response(
    request: Request,
    store_id: str,
    kind: str,
    media_type: str,
    body: Callable[..., Iterator[bytes]],
) -> Response:
    if "\x00" in store_id:
        raise NotFound(f"no store {store_id!r}")  # PostgreSQL refuses NUL in a parameter
    container = app_state(request).container
    state = feed_state(uow=container.uow_factory(read_only=True), store_id=store_id)
    headers = {
        "ETag": state.etag(kind),
        "Last-Modified": format_datetime(state.last_modified, usegmt=True),
        "Cache-Control": CACHE_CONTROL,
        LEFT_OUT_HEADER: str(state.version.left_out),
        "X-Content-Type-Options": "nosniff",
    }
    if _not_modified(request, state, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return StreamingResponse(body(state, container), media_type=media_type, headers=headers)


def _not_modified(request: Request, state: FeedState, etag: str) -> bool:
    """
    RFC 9110 §13.2.2: If-None-Match decides when present; else If-Modified-Since, at the
    one-second precision HTTP dates have.
    """
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return matches(if_none_match, etag)
    since = _http_date(request.headers.get("if-modified-since"))
    return since is not None and state.last_modified.replace(microsecond=0) <= since


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # an unreadable date is ignored (RFC 9110 §13.1.3)
    return moment if moment.utcoffset() is not None else None


_NOT_MODIFIED: dict[str, Any] = {"description": "The poller's copy is current."}


@router.get(
    "/feeds/{store_id}/google.xml",
    summary="Google Merchant Center product feed",
    response_class=Response,
    responses={
        200: {"content": {"application/xml": {}}, "description": "RSS 2.0 with `g:` items."},
        304: _NOT_MODIFIED,
    },
)
def google_xml(store_id: str, request: Request) -> Response:
    """
    The store's catalog as an RSS 2.0 feed in Google's `g:` namespace: one `<item>` per
    variant (`g:id` the variant id, else the product id; `g:item_group_id` the product),
    with title, description, link, image, price (`15.00 USD`), sale price, availability
    (`in_stock`, `out_of_stock`, `preorder`, `backorder`), condition and identifiers. Items
    without a title, link or price are left out and counted in `X-Feed-Items-Left-Out`.
    """
    home = str(request.base_url)
    return _feed_response(
        request,
        store_id,
        "google",
        "application/xml",
        lambda state, container: google_feed(
            uow_factory=container.uow_factory, store=state.store, home=home
        ),
    )


@router.get(
    "/feeds/{store_id}/meta.csv",
    summary="Meta catalog product feed",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "Meta's catalog columns."},
        304: _NOT_MODIFIED,
    },
)
def meta_csv(store_id: str, request: Request) -> Response:
    """
    The store's catalog as a Meta catalog CSV: `id, title, description, availability`
    (`in stock`, `out of stock`, `preorder`, `available for order`), `condition, price,
    sale_price, link, image_link, brand, gtin, mpn, item_group_id`. The same items as the
    Google feed.
    """
    return _feed_response(
        request,
        store_id,
        "meta",
        "text/csv; charset=utf-8",
        lambda state, container: meta_feed(uow_factory=container.uow_factory, store=state.store),
    )


class MismatchPublic(BaseModel):
    """
    One way an abandoned cart's line differs from the feed: `missing` (not in the catalog),
    `id` (known under another id), `title`, `image`, or `not_in_feed` (left out: `feed_value`
    says why).
    """

    cart_id: str
    line: int
    item_id: str
    kind: str
    cart_value: str | None
    feed_value: str | None


class MismatchesPublic(BaseModel):
    """
    The mismatches found, and how many.
    """

    data: list[MismatchPublic]
    count: int


@router.get("/v1/feeds/check", response_model=MismatchesPublic, summary="Check the feed")
def check(
    principal: ServerPrincipal,
    request: Request,
    since: Annotated[datetime, Query(description="Carts abandoned since (with a time zone).")],
) -> MismatchesPublic:
    """
    Every line of the carts abandoned since `since` should have a feed entry with its id,
    title and image, so ads show the products the shopper left; the differences found.
    """
    state = app_state(request)
    found = check_feed(
        uow=state.container.uow_factory(read_only=True),
        store_id=principal.store.id,
        since=_since(since),
    )
    data = [_public(m) for m in found]
    return MismatchesPublic(data=data, count=len(data))


def _since(since: datetime) -> datetime:
    if since.utcoffset() is None:
        raise InvalidInput("`since` needs a time zone, e.g. 2026-11-27T10:00:00Z")
    try:
        return since.astimezone(UTC)
    except OverflowError:
        raise InvalidInput("`since` is out of range") from None


def _public(mismatch: Mismatch) -> MismatchPublic:
    return MismatchPublic(
        cart_id=mismatch.cart_id,
        line=mismatch.line,
        item_id=mismatch.item_id,
        kind=mismatch.kind.value,
        cart_value=mismatch.cart_value,
        feed_value=mismatch.feed_value,
    )
