"""
The dashboard's messages pages in Debian's Chromium against a real `cartback serve`: open the
Messages tab (nothing kept yet), then the step previews, whose emails load in sandboxed frames
from their own routes (the dashboard's `frame-src 'self'`, the emails' `frame-ancestors
'self'`), with screenshots and not one CSP violation or console error in the dashboard.
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


def test_an_operator_reads_the_step_previews_in_sandboxed_frames(
    browser: Browser, shop: Server, tmp_path: Path
) -> None:
    """
    The previews page frames every email step's HTML; each frame shows the example cart, and
    the dashboard page itself reports no violation or error.
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

        # the Messages tab: nothing kept yet
        page.goto(f"/admin/stores/{store_id}")
        page.click("a.tab:text('Messages')")
        expect(page).to_have_url(re.compile(rf"/admin/stores/{store_id}/messages$"))
        expect(page.locator("#messages")).to_contain_text("No message matches")
        violations = _violations(page)

        # the step previews: every email step in its own sandboxed frame
        page.click("a.tab:text('Step previews')")
        expect(page).to_have_url(re.compile(rf"/admin/stores/{store_id}/previews$"))
        frames = page.locator("iframe.email-frame")
        expect(frames.first).to_be_visible()
        assert frames.count() >= 1
        for index in range(frames.count()):
            frames.nth(index).scroll_into_view_if_needed()
            body = page.frame_locator("iframe.email-frame").nth(index).locator("body")
            expect(body).to_contain_text("Merino wool sweater")
        page.screenshot(path=str(tmp_path / "1-previews.png"), full_page=True)
        violations += _violations(page)
    finally:
        context.close()
    assert [] == violations
    assert [] == console
