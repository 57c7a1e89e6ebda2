"""
Short restore links (`GET /s/{code}`): a text's link to the shopper's cart. A live code
counts the click on its touch (once, as `/r/{token}` does: never a HEAD, a prefetch or a link
previewer) and answers `303 See Other` to the touch's signed restore link, which restores the
cart. HEAD answers the same without a body (link previews ask first).

An unknown code gets a friendly page (404) and an expired one a page with a link to the store
(410): pages for people, never problem documents, and nothing about the code or the shopper.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse

from cartback.api._clicks import count_click, is_click
from cartback.api._page_texts import negotiate
from cartback.api.pages import render_page
from cartback.api.state import app_state
from cartback.domain.errors import NotFound
from cartback.domain.stores import Store
from cartback.services.links import RestoreLinks
from cartback.services.short_links import ShortLinkExpired, ShortLinkTarget, resolve

router = APIRouter(tags=["links"])

_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "To the cart's restore link."},
    404: {"description": "No such link.", **_HTML},
    410: {"description": "The link has expired; the page links to the store.", **_HTML},
}
#: The pages' words (by `Accept-Language`, English otherwise).
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "unknown_title": "This link doesn't work",
        "unknown_body": "The link may have been cut off. Check the text you received.",
        "expired_title": "This link has expired",
        "expired_body": "Your cart link is no longer valid, but the shop is still open.",
        "visit": "Visit {store}",
    },
    "de": {
        "unknown_title": "Dieser Link funktioniert nicht",
        "unknown_body": "Der Link wurde vielleicht gekürzt. Prüfen Sie die erhaltene SMS.",
        "expired_title": "Dieser Link ist abgelaufen",
        "expired_body": "Der Link zu Ihrem Warenkorb gilt nicht mehr, der Shop ist aber geöffnet.",
        "visit": "Zu {store}",
    },
    "fr": {
        "unknown_title": "Ce lien ne fonctionne pas",
        "unknown_body": "Le lien a peut-être été coupé. Vérifiez le SMS reçu.",
        "expired_title": "Ce lien a expiré",
        "expired_body": "Le lien vers votre panier n'est plus valable, la boutique est ouverte.",
        "visit": "Aller sur {store}",
    },
    "es": {
        "unknown_title": "Este enlace no funciona",
        "unknown_body": "Puede que el enlace esté cortado. Revisa el SMS que recibiste.",
        "expired_title": "Este enlace ha caducado",
        "expired_body": "El enlace a tu carrito ya no es válido, pero la tienda sigue abierta.",
        "visit": "Ir a {store}",
    },
}


def restore_links(request: Request) -> RestoreLinks:
    """
    The app's restore link signer (built from the settings in `create_app`).
    """
    links: RestoreLinks = request.app.state.restore_links
    return links


@router.get(
    "/s/{code}",
    response_class=Response,
    responses=_RESPONSES,
    summary="Follow a text's short link to the cart",
    operation_id="follow_short_link",
)
@router.head(
    "/s/{code}",
    response_class=Response,
    responses=_RESPONSES,
    summary="Check a text's short link (link previews)",
    operation_id="check_short_link",
)
async def follow(code: str, request: Request) -> Response:
    """
    Redirect to the cart the text was about; a page when the link is unknown or expired.
    """
    lang = negotiate(request.headers.get("accept-language"))
    texts = TEXTS.get(lang, TEXTS["en"])
    container = app_state(request).container
    try:
        target: ShortLinkTarget = await run_in_threadpool(
            lambda: resolve(
                uow=container.uow_factory(read_only=True), clock=container.clock, code=code
            )
        )
    except ShortLinkExpired as expired:
        return _expired(lang, texts, expired.store)
    except NotFound:
        return render_page(
            404, lang=lang, title=texts["unknown_title"], message=texts["unknown_body"]
        )
    if is_click(request):
        await run_in_threadpool(count_click, container, target.touch_id)
    url = restore_links(request).url(
        store_id=target.store_id, touch_id=target.touch_id, now=container.clock.now()
    )
    return RedirectResponse(
        url,
        status_code=303,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _expired(lang: str, texts: dict[str, str], store: Store | None) -> Response:
    """
    The expired page, with a link to the store's site when it has a domain.
    """
    home = f"https://{store.domains[0]}" if store is not None and store.domains else ""
    return render_page(
        410,
        lang=lang,
        title=texts["expired_title"],
        message=texts["expired_body"],
        manage_href=home,
        manage_label=texts["visit"].format(store=store.name if store is not None else ""),
    )
