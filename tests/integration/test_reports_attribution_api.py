"""
`GET|PUT /v1/settings/attribution`: the windows read, changed and put back; bad input is a
problem naming each field, and nothing changes; another store's windows are its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth

DEFAULTS = {
    "click_window": 604800,
    "click_window_text": "7d",
    "send_window": 86400,
    "send_window_text": "1d",
}


def _get(client: TestClient, store: CreatedStore) -> dict[str, Any]:
    response = client.get("/v1/settings/attribution", headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def test_windows_are_read_changed_and_reset(client: TestClient, store: CreatedStore) -> None:
    """
    Defaults 7 d and 1 d; `3d` and 3600 s stored; null puts the click window back.
    """
    # when
    before = _get(client, store)
    changed = client.put(
        "/v1/settings/attribution",
        json={"click_window": "3d", "send_window": 3600},
        headers=auth(store.secret_key),
    )
    reset = client.put(
        "/v1/settings/attribution", json={"click_window": None}, headers=auth(store.secret_key)
    )
    # then
    assert DEFAULTS == before
    assert 200 == changed.status_code, changed.text
    assert (259200, 3600) == (changed.json()["click_window"], changed.json()["send_window"])
    assert {**DEFAULTS, "send_window": 3600, "send_window_text": "1h"} == reset.json()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"click_window": "10m", "send_window": "31d"}, {"click_window", "send_window"}),
        ({"click_window": "soon"}, {"click_window"}),
        ({"send_window": True}, {"send_window"}),
        ({"open_window": "1d"}, {"open_window"}),
        ({}, set()),
    ],
)
def test_bad_windows_are_problems_and_change_nothing(
    client: TestClient, store: CreatedStore, body: dict[str, Any], fields: set[str]
) -> None:
    """
    Out of range, not a duration, a boolean, an unknown key, nothing: 400, settings intact.
    """
    # when
    response = client.put("/v1/settings/attribution", json=body, headers=auth(store.secret_key))
    # then
    problem = assert_problem(response, 400)
    assert fields <= {e["field"].split(".")[0] for e in problem.get("errors") or []}
    assert DEFAULTS == _get(client, store)


def test_a_store_changes_only_its_own_windows(
    client: TestClient, store: CreatedStore, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    One store's change leaves another's defaults; no key is 401.
    """
    # given
    other = store_factory()
    # when
    client.put(
        "/v1/settings/attribution", json={"send_window": "2h"}, headers=auth(store.secret_key)
    )
    anonymous = client.get("/v1/settings/attribution")
    # then
    assert 7200 == _get(client, store)["send_window"]
    assert DEFAULTS == _get(client, other)
    assert_problem(anonymous, 401)


def test_the_report_and_windows_are_in_the_openapi_document(client: TestClient) -> None:
    """
    The report's response schema is documented, with the contract's fields.
    """
    # when
    document = client.get("/openapi.json").json()
    # then
    assert {"get"} == set(document["paths"]["/v1/reports/summary"])
    assert {"get", "put"} == set(document["paths"]["/v1/settings/attribution"])
    fields = set(document["components"]["schemas"]["ReportPublic"]["properties"])
    assert {
        "carts",
        "abandoned_carts",
        "reachable_carts",
        "capture_rate",
        "recovered_carts",
        "recovered_revenue",
        "recovery_rate",
        "attributed_revenue",
        "holdout",
        "by_flow",
        "by_step",
        "by_channel",
        "by_variant",
        "unsubscribe_rate",
        "skipped",
        "currency",
        "from",
        "to",
    } <= fields
