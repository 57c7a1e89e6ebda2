"""
Single-use coupons on a WooCommerce shop, through the REST API v3 with the REST API key the
poller uses (HTTP Basic; the key needs Read/Write permission to create coupons):

- `POST /wp-json/wc/v3/coupons` creates one (`percent` or `fixed_cart`; free shipping is an
  amount of 0 with `free_shipping`); its id is the reference;
- `DELETE /wp-json/wc/v3/coupons/{id}?force=true` removes it for good (not to the trash, where
  WooCommerce still holds its code); a 404 means it is already gone.

Every coupon is for individual use (it does not stack), once in total and once per customer,
restricted to the shopper's email when known, and expires at `date_expires_gmt`.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import httpx

from cartback.domain.discounts import DiscountError, DiscountSpec
from cartback.domain.flows import OfferKind
from cartback.sources._discount_rest import (
    DiscountApi,
    check_currency,
    discount_value,
    message_of,
    money,
)

COUPONS_PATH = "/wp-json/wc/v3/coupons"
#: WooCommerce's error code for a coupon code another coupon has.
_TAKEN = "woocommerce_rest_coupon_code_already_exists"
_DISCOUNT_TYPES = {OfferKind.PERCENT: "percent", OfferKind.FIXED: "fixed_cart"}


class WooCommerceDiscounts:
    """
    The `DiscountPlatform` of one WooCommerce shop.
    """

    name = "woocommerce"

    def __init__(
        self,
        *,
        url: str,
        consumer_key: str,
        consumer_secret: str,
        currency: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """
        Args:
            url: the WordPress site's home URL, with any sub-folder.
            currency: the shop's currency, the one amounts are in.
        """
        self._currency = currency
        self._api = DiscountApi(
            platform="WooCommerce",
            base_url=url,
            refused="the REST API key needs Read/Write permission (WooCommerce > Settings > "
            "Advanced > REST API); store it with `cartback sources poll configure`",
            auth=(consumer_key, consumer_secret),
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        """
        Release the connections.
        """
        self._api.close()

    def create(self, spec: DiscountSpec) -> str:
        """
        Create the coupon; answers its id.

        Raises:
            DiscountError: transient as `DiscountApi.send` says; final when WooCommerce refuses
                the coupon (a taken code says so).
        """
        check_currency(spec, self._currency, "WooCommerce")
        response = self._api.send("POST", COUPONS_PATH, body=coupon(spec))
        document = self._api.json(response)
        if response.status_code not in (200, 201):
            raise DiscountError(_refusal(spec.code, document))
        coupon_id = document.get("id") if isinstance(document, dict) else None
        if not isinstance(coupon_id, int):
            raise DiscountError("WooCommerce answered the new coupon without its id")
        return str(coupon_id)

    def revoke(self, reference: str) -> None:
        """
        Delete the coupon for good; one already gone counts as deleted.

        Raises:
            DiscountError: as `create`.
        """
        if not reference.isdecimal():
            raise DiscountError(f"{reference!r} is not a WooCommerce coupon id")
        response = self._api.send("DELETE", f"{COUPONS_PATH}/{reference}", params={"force": "true"})
        if response.status_code in (200, 404, 410):
            return
        document = self._api.json(response)
        raise DiscountError(f"WooCommerce did not delete the coupon: {message_of(document)}")


def coupon(spec: DiscountSpec) -> dict[str, Any]:
    """
    The coupon WooCommerce is asked to create.
    """
    free_shipping = spec.kind is OfferKind.FREE_SHIPPING
    document: dict[str, Any] = {
        "code": spec.code,
        "description": spec.title,
        "discount_type": _DISCOUNT_TYPES.get(spec.kind, "fixed_cart"),
        "amount": "0" if free_shipping else discount_value(spec),
        "free_shipping": free_shipping,
        "individual_use": True,
        "usage_limit": spec.usage_limit,
        "usage_limit_per_user": 1,
        "exclude_sale_items": spec.exclude_sale_items,
        "date_expires_gmt": spec.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if spec.minimum_subtotal is not None:
        document["minimum_amount"] = money(spec.minimum_subtotal, spec.currency)
    if spec.customer_email:
        document["email_restrictions"] = [spec.customer_email]
    return document


def _refusal(code: str, document: Any) -> str:
    if isinstance(document, dict) and document.get("code") == _TAKEN:
        return f"the code {code} is already taken on WooCommerce"
    return f"WooCommerce refused the coupon: {message_of(document)}"
