"""
`/v1/webhooks` and `/v1/health/alerts` on a real database: endpoints added (secret shown
once), listed, removed; every bad input a 400 problem naming the field, with nothing written;
the events written in the transactions of the changes they report; health alerts from the
store's real arrivals.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.domain.consent import Channel
from cartback.engine.clock import SimulatedClock
from cartback.services.abandonment import process_due_carts
from cartback.services.health import check_health
from cartback.services.stores import CreatedStore
from cartback.services.unsubscribe import LinkTarget, unsubscribe
from helpers import assert_problem, auth, identify, track
from webhook_fakes import FakeResolver

HOOKS = "https://hooks.example.com/cartback"


@pytest.fixture
def resolver(container: Container) -> FakeResolver:
    """
    The container's DNS: hooks.example.com is public, internal.example.com private.
    """
    fake = FakeResolver(
        {
            "hooks.example.com": ["93.184.215.14"],
            "internal.example.com": ["10.0.0.5"],
            "rebind.example.com": ["93.184.215.14", "127.0.0.1"],
        }
    )
    container.resolver = fake
    return fake


def _add(client: TestClient, store: CreatedStore, **body: Any) -> Any:
    return client.post("/v1/webhooks", json={"url": HOOKS, **body}, headers=auth(store.secret_key))


def _listed(client: TestClient, store: CreatedStore) -> list[dict[str, Any]]:
    response = client.get("/v1/webhooks", headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


@pytest.mark.usefixtures("resolver")
def test_an_endpoint_is_added_listed_and_removed(client: TestClient, store: CreatedStore) -> None:
    """
    The secret comes once, in the creation answer; the list never shows it.
    """
    # when
    created = _add(client, store, event_types=["cart.abandoned", "touch.sent"])
    # then
    assert 201 == created.status_code, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert (["cart.abandoned", "touch.sent"], True) == (body["event_types"], body["enabled"])
    (listed,) = _listed(client, store)
    assert body["id"] == listed["id"]
    assert "secret" not in listed
    removed = client.delete(f"/v1/webhooks/{body['id']}", headers=auth(store.secret_key))
    again = client.delete(f"/v1/webhooks/{body['id']}", headers=auth(store.secret_key))
    assert 204 == removed.status_code
    assert_problem(again, 404)
    assert [] == _listed(client, store)


@pytest.mark.usefixtures("resolver")
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/cartback", "must be an https URL"),
        ("https://internal.example.com/x", "resolves to a private address (10.0.0.5)"),
        ("https://rebind.example.com/x", "resolves to a loopback address (127.0.0.1)"),
        ("https://unknown.example.com/x", "does not resolve to any address"),
        ("https://127.0.0.1/x", "is a loopback address (127.0.0.1)"),
        ("https://169.254.169.254/latest", "is a link-local address (169.254.169.254)"),
        ("https://[::1]/x", "is a loopback address (::1)"),
        ("https://10.1.2.3/x", "is a private address (10.1.2.3)"),
        ("https://2130706433/x", "writes an IPv4 address in a non-standard form"),
        ("https://user:secret@hooks.example.com/x", "must not contain credentials"),
        ("https://hooks.example.com./x", "has a host name ending in a dot"),
    ],
)
def test_an_unsafe_url_is_a_400_naming_url_and_nothing_is_written(
    client: TestClient, store: CreatedStore, url: str, message: str
) -> None:
    """
    The problem names `url` and the reason.
    """
    problem = assert_problem(_add(client, store, url=url), 400)
    assert "url" == problem["errors"][0]["field"]
    assert problem["errors"][0]["message"].startswith(message)
    assert [] == _listed(client, store)


@pytest.mark.usefixtures("resolver")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_types": ["cart.abandoned", "cart.exploded"]}, "event_types"),
        ({"event_types": "cart.abandoned"}, "event_types"),
        ({"url": 42}, "url"),
        ({"url": None}, "url"),
        ({"secret": "whsec_mine"}, "secret"),
    ],
)
def test_bad_fields_are_a_400_and_nothing_is_written(
    client: TestClient, store: CreatedStore, body: dict[str, Any], field: str
) -> None:
    """
    Unknown event types, wrong types and unknown fields are refused.
    """
    problem = assert_problem(_add(client, store, **body), 400)
    assert field in [e["field"].split(".")[-1] for e in problem["errors"]]
    assert [] == _listed(client, store)


def test_webhooks_need_the_server_key(client: TestClient, store: CreatedStore) -> None:
    """
    No key, or the public key: 401 or 403, and nothing written.
    """
    assert_problem(client.get("/v1/webhooks"), 401)
    public = client.post("/v1/webhooks", json={"url": HOOKS}, headers=auth(store.public_key))
    assert public.status_code in (401, 403)
    assert [] == _listed(client, store)


@pytest.mark.usefixtures("resolver")
def test_another_stores_endpoint_is_not_found(
    client: TestClient, store_factory: Any, store: CreatedStore
) -> None:
    """
    Removing or reading another store's endpoint answers 404 and changes nothing.
    """
    other = store_factory(name="Other")
    created = _add(client, other).json()
    deleted = client.delete(f"/v1/webhooks/{created['id']}", headers=auth(store.secret_key))
    read = client.get(f"/v1/webhooks/{created['id']}/deliveries", headers=auth(store.secret_key))
    assert_problem(deleted, 404)
    assert_problem(read, 404)
    assert 1 == len(_listed(client, other))


def _deliveries(client: TestClient, store: CreatedStore, endpoint_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


@pytest.mark.usefixtures("resolver")
def test_abandonment_recovery_and_unsubscribe_write_their_events(
    client: TestClient, container: Container, clock: SimulatedClock, store: CreatedStore
) -> None:
    """
    `cart.abandoned` with the timer, `cart.recovered` with the order, `contact.unsubscribed`
    with the link: ids and amounts, no email address anywhere.
    """
    # given
    endpoint = _add(client, store).json()
    key = auth(store.secret_key)
    batch = [
        identify(anonymous_id="anon-9", email="shopper@example.org"),
        track("Product Added", anonymous_id="anon-9", cart_id="c-9", product_id="p", price=20),
    ]
    assert 200 == client.post("/v1/batch", json={"batch": batch}, headers=key).status_code
    clock.advance(timedelta(minutes=31))
    # when
    process_due_carts(uow=container.uow_factory(), clock=clock, limit=10)
    with container.uow_factory() as uow:
        cart = uow.carts.get(store.store.id, "c-9")
        assert cart is not None
        uow.touches.mark_carts_touched([cart.id], at=clock.now())
        uow.commit()
    order = track("Order Completed", anonymous_id="anon-9", cart_id="c-9", order_id="o-9", total=20)
    assert 200 == client.post("/v1/batch", json={"batch": [order]}, headers=key).status_code
    assert cart.contact_id is not None
    unsubscribe(
        uow=container.uow_factory(),
        clock=clock,
        target=LinkTarget(
            store_id=store.store.id, contact_id=cart.contact_id, channel=Channel.EMAIL
        ),
    )
    # then
    found = {d["event_type"]: d for d in _deliveries(client, store, endpoint["id"])}
    assert {"cart.abandoned", "cart.recovered", "contact.unsubscribed"} == set(found)
    abandoned = found["cart.abandoned"]["payload"]["data"]
    assert ("c-9", "20.00", "USD", cart.contact_id) == (
        abandoned["cart_id"],
        abandoned["total"],
        abandoned["currency"],
        abandoned["contact_id"],
    )
    assert "o-9" == found["cart.recovered"]["payload"]["data"]["order_id"]
    assert ("email", "unsubscribe_link") == (
        found["contact.unsubscribed"]["payload"]["data"]["channel"],
        found["contact.unsubscribed"]["payload"]["data"]["source"],
    )
    assert "shopper@example.org" not in str(found)
    assert {"pending"} == {d["status"] for d in found.values()}


def test_health_alerts_open_when_events_stop_and_resolve_when_they_resume(
    client: TestClient, container: Container, clock: SimulatedClock, store: CreatedStore
) -> None:
    """
    Hourly events for six hours, then three silent hours: one `events_stopped` alert (none
    about orders: there never were any); the next event resolves it.
    """
    # given
    key = auth(store.secret_key)
    for hour in range(6):
        message = track("Product Viewed", anonymous_id=f"anon-{hour}", product_id="p")
        assert 200 == client.post("/v1/batch", json={"batch": [message]}, headers=key).status_code
        clock.advance(timedelta(hours=1))
    clock.advance(timedelta(hours=2, minutes=30))
    # when
    check_health(uow_factory=container.uow_factory, clock=clock)
    opened = client.get("/v1/health/alerts", headers=key)
    clock.advance(timedelta(minutes=1))
    message = track("Product Viewed", anonymous_id="anon-back", product_id="p")
    client.post("/v1/batch", json={"batch": [message]}, headers=key)
    clock.advance(timedelta(minutes=1))
    check_health(uow_factory=container.uow_factory, clock=clock)
    resolved = client.get("/v1/health/alerts", headers=key)
    # then
    assert 200 == opened.status_code, opened.text
    (alert,) = opened.json()["data"]
    assert "events_stopped" == alert["kind"]
    assert alert["detail"].startswith("no events for 3h30m")
    assert {"data": [], "count": 0} == resolved.json()
    assert_problem(client.get("/v1/health/alerts"), 401)
