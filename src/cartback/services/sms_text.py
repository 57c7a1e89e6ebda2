"""
Recovery texts: short and human, in the shopper's language (English and German; others fall
back to English), with the store's name, the short restore link, and how to stop in the first
text a number gets from the store. A text over the store's segment budget is shortened
(`domain.sms_text.fit`), never split into more parts: the item names go first, then the
greeting, then the words before the link; the wording is cut as a last resort. The store's
name, the link and the opt-out notice always stay, and so does a resolution's offer code.

The locale is the request's (the shopper's), else the store's `messages.locale` setting, else
English. Each rendering carries its segments, encoding and estimated cost (segments times the
store's price per segment, `services.sms_config.sms_pricing`).
"""

from __future__ import annotations

from collections.abc import Mapping

from babel.numbers import format_currency

from cartback.domain.cart import Cart
from cartback.domain.sms_text import Part, count_segments, fit
from cartback.domain.stores import Store
from cartback.services.message_parts import OfferView, Rendered, RenderRequest
from cartback.services.sms_config import sms_pricing

#: How many item names a text lists before "+N more".
MAX_ITEMS = 3
#: A product name longer than this is cut (it goes first when the text is too long anyway).
MAX_ITEM_NAME = 40

#: The words of each text per language: `wording` per template, and the shared pieces.
TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "greeting": "Hi {name}!",
        "items": "In your cart: {items}.",
        "more": "+{count} more",
        "stop": "Reply STOP to opt out.",
        "reminder": "Your cart is still waiting for you.",
        "reminder_cta": "Finish your order:",
        "support": "Questions about shipping, returns or paying? Reply here and we'll help.",
        "support_cta": "Your cart:",
        "resolution": "Still deciding? Your cart is saved for you.",
        "resolution_offer": "Here's {discount} off your cart with code {code}.",
        "resolution_partner": "A gift from our partner {partner}: {discount} with code {code}.",
        "resolution_cta": "Use it here:",
        "browse": "Still thinking about the products you looked at?",
        "browse_cta": "Take another look:",
        "back_in_stock": "Good news: something in your cart is back in stock.",
        "back_in_stock_cta": "Get it here:",
        "launch": "It's here: what you were waiting for is now available.",
        "launch_cta": "Order now:",
        "free_shipping": "free shipping",
    },
    "de": {
        "greeting": "Hallo {name}!",
        "items": "In Ihrem Warenkorb: {items}.",
        "more": "+{count} weitere",
        "stop": "Abmelden: Antworten Sie STOP.",
        "reminder": "Ihr Warenkorb wartet noch auf Sie.",
        "reminder_cta": "Zur Bestellung:",
        "support": "Fragen zu Versand, Rückgabe oder Zahlung? Antworten Sie einfach, wir helfen.",
        "support_cta": "Ihr Warenkorb:",
        "resolution": "Noch unentschlossen? Ihr Warenkorb ist für Sie gespeichert.",
        "resolution_offer": "Mit dem Code {code} erhalten Sie {discount} Rabatt.",
        "resolution_partner": "Ein Geschenk unseres Partners {partner}: {discount} Rabatt mit "
        "dem Code {code}.",
        "resolution_cta": "Hier einlösen:",
        "browse": "Denken Sie noch an die Produkte, die Sie angesehen haben?",
        "browse_cta": "Noch einmal ansehen:",
        "back_in_stock": "Gute Nachricht: Ein Artikel aus Ihrem Warenkorb ist wieder da.",
        "back_in_stock_cta": "Jetzt sichern:",
        "launch": "Es ist so weit: Worauf Sie gewartet haben, ist jetzt erhältlich.",
        "launch_cta": "Jetzt bestellen:",
        "free_shipping": "kostenlosen Versand",
    },
}
DEFAULT_LANGUAGE = "en"
#: The templates with words of their own; any other name is sent as a reminder.
TEMPLATES = frozenset({"reminder", "support", "resolution", "browse", "back_in_stock", "launch"})
#: Templates about products rather than the cart's contents: no item list.
_WITHOUT_ITEMS = frozenset({"browse"})
#: Drop order when over budget: item names first, then the greeting, then the call to action.
_DROP_ITEMS, _DROP_GREETING, _DROP_CTA = 1, 2, 3


def render_sms(request: RenderRequest) -> Rendered:
    """
    The text for one touch, fitted to the store's segment budget, with its segments, encoding
    and estimated cost.
    """
    language = sms_language(request.locale, request.store)
    words = TEXTS[language]
    template = request.template if request.template in TEMPLATES else "reminder"
    pricing = sms_pricing(request.store)
    text = fit(_parts(request, words, template, language), budget=pricing.segment_budget)
    counted = count_segments(text)
    return Rendered(
        subject=None,
        text=text,
        locale=language,
        segments=counted.segments,
        encoding=counted.encoding.value,
        cost_estimate=pricing.segment_price * counted.segments,
        cost_currency=pricing.price_currency,
    )


def sms_language(locale: str | None, store: Store) -> str:
    """
    The language a text is written in: the shopper's locale, else the store's
    `messages.locale`, else English; a language without texts falls back to English.
    """
    chosen = locale or _store_locale(store) or DEFAULT_LANGUAGE
    language = chosen.replace("_", "-").split("-")[0].strip().lower()
    return language if language in TEXTS else DEFAULT_LANGUAGE


def _store_locale(store: Store) -> str | None:
    section = store.settings.get("messages")
    found = section.get("locale") if isinstance(section, dict) else None
    return found if isinstance(found, str) and found.strip() else None


def _parts(
    request: RenderRequest, words: Mapping[str, str], template: str, language: str
) -> list[Part]:
    """
    The text's parts in reading order, each marked as required, droppable or the wording.
    """
    link = request.links.short_restore or request.links.restore
    parts = [Part(text=f"{_plain(request.store.name)}:")]
    if request.first_name:
        parts.append(
            Part(
                text=words["greeting"].format(name=_plain(request.first_name)), drop=_DROP_GREETING
            )
        )
    parts.extend(_wording(request, words, template, language))
    if template not in _WITHOUT_ITEMS:
        items = _items(request.cart, words)
        if items:
            parts.append(Part(text=words["items"].format(items=items), drop=_DROP_ITEMS))
    parts.append(Part(text=words[f"{template}_cta"], drop=_DROP_CTA))
    parts.append(Part(text=link))
    if request.first_text:
        parts.append(Part(text=words["stop"]))
    return parts


def _wording(
    request: RenderRequest, words: Mapping[str, str], template: str, language: str
) -> list[Part]:
    """
    The template's free wording; a resolution with an offer says the code instead, and the
    code stays whatever the budget (without it the text has no point).
    """
    offer = request.offer
    if template == "resolution" and offer is not None:
        discount = _discount(offer, request.cart, request.store, words, language)
        if offer.partner:
            sentence = words["resolution_partner"].format(
                partner=_plain(offer.partner), discount=discount, code=_plain(offer.code)
            )
        else:
            sentence = words["resolution_offer"].format(discount=discount, code=_plain(offer.code))
        return [Part(text=sentence)]
    return [Part(text=words[template], truncatable=True)]


def _discount(
    offer: OfferView, cart: Cart, store: Store, words: Mapping[str, str], language: str
) -> str:
    """
    The offer's value in words: `10%`, `€5.00` in the cart's currency, or free shipping.
    """
    kind = offer.kind.lower()
    if "ship" in kind:
        return words["free_shipping"]
    if "percent" in kind:
        return f"{offer.value.normalize():f}%"
    currency = cart.currency or store.currency
    return format_currency(offer.value, currency, locale=language)


def _items(cart: Cart, words: Mapping[str, str]) -> str:
    """
    The first names in the cart (`2x Name` for several units) and how many more lines.
    """
    named = [line for line in cart.lines if line.name and line.quantity > 0]
    shown = []
    for line in named[:MAX_ITEMS]:
        name = _plain(line.name or "")
        if len(name) > MAX_ITEM_NAME:
            name = name[: MAX_ITEM_NAME - 1].rstrip() + "\u2026"
        shown.append(f"{line.quantity}x {name}" if line.quantity > 1 else name)
    rest = len(named) - len(shown)
    if rest > 0:
        shown.append(words["more"].format(count=rest))
    return ", ".join(shown)


def _plain(value: str) -> str:
    """
    A name on one line: control characters and runs of whitespace become single spaces.
    """
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())
