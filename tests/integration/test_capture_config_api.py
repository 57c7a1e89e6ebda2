"""
The capture configuration: `GET /v1/capture/config` for the widgets (public key, the store's
origins, cacheable) and `GET`/`PUT /v1/capture/settings` for the merchant (server key).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth

ORIGIN = "https://shop.example.com"
CONFIG = "/v1/capture/config"
SETTINGS = "/v1/capture/settings"
DEFAULT_WIDGETS = {
    "cart_page": True,
    "checkout_button": True,
    "cart_drawer": True,
    "checkout": True,
    "post_abandon": True,
    "exit_intent": False,
}


def _config(client: TestClient, store: CreatedStore, origin: str | None = ORIGIN) -> Any:
    headers = {"Origin": origin} if origin else {}
    return client.get(CONFIG, params={"writeKey": store.public_key}, headers=headers)


def _put(client: TestClient, store: CreatedStore, body: Any) -> Any:
    return client.put(SETTINGS, json=body, headers=auth(store.secret_key))


def test_the_defaults_for_a_new_store(
    client: TestClient, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    Every widget but exit intent, no SMS, marketing offered, no texts; the region from the
    store's country; cacheable for a minute, with CORS for the shop.
    """
    # given
    store = store_factory(name="Kaffee & Kuchen", country="DE")
    # when
    response = _config(client, store)
    # then
    assert (
        200,
        {
            "widgets": DEFAULT_WIDGETS,
            "region": "eu",
            "sms": {"enabled": False, "brand": "Kaffee & Kuchen", "double_opt_in": False},
            "marketing": True,
            "texts": {},
            "abandon_after_seconds": 1800,
        },
    ) == (response.status_code, response.json())
    assert ("public, max-age=60", ORIGIN, "Origin") == (
        response.headers["cache-control"],
        response.headers["access-control-allow-origin"],
        response.headers["vary"],
    )


@pytest.mark.parametrize(("country", "region"), [("US", "us"), ("FR", "eu"), ("CA", "strict")])
def test_the_region_follows_the_store(
    client: TestClient,
    store_factory: Callable[..., CreatedStore],
    country: str,
    region: str,
) -> None:
    """
    A US shop gets the US table, a French one the EU table, a Canadian one the strict table.
    """
    # when
    response = _config(client, store_factory(country=country))
    # then
    assert region == response.json()["region"]


def test_merchant_overrides_reach_the_widgets(client: TestClient, store: CreatedStore) -> None:
    """
    Exit intent on, the drawer off, SMS and no marketing, a German title: the PUT answers the
    new settings, and the widgets' config says the same.
    """
    # given
    body = {
        "widgets": {"exit_intent": True, "cart_drawer": False},
        "sms": {"enabled": True},
        "marketing": False,
        "texts": {"de-de": {"cart_page.title": "Warenkorb sichern"}},
    }
    # when
    saved = _put(client, store, body)
    config = _config(client, store)
    # then
    expected = {
        "widgets": {**DEFAULT_WIDGETS, "exit_intent": True, "cart_drawer": False},
        "sms": {"enabled": True, "brand": "Test Shop", "double_opt_in": False},
        "marketing": False,
        "texts": {"de-DE": {"cart_page.title": "Warenkorb sichern"}},
    }
    assert (200, expected, expected) == (
        saved.status_code,
        {k: v for k, v in saved.json().items() if k in expected},
        {k: v for k, v in config.json().items() if k in expected},
    )


def test_a_change_keeps_what_it_does_not_name(client: TestClient, store: CreatedStore) -> None:
    """
    A later PUT of marketing alone keeps the widgets and texts; a null text goes back to the
    widget's default.
    """
    # given
    _put(client, store, {"widgets": {"exit_intent": True}, "texts": {"en": {"a": "A", "b": "B"}}})
    # when
    response = _put(client, store, {"marketing": False, "texts": {"en": {"a": None}}})
    # then
    body = response.json()
    assert (True, False, {"en": {"b": "B"}}) == (
        body["widgets"]["exit_intent"],
        body["marketing"],
        body["texts"],
    )


def test_double_opt_in_shows_in_the_config(
    client: TestClient, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    The store's SMS double opt-in is told to the widget (it says a text will follow).
    """
    # when
    response = _config(client, store_factory(sms_double_opt_in=True))
    # then
    assert response.json()["sms"]["double_opt_in"] is True


def test_settings_read_back_as_the_widgets_see_them(
    client: TestClient, store: CreatedStore
) -> None:
    """
    `GET /v1/capture/settings` (server key) equals the widgets' config.
    """
    # given
    _put(client, store, {"widgets": {"checkout_button": False}})
    # when
    response = client.get(SETTINGS, headers=auth(store.secret_key))
    # then
    assert (200, _config(client, store).json()) == (response.status_code, response.json())


def test_settings_belong_to_one_store(
    client: TestClient, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    Another store's change leaves this store's config alone.
    """
    # given
    mine, theirs = store_factory(), store_factory()
    _put(client, theirs, {"widgets": {"exit_intent": True}})
    # when
    response = _config(client, mine)
    # then
    assert DEFAULT_WIDGETS == response.json()["widgets"]


def test_config_without_an_origin_is_served_without_cors(
    client: TestClient, store: CreatedStore
) -> None:
    """
    A request with no Origin (a server-side render) gets the config and no CORS header.
    """
    # when
    response = _config(client, store, origin=None)
    # then
    assert (200, None) == (
        response.status_code,
        response.headers.get("access-control-allow-origin"),
    )


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [
        ({"writeKey": "cb_pk_unknown"}, {"Origin": ORIGIN}, 401),
        ({}, {"Origin": ORIGIN}, 401),
        ({"writeKey": "public"}, {"Origin": "https://evil.example.net"}, 403),
        ({"writeKey": "secret"}, {"Origin": ORIGIN}, 403),
        ({"writeKey": "x" * 201}, {"Origin": ORIGIN}, 400),
    ],
)
def test_bad_config_requests_are_problems(
    client: TestClient,
    store: CreatedStore,
    params: dict[str, str],
    headers: dict[str, str],
    status: int,
) -> None:
    """
    An unknown or missing key, a foreign origin, the server key, an overlong key.
    """
    # given
    keys = {"public": store.public_key, "secret": store.secret_key}
    query = {k: keys.get(v, v) for k, v in params.items()}
    # when
    response = client.get(CONFIG, params=query, headers=headers)
    # then
    assert_problem(response, status)
    readable = status != 403 and headers["Origin"] == ORIGIN
    assert (ORIGIN if readable else None) == response.headers.get("access-control-allow-origin")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"widgets": {"popup": True}}, "widgets.popup"),
        ({"widgets": {"exit_intent": "yes"}}, "widgets.exit_intent"),
        ({"sms": {"enabled": 1}}, "sms.enabled"),
        ({"sms": {"double_opt_in": True}}, "sms.double_opt_in"),
        ({"marketing": "false"}, "marketing"),
        ({"texts": {"deutsch!": {"title": "Hallo"}}}, "texts.deutsch!.title"),
        ({"texts": {"de": {"Title Case": "Hallo"}}}, "texts.de.Title Case"),
        ({"texts": {"de": {"title": "   "}}}, "texts.de.title"),
        ({"texts": {"de": {"title": "x" * 2001}}}, "texts.de.title"),
        ({"texts": {"de": {"title": "Hallo\x00"}}}, "texts.de.title"),
        ({"texts": {"de": {"title": 5}}}, "texts.de.title"),
        ({"texts": ["de"]}, "texts"),
        ({"region": "us"}, "region"),
        ({}, None),
        ({"sms": {}}, None),
    ],
)
def test_invalid_settings_are_refused_and_nothing_changes(
    client: TestClient, store: CreatedStore, body: dict[str, Any], path: str | None
) -> None:
    """
    Unknown widgets and fields, non-booleans, bad locales, keys and texts, and an empty change
    are 400 problems naming the field; the settings stay the defaults.
    """
    # when
    response = _put(client, store, body)
    # then
    problem = assert_problem(response, 400)
    fields = [e["field"] for e in problem.get("errors", [])]
    assert path is None or any(f.startswith(path) for f in fields), fields
    assert DEFAULT_WIDGETS == _config(client, store).json()["widgets"]


def test_too_many_texts_are_refused(client: TestClient, store: CreatedStore) -> None:
    """
    A store keeps at most 500 texts.
    """
    # given
    locales = [f"{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(46)]
    texts = {locale: {f"k{j}": "t" for j in range(11)} for locale in locales}
    # when
    response = _put(client, store, {"texts": texts})
    # then
    assert ["texts"] == [e["field"] for e in assert_problem(response, 400)["errors"]]


@pytest.mark.parametrize(
    ("method", "key", "status"),
    [("get", "public", 403), ("put", "public", 403), ("get", None, 401), ("put", None, 401)],
)
def test_settings_need_the_server_key(
    client: TestClient, store: CreatedStore, method: str, key: str | None, status: int
) -> None:
    """
    The merchant's endpoints refuse the public key and a missing key.
    """
    # given
    headers = auth(store.public_key) if key else {}
    # when
    response = client.request(method, SETTINGS, json={"marketing": False}, headers=headers)
    # then
    assert_problem(response, status)
