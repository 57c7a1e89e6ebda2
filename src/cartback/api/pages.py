"""
Small HTML pages for people (the unsubscribe pages): Jinja2 with autoescaping, no external
assets, a strict Content-Security-Policy, never cached, never indexed, and no Referer (the
page's URL carries a token).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse


@dataclass(frozen=True, kw_only=True, slots=True)
class _Assets:
    environment: Environment
    css: str
    headers: dict[str, str]


@cache
def _assets() -> _Assets:
    css = resources.files("cartback.web").joinpath("templates", "page.css").read_text("utf-8")
    style_hash = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    environment = Environment(
        loader=PackageLoader("cartback.web", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    headers = {
        # Only the page's own inline style (by hash); forms post only to this origin.
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'sha256-{style_hash}'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "X-Robots-Tag": "noindex, nofollow",
        "Cache-Control": "no-store",
    }
    return _Assets(environment=environment, css=css, headers=headers)


def render_page(status: int, **context: Any) -> HTMLResponse:
    """
    The page template filled in (every value escaped), with the pages' security headers.
    """
    assets = _assets()
    html = assets.environment.get_template("page.html").render(css=assets.css, **context)
    return HTMLResponse(html, status_code=status, headers=dict(assets.headers))
