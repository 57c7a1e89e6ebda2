"""
The Shopify webhook source (`sources/shopify.py`): every topic with captured real payloads of
both generations and our variants, cart keys and order linking, times, identity and consent,
refused payloads with their paths, the scrubbed recovery key, signatures (computed vectors,
rotation), privacy requests, restore URLs and shop domains.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartback.domain.consent import Channel, ConsentClaim, Purpose
from cartback.domain.errors import InvalidInput, Unauthenticated
from cartback.domain.events import (
    AppliedDiscount,
    CartSnapshot,
    IdentityClaims,
    LineItem,
    OrderChanged,
    OrderPlaced,
    Stage,
)
from cartback.domain.ingest import Inbound, MessageKind
from cartback.sources import shopify
from cartback.sources._shopify_admin import ShopifyAdmin, ShopifyAdminError, topic_enum
from cartback.sources._webhooks import Delivery, PrivacyKind, PrivacyRequest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "shopify"
RECEIVED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
TOKEN_2024 = "Z2NwLXVzLWVhc3QxOjAxSkJaTUVRSjgzNUJUN1BTNjEzRFdRUFFQ"
TOKEN_REST = "68778783ad298f1c80c3bafcddeea02f"


def raw(name: str) -> bytes:
    """
    A fixture file's exact bytes.
    """
    return (FIXTURES / name).read_bytes()


def payload(name: str) -> dict[str, Any]:
    """
    A webhook body from a fixture, unwrapped from `{"checkout": …}` / `{"order": …}` /
    `{"carts": [first, …]}` where the REST fixture wraps it.
    """
    document: dict[str, Any] = json.loads(raw(name))
    for wrapper in ("checkout", "order"):
        if wrapper in document:
            inner: dict[str, Any] = document[wrapper]
            return inner
    if "carts" in document:
        first: dict[str, Any] = document["carts"][0]
        return first
    return document


def delivery(
    topic: str,
    body: dict[str, Any] | bytes,
    *,
    event_id: str | None = "evt-1",
    region: str | None = "US",
    **headers: str,
) -> Delivery:
    """
    A delivery as the route builds it (header names lower-cased).
    """
    names = {k.replace("_", "-").lower(): v for k, v in headers.items()}
    if event_id is not None:
        names["x-shopify-event-id"] = event_id
    return Delivery(
        platform="shopify",
        store_id="st_test",
        body=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={"x-shopify-topic": topic, **names},
        received_at=RECEIVED,
        default_region=region,
    )


def one(topic: str, body: dict[str, Any] | bytes, **options: Any) -> Inbound:
    """
    The single message a valid delivery parses to.
    """
    parsed = shopify.parse(delivery(topic, body, **options))
    assert [] == parsed.errors
    (message,) = parsed.messages
    return message


def errors(topic: str, body: dict[str, Any] | bytes) -> list[tuple[str, str]]:
    """
    The (path, message) of each error for a delivery that does not parse.
    """
    parsed = shopify.parse(delivery(topic, body))
    assert [] == parsed.messages
    return [(e.path, e.message) for e in parsed.errors]


def at(text: str) -> datetime:
    """
    An ISO time with its offset, in UTC.
    """
    return datetime.fromisoformat(text).astimezone(UTC)


# --- topics ---------------------------------------------------------------------------------


def test_the_handled_topics_are_the_cart_checkout_and_order_topics() -> None:
    """
    Carts, checkouts and orders are ingested; the privacy topics are answered by `privacy`.
    """
    # given
    expected = {
        "carts/create", "carts/update", "checkouts/create", "checkouts/update",
        "checkouts/delete", "orders/create", "orders/paid", "orders/cancelled",
    }  # fmt: skip
    privacy = {"customers/data_request", "customers/redact", "shop/redact", "app/uninstalled"}
    # when
    handled, answered = set(shopify.HANDLED_TOPICS), set(shopify.PRIVACY_TOPICS)
    # then
    assert (expected, privacy) == (handled, answered)


@pytest.mark.parametrize(
    ("topic", "fixture", "event_type", "cart_key"),
    [
        ("carts/create", "carts_rest.json", CartSnapshot, "3eed8183d4281db6ea82ee2b8f23e9cc"),
        ("carts/update", "carts_update_2024.json", CartSnapshot, TOKEN_2024),
        ("checkouts/create", "checkout_rest.json", CartSnapshot, TOKEN_REST),
        ("checkouts/create", "checkouts_create_2024.json", CartSnapshot, TOKEN_2024),
        ("checkouts/update", "checkouts_update_2024_contact.json", CartSnapshot, TOKEN_2024),
        ("checkouts/update", "checkouts_update_2024_completed.json", type(None), TOKEN_2024),
        ("checkouts/delete", "checkouts_delete_2024.json", type(None), TOKEN_2024),
        ("orders/create", "order_rest.json", OrderPlaced, TOKEN_REST),
        ("orders/create", "orders_create_2024.json", OrderPlaced, TOKEN_2024),
        ("orders/paid", "orders_paid_2024.json", OrderPlaced, TOKEN_2024),
        ("orders/cancelled", "orders_cancelled_2024.json", OrderChanged, TOKEN_2024),
    ],
)
def test_every_topic_translates_its_payload(
    topic: str, fixture: str, event_type: type, cart_key: str
) -> None:
    """
    Each topic's real payload or variant becomes one stored message with its event and cart key.
    """
    # given
    body = payload(fixture)
    # when
    message = one(topic, body)
    # then
    assert (event_type, cart_key, topic, MessageKind.TRACK, "shopify") == (
        type(message.event),
        message.cart_key,
        message.name,
        message.kind,
        message.source,
    )


def test_an_older_rest_checkout_becomes_a_checkout_snapshot() -> None:
    """
    The REST checkout's lines, total, currency and id, at its `updated_at` in UTC.
    """
    # given
    body = payload("checkout_rest.json")
    # when
    message = one("checkouts/update", body)
    # then
    moment = at("2012-10-12T07:05:27-04:00")
    assert (
        CartSnapshot(
            occurred_at=moment,
            currency="USD",
            stage=Stage.CHECKOUT,
            items=(
                LineItem(
                    product_id="632910392",
                    variant_id="49148385",
                    sku="IPOD2008RED",
                    name="IPod Nano - 8GB",
                    variant_name="Red",
                    quantity=1,
                    unit_price=Decimal("199.00"),
                ),
                LineItem(
                    product_id="632910392",
                    variant_id="808950810",
                    sku="IPOD2008PINK",
                    name="IPod Nano - 8GB",
                    variant_name="Pink",
                    quantity=1,
                    unit_price=Decimal("199.00"),
                ),
            ),
            total=Decimal("409.94"),
            checkout_id="450789469",
        ),
        moment,
    ) == (message.event, message.occurred_at)


def test_a_2024_checkout_without_contact_details_is_an_anonymous_snapshot() -> None:
    """
    `email`/`phone` null and `shipping_address: []` parse; the offset of `updated_at` is kept.
    """
    # given
    body = payload("checkouts_create_2024.json")
    # when
    message = one("checkouts/create", body)
    # then
    assert isinstance(message.event, CartSnapshot)
    assert (
        at("2024-11-05T21:22:02-05:00"),
        None,
        (),
        "35550298931313",
        Decimal("600.00"),
        (("41327142600817", "The Collection Snowboard: Hydrogen", None),),
    ) == (
        message.occurred_at,
        message.claims,
        message.consents,
        message.event.checkout_id,
        message.event.total,
        tuple(
            (line.variant_id, line.name, line.variant_name) for line in message.event.items or ()
        ),
    )


def test_the_recovery_key_is_removed_from_the_stored_payload() -> None:
    """
    The `key` that opens the shopper's checkout is not stored; the rest of the URL and payload is.
    """
    # given
    body = payload("checkouts_create_2024.json")
    # when
    stored = one("checkouts/create", body).payload
    # then
    assert (
        "https://pixel-testing-rs.myshopify.com/59026964593/checkouts/ac/"
        f"{TOKEN_2024}/recover?locale=en-US"
    ) == stored["abandoned_checkout_url"]
    assert "0385163be3875d3a2117e982d9cc3517" not in json.dumps(stored)
    assert {k: v for k, v in body.items() if k != "abandoned_checkout_url"} == {
        k: v for k, v in stored.items() if k != "abandoned_checkout_url"
    }


def test_a_cart_token_with_a_key_is_used_and_stored_without_it() -> None:
    """
    A storefront token `…?key=secret` keys the cart as its token alone, and the secret is dropped.
    """
    # given
    body = {**payload("carts_update_2024.json"), "token": f"{TOKEN_2024}?key=s3cr3t"}
    # when
    message = one("carts/update", body)
    # then
    assert (TOKEN_2024, TOKEN_2024) == (message.cart_key, message.payload["token"])


def test_a_cart_is_a_cart_stage_snapshot_summed_from_its_lines() -> None:
    """
    carts/update carries lines and no total: the cart's total is then the lines' sum.
    """
    # given
    body = payload("carts_update_2024.json")
    # when
    event = one("carts/update", body).event
    # then
    assert (
        CartSnapshot(
            occurred_at=at("2024-11-06T02:21:30+00:00"),
            stage=Stage.CART,
            items=(
                LineItem(
                    product_id="7234590408817",
                    variant_id="41327142600817",
                    name="The Collection Snowboard: Hydrogen",
                    quantity=2,
                    unit_price=Decimal("600.00"),
                ),
            ),
        )
        == event
    )


def test_a_completed_checkout_keeps_its_contact_but_leaves_the_cart_to_the_order() -> None:
    """
    A checkout with `completed_at` is no longer abandoned: no cart event, but its contact and
    consent are kept.
    """
    # given
    body = payload("checkouts_update_2024_completed.json")
    # when
    message = one("checkouts/update", body)
    # then
    assert (None, "shopper@example.com", 2) == (
        message.event,
        message.claims.email if message.claims else None,
        len(message.consents),
    )


def test_a_deleted_checkout_is_stored_and_changes_nothing() -> None:
    """
    checkouts/delete carries no cart event, no contact and no consent.
    """
    # given
    body = payload("checkouts_delete_2024.json")
    # when
    message = one("checkouts/delete", body)
    # then
    assert (None, None, (), at("2024-11-05T21:40:00-05:00")) == (
        message.event,
        message.claims,
        message.consents,
        message.occurred_at,
    )


def test_presentment_currency_and_titles_are_what_the_shopper_saw() -> None:
    """
    A checkout in another currency and language reports in the presentment currency and titles.
    """
    # given
    body = copy.deepcopy(payload("checkouts_create_2024.json"))
    body["presentment_currency"] = "EUR"
    body["line_items"][0]["presentment_title"] = "Das Snowboard"
    body["line_items"][0]["presentment_variant_title"] = "Rot"
    # when
    event = one("checkouts/create", body).event
    # then
    assert isinstance(event, CartSnapshot)
    assert ("EUR", "Das Snowboard", "Rot") == (
        event.currency,
        event.items[0].name if event.items else None,
        event.items[0].variant_name if event.items else None,
    )


def test_lines_of_quantity_zero_are_left_out_and_images_are_read() -> None:
    """
    A zero line is not in the cart; `image` as an object or `image_url` as text is the picture.
    """
    # given
    body = copy.deepcopy(payload("carts_update_2024.json"))
    line = body["line_items"][0]
    body["line_items"] = [
        {**line, "image": {"src": "https://cdn.shopify.com/a.png"}},
        {**line, "variant_id": 2, "image_url": "https://cdn.shopify.com/b.png"},
        {**line, "variant_id": 3, "quantity": 0},
    ]
    # when
    event = one("carts/update", body).event
    # then
    assert isinstance(event, CartSnapshot)
    assert [
        ("41327142600817", "https://cdn.shopify.com/a.png"),
        ("2", "https://cdn.shopify.com/b.png"),
    ] == [(line.variant_id, line.image_url) for line in event.items or ()]


# --- orders ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("links", "cart_key", "checkout_id"),
    [
        ({}, TOKEN_2024, "35550298931313"),
        ({"cart_token": None}, "84ad78572dae52a8cbea7d55371afe89", "35550298931313"),
        ({"cart_token": None, "checkout_token": None}, None, "35550298931313"),
        (
            {"cart_token": None, "checkout_token": None, "checkout_id": None},
            "order-5921036337265",
            None,
        ),
    ],
)
def test_an_order_links_to_its_cart_by_cart_token_checkout_token_then_checkout_id(
    links: dict[str, Any], cart_key: str | None, checkout_id: str | None
) -> None:
    """
    `cart_token` first, else `checkout_token`, else `checkout_id` (found by the ingest service);
    an order with none has a cart of its own.
    """
    # given
    body = {**payload("orders_create_2024.json"), **links}
    # when
    message = one("orders/create", body)
    # then
    assert isinstance(message.event, OrderPlaced)
    assert (cart_key, checkout_id, "5921036337265") == (
        message.cart_key,
        message.event.checkout_id,
        message.order_key,
    )


def test_an_order_becomes_an_order_placed_at_its_creation() -> None:
    """
    orders/create and orders/paid both say the order was placed at `created_at`, in the shop's
    currency, with its lines and total.
    """
    # given
    created, paid = payload("orders_create_2024.json"), payload("orders_paid_2024.json")
    # when
    events = [one("orders/create", created).event, one("orders/paid", paid).event]
    # then
    expected = OrderPlaced(
        occurred_at=at("2024-11-05T21:27:01-05:00"),
        currency="USD",
        order_id="5921036337265",
        items=(
            LineItem(
                product_id="7234590408817",
                variant_id="41327142600817",
                name="The Collection Snowboard: Hydrogen",
                quantity=2,
                unit_price=Decimal("600.00"),
            ),
        ),
        total=Decimal("1200.00"),
        checkout_id="35550298931313",
    )
    assert [expected, expected] == events


def test_a_cancelled_order_is_an_order_change() -> None:
    """
    orders/cancelled changes the order (at `cancelled_at`), not the cart.
    """
    # given
    body = payload("orders_cancelled_2024.json")
    # when
    message = one("orders/cancelled", body)
    # then
    assert (
        OrderChanged(
            occurred_at=at("2024-11-06T10:02:00-05:00"),
            currency="USD",
            order_id="5921036337265",
            change="cancelled",
            amount=Decimal("1200.00"),
        ),
        "5921036337265",
    ) == (message.event, message.order_key)


# --- identity and consent -------------------------------------------------------------------


def test_the_shoppers_contact_details_and_consent_become_claims() -> None:
    """
    Email (normalised), the SMS number (E.164) and the customer id identify the shopper; both
    ticked boxes become marketing consent from `shopify_checkout` with the flag's name as text.
    """
    # given
    body = payload("checkouts_update_2024_contact.json")
    # when
    message = one("checkouts/update", body)
    # then
    moment = at("2024-11-05T21:25:40-05:00")
    assert (
        IdentityClaims(user_id="7410321456789", email="shopper@example.com", phone="+14155552671"),
        "7410321456789",
        (
            ConsentClaim(
                channel=Channel.EMAIL,
                purpose=Purpose.MARKETING,
                granted=True,
                text="Shopify checkout: buyer_accepts_marketing",
                source="shopify_checkout",
                occurred_at=moment,
            ),
            ConsentClaim(
                channel=Channel.SMS,
                purpose=Purpose.MARKETING,
                granted=True,
                text="Shopify checkout: buyer_accepts_sms_marketing",
                source="shopify_checkout",
                occurred_at=moment,
            ),
        ),
    ) == (message.claims, message.user_id, message.consents)


def test_an_unticked_email_box_is_recorded_as_not_granted() -> None:
    """
    The REST checkout's `buyer_accepts_marketing: false` is a refusal for its email; without an
    SMS number there is no SMS entry at all.
    """
    # given
    body = payload("checkout_rest.json")
    # when
    consents = one("checkouts/update", body).consents
    # then
    assert [(Channel.EMAIL, False)] == [(c.channel, c.granted) for c in consents]


def test_sms_consent_is_never_implied_without_the_sms_number() -> None:
    """
    `buyer_accepts_sms_marketing: true` without `sms_marketing_phone` grants nothing: consent
    belongs to a number, not to whatever phone the checkout has.
    """
    # given
    body = {
        **payload("checkouts_update_2024_contact.json"),
        "sms_marketing_phone": None,
        "phone": "+14155550123",
    }
    # when
    message = one("checkouts/update", body)
    # then
    assert ("+14155550123", [Channel.EMAIL]) == (
        message.claims.phone if message.claims else None,
        [c.channel for c in message.consents],
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"email": "not an email", "customer": None}, (None, "+14155552671")),
        ({"sms_marketing_phone": "12"}, ("shopper@example.com", None)),
        ({"sms_marketing_phone": 4155552671}, ("shopper@example.com", None)),
        ({"sms_marketing_phone": "(415) 555-2671"}, ("shopper@example.com", "+14155552671")),
    ],
)
def test_unreadable_contact_details_are_dropped_not_refused(
    fields: dict[str, Any], expected: tuple[str | None, str | None]
) -> None:
    """
    A bad email or phone leaves the cart intact without it; a national number is read in the
    store's country.
    """
    # given
    body = {**payload("checkouts_update_2024_contact.json"), **fields}
    # when
    claims = one("checkouts/update", body).claims
    # then
    assert expected == ((claims.email, claims.phone) if claims else (None, None))


def test_a_national_number_without_the_stores_country_is_dropped() -> None:
    """
    Without a store country, `(415) 555-2671` cannot be placed and is not guessed.
    """
    # given
    body = {
        **payload("checkouts_update_2024_contact.json"),
        "sms_marketing_phone": "(415) 555-2671",
    }
    # when
    message = one("checkouts/update", body, region=None)
    # then
    assert (None, [Channel.EMAIL]) == (
        message.claims.phone if message.claims else None,
        [c.channel for c in message.consents],
    )


# --- idempotency and time -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"event_id": "e-1", "x_shopify_webhook_id": "w-1"}, "checkouts/update:e-1"),
        ({"event_id": None, "x_shopify_webhook_id": "w-1"}, "checkouts/update:w-1"),
    ],
)
def test_the_idempotency_key_is_the_topic_and_event_id_else_webhook_id(
    headers: dict[str, Any], expected: str
) -> None:
    """
    Event id first (shared by every delivery of one merchant action), then the delivery id.
    """
    # given
    body = payload("checkout_rest.json")
    # when
    message = one("checkouts/update", body, **headers)
    # then
    assert expected == message.message_id


def test_one_merchant_action_on_two_topics_has_two_keys() -> None:
    """
    orders/create and orders/paid from one action share an event id but are both kept.
    """
    # given
    created, paid = payload("orders_create_2024.json"), payload("orders_paid_2024.json")
    # when
    keys = {one("orders/create", created).message_id, one("orders/paid", paid).message_id}
    # then
    assert {"orders/create:evt-1", "orders/paid:evt-1"} == keys


def test_a_delivery_without_ids_is_keyed_by_its_content() -> None:
    """
    With neither id header, the same body gives the same key (a retry is still recognised).
    """
    # given
    body = payload("checkout_rest.json")
    other = {**body, "updated_at": "2012-10-12T07:06:27-04:00"}
    # when
    keys = [one("checkouts/update", b, event_id=None).message_id for b in (body, body, other)]
    # then
    assert keys[0] == keys[1] != keys[2]
    assert keys[0].startswith("checkouts/update:sha256:")


@pytest.mark.parametrize(
    ("updated_at", "triggered_at", "expected"),
    [
        ("2026-11-27T04:30:00-05:00", None, datetime(2026, 11, 27, 9, 30, tzinfo=UTC)),
        ("2026-11-27T09:30:00", None, datetime(2026, 11, 27, 9, 30, tzinfo=UTC)),
        (None, "2026-11-27T09:45:12.877041743Z", datetime(2026, 11, 27, 9, 45, 12, 877041, UTC)),
        (None, "not a time", RECEIVED),
        (None, None, RECEIVED),
    ],
)
def test_a_checkout_happened_at_updated_at_else_triggered_at_else_on_receipt(
    updated_at: str | None, triggered_at: str | None, expected: datetime
) -> None:
    """
    The payload's own time wins (any offset; none means UTC), then Shopify's trigger time.
    """
    # given
    body = {**payload("checkout_rest.json"), "updated_at": updated_at}
    headers = {"x_shopify_triggered_at": triggered_at} if triggered_at else {}
    # when
    message = one("checkouts/update", body, **headers)
    # then
    assert (expected, expected) == (
        message.occurred_at,
        message.event.occurred_at if message.event else None,
    )


# --- refused payloads -----------------------------------------------------------------------


def _checkout(**fields: Any) -> dict[str, Any]:
    return {**payload("checkout_rest.json"), **fields}


def _with_line(**fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(payload("checkout_rest.json"))
    body["line_items"][0].update(fields)
    return body


CO = "checkouts/update"
MISSING = "the X-Shopify-Hmac-Sha256 header is missing"
MISMATCH = "the X-Shopify-Hmac-Sha256 signature does not match"
LIST_SIGNATURE = "jBwNvLQOXijxEPk8zf8useNq3SJDtsV5HB/UlxfreAY="  # hmac_vectors.json, secret `hush`


@pytest.mark.parametrize(
    ("topic", "body", "expected"),
    [
        (CO, b"", [("", "the body is empty; Shopify sends JSON")]),
        (CO, b"[1, 2]", [("", "must be a JSON object")]),
        (CO, _checkout(token=None, cart_token=None), [("token", "a checkout needs a token")]),
        ("carts/update", {"line_items": []}, [("token", "a cart needs its token")]),
        ("orders/create", {"id": None, "cart_token": "t"}, [("id", "an order needs its id")]),
        (CO, _checkout(updated_at="yesterday"), [("updated_at", "must be an ISO 8601 date-time")]),
        (CO, _checkout(total_price="-1"), [("total_price", "must not be negative")]),
        (CO, _checkout(currency="dollars"), [("currency", "must be a three-letter ISO 4217 code")]),
        (CO, _checkout(line_items={"a": 1}), [("line_items", "Input should be a valid list")]),
        (CO, _with_line(price="abc"), [("line_items[0].price", "must be a number")]),
        (CO, _with_line(quantity=1.5), [("line_items[0].quantity", "must be a whole number")]),
        (
            CO,
            _with_line(product_id=None, variant_id=None, sku=None),
            [("line_items[0]", "a line needs a product_id, variant_id or sku")],
        ),
        (CO, _checkout(note="a\x00b"), [("", "must not contain U+0000")]),
        ("customers/create", _checkout(), [("", "topic 'customers/create' is not handled")]),
    ],
)
def test_a_payload_that_cannot_be_translated_is_refused_with_its_path(
    topic: str, body: dict[str, Any] | bytes, expected: list[tuple[str, str]]
) -> None:
    """
    Each refusal names the field, so the cause is found in the stored delivery log.
    """
    # given / when
    found = errors(topic, body)
    # then
    assert expected == found


def test_bad_json_is_refused_with_the_parsers_reason() -> None:
    """
    A truncated body is an error, never an exception.
    """
    # given / when
    ((path, message),) = errors("checkouts/update", b'{"id": 1,')
    # then
    assert ("", True) == (path, message.startswith("not valid JSON: "))


def test_a_backslash_followed_by_u0000_as_text_is_not_a_nul() -> None:
    """
    The text `\\u0000` (an escaped backslash) is stored; only the real U+0000 is refused.
    """
    # given
    body = _checkout(note="\\u0000")
    # when
    message = one("checkouts/update", body)
    # then
    assert "\\u0000" == message.payload["note"]


@settings(max_examples=100, deadline=None)
@given(
    topic=st.sampled_from(sorted(shopify.HANDLED_TOPICS)),
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    ),
    fields=st.dictionaries(
        st.sampled_from(
            ["token", "cart_token", "id", "line_items", "updated_at", "customer", "email",
             "total_price", "currency", "buyer_accepts_marketing", "sms_marketing_phone"]
        ),
        st.none()
        | st.booleans()
        | st.integers()
        | st.text(max_size=12)
        | st.lists(st.integers(), max_size=2),
        max_size=5,
    ),
)  # fmt: skip
def test_no_payload_makes_parse_raise(topic: str, document: Any, fields: dict[str, Any]) -> None:
    """
    Whatever the body, parse answers messages or field errors and never raises.
    """
    # given
    body = {**fields, "nested": document}
    # when
    parsed = shopify.parse(delivery(topic, body))
    # then
    assert 1 == len(parsed.messages) + min(len(parsed.errors), 1)


# --- signatures -----------------------------------------------------------------------------


def _vectors() -> list[tuple[str, bytes, str]]:
    document = json.loads(raw("hmac_vectors.json"))
    found = []
    for entry in document["computed_shopify_webhook"]:
        body = (
            raw("checkouts_list_rest.json") if "body_file" in entry else entry["body_utf8"].encode()
        )
        found.append((entry["secret"], body, entry["expected_X-Shopify-Hmac-Sha256"]))
    return found


@pytest.mark.parametrize(("secret", "body", "expected"), _vectors())
def test_the_signature_matches_the_computed_vectors(
    secret: str, body: bytes, expected: str
) -> None:
    """
    base64(HMAC-SHA256(secret, raw body)) for the vectors in `hmac_vectors.json`.
    """
    # when
    computed = shopify.signature(secret, body)
    # then
    assert expected == computed


@pytest.mark.parametrize(
    "secrets",
    [["hush"], ["new-secret", "hush"], ["hush", "old-secret"]],
)
def test_a_body_signed_with_any_of_the_secrets_verifies(secrets: list[str]) -> None:
    """
    During rotation every active secret verifies (the vector's secret is `hush`).
    """
    # given
    _, body, signature = _vectors()[1]
    signed = delivery("checkouts/update", body, x_shopify_hmac_sha256=signature)
    # when / then
    shopify.verify(signed, secrets, now=RECEIVED)


@pytest.mark.parametrize(
    ("headers", "secrets", "reason"),
    [
        ({}, ["hush"], MISSING),
        ({"x_shopify_hmac_sha256": "  "}, ["hush"], MISSING),
        ({"x_shopify_hmac_sha256": LIST_SIGNATURE}, ["other"], MISMATCH),
        ({"x_shopify_hmac_sha256": LIST_SIGNATURE}, [], MISMATCH),
        (
            {"x_shopify_hmac_sha256": "bkAM0xsyplhGzFS9ySE6bXcbjKbz5R72iZ4ADuG2lLc="},
            ["hush"],
            MISMATCH,
        ),
        ({"x_shopify_hmac_sha256": LIST_SIGNATURE[:-2] + "\u00ff"}, ["hush"], MISMATCH),
    ],
)
def test_a_missing_or_wrong_signature_is_unauthenticated(
    headers: dict[str, str], secrets: list[str], reason: str
) -> None:
    """
    No header, another secret, no secrets, another body's signature or non-ASCII text: refused.
    """
    # given
    unsigned = delivery("checkouts/update", raw("checkouts_list_rest.json"), **headers)
    # when
    with pytest.raises(Unauthenticated) as refused:
        shopify.verify(unsigned, secrets, now=RECEIVED)
    # then
    assert reason == refused.value.detail


def test_a_body_changed_after_signing_does_not_verify() -> None:
    """
    One byte more (re-serialised JSON, say) and the signature no longer holds.
    """
    # given
    secret, body, signature = _vectors()[0]
    changed = delivery("checkouts/update", body + b" ", x_shopify_hmac_sha256=signature)
    # when / then
    with pytest.raises(Unauthenticated):
        shopify.verify(changed, [secret], now=RECEIVED)


def test_shopify_sends_no_ping() -> None:
    """
    Every Shopify delivery is signed; nothing is answered unsigned.
    """
    # given / when / then
    assert False is shopify.is_ping(delivery("checkouts/update", b""))


def test_the_topic_header_is_read_case_insensitively() -> None:
    """
    HTTP/2 lower-cases header names; a topic in capitals still reads.
    """
    # given
    sent = Delivery(
        platform="shopify",
        store_id="st",
        body=b"{}",
        headers={"x-shopify-topic": " Checkouts/Update "},
        received_at=RECEIVED,
    )
    # when / then
    assert ("checkouts/update", None) == (
        shopify.topic(sent),
        shopify.topic(delivery("", b"{}")),
    )


# --- privacy and lifecycle ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "fixture", "expected"),
    [
        (
            "customers/redact",
            "customers_redact.json",
            PrivacyRequest(
                kind=PrivacyKind.ERASE_CUSTOMER,
                email="john@example.com",
                phone="555-625-1199",
                customer_id="191167",
            ),
        ),
        (
            "customers/data_request",
            "customers_data_request.json",
            PrivacyRequest(
                kind=PrivacyKind.EXPORT_CUSTOMER,
                email="john@example.com",
                phone="555-625-1199",
                customer_id="191167",
                reference="9999",
            ),
        ),
        (
            "shop/redact",
            "shop_redact.json",
            PrivacyRequest(kind=PrivacyKind.ERASE_SHOP, reference="snowdevil.myshopify.com"),
        ),
        (
            "app/uninstalled",
            "app_uninstalled.json",
            PrivacyRequest(kind=PrivacyKind.UNINSTALLED, reference="snowdevil.myshopify.com"),
        ),
        ("checkouts/update", "checkout_rest.json", None),
    ],
)
def test_privacy_topics_become_privacy_requests(
    topic: str, fixture: str, expected: PrivacyRequest | None
) -> None:
    """
    The customer's id, email and phone (a phone that does not normalise as written, so stored
    payloads naming it are still found); the shop topics name the shop.
    """
    # given
    sent = delivery(topic, raw(fixture), x_shopify_shop_domain="snowdevil.myshopify.com")
    # when
    request = shopify.privacy(sent)
    # then
    assert expected == request


def test_a_redact_request_reads_the_phone_in_the_stores_country() -> None:
    """
    A valid national number is erased in the E.164 form contacts are kept in.
    """
    # given
    body = {"customer": {"id": 1, "email": "Jo@Example.com", "phone": "(415) 555-2671"}}
    # when
    request = shopify.privacy(delivery("customers/redact", body))
    # then
    assert (
        PrivacyRequest(
            kind=PrivacyKind.ERASE_CUSTOMER,
            email="jo@example.com",
            phone="+14155552671",
            customer_id="1",
        )
        == request
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "the erase_customer request is not a JSON object"),
        (b'{"customer": {}}', "the erase_customer request names no customer (id, email or phone)"),
        (b'{"customer": []}', "the erase_customer request names no customer (id, email or phone)"),
    ],
)
def test_a_redact_request_without_a_customer_is_refused(body: bytes, reason: str) -> None:
    """
    Erasing "nobody" is a malformed request (400), not a silent success.
    """
    # given
    sent = delivery("customers/redact", body)
    # when
    with pytest.raises(InvalidInput) as refused:
        shopify.privacy(sent)
    # then
    assert reason == refused.value.detail


# --- restore URLs and shop domains ----------------------------------------------------------


def _line(variant_id: str | None, quantity: int = 1, sku: str = "s") -> LineItem:
    return LineItem(variant_id=variant_id, sku=sku, quantity=quantity)


@pytest.mark.parametrize(
    ("lines", "code", "expected"),
    [
        ([_line("1", 2), _line("22")], None, "https://shop.example/cart/1:2,22:1"),
        ([_line("1")], "WELCOME10", "https://shop.example/cart/1:1?discount=WELCOME10"),
        ([_line("1")], "10% OFF/now&x=1", "https://shop.example/cart/1:1?discount=10%25%20OFF%2Fnow%26x%3D1"),
        ([_line("gid://shopify/ProductVariant/41327142600817")], None, "https://shop.example/cart/41327142600817:1"),
        ([_line("1"), _line(None), _line("not-a-variant"), _line("2", 0)], None, "https://shop.example/cart/1:1"),
        ([_line("7", 1), _line("7", 2)], None, "https://shop.example/cart/7:3"),
        ([_line(None)], "WELCOME10", "https://shop.example/cart"),
        ([], None, "https://shop.example/cart"),
        ([_line("1")], "  ", "https://shop.example/cart/1:1"),
    ],
)  # fmt: skip
def test_the_restore_url_is_a_cart_permalink(
    lines: list[LineItem], code: str | None, expected: str
) -> None:
    """
    `/cart/{variant}:{qty},…?discount=CODE`, the code URL-encoded; lines without a Shopify
    variant are left out; a variant twice is added up; nothing left is the cart page.
    """
    # given / when
    url = shopify.restore_url("shop.example", lines, discount_code=code)
    # then
    assert expected == url


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("my-shop", "my-shop.myshopify.com"),
        ("My-Shop.myshopify.com", "my-shop.myshopify.com"),
        ("https://my-shop.myshopify.com/admin/settings", "my-shop.myshopify.com"),
        (" shop.example.com ", "shop.example.com"),
    ],
)
def test_a_shop_domain_is_read_from_what_merchants_type(typed: str, expected: str) -> None:
    """
    The handle alone, any case, a pasted admin URL or a custom domain.
    """
    # given / when
    host = shopify.shop_domain(typed)
    # then
    assert expected == host


@pytest.mark.parametrize("typed", ["", "shop example.com", "-shop.myshopify.com", "evil.com\\@x"])
def test_a_shop_domain_that_is_no_host_name_is_refused(typed: str) -> None:
    """
    Nothing that could send a shopper elsewhere than a host name gets into a link.
    """
    # given / when / then
    with pytest.raises(ValueError, match="is not a shop domain"):
        shopify.shop_domain(typed)
    with pytest.raises(ValueError, match="is not a shop domain"):
        shopify.restore_url(typed, [_line("1")])


# --- the Admin API client (`connect`'s transport) -------------------------------------------


def _admin(answer: Callable[[httpx.Request], httpx.Response]) -> ShopifyAdmin:
    return ShopifyAdmin(
        shop="snowdevil.myshopify.com", token="shpat_x", transport=httpx.MockTransport(answer)
    )


ACCESS_DENIED = {"message": "Access denied for webhookSubscriptions field."}
UNKNOWN_SHAPE = {"data": {"webhookSubscriptions": {"edges": []}}}


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (
            httpx.Response(401, json={"errors": "[API] Invalid API key"}),
            "Shopify refused the access token (401); check --token",
        ),
        (
            httpx.Response(429, json={}),
            "Shopify is rate limiting this app (429); try again in a minute",
        ),
        (httpx.Response(503, text="down"), "Shopify answered 503; try again later"),
        (httpx.Response(418, text="teapot"), "Shopify answered 418"),
        (httpx.Response(200, text="<html>"), "Shopify answered something that is not JSON"),
        (
            httpx.Response(200, json=[1]),
            "Shopify answered something that is not a JSON object",
        ),
        (
            httpx.Response(200, json={"errors": [ACCESS_DENIED, {"message": "Throttled"}]}),
            "Shopify refused the request: Access denied for webhookSubscriptions field.; Throttled",
        ),
        (httpx.Response(200, json={"data": None}), "Shopify answered without data"),
        (
            httpx.Response(200, json=UNKNOWN_SHAPE),
            "Shopify answered webhookSubscriptions in a shape Cartback does not know",
        ),
    ],
)
def test_every_admin_api_failure_is_one_readable_error(
    response: httpx.Response, reason: str
) -> None:
    """
    HTTP statuses, non-JSON answers, GraphQL `errors` and unknown shapes each name their cause.
    """
    # given
    admin = _admin(lambda request: response)
    # when
    with admin, pytest.raises(ShopifyAdminError) as failed:
        admin.subscriptions()
    # then
    assert reason == failed.value.detail


def test_an_unreachable_shop_is_named_without_the_token() -> None:
    """
    A network failure names the host, never the access token.
    """

    # given
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    # when
    with _admin(refuse) as admin, pytest.raises(ShopifyAdminError) as failed:
        admin.subscriptions()
    # then
    assert "cannot reach snowdevil.myshopify.com: connection refused" == failed.value.detail


def test_a_subscription_is_created_as_shopify_documents() -> None:
    """
    The mutation goes to the versioned GraphQL endpoint with the token header, the topic enum,
    the https `uri` and the JSON format; `userErrors` become the error.
    """
    # given
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        errors = [{"field": ["webhookSubscription", "uri"], "message": "Address is taken"}]
        payload = {"webhookSubscriptionCreate": {"userErrors": errors}}
        return httpx.Response(200, json={"data": payload})

    callback = "https://cb.example/webhooks/shopify/st_1"
    # when
    with _admin(answer) as admin, pytest.raises(ShopifyAdminError) as failed:
        admin.create_subscription("CHECKOUTS_UPDATE", callback)
    # then
    (request,) = seen
    assert (
        "https://snowdevil.myshopify.com/admin/api/2026-01/graphql.json",
        "shpat_x",
        {"topic": "CHECKOUTS_UPDATE", "webhookSubscription": {"uri": callback, "format": "JSON"}},
        "Shopify refused the CHECKOUTS_UPDATE subscription: "
        "webhookSubscription.uri: Address is taken",
    ) == (
        str(request.url),
        request.headers["x-shopify-access-token"],
        json.loads(request.content)["variables"],
        failed.value.detail,
    )


@pytest.mark.parametrize(
    ("topic", "enum"),
    [
        ("checkouts/update", "CHECKOUTS_UPDATE"),
        ("orders/paid", "ORDERS_PAID"),
        ("app/uninstalled", "APP_UNINSTALLED"),
    ],
)
def test_rest_topic_names_map_to_the_graphql_enum(topic: str, enum: str) -> None:
    """
    `checkouts/update` is `CHECKOUTS_UPDATE` in the Admin GraphQL API.
    """
    # given / when / then
    assert enum == topic_enum(topic)


# --- discount codes -------------------------------------------------------------------------


def test_an_order_reports_its_discount_codes_upper_cased_with_their_amounts() -> None:
    """
    The REST order's `TENOFF` (10.00) is reported; a free-shipping code (`type: shipping`)
    is one too, with the shipping it took off; codes are stripped and upper-cased.
    """
    # given
    order = payload("order_rest.json")
    order["discount_codes"] = [
        *order["discount_codes"],
        {"code": " shipfree ", "amount": "4.95", "type": "shipping"},
    ]
    # when
    event = one("orders/create", order).event
    # then
    assert isinstance(event, OrderPlaced)
    assert (
        AppliedDiscount(code="TENOFF", amount=Decimal("10.00")),
        AppliedDiscount(code="SHIPFREE", amount=Decimal("4.95")),
    ) == event.discounts


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([], ()),
        (None, ()),
        ("TENOFF", ()),
        ([{"code": "", "amount": "1.00"}, {"amount": "2.00"}, "TENOFF"], ()),
        ([{"code": "tenoff", "amount": "ten"}], (AppliedDiscount(code="TENOFF"),)),
    ],
)
def test_unreadable_discount_codes_are_left_out_not_refused(
    codes: Any, expected: tuple[AppliedDiscount, ...]
) -> None:
    """
    The 2024 order without codes has none; a code that does not read is dropped, an amount
    that does not read is unknown, and the order is never refused for either.
    """
    # given
    order = payload("orders_create_2024.json")
    order["discount_codes"] = codes
    # when
    event = one("orders/create", order).event
    # then
    assert isinstance(event, OrderPlaced)
    assert expected == event.discounts
