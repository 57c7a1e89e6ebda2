"""
The catalog's pure rules: what a new read of an item changed, which cart lines are watched,
how a line finds its item, the stock fact the guards get, and what storefront events teach.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cartback.domain.catalog import (
    CatalogChange,
    CatalogItem,
    WatchReason,
    changes,
    find_item,
    is_stale,
    item_stock,
    learned,
    learned_item,
    line_keys,
    merged,
    watch_reason,
)
from cartback.domain.events import LineItem

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def item(**overrides: object) -> CatalogItem:
    values: dict[str, object] = {
        "product_id": "p-1",
        "variant_id": "v-1",
        "available": False,
        "read_at": NOW,
        "updated_at": NOW,
    }
    values.update(overrides)
    return CatalogItem(**values)  # type: ignore[arg-type]


def test_an_unavailable_item_that_becomes_available_is_back_in_stock() -> None:
    """
    not available → available (no count) is `back_in_stock`.
    """
    assert {CatalogChange.BACK_IN_STOCK} == changes(item(), item(available=True))


def test_a_count_rising_from_zero_is_back_in_stock() -> None:
    """
    Available with 0 units is not in stock; 3 units is.
    """
    old = item(available=True, quantity=0)
    assert {CatalogChange.BACK_IN_STOCK} == changes(old, replace(old, quantity=3))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"available": True}, {"available": True, "quantity": 9}),
        ({"available": True}, {"available": False}),
        ({}, {"title": "Renamed"}),
        ({"available": True, "quantity": 2}, {"available": True, "quantity": 1}),
    ],
)
def test_other_reads_change_nothing(old: dict[str, object], new: dict[str, object]) -> None:
    """
    Staying in stock, selling out, or a changed title tell no flow anything.
    """
    assert frozenset() == changes(item(**old), item(**new))


def test_a_first_read_changes_nothing() -> None:
    """
    Nobody can have waited for an item the catalog did not know.
    """
    assert frozenset() == changes(None, item(available=True))


def test_a_new_release_date_of_a_preorder_item_is_a_release_date_change() -> None:
    """
    Pre-order with 10 Dec → pre-order with 20 Dec; also a date announced for the first time.
    """
    first = item(preorder=True, release_at=NOW + timedelta(days=13))
    later = replace(first, release_at=NOW + timedelta(days=23))
    assert {CatalogChange.RELEASE_DATE_CHANGED} == changes(first, later)
    assert {CatalogChange.RELEASE_DATE_CHANGED} == changes(replace(first, release_at=None), first)
    assert frozenset() == changes(first, replace(first, read_at=NOW + timedelta(hours=1)))


def test_a_preorder_item_that_is_no_longer_one_launched() -> None:
    """
    Pre-order → in stock is a launch (and back in stock); pre-order → not a pre-order and
    not available is a launch only.
    """
    first = item(preorder=True, release_at=NOW)
    assert {CatalogChange.LAUNCHED, CatalogChange.BACK_IN_STOCK} == changes(
        first, replace(first, preorder=False, available=True)
    )
    assert {CatalogChange.LAUNCHED} == changes(first, replace(first, preorder=False))


def test_a_read_older_than_the_stored_one_is_stale() -> None:
    """
    An older `updated_at` is a late delivery; the same or a newer one is not.
    """
    stored = item()
    assert is_stale(stored, replace(stored, updated_at=NOW - timedelta(seconds=1)))
    assert not is_stale(stored, stored)
    assert not is_stale(None, stored)


def test_only_unavailable_and_preorder_lines_are_watched() -> None:
    """
    In stock, or unknown: no watch; sold out: `unavailable`; pre-order: `preorder`.
    """
    assert [None, None, WatchReason.UNAVAILABLE, WatchReason.PREORDER] == [
        watch_reason(None),
        watch_reason(item(available=True)),
        watch_reason(item(available=True, quantity=0)),
        watch_reason(item(available=True, preorder=True)),
    ]


def test_a_line_finds_its_variant_then_its_product_then_its_sku() -> None:
    """
    The variant's item wins; a product-level item or a SKU is the fallback.
    """
    variant, product = item(), item(variant_id=None, product_id="p-2", sku="MUG")
    items = {variant.key: variant, product.key: product, "s:MUG": product}
    assert ("v:v-1", "p:p-1", "s:X") == line_keys(
        LineItem(product_id="p-1", variant_id="v-1", sku="X")
    )
    assert variant == find_item(LineItem(product_id="p-1", variant_id="v-1"), items)
    assert product == find_item(LineItem(product_id="p-2", variant_id="v-9"), items)
    assert product == find_item(LineItem(sku="MUG"), items)
    assert find_item(LineItem(product_id="p-3"), items) is None


def test_a_storefront_line_with_a_shopify_variant_gid_finds_the_numbered_variant() -> None:
    """
    A Shopify storefront names the variant `gid://shopify/ProductVariant/41`; the catalog (from
    webhooks) knows it as `41`: the line still finds its item, its own key first.
    """
    numbered = item(variant_id="41", product_id="9001")
    line = LineItem(product_id="9001", variant_id="gid://shopify/ProductVariant/41")
    assert ("v:gid://shopify/ProductVariant/41", "v:41", "p:9001") == line_keys(line)
    assert numbered == find_item(line, {numbered.key: numbered})


def test_the_guards_see_unknown_and_preorder_items_as_never_read() -> None:
    """
    Unknown and pre-order items are unconfirmed; others carry their read and count.
    """
    assert (None, None) == (
        item_stock("k", None).read_at,
        item_stock("k", item(preorder=True)).read_at,
    )
    stock = item_stock("k", item(available=True, quantity=2))
    assert (True, NOW, 2) == (stock.in_stock, stock.read_at, stock.quantity)
    assert not item_stock("k", item(available=True, quantity=0)).in_stock


def test_an_item_refuses_naive_times_and_a_missing_product() -> None:
    """
    Times must be aware; every item has a product id.
    """
    with pytest.raises(ValueError, match="read_at"):
        item(read_at=datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="product_id"):
        item(product_id="")


def priced(**overrides: object) -> CatalogItem:
    values: dict[str, object] = {
        "price": Decimal("19.99"),
        "compare_at_price": Decimal("24.99"),
        "cost": Decimal("8.00"),
        "currency": "EUR",
        "category": "Mugs",
        "url": "https://shop.example.com/products/mug",
        "image_url": "https://cdn.example.com/mug.jpg",
    }
    values.update(overrides)
    return item(**values)


def test_a_price_change_is_no_stock_change_and_is_not_stale() -> None:
    """
    Only the price moved (same time or later): no flow is told, and the read is written.
    """
    old = priced(available=True)
    new = replace(old, price=Decimal("14.99"))
    assert frozenset() == changes(old, new)
    assert not is_stale(old, new)
    assert is_stale(old, replace(new, updated_at=NOW - timedelta(seconds=1)))


def test_a_read_without_prices_keeps_the_known_ones() -> None:
    """
    An inventory-only read (no prices, no page details) keeps them, and takes its stock.
    """
    old = priced()
    new = item(available=True, quantity=4)
    assert replace(old, available=True, quantity=4) == merged(old, new)
    assert new == merged(None, new)


def test_a_new_price_restates_the_sale_and_keeps_the_cost() -> None:
    """
    A price without a "was" price ends the sale; the cost it does not carry is kept.
    """
    new = item(price=Decimal("24.99"), currency="EUR")
    result = merged(priced(), new)
    assert (Decimal("24.99"), None, Decimal("8.00"), "EUR") == (
        result.price,
        result.compare_at_price,
        result.cost,
        result.currency,
    )
    assert not result.on_sale
    assert priced().on_sale


def test_amounts_in_another_currency_are_dropped_not_mixed() -> None:
    """
    A read in USD with only a cost: the EUR price is not kept beside it.
    """
    result = merged(priced(), item(cost=Decimal("9.00"), currency="USD"))
    assert (None, None, Decimal("9.00"), "USD") == (
        result.price,
        result.compare_at_price,
        result.cost,
        result.currency,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"price": Decimal("1")}, "currency"),
        ({"cost": Decimal("1")}, "currency"),
        ({"price": Decimal("-1"), "currency": "EUR"}, "price"),
        ({"price": Decimal("NaN"), "currency": "EUR"}, "price"),
        ({"price": Decimal("1"), "currency": "eur"}, "currency"),
        ({"compare_at_price": Decimal("2"), "currency": "EUR"}, "compare_at_price"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"image_url": "/relative.jpg"}, "image_url"),
        ({"url": "https://x.example/" + "a" * 2048}, "url"),
        ({"category": "c" * 501}, "category"),
    ],
)
def test_an_item_refuses_prices_without_currency_and_links_that_are_not_web_pages(
    fields: dict[str, object], message: str
) -> None:
    """
    Amounts need a currency and must be finite and not negative; a "was" price needs a
    price; links are http(s) of at most 2,048 characters.
    """
    with pytest.raises(ValueError, match=message):
        item(**fields)


# --- learned from storefront events ----------------------------------------------------------


def seen(**overrides: object) -> LineItem:
    values: dict[str, object] = {
        "product_id": "gid://shopify/Product/7",
        "variant_id": "gid://shopify/ProductVariant/41",
        "sku": "MUG-BLUE",
        "name": "Mug",
        "variant_name": "Blue",
        "unit_price": Decimal("15"),
        "url": "https://shop.example.com/products/mug",
        "image_url": "//cdn.example.com/mug.jpg",
        "category": "Kitchen",
    }
    values.update(overrides)
    return LineItem(**values)  # type: ignore[arg-type]


def test_an_event_line_becomes_an_unread_item_under_the_platform_ids() -> None:
    """
    Shopify's storefront ids become the webhooks' numbers, the variant is named after its
    product, a protocol-relative picture gets https, and nothing is said about stock.
    """
    got = learned_item(seen(), currency="USD", seen_at=NOW, domains=("shop.example.com",))
    assert got is not None
    assert ("v:41", "7", "Mug - Blue", "https://cdn.example.com/mug.jpg") == (
        got.key,
        got.product_id,
        got.title,
        got.image_url,
    )
    assert (None, False, Decimal("15"), "USD") == (
        got.read_at,
        got.available,
        got.price,
        got.currency,
    )


@pytest.mark.parametrize(
    ("overrides", "currency", "field", "expected"),
    [
        ({"url": "https://evil.example.net/mug"}, "USD", "url", None),
        (
            {"url": "https://www.shop.example.com/mug"},
            "USD",
            "url",
            "https://www.shop.example.com/mug",
        ),
        ({"url": "javascript:alert(1)"}, "USD", "url", None),
        ({"image_url": "data:image/png;base64,AA"}, "USD", "image_url", None),
        ({"name": "n" * 501, "variant_name": None}, "USD", "title", None),
        ({}, None, "price", None),
        ({}, "usd", "price", None),
        ({"variant_id": None}, "USD", "title", "Mug"),
    ],
)
def test_a_detail_the_catalog_would_refuse_is_dropped_not_the_item(
    overrides: dict[str, object], currency: str | None, field: str, expected: object
) -> None:
    """
    A page off the store's domains (a subdomain is on them), a script or data link, an
    over-long title, a price without a valid currency: that detail is left out; a product
    without variant keeps its plain name.
    """
    got = learned_item(
        seen(**overrides), currency=currency, seen_at=NOW, domains=("shop.example.com",)
    )
    assert got is not None
    assert expected == getattr(got, field)


def test_a_line_without_a_product_teaches_nothing() -> None:
    """
    A line known only by its SKU has no product to list.
    """
    line = seen(product_id=None, variant_id=None)
    assert learned_item(line, currency="USD", seen_at=NOW) is None


def unread(**overrides: object) -> CatalogItem:
    values: dict[str, object] = {"title": "Mug", "price": Decimal("10"), "currency": "USD"}
    return item(read_at=None, **{**values, **overrides})


def test_the_newest_event_speaks_for_an_unread_item_and_an_older_one_fills_blanks() -> None:
    """
    Newer: its title and price win, what it lacks is kept. Older: only blanks are filled.
    """
    old = unread(updated_at=NOW, url="https://shop.example.com/a")
    newer = unread(updated_at=NOW + timedelta(minutes=1), title="Mug 2", price=Decimal("12"))
    older = unread(
        updated_at=NOW - timedelta(minutes=1), title="Mug 0", image_url="https://c.example/m.jpg"
    )
    got = learned(old, newer)
    assert ("Mug 2", Decimal("12"), "https://shop.example.com/a") == (got.title, got.price, got.url)
    got = learned(old, older)
    assert ("Mug", Decimal("10"), "https://c.example/m.jpg", NOW) == (
        got.title,
        got.price,
        got.image_url,
        got.updated_at,
    )


def test_a_read_item_keeps_what_the_platform_said_and_its_stock() -> None:
    """
    An event never changes stock, title or price of a read item; it gives a missing picture,
    and a missing price only in the item's currency.
    """
    platform = item(available=True, quantity=3, title="Stoneware Mug", currency="EUR")
    event = unread(
        updated_at=NOW + timedelta(hours=1), image_url="https://c.example/m.jpg", available=False
    )
    got = learned(platform, event)
    assert (True, 3, NOW, "Stoneware Mug", None, "https://c.example/m.jpg") == (
        got.available,
        got.quantity,
        got.read_at,
        got.title,
        got.price,
        got.image_url,
    )
    same_money = learned(replace(platform, currency=None), event)
    assert (Decimal("10"), "USD") == (same_money.price, same_money.currency)
