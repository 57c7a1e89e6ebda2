"""
Flows over HTTP (`/v1/flows`, server key): the shipped defaults until a store applies its own
file; a PUT replaces them all at once and bumps the version; an invalid file answers 400 with
every error and its line, and changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth

CONTRACT = (Path(__file__).parent.parent / "fixtures" / "flows" / "contract.yaml").read_text()
ONE = """
flows:
  - name: only-carts
    trigger: {stages: [cart]}
    steps: [{wait: 1h, channel: email, template: reminder}]
"""


def _put_yaml(client: TestClient, store: CreatedStore, text: str) -> Any:
    headers = auth(store.secret_key) | {"Content-Type": "text/yaml"}
    return client.put("/v1/flows", content=text.encode(), headers=headers)


def test_a_new_store_lists_the_shipped_defaults(client: TestClient, store: CreatedStore) -> None:
    """
    Nothing applied: `origin` says `defaults`, version 0, the shipped flows by priority.
    """
    # when
    body = client.get("/v1/flows", headers=auth(store.secret_key)).json()
    # then
    assert ("defaults", 0) == (body["origin"], body["version"])
    assert [
        "checkout-high-value",
        "checkout-recovery",
        "cart-recovery",
        "browse-abandonment",
    ] == [f["name"] for f in body["data"]]


def test_apply_list_get_round_trip(client: TestClient, store: CreatedStore) -> None:
    """
    The contract's file as YAML, then another as JSON: each apply replaces the set, version + 1.
    """
    # when
    first = _put_yaml(client, store, CONTRACT)
    second = client.put("/v1/flows", json={"yaml": ONE}, headers=auth(store.secret_key))
    listed = client.get("/v1/flows", headers=auth(store.secret_key)).json()
    gone = client.get("/v1/flows/checkout-recovery", headers=auth(store.secret_key))
    one = client.get("/v1/flows/only-carts", headers=auth(store.secret_key)).json()
    # then
    assert 200 == first.status_code, first.text
    assert (1, ["checkout-recovery"]) == (
        first.json()["version"],
        [f["name"] for f in first.json()["data"]],
    )
    assert 200 == second.status_code, second.text
    assert ("applied", 2, ["only-carts"]) == (
        listed["origin"],
        listed["version"],
        [f["name"] for f in listed["data"]],
    )
    assert_problem(gone, 404)
    assert (2, ["cart"], "1h") == (
        one["version"],
        one["trigger"]["stages"],
        one["steps"][0]["wait"],
    )


def test_an_invalid_file_answers_every_error_with_its_line_and_changes_nothing(
    client: TestClient, store: CreatedStore
) -> None:
    """
    Two mistakes on lines 3 and 5, both reported; the store still has what it had.
    """
    # given
    assert 200 == _put_yaml(client, store, ONE).status_code
    bad = ONE.replace("[cart]", "[cart, basket]").replace("1h", "soon")
    # when
    response = _put_yaml(client, store, bad)
    # then
    problem = assert_problem(response, 400)
    assert [(4, "flows[0].trigger.stages[1]"), (5, "flows[0].steps[0].wait")] == [
        (e["line"], e["path"]) for e in problem["errors"]
    ]
    listed = client.get("/v1/flows", headers=auth(store.secret_key)).json()
    assert (1, ["only-carts"]) == (listed["version"], [f["name"] for f in listed["data"]])


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        (
            "put",
            "/v1/flows",
            {"content": b"flows: [", "headers": {"Content-Type": "text/yaml"}},
            400,
        ),
        ("put", "/v1/flows", {"json": {"yml": ONE}}, 400),
        ("put", "/v1/flows", {"json": ["flows"]}, 400),
        (
            "put",
            "/v1/flows",
            {"content": b"{", "headers": {"Content-Type": "application/json"}},
            400,
        ),
        (
            "put",
            "/v1/flows",
            {"content": b"\xff\xfe", "headers": {"Content-Type": "text/yaml"}},
            400,
        ),
        ("put", "/v1/flows", {"content": b"x", "headers": {"Content-Type": "image/png"}}, 415),
        (
            "put",
            "/v1/flows",
            {"content": b"#" * (300 * 1024), "headers": {"Content-Type": "text/yaml"}},
            413,
        ),
        ("get", "/v1/flows/nope", {}, 404),
    ],
)
def test_bad_input_is_a_problem(
    client: TestClient,
    store: CreatedStore,
    method: str,
    path: str,
    kwargs: dict[str, object],
    status: int,
) -> None:
    """
    Broken YAML, a wrong JSON shape, bad JSON, not UTF-8, another media type, too large, unknown.
    """
    # given
    headers = auth(store.secret_key) | dict(kwargs.pop("headers", {}))  # type: ignore[call-overload]
    # when
    response = client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
    # then
    assert_problem(response, status)


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/v1/flows"), ("put", "/v1/flows"), ("get", "/v1/flows/a")]
)
def test_every_endpoint_needs_the_server_key(
    client: TestClient, store: CreatedStore, method: str, path: str
) -> None:
    """
    No key is 401; the public key is refused too.
    """
    # when
    anonymous = client.request(method, path, content=ONE)
    public = client.request(method, path, content=ONE, headers=auth(store.public_key))
    # then
    assert_problem(anonymous, 401)
    assert public.status_code in (401, 403)


def test_another_store_does_not_see_the_flows(
    client: TestClient, store_factory: object, store: CreatedStore
) -> None:
    """
    Flows are per store: another store still runs the defaults.
    """
    # given
    other = store_factory()  # type: ignore[operator]
    assert 200 == _put_yaml(client, store, ONE).status_code
    # when
    body = client.get("/v1/flows", headers=auth(other.secret_key)).json()
    # then
    assert "defaults" == body["origin"]
