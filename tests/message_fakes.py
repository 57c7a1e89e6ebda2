"""
The dashboard's message reads over the fake outbox (`FakeDatabase.outbox`), its touches,
enrollments and carts: what `InMemoryOutboxRepository.page_for_store` and `.summary` answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from cartback.domain.errors import InvalidInput
from cartback.domain.ports import MessageFilters, MessagePage, MessageSummary, OutboxMessage

if TYPE_CHECKING:
    from fakes import FakeDatabase


def summaries(db: FakeDatabase, store_id: str) -> list[MessageSummary]:
    """
    The store's messages whose touch, enrollment and cart are there, newest first.
    """
    found = [_summary(db, m) for m in db.outbox.values() if m.store_id == store_id]
    kept = [s for s in found if s is not None]
    return sorted(kept, key=lambda s: (s.created_at, s.id), reverse=True)


def page(
    db: FakeDatabase, store_id: str, *, filters: MessageFilters, limit: int, cursor: str | None
) -> MessagePage:
    """
    A keyset page of `summaries` narrowed by the filters.
    """
    found = [
        s
        for s in summaries(db, store_id)
        if (filters.channel is None or s.channel is filters.channel)
        and (filters.status is None or s.status == filters.status)
    ]
    if cursor:
        after = _decode(cursor)
        found = [s for s in found if (s.created_at, s.id) < after]
    chosen = found[:limit]
    more = len(found) > limit and bool(chosen)
    last = chosen[-1] if more else None
    next_cursor = f"{last.created_at.isoformat()}|{last.id}" if last else None
    return MessagePage(summaries=chosen, next_cursor=next_cursor)


def _summary(db: FakeDatabase, message: OutboxMessage) -> MessageSummary | None:
    touch = db.touches.get(message.touch_id)
    enrollment = db.enrollments.get(touch.enrollment_id) if touch else None
    record = db.carts.get(touch.cart_id) if touch else None
    if touch is None or enrollment is None or record is None:
        return None
    return MessageSummary(
        id=message.id,
        touch_id=touch.id,
        cart_id=record.id,
        cart_key=record.cart.key,
        flow=enrollment.flow,
        step=touch.step,
        channel=message.channel,
        to=message.to,
        subject=message.subject,
        status=touch.status.value,
        reason=touch.reason,
        created_at=message.created_at,
        sent_at=touch.sent_at,
    )


def _decode(cursor: str) -> tuple[datetime, str]:
    at, _, message_id = cursor.partition("|")
    try:
        return datetime.fromisoformat(at), message_id
    except ValueError:
        raise InvalidInput("the cursor is not one this listing made") from None
