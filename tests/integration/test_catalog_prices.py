"""
Catalog prices and page details on each database: `PUT /v1/catalog/items` writes them (and
answers bad ones with a 400 problem, writing nothing), a later write that does not carry them
(an inventory-only read) keeps them in the upsert itself, a new price restates the sale, and
Magento product pushes write theirs in the store's currency.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.domain.catalog import CatalogItem
from cartback.engine.clock import SimulatedClock
from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth

PAGE = "https://shop.example.com/products/mug"


def put(client: TestClient, store: CreatedStore, *items: dict[str, Any]) -> Any:
    return client.put("/v1/catalog/items", json=list(items), headers=auth(store.secret_key))


def stored(container: Container, store: CreatedStore, key: str = "p:p-1") -> CatalogItem | None:
    with container.uow_factory() as uow:
        return uow.catalog.get_many(store.store.id, [key]).get(key)


def mug(**fields: Any) -> dict[str, Any]:
    """
    The mug (product p-1), in stock.
    """
    return {"product_id": "p-1", "title": "Mug", "available": True, **fields}


def test_prices_and_page_details_are_written_and_read_back(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    Decimal strings and numbers are exact amounts in the item's currency.
    """
    # when
    response = put(
        client,
        store,
        mug(
            price="19.99",
            compare_at_price=24.99,
            cost="8.5",
            currency="EUR",
            category="Mugs",
            url=PAGE,
            image_url="https://cdn.example.com/mug.jpg",
        ),
    )
    # then
    assert 200 == response.status_code, response.text
    item = stored(container, store)
    assert item is not None
    assert (
        Decimal("19.99"),
        Decimal("24.99"),
        Decimal("8.5"),
        "EUR",
        "Mugs",
        PAGE,
        "https://cdn.example.com/mug.jpg",
    ) == (
        item.price,
        item.compare_at_price,
        item.cost,
        item.currency,
        item.category,
        item.url,
        item.image_url,
    )
    assert item.on_sale


def test_a_stock_only_write_keeps_the_prices_and_a_new_price_ends_the_sale(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    Sold out without prices: stock changes, prices and page stay; then 24.99 without a "was"
    price: the sale ended, the cost (not restated) stays.
    """
    # given
    put(client, store, mug(price="19.99", compare_at_price="24.99", cost="8", currency="EUR"))
    put(client, store, mug(url=PAGE))
    # when
    put(client, store, mug(available=False))
    kept = stored(container, store)
    put(client, store, mug(price="24.99", currency="EUR"))
    repriced = stored(container, store)
    # then
    assert kept is not None
    assert repriced is not None
    assert (False, Decimal("19.99"), Decimal("24.99"), Decimal("8"), "EUR", PAGE) == (
        kept.available,
        kept.price,
        kept.compare_at_price,
        kept.cost,
        kept.currency,
        kept.url,
    )
    assert (True, Decimal("24.99"), None, Decimal("8"), PAGE) == (
        repriced.available,
        repriced.price,
        repriced.compare_at_price,
        repriced.cost,
        repriced.url,
    )


def test_the_upsert_keeps_prices_a_write_read_before_them_does_not_know(
    container: Container, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    The repository itself merges (not the service's earlier read): a stock write made from
    an old read does not erase a price written meanwhile; amounts in another currency go.
    """
    # given
    base = CatalogItem(
        product_id="p-1", available=True, read_at=clock.now(), updated_at=clock.now()
    )
    priced = CatalogItem(
        product_id="p-1",
        available=True,
        price=Decimal("5"),
        cost=Decimal("2"),
        currency="GBP",
        read_at=clock.now(),
        updated_at=clock.now(),
    )
    # when
    with container.uow_factory() as uow:
        uow.catalog.upsert(store.store.id, [priced])
        uow.catalog.upsert(store.store.id, [base])
        kept = uow.catalog.get_many(store.store.id, ["p:p-1"])["p:p-1"]
        other = CatalogItem(
            product_id="p-1",
            available=True,
            cost=Decimal("3"),
            currency="USD",
            read_at=clock.now(),
            updated_at=clock.now(),
        )
        uow.catalog.upsert(store.store.id, [other])
        switched = uow.catalog.get_many(store.store.id, ["p:p-1"])["p:p-1"]
    # then
    assert (Decimal("5"), Decimal("2"), "GBP") == (kept.price, kept.cost, kept.currency)
    assert (None, Decimal("3"), "USD") == (switched.price, switched.cost, switched.currency)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"price": "19.99"}, "[1].currency"),
        ({"price": "-1", "currency": "EUR"}, "[1].price"),
        ({"price": "abc", "currency": "EUR"}, "[1].price"),
        ({"price": "1.00001", "currency": "EUR"}, "[1].price"),
        ({"price": True, "currency": "EUR"}, "[1].price"),
        ({"cost": "NaN", "currency": "EUR"}, "[1].cost"),
        ({"price": "1", "currency": "eur"}, "[1].currency"),
        ({"price": "1", "currency": "XYZ"}, "[1].currency"),
        ({"compare_at_price": "2", "currency": "EUR"}, "[1].compare_at_price"),
        ({"url": "javascript:alert(1)"}, "[1].url"),
        ({"url": "/products/mug"}, "[1].url"),
        ({"image_url": "data:image/png;base64,AAAA"}, "[1].image_url"),
        ({"url": "https://shop.example.com/" + "a" * 2048}, "[1].url"),
        ({"category": "c" * 501}, "[1].category"),
    ],
)
def test_bad_prices_and_links_are_a_400_problem_and_nothing_is_written(
    client: TestClient,
    store: CreatedStore,
    container: Container,
    fields: dict[str, Any],
    field: str,
) -> None:
    """
    An amount without a currency, negative, not a number or finer than 4 decimals; a code
    that is not ISO 4217; a "was" price without a price; a link that is not http(s): 400 with
    the field, and the good item of the same body is not written either.
    """
    # when
    response = put(client, store, {"product_id": "p-2", "available": True}, mug(**fields))
    # then
    problem = assert_problem(response, 400)
    assert field in [e["field"] for e in problem["errors"]], problem
    assert stored(container, store, "p:p-2") is None


def test_a_magento_product_push_writes_its_prices_in_the_stores_currency(
    client: TestClient,
    store_factory: Callable[..., CreatedStore],
    container: Container,
    clock: SimulatedClock,
) -> None:
    """
    `product.updated` with an active special price and the store's links: price 29, "was"
    34, cost 12.5, in the store's EUR, with its page; a push of another type is not a product.
    """
    # given
    shop = store_factory(platform="magento", country="DE", currency="EUR")
    product = {
        "id": 1,
        "sku": "24-MB01",
        "name": "Joust Duffle Bag",
        "price": 34,
        "status": 1,
        "updated_at": "2026-11-27 09:45:00",
        "extension_attributes": {"stock_item": {"qty": 7, "is_in_stock": True}},
        "custom_attributes": [
            {"attribute_code": "special_price", "value": "29.0000"},
            {"attribute_code": "cost", "value": "12.5000"},
            {"attribute_code": "url_key", "value": "joust-duffle-bag"},
        ],
    }
    body = {
        "type": "product.updated",
        "store": {"base_link_url": "https://shop.example.com/"},
        "data": product,
    }
    # when
    response = push(client, shop, clock, body)
    # then
    assert 200 == response.status_code, response.text
    item = stored(container, shop, "p:1")
    assert item is not None
    assert (
        Decimal("29"),
        Decimal("34"),
        Decimal("12.5"),
        "EUR",
        "https://shop.example.com/joust-duffle-bag.html",
        "24-MB01",
    ) == (item.price, item.compare_at_price, item.cost, item.currency, item.url, item.sku)


def test_a_magento_product_push_that_is_not_a_product_is_a_400_problem(
    client: TestClient,
    store_factory: Callable[..., CreatedStore],
    container: Container,
    clock: SimulatedClock,
) -> None:
    """
    A product without an id: 400, nothing written.
    """
    shop = store_factory(platform="magento")
    response = push(client, shop, clock, {"type": "product.created", "data": {"sku": "X"}})
    assert_problem(response, 400)
    assert stored(container, shop, "p:X") is None


def push(client: TestClient, shop: CreatedStore, clock: SimulatedClock, body: Any) -> Any:
    """
    Posts a body signed as a Standard Webhooks sender signs it, with the store's secret.
    """
    content = json.dumps(body).encode()
    identifier, stamp = f"msg_{uuid.uuid4().hex}", str(int(clock.now().timestamp()))
    key = base64.b64decode(shop.webhook_secret.removeprefix("whsec_"))
    signed = f"{identifier}.{stamp}.".encode() + content
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    headers = {
        "Content-Type": "application/json",
        "webhook-id": identifier,
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,{signature}",
    }
    return client.post(f"/webhooks/magento/{shop.store.id}", content=content, headers=headers)
