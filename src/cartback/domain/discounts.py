"""
Discount codes on a shop's platform (`contract.md` §5.4, issue #7): what Cartback asks a
platform to create, and the port each platform's client implements (`sources/`). A custom site
has no client: it asks `GET /v1/offers/{code}` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from cartback.domain.errors import CartbackError
from cartback.domain.flows import OfferKind
from cartback.domain.time import check_aware


class OfferStatus(StrEnum):
    """
    Where an offer's code is in its life.
    """

    #: Written, not yet created on the platform (or the platform asked to wait).
    PENDING = "pending"
    #: Live: the platform (or, for a custom site, Cartback) honours it until `expires_at`.
    ACTIVE = "active"
    #: The platform refused it; the message went without it (`reason` says why).
    FAILED = "failed"
    #: A later offer of the same enrollment replaced it (offers never stack); to be revoked.
    SUPERSEDED = "superseded"
    #: An order used it.
    REDEEMED = "redeemed"
    #: Past `expires_at` and unused; to be revoked on the platform.
    EXPIRED = "expired"
    #: Removed from the platform (or, without one, no longer honoured).
    REVOKED = "revoked"


#: Statuses in which a code still counts as given to the contact (the per-contact limit).
GIVEN = frozenset(
    {
        OfferStatus.PENDING,
        OfferStatus.ACTIVE,
        OfferStatus.SUPERSEDED,
        OfferStatus.REDEEMED,
        OfferStatus.EXPIRED,
        OfferStatus.REVOKED,
    }
)

#: The source of a store's own offers; partners' are `partner:<program>`.
STORE_SOURCE = "store"


@dataclass(frozen=True, kw_only=True, slots=True)
class DiscountSpec:
    """
    One single-use code as a platform is asked to create it.
    """

    code: str
    kind: OfferKind
    #: Percent (0 to 100) or an amount in `currency`; 0 for free shipping.
    value: Decimal
    currency: str
    #: Shown to the merchant in the platform's admin (never to the shopper).
    title: str
    starts_at: datetime
    expires_at: datetime
    #: The cart subtotal the code needs, when the offer has a minimum.
    minimum_subtotal: Decimal | None = None
    #: The shopper's email, for platforms that can restrict a code to it (WooCommerce).
    customer_email: str | None = None
    #: Sale items are not discounted (the offer excludes `on_sale`).
    exclude_sale_items: bool = False
    #: Total uses; per customer it is always one.
    usage_limit: int = 1

    def __post_init__(self) -> None:
        check_aware(self.starts_at, "starts_at")
        check_aware(self.expires_at, "expires_at")
        if self.expires_at <= self.starts_at:
            raise ValueError("a code must expire after it starts")


class DiscountError(CartbackError):
    """
    A platform did not create or remove a code. `transient` errors (rate limits, 5xx,
    timeouts) are tried again, after `retry_after` seconds when the platform said; others
    are final and `reason` is recorded on the offer.
    """

    slug = "discount-platform"

    def __init__(
        self, reason: str, *, transient: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after


class DiscountPlatform(Protocol):
    """
    A shop platform's discount API.
    """

    @property
    def name(self) -> str:
        """
        The platform, for logs and reasons (`shopify`, `woocommerce`, `magento`).
        """
        ...

    def create(self, spec: DiscountSpec) -> str:
        """
        Create the code; answers the platform's reference for it (what `revoke` takes).

        Raises:
            DiscountError: not created (a code that already exists there is an error).
        """
        ...

    def revoke(self, reference: str) -> None:
        """
        Remove the code from the platform; one already gone counts as removed.

        Raises:
            DiscountError: not removed.
        """
        ...
