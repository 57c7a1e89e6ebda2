"""
Partner programs over HTTP with a server key (`/v1/partners`): created, listed, read,
changed, given codes and reported on; every endpoint answers bad input with a problem and
writes nothing; another store's program is not found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth

PROGRAM = {
    "name": "acme",
    "partner": "Acme Socks",
    "segment": 'cart.categories.exists(c, c == "socks")',
    "eligibility": "contact.is_first_time",
    "kind": "percent",
    "value": 15,
    "expires_in": "72h",
    "starts_at": "2026-11-27T00:00:00Z",
    "codes": ["acme-0001", "ACME-0002"],
}


def _create(client: TestClient, store: CreatedStore, **changes: Any) -> Any:
    body = {**PROGRAM, **changes}
    return client.post("/v1/partners", json=body, headers=auth(store.secret_key))


def _get(client: TestClient, store: CreatedStore, path: str = "") -> Any:
    return client.get(f"/v1/partners{path}", headers=auth(store.secret_key))


def _report(client: TestClient, store: CreatedStore) -> dict[str, Any]:
    body: dict[str, Any] = _get(client, store, "/acme/report").json()
    return body


def test_a_program_is_created_listed_read_and_reported(
    client: TestClient, store: CreatedStore
) -> None:
    """
    POST answers 201 with the program; it is listed and read back; its report starts empty.
    """
    # when
    created = _create(client, store)
    listed = _get(client, store)
    read = _get(client, store, "/acme")
    # then
    assert 201 == created.status_code, created.text
    assert ("acme", "percent", "3d", "pool", "USD", True) == (
        created.json()["name"],
        created.json()["kind"],
        created.json()["expires_in"],
        created.json()["code_source"],
        created.json()["currency"],
        created.json()["enabled"],
    )
    assert (1, created.json()) == (listed.json()["count"], listed.json()["data"][0])
    assert created.json() == read.json()
    assert {
        "name": "acme",
        "partner": "Acme Socks",
        "given": 0,
        "redeemed": 0,
        "discount_total": "0",
        "currency": "USD",
        "codes_available": 2,
    } == _report(client, store)


def test_codes_are_added_and_a_program_disabled(client: TestClient, store: CreatedStore) -> None:
    """
    An upload counts new and duplicate codes; PATCH disables the program.
    """
    # given
    _create(client, store)
    # when
    added = client.post(
        "/v1/partners/acme/codes",
        json={"codes": ["ACME-0002", "acme-0003", "ACME-0004"]},
        headers=auth(store.secret_key),
    )
    patched = client.patch(
        "/v1/partners/acme", json={"enabled": False}, headers=auth(store.secret_key)
    )
    # then
    assert {"added": 2, "duplicates": 1, "available": 4} == added.json()
    assert (200, False) == (patched.status_code, patched.json()["enabled"])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "Acme!"}, "name"),
        ({"segment": "cart.total >"}, "segment"),
        ({"segment": "cart.nope == 1"}, "segment"),
        ({"eligibility": "cart.total"}, "eligibility"),
        ({"kind": "bogo"}, "kind"),
        ({"value": 0}, "value"),
        ({"value": "lots"}, "value"),
        ({"kind": "fixed", "value": -1}, "value"),
        ({"code_source": "mixed"}, "code_source"),
        ({"expires_in": "30m"}, "expires_in"),
        ({"expires_in": "soon"}, "expires_in"),
        ({"starts_at": "2026-12-01T00:00:00"}, "starts_at"),
        ({"ends_at": "2026-11-26T00:00:00Z"}, "ends_at"),
        ({"codes": ["GOOD-1", "bad code"]}, "codes"),
        ({"code_source": "joint"}, "codes"),
        ({"colour": "red"}, "colour"),
        ({"partner": 5}, "partner"),
    ],
)
def test_a_bad_program_is_refused_and_nothing_is_written(
    client: TestClient, store: CreatedStore, changes: dict[str, Any], field: str
) -> None:
    """
    Every bad field answers 400 naming it; no program is created.
    """
    # when
    response = _create(client, store, **changes)
    # then
    problem = assert_problem(response, 400)
    assert field in {e["field"].split(".")[-1] for e in problem["errors"]}
    assert 0 == _get(client, store).json()["count"]


def test_a_bad_code_is_named_by_its_index(client: TestClient, store: CreatedStore) -> None:
    """
    The problem says which code of the list is wrong.
    """
    response = _create(client, store, codes=["GOOD-1", "x", "GOOD-2"])
    problem = assert_problem(response, 400)
    assert [("codes", 1)] == [(e["field"], e.get("index")) for e in problem["errors"]]


def test_a_name_in_use_conflicts(client: TestClient, store: CreatedStore) -> None:
    """
    A second program `acme` answers 409 and the first keeps its partner.
    """
    _create(client, store)
    assert_problem(_create(client, store, partner="Other"), 409)
    assert "Acme Socks" == _get(client, store, "/acme").json()["partner"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, ""),
        ({"segment": None}, "segment"),
        ({"segment": "cart.total >"}, "segment"),
        ({"eligibility": "nobody"}, "eligibility"),
        ({"ends_at": "2026-11-26T00:00:00Z"}, "ends_at"),
        ({"enabled": "no"}, "enabled"),
        ({"partner": "Other"}, "partner"),
    ],
)
def test_a_bad_change_changes_nothing(
    client: TestClient, store: CreatedStore, body: dict[str, Any], field: str
) -> None:
    """
    PATCH with nothing, a bad expression, an end before the start, a wrong type or a field
    that cannot change answers 400; the program is as it was.
    """
    # given
    before = _create(client, store).json()
    # when
    response = client.patch("/v1/partners/acme", json=body, headers=auth(store.secret_key))
    # then
    problem = assert_problem(response, 400)
    assert field in {e["field"].split(".")[-1] for e in problem["errors"]}
    assert before == _get(client, store, "/acme").json()


@pytest.mark.parametrize(
    ("body", "index"),
    [({"codes": []}, None), ({"codes": ["OK-0001", "no"]}, 1), ({"codes": "ACME-1"}, None)],
)
def test_bad_codes_add_nothing(
    client: TestClient, store: CreatedStore, body: dict[str, Any], index: int | None
) -> None:
    """
    An empty list, a bad code or a string instead of a list answers 400; the pool is as it was.
    """
    # given
    _create(client, store)
    # when
    response = client.post("/v1/partners/acme/codes", json=body, headers=auth(store.secret_key))
    # then
    problem = assert_problem(response, 400)
    if index is not None:
        assert [index] == [e.get("index") for e in problem["errors"]]
    assert 2 == _report(client, store)["codes_available"]


def test_a_joint_program_takes_no_uploaded_codes(client: TestClient, store: CreatedStore) -> None:
    """
    A joint program's codes come from the store's platform.
    """
    _create(client, store, code_source="joint", codes=[])
    response = client.post(
        "/v1/partners/acme/codes", json={"codes": ["ACME-1234"]}, headers=auth(store.secret_key)
    )
    assert_problem(response, 400)
    assert None is _report(client, store)["codes_available"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/partners/acme", None),
        ("PATCH", "/v1/partners/acme", {"enabled": False}),
        ("POST", "/v1/partners/acme/codes", {"codes": ["ACME-9999"]}),
        ("GET", "/v1/partners/acme/report", None),
        ("GET", "/v1/partners/Not%20A%20Name", None),
    ],
)
def test_another_stores_program_is_not_found(
    client: TestClient,
    store_factory: Callable[..., CreatedStore],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    """
    Programs are scoped to their store: another store's key gets 404 and changes nothing.
    """
    # given
    owner, other = store_factory(), store_factory()
    _create(client, owner)
    # when
    response = client.request(method, path, json=body, headers=auth(other.secret_key))
    # then
    assert_problem(response, 404)
    assert 0 == _get(client, other).json()["count"]
    assert (True, 2) == (
        _get(client, owner, "/acme").json()["enabled"],
        _report(client, owner)["codes_available"],
    )


def test_a_public_key_cannot_read_programs(client: TestClient, store: CreatedStore) -> None:
    """
    Partner programs need the server key.
    """
    response = client.get("/v1/partners", headers=auth(store.public_key))
    assert response.status_code in (401, 403)
    assert "application/problem+json" == response.headers["content-type"]
