"""
The dashboard's consent log, audiences and feeds health pages in Debian's Chromium against a
real `cartback serve`: open each from the store's tabs, filter the consent log in place
(htmx swaps the table and pushes the URL), with screenshots and not one Content-Security-
Policy violation or console error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from harness import Server
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from test_admin_browser import EMAIL, PASSWORD, WATCH_CSP, browser, shop

pytestmark = pytest.mark.e2e

__all__ = ["browser", "shop"]  # fixtures shared with the dashboard's browser tour


def _violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__violations || []")
    return found


def test_an_operator_reads_the_consent_log_audiences_and_feeds(
    browser: Browser, shop: Server, tmp_path: Path
) -> None:
    """
    From the overview's tabs: the consent log (filtered to SMS withdrawals in place: none),
    the built-in audiences, and the feeds with their URLs.
    """
    context = browser.new_context(base_url=shop.base_url, viewport={"width": 1280, "height": 900})
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    console: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            console.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.on(
        "response",
        lambda r: console.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    store_id = shop.keys["id"]
    try:
        page.goto("/admin/login")
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(re.compile(r"/admin/stores$"))

        page.goto(f"/admin/stores/{store_id}")
        page.click("a.tab:text('Consent log')")
        expect(page).to_have_url(re.compile(rf"/admin/stores/{store_id}/consent$"))
        expect(page.locator("h1")).to_have_text("Consent log")
        page.select_option("select[name=channel]", "sms")
        expect(page).to_have_url(re.compile(r"channel=sms"))
        page.select_option("select[name=kind]", "withdraw")
        expect(page).to_have_url(re.compile(r"kind=withdraw"))
        expect(page.locator("#ledger")).to_contain_text("No ledger entry matches")
        page.screenshot(path=str(tmp_path / "1-consent.png"), full_page=True)
        violations = _violations(page)

        page.click("a.tab:text('Audiences')")
        expect(page).to_have_url(re.compile(rf"/admin/stores/{store_id}/audiences$"))
        expect(page.locator("#audiences")).to_contain_text("viewed-cart")
        page.screenshot(path=str(tmp_path / "2-audiences.png"), full_page=True)
        violations += _violations(page)

        page.click("a.tab:text('Feeds')")
        expect(page).to_have_url(re.compile(rf"/admin/stores/{store_id}/feeds$"))
        expect(page.locator("#feed-facts")).to_contain_text(f"/feeds/{store_id}/google.xml")
        page.screenshot(path=str(tmp_path / "3-feeds.png"), full_page=True)
        violations += _violations(page)
    finally:
        context.close()
    assert [] == violations
    assert [] == console
