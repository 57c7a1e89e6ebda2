"""
Product feeds on each database: the catalog API takes the feed details (and refuses bad ones),
the upsert keeps them through a stock-only write, `GET /feeds/{store}/google.xml` parses as
XML with Google's required attributes and values, `meta.csv` parses with Meta's columns, both
stream, both answer 304 to a current poller, and `/v1/feeds/check` lists the abandoned carts'
lines that differ from the feed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.domain.cart import CartStatus, new_cart
from cartback.domain.catalog import CatalogItem
from cartback.domain.events import LineItem, Stage
from cartback.domain.ports import CartRecord
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services.feeds import META_COLUMNS
from cartback.services.stores import CreatedStore
from helpers import assert_problem, auth

G = "{http://base.google.com/ns/1.0}"
PAGE = "https://shop.example.com/products/mug"
REQUIRED = ("id", "title", "description", "link", "image_link", "price", "availability")
GOOGLE_AVAILABILITY = {"in_stock", "out_of_stock", "preorder", "backorder"}


def put(client: TestClient, store: CreatedStore, *items: dict[str, Any]) -> Any:
    return client.put("/v1/catalog/items", json=list(items), headers=auth(store.secret_key))


def mug(**fields: Any) -> dict[str, Any]:
    """
    Variant v-1 of the mug (product p-1), in stock, priced, with a page and a picture.
    """
    return {
        "product_id": "p-1",
        "variant_id": "v-1",
        "title": "Mug - Blue",
        "available": True,
        "price": "15",
        "currency": "USD",
        "url": PAGE,
        "image_url": "https://cdn.example.com/mug.jpg",
        **fields,
    }


def google_items(body: bytes) -> list[dict[str, str]]:
    root = ET.fromstring(body)  # noqa: S314 (our own feed, not untrusted input)
    assert ("rss", "2.0") == (root.tag, root.get("version"))
    return [
        {child.tag.removeprefix(G): child.text or "" for child in element}
        for element in root.iter("item")
    ]


def stored(container: Container, store: CreatedStore, key: str = "v:v-1") -> CatalogItem | None:
    with container.uow_factory() as uow:
        return uow.catalog.get_many(store.store.id, [key]).get(key)


# --- the catalog's feed details ------------------------------------------------------------


def test_feed_details_are_written_and_kept_by_a_stock_only_write(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    Description, brand, GTIN (leading zero kept) and MPN are stored; a later write without
    them (stock only) keeps them, in the SQL upsert itself.
    """
    # given
    details = {"description": "Blue.", "brand": "Acme", "gtin": "036000291452", "mpn": "M-1"}
    assert 200 == put(client, store, mug(**details)).status_code
    # when
    response = put(client, store, {"product_id": "p-1", "variant_id": "v-1", "available": False})
    # then
    assert 200 == response.status_code, response.text
    item = stored(container, store)
    assert item is not None
    assert (False, "Blue.", "Acme", "036000291452", "M-1") == (
        item.available,
        item.description,
        item.brand,
        item.gtin,
        item.mpn,
    )


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"gtin": "036000291453"}, "[0].gtin"),
        ({"gtin": 36000291452}, "[0].gtin"),
        ({"gtin": "12345"}, "[0].gtin"),
        ({"brand": "b" * 201}, "[0].brand"),
        ({"mpn": "m" * 71}, "[0].mpn"),
        ({"description": ""}, "[0].description"),
        ({"description": "d" * 5001}, "[0].description"),
        ({"brand": "a\x00b"}, "[0].brand"),
    ],
)
def test_bad_feed_details_are_refused_and_nothing_is_written(
    client: TestClient,
    store: CreatedStore,
    container: Container,
    fields: dict[str, Any],
    path: str,
) -> None:
    """
    A wrong check digit, a number, a short GTIN, an over-long brand or MPN, an empty or
    over-long description, a NUL: 400 naming the field, and no item written.
    """
    # when
    response = put(client, store, mug(**fields))
    # then
    problem = assert_problem(response, 400)
    assert path in [e["path"] for e in problem["errors"]], problem
    assert stored(container, store) is None


# --- the feeds -----------------------------------------------------------------------------


def test_the_google_feed_lists_every_listable_item_with_allowed_values(
    client: TestClient, store: CreatedStore
) -> None:
    """
    Three variants of one product, one on sale, one pre-order with a date, one with a JPY
    price, an item without a page and one without a picture (left out, counted in the
    header): every item has
    Google's required attributes with allowed values; variants share `item_group_id`.
    """
    # given
    release = "2026-12-24T00:00:00+00:00"
    put(
        client,
        store,
        mug(price="12.5", compare_at_price="15", brand="Acme"),
        mug(variant_id="v-2", preorder=True, available=False, release_at=release),
        mug(variant_id="v-3", price="1500", currency="JPY", gtin="8808992787426"),
        mug(product_id="p-2", variant_id=None, url=None),
        mug(product_id="p-3", variant_id=None, image_url=None),
    )
    # when
    response = client.get(f"/feeds/{store.store.id}/google.xml")
    # then
    assert 200 == response.status_code, response.text
    assert response.headers["content-type"].startswith("application/xml")
    assert "2" == response.headers["x-feed-items-left-out"]
    items = google_items(response.content)
    assert ["v-1", "v-2", "v-3"] == [i["id"] for i in items]
    for found in items:
        assert set(REQUIRED) <= set(found), found
        assert found["availability"] in GOOGLE_AVAILABILITY
        assert "new" == found["condition"]
        assert "p-1" == found["item_group_id"]
    by_id = {i["id"]: i for i in items}
    assert ("15.00 USD", "12.50 USD", "Acme") == (
        by_id["v-1"]["price"],
        by_id["v-1"]["sale_price"],
        by_id["v-1"]["brand"],
    )
    assert ("preorder", "2026-12-24T00:00+00:00", "no") == (
        by_id["v-2"]["availability"],
        by_id["v-2"]["availability_date"],
        by_id["v-2"]["identifier_exists"],
    )
    assert ("1500 JPY", "8808992787426") == (by_id["v-3"]["price"], by_id["v-3"]["gtin"])
    assert "identifier_exists" not in by_id["v-3"]


def test_the_google_feed_escapes_markup_in_titles(client: TestClient, store: CreatedStore) -> None:
    """
    `&`, `<`, `>` and `"` in a title come back unchanged after parsing.
    """
    put(client, store, mug(title='Mug <"Tom & Jerry">'))
    response = client.get(f"/feeds/{store.store.id}/google.xml")
    assert ['Mug <"Tom & Jerry">'] == [i["title"] for i in google_items(response.content)]


def test_the_meta_feed_parses_with_metas_columns_and_values(
    client: TestClient, store: CreatedStore
) -> None:
    """
    Meta's header row, its availability words, the merchant's cost never shown.
    """
    # given
    put(
        client,
        store,
        mug(title="Mug, large", cost="4"),
        mug(variant_id="v-2", available=False),
        mug(variant_id="v-3", quantity=0),
    )
    # when
    response = client.get(f"/feeds/{store.store.id}/meta.csv")
    # then
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/csv")
    text = response.content.decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(META_COLUMNS) == list(rows[0])
    assert [
        ("v-1", "Mug, large", "in stock", "15.00 USD", "p-1"),
        ("v-2", "Mug - Blue", "out of stock", "15.00 USD", "p-1"),
        ("v-3", "Mug - Blue", "available for order", "15.00 USD", "p-1"),
    ] == [(r["id"], r["title"], r["availability"], r["price"], r["item_group_id"]) for r in rows]
    assert "4.00" not in text


@pytest.mark.parametrize("feed", ["google.xml", "meta.csv"])
def test_an_unknown_store_has_no_feed(client: TestClient, feed: str) -> None:
    """
    404 as a problem, for any feed.
    """
    assert_problem(client.get(f"/feeds/st_nope/{feed}"), 404)


@pytest.mark.parametrize("feed", ["google.xml", "meta.csv"])
def test_a_current_poller_gets_304_and_a_write_changes_the_etag(
    client: TestClient, store: CreatedStore, clock: SimulatedClock, feed: str
) -> None:
    """
    The ETag and Last-Modified answer 304 (If-None-Match, If-Modified-Since); a later catalog
    write makes both stale.
    """
    # given
    put(client, store, mug())
    url = f"/feeds/{store.store.id}/{feed}"
    first = client.get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    # when
    by_tag = client.get(url, headers={"If-None-Match": etag})
    by_date = client.get(url, headers={"If-Modified-Since": modified})
    clock.advance(timedelta(minutes=5))
    put(client, store, mug(price="16"))
    after = client.get(url, headers={"If-None-Match": etag})
    after_date = client.get(url, headers={"If-Modified-Since": modified})
    # then
    assert (304, 304) == (by_tag.status_code, by_date.status_code)
    assert b"" == by_tag.content
    assert etag == by_tag.headers["etag"]
    assert (200, 200) == (after.status_code, after_date.status_code)
    assert etag != after.headers["etag"]


def test_a_mismatched_etag_wins_over_a_current_date(
    client: TestClient, store: CreatedStore
) -> None:
    """
    If-None-Match decides when present (RFC 9110): another tag gets the feed.
    """
    put(client, store, mug())
    url = f"/feeds/{store.store.id}/google.xml"
    modified = client.get(url).headers["last-modified"]
    response = client.get(url, headers={"If-None-Match": '"other"', "If-Modified-Since": modified})
    assert 200 == response.status_code


def test_the_feed_is_sent_in_several_chunks(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    The ASGI response comes as several body messages (head, a page of items, tail), not one
    document assembled first.
    """
    # given
    put(client, store, mug(), mug(variant_id="v-2"))
    app = client.app
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/feeds/{store.store.id}/google.xml",
        "raw_path": f"/feeds/{store.store.id}/google.xml".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    bodies: list[bytes] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client never disconnects; the response ends this
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            bodies.append(message["body"])

    # when
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    # then
    assert len(bodies) >= 3
    assert 2 == len(google_items(b"".join(bodies)))


# --- the consistency check -----------------------------------------------------------------


def _abandon(container: Container, store: CreatedStore, key: str, *lines: LineItem) -> None:
    now = container.clock.now()
    cart = replace(
        new_cart(key=key, currency="USD"),
        lines=lines,
        stage=Stage.CART,
        status=CartStatus.ABANDONED,
        last_activity_at=now - timedelta(hours=1),
        abandoned_at=now,
    )
    record = CartRecord(id=new_id("ca"), store_id=store.store.id, cart=cart, created_at=now)
    with container.uow_factory() as uow:
        uow.carts.add([record], now=now)
        uow.commit()


def test_the_check_lists_the_lines_that_differ_from_the_feed(
    client: TestClient, store: CreatedStore, container: Container
) -> None:
    """
    One abandoned cart on a fixed catalog: a matching line, a product the catalog lacks, a
    title that differs, and an item without a price (not in the feed).
    """
    # given
    put(
        client,
        store,
        mug(),
        mug(variant_id="v-2", title="Plate"),
        mug(variant_id="v-4", price=None, currency=None),
    )
    _abandon(
        container,
        store,
        "cart-1",
        LineItem(product_id="p-1", variant_id="v-1", name="Mug", variant_name="Blue"),
        LineItem(product_id="p-9", name="Bowl"),
        LineItem(product_id="p-1", variant_id="v-2", name="Mug"),
        LineItem(product_id="p-1", variant_id="v-4", name="Mug - Blue"),
    )
    since = (container.clock.now() - timedelta(days=1)).isoformat()
    # when
    response = client.get(
        "/v1/feeds/check", params={"since": since}, headers=auth(store.secret_key)
    )
    # then
    assert 200 == response.status_code, response.text
    body = response.json()
    assert 3 == body["count"]
    assert [
        ("cart-1", 1, "p-9", "missing", None),
        ("cart-1", 2, "v-2", "title", "Plate"),
        ("cart-1", 3, "v-4", "not_in_feed", "no_price"),
    ] == [(m["cart_id"], m["line"], m["item_id"], m["kind"], m["feed_value"]) for m in body["data"]]


def test_the_check_needs_the_server_key_and_a_zoned_date(
    client: TestClient, store: CreatedStore
) -> None:
    """
    No key: 401. A date without a time zone: 400.
    """
    assert_problem(client.get("/v1/feeds/check", params={"since": "2026-11-01T00:00:00Z"}), 401)
    naive = client.get(
        "/v1/feeds/check", params={"since": "2026-11-01T00:00:00"}, headers=auth(store.secret_key)
    )
    assert_problem(naive, 400)


def test_prices_are_exact_in_the_feed(client: TestClient, store: CreatedStore) -> None:
    """
    A decimal string's amount is written rounded half-even to the cents, never via float.
    """
    put(client, store, mug(price="0.125"))
    items = google_items(client.get(f"/feeds/{store.store.id}/google.xml").content)
    assert [f"{Decimal('0.12')} USD"] == [i["price"] for i in items]
