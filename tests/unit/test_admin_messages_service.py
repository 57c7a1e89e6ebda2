"""
The dashboard's messages reads on fakes (services/dashboard_messages.py): store scoping,
newest first with filters and keyset pages, one message with its summary, and another store's
message not found.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cartback.domain.cart import Cart
from cartback.domain.consent import Channel
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.events import LineItem, Stage
from cartback.domain.operators import Operator
from cartback.domain.ports import (
    CartRecord,
    EnrollmentRecord,
    MessageFilters,
    OutboxMessage,
    TouchRecord,
)
from cartback.domain.stores import Platform, Store
from cartback.domain.touches import EnrollmentStatus, Group, TouchStatus
from cartback.services.dashboard_messages import list_messages, message_view
from fakes import FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _store(factory: FakeUnitOfWorkFactory, store_id: str) -> None:
    factory.database.stores[store_id] = Store(
        id=store_id,
        name=store_id,
        platform=Platform.CUSTOM,
        domains=("shop.example.com",),
        currency="USD",
        timezone="UTC",
        abandon_after=timedelta(minutes=30),
        recovery_window=timedelta(days=7),
        created_at=NOW,
        updated_at=NOW,
    )


def _operator(*stores: str) -> Operator:
    return Operator(
        id="op_1",
        email="ops@example.com",
        password_hash="x",
        all_stores=False,
        store_ids=frozenset(stores),
        created_at=NOW,
    )


def _message(
    factory: FakeUnitOfWorkFactory,
    store_id: str,
    key: str,
    minutes: int,
    *,
    channel: Channel = Channel.EMAIL,
    status: TouchStatus = TouchStatus.SENT,
) -> str:
    """
    A cart `key` with its enrollment, first touch and kept message; the message's id.
    """
    db = factory.database
    at = NOW + timedelta(minutes=minutes)
    db.carts[f"ca_{key}"] = CartRecord(
        id=f"ca_{key}",
        store_id=store_id,
        cart=Cart(
            key=key,
            currency="USD",
            lines=(LineItem(product_id="p-1", unit_price=Decimal(10), quantity=1),),
            stage=Stage.CART,
        ),
        created_at=NOW,
    )
    db.enrollments[f"en_{key}"] = EnrollmentRecord(
        id=f"en_{key}",
        store_id=store_id,
        contact_id=f"co_{key}",
        cart_id=f"ca_{key}",
        flow="cart-recovery",
        flow_version=1,
        group=Group.TREATED,
        status=EnrollmentStatus.ACTIVE,
        stage=Stage.CART,
        triggered_at=NOW,
        started_at=NOW,
    )
    db.touches[f"to_{key}"] = TouchRecord(
        id=f"to_{key}",
        store_id=store_id,
        enrollment_id=f"en_{key}",
        cart_id=f"ca_{key}",
        step=0,
        channel=channel,
        template="reminder",
        status=status,
        due_at=at,
        created_at=NOW,
        updated_at=at,
        sent_at=at,
    )
    db.outbox[f"ms_{key}"] = OutboxMessage(
        id=f"ms_{key}",
        store_id=store_id,
        touch_id=f"to_{key}",
        channel=channel,
        to=f"{key}@example.com",
        subject=f"About {key}",
        text=f"Text for {key}",
        html=f"<p>{key}</p>",
        created_at=at,
    )
    return f"ms_{key}"


@pytest.fixture
def factory() -> FakeUnitOfWorkFactory:
    """
    Store `st_1` with messages a (oldest) to d, `d` an SMS that failed; `st_2` with one.
    """
    made = FakeUnitOfWorkFactory()
    _store(made, "st_1")
    _store(made, "st_2")
    _message(made, "st_1", "a", 1)
    _message(made, "st_1", "b", 2)
    _message(made, "st_1", "c", 3)
    _message(made, "st_1", "d", 4, channel=Channel.SMS, status=TouchStatus.FAILED)
    _message(made, "st_2", "theirs", 5)
    return made


def test_the_list_is_newest_first_filtered_and_paged(factory: FakeUnitOfWorkFactory) -> None:
    """
    Filters narrow to the channel and touch status; a page's cursor continues it.
    """
    operator = _operator("st_1")

    def keys(filters: MessageFilters, cursor: str | None = None) -> list[str]:
        page = list_messages(
            uow=factory(),
            operator=operator,
            store_id="st_1",
            filters=filters,
            cursor=cursor,
            limit=2,
        )
        found = [s.cart_key for s in page.summaries]
        return found + (keys(filters, page.next_cursor) if page.next_cursor else [])

    assert ["d", "c", "b", "a"] == keys(MessageFilters())
    assert ["c", "b", "a"] == keys(MessageFilters(channel=Channel.EMAIL))
    assert ["d"] == keys(MessageFilters(status="failed"))
    assert [] == keys(MessageFilters(channel=Channel.EMAIL, status="failed"))


def test_a_message_comes_with_its_cart_flow_and_touch(factory: FakeUnitOfWorkFactory) -> None:
    """
    The view holds the summary (cart, flow, step, status) and the bodies.
    """
    view = message_view(
        uow=factory(), operator=_operator("st_1"), store_id="st_1", message_id="ms_d"
    )
    assert ("ca_d", "d", "cart-recovery", 0) == (
        view.summary.cart_id,
        view.summary.cart_key,
        view.summary.flow,
        view.summary.step,
    )
    assert ("failed", "d@example.com") == (view.summary.status, view.summary.to)
    assert "<p>d</p>" == view.message.html


def test_another_stores_list_and_messages_are_not_found(factory: FakeUnitOfWorkFactory) -> None:
    """
    A store the operator may not see, and another store's message through a visible store,
    are both NotFound.
    """
    operator = _operator("st_1")
    with pytest.raises(NotFound):
        list_messages(uow=factory(), operator=operator, store_id="st_2", filters=MessageFilters())
    for store_id, message_id in (("st_2", "ms_theirs"), ("st_1", "ms_theirs"), ("st_1", "ms_x")):
        with pytest.raises(NotFound):
            message_view(uow=factory(), operator=operator, store_id=store_id, message_id=message_id)


def test_a_foreign_cursor_is_invalid(factory: FakeUnitOfWorkFactory) -> None:
    """
    A cursor the list did not make is InvalidInput.
    """
    with pytest.raises(InvalidInput):
        list_messages(
            uow=factory(),
            operator=_operator("st_1"),
            store_id="st_1",
            filters=MessageFilters(),
            cursor="nonsense",
        )
