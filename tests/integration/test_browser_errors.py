"""
The storefront snippet can read why `/v1/t` refused it (instead of an opaque CORS failure it
would keep retrying); server endpoints get no CORS headers on their errors.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from cartback.services.stores import CreatedStore
from helpers import track

ORIGIN = "https://shop.example.com"


def test_a_refused_browser_request_echoes_its_origin(client: TestClient) -> None:
    """
    An unknown key on `/v1/t` is a 401 the page's script is allowed to read.
    """
    # given
    body = {**track("Product Viewed", product_id="p-1"), "writeKey": "cb_pk_unknown"}
    # when
    response = client.post("/v1/t", json=body, headers={"Origin": ORIGIN})
    # then
    assert (401, ORIGIN) == (
        response.status_code,
        response.headers.get("access-control-allow-origin"),
    )


def test_server_endpoint_errors_carry_no_cors_headers(
    client: TestClient, store: CreatedStore
) -> None:
    """
    Only the browser endpoint opens its refusals to other origins.
    """
    # when
    response = client.post(
        "/v1/track", json=track("Product Viewed", product_id="p-1"), headers={"Origin": ORIGIN}
    )
    # then
    assert (401, None) == (
        response.status_code,
        response.headers.get("access-control-allow-origin"),
    )
