"""
What the store's sources sent that Cartback did not understand (server key).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.state import app_state
from cartback.domain.errors import FieldError, InvalidInput
from cartback.domain.ports import UnmappedEvent
from cartback.services.sources import (
    DEFAULT_LIMIT,
    MAX_NAME,
    event_aliases,
    list_unmapped,
    set_event_alias,
)
from cartback.services.stores import get_store
from cartback.sources.segment import alias_target, event_key

router = APIRouter(tags=["sources"], responses=PROBLEM_RESPONSES)


class UnmappedEventPublic(BaseModel):
    """
    A track event name nothing maps, with how often and when it arrived.
    """

    name: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime


class UnmappedEventsPublic(BaseModel):
    """
    The store's unmapped event names, most recently seen first.
    """

    data: list[UnmappedEventPublic]
    count: int


def _public(event: UnmappedEvent) -> UnmappedEventPublic:
    return UnmappedEventPublic(
        name=event.name,
        count=event.count,
        first_seen_at=event.first_seen_at,
        last_seen_at=event.last_seen_at,
    )


@router.get(
    "/v1/sources/unmapped",
    response_model=UnmappedEventsPublic,
    summary="List event names nothing maps",
)
def read_unmapped(
    principal: ServerPrincipal,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = DEFAULT_LIMIT,
) -> UnmappedEventsPublic:
    """
    Track event names this store sent that Cartback does not translate (a misspelt
    `Prodct Added`, a tag manager's own `addToBasket`), counted since they first arrived and
    ordered by when they were last seen. Map them in the sender, or with an alias
    (`PUT /v1/sources/aliases/{name}`), and they stop growing.
    """
    state = app_state(request)
    events = list_unmapped(
        uow=state.container.uow_factory(read_only=True), store_id=principal.store.id, limit=limit
    )
    data = [_public(e) for e in events]
    return UnmappedEventsPublic(data=data, count=len(data))


class AliasPublic(BaseModel):
    """
    One of the store's event names and the Cartback event it stands for, both as matched
    (lower case, underscores as spaces).
    """

    name: str
    event: str


class AliasesPublic(BaseModel):
    """
    The store's event aliases, by name.
    """

    data: list[AliasPublic]
    count: int


class AliasIn(BaseModel):
    """
    The Cartback event a name stands for (`Product Added`, `Checkout Started`, …).
    """

    model_config = ConfigDict(extra="forbid")
    event: str = Field(min_length=1, max_length=MAX_NAME)


AliasName = Annotated[str, Path(min_length=1, max_length=MAX_NAME)]


def _aliases(aliases: dict[str, str]) -> AliasesPublic:
    data = [AliasPublic(name=k, event=v) for k, v in sorted(aliases.items())]
    return AliasesPublic(data=data, count=len(data))


@router.get("/v1/sources/aliases", response_model=AliasesPublic, summary="List event aliases")
def read_aliases(principal: ServerPrincipal, request: Request) -> AliasesPublic:
    """
    The store's own event names that Cartback reads as its e-commerce events.
    """
    uow = app_state(request).container.uow_factory(read_only=True)
    return _aliases(event_aliases(get_store(uow=uow, store_id=principal.store.id)))


@router.put("/v1/sources/aliases/{name}", response_model=AliasesPublic, summary="Map an event name")
def put_alias(
    name: AliasName, body: AliasIn, principal: ServerPrincipal, request: Request
) -> AliasesPublic:
    """
    Read the store's track events called `name` (any case; underscores count as spaces) as
    the Cartback event `event`, from any sender, within half a minute. Answers every alias.
    """
    try:
        target = alias_target(body.event)
    except ValueError as error:
        errors = [FieldError(path="event", message=str(error))]
        raise InvalidInput("unknown event", errors=errors) from None
    state = app_state(request)
    aliases = set_event_alias(
        uow=state.container.uow_factory(),
        clock=state.container.clock,
        store_id=principal.store.id,
        name=_name(name),
        target=target,
    )
    state.authenticator.forget()  # this process reads the new aliases from the next request
    return _aliases(aliases)


@router.delete(
    "/v1/sources/aliases/{name}", status_code=204, response_class=Response, summary="Unmap"
)
def delete_alias(name: AliasName, principal: ServerPrincipal, request: Request) -> Response:
    """
    Stop reading `name` as a Cartback event; 404 if it was not mapped.
    """
    state = app_state(request)
    set_event_alias(
        uow=state.container.uow_factory(),
        clock=state.container.clock,
        store_id=principal.store.id,
        name=_name(name),
        target=None,
    )
    state.authenticator.forget()
    return Response(status_code=204)


def _name(raw: str) -> str:
    name = event_key(raw)
    if not name:
        errors = [FieldError(path="name", message="must not be blank")]
        raise InvalidInput("invalid alias", errors=errors)
    return name
