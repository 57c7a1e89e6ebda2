"""
Replayed and reordered Shopify deliveries (a property test, on each database): whatever order a
set of deliveries arrives in, however often each is redelivered and however the writer groups
them into transactions, the store ends in the state that delivering each once, in order, gives.

Each example uses two fresh stores in the test's database (one for the in-order run, one for the
shuffled run), so examples never see each other's rows.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cartback.bootstrap import Container
from cartback.domain.ingest import Inbound
from cartback.services.ingest import ingest
from cartback.services.stores import CreatedStore
from cartback.sources import shopify
from cartback.sources._webhooks import Delivery
from cartback.store.tables import orders

FIXTURES = Path(__file__).parents[1] / "fixtures" / "shopify"
RECEIVED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
STARTED = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
#: No order, the order created, created then paid, or only its `orders/paid` delivery.
ORDER_TOPICS: list[tuple[str, ...]] = [
    (),
    ("orders/create",),
    ("orders/create", "orders/paid"),
    ("orders/paid",),
]


def _fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_bytes())
    return document


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """
    The deliveries in the order Shopify made them, and the order (with repeats) and grouping
    in which they arrive.
    """

    deliveries: list[tuple[str, str, bytes]]
    arrival: list[int]
    cuts: list[bool]


def _checkout(index: int, quantity: int, accepts: bool) -> dict[str, Any]:
    """
    The 2024 checkout at its `index`-th update: anonymous at first, then with the shopper's email
    and SMS number, `quantity` boards, one minute later each time.
    """
    name = "checkouts_update_2024_contact.json" if index else "checkouts_create_2024.json"
    body = copy.deepcopy(_fixture(name))
    body["updated_at"] = (STARTED + timedelta(minutes=index)).isoformat()
    body["line_items"][0]["quantity"] = quantity
    body["total_price"] = str(600 * quantity)
    if index:
        body["buyer_accepts_marketing"] = accepts
        body["buyer_accepts_sms_marketing"] = accepts
    return body


def _order(topic: str, updates: int, quantity: int) -> dict[str, Any]:
    """
    The order the checkout became, a minute after its last update (paid two minutes later).
    """
    paid = topic == "orders/paid"
    body = copy.deepcopy(_fixture("orders_paid_2024.json" if paid else "orders_create_2024.json"))
    body["created_at"] = (STARTED + timedelta(minutes=updates + 1)).isoformat()
    body["updated_at"] = (STARTED + timedelta(minutes=updates + (3 if paid else 1))).isoformat()
    body["line_items"][0]["quantity"] = quantity
    body["total_price"] = str(600 * quantity)
    return body


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """
    A checkout created and updated 0 to 3 times, perhaps ordered (and paid), arriving shuffled, with
    up to six redeliveries, grouped at random into ingest transactions.

    The shopper's marketing flags may flip from one update to the next.
    """
    updates = draw(st.integers(min_value=0, max_value=3))
    quantities = draw(st.lists(st.integers(1, 5), min_size=updates + 1, max_size=updates + 1))
    accepts = draw(st.lists(st.booleans(), min_size=updates + 1, max_size=updates + 1))
    deliveries = [
        ("checkouts/update" if i else "checkouts/create", f"evt-c{i}", _checkout(i, q, flag))
        for i, (q, flag) in enumerate(zip(quantities, accepts, strict=True))
    ]
    topics = draw(st.sampled_from(ORDER_TOPICS))
    final = draw(st.integers(1, 5))
    deliveries.extend((topic, "evt-order", _order(topic, updates, final)) for topic in topics)
    encoded = [(topic, event, json.dumps(body).encode()) for topic, event, body in deliveries]
    repeats = draw(st.lists(st.integers(0, len(encoded) - 1), max_size=6))
    arrival = draw(st.permutations([*range(len(encoded)), *repeats]))
    cuts = draw(st.lists(st.booleans(), min_size=len(arrival), max_size=len(arrival)))
    return Scenario(deliveries=encoded, arrival=list(arrival), cuts=cuts)


def _message(delivery: tuple[str, str, bytes]) -> Inbound:
    topic, event_id, body = delivery
    parsed = shopify.parse(
        Delivery(
            platform="shopify",
            store_id="-",
            body=body,
            headers={"x-shopify-topic": topic, "x-shopify-event-id": event_id},
            received_at=RECEIVED,
            default_region="US",
        )
    )
    assert [] == parsed.errors
    return parsed.messages[0]


def _deliver(container: Container, store_id: str, batches: list[list[Inbound]]) -> None:
    for batch in batches:
        ingest(
            uow=container.uow_factory(), clock=container.clock, store_id=store_id, messages=batch
        )


def _state(container: Container, store_id: str) -> dict[str, Any]:
    """
    What the deliveries left: the cart, its contact, the contact's consent and the orders.

    Consent is compared by what it says, not by which of several agreeing entries is its
    evidence: a late-arriving older "yes" after a newer "yes" adds no ledger row.
    """
    token = "Z2NwLXVzLWVhc3QxOjAxSkJaTUVRSjgzNUJUN1BTNjEzRFdRUFFQ"
    with container.uow_factory(read_only=True) as uow:
        record = uow.carts.get(store_id, token)
        assert record is not None
        contact = uow.contacts.get(store_id, record.contact_id) if record.contact_id else None
        consent = uow.consents.current(contact.id) if contact else {}
    with container.engine.connect() as connection:
        rows = connection.execute(
            select(orders.c.order_key, orders.c.status, orders.c.total, orders.c.placed_at).where(
                orders.c.store_id == store_id
            )
        ).all()
    return {
        "cart": record.cart,
        "contact": (contact.email, contact.phone, contact.user_id) if contact else None,
        "consent": {key: fact.granted for key, fact in consent.items()},
        "orders": sorted(tuple(row) for row in rows),
    }


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_any_order_and_any_repeats_end_as_one_in_order_delivery(
    container: Container, store_factory: Callable[..., CreatedStore], scenario: Scenario
) -> None:
    """
    Shuffled, redelivered and regrouped deliveries leave the same cart, contact, consent and
    orders as each delivery once, in order.
    """
    # given
    in_order = store_factory(platform="shopify", country="US").store.id
    shuffled = store_factory(platform="shopify", country="US").store.id
    _deliver(container, in_order, [[_message(d)] for d in scenario.deliveries])
    batches: list[list[Inbound]] = [[]]
    for index, cut in zip(scenario.arrival, scenario.cuts, strict=True):
        batches[-1].append(_message(scenario.deliveries[index]))
        if cut:
            batches.append([])
    # when
    _deliver(container, shuffled, [batch for batch in batches if batch])
    # then
    assert _state(container, in_order) == _state(container, shuffled)
