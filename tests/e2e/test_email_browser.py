"""
The built-in emails in Debian's Chromium: every kind, rendered for a cart of long names with
product images served by a local web server, at a phone's (375 px) and a desktop's (1200 px)
width, light and dark: no horizontal scroll and no broken image.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright
from storefront import CHROMIUM, CHROMIUM_ARGS

from cartback.domain.cart import Cart
from cartback.domain.consent import Channel
from cartback.domain.events import LineItem, Stage
from cartback.domain.stores import Platform, Store
from cartback.services.message_parts import MessageLinks, OfferView, RenderRequest
from cartback.services.rendering import render_email

pytestmark = pytest.mark.e2e

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
KINDS = (
    "checkout-reminder",
    "checkout-support-detailed",
    "cart-resolution",
    "browse-reminder",
    "back_in_stock",
    "launch",
)
LONG_NAMES = (
    "Extraordinarily comfortable handwoven organic merino wool cardigan with mother-of-pearl "
    "buttons and reinforced elbows",
    "Donaudampfschifffahrtsgesellschaftskapitänsmützenaufbewahrungsschachtelhalterung",
    "قميص قطني عضوي طويل الأكمام بأزرار من الصدف الطبيعي ومرفقين مقوّيين",
    "青い手作りの陶器のマグカップ・特大サイズ・食洗機対応・電子レンジ対応 🎉☕",
)


def _png(width: int, height: int) -> bytes:
    """
    A valid solid-colour PNG.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x3c\x82\xbe" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class _Files:
    """
    A local web server for the emails and their images.
    """

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                content_type, body = pages.get(self.path.split("?")[0], ("text/plain", b""))
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", content_type)
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def files() -> Iterator[_Files]:
    """
    The local server, with a large product image and a wide logo.
    """
    served = _Files()
    served.pages["/img/product.png"] = ("image/png", _png(640, 640))
    served.pages["/img/logo.png"] = ("image/png", _png(900, 120))
    yield served
    served.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """
    Debian's Chromium, headless, started once for the module.
    """
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _request(files: _Files, template: str, locale: str) -> RenderRequest:
    store = Store(
        id="st_browser",
        name="The Extraordinarily Long-Named Purveyors of Fine Goods & Sundries",
        platform=Platform.CUSTOM,
        domains=("shop.example",),
        currency="EUR",
        timezone="Europe/Berlin",
        country="DE",
        created_at=NOW,
        updated_at=NOW,
        settings={
            "messages": {
                "postal_address": "Purveyors GmbH\nSehr-lange-Straßenbezeichnungsallee 123\n"
                "10115 Berlin",
                "logo_url": f"{files.url}/img/logo.png",
                "returns_summary": "Free returns within 30 days, no questions asked.",
                "returns_url": "https://shop.example/pages/returns-and-refunds-policy",
                "payment_options": ["Visa", "Mastercard", "PayPal", "Klarna", "SOFORT"],
                "shipping": [
                    {
                        "country": "*",
                        "cost": "4.90",
                        "free_over": "50",
                        "min_days": 2,
                        "max_days": 5,
                    }
                ],
            }
        },
    )
    lines = tuple(
        LineItem(
            product_id=f"p{i}",
            name=name,
            variant_name="Colour: midnight blue / Size: XXL / Extra-long sleeves",
            quantity=i + 1,
            unit_price=Decimal("1234.56"),
            image_url=f"{files.url}/img/product.png",
            url=f"https://shop.example/products/p{i}",
        )
        for i, name in enumerate(LONG_NAMES)
    )
    cart = Cart(key="c", currency="EUR", stage=Stage.CHECKOUT, lines=lines)
    offer = OfferView(code="WINTER-2026-SAVE10", kind="percent", value=Decimal(10), expires_at=NOW)
    return RenderRequest(
        store=store,
        cart=cart,
        channel=Channel.EMAIL,
        template=template,
        flow="checkout-recovery",
        step=2,
        links=MessageLinks(
            restore=f"{files.url}/r/preview",
            short_restore=None,
            unsubscribe=f"{files.url}/u/preview",
            store="https://shop.example",
        ),
        now=NOW,
        locale=locale,
        offer=offer if "resolution" in template else None,
        first_name="Maximiliane-Alexandrina",
    )


@pytest.mark.parametrize("template", KINDS)
@pytest.mark.parametrize("locale", ["de-DE", "ar-EG"])
def test_the_email_fits_and_shows_its_images(
    browser: Browser, files: _Files, template: str, locale: str
) -> None:
    """
    At 375 and 1200 px, light and dark: the page is no wider than the window and every image
    loaded.
    """
    # given
    rendered = render_email(_request(files, template, locale))
    assert rendered.html is not None
    path = f"/mail/{template}-{locale}.html"
    files.pages[path] = ("text/html; charset=utf-8", rendered.html.encode())
    for width in (375, 1200):
        for scheme in ("light", "dark"):
            page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
            try:
                # when
                page.goto(files.url + path, wait_until="load")
                fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
                images = page.evaluate(
                    "Array.from(document.images)"
                    ".map(i => [i.src, i.complete && i.naturalWidth > 0])"
                )
                dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
                # then
                assert fits, (template, locale, width, scheme)
                assert images, "the email has images"
                assert all(ok for _src, ok in images), images
                assert dark is (scheme == "dark")
            finally:
                page.close()


def test_the_dark_scheme_changes_the_background(browser: Browser, files: _Files) -> None:
    """
    The dark-mode styles apply in a dark colour scheme.
    """
    # given
    rendered = render_email(_request(files, "checkout-reminder", "en-US"))
    files.pages["/mail/dark.html"] = ("text/html; charset=utf-8", (rendered.html or "").encode())
    colours = []
    for scheme in ("light", "dark"):
        page = browser.new_page(color_scheme=scheme)
        # when
        page.goto(files.url + "/mail/dark.html")
        colours.append(page.evaluate("getComputedStyle(document.body).backgroundColor"))
        page.close()
    # then
    assert colours[0] != colours[1]
    assert "rgb(17, 24, 39)" == colours[1]
