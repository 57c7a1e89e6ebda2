"""
The dashboard's flows page in Debian's Chromium against a real `cartback serve`: open the
Flows tab (the built-in defaults), check a file with an error (its line shown, no Apply),
fix it, check again (the dry run's tables and the Apply button), apply it, with screenshots
and not one Content-Security-Policy violation or console error on the way.
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

FILE = """flows:
  - name: browser-tried
    trigger: {stages: [cart, checkout], inactive_for: 30m}
    steps:
      - {wait: 1h, channel: email, template: reminder}
"""


def _violations(page: Page) -> list[str]:
    found: list[str] = page.evaluate("window.__violations || []")
    return found


def test_an_operator_checks_dry_runs_and_applies_a_flow_file(
    browser: Browser, shop: Server, tmp_path: Path
) -> None:
    """
    Check refuses a bad duration with its line, a valid file shows the dry run and Apply,
    Apply installs it and says so.
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
    try:
        # sign in and open the store's Flows tab: the built-in defaults
        page.goto("/admin/login")
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"/admin/stores/{shop.keys['id']}")
        page.click("a.tab:text('Flows')")
        expect(page).to_have_url(re.compile(rf"/admin/stores/{shop.keys['id']}/flows$"))
        expect(page.locator("#origin")).to_contain_text("built-in defaults")
        expect(page.locator("#yaml")).to_have_value(re.compile(r"checkout-high-value"))
        page.screenshot(path=str(tmp_path / "1-flows.png"), full_page=True)
        violations += _violations(page)

        # a bad duration on line 5: the error with its line, no Apply
        page.fill("#yaml", FILE.replace("wait: 1h", "wait: soon"))
        page.click("button:text('Check')")
        expect(page.locator("#errors")).to_contain_text("line 5")
        expect(page.locator("#apply")).to_have_count(0)
        page.screenshot(path=str(tmp_path / "2-errors.png"), full_page=True)
        violations += _violations(page)

        # fixed: the dry run and the Apply button
        page.fill("#yaml", FILE)
        page.click("button:text('Check')")
        expect(page.locator("#dry-run")).to_contain_text("The file is valid")
        expect(page.locator("#apply")).to_be_visible()
        page.screenshot(path=str(tmp_path / "3-dry-run.png"), full_page=True)
        violations += _violations(page)

        # apply: back on the page with a notice, the new flow installed
        page.click("#apply")
        expect(page.locator("#notice")).to_contain_text("version 1")
        expect(page.locator("#flows")).to_contain_text("browser-tried")
        page.screenshot(path=str(tmp_path / "4-applied.png"), full_page=True)
        violations += _violations(page)
    finally:
        context.close()
    # then
    assert [] == violations
    # the check of the bad file is a 400 page, which Chromium reports; nothing else may be
    assert [] == [line for line in console if "status of 400" not in line]
    for name in ("1-flows", "2-errors", "3-dry-run", "4-applied"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
