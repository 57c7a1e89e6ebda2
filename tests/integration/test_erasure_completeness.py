"""
Erasure completeness on both databases: after `DELETE /v1/contacts/{id}`, the person's email,
phone (E.164 and national forms) and user id appear in no column of any table. The tables come
from `store/tables.py`'s metadata, so a table added later is scanned without touching this test
(and a table in the database that the metadata lacks fails it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from person import EMAIL, PHONE, Person, build_person, contact_id_of, send
from sqlalchemy import func, inspect, select

from cartback.bootstrap import Container
from cartback.domain.consent import Channel, erased_address
from cartback.services.stores import CreatedStore
from cartback.store.tables import carts, metadata, orders, suppressions
from helpers import auth, identify


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


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False).lower()
    return str(value).lower()


def mentions(container: Container, needles: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """
    Every (table, column, needle) where a needle appears, in any case, in any stored value.
    """
    found = []
    with container.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    text = _text(value)
                    found += [(table.name, column, n) for n in needles if n.lower() in text]
    return found


def _count(container: Container, query: Any) -> int:
    with container.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def test_the_scan_covers_every_table_in_the_database(container: Container) -> None:
    """
    The migrated database has no table the metadata (and so the scan) does not know.
    """
    # when
    live = set(inspect(container.engine).get_table_names()) - {"alembic_version"}
    # then
    assert set() == live - set(metadata.tables)


def test_the_scan_finds_the_person_before_erasure(container: Container, erin: Person) -> None:
    """
    The check can fail: before erasure every identifier is found somewhere.
    """
    # when
    found = {needle for _, _, needle in mentions(container, erin.needles)}
    # then
    assert set(erin.needles) == found


def test_after_erasure_no_table_holds_the_email_phone_or_user_id(
    client: TestClient, container: Container, shop: CreatedStore, erin: Person
) -> None:
    """
    DELETE answers 204, and then no column of any table mentions Erin.
    """
    # when
    response = client.delete(f"/v1/contacts/{erin.contact_id}", headers=auth(shop.secret_key))
    # then
    assert (204, []) == (response.status_code, mentions(container, erin.needles))


def test_erasure_keeps_the_carts_and_orders_without_the_person(
    client: TestClient, container: Container, shop: CreatedStore, erin: Person
) -> None:
    """
    Both carts and the order stay as anonymous records: no contact, no visitor.
    """
    # when
    client.delete(f"/v1/contacts/{erin.contact_id}", headers=auth(shop.secret_key))
    # then
    linked = carts.c.contact_id.is_not(None) | carts.c.visitor_id.is_not(None)
    assert (2, 0, 1, 0) == (
        _count(container, select(func.count()).select_from(carts)),
        _count(container, select(func.count()).select_from(carts).where(linked)),
        _count(container, select(func.count()).select_from(orders)),
        _count(
            container,
            select(func.count()).select_from(orders).where(orders.c.contact_id.is_not(None)),
        ),
    )


def test_erasure_keeps_the_suppressions_and_the_withdrawal_hashed(
    client: TestClient, container: Container, shop: CreatedStore, erin: Person
) -> None:
    """
    The unsubscribed email stays suppressed, and the withdrawn SMS consent becomes a suppression
    of the number, both only as `sha256:` hashes.
    """
    # when
    client.delete(f"/v1/contacts/{erin.contact_id}", headers=auth(shop.secret_key))
    # then
    with container.engine.connect() as connection:
        rows = connection.execute(
            select(suppressions.c.channel, suppressions.c.address, suppressions.c.reason)
        ).all()
    assert {
        (Channel.EMAIL.value, erased_address(EMAIL), "unsubscribed"),
        (Channel.SMS.value, erased_address(PHONE), "consent_withdrawn"),
    } == {tuple(r) for r in rows}


def test_erasure_leaves_another_shopper_untouched(
    client: TestClient, container: Container, shop: CreatedStore, erin: Person
) -> None:
    """
    A second shopper of the same store keeps their contact and events.
    """
    # given
    send(client, shop, identify(anonymous_id="anon-keep", email="keep@example.com"))
    kept = contact_id_of(container, shop, "keep@example.com")
    # when
    client.delete(f"/v1/contacts/{erin.contact_id}", headers=auth(shop.secret_key))
    # then
    response = client.get(f"/v1/contacts/{kept}", headers=auth(shop.secret_key))
    assert (200, ["anon-keep"]) == (
        response.status_code,
        [e["payload"]["anonymousId"] for e in response.json()["raw_events"]],
    )
