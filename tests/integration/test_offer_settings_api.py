"""
A store's offer settings over HTTP (`/v1/settings/offers`, server key): read, changed and put
back on a real database; bad input answers 400 problem+json naming its fields and changes
nothing; without a key nothing is read or written.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth

SETTINGS = "/v1/settings/offers"
DEFAULTS = {
    "expires_in": 172800,
    "expires_in_text": "2d",
    "max_per_contact": None,
    "margin_floor": None,
    "prefix": "",
    "window": 7776000,
}


def test_a_new_store_reads_the_defaults(client: TestClient, store: CreatedStore) -> None:
    """
    48 hours, no limit, no floor, no prefix.
    """
    # when
    response = client.get(SETTINGS, headers=auth(store.secret_key))
    # then
    assert 200 == response.status_code, response.text
    assert DEFAULTS == response.json()


def test_settings_are_changed_read_back_and_reset(client: TestClient, store: CreatedStore) -> None:
    """
    PUT changes what it names (durations as text or seconds, the floor as text or a number);
    null puts one back; GET shows the result.
    """
    # given
    headers = auth(store.secret_key)
    change = {"expires_in": "72h", "max_per_contact": 2, "margin_floor": 0.25, "prefix": "cb-"}
    # when
    first = client.put(SETTINGS, json=change, headers=headers)
    second = client.put(
        SETTINGS, json={"max_per_contact": None, "expires_in": 7200}, headers=headers
    )
    read = client.get(SETTINGS, headers=headers).json()
    # then
    assert 200 == first.status_code, first.text
    assert (259200, 2, "0.25", "CB-") == (
        first.json()["expires_in"],
        first.json()["max_per_contact"],
        first.json()["margin_floor"],
        first.json()["prefix"],
    )
    assert 200 == second.status_code, second.text
    assert {
        **DEFAULTS,
        "expires_in": 7200,
        "expires_in_text": "2h",
        "margin_floor": "0.25",
        "prefix": "CB-",
    } == read


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"expires_in": "5m", "max_per_contact": 0}, {"expires_in", "max_per_contact"}),
        ({"margin_floor": "1.5"}, {"margin_floor"}),
        ({"expires_in": 10**30}, {"expires_in"}),
        ({"expires_in": "99999999999999999d"}, {"expires_in"}),
        ({"margin_floor": True}, {"margin_floor"}),
        ({"prefix": "C0-"}, {"prefix"}),
        ({"max_per_contact": "two"}, {"max_per_contact"}),
        ({"stack": True}, {"stack"}),
        ({}, set()),
    ],
)
def test_bad_input_is_a_problem_and_changes_nothing(
    client: TestClient, store: CreatedStore, body: dict[str, Any], fields: set[str]
) -> None:
    """
    Each bad field is named in a 400 problem (an empty change too), and the settings stay.
    """
    # given
    headers = auth(store.secret_key)
    client.put(SETTINGS, json={"prefix": "KEEP"}, headers=headers)
    before = client.get(SETTINGS, headers=headers).json()
    # when
    response = client.put(SETTINGS, json=body, headers=headers)
    # then
    problem = assert_problem(response, 400)
    assert fields <= {e["field"].split(".")[0] for e in problem.get("errors", [])}
    assert before == client.get(SETTINGS, headers=headers).json()
    assert "KEEP" == before["prefix"]


def test_a_public_key_or_none_reads_and_writes_nothing(
    client: TestClient, store: CreatedStore
) -> None:
    """
    The settings are the merchant's: the browser key is forbidden (403), no key is 401.
    """
    # when
    public = client.put(SETTINGS, json={"prefix": "X"}, headers=auth(store.public_key))
    anonymous = client.get(SETTINGS)
    # then
    assert_problem(public, 403)
    assert_problem(anonymous, 401)
    assert "" == client.get(SETTINGS, headers=auth(store.secret_key)).json()["prefix"]
