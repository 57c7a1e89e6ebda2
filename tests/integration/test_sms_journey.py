"""
Recovery texts end to end: the real API and worker on the simulated clock, the `twilio`
backend against a local Messages API that checks each request as Twilio documents it, then
Twilio's signed status callbacks, and the short link in the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from test_recovery_engine import _grant_sms, cart, leave_cart, run, shop
from test_twilio_channel import ACCOUNT, NUMBER, TOKEN, FakeTwilio, twilio

from cartback.bootstrap import Container, bootstrap
from cartback.engine.clock import SimulatedClock
from cartback.services.sms_config import configure_sms
from cartback.services.stores import CreatedStore
from cartback.settings import Settings
from helpers import auth
from twilio_signing import twilio_signature

__all__ = ["shop", "twilio"]

BASE_URL = "https://cartback.example.com"
PHONE = "+12125550123"
TWO_TEXTS = """
flows:
  - name: sms-recovery
    trigger: {stages: [cart], inactive_for: 30m}
    steps:
      - {wait: 5h, channel: sms, template: reminder}
      - {wait: 1d, channel: sms, template: support}
defaults:
  frequency_cap: {messages: 5, per: 24h}
"""


@pytest.fixture
def container(
    database_url: str,
    clock: SimulatedClock,
    settings_factory: Callable[..., Settings],
    twilio: FakeTwilio,
) -> Iterator[Container]:
    """
    The service texting through the local Twilio API.
    """
    settings = settings_factory(
        database_url, sms_backend="twilio", twilio_api_url=twilio.url, base_url=BASE_URL
    )
    built = bootstrap(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def texted(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    shop: Callable[..., CreatedStore],
    twilio: FakeTwilio,
) -> CreatedStore:
    """
    A US store with its Twilio account whose shopper (SMS consent given) left a cart and got
    both texts of the flow, each at 14:30 New York time.
    """
    store = shop(TWO_TEXTS)
    configure_sms(
        uow=container.uow_factory(),
        clock=clock,
        box=container.box,
        store_id=store.store.id,
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        sender=NUMBER,
    )
    leave_cart(client, store, clock, phone=PHONE)
    _grant_sms(client, store, container)
    worker = container.new_worker(name="sms-journey")
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.advance(timedelta(hours=5))
    run(worker)
    clock.advance(timedelta(days=1))
    run(worker)
    return store


def _callback(client: TestClient, store: CreatedStore, callback_url: str, **fields: str) -> int:
    """
    Post a status callback to the URL the text named, signed as Twilio signs it.
    """
    parts = urlsplit(callback_url)
    path = f"{parts.path}?{parts.query}"
    signature = twilio_signature(TOKEN, callback_url, fields)
    response = client.post(
        path,
        content=urlencode(fields),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    return response.status_code


def test_each_text_goes_to_twilio_as_documented_and_only_the_first_says_how_to_stop(
    texted: CreatedStore, twilio: FakeTwilio
) -> None:
    """
    Two requests, each valid by the API's rules, to the shopper's number from the store's; the
    first text names the store and carries the STOP notice, the second does not repeat it.
    """
    # then
    assert [] == twilio.violations
    assert 2 == len(twilio.requests)
    first, second = (request["Body"][0] for request in twilio.requests)
    assert [PHONE, PHONE] == [request["To"][0] for request in twilio.requests]
    assert [NUMBER, NUMBER] == [request["From"][0] for request in twilio.requests]
    assert "Test Shop" in first
    assert "STOP" in first
    assert "STOP" not in second


def test_the_touch_keeps_the_sid_segments_and_cost(
    texted: CreatedStore, client: TestClient
) -> None:
    """
    The touch went `sent` with Twilio's sid, its segment count and estimated cost.
    """
    # when
    first = cart(client, texted)["touches"][0]

    # then
    assert "sent" == first["status"]
    assert 1 <= first["segments"] <= 2
    assert "USD" == first["cost_currency"]
    assert float(first["cost_estimate"]) == pytest.approx(0.0083 * first["segments"])


def test_signed_status_callbacks_move_the_touch_and_forged_ones_are_refused(
    texted: CreatedStore, client: TestClient, twilio: FakeTwilio
) -> None:
    """
    `delivered` for the first text and `undelivered` (30003) for the second, signed with the
    store's token at the callback URL the request named; a forged one changes nothing.
    """
    # given
    callbacks = [request["StatusCallback"][0] for request in twilio.requests]
    touches = cart(client, texted)["touches"]
    assert [t["id"] for t in touches] == [
        parse_qs(urlsplit(c).query)["touch"][0] for c in callbacks
    ]
    sid = "SM" + "a" * 32

    # when
    delivered = _callback(
        client, texted, callbacks[0], MessageSid=sid, MessageStatus="delivered", To=PHONE
    )
    undelivered = _callback(
        client,
        texted,
        callbacks[1],
        MessageSid="SM" + "b" * 32,
        MessageStatus="undelivered",
        ErrorCode="30003",
        To=PHONE,
    )
    forged = client.post(
        urlsplit(callbacks[0]).path + "?" + urlsplit(callbacks[0]).query,
        content=urlencode({"MessageSid": sid, "MessageStatus": "failed"}),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl",
        },
    )

    # then
    assert (204, 204, 401) == (delivered, undelivered, forged.status_code)
    first, second = cart(client, texted)["touches"]
    assert ("delivered", "undelivered") == (first["status"], second["status"])
    assert first["delivered_at"] is not None


def test_the_short_link_in_the_text_leads_back_to_the_cart(
    texted: CreatedStore, client: TestClient, twilio: FakeTwilio
) -> None:
    """
    `/s/{code}` in the text is the store's restore link for that touch, which leads to the shop.
    """
    # given
    body = twilio.requests[0]["Body"][0]
    found = re.search(rf"{re.escape(BASE_URL)}(/s/\w+)", body)
    assert found is not None

    # when
    short = client.get(found.group(1), follow_redirects=False)
    restore = client.get(urlsplit(short.headers["location"]).path, follow_redirects=False)

    # then
    assert 303 == short.status_code
    assert 303 == restore.status_code
    assert restore.headers["location"].startswith("https://shop.example.com")


def test_the_messages_api_lists_no_outbox_texts_when_twilio_sends(
    texted: CreatedStore, client: TestClient
) -> None:
    """
    The outbox keeps only what it was asked to keep: with Twilio, nothing.
    """
    # when
    listed = client.get("/v1/messages", headers=auth(texted.secret_key)).json()

    # then
    assert 0 == listed["count"]
