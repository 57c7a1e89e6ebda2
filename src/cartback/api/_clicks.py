"""
Whether a request for a restore or short link is a person's click, and counting it. A `HEAD`,
a browser's speculative prefetch (`Purpose: prefetch`, `Sec-Purpose: prefetch`) and a known link
scanner or previewer (`domain.link_scanners`) get the same answer but are not clicks.
"""

from __future__ import annotations

import structlog
from starlette.requests import Request

from cartback.bootstrap import Container
from cartback.domain.link_scanners import is_link_scanner
from cartback.services.clicks import record_click

log = structlog.get_logger(__name__)

#: Request headers that say a fetch is speculative, not a person's navigation.
_PREFETCH_HEADERS = ("purpose", "sec-purpose", "x-purpose", "x-moz")
_PREFETCH_WORDS = ("prefetch", "prerender", "preview")


def is_click(request: Request) -> bool:
    """
    A person following the link: a GET, not a prefetch, from no known scanner.
    """
    if request.method != "GET":
        return False
    said = " ".join(request.headers.get(name, "") for name in _PREFETCH_HEADERS).lower()
    if any(word in said for word in _PREFETCH_WORDS):
        return False
    return not is_link_scanner(request.headers.get("user-agent"))


def count_click(container: Container, touch_id: str) -> None:
    """
    Record the click in its own transaction. A failure is logged, never raised: the shopper
    gets their cart whether or not the click could be written.
    """
    try:
        record_click(uow=container.uow_factory(), touch_id=touch_id, now=container.clock.now())
    except Exception:  # a click count must never block the redirect
        log.exception("restore.click.failed", touch_id=touch_id)
