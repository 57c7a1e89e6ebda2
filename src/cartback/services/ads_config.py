"""
A store's ad-network accounts (issue #8): where its audiences are pushed and its conversion
events sent. Tokens are sealed with the service's secret key, as the other credentials are.

Kept in the store's settings document:

    {"ads": {
       "meta": {"access_token": "<sealed>", "ad_account_id": "act_123", "pixel_id": "456",
                "audiences": {"viewed-cart": "2385…"}},
       "google": {"developer_token": "<sealed>", "access_token": "<sealed>",
                  "customer_id": "1234567890", "login_customer_id": "9876543210",
                  "audiences": {"viewed-cart": "customers/1234567890/userLists/555"}}}}

`audiences` maps a Cartback audience's name to the network's own list: only mapped audiences
are pushed. A network left out is not used.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.ports import UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.keys import SecretBox

log = structlog.get_logger(__name__)

#: The key of the section in the store's settings.
SECTION = "ads"
_TOKEN = re.compile(r"[\x21-\x7e]{8,512}")
_META_AD_ACCOUNT = re.compile(r"act_\d{1,20}")
_DIGITS = re.compile(r"\d{1,20}")
_GOOGLE_CUSTOMER = re.compile(r"\d{10}")
_AUDIENCE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_NETWORK_LIST = re.compile(r"[\x21-\x7e]{1,200}")


@dataclass(frozen=True, kw_only=True, slots=True)
class MetaAccount:
    """
    A store's Meta business account, opened: the system-user token, the ad account, the pixel
    (for the Conversions API) and the Custom Audience each audience is pushed to.
    """

    access_token: str
    ad_account_id: str | None = None
    pixel_id: str | None = None
    audiences: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class GoogleAccount:
    """
    A store's Google Ads account, opened: the developer token, an OAuth access token, the
    customer (and manager, when the access goes through one) and each audience's user list.
    """

    developer_token: str
    access_token: str
    customer_id: str
    login_customer_id: str | None = None
    audiences: Mapping[str, str] = field(default_factory=dict)


def configure_meta(
    *,
    uow: UnitOfWork,
    clock: Clock,
    box: SecretBox,
    store_id: str,
    access_token: str | None = None,
    ad_account_id: str | None = None,
    pixel_id: str | None = None,
    audiences: Mapping[str, str] | None = None,
) -> Store:
    """
    Set a store's Meta account; a value not given keeps the one set before (the token is
    needed the first time). `audiences` adds or replaces mappings (an empty id removes one).

    Raises:
        NotFound: no such store.
        InvalidInput: a malformed token, ad account, pixel or mapping (every field's error).
    """
    errors = [
        *_check("access_token", access_token, _TOKEN, "must be the system user's token"),
        *_check("ad_account_id", ad_account_id, _META_AD_ACCOUNT, "must look like act_123"),
        *_check("pixel_id", pixel_id, _DIGITS, "must be the pixel's number"),
        *_check_audiences(audiences),
    ]
    values = {"ad_account_id": ad_account_id, "pixel_id": pixel_id}
    return _save(
        uow=uow,
        clock=clock,
        box=box,
        store_id=store_id,
        network="meta",
        errors=errors,
        sealed={"access_token": access_token},
        values=values,
        audiences=audiences,
    )


def configure_google(
    *,
    uow: UnitOfWork,
    clock: Clock,
    box: SecretBox,
    store_id: str,
    developer_token: str | None = None,
    access_token: str | None = None,
    customer_id: str | None = None,
    login_customer_id: str | None = None,
    audiences: Mapping[str, str] | None = None,
) -> Store:
    """
    Set a store's Google Ads account; a value not given keeps the one set before (both tokens
    and the customer are needed the first time). Customer ids may be written with dashes.

    Raises:
        NotFound: no such store.
        InvalidInput: a malformed token, customer id or mapping (every field's error).
    """
    customer = _customer(customer_id)
    login = _customer(login_customer_id)
    errors = [
        *_check("developer_token", developer_token, _TOKEN, "must be the developer token"),
        *_check("access_token", access_token, _TOKEN, "must be an OAuth access token"),
        *_check("customer_id", customer, _GOOGLE_CUSTOMER, "must be 10 digits"),
        *_check("login_customer_id", login, _GOOGLE_CUSTOMER, "must be 10 digits"),
        *_check_audiences(audiences),
    ]
    return _save(
        uow=uow,
        clock=clock,
        box=box,
        store_id=store_id,
        network="google",
        errors=errors,
        sealed={"developer_token": developer_token, "access_token": access_token},
        values={"customer_id": customer, "login_customer_id": login},
        audiences=audiences,
    )


def meta_account(store: Store, box: SecretBox) -> MetaAccount | None:
    """
    The store's Meta account, opened; None when none is configured.
    """
    section = _network(store, "meta")
    token = _opened(box, section.get("access_token"))
    if token is None:
        return None
    return MetaAccount(
        access_token=token,
        ad_account_id=_text(section.get("ad_account_id")),
        pixel_id=_text(section.get("pixel_id")),
        audiences=_mapping(section.get("audiences")),
    )


def google_account(store: Store, box: SecretBox) -> GoogleAccount | None:
    """
    The store's Google Ads account, opened; None when it is not fully configured.
    """
    section = _network(store, "google")
    developer = _opened(box, section.get("developer_token"))
    access = _opened(box, section.get("access_token"))
    customer = _text(section.get("customer_id"))
    if developer is None or access is None or customer is None:
        return None
    return GoogleAccount(
        developer_token=developer,
        access_token=access,
        customer_id=customer,
        login_customer_id=_text(section.get("login_customer_id")),
        audiences=_mapping(section.get("audiences")),
    )


def ads_summary(store: Store) -> dict[str, Any]:
    """
    What is configured, without any secret: for the CLI and the API.
    """
    summary: dict[str, Any] = {}
    for network in ("meta", "google"):
        section = _network(store, network)
        if not section:
            continue
        summary[network] = {
            key: value
            for key, value in section.items()
            if key not in ("access_token", "developer_token")
        }
    return summary


def _save(
    *,
    uow: UnitOfWork,
    clock: Clock,
    box: SecretBox,
    store_id: str,
    network: str,
    errors: list[FieldError],
    sealed: Mapping[str, str | None],
    values: Mapping[str, str | None],
    audiences: Mapping[str, str] | None,
) -> Store:
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        current = _network(store, network)
        errors += [
            FieldError(path=name, message="is needed the first time")
            for name, value in sealed.items()
            if value is None and name not in current
        ]
        if errors:
            raise InvalidInput(f"invalid {network} ads configuration", errors=errors)
        section = dict(current)
        section.update({k: box.seal(v.strip()) for k, v in sealed.items() if v is not None})
        section.update({k: v for k, v in values.items() if v is not None})
        mapped = dict(_mapping(section.get("audiences")))
        for name, list_id in (audiences or {}).items():
            if list_id.strip():
                mapped[name] = list_id.strip()
            else:
                mapped.pop(name, None)
        section["audiences"] = mapped
        settings = copy.deepcopy(store.settings)
        found = settings.get(SECTION)
        ads = dict(found) if isinstance(found, dict) else {}
        ads[network] = section
        settings[SECTION] = ads
        store = replace(store, settings=settings, updated_at=clock.now())
        uow.stores.save(store)
        uow.commit()
    log.info("ads.configured", store_id=store_id, network=network, audiences=sorted(mapped))
    return store


def _check(
    path: str, value: str | None, pattern: re.Pattern[str], message: str
) -> list[FieldError]:
    if value is None or pattern.fullmatch(value.strip()):
        return []
    return [FieldError(path=path, message=message)]


def _check_audiences(audiences: Mapping[str, str] | None) -> list[FieldError]:
    errors = []
    for name, list_id in (audiences or {}).items():
        if not _AUDIENCE_NAME.fullmatch(name):
            errors.append(FieldError(path=f"audiences.{name}", message="not an audience name"))
        elif list_id.strip() and not _NETWORK_LIST.fullmatch(list_id.strip()):
            errors.append(FieldError(path=f"audiences.{name}", message="not a list id"))
    return errors


def _customer(value: str | None) -> str | None:
    return value.replace("-", "").strip() if value is not None else None


def _network(store: Store, network: str) -> dict[str, Any]:
    ads = store.settings.get(SECTION)
    section = ads.get(network) if isinstance(ads, dict) else None
    return dict(section) if isinstance(section, dict) else {}


def _opened(box: SecretBox, sealed: object) -> str | None:
    return box.open(sealed) if isinstance(sealed, str) and sealed else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
