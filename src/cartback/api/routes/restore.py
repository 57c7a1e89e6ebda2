"""
Restore links (`contract.md` §5.4): `GET /r/{token}` sends the shopper to the platform's own
URL that rebuilds their cart (303). A tampered token, or one whose cart is gone, gets a friendly
page instead, never an error trace.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from cartback.api._page_texts import negotiate
from cartback.api.pages import render_page
from cartback.api.state import app_state
from cartback.domain.errors import NotFound
from cartback.domain.stores import Platform
from cartback.services.links import InvalidRestoreLink, RestoreLinks
from cartback.services.restore import RestoreCart, restore_cart
from cartback.sources import magento, shopify, woocommerce
from cartback.sources.custom import check_restore_template, custom_restore_url

router = APIRouter(tags=["links"])

#: The custom platform's restore URL template, in the store's settings (`sources.custom`).
RESTORE_TEMPLATE = "restore_url_template"

_TEXTS = {
    "en": {
        "title": "This link doesn't work",
        "body": "The link may have been cut off, changed or may have expired. "
        "Your cart may still be waiting in the shop.",
        "gone": "This cart is no longer here. Have a look at the shop instead.",
        "shop": "Go to the shop",
    },
    "de": {
        "title": "Dieser Link funktioniert nicht",
        "body": "Der Link wurde vielleicht abgeschnitten, verändert oder ist abgelaufen. "
        "Ihr Warenkorb wartet vielleicht noch im Shop.",
        "gone": "Diesen Warenkorb gibt es nicht mehr. Schauen Sie sich im Shop um.",
        "shop": "Zum Shop",
    },
}


_RESPONSES: dict[int | str, dict[str, object]] = {
    303: {"description": "To the platform URL that rebuilds the cart."},
    400: {"description": "A link that is not valid (friendly page)."},
    404: {"description": "The link's cart is gone (friendly page)."},
}


@router.head(
    "/r/{token}",
    response_class=Response,
    responses=_RESPONSES,
    summary="Check a restore link (link checkers)",
    operation_id="check_restore_link",
)
def check_restore_link(token: str, request: Request) -> Response:
    """
    What `GET` answers, without the body (link checkers and mail scanners ask with HEAD).
    """
    return follow_restore_link(token, request)


@router.get(
    "/r/{token}",
    response_class=Response,
    responses=_RESPONSES,
    summary="Follow a restore link",
    operation_id="follow_restore_link",
)
def follow_restore_link(token: str, request: Request) -> Response:
    """
    Redirect to the platform's cart-rebuilding URL for the cart this touch was about.
    """
    lang = "de" if negotiate(request.headers.get("accept-language")) == "de" else "en"
    texts = _TEXTS[lang]
    links: RestoreLinks = request.app.state.restore_links
    try:
        target = links.read(token)
    except InvalidRestoreLink:
        return render_page(400, lang=lang, title=texts["title"], message=texts["body"])
    state = app_state(request)
    try:
        found = restore_cart(uow=state.container.uow_factory(read_only=True), target=target)
    except NotFound:
        return render_page(404, lang=lang, title=texts["title"], message=texts["gone"])
    return RedirectResponse(platform_url(found), status_code=303)


def platform_url(found: RestoreCart) -> str:
    """
    The platform's own URL that rebuilds the cart (variants and quantities); the store's home
    when the platform cannot be told the lines.
    """
    store = found.store
    home = f"https://{store.domains[0]}" if store.domains else "/"
    if not store.domains:
        return home
    if store.platform is Platform.SHOPIFY:
        return shopify.restore_url(store.domains[0], found.lines)
    if store.platform is Platform.WOOCOMMERCE:
        return woocommerce.restore_url(home, found.lines)
    if store.platform is Platform.MAGENTO:
        return magento.restore_url(home, found.lines)
    template = store.settings.get(RESTORE_TEMPLATE)
    if isinstance(template, str) and not check_restore_template(template):
        return custom_restore_url(template, found.lines)
    return home
