"""
Connecting a store to its Shopify shop: remember which shop it is and the app secret Shopify
signs webhooks with. The Admin API calls that register the webhooks are the command's part
(`commands/shopify.py`); this is what is kept afterwards, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import structlog

from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.ports import UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.keys import SecretBox

log = structlog.get_logger(__name__)

#: Where a store's Shopify facts live in `Store.settings`.
SETTINGS_KEY = "shopify"


@dataclass(frozen=True, kw_only=True, slots=True)
class ShopifyConnection:
    """
    The store after connecting, and whether the API secret was new to it.
    """

    store: Store
    secret_added: bool


def record_connection(
    *,
    uow: UnitOfWork,
    clock: Clock,
    box: SecretBox,
    store_id: str,
    shop: str,
    api_secret: str | None = None,
    access_token: str | None = None,
) -> ShopifyConnection:
    """
    Keep the shop's domain in the store's settings (`{"shopify": {"shop": …, "connected_at": …}}`)
    and add the app's API secret as a webhook secret unless the store already has it, so running
    `connect` again adds nothing. An `access_token` (`--keep-token`) is kept sealed in
    `credentials.access_token`, for creating discount codes; without one, a kept token stays.

    Raises:
        NotFound: no such store.
        InvalidInput: the shop domain or the secret is empty or absurdly long.
    """
    secret = (api_secret or "").strip() or None
    token = (access_token or "").strip() or None
    errors = [
        FieldError(path=path, message="must be 1 to 500 characters")
        for path, value in (("shop", shop.strip()), ("api_secret", secret), ("token", token))
        if value is not None and not 1 <= len(value) <= 500
    ]
    if errors:
        raise InvalidInput("invalid Shopify connection", errors=errors)
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        now = clock.now()
        settings = dict(store.settings)
        current = settings.get(SETTINGS_KEY)
        section = dict(current) if isinstance(current, dict) else {}
        section.update(shop=shop.strip(), connected_at=now.isoformat())
        if token is not None:
            kept = section.get("credentials")
            credentials = dict(kept) if isinstance(kept, dict) else {}
            section["credentials"] = {**credentials, "access_token": box.seal(token)}
        settings[SETTINGS_KEY] = section
        connected = replace(store, settings=settings, updated_at=now)
        uow.stores.save(connected)
        known = {box.open(sealed) for sealed in uow.stores.webhook_secrets(store_id)}
        added = secret is not None and secret not in known
        if secret is not None and added:
            uow.stores.add_webhook_secret(
                store_id=store_id, sealed=box.seal(secret), created_at=now
            )
        uow.commit()
    log.info(
        "shopify.connected", store_id=store_id, secret_added=added, token_kept=token is not None
    )
    return ShopifyConnection(store=connected, secret_added=added)


def connected_shop(store: Store) -> str | None:
    """
    The Shopify shop domain a store was connected to, if any.
    """
    section = store.settings.get(SETTINGS_KEY)
    shop = section.get("shop") if isinstance(section, dict) else None
    return shop if isinstance(shop, str) else None
