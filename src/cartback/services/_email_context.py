"""
The data an email template is rendered with: plain dicts, lists and strings built from a
`RenderRequest` and the store's message settings, every amount already formatted for the
message's locale and every link already carrying its UTM parameters. `email_context` documents
the names a merchant's template may use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from babel import Locale
from babel.numbers import format_decimal

from cartback.domain.events import LineItem
from cartback.domain.guards import ItemStock, StockRules
from cartback.services._email_strings import strings_for
from cartback.services._formatting import (
    absolute,
    direction,
    locale_tag,
    long_date,
    money,
    with_utm,
)
from cartback.services.message_parts import OfferView, RenderRequest
from cartback.services.message_settings import MessageSettings

#: How recent a stock read must be for the email to say "still available" or "only N left":
#: the send-time stock guard's own limit, so the message never claims more than the guard saw.
FRESH_STOCK_READ = StockRules().max_age
#: At or under this many units a fresh count is worth "only N left".
LOW_STOCK_AT = StockRules().low_stock_at


class Kind(StrEnum):
    """
    The built-in emails a template name can stand for.
    """

    REMINDER = "reminder"
    SUPPORT = "support"
    RESOLUTION = "resolution"
    BROWSE = "browse"
    BACK_IN_STOCK = "back_in_stock"
    LAUNCH = "launch"


@dataclass(frozen=True, kw_only=True, slots=True)
class _Line:
    line: LineItem
    stock: str | None
    left: int | None = None


def email_context(
    request: RenderRequest, *, kind: Kind | None, settings: MessageSettings, locale: Locale
) -> dict[str, Any]:
    """
    What the templates see. `kind` None (a name Cartback does not know) gets the reminder's
    words under a neutral subject.

    The names, all plain data:

    - `store`: `name`, `url` (the store's site), `logo_url`, `brand_color`, `button_text_color`,
      `postal_address` (list of lines), `support_email`.
    - `shopper`: `first_name` (or None). `greeting`, `intro`: the opening words.
    - `lang`, `dir` (`ltr`/`rtl`), `flow`, `step`, `template`.
    - `subject`, `preheader`: the built-in ones, for an override that keeps them.
    - `cta`: `label`, `url` (the restore link).
    - `items`: each `name`, `variant`, `quantity`, `quantity_label`, `unit_price`,
      `line_price` (formatted, or None), `image_url`, `url` (None when unavailable), `stock`
      (`available`, `low`, `unavailable` or None: not confirmed) and `stock_note` (the words).
      `unavailable_items` is the part of `items` no longer available.
    - `total` (formatted; items no longer available left out), `total_label`,
      `unavailable_note` (or None), `item_count`, `viewed_count`, `currency`.
    - `offer`: `code`, `discount`, `expires`, `text`; None when the message carries none.
    - `shipping`: `text`, `delivery` (either may be None); None without a rate for the
      destination (the store's country: a cart carries no shipping address).
    - `returns`: `summary`, `url`, `label`, or None. `payment` (a sentence, or None) and
      `payment_options` (the names). `reply`: the invitation to answer the email.
    - `why` (why they get it), `unsubscribe`: `label`, `url`. `t`: the built-in strings.
    """
    t = strings_for(locale.language)
    store = request.store
    currency = request.cart.currency or store.currency
    campaign, content = request.flow, f"{request.template}-{request.step}"

    def link(url: str) -> str:
        return with_utm(absolute(url, request.links.store), campaign=campaign, content=content)

    lines = _lines(request)
    items = [_item(entry, currency, locale, t, link, request.links.store) for entry in lines]
    unavailable = [item for item in items if item["stock"] == "unavailable"]
    values = {"store": store.name, "count": len(request.cart.signals.viewed)}
    offer = _offer(request.offer, currency, store.timezone, locale, t)
    first = next((i["name"] for i in items if i["stock"] != "unavailable"), store.name)
    words = _words(kind, t, {**values, "item": first}, offer)
    return {
        "store": _store(request, settings, link),
        "shopper": {"first_name": request.first_name},
        "greeting": t["greeting_named"].format(name=request.first_name)
        if request.first_name
        else t["greeting"],
        "lang": locale_tag(locale),
        "dir": direction(locale),
        "flow": request.flow,
        "step": request.step,
        "template": request.template,
        **words,
        "cta": {
            "label": t[f"cta.{(kind or Kind.REMINDER).value}"],
            "url": link(request.links.restore),
        },
        "items": items,
        "unavailable_items": unavailable,
        "total": money(_total(request, lines), currency, locale),
        "total_label": t["total"],
        "unavailable_note": t["unavailable_note"] if unavailable else None,
        "item_count": sum(e.line.quantity for e in lines if e.stock != "unavailable"),
        "viewed_count": values["count"],
        "currency": currency,
        "offer": offer,
        "shipping": _shipping(request, settings, lines, locale, t),
        "returns": _returns(settings, t, link),
        "payment": t["payment"].format(options=", ".join(settings.payment_options))
        if settings.payment_options
        else None,
        "payment_options": list(settings.payment_options),
        "reply": t["reply_email"].format(email=settings.support_email)
        if settings.support_email
        else t["reply"].format(store=store.name),
        "why": t["why.browse" if kind is Kind.BROWSE else "why"].format(store=store.name),
        "unsubscribe": {"label": t["unsubscribe"], "url": request.links.unsubscribe},
        "t": dict(t),
    }


def _words(
    kind: Kind | None, t: Mapping[str, str], values: dict[str, Any], offer: dict[str, str] | None
) -> dict[str, str]:
    """
    Subject, preheader and intro for the kind (the offer's own for a resolution with one).
    """
    name = (kind or Kind.REMINDER).value
    subject_key = f"subject.{name}" if kind is not None else "subject.neutral"
    preheader_key = f"preheader.{name}" if kind is not None else "preheader.neutral"
    if kind is Kind.RESOLUTION and offer is not None:
        subject_key, preheader_key = "subject.resolution_offer", "preheader.resolution_offer"
        values = {**values, **offer}
    intro_key = f"intro.{name}"
    if kind is Kind.BROWSE and values["count"] == 1:
        intro_key = "intro.browse_one"
    subject = t[subject_key].format(**values)
    return {
        "subject": subject[:1].upper() + subject[1:],
        "preheader": t[preheader_key].format(**values),
        "intro": t[intro_key].format(**values),
    }


def _lines(request: RenderRequest) -> list[_Line]:
    reads: list[ItemStock | None] = [*request.stock[: len(request.cart.lines)]]
    reads += [None] * (len(request.cart.lines) - len(reads))
    return [
        _Line(line=line, stock=_stock(read, request), left=read.quantity if read else None)
        for line, read in zip(request.cart.lines, reads, strict=True)
        if line.quantity > 0
    ]


def _stock(read: ItemStock | None, request: RenderRequest) -> str | None:
    """
    What the email may say about a line: `unavailable` on any read saying so (old or new),
    `low`/`available` only on a read within `FRESH_STOCK_READ`, else nothing.
    """
    if read is None or read.read_at is None:
        return None
    if not read.in_stock or (read.quantity is not None and read.quantity <= 0):
        return "unavailable"
    if request.now - read.read_at > FRESH_STOCK_READ:
        return None
    if read.quantity is not None and read.quantity <= LOW_STOCK_AT:
        return "low"
    return "available"


def _item(
    entry: _Line, currency: str, locale: Locale, t: Mapping[str, str], link: Any, base: str
) -> dict[str, Any]:
    line, stock = entry.line, entry.stock
    notes = {
        "available": t["still_available"],
        "low": t["only_left"].format(count=entry.left),
        "unavailable": t["unavailable"],
    }
    price = line.unit_price
    return {
        "name": line.name or line.sku or line.product_id or line.variant_id or "",
        "variant": line.variant_name,
        "quantity": line.quantity,
        "quantity_label": t["quantity"].format(quantity=line.quantity),
        "unit_price": None if price is None else money(price, currency, locale),
        "line_price": None if price is None else money(price * line.quantity, currency, locale),
        "image_url": absolute(line.image_url, base) if line.image_url else None,
        "url": link(line.url) if line.url and stock != "unavailable" else None,
        "stock": stock,
        "stock_note": notes.get(stock or ""),
    }


def _total(request: RenderRequest, lines: list[_Line]) -> Decimal:
    """
    The cart's total, or, when some items are no longer available, the others' sum.
    """
    if all(entry.stock != "unavailable" for entry in lines):
        return request.cart.total
    return sum(
        (
            e.line.unit_price * e.line.quantity
            for e in lines
            if e.stock != "unavailable" and e.line.unit_price is not None
        ),
        Decimal(0),
    )


def _store(request: RenderRequest, settings: MessageSettings, link: Any) -> dict[str, Any]:
    colour = settings.brand_color or "#1f2937"
    return {
        "name": request.store.name,
        "url": link(request.links.store),
        "logo_url": settings.logo_url,
        "brand_color": colour,
        "button_text_color": _readable_on(colour),
        "postal_address": settings.postal_address.split("\n") if settings.postal_address else [],
        "support_email": settings.support_email,
    }


def _readable_on(colour: str) -> str:
    """
    Black or white text, whichever reads better on the colour (WCAG relative luminance).
    """
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#111111" if luminance > 0.179 else "#ffffff"


def _offer(
    offer: OfferView | None, currency: str, timezone: str, locale: Locale, t: Mapping[str, str]
) -> dict[str, str] | None:
    if offer is None:
        return None
    if offer.kind == "percent":
        discount = t["discount.percent"].format(value=format_decimal(offer.value, locale=locale))
    elif offer.kind == "fixed":
        discount = t["discount.fixed"].format(amount=money(offer.value, currency, locale))
    else:
        discount = t["discount.free_shipping"]
    expires = long_date(offer.expires_at, timezone, locale)
    if offer.partner:
        text = t["offer.partner"].format(
            partner=offer.partner, code=offer.code, discount=discount, date=expires
        )
    else:
        text = t["offer"].format(code=offer.code, discount=discount, date=expires)
    return {
        "code": offer.code,
        "discount": discount,
        "expires": expires,
        "date": expires,
        "text": text,
    }


def _shipping(
    request: RenderRequest,
    settings: MessageSettings,
    lines: list[_Line],
    locale: Locale,
    t: Mapping[str, str],
) -> dict[str, str | None] | None:
    """
    Shipping cost and delivery estimate to the destination: the store's own country, since a
    cart carries no shipping address (the `*` rate covers a store without a country).
    """
    country = request.store.country
    rate = settings.shipping_to(country)
    if rate is None:
        return None
    currency = request.store.currency
    free_over = None if rate.free_over is None else money(rate.free_over, currency, locale)
    same_currency = (request.cart.currency or currency) == currency
    reached = (
        rate.free_over is not None and same_currency and _total(request, lines) >= rate.free_over
    )
    if reached or rate.cost == Decimal(0):
        cost = t["shipping_free"]
    elif rate.cost is None:
        cost = t["shipping_free_over"].format(amount=free_over)
    elif free_over is not None:
        cost = t["shipping_cost_free_over"].format(
            cost=money(rate.cost, currency, locale), amount=free_over
        )
    else:
        cost = money(rate.cost, currency, locale)
    place = locale.territories.get(country or "") if country else None
    text = (
        t["shipping"].format(country=place, cost=cost)
        if place
        else t["shipping_any"].format(cost=cost)
    )
    delivery = None
    if rate.min_days is not None and rate.max_days is not None:
        delivery = (
            t["delivery_days"].format(days=rate.min_days)
            if rate.min_days == rate.max_days
            else t["delivery"].format(min=rate.min_days, max=rate.max_days)
        )
    return {"text": text, "delivery": delivery}


def _returns(settings: MessageSettings, t: Mapping[str, str], link: Any) -> dict[str, Any] | None:
    if settings.returns_summary is None and settings.returns_url is None:
        return None
    return {
        "label": t["returns"],
        "summary": settings.returns_summary,
        "url": link(settings.returns_url) if settings.returns_url else None,
        "link_label": t["returns_link"],
    }
