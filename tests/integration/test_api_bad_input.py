"""
Bad input on every ingestion endpoint: malformed or oversize bodies, wrong types, absurd numbers
and impossible timestamps are refused with a clear RFC 9457 problem, never a 5xx or a traceback,
and refused events store nothing.
"""

from __future__ import annotations

import gzip
from typing import Any

import anyio
import orjson
import pytest
from fastapi.testclient import TestClient

from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth, track

INGEST_PATHS = [
    "/v1/batch",
    "/v1/track",
    "/v1/identify",
    "/v1/page",
    "/v1/screen",
    "/v1/group",
    "/v1/alias",
    "/v1/t",
]
LIMIT = 500 * 1024


def _key_for(path: str, store: CreatedStore) -> dict[str, str]:
    return auth(store.public_key if path == "/v1/t" else store.secret_key)


def _carts(client: TestClient, store: CreatedStore) -> int:
    count: int = client.get("/v1/carts", headers=auth(store.secret_key)).json()["count"]
    return count


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b'{"type": "track", ', "not valid JSON"),
        (b"{'single': 'quotes'}", "not valid JSON"),
        (b'{"batch": [], "a": NaN}', "not valid JSON"),
        (b'{"a": 1e400}', "not valid JSON"),
        (b"[" * 2000 + b"]" * 2000, "not valid JSON"),
        (b'\xff\xfe{"batch": []}', "not valid UTF-8"),
        (b'{"event": "caf\xe9"}', "not valid UTF-8"),
        (b"[]", "JSON object"),
        (b'[{"type": "track"}]', "JSON object"),
        (b'"batch"', "JSON object"),
        (b"42", "JSON object"),
        (b"null", "JSON object"),
        (b"true", "JSON object"),
    ],
)
def test_malformed_body_is_refused_by_every_endpoint(
    client: TestClient, store: CreatedStore, body: bytes, detail: str
) -> None:
    """
    A body that is empty, not UTF-8, not JSON or not a JSON object is a 400 that says which.
    """
    # given
    headers = {"Content-Type": "application/json"}
    # when
    responses = {
        path: client.post(path, content=body, headers=headers | _key_for(path, store))
        for path in INGEST_PATHS
    }
    # then
    assert dict.fromkeys(INGEST_PATHS, 400) == {p: r.status_code for p, r in responses.items()}
    for response in responses.values():
        assert detail in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize(
    "body",
    [{}, {"batch": None}, {"batch": "track"}, {"batch": {"0": {}}}, {"batch": 1}, {"events": []}],
)
def test_batch_without_a_batch_array_is_refused(
    client: TestClient, store: CreatedStore, body: dict[str, Any]
) -> None:
    """
    `/v1/batch` needs a `batch` array.
    """
    # given
    headers = auth(store.secret_key)
    # when
    response = client.post("/v1/batch", json=body, headers=headers)
    # then
    assert "`batch` array" in assert_problem(response, 400)["detail"]


def test_batch_of_too_many_events_is_refused(client: TestClient, store: CreatedStore) -> None:
    """
    A batch holds at most 2500 events; more is refused whole.
    """
    # given
    body = {"batch": [{} for _ in range(2501)]}
    # when
    response = client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    # then
    assert "at most 2500 events" in assert_problem(response, 400)["detail"]


def _product(**properties: Any) -> dict[str, Any]:
    return track("Product Added", **{"cart_id": "c-1", "product_id": "p-1", **properties})


#: An event that is invalid in one field, and that field's path within the event.
BAD_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("quantity as text", _product(quantity="abc"), "properties.quantity"),
    ("quantity as boolean", _product(quantity=True), "properties.quantity"),
    ("fractional quantity", _product(quantity=1.5), "properties.quantity"),
    ("negative quantity", _product(quantity=-1), "properties.quantity"),
    ("absurd quantity", _product(quantity=10**6), "properties.quantity"),
    ("price as boolean", _product(price=True), "properties.price"),
    ("price as text", _product(price="ten"), "properties.price"),
    ("price as object", _product(price={"amount": 1}), "properties.price"),
    ("negative price", _product(price=-0.01), "properties.price"),
    ("huge price", _product(price=1e30), "properties.price"),
    ("infinite price", _product(price="Infinity"), "properties.price"),
    ("huge total", track("Order Completed", cart_id="c-1", total=1e30), "properties.total"),
    ("products not a list", _product(products="p-1"), "properties.products"),
    (
        "negative quantity of a product",
        _product(
            products=[{"product_id": "p-1", "quantity": 1}, {"product_id": "p-2", "quantity": -2}]
        ),
        "properties.products[1].quantity",
    ),
    ("bad currency", _product(currency="dollars"), "properties.currency"),
    ("script url", _product(url="javascript:alert(1)"), "properties.url"),
    ("cart id as object", _product(cart_id={"id": 1}), "properties.cart_id"),
    ("properties not an object", {**_product(), "properties": "p-1"}, "properties"),
    ("context not an object", {**_product(), "context": ["x"]}, "context"),
    ("messageId as object", {**_product(), "messageId": {"id": 1}}, "messageId"),
    ("overlong event name", track("x" * 201, cart_id="c-1"), "event"),
    ("track without event", {**_product(), "event": None}, "event"),
    ("no visitor", track("Product Added", anonymous_id=None, product_id="p-1"), "anonymousId"),
    ("timestamp far ahead", {**_product(), "timestamp": "2099-01-01T00:00:00Z"}, "timestamp"),
    ("timestamp in year 9999", {**_product(), "timestamp": "9999-12-31T23:59:59Z"}, "timestamp"),
    ("timestamp an hour ahead", {**_product(), "timestamp": "2026-11-27T11:00:00Z"}, "timestamp"),
    ("timestamp before 2000", {**_product(), "timestamp": "1999-12-31T23:59:59Z"}, "timestamp"),
    ("timestamp not a time", {**_product(), "timestamp": "yesterday"}, "timestamp"),
    ("timestamp as boolean", {**_product(), "timestamp": True}, "timestamp"),
]


@pytest.mark.parametrize(
    ("message", "field"),
    [pytest.param(message, field, id=name) for name, message, field in BAD_EVENTS],
)
def test_invalid_single_event_is_refused_naming_the_field(
    client: TestClient, store: CreatedStore, message: dict[str, Any], field: str
) -> None:
    """
    A single invalid event is a 400 naming the field, and stores nothing.
    """
    # given
    headers = auth(store.secret_key)
    # when
    response = client.post("/v1/track", json=message, headers=headers)
    # then
    problem = assert_problem(response, 400)
    assert [field] == [e["field"] for e in problem["errors"]]
    assert 0 == _carts(client, store)


@pytest.mark.parametrize(
    ("message", "field"),
    [pytest.param(message, field, id=name) for name, message, field in BAD_EVENTS],
)
def test_invalid_event_in_a_batch_is_named_by_index_and_field(
    client: TestClient, store: CreatedStore, message: dict[str, Any], field: str
) -> None:
    """
    In a batch, an invalid event is listed by its index and field, and the valid one is stored.
    """
    # given
    valid = track("Product Added", cart_id="c-2", product_id="p-2")
    body = {"batch": [valid, {**message, "type": "track"}]}
    # when
    response = client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    # then
    problem = assert_problem(response, 400)
    assert [(1, f"batch[1].{field}")] == [(e["index"], e["field"]) for e in problem["errors"]]
    assert 200 == client.get("/v1/carts/c-2", headers=auth(store.secret_key)).status_code


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"event": "X", "anonymousId": "a"}, "type"),
        ({"type": "purchase", "event": "X", "anonymousId": "a"}, "type"),
        ({"type": None, "event": "X", "anonymousId": "a"}, "type"),
        ("not an event", ""),
        (["not", "an", "event"], ""),
    ],
)
def test_batch_event_of_unknown_type_is_named(
    client: TestClient, store: CreatedStore, message: Any, field: str
) -> None:
    """
    A batch entry that is not a Segment message of a known type is named by its index.
    """
    # given
    body = {"batch": [track("Product Viewed", product_id="p-1"), message]}
    # when
    response = client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    # then
    errors = assert_problem(response, 400)["errors"]
    assert [(1, f"batch[1].{field}".rstrip("."))] == [(e["index"], e["field"]) for e in errors]


def test_identify_with_an_invalid_email_names_the_trait(
    client: TestClient, store: CreatedStore
) -> None:
    """
    `identify` asserts identity, so an email that is not one is refused, naming the trait.
    """
    # given
    message = {"anonymousId": "a-1", "traits": {"email": "not-an-email"}}
    # when
    response = client.post("/v1/identify", json=message, headers=auth(store.secret_key))
    # then
    assert ["traits.email"] == [e["field"] for e in assert_problem(response, 400)["errors"]]


@pytest.mark.parametrize(
    "raw",
    [
        b'"quantity": 10000000000000000000000000000000000000000',
        b'"quantity": -10000000000000000000000000000000000000000',
        b'"price": 10000000000000000000000000000000000000000',
        b'"price": 18446744073709551616',
        b'"price": 1e308',
    ],
)
def test_numbers_beyond_64_bits_are_a_clear_400(
    client: TestClient, store: CreatedStore, raw: bytes
) -> None:
    """
    Integers too big for 64 bits (which the JSON parser cannot keep exact) are refused cleanly.
    """
    # given
    body = (
        b'{"event": "Product Added", "anonymousId": "a", "properties": {"product_id": "p", ' + raw
    )
    # when
    response = client.post("/v1/track", content=body + b"}}", headers={**auth(store.secret_key)})
    # then
    problem = assert_problem(response, 400)
    field = raw.split(b'"')[1].decode()
    assert [f"properties.{field}"] == [e["field"] for e in problem["errors"]]


def test_timestamp_skewed_out_of_range_is_a_clear_400(
    client: TestClient, store: CreatedStore
) -> None:
    """
    A timestamp and `sentAt` whose difference leaves the calendar are refused, not a 500.
    """
    # given
    message = {**_product(), "timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"}
    # when
    response = client.post("/v1/track", json=message, headers=auth(store.secret_key))
    # then
    assert ["timestamp"] == [e["field"] for e in assert_problem(response, 400)["errors"]]


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("message", "field"),
    [
        pytest.param({**_product(), "anonymousId": "a\x00b"}, "anonymousId", id="nul in id"),
        pytest.param(_product(name="Mug\x00"), "properties.name", id="nul in a property"),
        pytest.param(
            {**_product(), "context": {"page": {"title": "\x00"}}},
            "context.page.title",
            id="nul in context",
        ),
        pytest.param(_product(extra=_nested(300)), "", id="nested deeper than storable"),
    ],
)
def test_unstorable_event_is_a_clear_400_and_the_rest_stored(
    client: TestClient, store: CreatedStore, message: dict[str, Any], field: str
) -> None:
    """
    U+0000 (PostgreSQL cannot store it) or absurd nesting is refused alike on both databases.
    """
    # given
    valid = track("Product Added", cart_id="c-2", product_id="p-2")
    body = {"batch": [valid, message]}
    # when
    response = client.post("/v1/batch", json=body, headers=auth(store.secret_key))
    # then
    errors = assert_problem(response, 400)["errors"]
    assert [(1, f"batch[1].{field}".rstrip("."))] == [(e["index"], e["field"]) for e in errors]
    assert 1 == _carts(client, store)


def test_event_over_32_kb_is_refused_by_name_and_the_rest_stored(
    client: TestClient, store: CreatedStore
) -> None:
    """
    An event over 32 KB is a 400 naming it (index and messageId); the batch's others are stored.
    """
    # given
    big = track("Product Added", cart_id="c-1", product_id="p-1", message_id="m-big")
    big["properties"]["description"] = "x" * (33 * 1024)
    small = track("Product Added", cart_id="c-2", product_id="p-2")
    # when
    response = client.post(
        "/v1/batch", json={"batch": [small, big]}, headers=auth(store.secret_key)
    )
    # then
    errors = assert_problem(response, 400)["errors"]
    assert [(1, "batch[1]")] == [(e["index"], e["field"]) for e in errors]
    assert "'m-big'" in errors[0]["message"]
    assert 1 == _carts(client, store)


def test_single_event_over_32_kb_is_refused(client: TestClient, store: CreatedStore) -> None:
    """
    `/v1/track` refuses one event over 32 KB with a 400.
    """
    # given
    message = track("Product Added", cart_id="c-1", product_id="p-1", note="x" * (33 * 1024))
    # when
    response = client.post("/v1/track", json=message, headers=auth(store.secret_key))
    # then
    assert "32 KB" in assert_problem(response, 400)["errors"][0]["message"]
    assert 0 == _carts(client, store)


def _oversize_batch() -> bytes:
    padding = "x" * 1000
    events = [
        track("Product Added", cart_id="c-1", product_id=f"p-{i}", note=padding) for i in range(520)
    ]
    body = orjson.dumps({"batch": events})
    assert LIMIT < len(body)
    return body


def test_request_over_500_kb_is_413_on_every_endpoint(
    client: TestClient, store: CreatedStore
) -> None:
    """
    A body declared larger than 500 KB is a 413 on every ingestion endpoint, and stores nothing.
    """
    # given
    body, headers = _oversize_batch(), {"Content-Type": "application/json"}
    # when
    responses = {
        path: client.post(path, content=body, headers=headers | _key_for(path, store))
        for path in INGEST_PATHS
    }
    # then
    assert dict.fromkeys(INGEST_PATHS, 413) == {p: r.status_code for p, r in responses.items()}
    for response in responses.values():
        assert "500 KB" in assert_problem(response, 413)["detail"]
    assert 0 == _carts(client, store)


CHUNK = b" " * (64 * 1024)


@pytest.mark.parametrize(
    ("framing", "read_at_most"),
    [
        pytest.param((b"content-length", str(100 * len(CHUNK)).encode()), 0, id="declared"),
        pytest.param((b"transfer-encoding", b"chunked"), LIMIT + len(CHUNK), id="chunked"),
    ],
)
def test_request_over_500_kb_is_refused_without_reading_the_rest(
    client: TestClient, store: CreatedStore, framing: tuple[bytes, bytes], read_at_most: int
) -> None:
    """
    A 413 comes before the body is read when Content-Length says it is too large, and as soon as
    500 KB have arrived when it is streamed (driven as raw ASGI: TestClient buffers bodies).
    """
    # given
    chunk, chunks = CHUNK, 100
    received: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append(len(chunk))
        return {"type": "http.request", "body": chunk, "more_body": len(received) < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"authorization", f"Bearer {store.secret_key}".encode()),
        (b"content-type", b"application/json"),
        framing,
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/batch",
        "raw_path": b"/v1/batch",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    # when
    anyio.run(client.app, scope, receive, send)
    # then
    assert 413 == sent[0]["status"]
    assert sum(received) <= read_at_most
    assert 0 == _carts(client, store)


def test_gzip_body_inflating_past_500_kb_is_413(client: TestClient, store: CreatedStore) -> None:
    """
    A small gzip body that inflates past 500 KB (a decompression bomb) is a 413.
    """
    # given
    bomb = gzip.compress(b'{"batch": [' + b" " * (4 * LIMIT) + b"]}")
    headers = {**auth(store.secret_key), "Content-Encoding": "gzip"}
    # when
    response = client.post("/v1/batch", content=bomb, headers=headers)
    # then
    assert len(bomb) < 10 * 1024
    assert_problem(response, 413)


@pytest.mark.parametrize(
    ("encoding", "body", "detail"),
    [
        ("gzip", b'{"batch": []}', "not valid gzip"),
        ("gzip", gzip.compress(b'{"batch": []}')[:-6], "truncated"),
        ("gzip", gzip.compress(b'{"batch": []}') + b"trailing", "after the end"),
        ("br", b'{"batch": []}', "Content-Encoding"),
        ("compress", b'{"batch": []}', "Content-Encoding"),
    ],
)
def test_bad_content_encoding_is_refused(
    client: TestClient, store: CreatedStore, encoding: str, body: bytes, detail: str
) -> None:
    """
    An unknown encoding, or a body that is not what its encoding says, is a 400.
    """
    # given
    headers = {**auth(store.secret_key), "Content-Encoding": encoding}
    # when
    response = client.post("/v1/batch", content=body, headers=headers)
    # then
    assert detail in assert_problem(response, 400)["detail"]
