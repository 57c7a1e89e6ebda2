"""
The Magento source (`sources/magento.py`): Standard Webhooks signatures (the reference library's
published vector, then vectors computed with a test secret: tampered bodies, timestamps outside
the tolerance, replays, several signatures, rotation), the pushed envelope, quotes and orders
from Adobe's documentation translated into cart events, refused payloads, and restore URLs.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cartback.domain.errors import Unauthenticated
from cartback.domain.events import (
    AppliedDiscount,
    CartSnapshot,
    IdentityClaims,
    LineItem,
    OrderChanged,
    OrderPlaced,
    Stage,
)
from cartback.domain.ingest import Inbound
from cartback.sources import _standard_webhooks, magento
from cartback.sources._webhooks import Delivery
from cartback.sources.magento import RestoreScheme, restore_url
from cartback.sources.segment import Parsed

FIXTURES = Path(__file__).parents[1] / "fixtures" / "magento"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
#: A Standard Webhooks secret for these tests: `whsec_` and base64 of 24 known bytes.
KEY = bytes(range(24))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
#: The published vector of the reference Python library (standard-webhooks/standard-webhooks,
#: libraries/python/tests/test_webhooks.py, `test_sign_function`).
PUBLISHED_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PUBLISHED_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
PUBLISHED_TIMESTAMP = "1614265330"
PUBLISHED_BODY = b'{"test": 2432232314}'
PUBLISHED_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def fixture(name: str) -> dict[str, Any]:
    """
    A Magento REST object from the fixtures.
    """
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


def sign(message_id: str, timestamp: str, body: bytes, key: bytes = KEY) -> str:
    """
    A `v1` signature computed here with hmac, independently of the source.
    """
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def delivery(
    body: bytes | dict[str, Any],
    *,
    message_id: str = "msg_1",
    sent_at: datetime = NOW,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
    region: str | None = None,
) -> Delivery:
    """
    A pushed event as a Standard Webhooks sender delivers it, signed with SECRET by default.
    """
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(sent_at.timestamp()))
    sent = {
        "webhook-id": message_id,
        "webhook-timestamp": stamp,
        "webhook-signature": signature or sign(message_id, stamp, raw),
    }
    return Delivery(
        platform="magento",
        store_id="st_1",
        body=raw,
        headers=sent if headers is None else headers,
        received_at=NOW,
        default_region=region,
    )


def envelope(kind: str, data: Any) -> dict[str, Any]:
    """
    A pushed event's body.
    """
    return {"type": kind, "timestamp": "2026-11-27T09:59:58Z", "data": data}


def parsed(body: bytes | dict[str, Any], **options: Any) -> Parsed:
    """
    A delivery parsed.
    """
    return magento.parse(delivery(body, **options))


def one(body: bytes | dict[str, Any], **options: Any) -> Inbound:
    """
    The single message a valid delivery translates to.
    """
    result = parsed(body, **options)
    assert [] == result.errors
    (message,) = result.messages
    return message


def errors(body: bytes | dict[str, Any]) -> list[tuple[str, str]]:
    """
    The (path, message) of each error of an invalid delivery.
    """
    result = parsed(body)
    assert [] == result.messages
    return [(e.path, e.message) for e in result.errors]


# --- Standard Webhooks signatures -----------------------------------------------------------


def test_the_published_reference_vector_verifies() -> None:
    """
    The reference library's own vector verifies at its timestamp and yields its webhook-id.
    """
    # given
    sent = Delivery(
        platform="magento",
        store_id="st_1",
        body=PUBLISHED_BODY,
        headers={
            "webhook-id": PUBLISHED_ID,
            "webhook-timestamp": PUBLISHED_TIMESTAMP,
            "webhook-signature": PUBLISHED_SIGNATURE,
        },
        received_at=NOW,
    )
    at = datetime.fromtimestamp(1614265330, tz=UTC)
    # when
    message_id = _standard_webhooks.verify(sent, [PUBLISHED_SECRET], now=at)
    # then
    assert PUBLISHED_ID == message_id


def test_our_signature_helper_agrees_with_the_published_vector() -> None:
    """
    The signing used by these tests reproduces the published signature.
    """
    # given
    key = base64.b64decode(PUBLISHED_SECRET.removeprefix("whsec_"))
    # when
    signature = sign(PUBLISHED_ID, PUBLISHED_TIMESTAMP, PUBLISHED_BODY, key)
    # then
    assert PUBLISHED_SIGNATURE == signature


@pytest.mark.parametrize(
    "secret",
    [SECRET, SECRET.removeprefix("whsec_"), SECRET.rstrip("=")],
    ids=["whsec_ prefix", "no prefix", "no padding"],
)
def test_a_signed_delivery_verifies(secret: str) -> None:
    """
    The secret is the base64 after `whsec_`, with or without the prefix and padding.
    """
    # given
    sent = delivery(b'{"type":"quote.updated"}')
    # when
    message_id = _standard_webhooks.verify(sent, [secret], now=NOW)
    # then
    assert "msg_1" == message_id


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(seconds=-300), True),
        (timedelta(seconds=300), True),
        (timedelta(seconds=-301), False),
        (timedelta(seconds=301), False),
        (timedelta(hours=-6), False),
    ],
    ids=["5 min old", "5 min ahead", "too old", "too far ahead", "hours old"],
)
def test_the_timestamp_must_be_within_five_minutes(offset: timedelta, accepted: bool) -> None:
    """
    A correctly signed delivery sent more than 5 minutes before or after now is refused, so a
    captured delivery cannot be replayed later.
    """
    # given
    sent = delivery(b"{}", sent_at=NOW + offset)
    # when
    try:
        magento.verify(sent, [SECRET], now=NOW)
        verified = True
    except Unauthenticated:
        verified = False
    # then
    assert accepted == verified


def _headers(body: bytes, **changes: str) -> dict[str, str]:
    stamp = str(int(NOW.timestamp()))
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": stamp,
        "webhook-signature": sign("msg_1", stamp, body),
    }
    headers.update(changes)
    return {k: v for k, v in headers.items() if v}


BODY = b'{"type":"quote.updated","data":{}}'
STAMP = str(int(NOW.timestamp()))


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (BODY + b" ", _headers(BODY)),
        (BODY, _headers(BODY, **{"webhook-id": "msg_2"})),
        (BODY, _headers(BODY, **{"webhook-timestamp": str(int(NOW.timestamp()) + 1)})),
        (BODY, _headers(BODY, **{"webhook-signature": sign("msg_1", STAMP, BODY, b"x" * 24)})),
        (BODY, _headers(BODY, **{"webhook-signature": "v1a," + sign("msg_1", STAMP, BODY)[3:]})),
        (BODY, _headers(BODY, **{"webhook-signature": "v1,***"})),
        (BODY, _headers(BODY, **{"webhook-signature": ""})),
        (BODY, _headers(BODY, **{"webhook-id": ""})),
        (BODY, _headers(BODY, **{"webhook-timestamp": ""})),
        (BODY, _headers(BODY, **{"webhook-timestamp": "1e9"})),
    ],
    ids=[
        "tampered body",
        "other id",
        "other timestamp",
        "other secret",
        "asymmetric label",
        "not base64",
        "no signature",
        "no id",
        "no timestamp",
        "timestamp not integer",
    ],
)
def test_anything_not_signed_as_sent_is_refused(body: bytes, headers: dict[str, str]) -> None:
    """
    The body, id and timestamp are all signed: changing any, signing with another secret,
    or leaving a header out is refused.
    """
    # given
    sent = Delivery(
        platform="magento", store_id="st_1", body=body, headers=headers, received_at=NOW
    )
    # when / then
    with pytest.raises(Unauthenticated):
        magento.verify(sent, [SECRET], now=NOW)


def test_one_matching_signature_among_several_is_enough() -> None:
    """
    During a rotation the sender signs with several secrets; one match among other versions,
    wrong and malformed entries suffices.
    """
    # given
    good = sign("msg_1", STAMP, BODY)
    header = " ".join(
        [
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2," + good[3:],
            "garbage",
            good,
        ]
    )
    sent = delivery(BODY, signature=header)
    # when
    message_id = _standard_webhooks.verify(sent, [SECRET], now=NOW)
    # then
    assert "msg_1" == message_id


def test_any_of_the_store_secrets_verifies() -> None:
    """
    A store may hold several secrets (rotation, or other platforms' secrets that are not
    base64); the one that signed verifies.
    """
    # given
    other = "whsec_" + base64.b64encode(b"y" * 24).decode()
    sent = delivery(BODY)
    # when
    message_id = _standard_webhooks.verify(sent, ["shpss_not base64!", other, SECRET], now=NOW)
    # then
    assert "msg_1" == message_id


def test_a_store_without_a_usable_secret_refuses_everything() -> None:
    """
    With no secret that decodes, nothing verifies.
    """
    # given
    sent = delivery(BODY)
    # when / then
    with pytest.raises(Unauthenticated):
        magento.verify(sent, ["not base64 at all!", ""], now=NOW)


def test_a_replayed_delivery_keeps_its_idempotency_key() -> None:
    """
    A retry carries the same webhook-id with a new timestamp and signature; its message has
    the same key, so the ingest stores it once.
    """
    # given
    body = envelope("quote.updated", fixture("quote_cart_docs.json"))
    first = one(body, message_id="msg_42")
    # when
    retry = one(body, message_id="msg_42", sent_at=NOW + timedelta(seconds=5))
    # then
    assert ("msg_42", "msg_42") == (first.message_id, retry.message_id)


def test_pings_and_privacy_requests_do_not_exist() -> None:
    """
    Every Standard Webhooks delivery is signed (no pings); Magento pushes no privacy requests.
    """
    # given
    sent = delivery(BODY)
    # when
    found = (magento.is_ping(sent), magento.privacy(sent))
    # then
    assert (False, None) == found


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"type": "order.placed", "data": {}}', "order.placed"),
        (b'{"type": 7}', None),
        (b"[]", None),
        (b"not json", None),
    ],
)
def test_topic_is_the_body_type(body: bytes, expected: str | None) -> None:
    """
    The topic is the envelope's `type`; a body without one has none (and is parsed to say why).
    """
    # when
    found = magento.topic(delivery(body))
    # then
    assert expected == found
    assert "" in magento.HANDLED_TOPICS


# --- quotes -------------------------------------------------------------------------------------

BANDS = (
    LineItem(
        sku="24-UG02",
        name="Pursuit Lumaflex\u2122 Tone Band",
        quantity=15,
        unit_price=Decimal("16.0000"),
    ),
    LineItem(
        sku="24-UG03",
        name="Harmony Lumaflex\u2122 Strength Band Kit",
        quantity=10,
        unit_price=Decimal("22.0000"),
    ),
)


def test_a_quote_with_addresses_is_the_cart_at_checkout() -> None:
    """
    Adobe's documented quote 5 (addresses entered) is the cart at checkout, keyed by the
    quote id, with its lines by SKU and the customer as the contact.
    """
    # given
    body = envelope("quote.updated", fixture("quote_checkout_docs.json"))
    # when
    message = one(body)
    # then
    assert (
        CartSnapshot(
            occurred_at=datetime(2017, 9, 15, 16, 15, 54, tzinfo=UTC),
            currency="USD",
            stage=Stage.CHECKOUT,
            items=BANDS,
        ),
        "5",
        None,
        IdentityClaims(user_id="2", email="mshaw@example.com", phone="+14155551212"),
    ) == (message.event, message.cart_key, message.order_key, message.claims)


def test_a_quote_with_only_an_email_is_still_a_cart() -> None:
    """
    A logged-in customer's quote has an email from the start; without an address it is a cart.
    """
    # given
    body = envelope("quote.updated", fixture("quote_cart_docs.json"))
    # when
    message = one(body)
    # then
    assert isinstance(message.event, CartSnapshot)
    assert (Stage.CART, "4", "mshaw@example.com") == (
        message.event.stage,
        message.cart_key,
        message.claims.email if message.claims else None,
    )


def test_a_guest_quote_is_identified_by_its_billing_email() -> None:
    """
    A guest has no customer id: the billing email identifies them, and no user id is claimed.
    """
    # given
    quote = fixture("quote_checkout_docs.json")
    quote.update(customer_is_guest=True, customer={"email": None})
    quote["billing_address"]["email"] = "Guest@Example.com"
    # when
    message = one(envelope("quote.created", quote))
    # then
    assert IdentityClaims(email="guest@example.com", phone="+14155551212") == message.claims


def test_an_inactive_quote_is_stored_without_a_cart_event() -> None:
    """
    A quote that became an order is no longer active; the order says what happened to it.
    """
    # given
    quote = fixture("quote_cart_docs.json") | {"is_active": False}
    # when
    message = one(envelope("quote.updated", quote))
    # then
    assert (None, "4") == (message.event, message.cart_key)


def test_a_decimal_quantity_is_rounded_up_and_children_are_skipped() -> None:
    """
    A quantity of 1.5 (kg) is 2 units; a configurable product's child item is not a line.
    """
    # given
    quote = fixture("quote_cart_docs.json")
    quote["items"] = [
        {"item_id": 1, "sku": "RICE", "qty": 1.5, "price": 4, "name": "Rice"},
        {"item_id": 2, "sku": "MH01-S-Gray", "qty": 1, "price": 52},
        {"item_id": 3, "sku": "MH01-S-Gray", "qty": 1, "price": 0, "parent_item_id": 2},
    ]
    # when
    message = one(envelope("quote.updated", quote))
    # then
    assert isinstance(message.event, CartSnapshot)
    assert [("RICE", 2), ("MH01-S-Gray", 1)] == [
        (line.sku, line.quantity) for line in message.event.items or ()
    ]


# --- orders ---------------------------------------------------------------------------------


def test_the_documented_order_is_placed_and_closes_its_quote() -> None:
    """
    Adobe's order 3 (state `new`) is placed on quote 4's cart, with the visible lines only
    (bundle and configurable children left out), the grand total and the increment id.
    """
    # given
    body = envelope("order.placed", fixture("order_docs_excerpt.json"))
    # when
    message = one(body)
    # then
    assert isinstance(message.event, OrderPlaced)
    assert (
        "4",
        "3",
        "000000003",
        Decimal("165.0000"),
        [
            "WS12-M-Orange",
            "240-LV08",
            "24-WG080-24-WG084-24-WG088-24-WG082-blue-24-WG086",
            "MH01-S-Gray",
        ],
        IdentityClaims(user_id="3", email="jdoe@example.com", phone="+15125551111"),
        datetime(2017, 8, 21, 22, 22, 20, tzinfo=UTC),
    ) == (
        message.cart_key,
        message.order_key,
        message.event.order_id,
        message.event.total,
        [line.sku for line in message.event.items or ()],
        message.claims,
        message.occurred_at,
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("new", (OrderPlaced, None)),
        ("processing", (OrderPlaced, None)),
        ("complete", (OrderPlaced, None)),
        ("holded", (OrderPlaced, None)),
        ("payment_review", (OrderPlaced, None)),
        ("pending_payment", (CartSnapshot, Stage.CHECKOUT)),
        ("canceled", (OrderChanged, "cancelled")),
        ("closed", (OrderChanged, "refunded")),
        ("fraud_hold", (type(None), None)),
    ],
)
def test_each_order_state_becomes_its_event(state: str, expected: tuple[type, Any]) -> None:
    """
    Placed states place the order, `pending_payment` is a checkout left at the payment
    provider, `canceled` and `closed` change the order, anything else is stored and ignored.
    """
    # given
    body = envelope("order.updated", fixture("order_docs_excerpt.json") | {"state": state})
    # when
    event = one(body).event
    # then
    detail = {CartSnapshot: "stage", OrderChanged: "change"}
    assert expected == (type(event), getattr(event, detail.get(type(event), ""), None))


def test_an_order_without_a_quote_has_a_cart_of_its_own() -> None:
    """
    An order created without a quote (imported) is keyed `order-<entity_id>`.
    """
    # given
    order = fixture("order_docs_excerpt.json")
    del order["quote_id"]
    # when
    message = one(envelope("order.placed", order))
    # then
    assert "order-3" == message.cart_key


def test_the_poller_keys_each_state_of_an_object() -> None:
    """
    Read over the API, a quote's key is made by the caller from its id and `updated_at`.
    """
    # when
    (message,) = magento.quote_messages(
        fixture("quote_cart_docs.json"),
        key=lambda quote_id, updated: f"{quote_id}@{updated}",
        received_at=NOW,
        default_region=None,
        currency="EUR",
    )
    # then
    assert "4@2017-09-14 20:46:20" == message.message_id


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{broken", [""]),
        (b'{"data": {}}', ["type"]),
        (b'{"type": "quote.updated"}', ["data"]),
        (b'{"type": "quote.updated", "data": []}', ["data"]),
        (b'{"type": "customer.updated", "data": {}}', ["type"]),
        (json.dumps(envelope("quote.updated", {"items": []})).encode(), ["data.id"]),
        (
            json.dumps(
                envelope("quote.updated", {"id": 4, "items": [{"sku": "A", "qty": 1, "price": -2}]})
            ).encode(),
            ["data.items[0].price"],
        ),
        (
            json.dumps(
                envelope("quote.updated", {"id": 4, "items": [{"sku": "A", "qty": 99999}]})
            ).encode(),
            ["data.items[0]"],
        ),
    ],
    ids=[
        "bad JSON",
        "no type",
        "no data",
        "data not an object",
        "unsupported type",
        "no quote id",
        "negative price",
        "absurd quantity",
    ],
)
def test_invalid_envelopes_are_refused_with_their_paths(body: bytes, expected: list[str]) -> None:
    """
    What cannot be translated is refused, each error with its path in the envelope.
    """
    # when
    found = errors(body)
    # then
    assert expected == [path for path, _ in found]


# --- restore URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "code", "scheme", "expected"),
    [
        (
            BANDS,
            None,
            RestoreScheme.CONTROLLER,
            "https://shop.example.com/cartback/cart/restore?"
            "sku%5B0%5D=24-UG02&qty%5B0%5D=15&sku%5B1%5D=24-UG03&qty%5B1%5D=10",
        ),
        (
            (*BANDS[:1], LineItem(sku="24-UG02", quantity=1), LineItem(product_id="77")),
            "SAVE 10",
            RestoreScheme.CONTROLLER,
            "https://shop.example.com/cartback/cart/restore?"
            "sku%5B0%5D=24-UG02&qty%5B0%5D=16&coupon=SAVE+10",
        ),
        (
            (LineItem(sku="A,B:C&D", quantity=2),),
            None,
            RestoreScheme.CONTROLLER,
            "https://shop.example.com/cartback/cart/restore?sku%5B0%5D=A%2CB%3AC%26D&qty%5B0%5D=2",
        ),
        (
            (LineItem(product_id="77"),),
            "X",
            RestoreScheme.CONTROLLER,
            "https://shop.example.com/checkout/cart/",
        ),
        (BANDS, "X", RestoreScheme.CART_PAGE, "https://shop.example.com/checkout/cart/"),
    ],
    ids=["controller", "added up with coupon", "SKU with separators", "no SKU", "cart page"],
)
def test_restore_url_rebuilds_the_cart_by_sku(
    lines: tuple[LineItem, ...], code: str | None, scheme: RestoreScheme, expected: str
) -> None:
    """
    With a restore controller, each SKU and quantity (indexed, so any SKU survives) and the
    coupon; without it, or without SKUs, the cart page.
    """
    # when
    url = restore_url("https://shop.example.com", lines, code, scheme=scheme)
    # then
    assert expected == url


def test_fixture_objects_are_not_changed_by_parsing() -> None:
    """
    The raw payload kept with the message is the object as sent.
    """
    # given
    quote = fixture("quote_checkout_docs.json")
    kept = copy.deepcopy(quote)
    # when
    message = one(envelope("quote.updated", quote))
    # then
    assert kept == message.payload


# --- coupons ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("coupon", "expected"),
    [
        ({}, ()),
        (
            {"coupon_code": " h20-10off ", "discount_amount": -16, "base_discount_amount": -16},
            (AppliedDiscount(code="H20-10OFF", amount=Decimal("16.0000")),),
        ),
        (
            {"coupon_code": "CB-7K2M,WELCOME", "discount_amount": "-21.5000"},
            (AppliedDiscount(code="CB-7K2M"), AppliedDiscount(code="WELCOME")),
        ),
        ({"coupon_code": "CB-7K2M", "discount_amount": "lots"}, (AppliedDiscount(code="CB-7K2M"),)),
        ({"coupon_code": None, "discount_amount": -16}, ()),
    ],
)
def test_a_placed_order_reports_its_coupon_and_the_discount_it_gave(
    coupon: dict[str, Any], expected: tuple[AppliedDiscount, ...]
) -> None:
    """
    Adobe's order 3 has no coupon (discount 0); with `coupon_code`, the code is reported
    upper-cased with `discount_amount` made positive (Magento writes it below zero). Several
    comma-separated codes share one discount, so no amount is given to either; an amount that
    does not read is unknown; a discount without a code (a cart rule) is no code.
    """
    # given
    body = envelope("order.placed", fixture("order_docs_excerpt.json") | coupon)
    # when
    event = one(body).event
    # then
    assert isinstance(event, OrderPlaced)
    assert expected == event.discounts


def test_the_rest_poller_reports_the_same_coupon() -> None:
    """
    `order_messages`, the `/V1/orders` poller's translation, reads the coupon as the push does.
    """
    # given
    order = fixture("order_docs_excerpt.json") | {"coupon_code": "H20", "discount_amount": -5}
    # when
    (message,) = magento.order_messages(
        order,
        key=lambda order_id, updated: f"{order_id}:{updated}",
        received_at=NOW,
        default_region=None,
        currency="USD",
    )
    # then
    assert isinstance(message.event, OrderPlaced)
    assert (AppliedDiscount(code="H20", amount=Decimal("5.0000")),) == message.event.discounts
