"""
A store's offer settings over HTTP (server key): the same as `cartback offers configure`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.state import app_state
from cartback.domain.offers import OfferRules
from cartback.services.offer_settings import (
    configure_offers,
    read_offer_settings,
    rules_json,
)

router = APIRouter(tags=["offers"], responses=PROBLEM_RESPONSES)


class OfferSettingsPublic(BaseModel):
    """
    The defaults of the store's offers: how long a code lives (seconds, and as a flow file
    writes it), at most how many offers a contact gets per `window` (seconds; null: no limit),
    the margin to keep after a discount (a fraction as a decimal string; null: none) and the
    codes' prefix.
    """

    expires_in: int
    expires_in_text: str
    max_per_contact: int | None
    margin_floor: str | None
    prefix: str
    window: int


class OfferSettingsIn(BaseModel):
    """
    A change to the offer settings: only the fields given change; null restores a default.
    `expires_in` is seconds or a duration (`48h`), `margin_floor` a fraction (0.25 or "0.25"),
    `prefix` up to 8 of A-Z and 2-9, optionally ending in `-` (`""`: none).
    """

    model_config = ConfigDict(extra="forbid")
    expires_in: StrictInt | StrictStr | None = Field(default=None)
    max_per_contact: StrictInt | None = None
    margin_floor: StrictStr | StrictFloat | StrictInt | None = None
    prefix: StrictStr | None = Field(default=None, max_length=20)


def _public(rules: OfferRules) -> OfferSettingsPublic:
    return OfferSettingsPublic.model_validate(rules_json(rules))


@router.get(
    "/v1/settings/offers", response_model=OfferSettingsPublic, summary="Read the offer settings"
)
def read_offers_settings(principal: ServerPrincipal, request: Request) -> OfferSettingsPublic:
    """
    The store's offer defaults: code lifetime, offers per contact, margin floor, code prefix.
    """
    uow = app_state(request).container.uow_factory(read_only=True)
    return _public(read_offer_settings(uow=uow, store_id=principal.store.id))


@router.put(
    "/v1/settings/offers", response_model=OfferSettingsPublic, summary="Change the offer settings"
)
def put_offers_settings(
    body: OfferSettingsIn, principal: ServerPrincipal, request: Request
) -> OfferSettingsPublic:
    """
    Change some offer settings (`{"expires_in": "72h", "margin_floor": "0.3"}`); fields left
    out keep their value, null restores the default. Every bad field answers 400 and nothing
    changes.
    """
    state = app_state(request)
    rules = configure_offers(
        uow=state.container.uow_factory(),
        clock=state.container.clock,
        store_id=principal.store.id,
        **body.model_dump(exclude_unset=True),
    )
    return _public(rules)
