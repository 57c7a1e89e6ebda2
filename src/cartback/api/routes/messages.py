"""
`GET /v1/messages` (`contract.md` §5.5): the messages the `outbox` channel kept, with their
rendered content, for preview and tests. Server keys only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.schemas import MessagePublic, MessagesPublic, message_public
from cartback.api.state import app_state
from cartback.domain.consent import Channel
from cartback.domain.errors import InvalidInput
from cartback.services.messages import list_messages

router = APIRouter(tags=["messages"], responses=PROBLEM_RESPONSES)


@router.get("/v1/messages", response_model=MessagesPublic, summary="List outbox messages")
def read_messages(
    principal: ServerPrincipal,
    request: Request,
    cart_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    channel: Channel | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MessagesPublic:
    """
    The store's messages, oldest first: `id`, `touch_id`, `channel`, `to`, `subject` (email),
    `text`, `html` and `headers` (email), `status` and `sent_at` of the touch.
    Filter by the platform's cart id and by channel (`email`, `sms`).
    """
    if cart_id is not None and "\x00" in cart_id:
        raise InvalidInput("`cart_id` cannot contain NUL")
    state = app_state(request)
    found = list_messages(
        uow=state.container.uow_factory(read_only=True),
        store_id=principal.store.id,
        cart_key=cart_id,
        channel=channel,
        limit=limit,
    )
    data: list[MessagePublic] = [message_public(m) for m in found]
    return MessagesPublic(data=data, count=len(data))
