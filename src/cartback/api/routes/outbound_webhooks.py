"""
Outbound webhook endpoints (server key), the same as `cartback webhooks …`, and the store's
open health alerts. Another store's endpoint answers 404, as one that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.state import app_state
from cartback.domain.destinations import MAX_URL_LENGTH
from cartback.domain.health import StoreAlert
from cartback.domain.webhooks import EventType, WebhookDelivery, WebhookEndpoint
from cartback.services import health, webhooks

router = APIRouter(tags=["webhooks"], responses=PROBLEM_RESPONSES)

EndpointId = Annotated[str, Path(max_length=64, description="The endpoint's id (we_…).")]


class WebhookEndpointCreate(BaseModel):
    """
    A new endpoint: an https URL whose every address is public, and the event types it takes
    (all when left out).
    """

    model_config = ConfigDict(extra="forbid")
    url: StrictStr = Field(max_length=MAX_URL_LENGTH)
    event_types: list[StrictStr] | None = Field(
        default=None,
        max_length=len(EventType),
        description=f"Any of {', '.join(t.value for t in EventType)}.",
    )


class WebhookEndpointPublic(BaseModel):
    """
    An endpoint (its secret is never shown again after creation).
    """

    id: str
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


class WebhookEndpointCreated(WebhookEndpointPublic):
    """
    A new endpoint with its signing secret (`whsec_…`), shown this once.
    """

    secret: str


class WebhookEndpointsPublic(BaseModel):
    """
    The store's endpoints, oldest first.
    """

    data: list[WebhookEndpointPublic]
    count: int


class WebhookDeliveryPublic(BaseModel):
    """
    One event for an endpoint: its status, attempts and last answer.
    """

    id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


class WebhookDeliveriesPublic(BaseModel):
    """
    An endpoint's latest deliveries, newest first.
    """

    data: list[WebhookDeliveryPublic]
    count: int


class StoreAlertPublic(BaseModel):
    """
    An open health alert.
    """

    id: int | None
    kind: str
    detail: str
    started_at: datetime


class StoreAlertsPublic(BaseModel):
    """
    The store's open health alerts, oldest first.
    """

    data: list[StoreAlertPublic]
    count: int


def _public(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": [t.value for t in endpoint.event_types],
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since,
        "created_at": endpoint.created_at,
    }


def _delivery(delivery: WebhookDelivery) -> WebhookDeliveryPublic:
    return WebhookDeliveryPublic(
        id=delivery.id,
        event_type=delivery.event_type,
        status=delivery.status.value,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
        payload=dict(delivery.payload),
    )


def _alert(alert: StoreAlert) -> StoreAlertPublic:
    return StoreAlertPublic(
        id=alert.id, kind=alert.kind.value, detail=alert.detail, started_at=alert.started_at
    )


@router.post(
    "/v1/webhooks",
    response_model=WebhookEndpointCreated,
    status_code=201,
    summary="Add a webhook endpoint",
)
def create_webhook(
    body: WebhookEndpointCreate, principal: ServerPrincipal, request: Request
) -> WebhookEndpointCreated:
    """
    Add an endpoint. The answer carries its signing secret, shown this once. A URL that is not
    https, carries credentials, or names or resolves to a non-public address answers 400
    naming `url` and the reason; an unknown event type answers 400 naming it. Nothing is
    written then.
    """
    container = app_state(request).container
    created = webhooks.add_endpoint(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        policy=container.destination_policy(),
        store_id=principal.store.id,
        url=body.url,
        types=body.event_types,
    )
    return WebhookEndpointCreated(**_public(created.endpoint), secret=created.secret)


@router.get("/v1/webhooks", response_model=WebhookEndpointsPublic, summary="List webhook endpoints")
def read_webhooks(principal: ServerPrincipal, request: Request) -> WebhookEndpointsPublic:
    """
    The store's endpoints, oldest first (never their secrets).
    """
    uow = app_state(request).container.uow_factory(read_only=True)
    found = webhooks.list_endpoints(uow=uow, store_id=principal.store.id)
    data = [WebhookEndpointPublic(**_public(e)) for e in found]
    return WebhookEndpointsPublic(data=data, count=len(data))


@router.delete(
    "/v1/webhooks/{endpoint_id}",
    status_code=204,
    response_class=Response,
    summary="Remove a webhook endpoint",
)
def delete_webhook(
    endpoint_id: EndpointId, principal: ServerPrincipal, request: Request
) -> Response:
    """
    Remove an endpoint and its pending deliveries. A second call answers 404.
    """
    webhooks.remove_endpoint(
        uow=app_state(request).container.uow_factory(),
        store_id=principal.store.id,
        endpoint_id=endpoint_id,
    )
    return Response(status_code=204)


@router.get(
    "/v1/webhooks/{endpoint_id}/deliveries",
    response_model=WebhookDeliveriesPublic,
    summary="List an endpoint's deliveries",
)
def read_webhook_deliveries(
    endpoint_id: EndpointId,
    principal: ServerPrincipal,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> WebhookDeliveriesPublic:
    """
    The endpoint's latest deliveries, newest first, with their attempts and last answer.
    """
    found = webhooks.endpoint_deliveries(
        uow=app_state(request).container.uow_factory(read_only=True),
        store_id=principal.store.id,
        endpoint_id=endpoint_id,
        limit=limit,
    )
    data = [_delivery(d) for d in found]
    return WebhookDeliveriesPublic(data=data, count=len(data))


@router.get(
    "/v1/health/alerts", response_model=StoreAlertsPublic, summary="List open health alerts"
)
def read_alerts(principal: ServerPrincipal, request: Request) -> StoreAlertsPublic:
    """
    The store's open health alerts: events or orders that stopped arriving for longer than
    usual (`docs/webhooks.md`).
    """
    uow = app_state(request).container.uow_factory(read_only=True)
    data = [_alert(a) for a in health.open_alerts(uow, principal.store.id)]
    return StoreAlertsPublic(data=data, count=len(data))
