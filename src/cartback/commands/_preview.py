"""
Writing a preview to files: the HTML and text parts, and on request screenshots of the HTML in
Debian's Chromium (Playwright, never a downloaded browser) at a phone's and a desktop's width.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cartback.commands._common import fail
from cartback.services.preview import Preview

#: The widths the screenshots are taken at: a small phone, and a desktop mail client.
SCREEN_WIDTHS = (375, 1200)
DEFAULT_CHROMIUM = "/usr/bin/chromium"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def write_preview(shown: Preview, out: Path, *, png: bool) -> list[Path]:
    """
    Write `FLOW-STEP.html` (email) and `.txt` into `out` (made if missing), and with `png`
    `FLOW-STEP-375.png` and `-1200.png`; the paths written.
    """
    out.mkdir(parents=True, exist_ok=True)
    stem = _UNSAFE.sub("_", f"{shown.flow}-{shown.step}")
    written: list[Path] = []
    html = shown.rendered.html
    if html is not None:
        page = out / f"{stem}.html"
        page.write_text(html, encoding="utf-8")
        written.append(page)
    text = out / f"{stem}.txt"
    subject = f"Subject: {shown.rendered.subject}\n\n" if shown.rendered.subject else ""
    body = shown.rendered.text if shown.rendered.text.endswith("\n") else shown.rendered.text + "\n"
    text.write_text(subject + body, encoding="utf-8")
    written.append(text)
    if png and html is not None:
        written.extend(_screenshots(out / f"{stem}.html", out, stem))
    return written


def _screenshots(page: Path, out: Path, stem: str) -> list[Path]:
    from playwright.sync_api import Error, sync_playwright

    executable = os.environ.get("CARTBACK_CHROMIUM") or DEFAULT_CHROMIUM
    if not Path(executable).exists():
        fail(f"no Chromium at {executable}; install it or set CARTBACK_CHROMIUM")
    shots: list[Path] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, args=["--no-sandbox", "--headless=new"]
            )
            for width in SCREEN_WIDTHS:
                tab = browser.new_page(viewport={"width": width, "height": 800})
                tab.goto(page.resolve().as_uri(), wait_until="load")
                target = out / f"{stem}-{width}.png"
                tab.screenshot(path=str(target), full_page=True)
                tab.close()
                shots.append(target)
            browser.close()
    except Error as error:
        fail(f"Chromium could not take the screenshots: {str(error).splitlines()[0]}")
    return shots
