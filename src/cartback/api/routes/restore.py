"""
Restore links (`contract.md` §5.4): `GET /r/{token}` counts the click and sends the shopper to
the platform's own URL that rebuilds their cart (303), with the offer's code while it is valid
and the message's UTM parameters.

Instead of the redirect a page answers when the link cannot (a tampered token: 400; an expired
one: 410, with the store's link; a cart that is gone: 404) and when some items no longer sell
(200: the items left out, and a button to the rest of the cart; or, with nothing left, similar
items or the store). Pages for people, never an error trace. `HEAD`, prefetches and link
scanners get the same answers without being counted as clicks.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from cartback.api._clicks import count_click, is_click
from cartback.api._page_texts import negotiate
from cartback.api.pages import render_page
from cartback.api.state import app_state
from cartback.domain.errors import NotFound
from cartback.domain.restore import line_title
from cartback.domain.stores import Platform, Store
from cartback.services.links import InvalidRestoreLink, RestoreLinks
from cartback.services.restore import (
    RestoreCart,
    RestoreLinkExpired,
    price_text,
    restore_cart,
    similar_href,
    with_link_utm,
)
from cartback.sources import magento, shopify, woocommerce
from cartback.sources.custom import check_restore_template, custom_restore_url

router = APIRouter(tags=["links"])

_Scheme = TypeVar("_Scheme", woocommerce.RestoreScheme, magento.RestoreScheme)

#: The custom platform's restore URL template, in the store's settings (`sources.custom`).
RESTORE_TEMPLATE = "restore_url_template"
#: The store's links settings, and in them how a WooCommerce or Magento shop rebuilds a cart
#: (`woocommerce.RestoreScheme` / `magento.RestoreScheme` values; each platform's default).
LINKS_SECTION = "links"
RESTORE_SCHEME = "restore_scheme"

_TEXTS = {
    "en": {
        "title": "This link doesn't work",
        "body": "The link may have been cut off, changed or may have expired. "
        "Your cart may still be waiting in the shop.",
        "gone": "This cart is no longer here. Have a look at the shop instead.",
        "shop": "Go to the shop",
        "expired_title": "This link has expired",
        "expired_body": "Your cart link is no longer valid, but the shop is still open.",
        "dropped_title": "Some items are no longer available",
        "dropped_intro": "These items from your cart can't be bought right now, "
        "so we left them out:",
        "continue": "Continue to your cart",
        "empty_title": "These items are no longer available",
        "empty_intro": "None of the items in your cart can be bought right now.",
        "similar": "You may like these instead:",
    },
    "de": {
        "title": "Dieser Link funktioniert nicht",
        "body": "Der Link wurde vielleicht abgeschnitten, verändert oder ist abgelaufen. "
        "Ihr Warenkorb wartet vielleicht noch im Shop.",
        "gone": "Diesen Warenkorb gibt es nicht mehr. Schauen Sie sich im Shop um.",
        "shop": "Zum Shop",
        "expired_title": "Dieser Link ist abgelaufen",
        "expired_body": "Der Link zu Ihrem Warenkorb gilt nicht mehr, der Shop ist aber geöffnet.",
        "dropped_title": "Einige Artikel sind nicht mehr verfügbar",
        "dropped_intro": "Diese Artikel aus Ihrem Warenkorb gibt es gerade nicht, "
        "wir haben sie weggelassen:",
        "continue": "Weiter zum Warenkorb",
        "empty_title": "Diese Artikel sind nicht mehr verfügbar",
        "empty_intro": "Keinen der Artikel in Ihrem Warenkorb gibt es gerade zu kaufen.",
        "similar": "Vielleicht gefällt Ihnen stattdessen:",
    },
}

_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "Some items no longer sell: what was left out (page).", **_HTML},
    303: {"description": "To the platform URL that rebuilds the cart."},
    400: {"description": "A link that is not valid (friendly page).", **_HTML},
    404: {"description": "The link's cart is gone (friendly page).", **_HTML},
    410: {"description": "The link has expired; the page links to the store.", **_HTML},
}
#: The redirect is for this person now: never cached, and the token not sent on as Referer.
_REDIRECT_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@router.head(
    "/r/{token}",
    response_class=Response,
    responses=_RESPONSES,
    summary="Check a restore link (link checkers)",
    operation_id="check_restore_link",
)
def check_restore_link(token: str, request: Request) -> Response:
    """
    What `GET` answers, without the body and without counting a click (link checkers and
    mail scanners ask with HEAD).
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
    Count the click and redirect to the platform's cart-rebuilding URL for the cart this touch
    was about (a page instead when items no longer sell, or the link cannot be followed).
    """
    lang = "de" if negotiate(request.headers.get("accept-language")) == "de" else "en"
    texts = _TEXTS[lang]
    links: RestoreLinks = request.app.state.restore_links
    container = app_state(request).container
    try:
        target = links.read(token)
        found = restore_cart(
            uow=container.uow_factory(read_only=True), target=target, now=container.clock.now()
        )
    except RestoreLinkExpired as expired:
        return _expired_page(lang, texts, expired.store)
    except InvalidRestoreLink:
        return render_page(400, lang=lang, title=texts["title"], message=texts["body"])
    except NotFound:
        return render_page(404, lang=lang, title=texts["title"], message=texts["gone"])
    if is_click(request):
        count_click(container, found.touch.id)
    if not found.dropped:
        return RedirectResponse(cart_url(found), status_code=303, headers=_REDIRECT_HEADERS)
    if found.lines:
        return _dropped_page(lang, texts, found)
    return _nothing_left_page(lang, texts, found)


def cart_url(found: RestoreCart) -> str:
    """
    The redirect's target: the platform's URL for the lines still sold, with the valid code
    and the touch's UTM parameters.
    """
    return with_link_utm(platform_url(found), found)


def platform_url(found: RestoreCart) -> str:
    """
    The platform's own URL that rebuilds the cart (variants, quantities and the code); the
    store's home when the platform cannot be told the lines.
    """
    store = found.store
    if not store.domains:
        return "/"
    home = _home(store)
    if store.platform is Platform.SHOPIFY:
        return shopify.restore_url(store.domains[0], found.lines, found.code)
    if store.platform is Platform.WOOCOMMERCE:
        woo = _scheme(store, woocommerce.RestoreScheme) or woocommerce.RestoreScheme.CHECKOUT_LINK
        return woocommerce.restore_url(home, found.lines, found.code, scheme=woo)
    if store.platform is Platform.MAGENTO:
        scheme = _scheme(store, magento.RestoreScheme) or magento.RestoreScheme.CART_PAGE
        return magento.restore_url(home, found.lines, found.code, scheme=scheme)
    template = store.settings.get(RESTORE_TEMPLATE)
    if isinstance(template, str) and not check_restore_template(template):
        return custom_restore_url(template, found.lines, found.code)
    return home


def _scheme(store: Store, kind: type[_Scheme]) -> _Scheme | None:
    """
    The store's restore scheme for its platform, or None when unset or not one of `kind`.
    """
    section = store.settings.get(LINKS_SECTION)
    value = section.get(RESTORE_SCHEME) if isinstance(section, dict) else None
    return next((scheme for scheme in kind if scheme.value == value), None)


def _home(store: Store | None) -> str:
    return f"https://{store.domains[0]}" if store is not None and store.domains else "/"


def _expired_page(lang: str, texts: dict[str, str], store: Store | None) -> Response:
    return render_page(
        410,
        lang=lang,
        title=texts["expired_title"],
        message=texts["expired_body"],
        manage_href=_home(store),
        manage_label=texts["shop"],
    )


def _dropped_page(lang: str, texts: dict[str, str], found: RestoreCart) -> Response:
    """
    Some lines no longer sell: name them, and offer the rest of the cart.
    """
    return render_page(
        200,
        lang=lang,
        title=texts["dropped_title"],
        intro=texts["dropped_intro"],
        items=[{"title": line_title(line)} for line in found.dropped],
        continue_href=cart_url(found),
        continue_label=texts["continue"],
    )


def _nothing_left_page(lang: str, texts: dict[str, str], found: RestoreCart) -> Response:
    """
    No line sells any more: similar items when the catalog knows some, and the store.
    """
    items = [
        {
            "title": item.title,
            "href": similar_href(item, found),
            "price": price_text(item, lang),
        }
        for item in found.similar
    ]
    return render_page(
        200,
        lang=lang,
        title=texts["empty_title"],
        intro=texts["empty_intro"],
        message=texts["similar"] if items else None,
        items=items,
        manage_href=with_link_utm(_home(found.store), found),
        manage_label=texts["shop"],
    )
