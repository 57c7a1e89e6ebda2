"""
Outbound webhook use cases on in-memory fakes: adding endpoints (URL and event types checked,
secret sealed), events queued with the change that causes them (only for stores that listen,
subscriptions read once per pass), and deliveries attempted, retried, failed and endpoints
disabled, with a fake transport and resolver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from cartback.domain.cart import Cart
from cartback.domain.destinations import UnsafeDestination
from cartback.domain.errors import InvalidInput, NotFound
from cartback.domain.events import LineItem, Stage
from cartback.domain.ports import CartRecord
from cartback.domain.stores import Store
from cartback.domain.webhooks import (
    DISABLE_AFTER,
    RETRY_SCHEDULE,
    AttemptResult,
    DeliveryStatus,
    EventType,
)
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.kit.keys import SecretBox
from cartback.services.abandonment import process_due_carts
from cartback.services.webhook_delivery import DeliveryConfig, deliver_due_webhooks
from cartback.services.webhooks import (
    CreatedEndpoint,
    DestinationPolicy,
    add_endpoint,
    list_endpoints,
    remove_endpoint,
)
from cartback.sources import _standard_webhooks
from cartback.sources._webhooks import Delivery
from fakes import FakeDatabase, FakeUnitOfWorkFactory
from webhook_fakes import FakeResolver, FakeTransport, payload_of

HOOKS = "hooks.example.com"
PUBLIC = "93.184.215.14"

Adder = Callable[..., CreatedEndpoint]


@pytest.fixture
def box() -> SecretBox:
    """
    The secret box sealing endpoint secrets.
    """
    return SecretBox(["unit-test-secret-key-0123456789-abcdef"])


@pytest.fixture
def resolver() -> FakeResolver:
    """
    DNS where the receiver's name is public.
    """
    return FakeResolver({HOOKS: [PUBLIC]})


@pytest.fixture
def add(
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    box: SecretBox,
    resolver: FakeResolver,
    shop: Store,
) -> Adder:
    """
    Adds an endpoint to the shop.
    """

    def make(
        url: str = f"https://{HOOKS}/cartback", types: list[str] | None = None
    ) -> CreatedEndpoint:
        return add_endpoint(
            uow=uow_factory(),
            clock=clock,
            box=box,
            policy=DestinationPolicy(resolver=resolver),
            store_id=shop.id,
            url=url,
            types=types,
        )

    return make


def _due_cart(database: FakeDatabase, store: Store, clock: SimulatedClock) -> CartRecord:
    active_at = clock.now() - timedelta(hours=1)
    record = CartRecord(
        id=new_id("ca"),
        store_id=store.id,
        cart=Cart(
            key=new_id("cart"),
            currency="USD",
            lines=(LineItem(product_id="p-1", quantity=2, unit_price=Decimal("12.50")),),
            stage=Stage.CART,
            last_activity_at=active_at,
            check_at=active_at + timedelta(minutes=30),
        ),
        created_at=active_at,
    )
    database.carts[record.id] = record
    return record


def test_an_endpoint_is_added_with_a_sealed_secret_shown_once(
    add: Adder, database: FakeDatabase, box: SecretBox, shop: Store
) -> None:
    """
    The secret is `whsec_…`, stored only sealed; no types named means every type.
    """
    # when
    created = add()
    # then
    stored = database.webhooks.endpoints[created.endpoint.id]
    assert created.secret.startswith("whsec_")
    assert created.secret not in stored.sealed_secret
    assert created.secret == box.open(stored.sealed_secret)
    assert set(EventType) == set(stored.event_types)
    assert shop.id == stored.store_id


def test_a_private_destination_is_refused_and_nothing_written(
    add: Adder, database: FakeDatabase, resolver: FakeResolver
) -> None:
    """
    A name resolving to a private address answers the reason; no endpoint is stored.
    """
    resolver.table["internal.example.com"] = ["10.0.0.8"]
    with pytest.raises(UnsafeDestination) as raised:
        add("https://internal.example.com/hook")
    assert "resolves to a private address (10.0.0.8)" == raised.value.reason
    assert {} == database.webhooks.endpoints


def test_an_unknown_event_type_is_refused_with_its_index(
    add: Adder, database: FakeDatabase
) -> None:
    """
    Every unknown type is named; nothing is written.
    """
    with pytest.raises(InvalidInput) as raised:
        add(types=["cart.abandoned", "cart.exploded"])
    assert [("event_types", 1)] == [(e.path, e.index) for e in raised.value.errors]
    assert {} == database.webhooks.endpoints


def test_removing_another_stores_endpoint_is_not_found(
    add: Adder, uow_factory: FakeUnitOfWorkFactory, shop: Store
) -> None:
    """
    Endpoints are scoped to their store.
    """
    created = add()
    with pytest.raises(NotFound):
        remove_endpoint(uow=uow_factory(), store_id="st_other", endpoint_id=created.endpoint.id)
    remove_endpoint(uow=uow_factory(), store_id=shop.id, endpoint_id=created.endpoint.id)
    assert [] == list_endpoints(uow=uow_factory(), store_id=shop.id)


def test_an_abandoned_cart_queues_cart_abandoned_for_a_listening_endpoint(
    add: Adder,
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
) -> None:
    """
    The delivery is written in the timer's transaction, with ids and the total as a string.
    """
    # given
    created = add(types=["cart.abandoned"])
    record = _due_cart(database, shop, clock)
    # when
    process_due_carts(uow=uow_factory(), clock=clock, limit=10)
    # then
    (delivery,) = database.webhooks.deliveries.values()
    assert (created.endpoint.id, "cart.abandoned", DeliveryStatus.PENDING) == (
        delivery.endpoint_id,
        delivery.event_type,
        delivery.status,
    )
    data = delivery.payload["data"]
    assert "cart.abandoned" == delivery.payload["type"]
    assert (record.cart.key, "25.00", "USD", "abandoned") == (
        data["cart_id"],
        data["total"],
        data["currency"],
        data["status"],
    )


def test_a_store_without_endpoints_gets_no_delivery_and_one_read_per_pass(
    database: FakeDatabase, uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, shop: Store
) -> None:
    """
    Three abandoned carts of a store without endpoints: one subscriptions read, no rows.
    """
    for _ in range(3):
        _due_cart(database, shop, clock)
    process_due_carts(uow=uow_factory(), clock=clock, limit=10)
    assert {} == database.webhooks.deliveries
    assert 1 == database.webhooks.subscription_reads


def test_an_endpoint_for_other_types_gets_nothing(
    add: Adder,
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
) -> None:
    """
    Only the types an endpoint takes are queued for it.
    """
    add(types=["touch.sent"])
    _due_cart(database, shop, clock)
    process_due_carts(uow=uow_factory(), clock=clock, limit=10)
    assert {} == database.webhooks.deliveries


def _config(box: SecretBox, resolver: FakeResolver, transport: FakeTransport) -> DeliveryConfig:
    return DeliveryConfig(policy=DestinationPolicy(resolver=resolver), transport=transport, box=box)


def _queue_one(
    add: Adder,
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
) -> CreatedEndpoint:
    created = add(types=["cart.abandoned"])
    _due_cart(database, shop, clock)
    process_due_carts(uow=uow_factory(), clock=clock, limit=10)
    return created


def test_a_delivery_is_signed_sent_to_the_checked_address_and_delivered(
    add: Adder,
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
    box: SecretBox,
    resolver: FakeResolver,
) -> None:
    """
    The POST goes to the resolved address with the real host as Host and TLS name, signed
    with the endpoint's secret; a 200 makes it delivered.
    """
    # given
    created = _queue_one(add, database, uow_factory, clock, shop)
    transport = FakeTransport(AttemptResult(status_code=200))
    # when
    report = deliver_due_webhooks(
        uow_factory=uow_factory, clock=clock, config=_config(box, resolver, transport)
    )
    # then
    (sent,) = transport.sent
    assert (f"https://{PUBLIC}:443/cartback", HOOKS, HOOKS) == (
        sent.url,
        sent.host_header,
        sent.server_name,
    )
    incoming = Delivery(
        platform="receiver",
        store_id="st_r",
        body=sent.body,
        headers=sent.headers,
        received_at=clock.now(),
    )
    (delivery,) = database.webhooks.deliveries.values()
    assert delivery.id == _standard_webhooks.verify(incoming, [created.secret], now=clock.now())
    assert "cart.abandoned" == payload_of(sent)["type"]
    assert {"delivered": 1} == report.statuses
    assert (DeliveryStatus.DELIVERED, 1, 200) == (
        delivery.status,
        delivery.attempts,
        delivery.last_status_code,
    )


def test_a_failure_is_retried_on_schedule_then_delivered(
    add: Adder,
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
    box: SecretBox,
    resolver: FakeResolver,
) -> None:
    """
    A 500 waits 5 seconds; nothing is attempted before; then a 200 delivers it.
    """
    # given
    _queue_one(add, database, uow_factory, clock, shop)
    transport = FakeTransport(AttemptResult(status_code=500), AttemptResult(status_code=200))
    config = _config(box, resolver, transport)
    # when
    first = deliver_due_webhooks(uow_factory=uow_factory, clock=clock, config=config)
    early = deliver_due_webhooks(uow_factory=uow_factory, clock=clock, config=config)
    clock.advance(RETRY_SCHEDULE[0])
    second = deliver_due_webhooks(uow_factory=uow_factory, clock=clock, config=config)
    # then
    assert ({"retry": 1}, {}, {"delivered": 1}) == (first.statuses, early.statuses, second.statuses)
    (delivery,) = database.webhooks.deliveries.values()
    assert (DeliveryStatus.DELIVERED, 2) == (delivery.status, delivery.attempts)
    assert 2 == len(transport.sent)
    assert transport.sent[0].headers["webhook-id"] == transport.sent[1].headers["webhook-id"]


def test_dns_changing_to_a_private_address_stops_the_delivery(
    add: Adder,
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
    box: SecretBox,
    resolver: FakeResolver,
) -> None:
    """
    The URL is checked again at delivery: a name now resolving to 169.254.169.254 gets no
    request, and the attempt records why.
    """
    # given
    _queue_one(add, database, uow_factory, clock, shop)
    resolver.table[HOOKS] = ["169.254.169.254"]
    transport = FakeTransport()
    # when
    deliver_due_webhooks(
        uow_factory=uow_factory, clock=clock, config=_config(box, resolver, transport)
    )
    # then
    assert [] == transport.sent
    (delivery,) = database.webhooks.deliveries.values()
    assert (DeliveryStatus.PENDING, 1) == (delivery.status, delivery.attempts)
    assert "resolves to a link-local address (169.254.169.254)" in (delivery.last_error or "")


def test_an_endpoint_failing_for_days_is_disabled_and_its_deliveries_fail(
    add: Adder,
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
    box: SecretBox,
    resolver: FakeResolver,
) -> None:
    """
    Every attempt failing from the first until `DISABLE_AFTER` later disables the endpoint
    with its reason; what waits for it fails without a request; no new event is queued.
    """
    # given
    created = _queue_one(add, database, uow_factory, clock, shop)
    transport = FakeTransport(*[AttemptResult(status_code=503)] * 20)
    config = _config(box, resolver, transport)
    deliver_due_webhooks(uow_factory=uow_factory, clock=clock, config=config)
    _due_cart(database, shop, clock)
    process_due_carts(uow=uow_factory(), clock=clock, limit=10)  # a second delivery waits
    # when
    clock.advance(DISABLE_AFTER)
    deliver_due_webhooks(uow_factory=uow_factory, clock=clock, config=config)
    # then
    endpoint = database.webhooks.endpoints[created.endpoint.id]
    assert not endpoint.enabled
    assert "every attempt failed since" in (endpoint.disabled_reason or "")
    assert {DeliveryStatus.PENDING} == {d.status for d in database.webhooks.deliveries.values()}
    clock.advance(timedelta(days=1))
    deliver_due_webhooks(uow_factory=uow_factory, clock=clock, config=config)
    assert {DeliveryStatus.FAILED} == {d.status for d in database.webhooks.deliveries.values()}
    attempts_before = len(transport.sent)
    _due_cart(database, shop, clock)
    process_due_carts(uow=uow_factory(), clock=clock, limit=10)
    assert 2 == len(database.webhooks.deliveries)
    assert attempts_before == len(transport.sent)


def test_a_delivery_whose_lease_was_taken_over_is_not_recorded_twice(
    add: Adder,
    database: FakeDatabase,
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
    box: SecretBox,
    resolver: FakeResolver,
) -> None:
    """
    When another worker holds the delivery now (a new lease), this attempt's outcome is
    dropped and counted `lost`.
    """
    _queue_one(add, database, uow_factory, clock, shop)

    class TakenOver(FakeTransport):
        def post(self, **kwargs: object) -> AttemptResult:  # type: ignore[override]
            for key, delivery in database.webhooks.deliveries.items():
                later = (delivery.lease_until or clock.now()) + timedelta(seconds=1)
                database.webhooks.deliveries[key] = replace(delivery, lease_until=later)
            return AttemptResult(status_code=200)

    report = deliver_due_webhooks(
        uow_factory=uow_factory, clock=clock, config=_config(box, resolver, TakenOver())
    )
    assert {"lost": 1} == report.statuses
    (delivery,) = database.webhooks.deliveries.values()
    assert DeliveryStatus.PENDING == delivery.status
