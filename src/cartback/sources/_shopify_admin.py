"""
Shopify's Admin GraphQL API, as much of it as `cartback sources shopify connect` needs: list the
app's webhook subscriptions and create the missing ones.

Requests go to `https://{shop}/admin/api/{version}/graphql.json` with the app's access token in
`X-Shopify-Access-Token` and a JSON body `{"query": …, "variables": …}`. Subscriptions name their
destination in `uri` (API 2025-10 on; it replaced the deprecated `callbackUrl`) and their topic
as the `WebhookSubscriptionTopic` enum (`checkouts/update` → `CHECKOUTS_UPDATE`). Every failure
(network, HTTP status, GraphQL `errors`, `userErrors`) is one `ShopifyAdminError` whose message
names the cause, never the token.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx

from cartback.domain.errors import CartbackError

#: A stable Admin API version (each is supported for at least a year).
API_VERSION = "2026-01"
#: Enough for any app: a shop allows far fewer subscriptions per app.
_MAX_PAGES = 20

_SUBSCRIPTIONS = """
query CartbackWebhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}
"""

_CREATE = """
mutation CartbackWebhookSubscriptionCreate(
  $topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!
) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""

_STATUS_REASONS = {
    401: "Shopify refused the access token (401); check --token",
    402: "the shop is frozen until its bill is paid (402)",
    403: "the access token may not do this (403); check the app's access scopes",
    404: "no Shopify Admin API there (404); check --shop and the API version",
    423: "the shop is locked (423)",
    429: "Shopify is rate limiting this app (429); try again in a minute",
}


class ShopifyAdminError(CartbackError):
    """
    Shopify's Admin API could not be reached or refused the request.
    """

    slug = "shopify-admin"


@dataclass(frozen=True, kw_only=True, slots=True)
class Subscription:
    """
    One webhook subscription: its global id, topic enum and destination.
    """

    id: str
    topic: str
    uri: str | None


def topic_enum(topic: str) -> str:
    """
    The `WebhookSubscriptionTopic` value of a REST topic name (`orders/paid` → `ORDERS_PAID`).
    """
    return topic.strip().upper().replace("/", "_")


class ShopifyAdmin:
    """
    A client for one shop's Admin GraphQL API; use it as a context manager.
    """

    def __init__(
        self,
        *,
        shop: str,
        token: str,
        api_version: str = API_VERSION,
        admin_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 15.0,
    ) -> None:
        base = (admin_url or f"https://{shop}").rstrip("/")
        self.endpoint = f"{base}/admin/api/{api_version}/graphql.json"
        self._client = httpx.Client(
            headers={
                "X-Shopify-Access-Token": token,
                "Accept": "application/json",
                "User-Agent": "cartback",
            },
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._client.close()

    def subscriptions(self) -> list[Subscription]:
        """
        Every webhook subscription of this app in this shop, page by page.

        Raises:
            ShopifyAdminError: as the module says.
        """
        found: list[Subscription] = []
        after: str | None = None
        for _ in range(_MAX_PAGES):
            data = self._request(_SUBSCRIPTIONS, {"first": 100, "after": after})
            try:
                page = data["webhookSubscriptions"]
                found.extend(_subscription(node) for node in page["nodes"])
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = str(page["pageInfo"]["endCursor"])
            except (KeyError, TypeError):
                raise ShopifyAdminError(_unexpected("webhookSubscriptions")) from None
        return found

    def create_subscription(self, topic: str, uri: str) -> Subscription:
        """
        Subscribe `uri` to a topic (an enum value such as `CHECKOUTS_UPDATE`), in JSON.

        Raises:
            ShopifyAdminError: as the module says; `userErrors` name the topic and field.
        """
        variables = {"topic": topic, "webhookSubscription": {"uri": uri, "format": "JSON"}}
        data = self._request(_CREATE, variables)
        try:
            payload = data["webhookSubscriptionCreate"]
            errors = payload.get("userErrors") or []
            if errors:
                reasons = "; ".join(_user_error(e) for e in errors)
                raise ShopifyAdminError(f"Shopify refused the {topic} subscription: {reasons}")
            return _subscription(payload["webhookSubscription"])
        except (KeyError, TypeError, AttributeError):
            raise ShopifyAdminError(_unexpected("webhookSubscriptionCreate")) from None

    def _request(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._client.post(
                self.endpoint, json={"query": query, "variables": variables}
            )
        except httpx.HTTPError as error:
            host = httpx.URL(self.endpoint).host
            raise ShopifyAdminError(
                f"cannot reach {host}: {error or type(error).__name__}"
            ) from None
        if response.status_code != 200:
            raise ShopifyAdminError(_status_reason(response.status_code))
        try:
            body = response.json()
        except ValueError:
            raise ShopifyAdminError("Shopify answered something that is not JSON") from None
        if not isinstance(body, dict):
            raise ShopifyAdminError("Shopify answered something that is not a JSON object")
        if body.get("errors"):
            raise ShopifyAdminError(f"Shopify refused the request: {_errors(body['errors'])}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise ShopifyAdminError("Shopify answered without data")
        return data


def _subscription(node: dict[str, Any]) -> Subscription:
    return Subscription(id=str(node["id"]), topic=str(node["topic"]), uri=node.get("uri"))


def _status_reason(status: int) -> str:
    if status in _STATUS_REASONS:
        return _STATUS_REASONS[status]
    if status >= 500:
        return f"Shopify answered {status}; try again later"
    return f"Shopify answered {status}"


def _errors(errors: Any) -> str:
    """
    GraphQL `errors` as one line: a list of `{message}` objects, or (for authentication) a string.
    """
    if isinstance(errors, list):
        messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
        return "; ".join(messages)
    return str(errors)


def _user_error(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    field = ".".join(str(part) for part in error.get("field") or [])
    message = str(error.get("message", ""))
    return f"{field}: {message}" if field else message


def _unexpected(field: str) -> str:
    return f"Shopify answered {field} in a shape Cartback does not know"
