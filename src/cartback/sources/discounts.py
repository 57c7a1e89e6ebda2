"""
The discount platform of a store: its shop's API client when Cartback may create codes there,
else None (a custom site, or a shop whose API access was never configured), in which case the
codes are Cartback's own and the site checks them with `GET /v1/offers/{code}`.

Credentials are those the store's settings keep, sealed:

- Shopify: `{"shopify": {"shop": …, "credentials": {"access_token": <sealed>}}}`, kept by
  `cartback sources shopify connect --keep-token` (the token needs `write_discounts`);
- WooCommerce and Magento: the API URL and credentials `cartback sources poll configure`
  keeps (`services/polling.py`); Magento may list the rule's `website_ids` (default `[1]`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import structlog

from cartback.domain.discounts import DiscountError, DiscountPlatform, DiscountSpec
from cartback.domain.stores import Platform, Store
from cartback.kit.keys import SecretBox
from cartback.sources._magento_discounts import MagentoDiscounts
from cartback.sources._shopify_discounts import ShopifyDiscounts
from cartback.sources._woocommerce_discounts import WooCommerceDiscounts

log = structlog.get_logger(__name__)

#: Where the Shopify Admin API token is kept, sealed, under `settings["shopify"]["credentials"]`.
SHOPIFY_TOKEN = "access_token"  # noqa: S105 - a settings key, not a token


def discount_platform(
    store: Store,
    box: SecretBox,
    *,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> DiscountPlatform | None:
    """
    The client that creates and revokes the store's codes on its platform, with every call
    logged (`discount.created`, `discount.revoked`, `discount.refused`); None when there is
    none to use.

    Raises:
        ConfigurationError: a stored credential cannot be opened with the service's keys.
    """
    section = _section(store)
    credentials = section.get("credentials")
    if not isinstance(credentials, dict):
        return None
    opened = {name: box.open(str(sealed)) for name, sealed in credentials.items()}
    options: dict[str, Any] = {
        "currency": store.currency,
        "timeout": timeout,
        "transport": transport,
    }
    client = _client(store, section, opened, options)
    return None if client is None else LoggedDiscounts(client, store_id=store.id)


def _client(
    store: Store, section: Mapping[str, Any], opened: dict[str, str], options: dict[str, Any]
) -> DiscountPlatform | None:
    url, shop = section.get("url"), section.get("shop")
    if store.platform is Platform.SHOPIFY and isinstance(shop, str) and opened.get(SHOPIFY_TOKEN):
        return ShopifyDiscounts(shop=shop, token=opened[SHOPIFY_TOKEN], **options)
    if not isinstance(url, str):
        return None
    if store.platform is Platform.WOOCOMMERCE and _has(opened, "consumer_key", "consumer_secret"):
        return WooCommerceDiscounts(
            url=url,
            consumer_key=opened["consumer_key"],
            consumer_secret=opened["consumer_secret"],
            **options,
        )
    if store.platform is Platform.MAGENTO and _has(opened, "token"):
        return MagentoDiscounts(
            url=url,
            token=opened["token"],
            timezone=store.timezone,
            website_ids=_website_ids(section),
            **options,
        )
    return None


class LoggedDiscounts:
    """
    A discount platform whose every call is logged, with the store, the code and the outcome
    (never a credential).
    """

    def __init__(self, platform: DiscountPlatform, *, store_id: str) -> None:
        self._platform = platform
        self._store_id = store_id

    @property
    def name(self) -> str:
        """
        The wrapped platform's name.
        """
        return self._platform.name

    def close(self) -> None:
        """
        Release the client's connections.
        """
        close = getattr(self._platform, "close", None)
        if callable(close):
            close()

    def create(self, spec: DiscountSpec) -> str:
        """
        Create the code on the platform (`DiscountPlatform.create`).
        """
        context = {"store_id": self._store_id, "platform": self.name, "code": spec.code}
        try:
            reference = self._platform.create(spec)
        except DiscountError as error:
            _refused(error, action="create", **context)
            raise
        log.info("discount.created", kind=spec.kind.value, reference=reference, **context)
        return reference

    def revoke(self, reference: str) -> None:
        """
        Remove the code from the platform (`DiscountPlatform.revoke`).
        """
        context = {"store_id": self._store_id, "platform": self.name, "reference": reference}
        try:
            self._platform.revoke(reference)
        except DiscountError as error:
            _refused(error, action="revoke", **context)
            raise
        log.info("discount.revoked", **context)


def _refused(error: DiscountError, **context: str) -> None:
    log.warning(
        "discount.refused",
        reason=error.reason,
        transient=error.transient,
        retry_after=error.retry_after,
        **context,
    )


def _section(store: Store) -> Mapping[str, Any]:
    section = store.settings.get(store.platform.value)
    return section if isinstance(section, dict) else {}


def _has(opened: Mapping[str, str], *names: str) -> bool:
    return all(opened.get(name) for name in names)


def _website_ids(section: Mapping[str, Any]) -> list[int]:
    ids = section.get("website_ids")
    if isinstance(ids, list) and ids and all(isinstance(i, int) for i in ids):
        return ids
    return [1]
