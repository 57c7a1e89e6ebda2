"""
`touch.sent` and `touch.skipped` written by the real worker's dispatch pass, on a real
database: a recovery email goes (sent), the flow's SMS step finds no SMS consent (skipped with
its reason).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.services.flows import apply_flows
from cartback.services.stores import CreatedStore
from cartback.services.webhooks import add_endpoint
from helpers import auth, identify, track
from webhook_fakes import FakeResolver

FLOWS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - {wait: 1h, channel: sms, template: nudge}
"""


def test_sent_and_skipped_touches_write_their_events(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    store_factory: Any,
) -> None:
    """
    One `touch.sent` for the email, one `touch.skipped` (`no_consent`) for the SMS step.
    """
    # given
    store: CreatedStore = store_factory(country="US", timezone="America/New_York")
    store_id = store.store.id
    apply_flows(uow=container.uow_factory(), clock=clock, store_id=store_id, text=FLOWS)
    container.resolver = FakeResolver({"hooks.example.com": ["93.184.215.14"]})
    endpoint = add_endpoint(
        uow=container.uow_factory(),
        clock=clock,
        box=container.box,
        policy=container.destination_policy(),
        store_id=store_id,
        url="https://hooks.example.com/in",
        types=["touch.sent", "touch.skipped"],
    ).endpoint
    batch = [
        identify(anonymous_id="a-1", at=clock.now(), email="ada@example.com"),
        track("Product Added", anonymous_id="a-1", cart_id="c-1", product_id="p", price=25),
    ]
    response = client.post("/v1/batch", json={"batch": batch}, headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    worker = container.new_worker(name="test")
    # when
    for step in (timedelta(minutes=31), timedelta(hours=1), timedelta(hours=1, minutes=1)):
        clock.advance(step)
        worker.run_pass()
        worker.dispatch_pass()
    # then
    with container.uow_factory(read_only=True) as uow:
        deliveries = uow.webhooks.deliveries(store_id, endpoint.id, limit=10)
    by_type = {d.event_type: d.payload["data"] for d in deliveries}
    assert {"touch.sent", "touch.skipped"} == set(by_type)
    sent, skipped = by_type["touch.sent"], by_type["touch.skipped"]
    assert ("c-1", "email", 0) == (sent["cart_id"], sent["channel"], sent["step"])
    assert ("c-1", "sms", 1, "no_consent") == (
        skipped["cart_id"],
        skipped["channel"],
        skipped["step"],
        skipped["reason"],
    )
    assert "ada@example.com" not in str(by_type)
