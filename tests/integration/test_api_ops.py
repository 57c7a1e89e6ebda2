"""
Operations endpoints (`contract.md` §5.7) and the API's behaviour outside its routes: liveness,
readiness on a migrated and an unmigrated database, Prometheus metrics, request ids, unknown
paths and wrong methods as problems, and the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from cartback.api.app import create_app
from cartback.bootstrap import bootstrap
from cartback.engine.clock import SimulatedClock
from cartback.services.stores import CreatedStore
from cartback.settings import Settings
from helpers import assert_problem, auth, track


def _metric(text: str, name: str) -> float:
    """
    The value of one sample in a Prometheus exposition (`name` with its labels, if any).
    """
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} in the metrics")


def test_healthz_says_ok(client: TestClient) -> None:
    """
    `/healthz` answers 200 while the process is up.
    """
    # given
    path = "/healthz"
    # when
    response = client.get(path)
    # then
    assert (200, {"status": "ok"}) == (response.status_code, response.json())


def test_readyz_is_ready_on_a_migrated_database(client: TestClient) -> None:
    """
    `/readyz` answers 200 when the database answers and is at this version's migration.
    """
    # given
    path = "/readyz"
    # when
    response = client.get(path)
    # then
    assert (200, {"status": "ready"}) == (response.status_code, response.json())


@pytest.fixture
def unmigrated_client(
    empty_database_url: str, clock: SimulatedClock, settings_factory: Callable[..., Settings]
) -> Iterator[TestClient]:
    """
    An API on a database where no migration has run.
    """
    container = bootstrap(settings_factory(empty_database_url), clock=clock)
    try:
        with TestClient(create_app(container), raise_server_exceptions=False) as test_client:
            yield test_client
    finally:
        container.close()


def test_readyz_is_a_503_problem_on_an_unmigrated_database(unmigrated_client: TestClient) -> None:
    """
    `/readyz` answers 503 (a problem saying to migrate) until migrations have run.
    """
    # given
    path = "/readyz"
    # when
    response = unmigrated_client.get(path)
    # then
    problem = assert_problem(response, 503)
    assert "not-migrated" == problem["code"]
    assert "cartback migrate" in problem["detail"]


def test_healthz_is_ok_even_on_an_unmigrated_database(unmigrated_client: TestClient) -> None:
    """
    Liveness does not depend on the database, so an orchestrator does not restart a waiting pod.
    """
    # given
    path = "/healthz"
    # when
    response = unmigrated_client.get(path)
    # then
    assert 200 == response.status_code


def test_metrics_expose_ingestion_and_queue_depth(client: TestClient, store: CreatedStore) -> None:
    """
    `/metrics` is Prometheus text with the events ingested (by outcome) and the carts due.
    """
    # given
    message = track("Product Added", cart_id="c-1", product_id="p-1")
    client.post("/v1/track", json=message, headers=auth(store.secret_key))
    client.post("/v1/track", json=message, headers=auth(store.secret_key))
    # when
    response = client.get("/metrics")
    # then
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    applied = 'cartback_events_ingested_total{outcome="applied",source="segment"}'
    duplicate = 'cartback_events_ingested_total{outcome="duplicate",source="segment"}'
    assert (1.0, 1.0) == (_metric(text, applied), _metric(text, duplicate))
    assert 0.0 == _metric(text, "cartback_carts_due")


def test_metrics_count_rejected_events(client: TestClient, store: CreatedStore) -> None:
    """
    Invalid events are counted as rejected.
    """
    # given
    bad = track("Product Added", cart_id="c-1", product_id="p-1", quantity=-1)
    client.post("/v1/batch", json={"batch": [bad, bad]}, headers=auth(store.secret_key))
    # when
    text = client.get("/metrics").text
    # then
    assert 2.0 == _metric(text, 'cartback_events_rejected_total{source="segment"}')


def test_request_id_is_echoed(client: TestClient) -> None:
    """
    The caller's `X-Request-Id` comes back on the response.
    """
    # given
    headers = {"X-Request-Id": "req-1234"}
    # when
    response = client.get("/healthz", headers=headers)
    # then
    assert "req-1234" == response.headers["x-request-id"]


def test_request_id_is_echoed_on_errors(client: TestClient) -> None:
    """
    Problems carry the request id too, so a client can quote it.
    """
    # given
    headers = {"X-Request-Id": "req-5678"}
    # when
    response = client.post("/v1/track", content=b"{", headers=headers)
    # then
    assert (400, "req-5678") == (response.status_code, response.headers["x-request-id"])


@pytest.mark.parametrize("headers", [{}, {"X-Request-Id": ""}])
def test_request_id_is_made_when_missing(client: TestClient, headers: dict[str, str]) -> None:
    """
    Without an `X-Request-Id`, each response gets a fresh one.
    """
    # given
    first = client.get("/healthz", headers=headers).headers["x-request-id"]
    # when
    second = client.get("/healthz", headers=headers).headers["x-request-id"]
    # then
    assert first != second
    assert all(1 <= len(i) <= 64 and i.isprintable() for i in (first, second))


def test_overlong_request_id_is_cut_to_64_characters(client: TestClient) -> None:
    """
    A caller's request id is kept to 64 characters, so logs stay bounded.
    """
    # given
    headers = {"X-Request-Id": "r" * 500}
    # when
    response = client.get("/healthz", headers=headers)
    # then
    assert "r" * 64 == response.headers["x-request-id"]


@pytest.mark.parametrize("path", ["/nope", "/v1/cart/c-1", "/v1/carts/c-1/items", "/v2/batch"])
def test_unknown_path_is_a_404_problem(client: TestClient, path: str) -> None:
    """
    A path the API does not have is a 404 problem.
    """
    # given
    method = "GET"
    # when
    response = client.request(method, path)
    # then
    assert "not-found" == assert_problem(response, 404)["code"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/batch", "POST"),
        ("PUT", "/v1/track", "POST"),
        ("DELETE", "/v1/carts/c-1", "GET"),
        ("POST", "/v1/carts", "GET"),
        ("POST", "/healthz", "GET"),
        ("GET", "/v1/t", "POST"),
    ],
)
def test_wrong_method_is_a_405_problem_with_allow(
    client: TestClient, store: CreatedStore, method: str, path: str, allowed: str
) -> None:
    """
    A known path with the wrong method is a 405 problem that names the allowed methods.
    """
    # given
    headers = auth(store.secret_key)
    # when
    response = client.request(method, path, headers=headers)
    # then
    assert "method-not-allowed" == assert_problem(response, 405)["code"]
    assert allowed in response.headers["allow"]


def test_openapi_document_describes_ingestion_and_carts(client: TestClient) -> None:
    """
    `/openapi.json` documents the ingestion and read operations and their problem answers.
    """
    # given
    path = "/openapi.json"
    # when
    document = client.get(path).json()
    # then
    operations = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    expected = {
        ("POST", "/v1/batch"),
        ("POST", "/v1/track"),
        ("POST", "/v1/identify"),
        ("POST", "/v1/page"),
        ("POST", "/v1/t"),
        ("GET", "/v1/carts"),
        ("GET", "/v1/carts/{cart_id}"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
    }
    assert expected <= operations
    problem = document["paths"]["/v1/batch"]["post"]["responses"]["413"]["content"]
    assert {"$ref": "#/components/schemas/Problem"} == problem["application/problem+json"]["schema"]
