"""
The catalog's pure rules: what a new read of an item changed, which cart lines are watched,
how a line finds its item, and the stock fact the guards get.
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
