"""
Recovery by device and country in `GET /v1/reports/summary`, on a small fixed shop built
through the real API and worker, every number written out by hand. The device comes from the
browser's user agent; the country from an address, else the phone number, else the locale.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.services.flows import apply_flows
from cartback.services.stores import CreatedStore
from helpers import auth, track

FLOWS = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: email, template: reminder}
"""

IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/12.1 Mobile/15E148 Safari/604.1"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36"
)
MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15"
)
GALAXY_TAB = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

#: cart id, user agent, locale, contact traits, order total (None: never orders).
SHOPPERS: list[tuple[str, str, str, dict[str, str], int | None]] = [
    ("c-ipad", IPAD, "en-GB", {"email": "ada@example.com"}, 40),
    ("c-iphone", IPHONE, "en-US", {"email": "bob@example.com", "phone": "+33612345678"}, 25),
    ("c-win", WINDOWS, "en-US", {"email": "cyd@example.com"}, 30),
    ("c-mac", MAC, "fr", {"email": "dan@example.com"}, None),
    ("c-tab", GALAXY_TAB, "de-AT", {}, None),
    ("c-bot", GOOGLEBOT, "en-US", {"email": "eve@example.com"}, None),
]


@pytest.fixture
def shop(
    store_factory: Callable[..., CreatedStore], container: Container, clock: SimulatedClock
) -> CreatedStore:
    """
    A US store (recovery email on the opt-out model) with a one-step email flow.
    """
    created = store_factory(country="US", timezone="UTC")
    apply_flows(uow=container.uow_factory(), clock=clock, store_id=created.store.id, text=FLOWS)
    return created


def _post(client: TestClient, store: CreatedStore, *messages: dict[str, Any]) -> None:
    response = client.post(
        "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text


def _in_browser(message: dict[str, Any], agent: str, locale: str, traits: dict[str, str]) -> Any:
    message["context"] = {"userAgent": agent, "locale": locale, "traits": traits}
    return message


def _run(container: Container) -> None:
    worker = container.new_worker(name="origin-test")
    for _ in range(10):
        if not worker.run_pass().processed and not worker.dispatch_pass().processed:
            return


def _report(client: TestClient, shop: CreatedStore, clock: SimulatedClock) -> dict[str, Any]:
    since = (clock.now() - timedelta(days=1)).isoformat()
    response = client.get(
        "/v1/reports/summary", params={"from": since}, headers=auth(shop.secret_key)
    )
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def report(
    client: TestClient, shop: CreatedStore, clock: SimulatedClock, container: Container
) -> dict[str, Any]:
    """
    Six carts left at once; the first touch goes an hour later; the iPad (40), the iPhone (25)
    and the Windows shopper (30, shipping to Germany) order an hour after that.
    """
    for cart_id, agent, locale, traits, _total in SHOPPERS:
        added = track(
            "Product Added",
            anonymous_id=f"anon-{cart_id}",
            at=clock.now(),
            cart_id=cart_id,
            product_id="p-1",
            price=20,
            quantity=1,
        )
        _post(client, shop, _in_browser(added, agent, locale, traits))
    clock.advance(timedelta(minutes=31))
    _run(container)
    clock.advance(timedelta(hours=1))
    _run(container)  # the touches go
    clock.advance(timedelta(hours=1))
    for cart_id, _agent, _locale, _traits, total in SHOPPERS:
        if total is not None:
            order = track(
                "Order Completed",
                anonymous_id=f"anon-{cart_id}",
                at=clock.now(),
                cart_id=cart_id,
                order_id=f"o-{cart_id}",
                total=total,
                currency="USD",
            )
            if cart_id == "c-win":  # a platform's order: no browser, an address in Germany
                order["properties"]["shipping_address"] = {"country_code": "DE"}
            _post(client, shop, order)
    return _report(client, shop, clock)


def test_recovery_by_device_matches_the_hand_computed_answers(report: dict[str, Any]) -> None:
    """
    Desktop: Windows (recovered, 30) and Mac; mobile: the iPhone (25); tablet: the iPad (40)
    and the Galaxy Tab (no address: not reachable). The robot is never counted.
    """
    assert 5 == report["abandoned_carts"]
    assert [
        {
            "device": "desktop",
            "abandoned": 2,
            "reachable": 2,
            "recovered": 1,
            "recovery_rate": 0.5,
            "recovered_revenue": "30.00",
        },
        {
            "device": "mobile",
            "abandoned": 1,
            "reachable": 1,
            "recovered": 1,
            "recovery_rate": 1.0,
            "recovered_revenue": "25.00",
        },
        {
            "device": "tablet",
            "abandoned": 2,
            "reachable": 1,
            "recovered": 1,
            "recovery_rate": 0.5,
            "recovered_revenue": "40.00",
        },
    ] == report["by_device"]


def test_recovery_by_country_follows_address_then_phone_then_locale(
    report: dict[str, Any],
) -> None:
    """
    DE from the shipping address (beats en-US), FR from the phone (beats en-US), GB and AT
    from the locale; `fr` names no region, so the Mac shopper's country is unknown.
    """
    rows = [
        (
            r["country"],
            r["abandoned"],
            r["reachable"],
            r["recovered"],
            r["recovery_rate"],
            r["recovered_revenue"],
        )
        for r in report["by_country"]
    ]
    assert [
        ("AT", 1, 0, 0, 0.0, "0.00"),
        ("DE", 1, 1, 1, 1.0, "30.00"),
        ("FR", 1, 1, 1, 1.0, "25.00"),
        ("GB", 1, 1, 1, 1.0, "40.00"),
        ("unknown", 1, 1, 0, 0.0, "0.00"),
    ] == rows


def test_every_breakdown_row_has_the_same_shape(report: dict[str, Any]) -> None:
    """
    Stage, reason, device and country rows carry the same counts under their own label.
    """
    counts = {"abandoned", "reachable", "recovered", "recovery_rate", "recovered_revenue"}
    for name, label in (
        ("by_stage", "stage"),
        ("by_abandonment_reason", "reason"),
        ("by_device", "device"),
        ("by_country", "country"),
    ):
        assert report[name], name
        assert all({label} | counts == set(row) for row in report[name]), name
    # the four breakdowns partition the same abandoned carts
    for name in ("by_stage", "by_abandonment_reason", "by_device", "by_country"):
        assert 5 == sum(r["abandoned"] for r in report[name])
        assert "95.00" == f"{sum(float(r['recovered_revenue']) for r in report[name]):.2f}"
