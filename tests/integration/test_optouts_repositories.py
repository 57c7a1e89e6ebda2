"""
The SQL repositories of `store/optouts.py` on a real database: the suppression list (dedupe,
removal, the erased form, hashing), inbound replies (dedupe on the provider id), and SMS
double opt-in requests (pending, confirm); plus `orders.has_ordered`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cartback.bootstrap import Container
from cartback.domain.consent import Channel, Purpose, erased_address
from cartback.domain.ports import InboundMessage, OrderRecord, SmsConfirmation, Suppression
from cartback.services.stores import CreatedStore

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
EMAIL = "jane@example.com"
PHONE = "+14155550123"


def _suppression(store: CreatedStore, address: str = EMAIL, **overrides: object) -> Suppression:
    values: dict[str, object] = {
        "store_id": store.store.id,
        "channel": Channel.EMAIL,
        "address": address,
        "reason": "unsubscribed",
        "source": "unsubscribe_link",
        "created_at": T0,
        **overrides,
    }
    return Suppression(**values)  # type: ignore[arg-type]


def _contact(container: Container, store: CreatedStore, phone: str = PHONE) -> str:
    with container.uow_factory() as uow:
        ref = uow.contacts.create(store.store.id, fields={"phone": phone}, is_bot=False, now=T0)
        uow.commit()
    return ref.id


def test_a_suppression_is_added_once(container: Container, store: CreatedStore) -> None:
    """
    The second add of the same store, channel and address adds nothing and says so.
    """
    # when
    with container.uow_factory() as uow:
        added = [
            uow.suppressions.add(_suppression(store)),
            uow.suppressions.add(_suppression(store, reason="complaint")),
        ]
        uow.commit()
    # then
    with container.uow_factory(read_only=True) as uow:
        listed = uow.suppressions.list_recent(store.store.id, limit=10)
    assert ([True, False], ["unsubscribed"]) == (added, [s.reason for s in listed])


def test_channels_and_stores_are_separate_lists(
    container: Container, store: CreatedStore, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    The same text on the SMS channel or in another store is another entry; `channel` filters.
    """
    # given
    other = store_factory()
    # when
    with container.uow_factory() as uow:
        uow.suppressions.add(_suppression(store))
        uow.suppressions.add(_suppression(store, address=PHONE, channel=Channel.SMS))
        uow.suppressions.add(_suppression(other))
        uow.commit()
    # then
    with container.uow_factory(read_only=True) as uow:
        assert (
            [PHONE],
            [EMAIL],
            2,
            True,
            False,
        ) == (
            [
                s.address
                for s in uow.suppressions.list_recent(store.store.id, limit=10, channel=Channel.SMS)
            ],
            [s.address for s in uow.suppressions.list_recent(other.store.id, limit=10)],
            len(uow.suppressions.list_recent(store.store.id, limit=10)),
            uow.suppressions.is_suppressed(store.store.id, Channel.SMS, PHONE),
            uow.suppressions.is_suppressed(other.store.id, Channel.SMS, PHONE),
        )


def test_listing_is_newest_first_and_limited(container: Container, store: CreatedStore) -> None:
    """
    Three entries a minute apart: the newest two, newest first.
    """
    # given
    with container.uow_factory() as uow:
        for minute, address in enumerate(["a@example.com", "b@example.com", "c@example.com"]):
            uow.suppressions.add(
                _suppression(store, address=address, created_at=T0 + timedelta(minutes=minute))
            )
        uow.commit()
    # when
    with container.uow_factory(read_only=True) as uow:
        listed = uow.suppressions.list_recent(store.store.id, limit=2)
    # then
    assert ["c@example.com", "b@example.com"] == [s.address for s in listed]


def test_hashing_keeps_the_address_suppressed_but_unreadable(
    container: Container, store: CreatedStore
) -> None:
    """
    After erasure the row holds `sha256:…`; the address is still suppressed, `get` finds the
    entry, and `remove` by the plain address takes it away.
    """
    # given
    with container.uow_factory() as uow:
        uow.suppressions.add(_suppression(store))
        uow.commit()
    # when
    with container.uow_factory() as uow:
        changed = uow.suppressions.hash_addresses(store.store.id, [EMAIL])
        uow.commit()
    # then
    with container.uow_factory(read_only=True) as uow:
        listed = [s.address for s in uow.suppressions.list_recent(store.store.id, limit=10)]
        found = uow.suppressions.get(store.store.id, Channel.EMAIL, EMAIL)
        suppressed = uow.suppressions.is_suppressed(store.store.id, Channel.EMAIL, EMAIL)
    assert (1, [erased_address(EMAIL)], True) == (changed, listed, suppressed)
    assert erased_address(EMAIL) == (found.address if found else None)
    with container.uow_factory() as uow:
        removed = uow.suppressions.remove(store.store.id, Channel.EMAIL, EMAIL)
        uow.commit()
    with container.uow_factory(read_only=True) as uow:
        assert (True, False) == (
            removed,
            uow.suppressions.is_suppressed(store.store.id, Channel.EMAIL, EMAIL),
        )


def test_hashing_where_the_hashed_form_exists_leaves_one_row(
    container: Container, store: CreatedStore
) -> None:
    """
    Plain and hashed forms both listed (erased, then suppressed again): hashing drops the
    plain one instead of breaking the unique constraint.
    """
    # given
    with container.uow_factory() as uow:
        uow.suppressions.add(_suppression(store, address=erased_address(EMAIL)))
        uow.suppressions.add(_suppression(store))
        uow.commit()
    # when
    with container.uow_factory() as uow:
        uow.suppressions.hash_addresses(store.store.id, [EMAIL])
        uow.commit()
    # then
    with container.uow_factory(read_only=True) as uow:
        listed = [s.address for s in uow.suppressions.list_recent(store.store.id, limit=10)]
    assert [erased_address(EMAIL)] == listed


def test_removing_what_is_not_listed_says_so(container: Container, store: CreatedStore) -> None:
    """
    `remove` of an unknown address is False; `get` is None.
    """
    with container.uow_factory() as uow:
        assert (False, None) == (
            uow.suppressions.remove(store.store.id, Channel.EMAIL, EMAIL),
            uow.suppressions.get(store.store.id, Channel.EMAIL, EMAIL),
        )


def _message(store: CreatedStore, provider_id: str, **overrides: object) -> InboundMessage:
    values: dict[str, object] = {
        "id": f"in_{provider_id}",
        "store_id": store.store.id,
        "channel": Channel.SMS,
        "provider_id": provider_id,
        "sender": PHONE,
        "body": "STOP",
        "keyword": "STOP",
        "contact_id": None,
        "received_at": T0,
        **overrides,
    }
    return InboundMessage(**values)  # type: ignore[arg-type]


def test_an_inbound_message_is_stored_once_per_provider_id(
    container: Container, store: CreatedStore
) -> None:
    """
    A redelivery (same provider id, new row id) adds nothing; the first version stays.
    """
    # given
    contact_id = _contact(container, store)
    # when
    with container.uow_factory() as uow:
        added = [
            uow.inbound_messages.add(_message(store, "SM1", contact_id=contact_id)),
            uow.inbound_messages.add(_message(store, "SM1", id="in_other", body="changed")),
            uow.inbound_messages.add(
                _message(store, "SM2", keyword=None, body="hi", received_at=T0 + timedelta(1))
            ),
        ]
        uow.commit()
    # then
    with container.uow_factory(read_only=True) as uow:
        listed = uow.inbound_messages.list_recent(store.store.id, limit=10)
    assert [True, False, True] == added
    assert [("SM2", "hi", None, None), ("SM1", "STOP", "STOP", contact_id)] == [
        (m.provider_id, m.body, m.keyword, m.contact_id) for m in listed
    ]


def _request(
    store: CreatedStore, contact_id: str, purpose: Purpose, minutes: int
) -> SmsConfirmation:
    return SmsConfirmation(
        id=None,
        store_id=store.store.id,
        contact_id=contact_id,
        phone=PHONE,
        purpose=purpose,
        text=f"Text me ({purpose.value})",
        text_version="v1",
        source="checkout",
        client_ip="203.0.113.9",
        user_agent="UA",
        requested_at=T0 + timedelta(minutes=minutes),
    )


def test_confirmations_are_pending_oldest_first_until_confirmed(
    container: Container, store: CreatedStore
) -> None:
    """
    Two requests for a number are pending in order, with their evidence; confirming one
    leaves the other; another number has none.
    """
    # given
    contact_id = _contact(container, store)
    with container.uow_factory() as uow:
        later = uow.sms_confirmations.add(_request(store, contact_id, Purpose.MARKETING, 5))
        earlier = uow.sms_confirmations.add(_request(store, contact_id, Purpose.RECOVERY, 1))
        uow.commit()
    with container.uow_factory(read_only=True) as uow:
        pending = uow.sms_confirmations.pending(store.store.id, PHONE)
    # when
    with container.uow_factory() as uow:
        uow.sms_confirmations.confirm(earlier, at=T0 + timedelta(minutes=9))
        uow.commit()
    # then
    with container.uow_factory(read_only=True) as uow:
        left = uow.sms_confirmations.pending(store.store.id, PHONE)
        elsewhere = uow.sms_confirmations.pending(store.store.id, "+14155550199")
    assert [(earlier, Purpose.RECOVERY, "Text me (recovery)", "v1", "203.0.113.9", "UA")] == [
        (c.id, c.purpose, c.text, c.text_version, c.client_ip, c.user_agent) for c in pending[:1]
    ]
    assert ([later], []) == ([c.id for c in left], elsewhere)


@pytest.mark.parametrize("status", ["paid", "cancelled"])
def test_has_ordered_is_true_once_the_contact_has_any_order(
    container: Container, store: CreatedStore, status: str
) -> None:
    """
    An order linked to the contact makes them a customer; nothing else does.
    """
    # given
    contact_id = _contact(container, store)
    other_id = _contact(container, store, phone="+14155550199")
    with container.uow_factory() as uow:
        uow.orders.upsert(
            OrderRecord(
                store_id=store.store.id,
                order_key="o-1",
                cart_id=None,
                contact_id=contact_id,
                status=status,
                total=Decimal("10.00"),
                currency="USD",
                placed_at=T0,
            ),
            now=T0,
        )
        uow.commit()
    # when
    with container.uow_factory(read_only=True) as uow:
        answers = (
            uow.orders.has_ordered(store.store.id, contact_id),
            uow.orders.has_ordered(store.store.id, other_id),
        )
    # then
    assert (True, False) == answers


def test_count_for_contact_counts_the_orders_that_stand(
    container: Container, store: CreatedStore
) -> None:
    """
    Two placed orders and a cancelled one: `orders_count` is 2; another contact has none.
    """
    # given
    contact_id = _contact(container, store)
    other_id = _contact(container, store, phone="+14155550199")
    with container.uow_factory() as uow:
        for key, status in (("o-1", "placed"), ("o-2", "paid"), ("o-3", "cancelled")):
            uow.orders.upsert(
                OrderRecord(
                    store_id=store.store.id,
                    order_key=key,
                    cart_id=None,
                    contact_id=contact_id,
                    status=status,
                    total=Decimal("10.00"),
                    currency="USD",
                    placed_at=T0,
                ),
                now=T0,
            )
        uow.commit()
    # when
    with container.uow_factory(read_only=True) as uow:
        counts = (
            uow.orders.count_for_contact(store.store.id, contact_id),
            uow.orders.count_for_contact(store.store.id, other_id),
        )
        many = uow.orders.counts_among(store.store.id, [contact_id, other_id])
    # then
    assert (2, 0) == counts
    assert {contact_id: 2, other_id: 0} == many
