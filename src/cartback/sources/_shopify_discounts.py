"""
Single-use discount codes on a Shopify shop, through the Admin GraphQL API (access scope
`write_discounts`):

- `discountCodeBasicCreate` for a percentage (a 0..1 fraction) or a fixed amount off the order;
- `discountCodeFreeShippingCreate` for free shipping to every destination;
- `discountCodeDelete` to revoke; the code discount's global id is the reference.

Every code is for all buyers (`context.all`, which replaced the deprecated
`customerSelection`), once in total and once per customer, between `startsAt` and `endsAt`,
and combines with no other discount (offers never stack). Shopify answers a rate limit with
HTTP 429 or with a GraphQL error coded `THROTTLED` in a 200; both are transient.
"""

from __future__ import annotations

from typing import Any

import httpx

from cartback.domain.discounts import DiscountError, DiscountSpec
from cartback.domain.flows import OfferKind
from cartback.sources._discount_rest import DiscountApi, check_currency, money
from cartback.sources._shopify_admin import API_VERSION

SCOPE = "write_discounts"

_BASIC_CREATE = """
mutation CartbackDiscountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}
"""

_FREE_SHIPPING_CREATE = """
mutation CartbackDiscountCodeFreeShippingCreate(
  $freeShippingCodeDiscount: DiscountCodeFreeShippingInput!
) {
  discountCodeFreeShippingCreate(freeShippingCodeDiscount: $freeShippingCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}
"""

_DELETE = """
mutation CartbackDiscountCodeDelete($id: ID!) {
  discountCodeDelete(id: $id) {
    deletedCodeDiscountId
    userErrors { field code message }
  }
}
"""

#: The mutation, its field and its input argument, per kind.
_CREATE: dict[OfferKind, tuple[str, str, str]] = {
    OfferKind.PERCENT: (_BASIC_CREATE, "discountCodeBasicCreate", "basicCodeDiscount"),
    OfferKind.FIXED: (_BASIC_CREATE, "discountCodeBasicCreate", "basicCodeDiscount"),
    OfferKind.FREE_SHIPPING: (
        _FREE_SHIPPING_CREATE,
        "discountCodeFreeShippingCreate",
        "freeShippingCodeDiscount",
    ),
}
#: What Shopify says when the id names no discount (the code was deleted in the admin).
_GONE = ("does not exist", "not found", "couldn't find")


class ShopifyDiscounts:
    """
    The `DiscountPlatform` of one Shopify shop.
    """

    name = "shopify"

    def __init__(
        self,
        *,
        shop: str,
        token: str,
        currency: str,
        api_version: str = API_VERSION,
        admin_url: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """
        Args:
            shop: the shop's domain (`my-shop.myshopify.com`).
            token: an Admin API access token with the `write_discounts` scope.
            currency: the shop's currency, the one amounts are in.
            admin_url: another origin than `https://{shop}` (tests).
        """
        self._currency = currency
        self._path = f"/admin/api/{api_version}/graphql.json"
        self._api = DiscountApi(
            platform="Shopify",
            base_url=admin_url or f"https://{shop}",
            refused=f"the app needs the {SCOPE} access scope; reinstall it with that scope and "
            "run `cartback sources shopify connect --keep-token` again",
            headers={"X-Shopify-Access-Token": token},
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
        Create the code; answers its `DiscountCodeNode` id.

        Raises:
            DiscountError: as the module says; `userErrors` (a taken code) are final.
        """
        check_currency(spec, self._currency, "Shopify")
        query, field, argument = _CREATE[spec.kind]
        payload = self._mutate(query, {argument: discount_input(spec)}, field)
        errors = payload.get("userErrors") or []
        if errors:
            raise DiscountError(_refusal(spec.code, errors))
        node = payload.get("codeDiscountNode")
        if not isinstance(node, dict) or not isinstance(node.get("id"), str):
            raise DiscountError(f"Shopify answered {field} without the discount's id")
        return str(node["id"])

    def revoke(self, reference: str) -> None:
        """
        Delete the code discount; one Shopify no longer knows counts as deleted.

        Raises:
            DiscountError: as the module says.
        """
        payload = self._mutate(_DELETE, {"id": reference}, "discountCodeDelete")
        errors = payload.get("userErrors") or []
        if errors and not all(_gone(error) for error in errors):
            raise DiscountError(f"Shopify did not delete the discount: {_messages(errors)}")

    def _mutate(self, query: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
        response = self._api.send("POST", self._path, body={"query": query, "variables": variables})
        if response.status_code != 200:
            raise DiscountError(f"Shopify answered HTTP {response.status_code} to {field}")
        body = self._api.json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            raise self._graphql_error(errors, response.headers)
        data = body.get("data") if isinstance(body, dict) else None
        payload = data.get(field) if isinstance(data, dict) else None
        if not isinstance(payload, dict):
            raise DiscountError(f"Shopify answered {field} in a shape Cartback does not know")
        return payload

    def _graphql_error(self, errors: Any, headers: httpx.Headers) -> DiscountError:
        codes = _error_codes(errors)
        if "THROTTLED" in codes:
            return self._api.later("Shopify is throttling this app (THROTTLED)", headers)
        if "ACCESS_DENIED" in codes:
            return DiscountError(f"Shopify denied access; the app needs the {SCOPE} access scope")
        if "INTERNAL_SERVER_ERROR" in codes:
            return DiscountError("Shopify failed internally", transient=True)
        return DiscountError(f"Shopify refused the request: {_messages(errors)}")


def discount_input(spec: DiscountSpec) -> dict[str, Any]:
    """
    The `DiscountCodeBasicInput` (percent, fixed) or `DiscountCodeFreeShippingInput` of a code.
    """
    fields: dict[str, Any] = {
        "title": spec.title,
        "code": spec.code,
        "startsAt": spec.starts_at.isoformat(),
        "endsAt": spec.expires_at.isoformat(),
        "context": {"all": "ALL"},
        "usageLimit": spec.usage_limit,
        "appliesOncePerCustomer": True,
        "combinesWith": {
            "orderDiscounts": False,
            "productDiscounts": False,
            "shippingDiscounts": False,
        },
    }
    if spec.minimum_subtotal is not None:
        fields["minimumRequirement"] = {
            "subtotal": {
                "greaterThanOrEqualToSubtotal": money(spec.minimum_subtotal, spec.currency)
            }
        }
    if spec.kind is OfferKind.FREE_SHIPPING:
        fields["destination"] = {"all": True}
        return fields
    value: dict[str, Any] = (
        {"percentage": float(spec.value / 100)}
        if spec.kind is OfferKind.PERCENT
        else {
            "discountAmount": {
                "amount": money(spec.value, spec.currency),
                "appliesOnEachItem": False,
            }
        }
    )
    fields["customerGets"] = {"value": value, "items": {"all": True}}
    return fields


def _refusal(code: str, errors: list[Any]) -> str:
    if any(isinstance(e, dict) and e.get("code") == "TAKEN" for e in errors):
        return f"the code {code} is already taken on Shopify"
    return f"Shopify refused the code: {_messages(errors)}"


def _gone(error: Any) -> bool:
    message = str(error.get("message", "")).lower() if isinstance(error, dict) else ""
    return any(phrase in message for phrase in _GONE)


def _error_codes(errors: Any) -> set[str]:
    if not isinstance(errors, list):
        return set()
    return {
        str(e["extensions"].get("code"))
        for e in errors
        if isinstance(e, dict) and isinstance(e.get("extensions"), dict)
    }


def _messages(errors: Any) -> str:
    """
    `userErrors` or GraphQL `errors` as one line, each with its field when it has one.
    """
    if not isinstance(errors, list):
        return str(errors)
    parts = []
    for error in errors:
        if not isinstance(error, dict):
            parts.append(str(error))
            continue
        field = ".".join(str(part) for part in error.get("field") or [])
        message = str(error.get("message", ""))
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)
