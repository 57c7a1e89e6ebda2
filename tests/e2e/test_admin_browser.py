"""
The dashboard in Debian's Chromium against a real `cartback serve`: sign in, pick the store,
read its overview (KPIs and SVG charts) and change its period, open the carts list, filter it
(htmx swaps the table and pushes the URL), open a cart's timeline, sign out, with screenshots,
and not one Content-Security-Policy violation or console error on the way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Cli, Server
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from storefront import CHROMIUM, CHROMIUM_ARGS

from helpers import identify, track

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
EMAIL = "ops@example.com"
#: Records every CSP violation in the page (init scripts run outside the page's CSP).
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


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
def shop(server: Server, cli: Cli) -> Server:
    """
    The running server's store with two carts (one with a contact) and an operator for it.
    """
    with server.client() as client:
        batch = [
            identify(anonymous_id="anon-ada", email="ada@example.com"),
            track(
                "Product Added",
                anonymous_id="anon-ada",
                cart_id="cart-ada",
                product_id="p-1",
                name="Blue mug",
                price=25,
                quantity=2,
            ),
            track(
                "Product Added",
                anonymous_id="anon-x",
                cart_id="cart-anonymous",
                product_id="p-2",
                name="Teapot",
                price=40,
                quantity=1,
            ),
        ]
        response = client.post("/v1/batch", json={"batch": batch})
        assert 200 == response.status_code, response.text
    created = cli.run(
        *("operator", "create", "--email", EMAIL),
        *("--store", server.keys["id"], "--password-stdin"),
        input=PASSWORD + "\n",
    )
    assert 0 == created.returncode, created.stderr
    return server


def _violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__violations || []")
    return found


def test_an_operator_signs_in_filters_carts_and_reads_a_timeline(
    browser: Browser, shop: Server, tmp_path: Path
) -> None:
    """
    The whole tour in a real browser, every page under the strict CSP without a violation.
    """
    context = browser.new_context(base_url=shop.base_url, viewport={"width": 1280, "height": 900})
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    console: list[str] = []
    violations: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            console.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.on(
        "response",
        lambda r: console.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    try:
        # sign in
        page.goto("/admin")
        expect(page).to_have_url(re.compile(r"/admin/login$"))
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        page.screenshot(path=str(tmp_path / "1-login.png"))
        page.click("button[type=submit]")
        expect(page).to_have_url(re.compile(r"/admin/stores$"))
        expect(page.locator("table.list")).to_contain_text("E2E Shop")
        assert "object" == page.evaluate("typeof htmx")
        violations += _violations(page)

        # the store's overview: KPI tiles, the three SVG charts, the definitions
        page.click("text=E2E Shop")
        expect(page).to_have_url(re.compile(rf"/admin/stores/{shop.keys['id']}$"))
        expect(page.locator("#kpis .kpi")).to_have_count(8)
        expect(page.locator("figure.chart svg")).to_have_count(3)
        expect(page.locator("#funnel svg")).to_be_visible()
        expect(page.locator("#definitions")).to_contain_text("How these are counted")
        page.screenshot(path=str(tmp_path / "2-overview.png"), full_page=True)
        violations += _violations(page)

        # another period through the form (a plain GET)
        page.fill("input[name=from]", "2026-01-01")
        page.fill("input[name=to]", "2026-01-31")
        page.click("form.filters button[type=submit]")
        expect(page).to_have_url(re.compile(r"from=2026-01-01&to=2026-01-31"))
        expect(page.locator("#period")).to_contain_text("from 2026-01-01 to 2026-01-31")
        violations += _violations(page)

        # the carts list
        page.click("a.tab:text('Carts')")
        expect(page).to_have_url(re.compile(rf"/admin/stores/{shop.keys['id']}/carts$"))
        rows = page.locator("#carts tbody tr")
        expect(rows).to_have_count(2)
        page.screenshot(path=str(tmp_path / "2-carts.png"), full_page=True)

        # filter: htmx swaps the table in place and pushes the URL
        page.select_option("select[name=contact]", "yes")
        expect(page).to_have_url(re.compile(r"contact=yes"))
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("cart-ada")
        assert "object" == page.evaluate("typeof htmx")  # the same document: no reload
        page.screenshot(path=str(tmp_path / "3-filtered.png"), full_page=True)
        violations += _violations(page)

        # a cart's timeline
        page.click("text=cart-ada")
        expect(page.locator("h1")).to_have_text("Cart cart-ada")
        expect(page.locator("#timeline")).to_contain_text("Product Added")
        expect(page.locator("#timeline")).to_contain_text("cart created")
        expect(page.locator("dl.facts")).to_contain_text("ada@example.com")
        expect(page.locator("body")).to_contain_text("Blue mug")
        page.screenshot(path=str(tmp_path / "4-timeline.png"), full_page=True)
        violations += _violations(page)

        # sign out: the cookie no longer opens anything
        page.click("text=Sign out")
        expect(page).to_have_url(re.compile(r"/admin/login$"))
        page.goto(f"/admin/stores/{shop.keys['id']}/carts")
        expect(page).to_have_url(re.compile(r"/admin/login$"))
        violations += _violations(page)
    finally:
        context.close()
    # then
    assert [] == violations
    assert [] == console
    for name in ("1-login", "2-overview", "2-carts", "3-filtered", "4-timeline"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
