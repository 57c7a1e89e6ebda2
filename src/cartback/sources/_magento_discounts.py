"""
Single-use coupons on a Magento 2 shop, through the REST API with the integration token the
poller uses (Bearer; the integration needs the `Magento_SalesRule::quote` resource, Marketing >
Cart Price Rules). A Magento coupon belongs to a cart price rule, so each code gets a rule of
its own:

- `POST /V1/salesRules`: a rule for a specific coupon (`coupon_type` `SPECIFIC_COUPON`, the
  REST name of type 2), `by_percent` or `cart_fixed` (free shipping: no discount and
  `simple_free_shipping` for the whole shipment), once in total and per customer, ending with
  `stop_rules_processing` so that no later rule adds to it (offers never stack);
- `POST /V1/coupons`: the code on that rule. Should Magento refuse it (a taken code), the rule
  is deleted again rather than left behind;
- `DELETE /V1/salesRules/{id}` revokes the code with its rule; the rule id is the reference, and
  a 404 means it is already gone.

A rule's `to_date` is a day (its last, in the store's timezone): Magento honours the code until
that day ends, and Cartback revokes it at `expires_at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Any
from zoneinfo import ZoneInfo

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
from cartback.sources._magento_api import api_root

RULES_PATH = "/V1/salesRules"
COUPONS_PATH = "/V1/coupons"
#: NOT LOGGED IN, General, Wholesale, Retailer: Magento's default customer groups.
CUSTOMER_GROUPS = (0, 1, 2, 3)
#: `simple_free_shipping`: "For shipment with matching items", and every item matches.
_WHOLE_SHIPMENT = "2"
_ACTIONS = {OfferKind.PERCENT: "by_percent", OfferKind.FIXED: "cart_fixed"}
#: What Magento says when another coupon has the code.
_TAKEN = ("same code", "already exists", "isn't unique")


class MagentoDiscounts:
    """
    The `DiscountPlatform` of one Magento shop.
    """

    name = "magento"

    def __init__(
        self,
        *,
        url: str,
        token: str,
        currency: str,
        timezone: str,
        website_ids: Sequence[int] = (1,),
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """
        Args:
            url: the shop's URL, or its REST root (`…/rest`, `…/rest/<store code>`).
            currency: the shop's base currency, the one amounts are in.
            timezone: the store's IANA timezone, in which a rule's dates are days.
            website_ids: the websites the rule applies on.
        """
        self._currency = currency
        self._zone = ZoneInfo(timezone)
        self._website_ids = list(website_ids)
        self._api = DiscountApi(
            platform="Magento",
            base_url=api_root(url),
            refused="the integration needs the Magento_SalesRule::quote resource (Marketing > "
            "Cart Price Rules); store its token with `cartback sources poll configure`",
            headers={"Authorization": f"Bearer {token}"},
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
        Create the rule and its coupon; answers the rule's id.

        Raises:
            DiscountError: transient as `DiscountApi.send` says; final when Magento refuses the
                rule or the code (a taken code says so).
        """
        check_currency(spec, self._currency, "Magento")
        response = self._api.send("POST", RULES_PATH, body={"rule": self.rule(spec)})
        document = self._api.json(response)
        rule_id = document.get("rule_id") if isinstance(document, dict) else None
        if response.status_code != 200 or not isinstance(rule_id, int):
            raise DiscountError(f"Magento refused the cart price rule: {message_of(document)}")
        try:
            self._add_coupon(rule_id, spec)
        except DiscountError:
            self._forget(rule_id)
            raise
        return str(rule_id)

    def revoke(self, reference: str) -> None:
        """
        Delete the rule and with it its coupon; one already gone counts as deleted.

        Raises:
            DiscountError: as `create`.
        """
        if not reference.isdecimal():
            raise DiscountError(f"{reference!r} is not a Magento cart price rule id")
        response = self._api.send("DELETE", f"{RULES_PATH}/{reference}")
        if response.status_code in (200, 404):
            return
        document = self._api.json(response)
        raise DiscountError(f"Magento did not delete the rule: {message_of(document)}")

    def rule(self, spec: DiscountSpec) -> dict[str, Any]:
        """
        The cart price rule Magento is asked to create for one code.
        """
        free_shipping = spec.kind is OfferKind.FREE_SHIPPING
        document: dict[str, Any] = {
            "name": spec.title,
            "is_active": True,
            "website_ids": self._website_ids,
            "customer_group_ids": list(CUSTOMER_GROUPS),
            "from_date": spec.starts_at.astimezone(self._zone).date().isoformat(),
            "to_date": spec.expires_at.astimezone(self._zone).date().isoformat(),
            "coupon_type": "SPECIFIC_COUPON",
            "use_auto_generation": False,
            "uses_per_coupon": spec.usage_limit,
            "uses_per_customer": 1,
            "simple_action": _ACTIONS.get(spec.kind, "by_percent"),
            "discount_amount": "0" if free_shipping else discount_value(spec),
            "apply_to_shipping": False,
            "simple_free_shipping": _WHOLE_SHIPMENT if free_shipping else "0",
            "stop_rules_processing": True,
        }
        if spec.minimum_subtotal is not None:
            document["condition"] = _subtotal_at_least(money(spec.minimum_subtotal, spec.currency))
        return document

    def _add_coupon(self, rule_id: int, spec: DiscountSpec) -> None:
        coupon = {
            "rule_id": rule_id,
            "code": spec.code,
            "usage_limit": spec.usage_limit,
            "usage_per_customer": 1,
            "is_primary": True,
        }
        response = self._api.send("POST", COUPONS_PATH, body={"coupon": coupon})
        if response.status_code == 200:
            return
        message = message_of(self._api.json(response))
        if any(phrase in message.lower() for phrase in _TAKEN):
            raise DiscountError(f"the code {spec.code} is already taken on Magento")
        raise DiscountError(f"Magento refused the coupon: {message}")

    def _forget(self, rule_id: int) -> None:
        """
        Delete a rule whose coupon failed; should that fail too, the rule stays without a code
        (which no shopper can use), and the coupon's error is the one worth reporting.
        """
        with suppress(DiscountError):
            self.revoke(str(rule_id))


def _subtotal_at_least(amount: str) -> dict[str, Any]:
    """
    A rule condition: the cart's subtotal is at least `amount`.
    """
    return {
        "condition_type": "Magento\\SalesRule\\Model\\Rule\\Condition\\Combine",
        "aggregator_type": "all",
        "value": "1",
        "conditions": [
            {
                "condition_type": "Magento\\SalesRule\\Model\\Rule\\Condition\\Address",
                "attribute_name": "base_subtotal",
                "operator": ">=",
                "value": amount,
            }
        ],
    }
