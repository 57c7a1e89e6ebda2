"""
Example data for messages nobody is waiting for: the cart `cartback preview` shows when it is
given none, and the one a store's template is test-rendered against before it is saved (with
every optional part filled, so a template's branches meet real values).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from cartback.domain.cart import Cart
from cartback.domain.consent import Channel
from cartback.domain.events import LineItem, Stage
from cartback.domain.guards import ItemStock
from cartback.domain.stores import Store
from cartback.services.message_parts import MessageLinks, OfferView, RenderRequest

_SAMPLE_LINES = (
    ("sample-1", "Merino wool sweater", "Forest green / M", 1, Decimal("89.00")),
    ("sample-2", "Organic cotton T-shirt", "White / L", 2, Decimal("24.50")),
    ("sample-3", "Leather card holder", None, 1, Decimal("35.00")),
)


def preview_links(base_url: str, store: Store) -> MessageLinks:
    """
    The links a preview carries: Cartback's preview pages and the store's site.
    """
    base = base_url.rstrip("/")
    domain = store.domains[0] if store.domains else "example.com"
    return MessageLinks(
        restore=f"{base}/r/preview",
        short_restore=f"{base}/s/preview",
        unsubscribe=f"{base}/u/preview",
        store=f"https://{domain}",
    )


def sample_cart(currency: str, *, image_base: str | None = None) -> Cart:
    """
    A fixed example cart of three lines in the currency (images under `image_base` if given).
    """
    lines = tuple(
        LineItem(
            product_id=key,
            name=name,
            variant_name=variant,
            quantity=quantity,
            unit_price=price,
            url=f"/products/{key}",
            image_url=f"{image_base.rstrip('/')}/{key}.png" if image_base else None,
        )
        for key, name, variant, quantity, price in _SAMPLE_LINES
    )
    return Cart(key="preview", currency=currency, lines=lines, stage=Stage.CART)


def sample_request(
    store: Store, *, template: str, channel: Channel, now: datetime, base_url: str
) -> RenderRequest:
    """
    A request with every optional part present: a named shopper, fresh stock reads (one low),
    an offer, the store's links.
    """
    cart = sample_cart(store.currency)
    stock = tuple(
        ItemStock(key=line.product_id or "", in_stock=True, quantity=3 + 10 * i, read_at=now)
        for i, line in enumerate(cart.lines)
    )
    offer = OfferView(
        code="WELCOME10", kind="percent", value=Decimal(10), expires_at=now + timedelta(days=2)
    )
    return RenderRequest(
        store=store,
        cart=cart,
        channel=channel,
        template=template,
        flow="preview",
        step=0,
        links=preview_links(base_url, store),
        now=now,
        stock=stock,
        offer=offer,
        first_name="Alex",
    )
