"""
The storefront snippet, `GET /static/cartback.js` (`contract.md` §5.2), and the capture widgets
it loads when a store switches one on, `GET /static/cartback-capture.js`: each cached by browsers
and CDNs for a day, revalidated by ETag, gzipped for clients that accept it.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache

from fastapi import APIRouter, Request, Response

from cartback.web import static_file

router = APIRouter(tags=["storefront"])

SNIPPET = "cartback.js"
CAPTURE = "cartback-capture.js"
#: The URL carries no version, so a day keeps fixes flowing; the ETag makes the daily check a
#: 304, and stale-while-revalidate keeps the check off the page's critical path.
CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=604800"
MEDIA_TYPE = "text/javascript; charset=utf-8"  # RFC 9239


@dataclass(frozen=True, kw_only=True, slots=True)
class Asset:
    """
    A static file ready to serve: plain and gzipped bytes, each with its own ETag.
    """

    body: bytes
    gzipped: bytes
    etag: str

    @property
    def gzip_etag(self) -> str:
        """
        The gzipped representation's ETag (a different representation needs a different tag).
        """
        return self.etag[:-1] + '-gz"'


@cache
def static_asset(name: str) -> Asset:
    """
    A file under `static/`, read and compressed once per process, on first use.
    """
    body = static_file(name)
    digest = hashlib.sha256(body).hexdigest()[:32]
    return Asset(body=body, gzipped=gzip.compress(body, 9, mtime=0), etag=f'"{digest}"')


def snippet_asset() -> Asset:
    """
    The snippet, ready to serve.
    """
    return static_asset(SNIPPET)


def accepts_gzip(header: str) -> bool:
    """
    True when an Accept-Encoding header allows gzip (named, or `*`, with a non-zero q).
    """
    for part in header.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() not in ("gzip", "*"):
            continue
        quality = params.strip().removeprefix("q=")
        try:
            return not quality or float(quality) > 0
        except ValueError:
            return False
    return False


def matches(if_none_match: str, etag: str) -> bool:
    """
    True when an If-None-Match header names `etag` (weak comparison, RFC 9110 §13.1.2).
    """
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.head("/static/cartback.js", include_in_schema=False)
@router.get(
    "/static/cartback.js",
    summary="The storefront snippet",
    response_class=Response,
    responses={
        200: {"content": {"text/javascript": {}}, "description": "The script."},
        304: {"description": "The cached copy is current."},
    },
)
def cartback_js(request: Request) -> Response:
    """
    `<script src="…/static/cartback.js" data-key="cb_pk_…" async></script>` on every page of
    the shop: tracks product views, cart changes and checkouts (also from a GA4 `dataLayer`)
    and sends them to `/v1/t` with the store's public key. See `docs/platforms.md`.
    """
    return serve(request, static_asset(SNIPPET))


@router.head("/static/cartback-capture.js", include_in_schema=False)
@router.get(
    "/static/cartback-capture.js",
    summary="The lead-capture widgets",
    response_class=Response,
    responses={
        200: {"content": {"text/javascript": {}}, "description": "The script."},
        304: {"description": "The cached copy is current."},
    },
)
def cartback_capture_js(request: Request) -> Response:
    """
    Loaded by `cartback.js` itself, and only when `/v1/capture/config` switches a widget on:
    the cart-page, checkout, drawer, after-abandonment and exit-intent prompts. See
    `docs/capture.md`.
    """
    return serve(request, static_asset(CAPTURE))


def serve(request: Request, asset: Asset) -> Response:
    """
    One static script with the shared caching rules: ETag per representation, a day's cache,
    gzip when accepted, and cross-origin use allowed.
    """
    compressed = accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = asset.gzip_etag if compressed else asset.etag
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        # Shops load it from their own origin; let them use SRI and cross-origin isolation.
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    if compressed:
        headers["Content-Encoding"] = "gzip"
    body = asset.gzipped if compressed else asset.body
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers, media_type=MEDIA_TYPE)
    return Response(content=body, headers=headers, media_type=MEDIA_TYPE)
