"""
The read API for carts (`contract.md` §5.5). Server keys only; another store's cart is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cartback.api.auth import key_from_headers, require_server_key
from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.schemas import CartPublic, CartsPublic, cart_public
from cartback.api.state import app_state
from cartback.domain.cart import CartStatus
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.stores import Principal
from cartback.kit.normalise import normalise_email
from cartback.services.carts import get_cart, list_carts
from cartback.services.messages import cart_touches

router = APIRouter(tags=["carts"], responses=PROBLEM_RESPONSES)


def server_principal(request: Request) -> Principal:
    """
    The store behind the request's server key.
    """
    state = app_state(request)
    return require_server_key(state.authenticator.resolve(key_from_headers(request)))


ServerPrincipal = Annotated[Principal, Depends(server_principal)]


@router.get("/v1/carts/{cart_id}", response_model=CartPublic, summary="Read one cart")
def read_cart(cart_id: str, principal: ServerPrincipal, request: Request) -> CartPublic:
    """
    A cart by the platform's cart id (Segment `properties.cart_id`, Shopify `cart_token`, ...):
    items, totals, stage, status, contact and touches.
    """
    if "\x00" in cart_id:
        # No cart id holds NUL, and PostgreSQL refuses it in a query parameter.
        raise NotFound(f"no cart {cart_id!r} in this store")
    state = app_state(request)
    view = get_cart(
        uow=state.container.uow_factory(read_only=True),
        store_id=principal.store.id,
        cart_key=cart_id,
    )
    touches = cart_touches(
        uow=state.container.uow_factory(read_only=True),
        store_id=principal.store.id,
        cart_key=cart_id,
    )
    return cart_public(view, touches)


def _utc(since: datetime) -> datetime:
    if since.utcoffset() is None:
        raise InvalidInput("`since` needs a time zone, e.g. 2026-11-27T10:00:00Z")
    try:
        return since.astimezone(UTC)
    except OverflowError:
        raise InvalidInput("`since` is out of range") from None


@router.get("/v1/carts", response_model=CartsPublic, summary="List carts")
def read_carts(
    principal: ServerPrincipal,
    request: Request,
    status: CartStatus | None = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> CartsPublic:
    """
    The store's carts, newest first, filtered by status, contact email or creation time.
    """
    if since is not None:
        since = _utc(since)
    normalised = None
    if email:
        try:
            normalised = normalise_email(email)
        except ValueError as error:
            raise InvalidInput(f"`email` is not an email address: {error}") from None
    state = app_state(request)
    views, next_cursor = list_carts(
        uow=state.container.uow_factory(read_only=True),
        store_id=principal.store.id,
        status=status.value if status else None,
        email=normalised,
        since=since,
        limit=limit,
        cursor=cursor,
    )
    data = [cart_public(v, list(v.touches)) for v in views]
    return CartsPublic(data=data, count=len(data), next_cursor=next_cursor)
