"""
Authentication and scoping over HTTP (`contract.md` §4): server keys in every form Segment and
RudderStack clients send them, public keys only on the browser endpoint and only from the
store's domains, another store's objects answered 404, and per-store rate limits.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.api.app import create_app
from cartback.bootstrap import bootstrap
from cartback.engine.clock import SimulatedClock
from cartback.services.stores import CreatedStore
from cartback.settings import Settings
from helpers import assert_problem, auth, track

SUCCESS = {"success": True}
#: Every endpoint that needs a key, with a body it would accept.
KEYED: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/batch", {"batch": [track("Product Viewed", product_id="p-1")]}),
    ("POST", "/v1/track", track("Product Viewed", product_id="p-1")),
    ("POST", "/v1/identify", {"anonymousId": "a-1", "traits": {"email": "ada@example.com"}}),
    ("POST", "/v1/page", {"anonymousId": "a-1", "name": "Home"}),
    ("POST", "/v1/screen", {"anonymousId": "a-1", "name": "Home"}),
    ("POST", "/v1/group", {"anonymousId": "a-1", "groupId": "g-1"}),
    ("POST", "/v1/alias", {"userId": "u-1", "previousId": "a-1"}),
    ("POST", "/v1/t", track("Product Viewed", product_id="p-1")),
    ("GET", "/v1/carts", None),
    ("GET", "/v1/carts/c-1", None),
]
SERVER_ONLY = [k for k in KEYED if k[1] != "/v1/t"]


def _basic(user: bytes, password: bytes = b"") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(user + b":" + password).decode()}


def _send(
    client: TestClient, method: str, path: str, body: dict[str, Any] | None, **kwargs: Any
) -> Any:
    return client.request(method, path, json=body, **kwargs)


@pytest.mark.parametrize(
    "placement",
    ["bearer", "lowercase bearer", "basic", "basic without colon", "query", "body"],
)
def test_server_key_is_accepted_wherever_sdks_put_it(
    client: TestClient, store: CreatedStore, placement: str
) -> None:
    """
    Bearer, Basic with the key as user name, `writeKey` in the query or in a batch body all work.
    """
    # given
    key = store.secret_key
    body: dict[str, Any] = {"batch": [track("Product Added", cart_id="c-1", product_id="p-1")]}
    headers, params = {}, {}
    if placement == "bearer":
        headers = auth(key)
    elif placement == "lowercase bearer":
        headers = {"Authorization": f"bearer {key}"}
    elif placement == "basic":
        headers = _basic(key.encode())
    elif placement == "basic without colon":
        headers = {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}
    elif placement == "query":
        params = {"writeKey": key}
    else:
        body["writeKey"] = key
    # when
    response = client.post("/v1/batch", json=body, headers=headers, params=params)
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    assert 200 == client.get("/v1/carts/c-1", headers=auth(key)).status_code


def test_missing_key_is_401_on_every_keyed_endpoint(client: TestClient) -> None:
    """
    Every keyed endpoint answers 401 with a Bearer challenge when no key is sent.
    """
    # given
    headers: dict[str, str] = {}
    # when
    responses = {path: _send(client, m, path, body, headers=headers) for m, path, body in KEYED}
    # then
    assert {p: 401 for _, p, _ in KEYED} == {p: r.status_code for p, r in responses.items()}
    for response in responses.values():
        assert "unauthenticated" == assert_problem(response, 401)["code"]
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(auth("cb_sk_" + "x" * 43), id="unknown server key"),
        pytest.param(auth("cb_pk_" + "x" * 43), id="unknown public key"),
        pytest.param(auth("not-a-key"), id="not a key at all"),
        pytest.param({"Authorization": "Bearer "}, id="empty bearer"),
        pytest.param({"Authorization": "Bearer"}, id="bare scheme"),
        pytest.param({"Authorization": "Basic !!!not-base64!!!"}, id="basic not base64"),
        pytest.param({"Authorization": "Basic " + "Zm9v" + "="}, id="basic bad padding"),
        pytest.param(_basic(b"\xff\xfe\xfd"), id="basic not utf-8"),
        pytest.param(_basic(b"", b"cb_sk_password"), id="basic key as password"),
        pytest.param(_basic(b"cb_sk_wrong"), id="basic unknown key"),
        pytest.param({"Authorization": "Digest username=x"}, id="other scheme"),
        pytest.param({"Authorization": "cb_sk_" + "x" * 43}, id="no scheme"),
    ],
)
def test_unknown_or_malformed_key_is_401(
    client: TestClient, store: CreatedStore, header: dict[str, str]
) -> None:
    """
    A key that is unknown, or an Authorization header that cannot be read, is a 401.
    """
    # given
    headers = {**header, "Origin": "https://shop.example.com"}
    # when
    responses = {path: _send(client, m, path, body, headers=headers) for m, path, body in KEYED}
    # then
    assert {p: 401 for _, p, _ in KEYED} == {p: r.status_code for p, r in responses.items()}
    for response in responses.values():
        assert_problem(response, 401)


def test_unknown_write_key_in_the_body_is_401(client: TestClient, store: CreatedStore) -> None:
    """
    A `writeKey` in a batch body that no store has is a 401, and stores nothing.
    """
    # given
    body = {"writeKey": "cb_sk_unknown", "batch": [track("Product Added", cart_id="c-1")]}
    # when
    response = client.post("/v1/batch", json=body)
    # then
    assert_problem(response, 401)
    assert 404 == client.get("/v1/carts/c-1", headers=auth(store.secret_key)).status_code


def test_public_key_on_a_server_endpoint_is_403(client: TestClient, store: CreatedStore) -> None:
    """
    The browser key is refused (403) everywhere but `/v1/t`, including the read API.
    """
    # given
    headers = auth(store.public_key)
    # when
    responses = {p: _send(client, m, p, body, headers=headers) for m, p, body in SERVER_ONLY}
    # then
    assert {p: 403 for _, p, _ in SERVER_ONLY} == {p: r.status_code for p, r in responses.items()}
    for response in responses.values():
        assert "forbidden" == assert_problem(response, 403)["code"]


def test_public_key_as_batch_write_key_is_403(client: TestClient, store: CreatedStore) -> None:
    """
    The browser key in a `/v1/batch` body is refused, and stores nothing.
    """
    # given
    body = {"writeKey": store.public_key, "batch": [track("Product Added", cart_id="c-1")]}
    # when
    response = client.post("/v1/batch", json=body)
    # then
    assert_problem(response, 403)
    assert 404 == client.get("/v1/carts/c-1", headers=auth(store.secret_key)).status_code


@pytest.fixture
def other_store(store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    A second store, with its own keys and domain.
    """
    return store_factory(name="Other Shop", domains=["other.example.org"])


def test_another_stores_key_reading_a_cart_gets_404_and_no_data(
    client: TestClient, store: CreatedStore, other_store: CreatedStore
) -> None:
    """
    A cart of store A read with store B's key is a 404, exactly as a cart that does not exist.
    """
    # given
    message = track("Product Added", cart_id="c-1", product_id="secret-product", price=99)
    client.post("/v1/track", json=message, headers=auth(store.secret_key))
    # when
    foreign = client.get("/v1/carts/c-1", headers=auth(other_store.secret_key))
    absent = client.get("/v1/carts/c-404", headers=auth(other_store.secret_key))
    # then
    assert 200 == client.get("/v1/carts/c-1", headers=auth(store.secret_key)).status_code
    assert "secret-product" not in foreign.text
    expected = assert_problem(absent, 404)
    actual = assert_problem(foreign, 404)
    assert (expected["type"], expected["title"]) == (actual["type"], actual["title"])


def test_another_stores_key_lists_none_of_its_carts(
    client: TestClient, store: CreatedStore, other_store: CreatedStore
) -> None:
    """
    Listing carts shows only the key's own store.
    """
    # given
    mine = track("Product Added", cart_id="c-a", product_id="p-1")
    theirs = track("Product Added", cart_id="c-b", product_id="p-1")
    client.post("/v1/track", json=mine, headers=auth(store.secret_key))
    client.post("/v1/track", json=theirs, headers=auth(other_store.secret_key))
    # when
    listed = client.get("/v1/carts", headers=auth(other_store.secret_key)).json()
    # then
    assert ["c-b"] == [c["cart_id"] for c in listed["data"]]


def test_same_cart_id_in_two_stores_are_two_carts(
    client: TestClient, store: CreatedStore, other_store: CreatedStore
) -> None:
    """
    Two stores may use the same cart id; each key sees its own cart.
    """
    # given
    for owner, product in ((store, "p-a"), (other_store, "p-b")):
        message = track("Product Added", cart_id="c-1", product_id=product)
        client.post("/v1/track", json=message, headers=auth(owner.secret_key))
    # when
    seen = [
        client.get("/v1/carts/c-1", headers=auth(k)).json()["items"][0]["product_id"]
        for k in (store.secret_key, other_store.secret_key)
    ]
    # then
    assert ["p-a", "p-b"] == seen


# The browser endpoint /v1/t


@pytest.mark.parametrize("placement", ["body", "query", "basic", "bearer"])
def test_browser_endpoint_takes_the_public_key_wherever_it_is_sent(
    client: TestClient, store: CreatedStore, placement: str
) -> None:
    """
    `/v1/t` reads the public key from the body's `writeKey`, the query, Basic or Bearer.
    """
    # given
    body = track("Product Added", cart_id="c-1", product_id="p-1")
    headers, params = {"Origin": "https://shop.example.com"}, {}
    if placement == "body":
        body["writeKey"] = store.public_key
    elif placement == "query":
        params = {"writeKey": store.public_key}
    elif placement == "basic":
        headers |= _basic(store.public_key.encode())
    else:
        headers |= auth(store.public_key)
    # when
    response = client.post("/v1/t", json=body, headers=headers, params=params)
    # then
    assert (200, SUCCESS) == (response.status_code, response.json())
    assert 200 == client.get("/v1/carts/c-1", headers=auth(store.secret_key)).status_code


@pytest.mark.parametrize(
    "origin",
    ["https://shop.example.com", "https://www.shop.example.com", "http://SHOP.example.com:8080"],
)
def test_browser_endpoint_allows_the_stores_domains_and_their_subdomains(
    client: TestClient, store: CreatedStore, origin: str
) -> None:
    """
    An Origin on the store's domain, or a subdomain of it, is echoed for CORS.
    """
    # given
    body = {**track("Product Viewed", product_id="p-1"), "writeKey": store.public_key}
    # when
    response = client.post("/v1/t", json=body, headers={"Origin": origin})
    # then
    assert 200 == response.status_code
    assert origin == response.headers["access-control-allow-origin"]
    assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.net",
        "https://notshop.example.com",
        "https://shop.example.com.evil.net",
        "https://example.com",
        "not a url",
    ],
)
def test_browser_endpoint_refuses_other_origins(
    client: TestClient, store: CreatedStore, origin: str
) -> None:
    """
    Any other Origin is a 403 without CORS approval, and nothing is stored.
    """
    # given
    body = {**track("Product Added", cart_id="c-1", product_id="p-1"), "writeKey": store.public_key}
    # when
    response = client.post("/v1/t", json=body, headers={"Origin": origin})
    # then
    assert_problem(response, 403)
    assert "access-control-allow-origin" not in response.headers
    assert 404 == client.get("/v1/carts/c-1", headers=auth(store.secret_key)).status_code


def test_browser_endpoint_checks_the_origin_against_the_keys_own_store(
    client: TestClient, store: CreatedStore, other_store: CreatedStore
) -> None:
    """
    Store B's public key sent from store A's domain is refused.
    """
    # given
    body = {**track("Product Viewed", product_id="p-1"), "writeKey": other_store.public_key}
    # when
    response = client.post("/v1/t", json=body, headers={"Origin": "https://shop.example.com"})
    # then
    assert_problem(response, 403)


def test_browser_preflight_answers_204_with_cors_headers(client: TestClient) -> None:
    """
    The CORS preflight of `/v1/t` is a 204 that allows POST with the headers the snippet sends.
    """
    # given
    headers = {
        "Origin": "https://shop.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    # when
    response = client.options("/v1/t", headers=headers)
    # then
    assert 204 == response.status_code
    assert "https://shop.example.com" == response.headers["access-control-allow-origin"]
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "content-type" in response.headers["access-control-allow-headers"].lower()


# Rate limits


@pytest.fixture
def limited_client(
    database_url: str, clock: SimulatedClock, settings_factory: Callable[..., Settings]
) -> Iterator[TestClient]:
    """
    An API on the test's database that allows a burst of two requests per key, then one per
    thousand seconds (so the third request in a test is always over the limit).
    """
    settings = settings_factory(
        database_url, ingest_rate=0.001, ingest_burst=2, public_rate=0.001, public_burst=2
    )
    container = bootstrap(settings, clock=clock)
    try:
        with TestClient(create_app(container), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        container.close()


def test_server_key_over_the_rate_limit_gets_429_with_retry_after(
    limited_client: TestClient, store: CreatedStore
) -> None:
    """
    Past its burst a store is answered 429 with a whole number of seconds in `Retry-After`.
    """
    # given
    message = track("Product Viewed", product_id="p-1")
    for _ in range(2):
        allowed = limited_client.post("/v1/track", json=message, headers=auth(store.secret_key))
        assert 200 == allowed.status_code
    # when
    response = limited_client.post("/v1/track", json=message, headers=auth(store.secret_key))
    # then
    assert "rate-limited" == assert_problem(response, 429)["code"]
    assert response.headers["retry-after"].isdigit()
    assert 1 <= int(response.headers["retry-after"])


def test_rate_limit_is_per_store(
    limited_client: TestClient, store: CreatedStore, other_store: CreatedStore
) -> None:
    """
    One store using up its limit does not limit another.
    """
    # given
    message = track("Product Viewed", product_id="p-1")
    for _ in range(3):
        limited_client.post("/v1/track", json=message, headers=auth(store.secret_key))
    # when
    response = limited_client.post("/v1/track", json=message, headers=auth(other_store.secret_key))
    # then
    assert 200 == response.status_code


def test_public_key_over_the_rate_limit_gets_429(
    limited_client: TestClient, store: CreatedStore
) -> None:
    """
    The browser endpoint is limited per key and client address too.
    """
    # given
    body = {**track("Product Viewed", product_id="p-1"), "writeKey": store.public_key}
    for _ in range(2):
        assert 200 == limited_client.post("/v1/t", json=body).status_code
    # when
    response = limited_client.post("/v1/t", json=body)
    # then
    assert_problem(response, 429)
    assert response.headers["retry-after"].isdigit()
