"""
Outbound webhook delivery over real HTTP to a local receiver (allowed by
`CARTBACK_WEBHOOK_ALLOW_HOSTS=127.0.0.1`, as in development): the receiver checks the Standard
Webhooks signature; a 500 is retried and then delivered, a 429's `Retry-After` is honoured, and
a 302 to a private address is never followed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cartback.bootstrap import Container, bootstrap
from cartback.domain.errors import Unauthenticated
from cartback.domain.webhooks import RETRY_SCHEDULE, EventType, OutboundEvent
from cartback.engine.clock import SimulatedClock
from cartback.services.stores import CreatedStore
from cartback.services.webhook_delivery import deliver_due_webhooks
from cartback.services.webhook_events import WebhookEvents
from cartback.services.webhooks import CreatedEndpoint, add_endpoint
from cartback.settings import Settings
from cartback.sources import _standard_webhooks
from cartback.sources._webhooks import Delivery

Answer = tuple[int, dict[str, str]]


@dataclass
class Receiver:
    """
    A local HTTP server that answers from a script (then 200) and keeps what it received.
    """

    answers: list[Answer] = field(default_factory=list)
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _serve(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.received.append((self.path, headers, body))
            status, extra = receiver.answers.pop(0) if receiver.answers else (200, {})
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """
    The merchant's receiver.
    """
    yield from _serve(Receiver())


@pytest.fixture
def bystander() -> Iterator[Receiver]:
    """
    A private service a redirect points at (it must never be called).
    """
    yield from _serve(Receiver())


@pytest.fixture
def container(
    database_url: str, clock: SimulatedClock, settings_factory: Callable[..., Settings]
) -> Iterator[Container]:
    """
    A container whose webhooks may reach 127.0.0.1 over http (the development allow list).
    """
    built = bootstrap(settings_factory(database_url, webhook_allow_hosts="127.0.0.1"), clock=clock)
    yield built
    built.close()


def _endpoint(container: Container, store: CreatedStore, url: str) -> CreatedEndpoint:
    return add_endpoint(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        policy=container.destination_policy(),
        store_id=store.store.id,
        url=url,
        types=["cart.abandoned"],
    )


def _emit(container: Container, store: CreatedStore) -> None:
    event = OutboundEvent(
        store_id=store.store.id,
        type=EventType.CART_ABANDONED,
        occurred_at=container.clock.now(),
        data={"store_id": store.store.id, "cart_id": "c-1", "total": "10.00", "currency": "USD"},
    )
    with container.uow_factory() as uow:
        WebhookEvents().emit(uow, event)
        uow.commit()


def _deliver(container: Container) -> dict[str, int]:
    report = deliver_due_webhooks(
        uow_factory=container.uow_factory,
        clock=container.clock,
        config=container.webhook_delivery(),
    )
    return report.statuses


def _verify(received: tuple[str, dict[str, str], bytes], secret: str, now: Any) -> str:
    _, headers, body = received
    incoming = Delivery(
        platform="receiver", store_id="st_r", body=body, headers=headers, received_at=now
    )
    return _standard_webhooks.verify(incoming, [secret], now=now)


def _state(container: Container, store: CreatedStore, endpoint_id: str) -> Any:
    with container.uow_factory(read_only=True) as uow:
        (delivery,) = uow.webhooks.deliveries(store.store.id, endpoint_id, limit=5)
    return delivery


def test_a_500_is_retried_and_then_delivered_signed_both_times(
    container: Container, store: CreatedStore, receiver: Receiver, clock: SimulatedClock
) -> None:
    """
    The receiver verifies each request; the retry carries the same webhook-id.
    """
    # given
    created = _endpoint(container, store, receiver.url())
    _emit(container, store)
    receiver.answers = [(500, {})]
    # when
    first = _deliver(container)
    clock.advance(RETRY_SCHEDULE[0])
    second = _deliver(container)
    # then
    assert ({"retry": 1}, {"delivered": 1}) == (first, second)
    ids = {_verify(r, created.secret, clock.now()) for r in receiver.received}
    delivery = _state(container, store, created.endpoint.id)
    assert {delivery.id} == ids
    assert ("delivered", 2, 200) == (
        delivery.status.value,
        delivery.attempts,
        delivery.last_status_code,
    )
    with pytest.raises(Unauthenticated):
        _verify(receiver.received[0], "whsec_" + "A" * 32, clock.now())


def test_a_429_retry_after_is_honoured(
    container: Container, store: CreatedStore, receiver: Receiver, clock: SimulatedClock
) -> None:
    """
    `Retry-After: 120` sets the next attempt two minutes on, not the schedule's 5 seconds.
    """
    created = _endpoint(container, store, receiver.url())
    _emit(container, store)
    receiver.answers = [(429, {"Retry-After": "120"})]
    assert {"retry": 1} == _deliver(container)
    delivery = _state(container, store, created.endpoint.id)
    assert clock.now() + timedelta(seconds=120) == delivery.next_attempt_at
    clock.advance(timedelta(seconds=60))
    assert {} == _deliver(container)
    clock.advance(timedelta(seconds=60))
    assert {"delivered": 1} == _deliver(container)


def test_a_redirect_to_a_private_address_is_not_followed(
    container: Container,
    store: CreatedStore,
    receiver: Receiver,
    bystander: Receiver,
    clock: SimulatedClock,
) -> None:
    """
    A 302 to http://127.0.0.1/… is recorded as a failed attempt; the target gets nothing.
    """
    created = _endpoint(container, store, receiver.url())
    _emit(container, store)
    receiver.answers = [(302, {"Location": bystander.url("/admin/delete")})]
    assert {"retry": 1} == _deliver(container)
    delivery = _state(container, store, created.endpoint.id)
    assert [] == bystander.received
    assert 302 == delivery.last_status_code
    assert "redirects are not followed" in delivery.last_error


def test_the_worker_delivers_due_webhooks(
    container: Container, store: CreatedStore, receiver: Receiver
) -> None:
    """
    `cartback worker`'s loop runs the delivery pass.
    """
    _endpoint(container, store, receiver.url())
    _emit(container, store)
    container.new_worker().run(once=True)
    assert 1 == len(receiver.received)
    assert "cart.abandoned" in receiver.received[0][2].decode()


def test_a_refused_connection_is_a_failed_attempt(
    container: Container, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    Nobody listening: the attempt records the error and waits for the next try.
    """
    closed = Receiver()
    for _ in _serve(closed):
        pass  # started and stopped: its port is free again
    created = _endpoint(container, store, closed.url())
    _emit(container, store)
    assert {"retry": 1} == _deliver(container)
    delivery = _state(container, store, created.endpoint.id)
    assert delivery.last_status_code is None
    assert "ConnectError" in delivery.last_error
    assert clock.now() + RETRY_SCHEDULE[0] == delivery.next_attempt_at
