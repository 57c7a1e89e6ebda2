"""
Audience definitions over HTTP (server key): the same as `cartback audiences apply/list`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from cartback.api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.routes.flows import _PUT_BODY, _invalid, _text
from cartback.api.routes.ingest import read_body
from cartback.api.state import app_state
from cartback.domain.audiences import AudiencesInvalid
from cartback.domain.flows import MAX_TEXT
from cartback.services.audiences import (
    AudienceListing,
    AudienceView,
    apply_audiences,
    audience_definitions,
)

router = APIRouter(tags=["audiences"], responses=PROBLEM_RESPONSES)


class AudiencePublic(BaseModel):
    """
    One audience, as parsed: what enters it (`stages`, `handed_over`, `when`), whether
    anonymous visitors enter, how long membership lasts, and its offer (values as decimal
    strings).
    """

    name: str
    version: int
    enabled: bool
    stages: list[str]
    window: str
    when: str | None
    anonymous: bool
    handed_over: bool
    offer: dict[str, Any] | None


class AudiencesPublic(BaseModel):
    """
    A store's audiences by name. `origin` is `applied` (its own file, `version` counting its
    applies) or `defaults` (none applied: the built-ins are filled, version 0).
    """

    origin: str
    version: int
    data: list[AudiencePublic]
    count: int


def _audience(view: AudienceView) -> AudiencePublic:
    definition = view.definition
    return AudiencePublic(
        name=view.name,
        version=view.version,
        enabled=view.enabled,
        stages=definition["stages"],
        window=definition["window"],
        when=definition["when"],
        anonymous=definition["anonymous"],
        handed_over=definition["handed_over"],
        offer=definition["offer"],
    )


def _audiences(listing: AudienceListing) -> AudiencesPublic:
    data = [_audience(view) for view in listing.audiences]
    return AudiencesPublic(
        origin=listing.origin, version=listing.version, data=data, count=len(data)
    )


@router.get("/v1/audiences", response_model=AudiencesPublic, summary="List the store's audiences")
def read_audiences(principal: ServerPrincipal, request: Request) -> AudiencesPublic:
    """
    The store's audience definitions, or the built-ins while it has applied none.
    """
    state = app_state(request)
    uow = state.container.uow_factory(read_only=True)
    return _audiences(audience_definitions(uow, principal.store.id))


@router.put(
    "/v1/audiences",
    response_model=AudiencesPublic,
    summary="Replace the store's audiences",
    openapi_extra=_PUT_BODY,
    responses={
        415: {
            "description": "Unsupported media type",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    },
)
async def put_audiences(principal: ServerPrincipal, request: Request) -> Any:
    """
    Validate an audiences file and make it the store's audiences, all at once. The body is the
    YAML text (`text/yaml`) or JSON `{"yaml": "..."}`, at most 256 KB, as for `PUT /v1/flows`.
    An invalid file answers 400 with every error, each with its `line` and `column`, and
    changes nothing.
    """
    state = app_state(request)
    text = _text(request.headers.get("content-type", ""), await read_body(request, limit=MAX_TEXT))
    try:
        listing = await run_in_threadpool(
            apply_audiences,
            uow=state.container.uow_factory(),
            clock=state.container.clock,
            store_id=principal.store.id,
            text=text,
        )
    except AudiencesInvalid as error:
        return _invalid(error)
    return _audiences(listing)
