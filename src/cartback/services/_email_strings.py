"""
The built-in emails' words, by language. A message takes its language's strings, else
English; a store's template override for the locale replaces them altogether. Placeholders are
`str.format` fields filled by `services._email_context` before the templates see them.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_LANGUAGE = "en"

_EN: dict[str, str] = {
    "greeting": "Hello,",
    "greeting_named": "Hi {name},",
    "subject.reminder": "You left something in your cart",
    "preheader.reminder": "Your items are saved at {store}, ready when you are.",
    "intro.reminder": "You left these in your cart at {store}. They are saved for you.",
    "cta.reminder": "Return to your cart",
    "subject.support": "Questions before you order?",
    "preheader.support": "Shipping, delivery, returns and payment at {store}, answered.",
    "intro.support": "Still deciding? Here is what people often ask before they order.",
    "cta.support": "Complete your order",
    "subject.resolution": "Your cart is still waiting",
    "subject.resolution_offer": "{discount} on your cart",
    "preheader.resolution": "A last reminder about your cart at {store}.",
    "preheader.resolution_offer": "Use code {code} before {date}.",
    "intro.resolution": "This is our last reminder about the items in your cart.",
    "cta.resolution": "Go to your cart",
    "subject.browse": "Still thinking it over?",
    "preheader.browse": "The products you looked at are a click away at {store}.",
    "intro.browse": "You looked at {count} products at {store}. Take another look?",
    "intro.browse_one": "You looked at a product at {store}. Take another look?",
    "cta.browse": "Continue shopping",
    "subject.back_in_stock": "Back in stock: {item}",
    "preheader.back_in_stock": "{item} is available again at {store}.",
    "intro.back_in_stock": "Good news: an item from your cart is available again.",
    "cta.back_in_stock": "Return to your cart",
    "subject.launch": "Now available: {item}",
    "preheader.launch": "{item} has launched at {store}.",
    "intro.launch": "An item you were waiting for has launched.",
    "cta.launch": "Return to your cart",
    "subject.neutral": "Your cart at {store}",
    "preheader.neutral": "Your items are saved at {store}.",
    "quantity": "Qty {quantity}",
    "total": "Total",
    "still_available": "still available",
    "only_left": "only {count} left",
    "unavailable": "no longer available",
    "unavailable_note": "Items no longer available are not included in the total.",
    "offer": "Your code {code}: {discount}, valid until {date}.",
    "offer.partner": "From our partner {partner}, code {code}: {discount}, valid until {date}.",
    "discount.percent": "{value}% off",
    "discount.fixed": "{amount} off",
    "discount.free_shipping": "free shipping",
    "good_to_know": "Good to know",
    "shipping": "Shipping to {country}: {cost}",
    "shipping_any": "Shipping: {cost}",
    "shipping_free": "free",
    "shipping_free_over": "free on orders over {amount}",
    "shipping_cost_free_over": "{cost}, free on orders over {amount}",
    "delivery": "Delivery in {min} to {max} days",
    "delivery_days": "Delivery in {days} days",
    "returns": "Returns",
    "returns_link": "Read our returns policy",
    "payment": "We accept {options}.",
    "reply": "Questions? Just reply to this email and {store} will answer.",
    "reply_email": "Questions? Just reply to this email, or write to {email}.",
    "why": "You get this email because you left items in your cart at {store}.",
    "why.browse": "You get this email because you looked at products at {store} and agreed "
    "to hear from us.",
    "unsubscribe": "Unsubscribe",
    "visit": "Visit {store}",
}

_DE: dict[str, str] = {
    "greeting": "Hallo,",
    "greeting_named": "Hallo {name},",
    "subject.reminder": "Sie haben etwas im Warenkorb vergessen",
    "preheader.reminder": "Ihre Artikel sind bei {store} gespeichert.",
    "intro.reminder": "Diese Artikel liegen noch in Ihrem Warenkorb bei {store}.",
    "cta.reminder": "Zum Warenkorb",
    "subject.support": "Noch Fragen vor der Bestellung?",
    "preheader.support": "Versand, Lieferung, Rückgabe und Zahlung bei {store} im Überblick.",
    "intro.support": "Noch unentschlossen? Das fragen viele vor der Bestellung.",
    "cta.support": "Bestellung abschließen",
    "subject.resolution": "Ihr Warenkorb wartet noch",
    "subject.resolution_offer": "{discount} auf Ihren Warenkorb",
    "preheader.resolution": "Eine letzte Erinnerung an Ihren Warenkorb bei {store}.",
    "preheader.resolution_offer": "Code {code} gilt bis {date}.",
    "intro.resolution": "Dies ist unsere letzte Erinnerung an die Artikel in Ihrem Warenkorb.",
    "cta.resolution": "Zum Warenkorb",
    "subject.browse": "Noch am Überlegen?",
    "preheader.browse": "Die angesehenen Produkte sind nur einen Klick entfernt.",
    "intro.browse": "Sie haben sich {count} Produkte bei {store} angesehen. Noch einmal schauen?",
    "intro.browse_one": "Sie haben sich ein Produkt bei {store} angesehen. Noch einmal schauen?",
    "cta.browse": "Weiter einkaufen",
    "subject.back_in_stock": "Wieder da: {item}",
    "preheader.back_in_stock": "{item} ist bei {store} wieder erhältlich.",
    "intro.back_in_stock": "Gute Nachricht: Ein Artikel aus Ihrem Warenkorb ist wieder da.",
    "cta.back_in_stock": "Zum Warenkorb",
    "subject.launch": "Jetzt erhältlich: {item}",
    "preheader.launch": "{item} ist bei {store} erschienen.",
    "intro.launch": "Ein Artikel, auf den Sie gewartet haben, ist jetzt erhältlich.",
    "cta.launch": "Zum Warenkorb",
    "subject.neutral": "Ihr Warenkorb bei {store}",
    "preheader.neutral": "Ihre Artikel sind bei {store} gespeichert.",
    "quantity": "Menge {quantity}",
    "total": "Summe",
    "still_available": "noch verfügbar",
    "only_left": "nur noch {count} verfügbar",
    "unavailable": "nicht mehr verfügbar",
    "unavailable_note": "Nicht mehr verfügbare Artikel sind nicht in der Summe enthalten.",
    "offer": "Ihr Code {code}: {discount}, gültig bis {date}.",
    "offer.partner": "Von unserem Partner {partner}, Code {code}: {discount}, gültig bis {date}.",
    "discount.percent": "{value} % Rabatt",
    "discount.fixed": "{amount} Rabatt",
    "discount.free_shipping": "kostenloser Versand",
    "good_to_know": "Gut zu wissen",
    "shipping": "Versand nach {country}: {cost}",
    "shipping_any": "Versand: {cost}",
    "shipping_free": "kostenlos",
    "shipping_free_over": "kostenlos ab {amount}",
    "shipping_cost_free_over": "{cost}, kostenlos ab {amount}",
    "delivery": "Lieferung in {min} bis {max} Tagen",
    "delivery_days": "Lieferung in {days} Tagen",
    "returns": "Rückgabe",
    "returns_link": "Unsere Rückgabebedingungen",
    "payment": "Wir akzeptieren {options}.",
    "reply": "Fragen? Antworten Sie einfach auf diese E-Mail, {store} meldet sich.",
    "reply_email": "Fragen? Antworten Sie einfach auf diese E-Mail oder schreiben Sie an {email}.",
    "why": "Sie erhalten diese E-Mail, weil Sie Artikel im Warenkorb bei {store} gelassen haben.",
    "why.browse": "Sie erhalten diese E-Mail, weil Sie sich Produkte bei {store} angesehen und "
    "Nachrichten zugestimmt haben.",
    "unsubscribe": "Abmelden",
    "visit": "Zu {store}",
}

STRINGS: Mapping[str, Mapping[str, str]] = {"en": _EN, "de": _DE}


def strings_for(language: str) -> Mapping[str, str]:
    """
    The strings of a language (`de`), English when Cartback has none in it; a key the language
    lacks falls back to English too.
    """
    found = STRINGS.get(language)
    if found is None or found is _EN:
        return _EN
    return {**_EN, **found}
