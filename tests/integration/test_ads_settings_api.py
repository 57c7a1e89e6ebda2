"""
A store's ad accounts over HTTP (`/v1/settings/ads`, server key) on a real database: set,
read back without any token, a bad field answers 400 problem+json naming it and changes
nothing, and another store sees only its own accounts.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth

SETTINGS = "/v1/settings/ads"
META_TOKEN = "EAAGmetaSystemUserToken0123456789"
GOOGLE_TOKENS = ("googleDeveloperToken0123", "ya29.googleAccessToken0123456789")


def test_accounts_are_set_and_read_back_without_tokens(
    client: TestClient, store: CreatedStore
) -> None:
    """
    PUT sets both accounts and their mappings; the answer and a later GET show them, never a
    token.
    """
    # given
    headers = auth(store.secret_key)
    change = {
        "meta": {
            "access_token": META_TOKEN,
            "ad_account_id": "act_42",
            "audiences": {"viewed-cart": "2385"},
        },
        "google": {
            "developer_token": GOOGLE_TOKENS[0],
            "access_token": GOOGLE_TOKENS[1],
            "customer_id": "123-456-7890",
            "audiences": {"viewed-cart": "customers/1234567890/userLists/5"},
        },
    }
    # when
    put = client.put(SETTINGS, json=change, headers=headers)
    read = client.get(SETTINGS, headers=headers)
    # then
    assert 200 == put.status_code, put.text
    assert put.json() == read.json()
    assert {
        "meta": {"ad_account_id": "act_42", "pixel_id": None, "audiences": {"viewed-cart": "2385"}},
        "google": {
            "customer_id": "1234567890",
            "login_customer_id": None,
            "audiences": {"viewed-cart": "customers/1234567890/userLists/5"},
        },
    } == read.json()
    assert not any(token in read.text for token in (META_TOKEN, *GOOGLE_TOKENS))


def test_a_bad_field_is_a_problem_and_changes_nothing(
    client: TestClient, store: CreatedStore
) -> None:
    """
    A malformed ad account answers 400 naming `ad_account_id`; nothing is stored.
    """
    # given
    headers = auth(store.secret_key)
    # when
    response = client.put(
        SETTINGS,
        json={"meta": {"access_token": META_TOKEN, "ad_account_id": "42"}},
        headers=headers,
    )
    # then
    problem = assert_problem(response, 400)
    assert "ad_account_id" in str(problem)
    assert {"meta": None, "google": None} == client.get(SETTINGS, headers=headers).json()


def test_another_store_sees_only_its_own(
    client: TestClient, store: CreatedStore, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    One store's accounts are not another's.
    """
    # given
    other = store_factory(name="Other Shop")
    client.put(
        SETTINGS, json={"meta": {"access_token": META_TOKEN}}, headers=auth(store.secret_key)
    )
    # when
    response = client.get(SETTINGS, headers=auth(other.secret_key))
    # then
    assert {"meta": None, "google": None} == response.json()


def test_without_a_key_nothing_is_read(client: TestClient) -> None:
    """
    No key: 401.
    """
    # when
    response = client.get(SETTINGS)
    # then
    assert_problem(response, 401)
