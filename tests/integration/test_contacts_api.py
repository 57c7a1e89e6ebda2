"""
`GET /v1/contacts/{id}` (export) and `DELETE /v1/contacts/{id}` (erasure) through the real
routes on each database: the export's sections and fields, the download header, erasure
answering 204 then 404, store scoping, bad input on both, and Shopify's
`customers/data_request` naming the contact whose export answers it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from person import EMAIL, PHONE, USER_ID, Person, build_person, contact_id_of, send
from structlog.testing import capture_logs

from cartback.bootstrap import Container
from cartback.services.stores import CreatedStore, add_webhook_secret
from cartback.sources.shopify import signature
from helpers import assert_problem, auth, identify

SECTIONS = {
    "format",
    "exported_at",
    "store_id",
    "contact",
    "visitors",
    "carts",
    "orders",
    "consents",
    "suppressions",
    "inbound_messages",
    "sms_confirmations",
    "raw_events",
    "offers",
    "audiences",
}
CONSENT_FIELDS = {
    "channel",
    "purpose",
    "granted",
    "text",
    "text_version",
    "locale",
    "source",
    "client_ip",
    "user_agent",
    "occurred_at",
    "recorded_at",
    "confirmed_at",
}


@pytest.fixture
def shop(store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    A German store, so national phone numbers are read as German.
    """
    return store_factory(country="DE")


@pytest.fixture
def erin(client: TestClient, container: Container, shop: CreatedStore) -> Person:
    """
    Erin, with data in every table.
    """
    return build_person(client, container, shop)


def _export(client: TestClient, shop: CreatedStore, contact_id: str, **params: Any) -> Any:
    return client.get(f"/v1/contacts/{contact_id}", params=params, headers=auth(shop.secret_key))


def test_the_export_holds_every_section_of_the_person(
    client: TestClient, shop: CreatedStore, erin: Person
) -> None:
    """
    The contact, one visitor, both carts with their lines, the order, the ledger history,
    suppressions, the reply, the pending confirmation and the raw events naming her.
    """
    # when
    response = _export(client, shop, erin.contact_id)
    # then
    body = response.json()
    assert (200, SECTIONS, "cartback.contact-export.v1") == (
        response.status_code,
        set(body),
        body["format"],
    )
    assert {
        "contact": (erin.contact_id, EMAIL, PHONE, USER_ID),
        "visitors": ["anon-erin"],
        "carts": [("cart-erin", ["mug"], "12.00"), ("cart-erin-2", ["cup"], "3.00")],
        "orders": [("order-erin", "cart-erin-2")],
        "consents": [("email", True), ("sms", True), ("sms", False)],
        "suppressions": [("email", EMAIL, "unsubscribed")],
        "inbound_messages": [PHONE],
        "sms_confirmations": [(PHONE, "sms-v1", None)],
        "raw_events": 5,
    } == {
        "contact": tuple(body["contact"][k] for k in ("id", "email", "phone", "user_id")),
        "visitors": [v["anonymous_id"] for v in body["visitors"]],
        "carts": [
            (c["cart_id"], [i["product_id"] for i in c["items"]], c["items"][0]["unit_price"])
            for c in body["carts"]
        ],
        "orders": [(o["order_id"], o["cart_id"]) for o in body["orders"]],
        "consents": [(c["channel"], c["granted"]) for c in body["consents"]],
        "suppressions": [(s["channel"], s["address"], s["reason"]) for s in body["suppressions"]],
        "inbound_messages": [m["sender"] for m in body["inbound_messages"]],
        "sms_confirmations": [
            (c["phone"], c["text_version"], c["confirmed_at"]) for c in body["sms_confirmations"]
        ],
        "raw_events": len(body["raw_events"]),
    }


def test_every_consent_entry_carries_its_evidence(
    client: TestClient, shop: CreatedStore, erin: Person
) -> None:
    """
    Each ledger entry has every documented field, with the words, address and browser.
    """
    # when
    consents = _export(client, shop, erin.contact_id).json()["consents"]
    # then
    assert [CONSENT_FIELDS] * 3 == [set(c) for c in consents]
    assert ("203.0.113.7", "cart_drawer", f"Email me about my cart at {EMAIL}") == (
        consents[0]["client_ip"],
        consents[0]["source"],
        consents[0]["text"],
    )


def test_download_names_the_file(client: TestClient, shop: CreatedStore, erin: Person) -> None:
    """
    `?download=1` answers the same document as an attachment `contact-<id>.json`.
    """
    # when
    response = _export(client, shop, erin.contact_id, download=1)
    # then
    assert (200, f"attachment; filename=contact-{erin.contact_id}.json", EMAIL) == (
        response.status_code,
        response.headers["content-disposition"],
        json.loads(response.content)["contact"]["email"],
    )


def test_without_download_there_is_no_attachment_header(
    client: TestClient, shop: CreatedStore, erin: Person
) -> None:
    """
    A plain GET is an ordinary JSON answer.
    """
    # when
    response = _export(client, shop, erin.contact_id)
    # then
    assert None is response.headers.get("content-disposition")


def test_a_second_delete_is_not_found_and_so_is_the_export(
    client: TestClient, shop: CreatedStore, erin: Person
) -> None:
    """
    DELETE answers 204 once; afterwards the contact does not exist.
    """
    # when
    first = client.delete(f"/v1/contacts/{erin.contact_id}", headers=auth(shop.secret_key))
    second = client.delete(f"/v1/contacts/{erin.contact_id}", headers=auth(shop.secret_key))
    # then
    assert (204, b"") == (first.status_code, first.content)
    assert_problem(second, 404)
    assert_problem(_export(client, shop, erin.contact_id), 404)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_another_stores_contact_is_not_found_and_stays(
    client: TestClient,
    container: Container,
    store_factory: Callable[..., CreatedStore],
    method: str,
) -> None:
    """
    A contact of another store answers 404 with no data, and is not erased.
    """
    # given
    mine, theirs = store_factory(), store_factory()
    send(client, theirs, identify(anonymous_id="anon-t", email="theirs@example.com"))
    contact_id = contact_id_of(container, theirs, "theirs@example.com")
    # when
    response = client.request(method, f"/v1/contacts/{contact_id}", headers=auth(mine.secret_key))
    # then
    body = assert_problem(response, 404)
    assert "theirs@example.com" not in json.dumps(body)
    assert 200 == _export(client, theirs, contact_id).status_code


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize(
    "contact_id",
    ["ct_00000000000000000000z", "nope", "CT_ABC", "ct_" + "a" * 40, "ct_%00", "ct_a%2Fb"],
)
def test_an_unknown_or_malformed_id_is_not_found(
    client: TestClient, store: CreatedStore, method: str, contact_id: str
) -> None:
    """
    Ids that name no contact, or could not, answer 404.
    """
    # when
    response = client.request(method, f"/v1/contacts/{contact_id}", headers=auth(store.secret_key))
    # then
    assert_problem(response, 404)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_public_key_is_forbidden_and_erases_nothing(
    client: TestClient, shop: CreatedStore, erin: Person, method: str
) -> None:
    """
    The browser key cannot read or erase a person: 403, and the contact stays.
    """
    # when
    response = client.request(
        method, f"/v1/contacts/{erin.contact_id}", headers=auth(shop.public_key)
    )
    # then
    assert_problem(response, 403)
    assert 200 == _export(client, shop, erin.contact_id).status_code


@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer cb_sk_not_a_key"}])
def test_no_key_or_a_wrong_key_is_unauthenticated(
    client: TestClient, shop: CreatedStore, erin: Person, method: str, headers: dict[str, str]
) -> None:
    """
    Without a valid key: 401, and the contact stays.
    """
    # when
    response = client.request(method, f"/v1/contacts/{erin.contact_id}", headers=headers)
    # then
    assert_problem(response, 401)
    assert 200 == _export(client, shop, erin.contact_id).status_code


def test_shopify_data_request_names_the_contact_to_export(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    `customers/data_request` logs `privacy.data_request` with the contact's id, whose export
    `GET /v1/contacts/{id}` then answers; nothing is erased.
    """
    # given
    shop = store_factory(platform="shopify", country="US")
    add_webhook_secret(
        uow=container.uow_factory(),
        clock=container.clock,
        box=container.box,
        store_id=shop.store.id,
        secret="shpss_secret",
    )
    send(client, shop, identify(anonymous_id="anon-j", email="john@example.com"))
    contact_id = contact_id_of(container, shop, "john@example.com")
    body = json.dumps(
        {"shop_id": 1, "customer": {"id": 191167, "email": "john@example.com"}}
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "customers/data_request",
        "X-Shopify-Hmac-Sha256": signature("shpss_secret", body),
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
    }
    # when
    with capture_logs() as logs:
        response = client.post(f"/webhooks/shopify/{shop.store.id}", content=body, headers=headers)
    # then
    requests = [e for e in logs if e["event"] == "privacy.data_request"]
    assert (200, [[contact_id]]) == (response.status_code, [e["contact_ids"] for e in requests])
    exported = _export(client, shop, contact_id).json()
    assert "john@example.com" == exported["contact"]["email"]
