"""
What rendering takes and gives: the facts of one touch's message (`RenderRequest`), the links it
carries (`MessageLinks`) and the content that comes out (`Rendered`). Email rendering
(`services.rendering`) and text rendering (`services.sms_text`) share these, and `preview` and
the dispatcher build them the same way (`services.compose`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from cartback.domain.cart import Cart
from cartback.domain.consent import Channel
from cartback.domain.guards import ItemStock
from cartback.domain.stores import Store


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageLinks:
    """
    The links a message carries, absolute URLs. UTM parameters are added by the renderer.
    """

    #: Brings the shopper back to this cart (`/r/{token}`, signed per touch).
    restore: str
    #: The short form of `restore` for texts (`/s/{code}`); None outside texts.
    short_restore: str | None
    #: The unsubscribe page (`/u/{token}`); also the `List-Unsubscribe` https URI.
    unsubscribe: str
    #: The store's own site.
    store: str


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferView:
    """
    The step's offer as a message shows it (issue #7 fills it; only a valid offer is shown).
    """

    code: str
    kind: str
    value: Decimal
    expires_at: datetime
    #: A co-marketing partner's name when the code is theirs (or a joint discount).
    partner: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TemplateOverride:
    """
    A store's own template for one name, channel and locale (`*` for any): Jinja2 sources.
    """

    name: str
    channel: Channel
    locale: str
    subject: str | None
    preheader: str | None
    html: str | None
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RenderRequest:
    """
    Everything one message is rendered from.
    """

    store: Store
    cart: Cart
    channel: Channel
    #: The flow step's template name (`reminder`, `support`, `resolution`, or the store's own).
    template: str
    flow: str
    step: int
    links: MessageLinks
    now: datetime
    #: The shopper's locale when known (`de-DE`); else the store's.
    locale: str | None = None
    #: Each cart line's latest stock read (same order as `cart.lines`); empty when unknown.
    stock: Sequence[ItemStock] = ()
    #: A text that is the first this number gets from the store: it says how to stop.
    first_text: bool = True
    offer: OfferView | None = None
    #: The store's overrides for this template (any locale); the renderer picks the locale.
    overrides: Sequence[TemplateOverride] = field(default_factory=tuple)
    first_name: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Rendered:
    """
    A message's content. Email: subject, preheader, text and HTML (CSS inlined). Text message:
    the text, its segments and encoding, and the estimated cost.
    """

    subject: str | None
    text: str
    html: str | None = None
    preheader: str | None = None
    locale: str | None = None
    segments: int | None = None
    #: `GSM-7` or `UCS-2`.
    encoding: str | None = None
    cost_estimate: Decimal | None = None
    cost_currency: str | None = None
