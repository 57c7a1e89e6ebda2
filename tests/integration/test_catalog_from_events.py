"""
The catalog kept from storefront events, on each database: a product a Segment SDK reports
(viewed, added, in a cart or an order) enters the catalog and the product feeds with its title,
price, link, picture and category, never with a stock claim; a platform read rules over what
events said, events only fill its blanks; an older event does not undo a newer one; links off
the store's domains, bots and rejected events teach nothing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.domain.catalog import CatalogItem
from cartback.engine.clock import SimulatedClock
from cartback.services.catalog import cart_stock
from cartback.services.stores import CreatedStore
from helpers import auth, track

G = "{http://base.google.com/ns/1.0}"
PAGE = "https://shop.example.com/products/mug"
PICTURE = "https://cdn.example.com/mug-blue.jpg"


def mug_viewed(**overrides: Any) -> dict[str, Any]:
    """
    Product Viewed for variant 41 (Blue) of product 7, the mug, as a Segment SDK sends it.
    """
    properties: dict[str, Any] = {
        "product_id": "7",
        "variant_id": "41",
        "sku": "MUG-BLUE",
        "name": "Mug",
        "variant": "Blue",
        "price": 15,
        "currency": "USD",
        "url": PAGE,
        "image_url": PICTURE,
        "category": "Kitchen",
        **overrides.pop("properties", {}),
    }
    return track("Product Viewed", **overrides, **properties)


def send(client: TestClient, store: CreatedStore, *messages: dict[str, Any]) -> None:
    response = client.post(
        "/v1/batch", json={"batch": list(messages)}, headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text


def learned(container: Container, store: CreatedStore, key: str = "v:41") -> CatalogItem | None:
    with container.uow_factory() as uow:
        return uow.catalog.get_many(store.store.id, [key], unread=True).get(key)


def google_items(client: TestClient, store: CreatedStore) -> dict[str, dict[str, str]]:
    response = client.get(f"/feeds/{store.store.id}/google.xml")
    assert 200 == response.status_code, response.text
    root = ET.fromstring(response.content)  # noqa: S314 (our own feed, not untrusted input)
    items = [
        {child.tag.removeprefix(G): child.text or "" for child in element}
        for element in root.iter("item")
    ]
    return {item["id"]: item for item in items}


def test_a_viewed_product_enters_the_feeds_with_what_the_event_showed(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    One Product Viewed is enough for both feeds: id, group, "Product - Variant" title, link,
    picture, price; listed in stock, though the catalog itself claims nothing about its stock.
    """
    # when
    send(client, store, mug_viewed())
    # then
    entry = google_items(client, store)["41"]
    assert {
        "item_group_id": "7",
        "title": "Mug - Blue",
        "link": PAGE,
        "image_link": PICTURE,
        "price": "15.00 USD",
        "availability": "in_stock",
        "product_type": "Kitchen",
    }.items() <= entry.items(), entry
    meta = client.get(f"/feeds/{store.store.id}/meta.csv").text
    assert "Mug - Blue" in meta
    item = learned(container, store)
    assert item is not None
    assert (None, "MUG-BLUE", Decimal("15"), "USD") == (
        item.read_at,
        item.sku,
        item.price,
        item.currency,
    )


def test_a_learned_item_is_never_a_stock_claim(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    The stock guard, stock watches and restore links read the catalog without unread items:
    a cart holding only event-learned products has no stock read.
    """
    # given
    added = track("Product Added", cart_id="c-1", **mug_viewed()["properties"])
    send(client, store, added)
    # when
    with container.uow_factory() as uow:
        record = uow.carts.get(store.store.id, "c-1")
        assert record is not None
        stock = cart_stock(uow, record)
        known = uow.catalog.get_many(store.store.id, ["v:41", "s:MUG-BLUE"])
    # then
    assert {} == known
    assert [None] == [s.read_at for s in stock]


def test_a_platform_read_rules_and_events_only_fill_its_blanks(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    After the catalog API states the item (out of stock, its own title and price, no
    picture), a later event changes none of that, gives the picture, and the feed says
    out of stock.
    """
    # given
    send(client, store, mug_viewed())
    stated = {
        "product_id": "7",
        "variant_id": "41",
        "title": "Stoneware Mug - Blue",
        "available": False,
        "price": "18",
        "currency": "USD",
        "url": PAGE,
    }
    response = client.put("/v1/catalog/items", json=[stated], headers=auth(store.secret_key))
    assert 200 == response.status_code, response.text
    # when
    send(client, store, mug_viewed(properties={"name": "Cheap Mug", "price": 1}))
    # then
    item = learned(container, store)
    assert item is not None
    assert ("Stoneware Mug - Blue", Decimal("18"), PICTURE, False) == (
        item.title,
        item.price,
        item.image_url,
        item.available,
    )
    assert item.read_at is not None
    entry = google_items(client, store)["41"]
    assert ("out_of_stock", "18.00 USD") == (entry["availability"], entry["price"])


def test_the_newest_event_speaks_for_an_unread_item_whatever_the_arrival_order(
    client: TestClient, store: CreatedStore, container: Container, clock: SimulatedClock
) -> None:
    """
    A newer event's title and price replace an older one's; an older event arriving later
    changes nothing it disagrees with.
    """
    # given
    now = clock.now()
    newer = mug_viewed(at=now, properties={"name": "Mug 2", "price": 20})
    older = mug_viewed(at=now - timedelta(hours=1), properties={"name": "Mug 1", "price": 10})
    # when
    send(client, store, newer)
    send(client, store, older)
    # then
    item = learned(container, store)
    assert item is not None
    assert ("Mug 2 - Blue", Decimal("20")) == (item.title, item.price)


def test_one_batch_teaches_every_item_it_shows_new_and_known_alike(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    A batch naming a known item and two new ones (one of them twice) learns all three in
    its one write, each with its own details, the repeated one with its newest.
    """
    # given
    send(client, store, mug_viewed())
    # when
    send(
        client,
        store,
        mug_viewed(properties={"price": 16}),
        mug_viewed(properties={"variant_id": "42", "variant": "Red", "price": 17}),
        mug_viewed(properties={"variant_id": "43", "variant": "Green", "price": 18}),
        mug_viewed(properties={"variant_id": "43", "variant": "Green", "price": 19}),
    )
    # then
    items = {key: learned(container, store, key) for key in ("v:41", "v:42", "v:43")}
    assert {
        "v:41": ("Mug - Blue", Decimal("16")),
        "v:42": ("Mug - Red", Decimal("17")),
        "v:43": ("Mug - Green", Decimal("19")),
    } == {key: (item.title, item.price) for key, item in items.items() if item is not None}


def test_links_off_the_store_domains_bots_and_rejected_events_teach_nothing(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    Anyone can send storefront events: a product page on another site is not taken; a bot's
    views and an event the cart model rejects add no item.
    """
    # given
    bot = mug_viewed(anonymous_id="bot-1", properties={"product_id": "8", "variant_id": "80"})
    bot["context"] = {"userAgent": "Mozilla/5.0 (compatible; Google-StoreBot/1.0)"}
    # when
    send(client, store, mug_viewed(properties={"url": "https://evil.example.net/mug"}), bot)
    rejected = track("Product Added", cart_id="c-2", product_id="9", variant_id="90", quantity=0)
    client.post("/v1/batch", json={"batch": [rejected]}, headers=auth(store.secret_key))
    # then
    item = learned(container, store)
    assert item is not None
    assert (None, "Mug - Blue") == (item.url, item.title)
    assert learned(container, store, "v:80") is None
    assert learned(container, store, "v:90") is None
    assert "41" not in google_items(client, store)  # no page link: left out of the feed
