"""
The dashboard's reads of the `outbox` channel's messages: a store's messages in filtered
keyset pages (newest first, without their bodies), and one message's summary.

Pages use `outbox_messages (store_id, created_at)`; each row joins its touch (status, reason,
step), the touch's enrollment (flow) and cart (key) by primary key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, or_, select

from cartback.domain.consent import Channel
from cartback.domain.ports import MessageFilters, MessagePage, MessageSummary
from cartback.store.dashboard import _decode_cursor, _encode_cursor
from cartback.store.tables import carts, enrollments, outbox_messages, touches

_COLUMNS = (
    outbox_messages.c.id,
    outbox_messages.c.touch_id,
    outbox_messages.c.channel,
    outbox_messages.c.to_address,
    outbox_messages.c.subject,
    outbox_messages.c.created_at,
    touches.c.cart_id,
    touches.c.step,
    touches.c.status,
    touches.c.reason,
    touches.c.sent_at,
    enrollments.c.flow,
    carts.c.cart_key,
)


def _summaries() -> Any:
    return (
        select(*_COLUMNS)
        .join(touches, touches.c.id == outbox_messages.c.touch_id)
        .join(enrollments, enrollments.c.id == touches.c.enrollment_id)
        .join(carts, carts.c.id == touches.c.cart_id)
    )


def message_page(
    db: Connection, store_id: str, *, filters: MessageFilters, limit: int, cursor: str | None
) -> MessagePage:
    """
    One page of the store's messages, newest first (`created_at`, then id).

    Raises:
        InvalidInput: the cursor is not one this listing made.
    """
    created, key = outbox_messages.c.created_at, outbox_messages.c.id
    query = _summaries().where(outbox_messages.c.store_id == store_id)
    if filters.channel is not None:
        query = query.where(outbox_messages.c.channel == filters.channel.value)
    if filters.status is not None:
        query = query.where(touches.c.status == filters.status)
    if cursor:
        at, message_id = _decode_cursor(cursor)
        query = query.where(or_(created < at, and_(created == at, key < message_id)))
    rows = db.execute(query.order_by(created.desc(), key.desc()).limit(limit + 1)).mappings()
    found = [_summary(row) for row in rows]
    page = found[:limit]
    more = len(found) > limit and bool(page)
    next_cursor = _encode_cursor(page[-1].created_at, page[-1].id) if more else None
    return MessagePage(summaries=page, next_cursor=next_cursor)


def message_summary(db: Connection, store_id: str, message_id: str) -> MessageSummary | None:
    """
    One message's summary, when it is this store's.
    """
    query = _summaries().where(
        outbox_messages.c.store_id == store_id, outbox_messages.c.id == message_id
    )
    row = db.execute(query).mappings().first()
    return _summary(row) if row else None


def _summary(row: Any) -> MessageSummary:
    return MessageSummary(
        id=row["id"],
        touch_id=row["touch_id"],
        cart_id=row["cart_id"],
        cart_key=row["cart_key"],
        flow=row["flow"],
        step=row["step"],
        channel=Channel(row["channel"]),
        to=row["to_address"],
        subject=row["subject"],
        status=row["status"],
        reason=row["reason"],
        created_at=row["created_at"],
        sent_at=row["sent_at"],
    )
