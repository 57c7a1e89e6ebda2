"""
The storefront snippet in real Chromium against a real `cartback serve`: a shop page served
from another local origin loads `/static/cartback.js`, the shopper browses, adds to the cart
(through GA4 `dataLayer` pushes and `cartback.track`), views the cart, starts checkout and
leaves; the cart read back over the API is what the page did.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Cli, Server, start_server
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import func, select
from storefront import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SHOP,
    STORE_API_CART,
    USER_AGENT,
    WAIT_SECONDS,
    ShopServer,
    Storefront,
)

from cartback.store.database import create_database_engine
from cartback.store.tables import raw_events

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """
    Debian's Chromium, headless, started once for the module.
    """
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """
    A fresh browser profile (empty storage) with a shopper's user agent.
    """
    created = browser.new_context(user_agent=USER_AGENT)
    yield created
    created.close()


@pytest.fixture
def local_server(cli: Cli, tmp_path: Path) -> Iterator[Server]:
    """
    `cartback serve` with one store whose domains include 127.0.0.1, where the shop is served.
    """
    keys = cli.create_store("--domain", "127.0.0.1")
    running = start_server(cli, tmp_path)
    running.keys = keys
    yield running
    running.stop()


@pytest.fixture
def shop_factory() -> Iterator[Callable[..., ShopServer]]:
    """
    Starts the shop's web server for a Cartback server and its store's public key.
    """
    started: list[ShopServer] = []

    def start(server: Server, extra: dict[str, tuple[str, bytes]] | None = None) -> ShopServer:
        shop = ShopServer(server.base_url, server.keys["public_key"], extra)
        started.append(shop)
        return shop

    yield start
    for shop in started:
        shop.stop()


def _open_shop(context: BrowserContext, shop: ShopServer) -> Page:
    page = context.new_page()
    page.goto(shop.url())
    page.wait_for_function("() => window.cartback && window.cartback.VERSION")
    return page


def _poll(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """
    Read until `done` holds, up to WAIT_SECONDS; the last reading either way.
    """
    deadline = time.monotonic() + WAIT_SECONDS
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value


def _cart_reader(client: httpx.Client, cart_id: str) -> Callable[[], dict[str, Any]]:
    def read() -> dict[str, Any]:
        response = client.get(f"/v1/carts/{cart_id}")
        body: dict[str, Any] = response.json() if response.status_code == 200 else {}
        return body

    return read


def _lines(cart: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (i["product_id"], i["name"], i["variant"], i["category"], i["quantity"], i["unit_price"])
        for i in cart.get("items", [])
    ]


def test_a_shoppers_journey_reads_back_as_the_cart(
    local_server: Server, shop_factory: Callable[..., ShopServer], context: BrowserContext
) -> None:
    """
    View, add (dataLayer and `cartback.track`), view cart, checkout, leave: the beacon sent on
    leaving carries it all, and the cart has the page's items, prices and the checkout stage.
    """
    # given
    shop = shop_factory(local_server)
    page = _open_shop(context, shop)
    cart_id = page.evaluate("() => cartback.cartId()")
    # when
    page.click("#add-mug")
    page.click("#add-tee")
    page.click("#view-cart")
    page.click("#checkout")
    page.click("#leave")
    page.wait_for_url(shop.url("/bye"))
    # then
    with local_server.client() as client:
        cart = _poll(_cart_reader(client, cart_id), lambda c: c.get("stage") == "checkout")
    assert [
        ("mug", "Mug", "Blue", "Kitchen", 2, "12.50"),
        ("tee", "Tee", None, None, 1, "20.00"),
    ] == _lines(cart)
    expected = ("checkout", "active", "EUR", "45.00", False)
    assert expected == (
        cart["stage"],
        cart["status"],
        cart["currency"],
        cart["total"],
        cart["is_bot"],
    )


def _watch_statuses(context: BrowserContext, page: Page, path: str) -> list[int]:
    """
    The HTTP statuses the page receives for `path`, filled in as they arrive (read through the
    DevTools protocol, since a response the CORS check blocks never reaches Playwright's own
    events).
    """
    session = context.new_cdp_session(page)
    session.send("Network.enable")
    ours: set[str] = set()
    statuses: list[int] = []

    def sent(event: dict[str, Any]) -> None:
        if event["request"]["url"].endswith(path):
            ours.add(event["requestId"])

    def answered(event: dict[str, Any]) -> None:
        if event["requestId"] in ours:
            statuses.append(event["statusCode"])

    session.on("Network.requestWillBeSent", sent)
    session.on("Network.responseReceivedExtraInfo", answered)
    return statuses


def test_an_origin_outside_the_stores_domains_is_refused_and_nothing_is_stored(
    server: Server,
    shop_factory: Callable[..., ShopServer],
    context: BrowserContext,
    database_url: str,
) -> None:
    """
    A store whose only domain is shop.example.com answers the page at 127.0.0.1 with 403, and
    stores neither a cart nor a raw event.
    """
    # given
    shop = shop_factory(server)
    page = _open_shop(context, shop)
    statuses = _watch_statuses(context, page, "/v1/t")
    page.click("#add-mug")
    # when
    page.evaluate("() => cartback.flush()")
    deadline = time.monotonic() + WAIT_SECONDS
    while not statuses and time.monotonic() < deadline:
        page.wait_for_timeout(100)  # lets Playwright deliver the protocol's events
    # then
    assert [403] == statuses[:1]
    with server.client() as client:
        assert {"data": [], "count": 0, "next_cursor": None} == client.get("/v1/carts").json()
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(select(func.count()).select_from(raw_events)).scalar_one()
    finally:
        engine.dispose()
    assert 0 == stored


def test_a_stores_alias_maps_its_own_event_and_an_unknown_one_is_listed(
    local_server: Server, shop_factory: Callable[..., ShopServer], context: BrowserContext
) -> None:
    """
    `data-aliases` turns the shop's `basket_add` into Product Added; `addToBasket`, which
    nothing maps, appears in `/v1/sources/unmapped`.
    """
    # given
    shop = shop_factory(local_server)
    page = _open_shop(context, shop)
    cart_id = page.evaluate("() => cartback.cartId()")
    # when
    page.click("#add-socks-aliased")
    page.click("#misnamed")
    page.evaluate("() => cartback.flush()")
    # then
    with local_server.client() as client:
        cart = _poll(_cart_reader(client, cart_id), lambda c: bool(c.get("items")))
        unmapped = _poll(
            lambda: client.get("/v1/sources/unmapped").json(), lambda u: u["count"] > 0
        )
    assert [("socks", "Socks", None, None, 3, "5.00")] == _lines(cart)
    assert [("addToBasket", 1)] == [(u["name"], u["count"]) for u in unmapped["data"]]


def test_a_purchase_converts_the_cart_and_the_next_cart_gets_a_new_id(
    local_server: Server, shop_factory: Callable[..., ShopServer], context: BrowserContext
) -> None:
    """
    The ids outlive a page load; after `purchase` the cart is ordered and a new cart id begins,
    for the same anonymous shopper.
    """
    # given
    shop = shop_factory(local_server)
    page = _open_shop(context, shop)
    ids = page.evaluate("() => [cartback.anonymousId(), cartback.cartId()]")
    page.reload()
    page.wait_for_function("() => window.cartback && window.cartback.VERSION")
    # when
    page.click("#add-mug")
    page.click("#buy")
    page.evaluate("() => cartback.flush()")
    after = page.evaluate("() => [cartback.anonymousId(), cartback.cartId()]")
    # then
    with local_server.client() as client:
        cart = _poll(_cart_reader(client, ids[1]), lambda c: c.get("stage") == "ordered")
    assert ("ordered", "converted", "order-1001") == (
        cart["stage"],
        cart["status"],
        cart["order_id"],
    )
    assert ids[0] == after[0]
    assert ids[1] != after[1]


# The snippet's own behaviour, with the network replaced by Playwright routes (storefront.py):
# the shop and Cartback are fake hosts served from memory, and what the snippet sends is
# captured as sent.


@pytest.fixture
def storefront(context: BrowserContext) -> Storefront:
    """
    A routed shop and Cartback for one test.
    """
    return Storefront(context)


MUG = {"item_id": "mug", "item_name": "Mug", "price": 12.5, "quantity": 2}
TEE = {"item_id": "tee", "item_name": "Tee", "price": "20.00", "quantity": 1}


def _push(event: str, ecommerce: dict[str, Any]) -> str:
    return f"dataLayer.push({json.dumps({'event': event, 'ecommerce': ecommerce})});"


def test_a_batch_is_segment_format_sent_as_text_plain(storefront: Storefront) -> None:
    """
    One request carries the key, `sentAt`, a shared context and Segment track messages.
    """
    # given
    page = storefront.open()
    # when
    page.evaluate("() => cartback.track('Product Viewed', {product_id: 'mug'})")
    message = storefront.sent(page)[0]
    # then
    request = storefront.requests[0]
    assert "text/plain;charset=UTF-8" == request["content_type"]
    body = request["body"]
    assert ("cb_pk_test", "cartback.js") == (body["writeKey"], body["context"]["library"]["name"])
    assert USER_AGENT == body["context"]["userAgent"]
    assert {"type", "event", "messageId", "anonymousId", "timestamp", "context", "properties"} == (
        message.keys()
    )
    assert ("track", "Product Viewed") == (message["type"], message["event"])
    assert f"{SHOP}/" == message["context"]["page"]["url"]
    cart_id = page.evaluate("() => cartback.cartId()")
    assert {"product_id": "mug", "cart_id": cart_id} == message["properties"]


def test_ga4_events_from_tag_manager_become_segment_events(storefront: Storefront) -> None:
    """
    Each GA4 ecommerce event maps to its Segment name; adds and removes go one per item.
    """
    # given
    pushes = "".join(
        [
            _push("add_to_cart", {"currency": "eur", "value": 45, "items": [MUG, TEE]}),
            _push("remove_from_cart", {"currency": "EUR", "items": [TEE]}),
            _push("view_cart", {"currency": "EUR", "value": 25, "items": [MUG]}),
            _push("add_payment_info", {"payment_type": "card", "items": [MUG]}),
        ]
    )
    # when
    page = storefront.open(head="window.dataLayer = [];" + pushes)
    tracks = storefront.tracks(page)
    # then
    mug = {"product_id": "mug", "name": "Mug", "price": 12.5, "quantity": 2}
    tee = {"product_id": "tee", "name": "Tee", "price": 20, "quantity": 1}
    assert [
        ("Product Added", {**mug, "currency": "EUR"}),
        ("Product Added", {**tee, "currency": "EUR"}),
        ("Product Removed", {**tee, "currency": "EUR"}),
        ("Cart Viewed", {"currency": "EUR", "value": 25, "products": [mug]}),
        ("Payment Info Entered", {"payment_method": "card", "products": [mug]}),
    ] == tracks


def test_gtag_events_and_later_pushes_are_read_too(storefront: Storefront) -> None:
    """
    `gtag('event', …)` arguments are read, and so are pushes made after the snippet loaded.
    """
    # given
    page = storefront.open(
        head="window.dataLayer = []; function gtag(){ dataLayer.push(arguments); }"
        "gtag('event', 'begin_checkout', {currency: 'EUR', value: 25, items: [{item_id: 'mug', "
        "price: 12.5, quantity: 2}]}); gtag('event', 'page_view', {page_title: 'x'});"
    )
    # when
    page.evaluate(
        "() => gtag('event', 'purchase', {transaction_id: 'T-1', value: 25, currency: 'EUR',"
        " tax: 4, shipping: 0, coupon: 'SAVE', items: [{item_id: 'mug', price: 12.5,"
        " quantity: 2}]})"
    )
    tracks = storefront.tracks(page)
    # then
    mug = {"product_id": "mug", "price": 12.5, "quantity": 2}
    assert [
        ("Checkout Started", {"currency": "EUR", "value": 25, "products": [mug]}),
        (
            "Order Completed",
            {
                "currency": "EUR",
                "value": 25,
                "products": [mug],
                "order_id": "T-1",
                "tax": 4,
                "shipping": 0,
                "coupon": "SAVE",
            },
        ),
    ] == tracks


def test_a_completed_order_ends_the_cart_id(storefront: Storefront) -> None:
    """
    Events share one cart id until Order Completed; the next event starts a new cart.
    """
    # given
    page = storefront.open()
    # when
    page.evaluate(
        "() => { cartback.track('Product Added', {product_id: 'mug'});"
        " cartback.track('Order Completed', {order_id: 'o-1'});"
        " cartback.track('Product Added', {product_id: 'tee'}); }"
    )
    carts = [m["properties"]["cart_id"] for m in storefront.sent(page)]
    # then
    assert carts[0] == carts[1]
    assert carts[1] != carts[2]


def test_aliases_from_the_tag_and_the_page_rename_or_silence_events(
    storefront: Storefront,
) -> None:
    """
    `data-aliases` and `window.cartbackAliases` map a shop's names; an alias to null drops one.
    """
    # given
    head = (
        "window.cartbackAliases = {checkout_go: 'begin_checkout', noisy: null};"
        "window.dataLayer = [];"
        + _push("basket_add", {"items": [MUG]})
        + _push("checkout_go", {"items": [MUG]})
        + _push("noisy", {"items": [MUG]})
    )
    page = storefront.open(head=head, attributes='data-aliases=\'{"basket_add": "Product Added"}\'')
    # when
    page.evaluate("() => cartback.track('basket_add', {product_id: 'tee'})")
    tracks = storefront.tracks(page)
    # then
    mug = {"product_id": "mug", "name": "Mug", "price": 12.5, "quantity": 2}
    assert [
        ("Product Added", mug),
        ("Checkout Started", {"products": [mug]}),
        ("Product Added", {"product_id": "tee"}),
    ] == tracks


def test_only_unknown_events_with_ecommerce_data_are_sent_unmapped(
    storefront: Storefront,
) -> None:
    """
    A tag manager's own events and GA4 list events are not sent; an unknown ecommerce one is.
    """
    # given
    head = (
        "window.dataLayer = [{event: 'gtm.js'}, {event: 'page_view', page: '/'}];"
        + _push("view_item_list", {"items": [MUG]})
        + _push("addToBasket", {"items": [MUG]})
    )
    # when
    page = storefront.open(head=head)
    names = [name for name, _ in storefront.tracks(page)]
    # then
    assert ["addToBasket"] == names


def test_no_contact_detail_leaves_the_page_without_identify(storefront: Storefront) -> None:
    """
    An address in the page's URL is redacted, a purchase's `user_data` is not read, and
    identify sends exactly the traits the page passed.
    """
    # given
    head = "window.dataLayer = [];" + _push("purchase", {"transaction_id": "T-9", "items": [MUG]})
    head += "dataLayer[0].user_data = {email: 'ada@example.com', phone: '+4915112345678'};"
    page = storefront.open(head=head, path="/thanks?email=ada%40example.com&ref=mail")
    # when
    before = json.dumps(storefront.sent(page))
    page.evaluate("() => cartback.identify({email: 'ada@example.com'})")
    identify = [m for m in storefront.sent(page, 2) if m["type"] == "identify"]
    # then
    leaked = [d for d in ("ada@example.com", "ada%40example.com", "4915112345678") if d in before]
    assert [] == leaked
    assert "?email=redacted&ref=mail" in before
    assert [{"email": "ada@example.com"}] == [m["traits"] for m in identify]


def test_the_client_side_rate_limit_drops_past_the_burst(storefront: Storefront) -> None:
    """
    150 events at once: the first 100 (the burst) are sent, the rest dropped.
    """
    # given
    page = storefront.open()
    # when
    page.evaluate(
        "() => { for (let i = 0; i < 150; i++)"
        " cartback.track('Product Viewed', {product_id: 'p' + i}); }"
    )
    sent = storefront.sent(page, 2)
    # then
    assert (100, "p99") == (len(sent), sent[-1]["properties"]["product_id"])


def test_the_snippet_never_throws_into_the_page(storefront: Storefront) -> None:
    """
    Odd calls and odd dataLayer entries raise nothing and send nothing, and the page's push
    keeps its result.
    """
    # given
    page = storefront.open(head="window.dataLayer = [];")
    # when
    result = page.evaluate(
        "() => { cartback.track(); cartback.track(null, 5); cartback.identify(undefined);"
        " cartback.page(Symbol('x')); cartback.push(null); cartback.push(['nope']);"
        " const trap = {get event() { throw new Error('trap'); }};"
        " const length = dataLayer.push(null, 7, 'x', trap, {event: 'add_to_cart'});"
        " return length; }"
    )
    sent = storefront.sent(page)
    # then
    assert 5 == result
    assert [] == storefront.errors
    assert ["page"] == [m["type"] for m in sent]  # only the one call that made sense


def test_calls_queued_before_the_snippet_loaded_are_replayed(storefront: Storefront) -> None:
    """
    `window.cartback = [['track', …]]` set before the tag is sent once the snippet runs.
    """
    # given
    head = "window.cartback = [['track', 'Cart Viewed', {value: 5}], ['identify', 'u-1', {}]];"
    # when
    page = storefront.open(head=head)
    sent = storefront.sent(page)
    # then
    assert [("track", "Cart Viewed"), ("identify", None)] == [
        (m["type"], m.get("event")) for m in sent
    ]
    assert "u-1" == sent[1]["userId"]


# Meta pixel deduplication: the page's pixel may send a tracked event with the snippet's id.

FBP = "fb.1.1764230400000.1234567890"
PIXEL_HEAD = (
    f"document.cookie = '_fbp={FBP}; path=/'; window.seen = [];"
    "window.addEventListener('cartback:track', function (e) { window.seen.push(e.detail); });"
)


def test_a_tracked_event_hands_its_message_id_to_the_page_for_the_meta_pixel(
    storefront: Storefront,
) -> None:
    """
    `cartback.track` returns the messageId; a `cartback:track` DOM event carries it with the
    event and properties; the message forwards `_fbp`, and the ad click's `fbclid` as `fbc`
    when there is no `_fbc` cookie.
    """
    # given
    page = storefront.open(head=PIXEL_HEAD, path="/?fbclid=IwAR0abc")
    # when
    returned = page.evaluate("() => cartback.track('Product Added', {product_id: 'mug'})")
    seen = page.evaluate("() => window.seen")
    message = storefront.sent(page)[0]
    # then
    assert returned == message["messageId"]
    assert [("Product Added", returned, "mug")] == [
        (d["event"], d["messageId"], d["properties"]["product_id"]) for d in seen
    ]
    assert FBP == message["context"]["fbp"]
    assert re.fullmatch(r"fb\.1\.\d{13}\.IwAR0abc", message["context"]["fbc"])


def test_the_fbc_cookie_wins_and_a_no_to_ads_forwards_no_meta_ids(storefront: Storefront) -> None:
    """
    A `_fbc` cookie is forwarded as it is; after the page's consent says no to ads, neither
    Meta id leaves the page (the event itself still does).
    """
    # given
    fbc = "fb.1.1764230400000.IwAR9xyz"
    page = storefront.open(head=f"{PIXEL_HEAD} document.cookie = '_fbc={fbc}; path=/';")
    # when
    page.evaluate("() => cartback.track('Checkout Started', {value: 5})")
    page.evaluate("() => cartback.consent({ads: false})")
    page.evaluate("() => cartback.track('Product Added', {product_id: 'mug'})")
    sent = storefront.sent(page)
    # then
    ids = [(m["context"].get("fbp"), m["context"].get("fbc")) for m in sent]
    assert [(FBP, fbc), (None, None)] == ids


# WooCommerce without a tag manager: the snippet reads the shop's own Store API cart.

WOO_LINES = [
    {
        "product_id": "112",
        "variant_id": "112",
        "sku": "MUG-BLUE",
        "name": "Mug",
        "variant": "Blue",
        "price": 12.5,
        "quantity": 2,
        "url": "https://shop.example.com/product/mug/?attribute_pa_colour=blue",
        "image_url": "https://shop.example.com/wp-content/uploads/mug-blue.jpg",
    },
    {
        "product_id": "20",
        "name": "Tee",
        "price": 20,
        "quantity": 1,
        "url": "https://shop.example.com/product/tee/",
    },
]
WOO_CART = {"products": WOO_LINES, "value": 45, "currency": "EUR"}


def test_a_woocommerce_checkout_page_sends_the_store_api_cart(storefront: Storefront) -> None:
    """
    On a (block or classic) checkout page the snippet reads `/wp-json/wc/store/v1/cart` and sends
    it as `Checkout Started`: variation ids, prices from minor units, the total and currency.
    """
    # given
    classes = "woocommerce-checkout woocommerce-page"
    # when
    page = storefront.open(body_class=classes, path="/checkout/")
    page.wait_for_timeout(600)
    # then
    assert [("Checkout Started", WOO_CART)] == storefront.tracks(page)


def test_the_store_api_cart_sends_no_address(storefront: Storefront) -> None:
    """
    The Store API answer holds the billing email and phone; no request carries them.
    """
    # given
    page = storefront.open(body_class="woocommerce-cart woocommerce-page", path="/cart/")
    page.wait_for_timeout(600)
    # when
    sent = json.dumps(storefront.sent(page))
    # then
    assert ("ada@example.com" in sent, "4915112345678" in sent, "Cart Viewed" in sent) == (
        False,
        False,
        True,
    )


def test_block_and_classic_cart_events_send_one_snapshot_per_burst(
    storefront: Storefront,
) -> None:
    """
    Blocks' `wc-blocks_added_to_cart` and classic jQuery `added_to_cart` (a burst of three
    changes) lead to one Store API read and one `Cart Viewed` on a product page.
    """
    # given: a page with a minimal jQuery, as classic themes have
    jquery = (
        "window.jQuery = function (el) { return { on: function (names, fn) {"
        " names.split(' ').forEach(function (n) { el.addEventListener('jq:' + n, fn); }); } }; };"
        "window.jQuery.fn = {};"
    )
    page = storefront.open(head=jquery, body_class="woocommerce-page", path="/product/mug/")
    # when
    page.evaluate(
        "() => { for (const name of ['wc-blocks_added_to_cart', 'jq:added_to_cart',"
        " 'jq:removed_from_cart']) document.body.dispatchEvent(new Event(name)); }"
    )
    page.wait_for_timeout(800)
    # then
    assert ([("Cart Viewed", WOO_CART)], 1) == (
        storefront.tracks(page),
        storefront.store_api_reads,
    )


def test_the_order_received_page_closes_the_cart_once(storefront: Storefront) -> None:
    """
    `/checkout/order-received/727/` sends `Order Completed` for order 727; reloading the page
    sends nothing more (a second, empty cart would otherwise be closed).
    """
    # given
    path = "/checkout/order-received/727/?key=wc_order_58d2d042d1d"
    page = storefront.open(body_class="woocommerce-order-received woocommerce-page", path=path)
    first = storefront.tracks(page)
    # when
    page.reload()
    page.wait_for_function("() => window.cartback && window.cartback.VERSION")
    page.wait_for_timeout(300)
    # then
    assert ([("Order Completed", {"order_id": "727"})], 1) == (
        first,
        len(storefront.tracks(page)),
    )


def test_a_shop_can_switch_the_store_api_reading_off(storefront: Storefront) -> None:
    """
    `data-platform="none"` on a WooCommerce page: no Store API read, nothing sent.
    """
    # given / when
    page = storefront.open(
        attributes='data-platform="none"',
        body_class="woocommerce-checkout woocommerce-page",
        path="/checkout/",
    )
    page.wait_for_timeout(600)
    # then
    assert (0, []) == (storefront.store_api_reads, storefront.sent(page, count=0))


def _woo_page(server: Server, body_class: str) -> tuple[str, bytes]:
    """
    A WooCommerce page as themes render it: the WordPress REST root announced in the head,
    the page kind in the body's classes, the snippet tag, no tag manager.
    """
    page = (
        "<!doctype html><html><head><title>Woo</title>"
        f'<link rel="https://api.w.org/" href="/wp-json/">'
        f'<script src="{server.base_url}/static/cartback.js" '
        f'data-key="{server.keys["public_key"]}" async></script></head>'
        f'<body class="{body_class} woocommerce-page"><a id="leave" href="/bye">leave</a></body>'
        "</html>"
    )
    return "text/html; charset=utf-8", page.encode()


def test_a_woocommerce_shop_without_a_tag_manager_reads_back_as_the_cart(
    local_server: Server, shop_factory: Callable[..., ShopServer], context: BrowserContext
) -> None:
    """
    A real `cartback serve` and a WooCommerce-like shop: the checkout page's Store API cart
    becomes the Cartback cart (variation ids, prices, total, checkout stage), and the
    order-received page converts it.
    """
    # given
    shop = shop_factory(
        local_server,
        {
            "/checkout/": _woo_page(local_server, "woocommerce-checkout"),
            "/checkout/order-received/727/": _woo_page(
                local_server, "woocommerce-checkout woocommerce-order-received"
            ),
            "/wp-json/wc/store/v1/cart": ("application/json", STORE_API_CART.encode()),
        },
    )
    page = context.new_page()
    # when
    page.goto(shop.url("/checkout/"))
    page.wait_for_function("() => window.cartback && window.cartback.VERSION")
    cart_id = page.evaluate("() => cartback.cartId()")
    with local_server.client() as client:
        checkout = _poll(_cart_reader(client, cart_id), lambda c: c.get("stage") == "checkout")
        page.goto(shop.url("/checkout/order-received/727/?key=wc_order_58d2d042d1d"))
        ordered = _poll(_cart_reader(client, cart_id), lambda c: c.get("stage") == "ordered")
    # then
    assert [
        ("112", "112", "Mug", "Blue", 2, "12.50"),
        ("20", None, "Tee", None, 1, "20.00"),
    ] == [
        (i["product_id"], i["variant_id"], i["name"], i["variant"], i["quantity"], i["unit_price"])
        for i in checkout["items"]
    ]
    assert ("EUR", "45.00", "converted", "727") == (
        checkout["currency"],
        checkout["total"],
        ordered["status"],
        ordered["order_id"],
    )
