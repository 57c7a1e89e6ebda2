"""
A store's ad-network accounts over HTTP (server key): the same as `cartback ads configure`.
Tokens go in and are sealed; they never come out.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.state import app_state
from cartback.domain.errors import NotFound
from cartback.domain.stores import Store
from cartback.services.ads_config import ads_summary, configure_google, configure_meta

router = APIRouter(tags=["ads"], responses=PROBLEM_RESPONSES)


class MetaAdsPublic(BaseModel):
    """
    The store's Meta account, without its token: the ad account, the pixel and the Custom
    Audience each audience is pushed to.
    """

    ad_account_id: str | None = None
    pixel_id: str | None = None
    audiences: dict[str, str] = Field(default_factory=dict)


class GoogleAdsPublic(BaseModel):
    """
    The store's Google Ads account, without its tokens: the customer, the manager account the
    access goes through, and the Customer Match list each audience is pushed to.
    """

    customer_id: str | None = None
    login_customer_id: str | None = None
    audiences: dict[str, str] = Field(default_factory=dict)


class AdsSettingsPublic(BaseModel):
    """
    The store's ad accounts; a network not configured is null.
    """

    meta: MetaAdsPublic | None = None
    google: GoogleAdsPublic | None = None


class MetaAdsIn(BaseModel):
    """
    A change to the Meta account: fields left out keep their value (the token is needed the
    first time); in `audiences`, an empty id stops pushing that audience.
    """

    model_config = ConfigDict(extra="forbid")
    access_token: StrictStr | None = Field(default=None, max_length=512)
    ad_account_id: StrictStr | None = Field(default=None, max_length=30)
    pixel_id: StrictStr | None = Field(default=None, max_length=30)
    audiences: dict[StrictStr, StrictStr] | None = None


class GoogleAdsIn(BaseModel):
    """
    A change to the Google Ads account: fields left out keep their value (both tokens and the
    customer are needed the first time); customer ids may have dashes.
    """

    model_config = ConfigDict(extra="forbid")
    developer_token: StrictStr | None = Field(default=None, max_length=512)
    access_token: StrictStr | None = Field(default=None, max_length=4096)
    customer_id: StrictStr | None = Field(default=None, max_length=20)
    login_customer_id: StrictStr | None = Field(default=None, max_length=20)
    audiences: dict[StrictStr, StrictStr] | None = None


class AdsSettingsIn(BaseModel):
    """
    A change to one or both accounts; each network is validated and saved on its own.
    """

    model_config = ConfigDict(extra="forbid")
    meta: MetaAdsIn | None = None
    google: GoogleAdsIn | None = None


@router.get("/v1/settings/ads", response_model=AdsSettingsPublic, summary="Read the ad accounts")
def read_ads_settings(principal: ServerPrincipal, request: Request) -> AdsSettingsPublic:
    """
    The store's Meta and Google Ads accounts and audience mappings, never a token.
    """
    container = app_state(request).container
    with container.uow_factory(read_only=True) as uow:
        store = uow.stores.get(principal.store.id)
    if store is None:
        raise NotFound()
    return _public(store)


@router.put("/v1/settings/ads", response_model=AdsSettingsPublic, summary="Change the ad accounts")
def put_ads_settings(
    body: AdsSettingsIn, principal: ServerPrincipal, request: Request
) -> AdsSettingsPublic:
    """
    Set the Meta and/or Google Ads account (`{"meta": {"access_token": "…", "audiences":
    {"viewed-cart": "2385…"}}}`). A malformed field answers 400 naming it, and that network
    is left as it was.
    """
    container = app_state(request).container
    store = principal.store
    if body.meta is not None:
        meta = body.meta
        store = configure_meta(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            store_id=store.id,
            access_token=meta.access_token,
            ad_account_id=meta.ad_account_id,
            pixel_id=meta.pixel_id,
            audiences=meta.audiences,
        )
    if body.google is not None:
        google = body.google
        store = configure_google(
            uow=container.uow_factory(),
            clock=container.clock,
            box=container.box,
            store_id=store.id,
            developer_token=google.developer_token,
            access_token=google.access_token,
            customer_id=google.customer_id,
            login_customer_id=google.login_customer_id,
            audiences=google.audiences,
        )
    return _public(store)


def _public(store: Store) -> AdsSettingsPublic:
    return AdsSettingsPublic.model_validate(ads_summary(store))
