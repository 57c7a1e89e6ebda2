"""
The Segment HTTP Tracking API source (`sources/segment.py`): every e-commerce event name,
product fields, refused values with their paths, timestamps and clock skew, identity claims,
idempotency keys and the per-event size limit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest

from cartback.domain.errors import FieldError
from cartback.domain.events import (
    MAX_LINES,
    AppliedDiscount,
    CartSnapshot,
    IdentityClaims,
    ItemAdded,
    ItemRemoved,
    LineItem,
    OrderChanged,
    OrderPlaced,
    PaymentFailed,
    ProductViewed,
    Stage,
)
from cartback.domain.ingest import Inbound, MessageKind
from cartback.sources.segment import (
    HANDLED_EVENT_NAMES,
    MAX_EVENT_BYTES,
    ParseContext,
    Parsed,
    batch_sent_at,
    parse_messages,
)

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def track(event: str = "Product Added", **fields: Any) -> dict[str, Any]:
    """
    A track message from an anonymous visitor; `properties` and other fields by keyword.
    """
    return {"type": "track", "event": event, "anonymousId": "anon-1", "messageId": "m-1", **fields}


def identify(**fields: Any) -> dict[str, Any]:
    """
    An identify message from an anonymous visitor.
    """
    return {"type": "identify", "anonymousId": "anon-1", "messageId": "m-2", **fields}


def parse(*documents: Any, single: bool = False, **context: Any) -> Parsed:
    """
    Parse documents as one batch at NOW, with optional ParseContext fields.
    """
    return parse_messages(list(documents), context=ParseContext(now=NOW, **context), single=single)


def one(document: Any, **context: Any) -> Inbound:
    """
    The single message a valid document parses to.
    """
    parsed = parse(document, **context)
    assert [] == parsed.errors
    (message,) = parsed.messages
    return message


def errors(document: Any, **context: Any) -> list[tuple[str, str]]:
    """
    The (path, message) of each error for one document in a batch.
    """
    parsed = parse(document, **context)
    assert [] == parsed.messages
    return [(e.path, e.message) for e in parsed.errors]


def product(**properties: Any) -> dict[str, Any]:
    """
    Product Added properties for `p-1` plus the given ones.
    """
    return {"product_id": "p-1", **properties}


# --- event vocabulary -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "event_type"),
    [
        ("Product Viewed", ProductViewed),
        ("Product Added", ItemAdded),
        ("Product Removed", ItemRemoved),
        ("Cart Viewed", CartSnapshot),
        ("Checkout Started", CartSnapshot),
        ("Checkout Step Viewed", CartSnapshot),
        ("Checkout Step Completed", CartSnapshot),
        ("Payment Info Entered", CartSnapshot),
        ("Payment Failed", PaymentFailed),
        ("Order Completed", OrderPlaced),
        ("Order Cancelled", OrderChanged),
        ("Order Refunded", OrderChanged),
    ],
)
def test_every_ecommerce_event_translates(name: str, event_type: type) -> None:
    """
    Each name of the e-commerce spec v2 (and Payment Failed) becomes its Cartback event.
    """
    # given
    document = track(name, properties=product(order_id="o-1"))
    # when
    message = one(document)
    # then
    assert event_type is type(message.event)


@pytest.mark.parametrize(
    ("name", "stage"),
    [
        ("Cart Viewed", Stage.CART),
        ("Checkout Started", Stage.CHECKOUT),
        ("Checkout Step Viewed", Stage.CHECKOUT),
        ("Checkout Step Completed", Stage.CHECKOUT),
        ("Payment Info Entered", Stage.CHECKOUT),
    ],
)
def test_snapshot_events_carry_their_stage(name: str, stage: Stage) -> None:
    """
    Cart Viewed is the cart stage; the checkout steps are the checkout stage.
    """
    # given / when
    event = one(track(name, properties={})).event
    # then
    assert isinstance(event, CartSnapshot)
    assert stage == event.stage


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("Order Cancelled", "cancelled"),
        ("Order Canceled", "cancelled"),
        ("Order Refunded", "refunded"),
    ],
)
def test_order_changes_carry_what_changed(name: str, change: str) -> None:
    """
    Both spellings of cancelled, and refunded, are order changes.
    """
    # given / when
    event = one(track(name, properties={"order_id": "o-1", "total": 12})).event
    # then
    assert (
        OrderChanged(occurred_at=NOW, order_id="o-1", change=change, amount=Decimal("12")) == event
    )


@pytest.mark.parametrize(
    "name",
    ["product_added", "PRODUCT ADDED", "Product  Added", " product added ", "Product_Added"],
)
def test_event_names_ignore_case_underscores_and_spacing(name: str) -> None:
    """
    `product_added` and `PRODUCT ADDED` mean Product Added.
    """
    # given / when
    event = one(track(name, properties=product())).event
    # then
    assert isinstance(event, ItemAdded)


def test_the_handled_names_are_the_contract_vocabulary() -> None:
    """
    The engine understands exactly the names `contract.md` §5.1 lists (plus `Order Canceled`).
    """
    # given
    contract = {
        "product viewed", "product added", "product removed", "cart viewed", "checkout started",
        "checkout step viewed", "checkout step completed", "payment info entered",
        "order completed", "order cancelled", "order refunded", "payment failed",
    }  # fmt: skip
    # when
    handled = set(HANDLED_EVENT_NAMES)
    # then
    assert contract | {"order canceled"} == handled


def test_an_unknown_event_is_kept_without_a_cart_event() -> None:
    """
    Unknown events are stored and ignored by the engine.
    """
    # given / when
    message = one(track("Newsletter Signed Up", properties={"list": "weekly"}))
    # then
    assert (MessageKind.TRACK, "Newsletter Signed Up", None) == (
        message.kind,
        message.name,
        message.event,
    )


def test_an_unknown_event_is_not_held_to_ecommerce_property_types() -> None:
    """
    A `price: "free"` on an event the engine ignores does not get it refused.
    """
    # given
    document = track("Webinar Booked", properties={"price": "free", "url": "zoom:123"})
    # when
    message = one(document)
    # then
    assert ("Webinar Booked", None) == (message.name, message.event)


@pytest.mark.parametrize(("kind", "fields"), [("page", {"name": "Home"}), ("identify", {})])
def test_non_track_messages_carry_no_cart_event(kind: str, fields: dict[str, Any]) -> None:
    """
    Page and identify calls are stored, but are not cart events.
    """
    # given
    document = {"type": kind, "anonymousId": "anon-1", **fields}
    # when
    message = one(document)
    # then
    assert (MessageKind(kind), None) == (message.kind, message.event)


# --- product fields -------------------------------------------------------------------------


def test_every_product_field_reaches_the_line() -> None:
    """
    product_id, variant_id, sku, name, variant, quantity, price, image_url, url and category.
    """
    # given
    properties = {
        "product_id": "p-1",
        "variant_id": "v-1",
        "sku": "SKU-1",
        "name": "Mug",
        "variant": "Red",
        "quantity": 2,
        "price": 12.5,
        "image_url": "https://cdn.example.com/mug.png",
        "url": "https://shop.example.com/mug",
        "category": "Kitchen",
    }
    # when
    event = one(track(properties=properties)).event
    # then
    expected = LineItem(
        product_id="p-1",
        variant_id="v-1",
        sku="SKU-1",
        name="Mug",
        variant_name="Red",
        quantity=2,
        unit_price=Decimal("12.5"),
        image_url="https://cdn.example.com/mug.png",
        url="https://shop.example.com/mug",
        category="Kitchen",
    )
    assert ItemAdded(occurred_at=NOW, item=expected) == event


def test_id_stands_in_for_product_id() -> None:
    """
    Older SDKs send `id` instead of `product_id`.
    """
    # given / when
    event = one(track(properties={"id": "p-7"})).event
    # then
    assert isinstance(event, ItemAdded)
    assert "p-7" == event.item.product_id


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"quantity": "3"}, 3),
        ({"quantity": 2.0}, 2),
        ({"quantity": " 4 "}, 4),
        ({}, 1),
    ],
)
def test_quantities_read_as_whole_numbers(properties: dict[str, Any], expected: int) -> None:
    """
    Whole numbers as text or floats are accepted; a missing quantity on an add is one.
    """
    # given / when
    event = one(track(properties=product(**properties))).event
    # then
    assert isinstance(event, ItemAdded)
    assert expected == event.item.quantity


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (19.99, "19.9900"),
        ("12.50", "12.5000"),
        (7, "7.0000"),
        ("0.00005", "0.0000"),
        ("-0", "0.0000"),
        (-0.0, "0.0000"),
    ],
)
def test_prices_are_exact_decimals(price: Any, expected: str) -> None:
    """
    Prices become exact decimals with four places, never floats, never "-0".
    """
    # given / when
    event = one(track(properties=product(price=price))).event
    # then
    assert isinstance(event, ItemAdded)
    assert expected == str(event.item.unit_price)


@pytest.mark.parametrize("product_id", [123, "  p-1  "])
def test_identifiers_accept_integers_and_are_trimmed(product_id: Any) -> None:
    """
    Integer ids read as text; surrounding spaces are dropped.
    """
    # given / when
    event = one(track(properties={"product_id": product_id})).event
    # then
    assert isinstance(event, ItemAdded)
    assert str(product_id).strip() == event.item.product_id


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/p/1?x=1",
        "HTTP://SHOP.EXAMPLE.COM/",
        "/products/mug",
        "//cdn.example.com/mug.png",
    ],
)
def test_http_urls_and_paths_are_accepted(url: str) -> None:
    """
    Web links, site paths and protocol-relative links are kept.
    """
    # given / when
    event = one(track(properties=product(url=url))).event
    # then
    assert isinstance(event, ItemAdded)
    assert url == event.item.url


def test_product_removed_without_quantity_removes_the_whole_line() -> None:
    """
    Clicking "remove" sends no quantity: the whole line goes (quantity 0).
    """
    # given / when
    event = one(track("Product Removed", properties=product())).event
    # then
    assert isinstance(event, ItemRemoved)
    assert 0 == event.item.quantity


def test_products_list_becomes_the_snapshot_lines_without_empty_ones() -> None:
    """
    `products[]` replaces the lines; products with quantity 0 are left out.
    """
    # given
    properties = {
        "cart_id": "c-1",
        "products": [
            {"product_id": "a", "quantity": 2, "price": "5"},
            {"product_id": "b", "quantity": 0},
            {"sku": "c"},
        ],
    }
    # when
    event = one(track("Cart Viewed", properties=properties)).event
    # then
    assert isinstance(event, CartSnapshot)
    assert [("a", 2), ("c", 1)] == [(i.key[0], i.quantity) for i in event.items or ()]


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"products": [], "value": 30, "total": 33}, Decimal("33")),
        ({"products": [], "value": 30}, Decimal("30")),
        ({"value": 30, "total": 33}, None),
    ],
)
def test_a_checkout_declares_its_total_only_with_its_products(
    properties: dict[str, Any], expected: Decimal | None
) -> None:
    """
    A checkout's `total` (else `value`) is declared when it lists its products.
    """
    # given / when
    event = one(track("Checkout Started", properties=properties)).event
    # then
    assert isinstance(event, CartSnapshot)
    assert expected == event.total


@pytest.mark.parametrize(
    ("amounts", "expected"),
    [
        ({"total": 10, "value": 20, "revenue": 30}, Decimal("10")),
        ({"value": 20, "revenue": 30}, Decimal("20")),
        ({"revenue": 30}, Decimal("30")),
        ({}, None),
    ],
)
def test_an_order_total_prefers_total_then_value_then_revenue(
    amounts: dict[str, Any], expected: Decimal | None
) -> None:
    """
    Order Completed reads `total`, else `value`, else `revenue`.
    """
    # given / when
    event = one(track("Order Completed", properties={"order_id": "o-1", **amounts})).event
    # then
    assert isinstance(event, OrderPlaced)
    assert expected == event.total


def test_cart_and_order_ids_become_keys() -> None:
    """
    `cart_id` and `order_id` say which cart and order the message is about.
    """
    # given
    properties = {"cart_id": "c-9", "order_id": "o-9", "checkout_id": "k-9"}
    # when
    message = one(track("Order Completed", properties=properties))
    # then
    assert isinstance(message.event, OrderPlaced)
    assert ("c-9", "o-9", "k-9") == (
        message.cart_key,
        message.order_key,
        message.event.checkout_id,
    )


def test_currency_is_upper_cased() -> None:
    """
    `eur` is EUR.
    """
    # given / when
    event = one(track(properties=product(currency="eur"))).event
    # then
    assert event is not None
    assert "EUR" == event.currency


def test_payment_failed_keeps_its_reason() -> None:
    """
    Cartback's own Payment Failed event says why.
    """
    # given / when
    event = one(track("Payment Failed", properties={"reason": "card_declined"})).event
    # then
    assert PaymentFailed(occurred_at=NOW, reason="card_declined") == event


# --- refused values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("properties", "path", "message"),
    [
        ({"quantity": -1}, "properties.quantity", "must not be negative"),
        ({"quantity": "-2"}, "properties.quantity", "must not be negative"),
        ({"quantity": 1.5}, "properties.quantity", "must be a whole number"),
        ({"quantity": "1.5"}, "properties.quantity", "must be a whole number"),
        ({"quantity": True}, "properties.quantity", "must be a whole number"),
        ({"quantity": "²"}, "properties.quantity", "must be a whole number"),
        ({"quantity": float("nan")}, "properties.quantity", "must be a whole number"),
        ({"quantity": 10_001}, "properties.quantity", "must be at most 10000"),
        ({"quantity": 0}, "properties", "needs a quantity of at least 1"),
        ({"price": -1}, "properties.price", "must not be negative"),
        ({"price": "-0.01"}, "properties.price", "must not be negative"),
        ({"price": 1e308}, "properties.price", "must be at most 100000000"),
        ({"price": 1e30}, "properties.price", "must be at most 100000000"),
        ({"price": "1e999999"}, "properties.price", "must be at most 100000000"),
        ({"price": "NaN"}, "properties.price", "must be a finite number"),
        ({"price": "nan"}, "properties.price", "must be a finite number"),
        ({"price": "sNaN"}, "properties.price", "must be a finite number"),
        ({"price": "Infinity"}, "properties.price", "must be a finite number"),
        ({"price": "-inf"}, "properties.price", "must be a finite number"),
        ({"price": "twelve"}, "properties.price", "must be a number"),
        ({"price": True}, "properties.price", "must be a number"),
        ({"price": [1]}, "properties.price", "must be a number"),
        ({"price": {"amount": 1}}, "properties.price", "must be a number"),
        ({"url": "javascript:alert(1)"}, "properties.url", "http(s) URL or a path"),
        ({"url": " JavaScript:alert(1)"}, "properties.url", "http(s) URL or a path"),
        ({"image_url": "data:image/png;base64,AAAA"}, "properties.image_url", "http(s) URL"),
        ({"url": "https://a.example/with space"}, "properties.url", "http(s) URL"),
        ({"url": "https://x/" + "a" * 2048}, "properties.url", "at most 2048"),
        ({"url": 5}, "properties.url", "must be a URL string"),
        ({"product_id": True}, "properties.product_id", "string or an integer"),
        ({"product_id": 1.5}, "properties.product_id", "string or an integer"),
        ({"product_id": "x" * 256}, "properties.product_id", "at most 255"),
        ({"name": "x" * 501}, "properties.name", "at most 500"),
        ({"name": {"en": "Mug"}}, "properties.name", "must be a string"),
        ({"currency": "EURO"}, "properties.currency", "ISO 4217"),
        ({"currency": 978}, "properties.currency", "ISO 4217"),
        ({"total": -5}, "properties.total", "must not be negative"),
        ({"total": 10**13}, "properties.total", "must be at most"),
        ({"products": "mug"}, "properties.products", "valid list"),
    ],
)
def test_bad_product_values_are_refused_by_field(
    properties: dict[str, Any], path: str, message: str
) -> None:
    """
    Negative, fractional, absurd, NaN-like, boolean and unsafe values are refused, each with
    the path of its field.
    """
    # given
    document = track(properties=product(**properties))
    # when
    found = errors(document, single=True)
    # then
    assert [path] == [p for p, _ in found]
    assert message in found[0][1]


def test_a_line_without_any_identifier_is_refused() -> None:
    """
    A product with no product_id, variant_id or sku cannot become a line.
    """
    # given
    document = track(properties={"name": "Mystery"})
    # when
    found = errors(document)
    # then
    assert [("batch[0].properties", "a line needs a product_id, variant_id or sku")] == found


def test_an_error_inside_products_names_the_product_index() -> None:
    """
    A bad price in the second product is reported at `products[1].price`.
    """
    # given
    properties = {"products": [{"product_id": "a"}, {"product_id": "b", "price": "x"}]}
    # when
    found = errors(track("Order Completed", properties=properties))
    # then
    assert [("batch[0].properties.products[1].price", "must be a number")] == found


def test_a_listed_product_without_any_identifier_is_named_by_index() -> None:
    """
    A product in `products[]` that cannot become a line is reported at its own path.
    """
    # given
    properties = {"products": [{"product_id": "a"}, {"name": "Mystery", "quantity": 1}]}
    # when
    found = errors(track("Checkout Started", properties=properties))
    # then
    assert [
        ("batch[0].properties.products[1]", "a line needs a product_id, variant_id or sku")
    ] == found


def test_a_products_list_longer_than_a_cart_can_hold_is_refused() -> None:
    """
    More products than MAX_LINES are refused at `products`, not silently dropped later.
    """
    # given
    properties = {"products": [{"sku": f"s{i}"} for i in range(MAX_LINES + 1)]}
    # when
    found = errors(track("Cart Viewed", properties=properties))
    # then
    assert [("batch[0].properties.products", f"a cart holds at most {MAX_LINES} products")] == found


def test_every_bad_field_of_a_message_is_reported() -> None:
    """
    All invalid fields are listed, not only the first.
    """
    # given
    document = track(properties=product(price=-1, quantity=-1))
    # when
    found = errors(document)
    # then
    assert ["batch[0].properties.price", "batch[0].properties.quantity"] == sorted(
        p for p, _ in found
    )


@pytest.mark.parametrize("properties", [[1, 2], "text", 5])
def test_properties_must_be_an_object(properties: Any) -> None:
    """
    `properties` that is not an object is refused at its path.
    """
    # given / when
    found = errors(track(properties=properties))
    # then
    assert ["batch[0].properties"] == [p for p, _ in found]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"anonymousId": "a\x00b"}, "batch[0].anonymousId"),
        ({"properties": product(name="Mug\x00")}, "batch[0].properties.name"),
        ({"context": {"page": {"title": "\x00"}}}, "batch[0].context.page.title"),
        (
            {"properties": {"products": [{"sku": "a"}, {"sku": "b", "name": "\x00"}]}},
            "batch[0].properties.products[1].name",
        ),
        ({"properties": {"x\x00y": 1}}, "batch[0].properties.x\\u0000y"),
    ],
    ids=["identifier", "name", "unknown-field", "in-a-list", "in-a-key"],
)
def test_nul_characters_are_refused_wherever_they_are(fields: dict[str, Any], path: str) -> None:
    """
    U+0000, which PostgreSQL cannot store, is refused at its path on every database alike.
    """
    # given
    document = {**track(properties=product()), **fields}
    # when
    found = errors(document)
    # then
    assert [(path, "must not contain U+0000")] == found


def test_an_escaped_backslash_u0000_is_not_a_nul() -> None:
    """
    The six characters `\\u0000` (a backslash, then text) are ordinary text.
    """
    # given
    document = track(properties=product(name="C:\\u0000\\file"))
    # when
    event = one(document).event
    # then
    assert isinstance(event, ItemAdded)
    assert "C:\\u0000\\file" == event.item.name


def test_a_nul_in_the_batch_context_refuses_each_message() -> None:
    """
    The shared context is stored with every message, so a NUL in it refuses them all.
    """
    # given
    documents = [track(properties=product()), track(properties=product(), messageId="m-3")]
    # when
    parsed = parse(*documents, batch_context={"page": {"title": "a\x00"}})
    # then
    assert ([], ["batch[0].context.page.title", "batch[1].context.page.title"]) == (
        parsed.messages,
        [e.path for e in parsed.errors],
    )


def test_a_message_nested_deeper_than_can_be_stored_is_refused() -> None:
    """
    JSON nested past what the store can write back is a clear error, not a crash.
    """
    # given
    deep = orjson.loads(b"[" * 300 + b"]" * 300)
    document = track("Newsletter Signed Up", properties={"deep": deep})
    del document["messageId"]
    # when
    found = errors(document)
    # then
    assert [("batch[0]", "cannot be stored as JSON: Recursion limit reached")] == found


# --- message shape --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "identity",
    [{}, {"anonymousId": None}, {"anonymousId": ""}, {"anonymousId": "  ", "userId": None}],
)
def test_a_message_without_anyone_is_refused(identity: dict[str, Any]) -> None:
    """
    A message needs an anonymousId or a userId.
    """
    # given
    document = {"type": "track", "event": "Product Added", "properties": product(), **identity}
    # when
    found = errors(document)
    # then
    assert [("batch[0].anonymousId", "anonymousId or userId is required")] == found


def test_a_user_id_alone_is_enough() -> None:
    """
    A logged-in server-side message may carry only a userId.
    """
    # given
    document = {"type": "track", "event": "Product Added", "userId": "u-1", "properties": product()}
    # when
    message = one(document)
    # then
    assert (None, "u-1", IdentityClaims(user_id="u-1")) == (
        message.anonymous_id,
        message.user_id,
        message.claims,
    )


@pytest.mark.parametrize("event", [None, "", "   "])
def test_a_track_call_without_an_event_name_is_refused(event: str | None) -> None:
    """
    A track call must say what happened.
    """
    # given
    document = track(properties=product())
    document["event"] = event
    # when
    found = errors(document)
    # then
    assert [("batch[0].event", "a track call needs an event name")] == found


@pytest.mark.parametrize("kind", ["flush", "TRACK", None])
def test_an_unknown_message_type_is_refused(kind: str | None) -> None:
    """
    Only Segment's message types are accepted.
    """
    # given
    document = track(properties=product())
    document["type"] = kind
    # when
    found = errors(document)
    # then
    assert ["batch[0].type"] == [p for p, _ in found]


@pytest.mark.parametrize("document", [[], "track", 7, None])
def test_a_message_that_is_not_an_object_is_refused(document: Any) -> None:
    """
    Each message must be a JSON object.
    """
    # given / when
    found = errors(document)
    # then
    assert [("batch[0]", "must be a JSON object")] == found


def test_a_batch_keeps_the_valid_messages_and_indexes_the_invalid_ones() -> None:
    """
    Valid messages pass beside invalid ones, which are reported by their index.
    """
    # given
    documents = [
        track(properties=product(), messageId="ok-1"),
        track(properties=product(price=-1), messageId="bad"),
        track(properties=product(), messageId="ok-2"),
    ]
    # when
    parsed = parse(*documents)
    # then
    assert (
        ["ok-1", "ok-2"],
        [FieldError(path="batch[1].properties.price", message="must not be negative", index=1)],
    ) == (
        [m.message_id for m in parsed.messages],
        parsed.errors,
    )


def test_a_single_message_reports_paths_without_a_batch_prefix() -> None:
    """
    `/v1/track` errors name the field alone and carry no index.
    """
    # given
    document = track(properties=product(price=-1))
    # when
    parsed = parse(document, single=True)
    # then
    assert [FieldError(path="properties.price", message="must not be negative")] == parsed.errors


def test_the_message_carries_its_source_kind_and_payload() -> None:
    """
    The inbound message records where it came from and the raw document.
    """
    # given
    document = track(properties=product())
    # when
    message = one(document, source="snippet")
    # then
    assert ("snippet", MessageKind.TRACK, "Product Added", document) == (
        message.source,
        message.kind,
        message.name,
        message.payload,
    )


# --- timestamps -----------------------------------------------------------------------------


def test_a_message_without_a_timestamp_happened_now() -> None:
    """
    No timestamp means the time it was received.
    """
    # given / when
    message = one(track(properties=product()))
    # then
    assert NOW == message.occurred_at


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"timestamp": "2026-11-27T09:00:00Z"}, datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),
        ({"timestamp": "2026-11-27T11:00:00+02:00"}, datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),
        ({"timestamp": "2026-11-27T09:00:00"}, datetime(2026, 11, 27, 9, 0, tzinfo=UTC)),
        ({"originalTimestamp": "2026-11-27T08:00:00Z"}, datetime(2026, 11, 27, 8, 0, tzinfo=UTC)),
        (
            {"timestamp": "2026-11-27T09:00:00Z", "originalTimestamp": "2026-11-27T08:00:00Z"},
            datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
        ),
        ({"timestamp": "2026-11-27T10:04:59Z"}, datetime(2026, 11, 27, 10, 4, 59, tzinfo=UTC)),
    ],
    ids=["utc", "offset", "naive-is-utc", "original", "timestamp-wins", "within-tolerance"],
)
def test_timestamps_are_read_in_utc(fields: dict[str, Any], expected: datetime) -> None:
    """
    The message's time, in UTC; naive times are UTC; a few minutes ahead are tolerated.
    """
    # given / when
    message = one(track(properties=product(), **fields))
    # then
    assert (expected, UTC) == (message.occurred_at, message.occurred_at.tzinfo)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timestamp": "2026-11-27T10:05:01Z"}, "is in the future"),
        ({"timestamp": "2027-01-01T00:00:00Z"}, "is in the future"),
        ({"timestamp": "1999-12-31T23:59:59Z"}, "is before the year 2000"),
        ({"timestamp": 0}, "is before the year 2000"),
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, "is before the year 2000"),
        ({"timestamp": "yesterday"}, "valid datetime"),
        ({"timestamp": True}, "valid datetime"),
        (
            {"timestamp": "9999-12-31T23:59:59Z", "sentAt": "2001-01-01T00:00:00Z"},
            "is out of range",
        ),
        (
            {"timestamp": "2026-11-27T10:00:00Z", "sentAt": "9999-12-31T00:00:00Z"},
            "is out of range",
        ),
    ],
)
def test_impossible_timestamps_are_refused(fields: dict[str, Any], message: str) -> None:
    """
    Times more than five minutes ahead, before 2000, unreadable or out of range are refused.
    """
    # given
    document = track(properties=product(), **fields)
    # when
    found = errors(document)
    # then
    assert ["batch[0].timestamp"] == [p for p, _ in found]
    assert message in found[0][1]


def test_sent_at_corrects_a_client_clock_that_runs_ahead() -> None:
    """
    A client an hour fast: its event five minutes before sending happened at our 09:55.
    """
    # given
    document = track(
        properties=product(),
        timestamp="2026-11-27T10:55:00Z",
        sentAt="2026-11-27T11:00:00Z",
    )
    # when
    message = one(document)
    # then
    assert datetime(2026, 11, 27, 9, 55, tzinfo=UTC) == message.occurred_at


def test_the_batch_sent_at_corrects_messages_without_their_own() -> None:
    """
    `analytics-python` puts `sentAt` on the batch: a client an hour slow is corrected by it.
    """
    # given
    document = track(properties=product(), timestamp="2026-11-27T08:50:00Z")
    sent = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    # when
    message = one(document, batch_sent_at=sent)
    # then
    assert datetime(2026, 11, 27, 9, 50, tzinfo=UTC) == message.occurred_at


def test_a_message_sent_at_wins_over_the_batch_one() -> None:
    """
    When both say when they were sent, the message's own `sentAt` counts.
    """
    # given
    document = track(
        properties=product(),
        timestamp="2026-11-27T09:58:00Z",
        sentAt="2026-11-27T10:00:00Z",
    )
    # when
    message = one(document, batch_sent_at=datetime(2020, 1, 1, tzinfo=UTC))
    # then
    assert datetime(2026, 11, 27, 9, 58, tzinfo=UTC) == message.occurred_at


def test_skew_correction_happens_before_the_future_check() -> None:
    """
    A client a day fast is not refused as sending from the future.
    """
    # given
    document = track(
        properties=product(),
        timestamp="2026-11-28T10:00:00Z",
        sentAt="2026-11-28T10:00:00Z",
    )
    # when
    message = one(document)
    # then
    assert NOW == message.occurred_at


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27T12:00:00+02:00", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("2026-11-27T10:00:00", datetime(2026, 11, 27, 10, 0, tzinfo=UTC)),
        ("not a time", None),
        ("", None),
        (1764237600, None),
        (None, None),
    ],
)
def test_batch_sent_at_reads_iso_times_or_nothing(value: Any, expected: datetime | None) -> None:
    """
    The batch's `sentAt` is an aware time, or None when absent or unreadable.
    """
    # given / when
    sent = batch_sent_at(value)
    # then
    assert expected == sent
    assert sent is None or sent.utcoffset() is not None


# --- identity -------------------------------------------------------------------------------


def test_identify_normalises_email_and_phone() -> None:
    """
    An identify call's email is lower-cased and its phone written in E.164.
    """
    # given
    document = identify(
        userId="u-1", traits={"email": " Ada@Example.COM ", "phone": "+1 (415) 555-0123"}
    )
    # when
    message = one(document)
    # then
    assert (
        IdentityClaims(user_id="u-1", email="ada@example.com", phone="+14155550123")
        == message.claims
    )


def test_identify_reads_a_national_phone_in_the_store_country() -> None:
    """
    A phone without a country code is read in the store's country.
    """
    # given
    document = identify(traits={"phone": "030 901820"})
    # when
    message = one(document, default_region="DE")
    # then
    assert message.claims is not None
    assert "+4930901820" == message.claims.phone


@pytest.mark.parametrize(
    ("traits", "path"),
    [
        ({"email": "not-an-email"}, "batch[0].traits.email"),
        ({"email": "a@b"}, "batch[0].traits.email"),
        ({"email": 42}, "batch[0].traits.email"),
        ({"phone": "12"}, "batch[0].traits.phone"),
        ({"phone": "call me"}, "batch[0].traits.phone"),
        ({"phone": 4155550123}, "batch[0].traits.phone"),
    ],
)
def test_identify_with_an_invalid_email_or_phone_is_an_error(
    traits: dict[str, Any], path: str
) -> None:
    """
    An identify call is where identity is asserted: a bad address is refused at its path.
    """
    # given / when
    found = errors(identify(traits=traits))
    # then
    assert [path] == [p for p, _ in found]


def test_identify_reads_traits_from_the_context_when_it_has_none_of_its_own() -> None:
    """
    RudderStack's SDKs send identify traits only inside `context.traits`.
    """
    # given
    document = identify(context={"traits": {"email": "Ada@Example.com"}})
    # when
    message = one(document)
    # then
    assert IdentityClaims(email="ada@example.com") == message.claims


def test_a_track_call_with_a_bad_context_email_is_accepted_without_it() -> None:
    """
    On a track call, `context.traits.email` is a hint: a bad one is ignored, not an error.
    """
    # given
    document = track(properties=product(), context={"traits": {"email": "nonsense"}})
    # when
    message = one(document)
    # then
    assert (None, True) == (message.claims, isinstance(message.event, ItemAdded))


def test_a_track_call_with_a_good_context_email_claims_it() -> None:
    """
    A valid `context.traits.email` on a track call identifies the shopper.
    """
    # given
    document = track(properties=product(), context={"traits": {"email": "ADA@example.com"}})
    # when
    message = one(document)
    # then
    assert IdentityClaims(email="ada@example.com") == message.claims


def test_the_batch_context_applies_to_each_message() -> None:
    """
    The batch's shared `context` (traits, user agent) counts for every message in it.
    """
    # given
    shared = {"traits": {"email": "ada@example.com"}, "userAgent": "Mozilla/5.0 Shared"}
    # when
    message = one(track(properties=product()), batch_context=shared)
    # then
    assert (IdentityClaims(email="ada@example.com"), "Mozilla/5.0 Shared") == (
        message.claims,
        message.user_agent,
    )


def test_the_message_context_overrides_the_batch_context() -> None:
    """
    A message's own context wins over the batch's, and the stored payload shows the merge.
    """
    # given
    shared = {"userAgent": "Batch/1.0", "library": {"name": "analytics-python"}}
    document = track(properties=product(), context={"userAgent": "Message/2.0"})
    # when
    message = one(document, batch_context=shared)
    # then
    assert ("Message/2.0", {**shared, "userAgent": "Message/2.0"}) == (
        message.user_agent,
        message.payload["context"],
    )


def test_a_message_without_identifiers_claims_nothing() -> None:
    """
    An anonymous visitor with no traits makes no identity claim.
    """
    # given / when
    message = one(track(properties=product()))
    # then
    assert message.claims is None


@pytest.mark.parametrize(
    ("context", "request_agent", "expected"),
    [
        ({"userAgent": "Mozilla/5.0 Ctx"}, "Mozilla/5.0 Request", "Mozilla/5.0 Ctx"),
        ({}, "Mozilla/5.0 Request", "Mozilla/5.0 Request"),
        ({"userAgent": 7}, "Mozilla/5.0 Request", "Mozilla/5.0 Request"),
        ({"userAgent": "x" * 600}, None, "x" * 500),
    ],
    ids=["context", "request", "not-a-string", "truncated"],
)
def test_the_user_agent_comes_from_the_context_else_the_request(
    context: dict[str, Any], request_agent: str | None, expected: str
) -> None:
    """
    The message's `context.userAgent` (at most 500 characters), else the request's.
    """
    # given
    document = track(properties=product(), context=context)
    # when
    message = one(document, user_agent=request_agent)
    # then
    assert expected == message.user_agent


# --- idempotency ----------------------------------------------------------------------------


@pytest.mark.parametrize(("given_id", "expected"), [("m-42", "m-42"), (42, "42")])
def test_the_message_id_is_the_idempotency_key(given_id: Any, expected: str) -> None:
    """
    `messageId` (text or number) identifies the message.
    """
    # given
    document = track(properties=product(), messageId=given_id)
    # when
    message = one(document)
    # then
    assert expected == message.message_id


def test_a_message_without_id_gets_a_stable_content_hash() -> None:
    """
    The same content (in any key order, sent at any moment) gets the same key.
    """
    # given
    first = {
        "type": "track",
        "event": "Product Added",
        "anonymousId": "a",
        "properties": {"sku": "s"},
    }
    retried = {
        "sentAt": "2026-11-27T09:59:00Z",
        "properties": {"sku": "s"},
        "anonymousId": "a",
        "event": "Product Added",
        "type": "track",
    }
    # when
    ids = [one(first).message_id, one(retried).message_id]
    # then
    assert (ids[0], True) == (ids[1], ids[0].startswith("sha256:"))


def test_different_messages_without_id_get_different_keys() -> None:
    """
    Two messages that differ in any field are two messages.
    """
    # given
    first = {
        "type": "track",
        "event": "Product Added",
        "anonymousId": "a",
        "properties": {"sku": "s"},
    }
    second = {**first, "properties": {"sku": "t"}}
    # when
    ids = {one(first).message_id, one(second).message_id}
    # then
    assert 2 == len(ids)


# --- size -----------------------------------------------------------------------------------


def padded(size: int) -> dict[str, Any]:
    """
    A valid message whose JSON is exactly `size` bytes.
    """
    document = track(properties=product(), messageId="big-1", padding="")
    filler = size - len(orjson.dumps(document))
    document["padding"] = "x" * filler
    assert size == len(orjson.dumps(document))
    return document


def test_an_event_over_32_kb_is_refused_by_name_when_sizes_are_checked() -> None:
    """
    With `check_size`, an event over 32 KB is refused, naming its messageId.
    """
    # given
    document = padded(MAX_EVENT_BYTES + 1)
    # when
    parsed = parse_messages([document], context=ParseContext(now=NOW), check_size=True)
    # then
    assert [
        FieldError(path="batch[0]", message="event 'big-1' is larger than 32 KB", index=0)
    ] == parsed.errors


def test_an_event_of_exactly_32_kb_is_accepted() -> None:
    """
    The limit itself is allowed.
    """
    # given
    document = padded(MAX_EVENT_BYTES)
    # when
    parsed = parse_messages([document], context=ParseContext(now=NOW), check_size=True)
    # then
    assert (1, []) == (len(parsed.messages), parsed.errors)


def test_sizes_are_not_checked_unless_asked() -> None:
    """
    A request already known to be small skips the per-event measurement.
    """
    # given
    document = padded(MAX_EVENT_BYTES + 1)
    # when
    parsed = parse_messages([document], context=ParseContext(now=NOW))
    # then
    assert (1, []) == (len(parsed.messages), parsed.errors)


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({}, ()),
        (
            {"coupon": " summer20 ", "discount": 12.5},
            (AppliedDiscount(code="SUMMER20", amount=Decimal("12.5")),),
        ),
        (
            {"coupon": "CB-7K2M", "discount": "3.00"},
            (AppliedDiscount(code="CB-7K2M", amount=Decimal("3.00")),),
        ),
        ({"coupon": "CB-7K2M"}, (AppliedDiscount(code="CB-7K2M"),)),
        (
            {"coupon": "CB-7K2M, welcome", "discount": 8},
            (AppliedDiscount(code="CB-7K2M"), AppliedDiscount(code="WELCOME")),
        ),
        ({"coupon": "", "discount": 8}, ()),
        ({"coupon": ["CB-7K2M"], "discount": "free"}, ()),
        ({"coupon": "CB-7K2M", "discount": -3}, (AppliedDiscount(code="CB-7K2M"),)),
    ],
)
def test_order_completed_reports_its_coupon_and_discount(
    properties: dict[str, Any], expected: tuple[AppliedDiscount, ...]
) -> None:
    """
    The spec's `coupon` (one string) with the order's `discount`, upper-cased; a
    comma-separated list is several codes that share the discount (no amount each); a coupon
    or discount that does not read is left out and never refuses the order.
    """
    # given / when
    event = one(track("Order Completed", properties={"order_id": "o-1", **properties})).event
    # then
    assert isinstance(event, OrderPlaced)
    assert expected == event.discounts
