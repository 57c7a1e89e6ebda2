"""
The offer journey end to end, as a Shopify merchant runs it: a signed `checkouts/update` webhook
leaves a two-variant checkout, the worker on the simulated clock sends the resolution email with
a code, and the shopper's click on the email's restore link lands on Shopify's cart permalink
with exactly the checkout's variants and quantities and that code.
"""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from test_shopify_webhooks import TOKEN_2024, Send, payload, send, shop

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.services.flows import apply_flows
from cartback.services.stores import CreatedStore
from helpers import auth

__all__ = ["send", "shop"]

RESOLUTION_FLOW = """
flows:
  - name: checkout-recovery
    trigger: {stages: [checkout], inactive_for: 30m}
    steps:
      - wait: 1h
        channel: email
        template: resolution
        offer: {kind: percent, value: 10, expires_in: 48h}
"""


def _checkout(clock: SimulatedClock) -> dict[str, Any]:
    """
    A checkout with two variants: 2 x 41327142600817 and 3 x 41327142600818.
    """
    body = copy.deepcopy(payload("checkouts_update_2024_contact.json"))
    extra = copy.deepcopy(body["line_items"][0])
    extra.update(variant_id=41327142600818, quantity=3, key="second-line", price="20.00")
    body["line_items"].append(extra)
    body["updated_at"] = clock.now().isoformat()
    return body


def test_a_click_on_the_resolution_email_rebuilds_the_cart_with_its_code(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: CreatedStore,
    send: Send,
) -> None:
    """
    The restore link in the resolution email answers 303 to
    `https://{shop}/cart/41327142600817:2,41327142600818:3` with `discount=<the email's code>`
    and the campaign's UTM parameters; the touch then shows its click.
    """
    # given
    apply_flows(
        uow=container.uow_factory(), clock=clock, store_id=shop.store.id, text=RESOLUTION_FLOW
    )
    assert 200 == send("checkouts/update", _checkout(clock)).status_code
    worker = container.new_worker(name="journey")
    for _ in range(24):
        clock.advance(timedelta(minutes=5))
        worker.run_pass()
        worker.offer_pass()
        worker.dispatch_pass()
    messages = client.get("/v1/messages", headers=auth(shop.secret_key)).json()["data"]
    (email,) = messages
    (code,) = set(re.findall(r"\b[A-HJ-NP-Z2-9]{10}\b", email["text"]))
    (link,) = set(re.findall(r"https?://[^\s\"<>]+/r/[A-Za-z0-9_.\-]+", email["text"]))

    # when
    response = client.get(urlsplit(link).path, follow_redirects=False)

    # then
    assert 303 == response.status_code
    location = urlsplit(response.headers["location"])
    assert ("https", "/cart/41327142600817:2,41327142600818:3") == (
        location.scheme,
        location.path,
    )
    query = parse_qs(location.query)
    assert [code] == query["discount"]
    assert ["cartback"] == query["utm_source"]
    assert ["email"] == query["utm_medium"]
    cart = client.get(f"/v1/carts/{TOKEN_2024}", headers=auth(shop.secret_key)).json()
    assert cart["touches"][0]["clicked_at"] is not None
