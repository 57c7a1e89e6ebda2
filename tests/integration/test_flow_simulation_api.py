"""
`POST /v1/flows/simulate` (server key) on a real database: carts abandoned and enrolled by the
real worker on the simulated clock, then replayed through another flow file; bad input is a
problem document; nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from test_recovery_engine import leave_cart, post, run, shop, worker

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services.stores import CreatedStore
from cartback.store.tables import metadata
from helpers import assert_problem, auth, track

__all__ = ["shop", "worker"]  # fixtures shared with the recovery engine's tests

TRIED = """
flows:
  - name: tried
    trigger: {stages: [cart, checkout]}
    steps:
      - {wait: 1h, channel: email, template: reminder}
      - {wait: 23h, channel: email, template: support}
      - {wait: 48h, channel: email, template: resolution}
defaults:
  frequency_cap: {messages: 5, per: 24h}
"""


def _simulate(client: TestClient, store: CreatedStore, text: str, **params: Any) -> Any:
    headers = auth(store.secret_key) | {"Content-Type": "text/yaml"}
    return client.post("/v1/flows/simulate", content=text.encode(), params=params, headers=headers)


def _row_counts(container: Container) -> dict[str, int]:
    with container.engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
        }


def _sent(body: dict[str, Any]) -> list[tuple[str, int, str, int]]:
    return [(r["flow"], r["step"], r["channel"], r["count"]) for r in body["sent"]]


def _abandon_two_carts(
    client: TestClient, store: CreatedStore, clock: SimulatedClock, worker: Worker
) -> None:
    leave_cart(client, store, clock, cart_id="c-1", anonymous_id="a-1", email="ada@example.com")
    leave_cart(client, store, clock, cart_id="c-2", anonymous_id="a-2", email="bob@example.com")
    clock.advance(timedelta(minutes=31))
    run(worker)


def test_recent_carts_are_replayed_through_the_file_and_nothing_is_written(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
) -> None:
    """
    Two carts abandoned 5 days ago: the tried 3-step flow would send each of its steps to
    both; every table has the rows it had.
    """
    # given
    store = shop()
    _abandon_two_carts(client, store, clock, worker)
    clock.advance(timedelta(days=5))
    before = _row_counts(container)
    # when
    response = _simulate(client, store, TRIED, days=7)
    # then
    assert 200 == response.status_code, response.text
    body = response.json()
    assert (2, 6, 7) == (body["carts"], body["sent_total"], body["window"]["days"])
    assert [("tried", i, "email", 2) for i in range(3)] == _sent(body)
    assert [{"flow": "tried", "treated": 2, "control": 0}] == body["enrolled"]
    assert ({}, {}, 0) == (body["skipped"], body["cancelled"], body["pending"])
    assert before == _row_counts(container)


def test_a_cart_ordered_after_the_first_step_has_the_rest_cancelled_ordered(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    The shopper ordered 2 h after leaving: only the first step would have gone.
    """
    # given
    store = shop()
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.advance(timedelta(hours=2))
    post(client, store, track("Order Completed", cart_id="c-1", order_id="o-1", total=25))
    clock.advance(timedelta(days=4))
    # when
    body = _simulate(client, store, TRIED).json()
    # then
    assert [("tried", 0, "email", 1)] == _sent(body)
    assert {"ordered": 2} == body["cancelled"]


def test_the_body_may_be_json_and_days_defaults_to_7(
    client: TestClient, shop: Callable[..., CreatedStore], clock: SimulatedClock, worker: Worker
) -> None:
    """
    `{"yaml": ...}` as for `PUT /v1/flows`; a cart left 8 days ago is outside the default week.
    """
    # given
    store = shop()
    _abandon_two_carts(client, store, clock, worker)
    clock.advance(timedelta(days=8))
    # when
    response = client.post(
        "/v1/flows/simulate", json={"yaml": TRIED}, headers=auth(store.secret_key)
    )
    # then
    assert 200 == response.status_code, response.text
    assert (0, 7, []) == (
        response.json()["carts"],
        response.json()["window"]["days"],
        response.json()["sent"],
    )


def test_an_invalid_file_is_the_same_problem_as_for_put(
    client: TestClient, shop: Callable[..., CreatedStore]
) -> None:
    """
    Every error with its line and path, 400, as `PUT /v1/flows` answers.
    """
    # given
    store = shop()
    bad = TRIED.replace("[cart, checkout]", "[cart, basket]").replace("wait: 1h", "wait: soon")
    # when
    simulated = _simulate(client, store, bad)
    applied = client.put(
        "/v1/flows",
        content=bad.encode(),
        headers=auth(store.secret_key) | {"Content-Type": "text/yaml"},
    )
    # then
    problem = assert_problem(simulated, 400)
    assert [(4, "flows[0].trigger.stages[1]"), (6, "flows[0].steps[0].wait")] == [
        (e["line"], e["path"]) for e in problem["errors"]
    ]
    assert assert_problem(applied, 400) == problem


@pytest.mark.parametrize(
    ("params", "kwargs", "status"),
    [
        ({"days": 0}, {}, 400),
        ({"days": 91}, {}, 400),
        ({"days": "week"}, {}, 400),
        ({}, {"content": b"flows: [", "headers": {"Content-Type": "text/yaml"}}, 400),
        ({}, {"json": {"yml": TRIED}}, 400),
        ({}, {"content": b"x", "headers": {"Content-Type": "image/png"}}, 415),
        ({}, {"content": b"#" * (300 * 1024), "headers": {"Content-Type": "text/yaml"}}, 413),
    ],
)
def test_bad_input_is_a_problem(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    params: dict[str, object],
    kwargs: dict[str, Any],
    status: int,
) -> None:
    """
    `days` outside 1..90 or not a number, broken YAML, a wrong JSON shape, another media
    type, too large.
    """
    # given
    store = shop()
    headers = auth(store.secret_key) | {"Content-Type": "text/yaml"} | kwargs.pop("headers", {})
    body = kwargs or {"content": TRIED.encode()}
    # when
    response = client.post("/v1/flows/simulate", params=params, headers=headers, **body)
    # then
    assert_problem(response, status)


def test_simulate_needs_the_server_key(
    client: TestClient, shop: Callable[..., CreatedStore]
) -> None:
    """
    No key is 401; the public key is refused too.
    """
    # given
    store = shop()
    # when
    anonymous = client.post("/v1/flows/simulate", content=TRIED)
    public = client.post("/v1/flows/simulate", content=TRIED, headers=auth(store.public_key))
    # then
    assert_problem(anonymous, 401)
    assert public.status_code in (401, 403)
