"""
What every platform's webhook adapter provides, and the values they share. A platform module
(`shopify.py`, `woocommerce.py`, `magento.py`) implements `WebhookSource` with module-level
functions: read the topic, verify the signature, recognise pings and privacy requests, and
translate a delivery into Cartback's messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from cartback.domain.catalog import CatalogItem
from cartback.domain.time import check_aware
from cartback.sources.segment import Parsed


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    """
    One webhook as received: the raw body (signatures are over these exact bytes) and the
    headers, names lower-cased.
    """

    platform: str
    store_id: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    received_at: datetime
    default_region: str | None = None
    currency: str = "USD"

    def __post_init__(self) -> None:
        check_aware(self.received_at, "received_at")

    def header(self, name: str) -> str | None:
        """
        A header's value by case-insensitive name.
        """
        return self.headers.get(name.lower())


class PrivacyKind(StrEnum):
    """
    What a platform's privacy webhook asks for.
    """

    ERASE_CUSTOMER = "erase_customer"
    EXPORT_CUSTOMER = "export_customer"
    ERASE_SHOP = "erase_shop"
    UNINSTALLED = "uninstalled"


@dataclass(frozen=True, kw_only=True, slots=True)
class PrivacyRequest:
    """
    A privacy or lifecycle request about one customer or the whole shop.
    """

    kind: PrivacyKind
    email: str | None = None
    phone: str | None = None
    customer_id: str | None = None
    reference: str | None = None


class WebhookSource(Protocol):
    """
    A platform's webhook adapter (implemented by a module).
    """

    SOURCE: str
    HANDLED_TOPICS: frozenset[str]

    def topic(self, delivery: Delivery) -> str | None:
        """
        The delivery's topic, or None when it has none.
        """
        ...

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: datetime) -> None:
        """
        Check the signature with any of the store's secrets.

        Raises:
            Unauthenticated: no secret verifies it (or it is missing, or too old).
        """
        ...

    def is_ping(self, delivery: Delivery) -> bool:
        """
        True for an unsigned set-up ping that must be answered 200 and stored nowhere.
        """
        ...

    def privacy(self, delivery: Delivery) -> PrivacyRequest | None:
        """
        The privacy or lifecycle request a delivery carries, if it is one.
        """
        ...

    def catalog(self, delivery: Delivery) -> list[CatalogItem] | None:
        """
        The catalog items a product delivery carries (verified already), None for other topics.

        Raises:
            InvalidInput: a product topic whose body is not a product.
        """
        ...

    def parse(self, delivery: Delivery) -> Parsed:
        """
        Translate a delivery into Cartback's messages (or field errors).
        """
        ...
