"""
The shops the browser tests share: `ShopServer`, a real local web server for journeys against a
real `cartback serve`, and `Storefront`, a shop page at `SHOP` loading the snippet from
`CARTBACK`, both fake hosts answered from memory by Playwright routes, where what the snippet
sends (`/v1/t` batches, `/v1/capture` posts) is kept as it was sent. Both run in Debian's
Chromium.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness import free_port
from playwright.sync_api import BrowserContext, Page

from cartback.web import static_file

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: A shopper's browser: headless Chrome announces itself, and Cartback flags it as a robot.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
WAIT_SECONDS = 30.0

SHOP = "http://shop.test"
CARTBACK = "http://cartback.test"
STORE_API_CART = (
    Path(__file__).parent.parent / "fixtures" / "woocommerce" / "store_api_cart.json"
).read_text()
CORS = {"Access-Control-Allow-Origin": SHOP}


SHOP_PAGE = Path(__file__).parent.parent / "fixtures" / "storefront" / "shop.html"


class ShopServer:
    """
    The shop's own web server, on another port (so another origin) than Cartback's.
    """

    def __init__(
        self, cartback_url: str, public_key: str, extra: dict[str, tuple[str, bytes]] | None = None
    ) -> None:
        page = SHOP_PAGE.read_text()
        page = page.replace("__CARTBACK__", cartback_url).replace("__PUBLIC_KEY__", public_key)
        html = "text/html; charset=utf-8"
        pages = {
            "/": (html, page.encode()),
            "/bye": (html, b"<!doctype html><title>Bye</title><p>Bye</p>"),
            **(extra or {}),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                content_type, body = pages.get(self.path.split("?")[0], (html, b""))
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", content_type)
                self.end_headers()
                self.wfile.write(body or b"not found")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test output stays the test's

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        """
        A page of the shop.
        """
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        """
        Stop serving and release the port.
        """
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Storefront:
    """
    A page at `SHOP` with the snippet from `CARTBACK`, and the batches it sent to `/v1/t`.

    `config` is what `/v1/capture/config` answers (404 while it is None: no widgets);
    `capture_replies` are (status, body) answers to `/v1/capture` posts, used in turn, then 200.
    """

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.html = ""
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.store_api_reads = 0
        self.config: dict[str, Any] | None = None
        self.captures: list[dict[str, Any]] = []
        self.capture_types: list[str | None] = []
        self.capture_replies: list[tuple[int, dict[str, Any]]] = []
        self.scripts: list[str] = []
        context.route(f"{SHOP}/**", self._shop)
        context.route(f"{SHOP}/wp-json/wc/store/v1/cart", self._store_api_cart)
        context.route(f"{CARTBACK}/static/*", self._snippet)
        context.route(f"{CARTBACK}/v1/t", self._events)
        context.route(re.compile(r"^http://cartback\.test/v1/capture/config\b"), self._config)
        context.route(re.compile(r"^http://cartback\.test/v1/capture$"), self._capture)

    def open(
        self,
        head: str = "",
        attributes: str = "",
        path: str = "/",
        body_class: str = "",
        body: str = "",
        lang: str = "",
    ) -> Page:
        """
        Load a shop page whose head holds `head` before the snippet's tag, and `body` in its body.
        """
        lang_attribute = f' lang="{lang}"' if lang else ""
        self.html = (
            f"<!doctype html><html{lang_attribute}><head><title>Shop</title><script>{head}</script>"
            f'<script src="{CARTBACK}/static/cartback.js" data-key="cb_pk_test" {attributes} '
            f'async></script></head><body class="{body_class}">{body}</body></html>'
        )
        page = self.context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(SHOP + path)
        page.wait_for_function("() => window.cartback && window.cartback.VERSION")
        return page

    def sent(self, page: Page, count: int = 1) -> list[dict[str, Any]]:
        """
        Flush, wait for `count` requests, and return every message sent so far.
        """
        page.evaluate("() => cartback.flush()")
        deadline = time.monotonic() + WAIT_SECONDS
        while len(self.requests) < count and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        return [m for r in self.requests for m in r["body"]["batch"]]

    def tracks(self, page: Page, count: int = 1) -> list[tuple[str, dict[str, Any]]]:
        """
        The track messages sent, as (event, properties) with the cart id left out.
        """
        return [
            (m["event"], {k: v for k, v in m["properties"].items() if k != "cart_id"})
            for m in self.sent(page, count)
            if m["type"] == "track"
        ]

    def posted(self, page: Page, count: int = 1) -> list[dict[str, Any]]:
        """
        Wait for `count` posts to `/v1/capture` (briefly when `count` is 0), and return them all.
        """
        deadline = time.monotonic() + (WAIT_SECONDS if count else 0.3)
        while len(self.captures) < max(count, 1) and time.monotonic() < deadline:
            page.wait_for_timeout(25)
        return self.captures

    def _shop(self, route: Any) -> None:
        route.fulfill(status=200, content_type="text/html", body=self.html)

    def _store_api_cart(self, route: Any) -> None:
        self.store_api_reads += 1
        route.fulfill(status=200, content_type="application/json", body=STORE_API_CART)

    def _snippet(self, route: Any) -> None:
        name = route.request.url.split("/static/")[1].split("?")[0]
        self.scripts.append(name)
        route.fulfill(status=200, content_type="text/javascript", body=static_file(name))

    def _events(self, route: Any) -> None:
        request = route.request
        self.requests.append(
            {
                "content_type": request.headers.get("content-type"),
                "body": json.loads(request.post_data or "{}"),
            }
        )
        route.fulfill(
            status=200,
            content_type="application/json",
            headers=CORS,
            body='{"success": true}',
        )

    def _config(self, route: Any) -> None:
        if self.config is None:
            route.fulfill(status=404, headers=CORS, body="")
            return
        route.fulfill(
            status=200, content_type="application/json", headers=CORS, body=json.dumps(self.config)
        )

    def _capture(self, route: Any) -> None:
        request = route.request
        self.captures.append(json.loads(request.post_data or "{}"))
        self.capture_types.append(request.headers.get("content-type"))
        status, body = self.capture_replies.pop(0) if self.capture_replies else (200, {})
        content_type = "application/problem+json" if status >= 400 else "application/json"
        route.fulfill(
            status=status,
            content_type=content_type,
            headers=CORS,
            body=json.dumps(body or {"success": True}),
        )
