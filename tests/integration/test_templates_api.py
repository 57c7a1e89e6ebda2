"""
A store's own templates (`/v1/templates`) and message settings (`/v1/settings/messages`) over
HTTP with a server key: saved, listed, replaced and deleted; bad input answers 400 with its
fields (and lines) and changes nothing; another store's key sees nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth

TEMPLATE = "/v1/templates/cart-reminder"
SETTINGS = "/v1/settings/messages"
GOOD = {
    "subject": "{{ store.name }}: your cart",
    "html": "<p>{{ greeting }}</p>{% for item in items %}<p>{{ item.name }}</p>{% endfor %}",
    "text": "{{ greeting }} {{ total }}",
}


def _put(client: TestClient, store: CreatedStore, body: Any, **params: str) -> Any:
    return client.put(TEMPLATE, json=body, params=params, headers=auth(store.secret_key))


def _list(client: TestClient, store: CreatedStore) -> Any:
    return client.get("/v1/templates", headers=auth(store.secret_key)).json()


def test_a_template_is_saved_listed_and_deleted(client: TestClient, store: CreatedStore) -> None:
    """
    PUT saves (channel and locale from the query), GET lists, DELETE removes.
    """
    # when
    saved = _put(client, store, GOOD, channel="email", locale="de-de")
    listed = _list(client, store)
    deleted = client.delete(TEMPLATE, params={"locale": "de-DE"}, headers=auth(store.secret_key))
    # then
    assert 200 == saved.status_code, saved.text
    assert ("cart-reminder", "email", "de-DE") == (
        saved.json()["name"],
        saved.json()["channel"],
        saved.json()["locale"],
    )
    assert 1 == listed["count"]
    assert GOOD["subject"] == listed["data"][0]["subject"]
    assert 204 == deleted.status_code
    assert 0 == _list(client, store)["count"]


def test_a_second_put_replaces_the_template(client: TestClient, store: CreatedStore) -> None:
    """
    The same name, channel and locale is one template.
    """
    # given
    _put(client, store, GOOD)
    # when
    _put(client, store, {**GOOD, "subject": "Again"})
    # then
    body = _list(client, store)
    assert 1 == body["count"]
    assert ("Again", "*") == (body["data"][0]["subject"], body["data"][0]["locale"])


@pytest.mark.parametrize(
    ("body", "params", "field", "line"),
    [
        ({**GOOD, "html": "<p>ok</p>\n{% for %}"}, {}, "html", 2),
        ({**GOOD, "text": "a\nb\n{{ missing.thing }}"}, {}, "text", 3),
        ({**GOOD, "subject": "{{ store.__class__ }}"}, {}, "subject", 1),
        (GOOD, {"channel": "fax"}, "channel", None),
        (GOOD, {"locale": "no such"}, "locale", None),
        ({**GOOD, "locale": "de"}, {"locale": "fr"}, "locale", None),
        ({**GOOD, "colour": "red"}, {}, "colour", None),
        ({**GOOD, "text": 5}, {}, "text", None),
    ],
)
def test_a_bad_template_is_refused_and_changes_nothing(
    client: TestClient,
    store: CreatedStore,
    body: dict[str, Any],
    params: dict[str, str],
    field: str,
    line: int | None,
) -> None:
    """
    Syntax errors, unknown names, unsafe access, bad channel or locale and unknown or mistyped
    fields answer 400 naming the field (and the template line); nothing is saved.
    """
    # when
    response = _put(client, store, body, **params)
    # then
    problem = assert_problem(response, 400)
    errors = {e["field"]: e["message"] for e in problem["errors"]}
    assert field in errors
    if line is not None:
        assert errors[field].startswith(f"line {line}: ")
    assert 0 == _list(client, store)["count"]


def test_deleting_a_missing_template_is_not_found(client: TestClient, store: CreatedStore) -> None:
    """
    Nothing to delete answers 404.
    """
    response = client.delete(TEMPLATE, headers=auth(store.secret_key))
    assert_problem(response, 404)


def test_another_store_sees_none_of_the_templates(
    client: TestClient, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    Templates are scoped to their store.
    """
    # given
    mine, theirs = store_factory(), store_factory()
    _put(client, mine, GOOD)
    # then
    assert 0 == _list(client, theirs)["count"]
    assert_problem(client.delete(TEMPLATE, headers=auth(theirs.secret_key)), 404)


def test_templates_need_a_server_key(client: TestClient, store: CreatedStore) -> None:
    """
    The public key may not read or write templates.
    """
    response = client.get("/v1/templates", headers=auth(store.public_key))
    assert response.status_code in (401, 403)


def test_message_settings_are_read_and_changed(client: TestClient, store: CreatedStore) -> None:
    """
    PUT changes the fields given (null restores the default); GET reads them back.
    """
    # given
    headers = auth(store.secret_key)
    change = {
        "locale": "de-de",
        "postal_address": "Shop GmbH\nHauptstr. 1\n10115 Berlin",
        "support_email": "Help@Shop.Example",
        "payment_options": ["Visa", "PayPal"],
        "shipping": [
            {"country": "de", "cost": "4.90", "free_over": "50", "min_days": 1, "max_days": 3}
        ],
        "brand_color": "#0A7C59",
    }
    # when
    first = client.put(SETTINGS, json=change, headers=headers)
    second = client.put(SETTINGS, json={"locale": None}, headers=headers)
    read = client.get(SETTINGS, headers=headers).json()
    # then
    assert 200 == first.status_code, first.text
    assert "de-DE" == first.json()["locale"]
    assert 200 == second.status_code
    assert "en-US" == read["locale"]
    assert "help@shop.example" == read["support_email"]
    assert "#0a7c59" == read["brand_color"]
    assert [
        {"country": "DE", "cost": "4.90", "free_over": "50", "min_days": 1, "max_days": 3}
    ] == read["shipping"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"brand_color": "green", "locale": "xx-XX"}, {"brand_color", "locale"}),
        ({"returns_url": "javascript:alert(1)"}, {"returns_url"}),
        (
            {"shipping": [{"country": "DE", "min_days": 3, "max_days": 1, "cost": "1"}]},
            {"shipping"},
        ),
        ({"shipping": [{"country": "DE"}]}, {"shipping"}),
        ({"postal_address": "x\u0000y"}, {"postal_address"}),
        ({"payment_options": "Visa"}, {"payment_options"}),
        ({"nope": 1}, {"nope"}),
        ({}, set()),
    ],
)
def test_bad_message_settings_are_refused_and_change_nothing(
    client: TestClient, store: CreatedStore, body: dict[str, Any], fields: set[str]
) -> None:
    """
    Every bad field answers 400 with its path; the settings stay as they were.
    """
    # given
    headers = auth(store.secret_key)
    before = client.get(SETTINGS, headers=headers).json()
    # when
    response = client.put(SETTINGS, json=body, headers=headers)
    # then
    problem = assert_problem(response, 400)
    assert fields <= {e["field"].split(".")[0] for e in problem.get("errors", [])}
    assert before == client.get(SETTINGS, headers=headers).json()
