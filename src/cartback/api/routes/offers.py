"""
`GET /v1/offers/{code}` (`contract.md` §5.5): whether a code Cartback gave can be used now, so
a custom site (no platform API to create codes on) can honour it at checkout. Server keys only.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.state import app_state
from cartback.domain.flows import OfferKind
from cartback.domain.offers import currency_places
from cartback.services.offers import look_up_offer

router = APIRouter(tags=["offers"], responses=PROBLEM_RESPONSES)


class OfferPublic(BaseModel):
    """
    A discount code and whether it is valid now.
    """

    code: str
    valid: bool
    #: `percent`, `fixed` or `free_shipping`.
    kind: str
    #: Percent (`"10"`, `"12.5"`), or an amount in `currency` (`"5.00"`); `"0"` for free shipping.
    value: str
    currency: str
    expires_at: datetime
    #: `pending`, `active`, `failed`, `superseded`, `redeemed`, `expired` or `revoked`.
    status: str
    #: The platform's cart id of the cart it was given for.
    cart_id: str | None


@router.get("/v1/offers/{code}", response_model=OfferPublic, summary="Check an offer's code")
def read_offer(
    principal: ServerPrincipal,
    request: Request,
    code: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")],
) -> OfferPublic:
    """
    The code's offer: `valid` is true only while it is live and unexpired, so checkout can
    apply it. Codes compare without regard to case. Unknown codes answer 404.
    """
    state = app_state(request)
    found = look_up_offer(
        uow=state.container.uow_factory(read_only=True),
        store_id=principal.store.id,
        code=code,
        now=state.container.clock.now(),
    )
    offer = found.offer
    return OfferPublic(
        code=offer.code,
        valid=found.valid,
        kind=offer.kind.value,
        value=_value_text(offer.kind, offer.value, offer.currency),
        currency=offer.currency,
        expires_at=offer.expires_at,
        status=offer.status.value,
        cart_id=found.cart_key,
    )


def _value_text(kind: OfferKind, value: Decimal, currency: str) -> str:
    if kind is OfferKind.FIXED:
        return f"{value.quantize(Decimal(1).scaleb(-currency_places(currency))):f}"
    return f"{value.normalize():f}"
