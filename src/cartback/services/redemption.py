"""
Redeemed offers: an order that used an offer's code marks the offer `redeemed` with what the
discount took off, so reports can read each offer's cost (issue #7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import structlog

from cartback.domain.discounts import OfferStatus
from cartback.domain.events import AppliedDiscount
from cartback.domain.ports import UnitOfWork

log = structlog.get_logger(__name__)


def redeem_offers(
    uow: UnitOfWork,
    *,
    store_id: str,
    order_key: str,
    discounts: Sequence[AppliedDiscount],
    placed_at: datetime,
) -> int:
    """
    Mark the offers an order used as redeemed, with what each took off (in the caller's
    transaction). A code used again (another order) keeps its first order. Returns how many.
    """
    redeemed = 0
    for applied in discounts:
        offer = uow.offers.by_code(store_id, applied.code)
        if offer is None or offer.status is OfferStatus.REDEEMED:
            continue
        uow.offers.save(
            replace(
                offer,
                status=OfferStatus.REDEEMED,
                redeemed_at=placed_at,
                order_key=order_key,
                discount_amount=applied.amount,
                updated_at=placed_at,
            )
        )
        redeemed += 1
        log.info("offer.redeemed", store_id=store_id, offer_id=offer.id)
    return redeemed
