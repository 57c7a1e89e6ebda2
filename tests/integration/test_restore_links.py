"""
Restore links (`GET /r/{token}`, `contract.md` §5.4): a valid token sends the shopper to the
platform's own URL that rebuilds the cart; a tampered or orphaned one gets a friendly page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from fastapi.testclient import TestClient

from cartback.bootstrap import Container
from cartback.domain.events import LineItem
from cartback.services.links import RestoreLinks
from cartback.services.stores import CreatedStore
from helpers import TEST_SECRET, enrolled_touch

LINES = (
    LineItem(
        product_id="632910392",
        variant_id="gid://shopify/ProductVariant/808950810",
        quantity=2,
        unit_price=Decimal("19.99"),
    ),
    LineItem(product_id="921728736", variant_id="39072856", quantity=1, unit_price=Decimal(5)),
)


def _touch(container: Container, store: CreatedStore) -> str:
    """
    An abandoned cart with two Shopify variants, and the id of its enrollment's first touch.
    """
    now = container.clock.now()
    with container.uow_factory() as uow:
        contact = uow.contacts.create(
            store.store.id, fields={"email": "jane@example.com"}, is_bot=False, now=now
        )
        record, enrollment, touch = enrolled_touch(
            store_id=store.store.id, contact_id=contact.id, key="cart-r", now=now, due_at=now
        )
        record = replace(record, cart=replace(record.cart, lines=LINES))
        uow.carts.add([record], now=now - timedelta(hours=2))
        uow.enrollments.add(enrollment)
        uow.touches.add([touch])
        uow.commit()
    return str(touch.id)


def _path(container: Container, store: CreatedStore, touch_id: str) -> str:
    links = RestoreLinks(secret_keys=[TEST_SECRET], base_url=container.settings.base_url)
    url = links.url(store_id=store.store.id, touch_id=touch_id)
    return url.removeprefix(container.settings.base_url.rstrip("/"))


def test_a_restore_link_redirects_to_the_shopify_cart_permalink(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    A Shopify store's link rebuilds the cart with each variant and its quantity (303).
    """
    # given
    store = store_factory(platform="shopify", domains=["demo-shop.myshopify.com"])
    path = _path(container, store, _touch(container, store))

    # when
    response = client.get(path, follow_redirects=False)

    # then
    assert 303 == response.status_code
    assert (
        "https://demo-shop.myshopify.com/cart/808950810:2,39072856:1"
        == (response.headers["location"])
    )


def test_a_woocommerce_restore_link_uses_the_checkout_link(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    WooCommerce gets its checkout link with each product and quantity.
    """
    # given
    store = store_factory(platform="woocommerce", domains=["wp.example.com"])
    path = _path(container, store, _touch(container, store))

    # when
    response = client.get(path, follow_redirects=False)

    # then
    assert 303 == response.status_code
    assert (
        "https://wp.example.com/checkout-link/?products=39072856:1"
        == (response.headers["location"])
    )


def test_a_tampered_restore_link_shows_a_friendly_page(
    client: TestClient, container: Container, store: CreatedStore
) -> None:
    """
    A changed token gets a page that explains, with no trace and no redirect.
    """
    # given
    path = _path(container, store, _touch(container, store))

    # when
    response = client.get(path[:-3] + "abc", follow_redirects=False)

    # then
    assert 400 == response.status_code
    assert "This link doesn" in response.text
    assert "Traceback" not in response.text


def test_a_restore_link_whose_touch_is_gone_shows_a_friendly_page(
    client: TestClient, container: Container, store: CreatedStore
) -> None:
    """
    A valid token for a touch that no longer exists (erased) is a 404 page, in German when asked.
    """
    # given
    path = _path(container, store, "tch_gone")

    # when
    response = client.get(path, headers={"Accept-Language": "de-DE,de;q=0.9"})

    # then
    assert 404 == response.status_code
    assert "Diesen Warenkorb gibt es nicht mehr" in response.text


def test_a_head_request_answers_without_a_body(
    client: TestClient, container: Container, store: CreatedStore
) -> None:
    """
    Link checkers may ask with HEAD: the same redirect, no body.
    """
    # given
    path = _path(container, store, _touch(container, store))

    # when
    response = client.head(path, follow_redirects=False)

    # then
    assert 303 == response.status_code
    assert b"" == response.content
