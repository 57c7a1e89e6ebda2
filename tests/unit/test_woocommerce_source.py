"""
The WooCommerce source (`sources/woocommerce.py`) with WooCommerce's own order payloads: the
signature and its vectors, the activation ping, one translation per order status, contact
details, cart and order keys, idempotency keys and timestamps, refused payloads with their
paths, the restore URLs, and replayed or reordered deliveries through the ingest use case.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cartback.domain.cart import CartStatus
from cartback.domain.errors import Unauthenticated
from cartback.domain.events import (
    AppliedDiscount,
    CartSnapshot,
    IdentityClaims,
    LineItem,
    OrderChanged,
    OrderPlaced,
    PaymentFailed,
    Stage,
)
from cartback.domain.ingest import Inbound
from cartback.engine.clock import SimulatedClock
from cartback.kit.keys import SecretBox
from cartback.services.ingest import ingest
from cartback.services.stores import StoreSettings, create_store
from cartback.sources import woocommerce
from cartback.sources._webhooks import Delivery
from cartback.sources.segment import Parsed
from cartback.sources.woocommerce import RestoreScheme, restore_url
from fakes import FakeDatabase, FakeUnitOfWorkFactory

FIXTURES = Path(__file__).parents[1] / "fixtures" / "woocommerce"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SECRET = "my-webhook-secret"
ORDER_BYTES = (FIXTURES / "order_retrieve_v3_docs.json").read_bytes()
VECTORS = json.loads((FIXTURES / "hmac_vectors.json").read_text())["computed_woocommerce_webhook"]
#: The two lines of order 727, as Cartback reads them.
LINES_727 = (
    LineItem(product_id="93", name="Woo Single #1", quantity=2, unit_price=Decimal("3.0000")),
    LineItem(
        product_id="22",
        variant_id="23",
        sku="Bar3",
        name="Ship Your Idea \u2013 Color: Black, Size: M Test",
        quantity=1,
        unit_price=Decimal("12.0000"),
    ),
)
MODIFIED_727 = datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)


def order(**changes: Any) -> dict[str, Any]:
    """
    Order 727 from WooCommerce's documentation with some fields changed.
    """
    document: dict[str, Any] = json.loads(ORDER_BYTES)
    document.update(copy.deepcopy(changes))
    return document


def delivery(
    body: bytes | dict[str, Any],
    *,
    topic: str | None = "order.updated",
    delivery_id: str = "d-1",
    secret: str | None = SECRET,
    region: str | None = None,
) -> Delivery:
    """
    A delivery as WooCommerce sends it: the raw body, signed, with its topic header.
    """
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"x-wc-webhook-delivery-id": delivery_id, "x-wc-webhook-resource": "order"}
    if topic is not None:
        headers["x-wc-webhook-topic"] = topic
    if secret is not None:
        headers["x-wc-webhook-signature"] = woocommerce.signature(raw, secret)
    return Delivery(
        platform="woocommerce",
        store_id="st_1",
        body=raw,
        headers=headers,
        received_at=NOW,
        default_region=region,
    )


def parsed(body: bytes | dict[str, Any], **options: Any) -> Parsed:
    """
    A delivery parsed.
    """
    return woocommerce.parse(delivery(body, **options))


def messages(body: bytes | dict[str, Any], **options: Any) -> list[Inbound]:
    """
    The messages a valid delivery translates to.
    """
    result = parsed(body, **options)
    assert [] == result.errors
    return result.messages


def errors(body: bytes | dict[str, Any], **options: Any) -> list[tuple[str, str]]:
    """
    The (path, message) of each error of an invalid delivery.
    """
    result = parsed(body, **options)
    assert [] == result.messages
    return [(e.path, e.message) for e in result.errors]


# --- signatures and pings -------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=["short body", "docs order file"])
def test_signature_matches_the_vectors(vector: dict[str, Any]) -> None:
    """
    The signature is base64 HMAC-SHA256 of the exact body bytes, as in the computed vectors.
    """
    # given
    body = vector["body_utf8"].encode() if "body_utf8" in vector else ORDER_BYTES
    # when
    signature = woocommerce.signature(body, vector["secret"])
    # then
    assert vector["expected_X-WC-Webhook-Signature"] == signature


def test_verify_accepts_the_vector_signature() -> None:
    """
    A delivery carrying the vector's signature verifies with the vector's secret.
    """
    # given
    vector = VECTORS[1]
    headers = {"x-wc-webhook-signature": vector["expected_X-WC-Webhook-Signature"]}
    signed = Delivery(
        platform="woocommerce", store_id="st_1", body=ORDER_BYTES, headers=headers, received_at=NOW
    )
    # when
    woocommerce.verify(signed, [vector["secret"]], now=NOW)
    # then
    assert woocommerce.is_ping(signed) is False


def test_verify_accepts_any_of_the_store_secrets() -> None:
    """
    During a rotation the delivery may be signed with an older secret of the store.
    """
    # given
    signed = delivery(ORDER_BYTES, secret="old-secret")
    # when
    woocommerce.verify(signed, ["new-secret", "old-secret"], now=NOW)
    # then
    assert [] == parsed(ORDER_BYTES, secret="old-secret").errors


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (ORDER_BYTES + b" ", None, "does not match"),
        (ORDER_BYTES, {"x-wc-webhook-signature": "not-the-signature"}, "does not match"),
        (ORDER_BYTES, {}, "missing"),
    ],
    ids=["tampered body", "wrong signature", "no signature"],
)
def test_verify_refuses_a_bad_or_missing_signature(
    body: bytes, headers: dict[str, str] | None, reason: str
) -> None:
    """
    A changed body, a wrong signature or none at all is refused.
    """
    # given
    signed_headers = {"x-wc-webhook-signature": woocommerce.signature(ORDER_BYTES, SECRET)}
    bad = Delivery(
        platform="woocommerce",
        store_id="st_1",
        body=body,
        headers=signed_headers if headers is None else headers,
        received_at=NOW,
    )
    # when
    with pytest.raises(Unauthenticated) as raised:
        woocommerce.verify(bad, [SECRET], now=NOW)
    # then
    assert reason in raised.value.detail


def test_verify_refuses_a_signature_made_with_another_secret() -> None:
    """
    A signature made with a secret the store does not hold is refused.
    """
    # given
    signed = delivery(ORDER_BYTES, secret="someone-else")
    # when / then
    with pytest.raises(Unauthenticated):
        woocommerce.verify(signed, [SECRET], now=NOW)


@pytest.mark.parametrize(
    ("body", "signed", "expected"),
    [
        ((FIXTURES / "ping.txt").read_bytes(), False, True),
        (b"webhook_id=7\n", False, True),
        ((FIXTURES / "ping.txt").read_bytes(), True, False),
        (ORDER_BYTES, False, False),
        (b"webhook_id=abc", False, False),
    ],
    ids=["ping", "ping with newline", "signed form body", "unsigned order", "not a number"],
)
def test_only_the_unsigned_activation_body_is_a_ping(
    body: bytes, signed: bool, expected: bool
) -> None:
    """
    The ping is the unsigned form body `webhook_id=N`; anything signed is a real delivery.
    """
    # given
    sent = delivery(body, topic=None, secret=SECRET if signed else None)
    # when
    ping = woocommerce.is_ping(sent)
    # then
    assert expected == ping


def test_topic_is_the_topic_header_and_no_privacy_requests_exist() -> None:
    """
    The topic comes from `X-WC-Webhook-Topic`; WooCommerce sends no privacy webhooks.
    """
    # given
    sent = delivery(ORDER_BYTES, topic="order.created")
    # when
    found = (woocommerce.topic(sent), woocommerce.privacy(sent))
    # then
    assert ("order.created", None) == found


# --- one translation per status -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", [(CartSnapshot, Stage.CHECKOUT)]),
        ("on-hold", [(CartSnapshot, Stage.CHECKOUT)]),
        ("checkout-draft", [(CartSnapshot, Stage.CHECKOUT)]),
        ("failed", [(CartSnapshot, Stage.CHECKOUT), (PaymentFailed, None)]),
        ("processing", [(OrderPlaced, None)]),
        ("completed", [(OrderPlaced, None)]),
        ("cancelled", [(OrderChanged, "cancelled")]),
        ("refunded", [(OrderChanged, "refunded")]),
        ("trash", [(OrderChanged, "deleted")]),
    ],
)
def test_each_status_becomes_its_events(status: str, expected: list[tuple[type, Any]]) -> None:
    """
    Open statuses are the cart at checkout, a failed payment adds PaymentFailed, paid statuses
    place the order, and cancellations and refunds change it.
    """
    # given
    body = order(status=status)
    # when
    events = [m.event for m in messages(body)]
    # then
    detail = {CartSnapshot: "stage", OrderChanged: "change"}
    assert expected == [
        (type(e), getattr(e, detail[type(e)]) if type(e) in detail else None) for e in events
    ]


def test_a_plugin_status_is_stored_and_ignored() -> None:
    """
    A status Cartback does not know (a plugin's) is kept as a message without a cart event.
    """
    # given
    body = order(status="awaiting-shipment")
    # when
    (message,) = messages(body)
    # then
    assert (None, "order-727", "727") == (message.event, message.cart_key, message.order_key)


def test_a_processing_order_is_placed_with_its_lines_and_total() -> None:
    """
    Order 727 from the docs becomes OrderPlaced with both lines, prices as Decimals, and the
    total; the variation is kept as the variant and HTML entities are decoded.
    """
    # when
    (message,) = messages(ORDER_BYTES)
    # then
    assert (
        OrderPlaced(
            occurred_at=MODIFIED_727,
            currency="USD",
            order_id="727",
            items=LINES_727,
            total=Decimal("29.3500"),
            checkout_id="727",
        )
        == message.event
    )


def test_a_pending_order_is_the_cart_at_checkout_with_its_lines() -> None:
    """
    A pending order is the whole cart (lines and total) at the checkout stage.
    """
    # given
    body = order(status="pending")
    # when
    (message,) = messages(body)
    # then
    assert (
        CartSnapshot(
            occurred_at=MODIFIED_727,
            currency="USD",
            stage=Stage.CHECKOUT,
            items=LINES_727,
            total=Decimal("29.3500"),
            checkout_id="727",
        )
        == message.event
    )


def test_a_failed_order_gives_two_messages_with_their_own_keys() -> None:
    """
    A failed order is the cart at checkout, then the failed payment, each with its own key.
    """
    # given
    body = order(status="failed")
    # when
    first, second = messages(body, delivery_id="abc")
    # then
    assert ("abc:727:2017-03-22T19:28:08", "abc:727:2017-03-22T19:28:08#1") == (
        first.message_id.removeprefix("wc:"),
        second.message_id.removeprefix("wc:"),
    )
    assert (first.occurred_at, first.cart_key) == (second.occurred_at, second.cart_key)


def test_an_order_whose_products_are_gone_is_placed_without_lines() -> None:
    """
    Lines whose product was deleted (id 0, no SKU) are left out instead of refusing the order.
    """
    # given
    body = order(line_items=[{"id": 1, "name": "Gone", "product_id": 0, "quantity": 1, "sku": ""}])
    # when
    (message,) = messages(body)
    # then
    assert isinstance(message.event, OrderPlaced)
    assert message.event.items is None


def test_a_missing_price_is_read_from_the_line_total() -> None:
    """
    Without `price`, the unit price is the line's total divided by its quantity.
    """
    # given
    lines = [{"id": 1, "product_id": 5, "quantity": 4, "total": "10.00", "sku": "S-5"}]
    body = order(status="pending", line_items=lines)
    # when
    (message,) = messages(body)
    # then
    assert isinstance(message.event, CartSnapshot)
    assert message.event.items is not None
    assert Decimal("2.5000") == message.event.items[0].unit_price


# --- keys, contacts and times ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("cart_hash", "expected"),
    [("5040ce7273261e31d8bcf79f9be3d279", "5040ce7273261e31d8bcf79f9be3d279"), ("", "order-727")],
    ids=["cart hash", "no cart hash"],
)
def test_the_cart_key_is_the_cart_hash_else_the_order(cart_hash: str, expected: str) -> None:
    """
    The cart is `cart_hash`, or `order-<id>` for orders made without a cart (contract §5.5).
    """
    # given
    body = order(cart_hash=cart_hash)
    # when
    (message,) = messages(body)
    # then
    assert (expected, "727") == (message.cart_key, message.order_key)


def test_the_idempotency_key_joins_delivery_order_and_modification() -> None:
    """
    The key is the delivery id, the order id and `date_modified_gmt`, so a change of the same
    order in another delivery is a new message.
    """
    # given
    later = order(date_modified_gmt="2017-03-23T08:00:00")
    # when
    keys = [
        messages(ORDER_BYTES, delivery_id="d-1")[0].message_id,
        messages(ORDER_BYTES, delivery_id="d-1")[0].message_id,
        messages(later, delivery_id="d-1")[0].message_id,
        messages(ORDER_BYTES, delivery_id="d-2")[0].message_id,
    ]
    # then
    assert ["wc:d-1:727:2017-03-22T19:28:08"] * 2 + [
        "wc:d-1:727:2017-03-23T08:00:00",
        "wc:d-2:727:2017-03-22T19:28:08",
    ] == keys


def test_a_huge_delivery_id_becomes_a_digest_key() -> None:
    """
    A delivery id longer than the event log allows gives a digest key of bounded length.
    """
    # when
    (message,) = messages(ORDER_BYTES, delivery_id="x" * 400)
    # then
    assert message.message_id.startswith("sha256:")
    assert len(message.message_id) <= 255


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        ({}, MODIFIED_727),
        ({"date_modified_gmt": None}, datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)),
        ({"date_modified_gmt": None, "date_created_gmt": None}, NOW),
        (
            {"date_modified_gmt": "2017-03-22T19:28:08+02:00"},
            datetime(2017, 3, 22, 17, 28, 8, tzinfo=UTC),
        ),
        ({"date_modified_gmt": "2030-01-01T00:00:00"}, NOW),
        ({"date_modified_gmt": "yesterday"}, datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)),
    ],
    ids=["modified", "created", "none", "with offset", "far future", "unreadable"],
)
def test_the_time_is_the_gmt_modification(dates: dict[str, Any], expected: datetime) -> None:
    """
    The event time is `date_modified_gmt` read as UTC, else the creation, else the receipt; a
    shop clock far ahead of ours is not trusted.
    """
    # given
    body = order(**dates)
    # when
    (message,) = messages(body)
    # then
    assert expected == message.occurred_at


@pytest.mark.parametrize(
    ("billing", "customer_id", "expected"),
    [
        (
            {"email": "John.Doe@Example.com", "phone": "(415) 555-1212", "country": "US"},
            0,
            IdentityClaims(email="john.doe@example.com", phone="+14155551212"),
        ),
        (
            {"email": "joao@example.com", "phone": "(11) 98765-4321", "country": "BR"},
            26,
            IdentityClaims(user_id="26", email="joao@example.com", phone="+5511987654321"),
        ),
        (
            {"email": "john.doe@example.com", "phone": "(555) 555-5555", "country": "US"},
            0,
            IdentityClaims(email="john.doe@example.com"),
        ),
        (
            {"email": "not an address", "phone": "+44 20 7946 0958", "country": ""},
            0,
            IdentityClaims(phone="+442079460958"),
        ),
    ],
    ids=["guest", "customer in Brazil", "invalid phone dropped", "invalid email dropped"],
)
def test_billing_details_become_identity_claims(
    billing: dict[str, Any], customer_id: int, expected: IdentityClaims
) -> None:
    """
    Billing email and phone (E.164, read in the billing country) identify the shopper, a
    customer id is the user id (0 is a guest), and what does not normalise is dropped.
    """
    # given
    body = order(billing=billing, customer_id=customer_id)
    # when
    (message,) = messages(body)
    # then
    assert expected == message.claims
    assert expected.user_id == message.user_id


def test_a_phone_without_billing_country_is_read_in_the_store_country() -> None:
    """
    Without a billing country, a national number is read in the store's country.
    """
    # given
    body = order(billing={"email": "", "phone": "030 901820", "country": ""})
    # when
    (message,) = messages(body, region="DE")
    # then
    assert IdentityClaims(phone="+4930901820") == message.claims


def test_the_documented_list_translates_every_order() -> None:
    """
    Both orders of the documented `GET /orders` answer translate, order 723 by its cart hash
    and its customer.
    """
    # given
    documents = json.loads((FIXTURES / "orders_list_v3_docs.json").read_text())
    # when
    found = [
        woocommerce.order_messages(
            d,
            topic="order.polled",
            key=lambda order_id, modified: f"{order_id}@{modified}",
            received_at=NOW,
            default_region=None,
            currency="USD",
        )[0]
        for d in documents
    ]
    # then
    assert [
        ("727@2017-03-22T19:28:08", "order-727", None),
        ("723@2017-03-21T19:54:51", "5040ce7273261e31d8bcf79f9be3d279", "26"),
    ] == [(m.message_id, m.cart_key, m.user_id) for m in found]


# --- deletions and refusals -----------------------------------------------------------------


def test_order_deleted_marks_the_order_deleted() -> None:
    """
    `order.deleted` carries only the id; it marks that order deleted, received now.
    """
    # given
    body = (FIXTURES / "order_deleted.json").read_bytes()
    # when
    (message,) = messages(body, topic="order.deleted")
    # then
    assert (
        OrderChanged(occurred_at=NOW, order_id="727", change="deleted"),
        "727",
        None,
    ) == (message.event, message.order_key, message.cart_key)


def test_a_full_order_replayed_as_deleted_is_refused() -> None:
    """
    The topic header is not signed: a signed order body sent again as `order.deleted` is refused.
    """
    # when
    found = errors(ORDER_BYTES, topic="order.deleted")
    # then
    assert ("parent_id", "Extra inputs are not permitted") in found


@pytest.mark.parametrize(
    ("body", "topic", "expected"),
    [
        (b"{not json", "order.updated", [("", "the body is not valid JSON")]),
        (b"[1, 2]", "order.updated", [("", "must be a JSON object")]),
        (ORDER_BYTES, "product.updated", [("", "unsupported topic 'product.updated'")]),
        (
            json.dumps({"id": 727}).encode(),
            "order.updated",
            [("status", "Field required")],
        ),
        (
            json.dumps(order(line_items=[{"id": 1, "product_id": 5, "price": -1}])).encode(),
            "order.updated",
            [("line_items[0].price", "must not be negative")],
        ),
        (
            json.dumps(order(total="lots")).encode(),
            "order.updated",
            [("total", "must be a number")],
        ),
    ],
    ids=["bad JSON", "not an object", "other topic", "no status", "negative price", "bad total"],
)
def test_invalid_payloads_are_refused_with_their_paths(
    body: bytes, topic: str, expected: list[tuple[str, str]]
) -> None:
    """
    What cannot be translated is refused with the path of each bad field.
    """
    # when
    found = errors(body, topic=topic)
    # then
    assert [path for path, _ in expected] == [path for path, _ in found]
    assert all(
        message.startswith(prefix)
        for (_, message), (_, prefix) in zip(found, expected, strict=True)
    )


# --- restore URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "code", "scheme", "expected"),
    [
        (
            LINES_727,
            None,
            RestoreScheme.CHECKOUT_LINK,
            "https://shop.example.com/checkout-link/?products=93:2,23:1",
        ),
        (
            LINES_727,
            "SAVE 10%",
            RestoreScheme.CHECKOUT_LINK,
            "https://shop.example.com/checkout-link/?products=93:2,23:1&coupon=SAVE%2010%25",
        ),
        (
            (*LINES_727, LineItem(product_id="93", quantity=1), LineItem(sku="ONLY-SKU")),
            None,
            RestoreScheme.CHECKOUT_LINK,
            "https://shop.example.com/checkout-link/?products=93:3,23:1",
        ),
        (
            (LineItem(sku="ONLY-SKU"),),
            "CODE",
            RestoreScheme.CHECKOUT_LINK,
            "https://shop.example.com/cart/",
        ),
        (
            LINES_727[1:],
            "CODE",
            RestoreScheme.ADD_TO_CART,
            "https://shop.example.com/?add-to-cart=23&quantity=1",
        ),
        (LINES_727, None, RestoreScheme.ADD_TO_CART, "https://shop.example.com/cart/"),
    ],
    ids=[
        "checkout link",
        "with coupon",
        "added up, SKU-only left out",
        "nothing to add",
        "add-to-cart one product",
        "add-to-cart several products",
    ],
)
def test_restore_url_rebuilds_the_cart(
    lines: tuple[LineItem, ...], code: str | None, scheme: RestoreScheme, expected: str
) -> None:
    """
    The checkout link lists every line by variation, else product, with the coupon; the
    add-to-cart link holds one product only, so several go to the cart page.
    """
    # when
    url = restore_url("https://shop.example.com/", lines, code, scheme=scheme)
    # then
    assert expected == url


def test_restore_url_keeps_the_wordpress_sub_folder() -> None:
    """
    A WordPress installed in a sub-folder keeps it in the link.
    """
    # when
    url = restore_url("https://example.com/shop", LINES_727[:1])
    # then
    assert "https://example.com/shop/checkout-link/?products=93:2" == url


# --- replayed and reordered deliveries through the ingest use case --------------------------

#: Three states of one order, in the order WooCommerce produced them.
HISTORY = [
    ("pending", "2026-11-27T09:00:00", [{"id": 1, "product_id": 5, "quantity": 1, "price": 10}]),
    ("pending", "2026-11-27T09:05:00", [{"id": 1, "product_id": 5, "quantity": 3, "price": 10}]),
    ("processing", "2026-11-27T09:10:00", [{"id": 1, "product_id": 5, "quantity": 3, "price": 10}]),
]


def _deliveries(count: int) -> list[Delivery]:
    return [
        delivery(
            order(status=status, date_modified_gmt=modified, line_items=lines, cart_hash="h1"),
            delivery_id=f"d-{index}",
        )
        for index, (status, modified, lines) in enumerate(HISTORY[:count])
    ]


def _final_state(sent: list[Delivery]) -> tuple[Any, ...]:
    database = FakeDatabase()
    uow_factory = FakeUnitOfWorkFactory(database)
    clock = SimulatedClock(NOW)
    store = create_store(
        uow=uow_factory(),
        clock=clock,
        box=SecretBox(["unit-test-secret"]),
        settings=StoreSettings(name="Woo", platform="woocommerce", domains=["shop.example.com"]),
    ).store
    for one in sent:
        ingest(
            uow=uow_factory(),
            clock=clock,
            store_id=store.id,
            messages=woocommerce.parse(one).messages,
        )
    record = database.cart(store.id, "h1")
    assert record is not None
    cart = record.cart
    return (cart.status, cart.stage, cart.lines, cart.total, cart.order_id)


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=len(HISTORY)),
    repeats=st.lists(st.integers(min_value=0, max_value=len(HISTORY) - 1), max_size=6),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_any_order_and_any_repeats_end_in_the_in_order_state(
    count: int, repeats: list[int], seed: int
) -> None:
    """
    Deliveries of one order's history, shuffled and repeated, leave the cart as delivering them
    once, in order, does.
    """
    # given
    in_order = _deliveries(count)
    shuffled = in_order + [in_order[i % count] for i in repeats]
    random.Random(seed).shuffle(shuffled)
    # when
    expected, actual = _final_state(in_order), _final_state(shuffled)
    # then
    assert expected == actual


def test_the_in_order_history_converts_the_cart() -> None:
    """
    The history used above ends with the cart converted, holding the ordered lines.
    """
    # when
    state = _final_state(_deliveries(len(HISTORY)))
    # then
    assert (
        CartStatus.CONVERTED,
        Stage.ORDERED,
        (LineItem(product_id="5", quantity=3, unit_price=Decimal("10.0000")),),
        Decimal("29.3500"),
        "727",
    ) == state


def test_an_older_update_delivered_late_is_stale() -> None:
    """
    A pending state modified before the stored one changes nothing (its time is the order's).
    """
    # given
    newer, older = _deliveries(2)[1], _deliveries(1)[0]
    # when
    state = _final_state([newer, older])
    # then
    assert _final_state([_deliveries(2)[0], newer]) == state
    assert 3 == state[2][0].quantity


def test_timestamps_are_utc_aware() -> None:
    """
    Every message's time is timezone-aware UTC (WooCommerce's `*_gmt` fields have no offset).
    """
    # when
    (message,) = messages(ORDER_BYTES)
    # then
    assert timedelta(0) == message.occurred_at.utcoffset()


# --- coupons ----------------------------------------------------------------------------------


def test_a_placed_order_reports_its_coupons_upper_cased_with_their_discounts() -> None:
    """
    Order 727 has no coupon lines, so no discounts; with two coupons (WooCommerce keeps codes
    in lower case), each is reported upper-cased with its `discount`.
    """
    # given
    without = order(status="processing")
    with_coupons = order(
        status="processing",
        coupon_lines=[
            {"id": 1, "code": "welcome10", "discount": "5.40", "discount_tax": "0.00"},
            {"id": 2, "code": " cb-7k2m ", "discount": "2.00", "discount_tax": "0.00"},
            {"id": 3, "code": "", "discount": "1.00"},
        ],
    )
    # when
    (plain,) = messages(without)
    (coupons,) = messages(with_coupons)
    # then
    assert isinstance(plain.event, OrderPlaced)
    assert () == plain.event.discounts
    assert isinstance(coupons.event, OrderPlaced)
    assert (
        AppliedDiscount(code="WELCOME10", amount=Decimal("5.40")),
        AppliedDiscount(code="CB-7K2M", amount=Decimal("2.00")),
    ) == coupons.event.discounts


def test_a_coupon_line_that_does_not_read_does_not_refuse_the_order() -> None:
    """
    `coupon_lines` of the wrong shape: the order is placed without discounts.
    """
    (message,) = messages(order(status="completed", coupon_lines="welcome10"))
    assert isinstance(message.event, OrderPlaced)
    assert () == message.event.discounts
