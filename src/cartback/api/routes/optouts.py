"""
Opt-outs for the merchant (server key): the suppression list, the SMS replies shoppers sent,
and a contact's unsubscribe link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.routes.unsubscribe import unsubscribe_links
from cartback.api.state import app_state
from cartback.domain.consent import Channel
from cartback.domain.ports import InboundMessage, Suppression
from cartback.services import sms_replies, suppressions
from cartback.services.unsubscribe import contact_unsubscribe_url

router = APIRouter(tags=["opt-outs"], responses=PROBLEM_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=500)]


class SuppressionPublic(BaseModel):
    """
    An address no flow messages on a channel, and why (`unsubscribed`, `sms_stop`, `manual`,
    `hard_bounce`, `complaint`). An erased person's address shows as `sha256:<hex>`.
    """

    channel: Channel
    address: str
    reason: str
    source: str
    created_at: datetime


class SuppressionsPublic(BaseModel):
    """
    Suppressed addresses, newest first.
    """

    data: list[SuppressionPublic]
    count: int


class SuppressionCreate(BaseModel):
    """
    An address to suppress: an email, or a phone number (E.164, or national in the store's
    country).
    """

    model_config = ConfigDict(extra="forbid")
    channel: Channel
    address: str = Field(min_length=1, max_length=320)
    reason: Literal["manual", "hard_bounce", "complaint"]


class InboundMessagePublic(BaseModel):
    """
    A reply a shopper sent, with its keyword (STOP, START, HELP, ...) if it was one, and the
    contact it came from when the number is known.
    """

    id: str
    channel: Channel
    provider_id: str
    sender: str
    body: str
    keyword: str | None
    contact_id: str | None
    received_at: datetime


class InboundMessagesPublic(BaseModel):
    """
    Replies, newest first.
    """

    data: list[InboundMessagePublic]
    count: int


class UnsubscribeUrlPublic(BaseModel):
    """
    A contact's unsubscribe link (`List-Unsubscribe`), and its token alone.
    """

    url: str
    token: str


def _suppression(entry: Suppression) -> SuppressionPublic:
    return SuppressionPublic(
        channel=entry.channel,
        address=entry.address,
        reason=entry.reason,
        source=entry.source,
        created_at=entry.created_at,
    )


def _inbound(message: InboundMessage) -> InboundMessagePublic:
    return InboundMessagePublic(
        id=message.id,
        channel=message.channel,
        provider_id=message.provider_id,
        sender=message.sender,
        body=message.body,
        keyword=message.keyword,
        contact_id=message.contact_id,
        received_at=message.received_at,
    )


@router.get("/v1/suppressions", response_model=SuppressionsPublic, summary="List suppressions")
def read_suppressions(
    principal: ServerPrincipal,
    request: Request,
    channel: Channel | None = None,
    limit: Limit = suppressions.DEFAULT_LIMIT,
) -> SuppressionsPublic:
    """
    The addresses no flow of this store will message, newest first, on one channel or both.
    """
    entries = suppressions.list_suppressions(
        uow=app_state(request).container.uow_factory(read_only=True),
        store_id=principal.store.id,
        channel=channel,
        limit=limit,
    )
    return SuppressionsPublic(data=[_suppression(e) for e in entries], count=len(entries))


@router.post(
    "/v1/suppressions",
    response_model=SuppressionPublic,
    status_code=201,
    responses={200: {"description": "Already suppressed: the existing entry, unchanged."}},
    summary="Suppress an address",
)
def create_suppression(
    body: SuppressionCreate, principal: ServerPrincipal, request: Request, response: Response
) -> SuppressionPublic:
    """
    Put an address on the suppression list (a hard bounce, a complaint, or by hand): 201, or
    200 with the existing entry when it is already there. Email addresses are lower-cased,
    phone numbers written in E.164.
    """
    container = app_state(request).container
    added = suppressions.add_suppression(
        uow=container.uow_factory(),
        clock=container.clock,
        store=principal.store,
        channel=body.channel,
        address=body.address,
        reason=body.reason,
    )
    if not added.created:
        response.status_code = 200
    return _suppression(added.suppression)


@router.delete(
    "/v1/suppressions/{channel}/{address}",
    status_code=204,
    response_class=Response,
    summary="Lift a suppression",
)
def delete_suppression(
    channel: Channel,
    address: Annotated[str, Path(min_length=1, max_length=320)],
    principal: ServerPrincipal,
    request: Request,
) -> Response:
    """
    Take an address off the list (written as when it was added, or as listed); 404 if it is
    not there. Consent withdrawn in the ledger stays withdrawn.
    """
    suppressions.remove_suppression(
        uow=app_state(request).container.uow_factory(),
        store=principal.store,
        channel=channel,
        address=address,
    )
    return Response(status_code=204)


@router.get("/v1/inbound", response_model=InboundMessagesPublic, summary="List SMS replies")
def read_inbound(
    principal: ServerPrincipal, request: Request, limit: Limit = sms_replies.DEFAULT_LIMIT
) -> InboundMessagesPublic:
    """
    What shoppers texted back to the store's number, newest first, keywords included.
    """
    messages = sms_replies.list_inbound(
        uow=app_state(request).container.uow_factory(read_only=True),
        store_id=principal.store.id,
        limit=limit,
    )
    return InboundMessagesPublic(data=[_inbound(m) for m in messages], count=len(messages))


@router.get(
    "/v1/contacts/{contact_id}/unsubscribe-url",
    response_model=UnsubscribeUrlPublic,
    summary="A contact's unsubscribe link",
)
def read_unsubscribe_url(
    contact_id: Annotated[str, Path(min_length=1, max_length=64)],
    principal: ServerPrincipal,
    request: Request,
) -> UnsubscribeUrlPublic:
    """
    The email unsubscribe link of one of the store's contacts, as messages carry it
    (`List-Unsubscribe`, with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`).
    """
    links = unsubscribe_links(request)
    url = contact_unsubscribe_url(
        uow=app_state(request).container.uow_factory(read_only=True),
        links=links,
        store_id=principal.store.id,
        contact_id=contact_id.replace("\x00", ""),
        channel=Channel.EMAIL,
    )
    return UnsubscribeUrlPublic(url=url, token=url.rsplit("/", 1)[1])
