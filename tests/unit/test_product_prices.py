"""
The product translators' prices and page details: Shopify variants (`price`,
`compare_at_price`, `product_type`, images, the shop's product page), WooCommerce products
(`price`/`regular_price`, `categories`, `images`, `permalink`) and Magento products (`price`,
an active `special_price`, `cost`, `url_key`, `image`), each in the store's currency.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cartback.domain.catalog import CatalogItem
from cartback.sources._magento_products import StoreLinksIn
from cartback.sources._magento_products import product_item as magento_item
from cartback.sources._shopify_products import product_items
from cartback.sources._woocommerce_products import product_item as woocommerce_item

FIXTURES = Path(__file__).parents[1] / "fixtures"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SHOP = "https://shop.example.com"


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_bytes())
    return copy.deepcopy(document)


def money(item: CatalogItem) -> tuple[Decimal | None, Decimal | None, Decimal | None, str | None]:
    return item.price, item.compare_at_price, item.cost, item.currency


def test_shopify_variants_carry_their_prices_sale_category_page_and_image() -> None:
    """
    The fixture's Small and Medium are on sale (19.99, was 24.99); Large has no "was" price;
    Small shows its own image, the others the product's; prices are in the store's currency.
    """
    # given
    product = fixture("shopify/products_update_2024.json")
    product["image"] = {"id": 2, "src": "https://cdn.shopify.com/s/files/main.jpg"}
    product["images"] = [{"id": 1, "src": "https://cdn.shopify.com/s/files/small.jpg"}]
    product["variants"][0]["image_id"] = 1
    # when
    small, medium, large, _ = product_items(
        product, fallback_at=NOW, currency="CAD", shop_domain="snowdevil.myshopify.com"
    )
    # then
    assert (Decimal("19.99"), Decimal("24.99"), None, "CAD") == money(small)
    assert (Decimal("19.99"), None, None, "CAD") == money(large)
    assert (True, False) == (medium.on_sale, large.on_sale)
    assert "Shirts" == small.category
    assert "https://snowdevil.myshopify.com/products/example-t-shirt" == small.url
    assert "https://cdn.shopify.com/s/files/small.jpg" == small.image_url
    assert "https://cdn.shopify.com/s/files/main.jpg" == medium.image_url


@pytest.mark.parametrize(
    "change",
    [
        {"price": "nineteen"},
        {"price": "-1.00"},
        {"price": None, "compare_at_price": "24.99"},
    ],
)
def test_a_shopify_price_that_does_not_read_is_left_out_not_refused(
    change: dict[str, Any],
) -> None:
    """
    The variant keeps its stock read and has no price (the catalog keeps the known one).
    """
    product = fixture("shopify/products_update_2024.json")
    product["variants"][1].update(change)
    medium = product_items(product, fallback_at=NOW, currency="USD")[1]
    assert (True, 3) == (medium.available, medium.quantity)
    assert (None, None, None, None) == money(medium)


def test_a_shopify_page_needs_a_host_and_a_handle() -> None:
    """
    Without the shop's domain header (or with one that is not a host name): no page.
    """
    product = fixture("shopify/products_update_2024.json")
    assert {None} == {i.url for i in product_items(product, fallback_at=NOW)}
    forged = product_items(product, fallback_at=NOW, shop_domain="evil.com/x?y=")
    assert {None} == {i.url for i in forged}


def test_a_woocommerce_product_on_sale_is_its_price_below_its_regular_price() -> None:
    """
    The simple product (21.99, not on sale, category Clothing, its permalink); the variation
    on sale at 7.00 (regular 9.00) with its own image.
    """
    # given
    variation = fixture("woocommerce/product_variation_v3.json")
    variation.update(
        price="7.00",
        sale_price="7.00",
        image={"id": 5, "src": "https://shop.example.com/wp-content/uploads/black.jpg"},
    )
    # when
    simple = woocommerce_item(
        fixture("woocommerce/product_updated_v3.json"), received_at=NOW, currency="EUR"
    )
    sale = woocommerce_item(variation, received_at=NOW, currency="EUR")
    # then
    assert (Decimal("21.99"), None, None, "EUR") == money(simple)
    assert ("Clothing", "https://shop.example.com/product/premium-quality-19/") == (
        simple.category,
        simple.url,
    )
    assert (Decimal("7.00"), Decimal("9.00"), None, "EUR") == money(sale)
    assert "https://shop.example.com/wp-content/uploads/black.jpg" == sale.image_url


def test_a_woocommerce_product_without_a_price_has_none() -> None:
    """
    A variable product's empty `price` (`""`) is no price, and so no currency.
    """
    product = fixture("woocommerce/product_updated_v3.json")
    product.update(price="", regular_price="", permalink="javascript:alert(1)")
    item = woocommerce_item(product, received_at=NOW, currency="EUR")
    assert ((None, None, None, None), None) == (money(item), item.url)


def magento_product(*attributes: tuple[str, Any], price: Any = 34) -> dict[str, Any]:
    """
    A product as `GET /V1/products/{sku}` returns it, with the given custom attributes.
    """
    return {
        "id": 1,
        "sku": "24-MB01",
        "name": "Joust Duffle Bag",
        "price": price,
        "status": 1,
        "type_id": "simple",
        "updated_at": "2026-11-27 09:45:00",
        "extension_attributes": {
            "stock_item": {"qty": 100, "is_in_stock": True, "manage_stock": True}
        },
        "custom_attributes": [{"attribute_code": c, "value": v} for c, v in attributes],
    }


LINKS = StoreLinksIn(base_link_url=f"{SHOP}/", base_media_url=f"{SHOP}/media/")


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        ((), (Decimal("29"), Decimal("34"))),
        ((("special_from_date", "2026-11-27 00:00:00"),), (Decimal("29"), Decimal("34"))),
        ((("special_to_date", "2026-11-27 00:00:00"),), (Decimal("29"), Decimal("34"))),
        ((("special_from_date", "2026-11-28 00:00:00"),), (Decimal("34"), None)),
        ((("special_to_date", "2026-11-26 00:00:00"),), (Decimal("34"), None)),
    ],
)
def test_a_magento_special_price_applies_within_its_days(
    dates: tuple[tuple[str, str], ...], expected: tuple[Decimal, Decimal | None]
) -> None:
    """
    `special_price` 29 under `price` 34 is the price, 34 the "was" price, from its first day
    to its last (both included); outside them the price is the regular one.
    """
    product = magento_product(("special_price", "29.0000"), *dates)
    item = magento_item(product, received_at=NOW, currency="USD", store=LINKS)
    assert expected == (item.price, item.compare_at_price)


def test_a_magento_product_carries_its_cost_page_and_image() -> None:
    """
    `cost` is read; the page is `{base_link_url}{url_key}.html`, the image under the media
    URL's `catalog/product`; without the store's links there is no page.
    """
    # given
    product = magento_product(
        ("cost", "12.5000"), ("url_key", "joust-duffle-bag"), ("image", "/m/b/mb01-blue-0.jpg")
    )
    # when
    linked = magento_item(product, received_at=NOW, currency="USD", store=LINKS)
    unlinked = magento_item(product, received_at=NOW, currency="USD")
    # then
    assert (Decimal("34"), None, Decimal("12.5"), "USD") == money(linked)
    assert f"{SHOP}/joust-duffle-bag.html" == linked.url
    assert f"{SHOP}/media/catalog/product/m/b/mb01-blue-0.jpg" == linked.image_url
    assert (True, 100, "p:1", "24-MB01") == (
        linked.available,
        linked.quantity,
        linked.key,
        linked.sku,
    )
    assert (None, None) == (unlinked.url, unlinked.image_url)
