"""
Flow definitions over HTTP (server key), for the dashboard: the same as `cartback flows
apply/list` (`contract.md` §3, §7).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from cartback.api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_RESPONSES, PROBLEM_TYPE_BASE
from cartback.api.responses import JsonResponse
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.routes.ingest import read_body
from cartback.api.state import app_state
from cartback.domain.errors import InvalidInput
from cartback.domain.flows import MAX_TEXT, FlowsInvalid
from cartback.domain.simulation_report import report_json
from cartback.services.flows import FlowListing, FlowView, apply_flows, get_flow, list_flows
from cartback.services.simulation import MAX_DAYS, MIN_DAYS, simulate_flows

router = APIRouter(tags=["flows"], responses=PROBLEM_RESPONSES)

YAML_TYPES = frozenset({"text/yaml", "application/yaml", "application/x-yaml", "text/x-yaml"})


class FlowPublic(BaseModel):
    """
    One flow, as parsed: trigger, audience, holdout, priority, exit conditions and steps
    (durations as written in flow files, offer values as decimal strings).
    """

    name: str
    version: int
    priority: int
    enabled: bool
    trigger: dict[str, Any]
    audience: str | None
    holdout: float
    exit_on: list[str]
    steps: list[dict[str, Any]]


class FlowsPublic(BaseModel):
    """
    A store's flows, highest priority first. `origin` is `applied` (its own file, `version`
    counting its applies) or `defaults` (none applied: the shipped flows run, version 0).
    """

    origin: str
    version: int
    data: list[FlowPublic]
    count: int
    defaults: dict[str, Any]


def _flow(view: FlowView) -> FlowPublic:
    definition = view.definition
    return FlowPublic(
        name=view.name,
        version=view.version,
        priority=view.priority,
        enabled=view.enabled,
        trigger=definition["trigger"],
        audience=definition["audience"],
        holdout=definition["holdout"],
        exit_on=definition["exit_on"],
        steps=definition["steps"],
    )


def _flows(listing: FlowListing) -> FlowsPublic:
    data = [_flow(view) for view in listing.flows]
    return FlowsPublic(
        origin=listing.origin,
        version=listing.version,
        data=data,
        count=len(data),
        defaults=dict(listing.defaults),
    )


@router.get("/v1/flows", response_model=FlowsPublic, summary="List the store's flows")
def read_flows(principal: ServerPrincipal, request: Request) -> FlowsPublic:
    """
    The store's installed flows, or the shipped defaults while it has applied none.
    """
    state = app_state(request)
    uow = state.container.uow_factory(read_only=True)
    return _flows(list_flows(uow=uow, store_id=principal.store.id))


@router.get("/v1/flows/{name}", response_model=FlowPublic, summary="Read one flow")
def read_flow(name: str, principal: ServerPrincipal, request: Request) -> FlowPublic:
    """
    One flow by name.
    """
    state = app_state(request)
    uow = state.container.uow_factory(read_only=True)
    return _flow(get_flow(uow=uow, store_id=principal.store.id, name=name))


_PUT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/yaml": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["yaml"],
                    "properties": {"yaml": {"type": "string"}},
                }
            },
        },
    }
}


@router.put(
    "/v1/flows",
    response_model=FlowsPublic,
    summary="Replace the store's flows",
    openapi_extra=_PUT_BODY,
    responses={
        415: {
            "description": "Unsupported media type",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    },
)
async def put_flows(principal: ServerPrincipal, request: Request) -> Any:
    """
    Validate a flow file (contract §7) and make it the store's flows, all at once. The body is
    the YAML text (`text/yaml`) or JSON `{"yaml": "..."}`, at most 256 KB. An invalid file
    answers 400 with every error, each with its `line` and `column`, and changes nothing.
    """
    state = app_state(request)
    text = _text(request.headers.get("content-type", ""), await read_body(request, limit=MAX_TEXT))
    try:
        listing = await run_in_threadpool(
            apply_flows,
            uow=state.container.uow_factory(),
            clock=state.container.clock,
            store_id=principal.store.id,
            text=text,
        )
    except FlowsInvalid as error:
        return _invalid(error)
    return _flows(listing)


def _text(content_type: str, body: bytes) -> str:
    media_type = content_type.split(";", maxsplit=1)[0].strip().lower()
    try:
        if media_type in YAML_TYPES or media_type == "text/plain":
            return body.decode("utf-8")
        if media_type == "application/json":
            document = orjson.loads(body)
            if not isinstance(document, dict) or not isinstance(document.get("yaml"), str):
                raise InvalidInput('the body must be a JSON object {"yaml": "<the flow file>"}')
            return str(document["yaml"])
    except UnicodeDecodeError:
        raise InvalidInput("the flow file must be UTF-8 text") from None
    except orjson.JSONDecodeError:
        raise InvalidInput("the body is not valid JSON") from None
    raise HTTPException(415, 'send the flow file as text/yaml, or as JSON {"yaml": "..."}')


def _invalid(error: FlowsInvalid) -> JsonResponse:
    body = {
        "type": PROBLEM_TYPE_BASE + error.slug,
        "title": "Invalid request",
        "status": 400,
        "detail": error.detail,
        "code": error.slug,
        "message": error.detail,
        "errors": [
            {
                "field": p.path,
                "path": p.path,
                "message": p.message,
                "line": p.line,
                "column": p.column,
            }
            for p in error.problems
        ],
    }
    return JsonResponse(body, status_code=400, media_type=PROBLEM_MEDIA_TYPE)


class SimulationWindowPublic(BaseModel):
    """
    The simulated window: the carts abandoned from `start` until `end` (now).
    """

    start: datetime
    end: datetime
    days: int


class StepCountPublic(BaseModel):
    """
    Touches of one step (numbered from 0), channel and variant (`null`: the step's template).
    """

    flow: str
    step: int
    channel: str
    variant: str | None
    count: int


class OfferCountPublic(BaseModel):
    """
    Sent touches of a step with an offer: with it (`shown`) or without (`left_out`, its `when`
    false for the cart). `value` is a decimal string.
    """

    flow: str
    step: int
    kind: str
    value: str
    shown: int
    left_out: int


class FlowEnrollmentsPublic(BaseModel):
    """
    Carts a flow enrolled, by holdout group.
    """

    flow: str
    treated: int
    control: int


class SimulationPublic(BaseModel):
    """
    What the flow file would have sent for the store's carts that went idle in the window.
    `not_enrolled`, `skipped`, `deferred` and `cancelled` count by reason code; `pending`
    counts touches not due (or still deferred) when the window ends.
    """

    window: SimulationWindowPublic
    carts: int
    enrolled: list[FlowEnrollmentsPublic]
    not_enrolled: dict[str, int]
    sent: list[StepCountPublic]
    sent_total: int
    withheld: list[StepCountPublic]
    skipped: dict[str, int]
    deferred: dict[str, int]
    cancelled: dict[str, int]
    pending: int
    offers: list[OfferCountPublic]
    truncated: bool


@router.post(
    "/v1/flows/simulate",
    response_model=SimulationPublic,
    summary="Simulate a flow file over the store's recent carts",
    openapi_extra=_PUT_BODY,
    responses={
        415: {
            "description": "Unsupported media type",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    },
)
async def simulate(
    principal: ServerPrincipal,
    request: Request,
    days: Annotated[int, Query(ge=MIN_DAYS, le=MAX_DAYS)] = 7,
) -> Any:
    """
    Replay the store's carts abandoned in the last `days` days (1 to 90) through a flow file,
    on a simulated clock, without sending or writing anything, and answer what would have gone
    out. The body is the file as for `PUT /v1/flows`; an invalid file answers the same 400.
    """
    state = app_state(request)
    text = _text(request.headers.get("content-type", ""), await read_body(request, limit=MAX_TEXT))
    try:
        report = await run_in_threadpool(
            simulate_flows,
            uow=state.container.uow_factory(read_only=True),
            clock=state.container.clock,
            store_id=principal.store.id,
            text=text,
            days=days,
        )
    except FlowsInvalid as error:
        return _invalid(error)
    return SimulationPublic.model_validate(report_json(report))
