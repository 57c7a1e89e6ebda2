"""
Restore links (`GET /r/{token}`, `contract.md` §5.4): a valid token counts the click (once per
touch; never a HEAD, a prefetch or a link scanner) and sends the shopper to the platform's own
URL that rebuilds the cart, with the offer's code while it is valid and the message's UTM
parameters; items that no longer sell are left out with a notice; a tampered, expired or
orphaned link gets a friendly page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from cartback.bootstrap import Container
from cartback.domain.catalog import CatalogItem
from cartback.domain.discounts import OfferStatus
from cartback.domain.events import LineItem
from cartback.domain.flows import OfferKind
from cartback.domain.ports import OfferRecord, TouchRecord
from cartback.domain.touches import EnrollmentStatus, TouchStatus
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services.flows import apply_flows
from cartback.services.links import RestoreLinks
from cartback.services.message_settings import update_message_settings
from cartback.services.stores import CreatedStore
from cartback.store.tables import catalog_items
from helpers import TEST_SECRET, auth, enrolled_touch

#: A person's browser (the test client's own agent is not a scanner either, but say it).
BROWSER = {
    "User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
}
#: The UTM parameters of the first step's email of `cart-recovery` (`enrolled_touch`).
UTM = "utm_source=cartback&utm_medium=email&utm_campaign=cart-recovery&utm_content=cart-reminder-0"

GID = "gid://shopify/ProductVariant/808950810"
SHOPIFY_LINES = (
    LineItem(
        product_id="632910392",
        variant_id=GID,
        quantity=2,
        unit_price=Decimal("19.99"),
    ),
    LineItem(product_id="921728736", variant_id="39072856", quantity=1, unit_price=Decimal(5)),
)
WOO_LINES = (
    LineItem(product_id="10", variant_id="11", name="Tee", variant_name="M", quantity=2),
    LineItem(product_id="10", variant_id="12", name="Tee", variant_name="L", quantity=1),
    LineItem(product_id="20", name="Mug", quantity=3),
)
MAGENTO_LINES = (
    LineItem(sku="MH01-XS-Black", name="Hoodie", quantity=2),
    LineItem(sku="24-MB01", name="Bag", quantity=1),
)
CUSTOM_LINES = (
    LineItem(product_id="mug", variant_id="mug-blue", name="Mug", quantity=2),
    LineItem(sku="tee/9", name="Tee", quantity=1),
)

EXIT_ON_CLICK = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart], inactive_for: 30m}
    exit_on: [ordered, clicked]
    steps:
      - {wait: 1h, channel: email, template: cart-reminder}
      - {wait: 23h, channel: email, template: cart-reminder}
"""


def _touch(
    container: Container, store: CreatedStore, lines: tuple[LineItem, ...] = SHOPIFY_LINES
) -> TouchRecord:
    """
    An abandoned cart with these lines, its enrollment, its first touch (sent) and a second
    one still scheduled; the first touch.
    """
    now = container.clock.now()
    with container.uow_factory() as uow:
        contact = uow.contacts.create(
            store.store.id, fields={"email": f"{new_id('j')}@example.com"}, is_bot=False, now=now
        )
        record, enrollment, scheduled = enrolled_touch(
            store_id=store.store.id, contact_id=contact.id, key=new_id("cart"), now=now, due_at=now
        )
        record = replace(record, cart=replace(record.cart, lines=lines))
        touch: TouchRecord = replace(scheduled, status=TouchStatus.SENT, sent_at=now)
        later = replace(touch, id=new_id("tc"), step=1, status=TouchStatus.SCHEDULED, sent_at=None)
        uow.carts.add([record], now=now - timedelta(hours=2))
        uow.enrollments.add(enrollment)
        uow.touches.add([touch, later])
        uow.commit()
    return touch


def _path(container: Container, store: CreatedStore, touch_id: str, *, keys: Any = None) -> str:
    links = RestoreLinks(secret_keys=keys or [TEST_SECRET], base_url=container.settings.base_url)
    url = links.url(store_id=store.store.id, touch_id=touch_id, now=container.clock.now())
    return url.removeprefix(container.settings.base_url.rstrip("/"))


def _offer(container: Container, touch: TouchRecord, code: str, **overrides: Any) -> OfferRecord:
    """
    An active 10 % offer for the touch's enrollment, valid for 48 hours unless overridden.
    """
    now = container.clock.now()
    with container.uow_factory() as uow:
        enrollment = uow.enrollments.get(touch.enrollment_id)
        assert enrollment is not None
        values: dict[str, Any] = {
            "id": new_id("of"),
            "store_id": touch.store_id,
            "code": code,
            "kind": OfferKind.PERCENT,
            "value": Decimal(10),
            "currency": "USD",
            "source": "store",
            "offer_key": f"percent:{code}",
            "enrollment_id": enrollment.id,
            "contact_id": enrollment.contact_id,
            "cart_id": enrollment.cart_id,
            "flow": enrollment.flow,
            "step": 0,
            "status": OfferStatus.ACTIVE,
            "expires_at": now + timedelta(hours=48),
            "created_at": now,
            "updated_at": now,
            **overrides,
        }
        stored = uow.offers.add(OfferRecord(**values))
        uow.commit()
    assert stored is not None
    return stored


def _catalog(container: Container, store: CreatedStore, *rows: dict[str, Any]) -> None:
    """
    Catalog items, with the page fields (category, title, url, price) written to their columns.
    """
    now = container.clock.now()
    items = [
        CatalogItem(
            product_id=row["product_id"],
            variant_id=row.get("variant_id"),
            sku=row.get("sku"),
            title=row.get("title"),
            available=row.get("available", True),
            quantity=row.get("quantity"),
            read_at=now,
            updated_at=now,
        )
        for row in rows
    ]
    with container.uow_factory() as uow:
        uow.catalog.upsert(store.store.id, items)
        uow.commit()
    with container.engine.begin() as connection:
        for item, row in zip(items, rows, strict=True):
            page = {k: row[k] for k in ("category", "url", "price", "currency") if k in row}
            if page:
                connection.execute(
                    update(catalog_items)
                    .where(
                        catalog_items.c.store_id == store.store.id,
                        catalog_items.c.item_key == item.key,
                    )
                    .values(page)
                )


def _set_links(container: Container, store: CreatedStore, **settings: Any) -> None:
    with container.uow_factory() as uow:
        current = uow.stores.get(store.store.id)
        assert current is not None
        document = {**current.settings, **settings}
        uow.stores.save(replace(current, settings=document))
        uow.commit()


def _clicked_at(container: Container, touch_id: str) -> datetime | None:
    with container.uow_factory(read_only=True) as uow:
        touch = uow.touches.get(touch_id)
    assert touch is not None
    return touch.clicked_at


# --- the redirect, per platform ---------------------------------------------------------


def test_a_restore_link_redirects_to_the_shopify_cart_permalink(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    A Shopify store's link rebuilds the cart with each variant and its quantity (303), the
    valid code and the UTM parameters, and is never cached.
    """
    # given
    store = store_factory(platform="shopify", domains=["demo-shop.myshopify.com"])
    touch = _touch(container, store)
    _offer(container, touch, "CB-7KX2-MNPQ")
    path = _path(container, store, touch.id)

    # when
    response = client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    assert 303 == response.status_code
    assert (
        f"https://demo-shop.myshopify.com/cart/808950810:2,39072856:1?discount=CB-7KX2-MNPQ&{UTM}"
        == response.headers["location"]
    )
    assert "no-store" == response.headers["cache-control"]


def test_a_woocommerce_restore_link_uses_the_checkout_link(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    WooCommerce gets its checkout link: each variation (else product) and quantity, the coupon.
    """
    # given
    store = store_factory(platform="woocommerce", domains=["wp.example.com"])
    touch = _touch(container, store, WOO_LINES)
    _offer(container, touch, "WELCOME10")
    path = _path(container, store, touch.id)

    # when
    response = client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    assert 303 == response.status_code
    assert (
        f"https://wp.example.com/checkout-link/?products=11:2,12:1,20:3&coupon=WELCOME10&{UTM}"
        == response.headers["location"]
    )


def test_a_magento_store_with_the_restore_controller_gets_its_skus(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    A Magento store set to its restore controller gets each SKU and quantity and the coupon.
    """
    # given
    store = store_factory(platform="magento", domains=["m2.example.com"])
    _set_links(container, store, links={"restore_scheme": "controller"})
    touch = _touch(container, store, MAGENTO_LINES)
    _offer(container, touch, "SAVE-10")
    path = _path(container, store, touch.id)

    # when
    response = client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    assert 303 == response.status_code
    assert (
        "https://m2.example.com/cartback/cart/restore?sku%5B0%5D=MH01-XS-Black&qty%5B0%5D=2"
        f"&sku%5B1%5D=24-MB01&qty%5B1%5D=1&coupon=SAVE-10&{UTM}" == response.headers["location"]
    )


def test_a_custom_store_fills_its_template(
    client: TestClient, container: Container, store: CreatedStore
) -> None:
    """
    A custom site's template gets the items and the code; the template's own query and an
    earlier UTM value of its own are merged (Cartback's UTM values win).
    """
    # given
    template = (
        "https://shop.example.com/cart/restore?items={items}&coupon={code}&ref=mail&utm_source=x"
    )
    _set_links(container, store, restore_url_template=template)
    touch = _touch(container, store, CUSTOM_LINES)
    _offer(container, touch, "TAKE5")
    path = _path(container, store, touch.id)

    # when
    response = client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    assert 303 == response.status_code
    assert (
        f"https://shop.example.com/cart/restore?items=mug-blue:2,tee%2F9:1&coupon=TAKE5&ref=mail&{UTM}"
        == response.headers["location"]
    )


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"expires_at_in": timedelta(hours=-1)}, id="expired"),
        pytest.param({"status": OfferStatus.SUPERSEDED}, id="superseded"),
        pytest.param({"status": OfferStatus.REDEEMED}, id="redeemed"),
    ],
)
def test_a_code_that_no_longer_holds_is_left_out(
    client: TestClient,
    container: Container,
    store_factory: Callable[..., CreatedStore],
    overrides: dict[str, Any],
) -> None:
    """
    Only a code valid now goes in the link: an expired, superseded or used one never does.
    """
    # given
    store = store_factory(platform="shopify", domains=["demo-shop.myshopify.com"])
    touch = _touch(container, store)
    fields = dict(overrides)  # the parameter is shared by both databases' runs
    offset = fields.pop("expires_at_in", timedelta(hours=48))
    _offer(container, touch, "OLD-CODE", expires_at=container.clock.now() + offset, **fields)
    path = _path(container, store, touch.id)

    # when
    response = client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    assert 303 == response.status_code
    assert (
        f"https://demo-shop.myshopify.com/cart/808950810:2,39072856:1?{UTM}"
        == response.headers["location"]
    )


def test_the_newest_valid_code_is_used(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    A later offer superseded the first one: the link carries the later code.
    """
    # given
    store = store_factory(platform="shopify", domains=["demo-shop.myshopify.com"])
    touch = _touch(container, store)
    _offer(container, touch, "FIRST", status=OfferStatus.SUPERSEDED)
    later = container.clock.now() + timedelta(minutes=1)
    _offer(container, touch, "SECOND", created_at=later, updated_at=later)
    path = _path(container, store, touch.id)

    # when
    response = client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    assert "discount=SECOND&" in response.headers["location"]


# --- tokens: tamper, expiry ----------------------------------------------------------------


def test_a_tampered_restore_link_shows_a_friendly_page(
    client: TestClient, container: Container, store: CreatedStore
) -> None:
    """
    A changed token gets a page that explains, with no trace, no redirect and no click.
    """
    # given
    touch = _touch(container, store)
    path = _path(container, store, touch.id)

    # when
    response = client.get(path[:-3] + "abc", headers=BROWSER, follow_redirects=False)

    # then
    assert 400 == response.status_code
    assert "This link doesn" in response.text
    assert "Traceback" not in response.text
    assert _clicked_at(container, touch.id) is None


def test_a_link_signed_with_an_unknown_key_shows_a_friendly_page(
    client: TestClient, container: Container, store: CreatedStore
) -> None:
    """
    A well-formed token signed by a key the service does not hold is refused like a changed one.
    """
    # given
    path = _path(container, store, _touch(container, store).id, keys=["another-key-" * 4])

    # when
    response = client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    assert 400 == response.status_code


def test_a_restore_link_expires_after_30_days_by_default(
    client: TestClient, container: Container, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    Thirty days on the link still works; a little later it is a 410 page linking to the shop.
    """
    # given
    touch = _touch(container, store)
    path = _path(container, store, touch.id)
    clock.advance(timedelta(days=30))
    still = client.get(path, headers=BROWSER, follow_redirects=False)
    clock.advance(timedelta(minutes=1))

    # when
    response = client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    assert 303 == still.status_code
    assert 410 == response.status_code
    assert "This link has expired" in response.text
    assert 'href="https://shop.example.com"' in response.text


def test_the_store_setting_shortens_the_links_life(
    client: TestClient, container: Container, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    `restore_link_expiry: 2d` makes a three-day-old link expired (in German when asked), and it
    is not counted as a click.
    """
    # given
    update_message_settings(
        uow=container.uow_factory(),
        clock=clock,
        store_id=store.store.id,
        changes={"restore_link_expiry": "2d"},
    )
    touch = _touch(container, store)
    path = _path(container, store, touch.id)
    clock.advance(timedelta(days=3))

    # when
    response = client.get(path, headers={**BROWSER, "Accept-Language": "de"})

    # then
    assert 410 == response.status_code
    assert "Dieser Link ist abgelaufen" in response.text
    assert _clicked_at(container, touch.id) is None


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


# --- clicks --------------------------------------------------------------------------------


def test_a_click_is_recorded_once_per_touch(
    client: TestClient, container: Container, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    Two clicks an hour apart: the touch keeps the first one's time, and the cart API shows it.
    """
    # given
    touch = _touch(container, store)
    path = _path(container, store, touch.id)
    first = clock.now()

    # when
    client.get(path, headers=BROWSER, follow_redirects=False)
    clock.advance(timedelta(hours=1))
    again = client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    assert 303 == again.status_code
    assert first == _clicked_at(container, touch.id)
    with container.uow_factory(read_only=True) as uow:
        key = uow.touches.cart_key(touch.cart_id)
    cart = client.get(f"/v1/carts/{key}", headers=auth(store.secret_key)).json()
    shown = {t["id"]: t["clicked_at"] for t in cart["touches"]}
    assert shown[touch.id] is not None
    assert datetime.fromisoformat(shown[touch.id]) == first


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        pytest.param("HEAD", BROWSER, id="head"),
        pytest.param("GET", {**BROWSER, "Purpose": "prefetch"}, id="purpose-prefetch"),
        pytest.param("GET", {**BROWSER, "Sec-Purpose": "prefetch;prerender"}, id="sec-purpose"),
        pytest.param(
            "GET",
            {"User-Agent": "Mozilla/5.0 (compatible; Microsoft Office/16.0; ms-office)"},
            id="office",
        ),
        pytest.param("GET", {"User-Agent": "Slackbot-LinkExpanding 1.0"}, id="slack"),
        pytest.param("GET", {"User-Agent": "facebookexternalhit/1.1"}, id="facebook"),
        pytest.param("GET", {"User-Agent": ""}, id="no-agent"),
    ],
)
def test_scanners_and_prefetches_are_redirected_but_not_counted(
    client: TestClient,
    container: Container,
    store_factory: Callable[..., CreatedStore],
    method: str,
    headers: dict[str, str],
) -> None:
    """
    A HEAD, a prefetch or a link scanner gets the same redirect, and the touch stays unclicked.
    """
    # given
    store = store_factory(platform="shopify", domains=["demo-shop.myshopify.com"])
    touch = _touch(container, store)
    path = _path(container, store, touch.id)

    # when
    response = client.request(method, path, headers=headers, follow_redirects=False)

    # then
    assert 303 == response.status_code
    assert response.headers["location"].startswith("https://demo-shop.myshopify.com/cart/")
    assert _clicked_at(container, touch.id) is None


def test_a_click_ends_a_flow_that_exits_on_clicked(
    client: TestClient, container: Container, store: CreatedStore, clock: SimulatedClock
) -> None:
    """
    With `exit_on: [clicked]` the first click ends the enrollment and cancels its pending
    touches `clicked`; the shopper still gets the redirect.
    """
    # given
    apply_flows(
        uow=container.uow_factory(), clock=clock, store_id=store.store.id, text=EXIT_ON_CLICK
    )
    touch = _touch(container, store)
    path = _path(container, store, touch.id)

    # when
    response = client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    assert 303 == response.status_code
    with container.uow_factory(read_only=True) as uow:
        enrollment = uow.enrollments.get(touch.enrollment_id)
        touches = uow.touches.for_enrollment(touch.enrollment_id)
    assert enrollment is not None
    assert (EnrollmentStatus.CANCELLED, "clicked") == (enrollment.status, enrollment.reason)
    assert [(TouchStatus.SENT, None), (TouchStatus.CANCELLED, "clicked")] == [
        (t.status, t.reason) for t in sorted(touches, key=lambda t: t.step)
    ]


def test_a_click_leaves_a_flow_without_clicked_running(
    client: TestClient, container: Container, store: CreatedStore
) -> None:
    """
    The shipped flows do not exit on a click: the enrollment and its next touch go on.
    """
    # given
    touch = _touch(container, store)
    path = _path(container, store, touch.id)

    # when
    client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    with container.uow_factory(read_only=True) as uow:
        enrollment = uow.enrollments.get(touch.enrollment_id)
    assert enrollment is not None
    assert EnrollmentStatus.ACTIVE is enrollment.status
    assert _clicked_at(container, touch.id) is not None


# --- items that no longer sell ---------------------------------------------------------------


def test_unavailable_items_are_dropped_with_a_notice(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    One variant sold out: a page names it and its button rebuilds the cart without it (with
    the code and UTM); the click still counts.
    """
    # given
    store = store_factory(platform="woocommerce", domains=["wp.example.com"])
    touch = _touch(container, store, WOO_LINES)
    _offer(container, touch, "WELCOME10")
    _catalog(
        container,
        store,
        {"product_id": "10", "variant_id": "11", "title": "Tee M", "quantity": 5},
        {"product_id": "10", "variant_id": "12", "title": "Tee L", "quantity": 0},
    )
    path = _path(container, store, touch.id)

    # when
    response = client.get(path, headers=BROWSER, follow_redirects=False)

    # then
    assert 200 == response.status_code
    assert "Some items are no longer available" in response.text
    assert "<li>Tee (L)</li>" in response.text
    assert "Tee (M)" not in response.text
    expected = f"https://wp.example.com/checkout-link/?products=11:2,20:3&coupon=WELCOME10&{UTM}"
    assert f'href="{expected.replace("&", "&amp;")}"' in response.text
    assert "Continue to your cart" in response.text
    assert _clicked_at(container, touch.id) is not None


def test_nothing_left_offers_similar_items(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    Every line is unavailable: the page offers in-stock items of the same category (not the
    sold-out ones, not other categories) and the store, in German when asked.
    """
    # given
    store = store_factory(platform="shopify", domains=["demo-shop.myshopify.com"])
    touch = _touch(container, store)
    mugs = {"category": "Mugs", "currency": "EUR"}
    _catalog(
        container,
        store,
        {"product_id": "632910392", "variant_id": GID, "available": False, **mugs},
        {"product_id": "921728736", "variant_id": "39072856", "quantity": 0, **mugs},
        {
            "product_id": "5",
            "title": "Blue mug",
            "url": "/products/blue-mug",
            "price": Decimal("12.50"),
            **mugs,
        },
        {"product_id": "6", "title": "Gone mug", "url": "/p/6", "available": False, **mugs},
        {"product_id": "7", "title": "Tee", "url": "/p/7", "category": "Tees"},
    )
    path = _path(container, store, touch.id)

    # when
    response = client.get(path, headers={**BROWSER, "Accept-Language": "de"})

    # then
    assert 200 == response.status_code
    assert "Diese Artikel sind nicht mehr verfügbar" in response.text
    link = f"https://demo-shop.myshopify.com/products/blue-mug?{UTM}".replace("&", "&amp;")
    assert f'<a href="{link}">Blue mug</a>' in response.text
    assert "12,50" in response.text
    assert "Gone mug" not in response.text
    assert "Tee" not in response.text
    assert "Zum Shop" in response.text


def test_nothing_left_without_similar_items_links_to_the_store(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    No similar item in stock: the page links to the store.
    """
    # given
    store = store_factory(platform="shopify", domains=["demo-shop.myshopify.com"])
    touch = _touch(container, store)
    _catalog(
        container,
        store,
        {"product_id": "632910392", "variant_id": GID, "available": False},
        {"product_id": "921728736", "variant_id": "39072856", "available": False},
    )
    path = _path(container, store, touch.id)

    # when
    response = client.get(path, headers=BROWSER)

    # then
    assert 200 == response.status_code
    assert "None of the items in your cart can be bought right now." in response.text
    assert f'href="https://demo-shop.myshopify.com/?{UTM.replace("&", "&amp;")}"' in response.text
