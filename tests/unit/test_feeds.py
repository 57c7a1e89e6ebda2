"""
Product feeds without a database: the feed entry of a catalog item (ids, prices, sale prices,
availability, identifiers, what is left out), the Google XML and Meta CSV built from it, the
streaming in pages, the consistency check against abandoned carts, and the feed details the
platform translators read (descriptions without HTML, brands, GTINs).
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cartback.domain.cart import CartStatus, new_cart
from cartback.domain.catalog import CatalogItem, is_gtin, merged
from cartback.domain.events import LineItem, Stage
from cartback.domain.feeds import (
    Availability,
    FeedEntry,
    LeftOut,
    MismatchKind,
    feed_entry,
    price_text,
)
from cartback.domain.ports import CartRecord
from cartback.domain.stores import Platform, Store
from cartback.services.feeds import (
    META_COLUMNS,
    catalog_pages,
    feed_mismatches,
    google_feed,
    meta_feed,
)
from cartback.sources._magento_products import product_item as magento_item
from cartback.sources._prices import description
from cartback.sources._shopify_products import product_items as shopify_items
from cartback.sources._woocommerce_products import product_item as woocommerce_item
from fakes import FakeDatabase, FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
G = "{http://base.google.com/ns/1.0}"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "feeds"


def item(**overrides: Any) -> CatalogItem:
    """
    Variant v-1 of product p-1, in stock, priced, with a page and a picture.
    """
    values: dict[str, Any] = {
        "product_id": "p-1",
        "variant_id": "v-1",
        "title": "Mug - Blue",
        "available": True,
        "price": Decimal("15"),
        "currency": "USD",
        "url": "https://shop.example.com/products/mug",
        "image_url": "https://cdn.example.com/mug.jpg",
        "read_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return CatalogItem(**values)


def entry(**overrides: Any) -> FeedEntry:
    found = feed_entry(item(**overrides))
    assert isinstance(found, FeedEntry)
    return found


def store(**overrides: Any) -> Store:
    values: dict[str, Any] = {
        "id": "st_1",
        "name": "Mugs & Co",
        "platform": Platform.CUSTOM,
        "domains": ("shop.example.com",),
        "currency": "USD",
        "timezone": "UTC",
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return Store(**values)


def factory_with(*items: CatalogItem, store_id: str = "st_1") -> FakeUnitOfWorkFactory:
    database = FakeDatabase()
    for found in items:
        database.catalog[(store_id, found.key)] = found
    return FakeUnitOfWorkFactory(database)


def google_items(chunks: list[bytes]) -> list[dict[str, str]]:
    root = ET.fromstring(b"".join(chunks))  # noqa: S314 (our own feed)
    return [
        {child.tag.removeprefix(G): child.text or "" for child in element}
        for element in root.iter("item")
    ]


# --- the entry -----------------------------------------------------------------------------


def test_a_variant_is_listed_by_its_variant_id_in_its_products_group() -> None:
    """
    `id` is the variant id (what cart lines and conversion events carry); the product id
    groups the variants.
    """
    assert ("v-1", "p-1") == (entry().id, entry().item_group_id)


def test_a_product_without_variants_is_listed_by_its_product_id_without_a_group() -> None:
    """
    No variant: the product id, and no `item_group_id` (Google wants it only for variants).
    """
    assert ("p-1", None) == (entry(variant_id=None).id, entry(variant_id=None).item_group_id)


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (Decimal("15"), "USD", "15.00 USD"),
        (Decimal("19.995"), "EUR", "20.00 EUR"),
        (Decimal("1500"), "JPY", "1500 JPY"),
        (Decimal("1500.4"), "JPY", "1500 JPY"),
        (Decimal("2.5"), "KWD", "2.500 KWD"),
    ],
)
def test_prices_carry_the_currencys_own_decimals(amount: Decimal, currency: str, text: str) -> None:
    """
    `<amount> <ISO 4217>`, with two decimals for USD, none for JPY, three for KWD.
    """
    assert text == price_text(amount, currency)


def test_on_sale_the_price_is_the_was_price_and_the_sale_price_what_the_shopper_pays() -> None:
    """
    12.00 cut from 15.00: `price` 15.00 USD, `sale_price` 12.00 USD.
    """
    found = entry(price=Decimal("12"), compare_at_price=Decimal("15"))
    assert ("15.00 USD", "12.00 USD") == (found.price, found.sale_price)


def test_a_was_price_at_or_below_the_price_is_no_sale() -> None:
    """
    A leftover compare-at price no higher than the price shows no sale.
    """
    found = entry(price=Decimal("15"), compare_at_price=Decimal("15"))
    assert ("15.00 USD", None) == (found.price, found.sale_price)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, Availability.IN_STOCK),
        ({"quantity": 3}, Availability.IN_STOCK),
        ({"available": False}, Availability.OUT_OF_STOCK),
        ({"quantity": 0}, Availability.BACKORDER),
        ({"preorder": True, "available": False}, Availability.PREORDER),
    ],
)
def test_availability_takes_googles_values(fields: dict[str, Any], expected: Availability) -> None:
    """
    In stock, out of stock, orderable with none in stock (a back-order), a pre-order.
    """
    assert expected == entry(**fields).availability


def test_a_preorder_carries_its_release_date_and_an_item_in_stock_none() -> None:
    """
    `availability_date` from `release_at`, only for a pre-order or back-order.
    """
    release = NOW + timedelta(days=20)
    assert release == entry(preorder=True, release_at=release).availability_date
    assert entry(release_at=release).availability_date is None


def test_the_description_falls_back_to_the_title_and_identifiers_are_kept() -> None:
    """
    No description: the title. Brand, GTIN and MPN pass through; `identifier_exists` is
    false only when none is known.
    """
    bare = entry()
    known = entry(description="Blue stoneware.", brand="Acme", gtin="036000291452", mpn="M-1")
    assert ("Mug - Blue", False) == (bare.description, bare.identifier_exists)
    assert ("Blue stoneware.", "Acme", "036000291452", "M-1", True) == (
        known.description,
        known.brand,
        known.gtin,
        known.mpn,
        known.identifier_exists,
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"url": None}, LeftOut.NO_LINK),
        ({"image_url": None}, LeftOut.NO_IMAGE),
        ({"price": None, "currency": None}, LeftOut.NO_PRICE),
        ({"title": None}, LeftOut.NO_TITLE),
        ({"variant_id": "v" * 51}, LeftOut.LONG_ID),
    ],
)
def test_items_google_would_refuse_are_left_out(fields: dict[str, Any], reason: LeftOut) -> None:
    """
    No link, no image, no price, no title, or an id over 50 characters: no entry, and why.
    """
    assert reason == feed_entry(item(**fields))


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("036000291452", True),
        ("8808992787426", True),
        ("96385074", True),
        ("10036000291459", True),
        ("036000291453", False),
        ("12345678901", False),
        ("03600029145a", False),
    ],
)
def test_gtins_need_a_valid_length_and_check_digit(value: str, valid: bool) -> None:
    """
    GTIN-8/12/13/14 with the GS1 check digit; other lengths and wrong digits are refused.
    """
    assert valid == is_gtin(value)


def test_a_catalog_item_refuses_an_invalid_gtin() -> None:
    """
    The catalog never stores a GTIN that Google would refuse.
    """
    with pytest.raises(ValueError, match="gtin"):
        item(gtin="036000291453")


def test_a_read_without_feed_details_keeps_the_stored_ones() -> None:
    """
    A stock-only read after one with a description, brand, GTIN and MPN keeps them.
    """
    old = item(description="Blue.", brand="Acme", gtin="036000291452", mpn="M-1")
    new = merged(old, item(available=False))
    assert ("Blue.", "Acme", "036000291452", "M-1") == (
        new.description,
        new.brand,
        new.gtin,
        new.mpn,
    )


# --- the documents -------------------------------------------------------------------------


def test_the_google_feed_escapes_what_titles_hold() -> None:
    """
    `&`, `<`, `>` and `"` in a title and description come back unchanged after parsing, and
    a control character XML cannot carry is dropped rather than breaking the document.
    """
    # given
    title = 'Mug <"Tom & Jerry"> \x0b edition'
    factory = factory_with(item(title=title, description="A & B > C"))
    # when
    found = google_items(list(google_feed(uow_factory=factory, store=store(), home="x")))
    # then
    assert [('Mug <"Tom & Jerry">  edition', "A & B > C")] == [
        (i["title"], i["description"]) for i in found
    ]


def test_the_google_feed_has_the_sample_feeds_shape() -> None:
    """
    Google's own sample feed and ours are RSS 2.0 with the `g:` namespace, one `<item>` per
    product in `channel`, and prices written alike (`159.00 USD`).
    """
    # given
    sample = ET.parse(FIXTURES / "google_merchant_sample_feed.xml").getroot()  # noqa: S314
    factory = factory_with(item())
    # when
    document = b"".join(google_feed(uow_factory=factory, store=store(), home="x"))
    ours = ET.fromstring(document)  # noqa: S314 (our own feed)
    # then
    assert (sample.tag, sample.get("version")) == (ours.tag, ours.get("version"))
    sample_price = sample.find(f"channel/item/{G}price")
    our_price = ours.find(f"channel/item/{G}price")
    assert sample_price is not None
    assert our_price is not None
    assert sample_price.text is not None
    assert our_price.text is not None
    assert sample_price.text.split(" ")[1] == our_price.text.split(" ")[1]
    assert len(sample_price.text.split(".")[1]) == len(our_price.text.split(".")[1])


def test_the_meta_feed_has_metas_columns_and_values() -> None:
    """
    The header is Meta's columns; availability in Meta's words; a comma, quote and line
    break in a title survive RFC 4180 quoting.
    """
    # given
    factory = factory_with(
        item(title='Mug, "big"\nblue', available=False),
        item(variant_id="v-2", preorder=True),
        item(variant_id="v-3", quantity=0),
    )
    # when
    text = b"".join(meta_feed(uow_factory=factory, store=store())).decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    # then
    assert list(META_COLUMNS) == list(csv.reader(io.StringIO(text)).__next__())
    assert [
        ('Mug, "big"\nblue', "out of stock"),
        ("Mug - Blue", "preorder"),
        ("Mug - Blue", "available for order"),
    ] == [(r["title"], r["availability"]) for r in rows]
    assert "\r\n" in text


def test_the_feed_is_read_in_pages_and_streamed_chunk_by_chunk() -> None:
    """
    2,500 items in pages of 1,000: three reads, and the XML comes in more than three chunks
    (head, one per page, tail), never one document built in memory.
    """
    # given
    items = [item(variant_id=f"v-{n:05}") for n in range(2500)]
    factory = factory_with(*items)
    # when
    pages = list(catalog_pages(uow_factory=factory, store_id="st_1", page_size=1000))
    chunks = list(google_feed(uow_factory=factory, store=store(), home="x", page_size=1000))
    # then
    assert [1000, 1000, 500] == [len(p) for p in pages]
    assert 5 == len(chunks)
    assert 2500 == len(google_items(chunks))


# --- the consistency check -----------------------------------------------------------------


def _abandoned(database: FakeDatabase, key: str, *lines: LineItem) -> None:
    cart = replace(
        new_cart(key=key, currency="USD"),
        lines=lines,
        stage=Stage.CART,
        status=CartStatus.ABANDONED,
        abandoned_at=NOW,
    )
    record = CartRecord(id=f"ca_{key}", store_id="st_1", cart=cart, created_at=NOW)
    database.carts[record.id] = record


def test_the_check_lists_each_way_a_cart_line_differs_from_the_feed() -> None:
    """
    A fixed catalog and one abandoned cart: a matching line (by "Product - Variant"), a
    product missing from the catalog, another title, another image, a line known only by
    SKU (another id), and an item left out for lack of a price.
    """
    # given
    factory = factory_with(
        item(),
        item(variant_id="v-2", title="Plate"),
        item(variant_id="v-3", sku="SKU-3", image_url="https://cdn.example.com/other.jpg"),
        item(variant_id="v-4", price=None, currency=None),
    )
    mug = "https://cdn.example.com/mug.jpg?v=17"
    _abandoned(
        factory.database,
        "cart-1",
        LineItem(product_id="p-1", variant_id="v-1", name="Mug", variant_name="Blue"),
        LineItem(product_id="p-9", name="Bowl"),
        LineItem(product_id="p-1", variant_id="v-2", name="Mug"),
        LineItem(product_id="p-1", variant_id="v-3", name="Mug - Blue", image_url=mug),
        LineItem(sku="SKU-3", name="Mug - Blue"),
        LineItem(product_id="p-1", variant_id="v-4", name="Mug - Blue"),
    )
    # when
    with factory() as uow:
        found = feed_mismatches(uow, "st_1", NOW - timedelta(days=1))
    # then
    assert [
        (1, "p-9", MismatchKind.MISSING, None),
        (2, "v-2", MismatchKind.TITLE, "Plate"),
        (3, "v-3", MismatchKind.IMAGE, "https://cdn.example.com/other.jpg"),
        (4, "SKU-3", MismatchKind.ID, "v-3"),
        (5, "v-4", MismatchKind.NOT_IN_FEED, "no_price"),
    ] == [(m.line, m.item_id, m.kind, m.feed_value) for m in found]
    assert {"cart-1"} == {m.cart_id for m in found}


def test_the_check_ignores_carts_abandoned_before_the_date() -> None:
    """
    `since` after the abandonment: nothing to check.
    """
    factory = factory_with(item())
    _abandoned(factory.database, "cart-1", LineItem(product_id="p-9", name="Bowl"))
    with factory() as uow:
        assert [] == feed_mismatches(uow, "st_1", NOW + timedelta(seconds=1))


# --- the platforms' feed details -----------------------------------------------------------


def test_html_descriptions_become_plain_text() -> None:
    """
    Tags and scripts go, entities are decoded, blocks keep their own lines.
    """
    html = "<p>Blue&nbsp;<b>stoneware</b> &amp; glaze</p><script>x()</script><ul><li>1 &lt; 2</li>"
    assert "Blue stoneware & glaze\n1 < 2" == description(html)


def test_shopify_products_give_description_brand_and_valid_barcodes() -> None:
    """
    `body_html` as text, `vendor` as brand, a variant's valid `barcode` as GTIN; an internal
    barcode is no GTIN, and the SKU is never an MPN.
    """
    # given
    product = {
        "id": 1,
        "title": "Mug",
        "body_html": "<p>Blue <em>mug</em></p>",
        "vendor": "Acme",
        "variants": [
            {"id": 11, "sku": "MUG-1", "barcode": "036000291452", "price": "15.00"},
            {"id": 12, "sku": "MUG-2", "barcode": "INTERNAL-7", "price": "15.00"},
        ],
    }
    # when
    found = shopify_items(product, fallback_at=NOW)
    # then
    assert [
        ("Blue mug", "Acme", "036000291452", None),
        ("Blue mug", "Acme", None, None),
    ] == [(i.description, i.brand, i.gtin, i.mpn) for i in found]


def test_woocommerce_products_give_description_brand_and_global_unique_id() -> None:
    """
    `description` as text (else `short_description`), `brands[0].name` (else a "Brand"
    attribute), `global_unique_id` as GTIN.
    """
    # given
    base = {"id": 5, "name": "Mug", "status": "publish", "stock_status": "instock"}
    first = {
        **base,
        "description": "<p>Blue &amp; white</p>",
        "brands": [{"id": 3, "name": "Acme"}],
        "global_unique_id": "8808992787426",
    }
    second = {
        **base,
        "short_description": "<p>Short</p>",
        "attributes": [{"name": "Brand", "options": ["Maker"]}],
    }
    # when
    found = [woocommerce_item(p, received_at=NOW) for p in (first, second)]
    # then
    assert [
        ("Blue & white", "Acme", "8808992787426"),
        ("Short", "Maker", None),
    ] == [(i.description, i.brand, i.gtin) for i in found]


def test_magento_products_give_their_custom_attributes() -> None:
    """
    `description`, a text `manufacturer` (an option id is not a brand), `ean`, `mpn`.
    """
    # given
    attributes = [
        {"attribute_code": "description", "value": "<p>Bag</p>"},
        {"attribute_code": "manufacturer", "value": "Acme"},
        {"attribute_code": "ean", "value": "5030697019233"},
        {"attribute_code": "mpn", "value": "AC-9"},
    ]
    product = {"id": 1, "sku": "MB01", "name": "Bag", "custom_attributes": attributes}
    option_id = {
        **product,
        "custom_attributes": [{"attribute_code": "manufacturer", "value": "213"}],
    }
    # when
    found = magento_item(product, received_at=NOW, currency="USD")
    numeric = magento_item(option_id, received_at=NOW, currency="USD")
    # then
    assert ("Bag", "Acme", "5030697019233", "AC-9") == (
        found.description,
        found.brand,
        found.gtin,
        found.mpn,
    )
    assert numeric.brand is None
