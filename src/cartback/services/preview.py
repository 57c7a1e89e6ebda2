"""
`cartback preview`: a flow step's message rendered for one of the store's carts (or an example
cart) with preview links, so merchants see what goes out before it does. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cartback.domain.consent import Channel
from cartback.domain.errors import NotFound
from cartback.domain.flows import Step
from cartback.domain.offers import OfferRules, expiry
from cartback.domain.ports import UnitOfWork
from cartback.domain.time import Clock
from cartback.services._samples import preview_links, sample_cart
from cartback.services.enrollment import store_flows
from cartback.services.message_parts import OfferView, Rendered, RenderRequest
from cartback.services.offer_settings import offer_rules
from cartback.services.rendering import render_email
from cartback.services.sms_text import render_sms
from cartback.services.templates import overrides_for

#: The code a preview shows for a step's offer (the real one is made at send time).
PREVIEW_CODE = "PREVIEW10"


@dataclass(frozen=True, kw_only=True, slots=True)
class Preview:
    """
    One step's message as it would go out: its channel, template and content.
    """

    flow: str
    step: int
    channel: Channel
    template: str
    rendered: Rendered


def preview_message(
    *,
    uow: UnitOfWork,
    clock: Clock,
    store_id: str,
    flow: str,
    step: int,
    base_url: str,
    cart_key: str | None = None,
    locale: str | None = None,
    image_base: str | None = None,
) -> Preview:
    """
    Render step `step` (from 0, as touches count them) of the store's flow `flow` for the cart
    `cart_key`, else for an example cart in the store's currency (images under `image_base`).
    A step with an offer shows an example of it.

    Raises:
        NotFound: no such store, flow, step or cart.
    """
    now = clock.now()
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        found = store_flows(uow, store_id).flow_set.get(flow)
        if found is None:
            names = ", ".join(f.name for f in store_flows(uow, store_id).flow_set.flows)
            raise NotFound(f"no flow {flow!r} in store {store_id} (flows: {names})")
        if not 0 <= step < len(found.steps):
            raise NotFound(f"flow {flow!r} has steps 0 to {len(found.steps) - 1}, not {step}")
        chosen = found.steps[step]
        if cart_key is None:
            cart = sample_cart(store.currency, image_base=image_base)
        else:
            record = uow.carts.get(store_id, cart_key)
            if record is None:
                raise NotFound(f"no cart {cart_key!r} in store {store_id}")
            cart = record.cart
        overrides = overrides_for(uow, store_id, chosen.template, chosen.channel)
    request = RenderRequest(
        store=store,
        cart=cart,
        channel=chosen.channel,
        template=chosen.template,
        flow=flow,
        step=step,
        links=preview_links(base_url, store),
        now=now,
        locale=locale,
        offer=_example_offer(chosen, offer_rules(store), now),
        overrides=overrides,
    )
    render = render_sms if chosen.channel is Channel.SMS else render_email
    return Preview(
        flow=flow,
        step=step,
        channel=chosen.channel,
        template=chosen.template,
        rendered=render(request),
    )


def _example_offer(step: Step, rules: OfferRules, now: datetime) -> OfferView | None:
    if step.offer is None:
        return None
    return OfferView(
        code=PREVIEW_CODE,
        kind=step.offer.kind.value,
        value=step.offer.value,
        expires_at=expiry(step.offer, rules, now),
    )
