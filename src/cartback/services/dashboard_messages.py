"""
The dashboard's messages page: the messages the `outbox` channel kept for a store (what
`GET /v1/messages` lists), newest first in keyset pages, one message with its bodies, and a
preview of every step of the store's flows rendered for an example cart. Every read goes
through `access_store`: another store's messages are `NotFound`, never data.
"""

from __future__ import annotations

from dataclasses import dataclass

from cartback.domain.errors import NotFound
from cartback.domain.operators import Operator
from cartback.domain.ports import (
    MessageFilters,
    MessageSummary,
    OutboxMessage,
    UnitOfWork,
    UnitOfWorkFactory,
)
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services.dashboard import access_store
from cartback.services.enrollment import store_flows
from cartback.services.preview import Preview, preview_message

#: Messages per page of the list.
PAGE_SIZE = 50


@dataclass(frozen=True, kw_only=True, slots=True)
class MessagesPage:
    """
    One page of a store's messages and the cursor of the next.
    """

    store: Store
    summaries: list[MessageSummary]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageView:
    """
    One kept message: where it came from and what it said.
    """

    store: Store
    summary: MessageSummary
    message: OutboxMessage


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowPreviews:
    """
    Every step of one of the store's flows, rendered.
    """

    flow: str
    previews: list[Preview]


def list_messages(
    *,
    uow: UnitOfWork,
    operator: Operator,
    store_id: str,
    filters: MessageFilters,
    cursor: str | None = None,
    limit: int | None = None,
) -> MessagesPage:
    """
    A page of the store's messages, newest first (`limit`, else `PAGE_SIZE`, per page).

    Raises:
        NotFound: the operator may not see the store.
        InvalidInput: the cursor is not one this listing made.
    """
    with uow:
        store = access_store(uow, operator, store_id)
        page = uow.outbox.page_for_store(
            store.id, filters=filters, limit=limit or PAGE_SIZE, cursor=cursor
        )
    return MessagesPage(store=store, summaries=page.summaries, next_cursor=page.next_cursor)


def message_view(
    *, uow: UnitOfWork, operator: Operator, store_id: str, message_id: str
) -> MessageView:
    """
    One message of the store with its subject, recipient, text and HTML.

    Raises:
        NotFound: the operator may not see the store, or the store has no such message.
    """
    with uow:
        store = access_store(uow, operator, store_id)
        summary = uow.outbox.summary(store.id, message_id)
        message = uow.outbox.get(store.id, message_id)
    if summary is None or message is None:
        raise NotFound("no such message in this store")
    return MessageView(store=store, summary=summary, message=message)


def step_previews(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    operator: Operator,
    store_id: str,
    base_url: str,
) -> tuple[Store, list[FlowPreviews]]:
    """
    Every step of every flow of the store, rendered for an example cart in the store's
    currency with preview links and example offers (`cartback preview`'s rendering). Nothing
    is written.

    Raises:
        NotFound: the operator may not see the store.
    """
    with uow_factory(read_only=True) as uow:
        store = access_store(uow, operator, store_id)
        flows = [(f.name, len(f.steps)) for f in store_flows(uow, store.id).flow_set.flows]
    found = [
        FlowPreviews(
            flow=name,
            previews=[
                _preview(uow_factory, clock, store.id, name, step, base_url)
                for step in range(steps)
            ],
        )
        for name, steps in flows
    ]
    return store, found


def step_preview(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    operator: Operator,
    store_id: str,
    flow: str,
    step: int,
    base_url: str,
) -> Preview:
    """
    One step of one of the store's flows, rendered as `step_previews` does.

    Raises:
        NotFound: the operator may not see the store, or it has no such flow or step.
    """
    with uow_factory(read_only=True) as uow:
        store = access_store(uow, operator, store_id)
    return _preview(uow_factory, clock, store.id, flow, step, base_url)


def _preview(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    store_id: str,
    flow: str,
    step: int,
    base_url: str,
) -> Preview:
    return preview_message(
        uow=uow_factory(read_only=True),
        clock=clock,
        store_id=store_id,
        flow=flow,
        step=step,
        base_url=base_url,
    )
