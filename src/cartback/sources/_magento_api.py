"""
Magento 2 quotes and orders over the REST API, with an integration's access token (System >
Integrations; resources `Magento_Cart::manage` and `Magento_Sales::sales`), oldest change
first, translated like the pushed events.

- `GET /V1/carts/search`: active quotes (`is_active = 1`) changed at or after the cursor;
- `GET /V1/orders`: orders changed at or after the cursor, linked to their quote by `quote_id`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import structlog

from cartback.domain.ingest import Inbound
from cartback.sources import magento
from cartback.sources._commerce import Invalid, bounded_key, content_digest, parse_utc
from cartback.sources._feeds import Page
from cartback.sources._rest import PlatformError, RestClient, RetryPolicy

log = structlog.get_logger(__name__)

QUOTES_PATH = "/V1/carts/search"
ORDERS_PATH = "/V1/orders"
PAGE_SIZE = 100
#: Magento stores `updated_at` in UTC with one-second precision.
_FORMAT = "%Y-%m-%d %H:%M:%S"


def api_root(url: str) -> str:
    """
    The REST root for a shop URL: the URL itself when it already names one (`…/rest` or
    `…/rest/<store code>`), else the URL with `/rest` (the default store view).
    """
    base = url.strip().rstrip("/")
    segments = urlsplit(base).path.split("/")
    return base if "rest" in segments else f"{base}/rest"


def client(
    *,
    url: str,
    token: str,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> RestClient:
    """
    A REST client for a Magento shop, authenticated with an integration's access token.
    """
    options: dict[str, Any] = {"sleep": sleep} if sleep else {}
    return RestClient(
        platform="Magento",
        base_url=api_root(url),
        headers={"Authorization": f"Bearer {token}"},
        policy=policy,
        **options,
    )


def search_criteria(
    *, after: datetime, page: int, page_size: int, active_only: bool
) -> list[tuple[str, str]]:
    """
    `searchCriteria` query parameters: changed at or after `after` (and active, for quotes),
    oldest change first, one page. Filter groups are ANDed; filters within one are ORed.
    """
    groups = [("updated_at", after.strftime(_FORMAT), "gteq")]
    if active_only:
        groups.append(("is_active", "1", "eq"))
    params: list[tuple[str, str]] = []
    for index, (field, value, condition) in enumerate(groups):
        prefix = f"searchCriteria[filterGroups][{index}][filters][0]"
        params += [
            (f"{prefix}[field]", field),
            (f"{prefix}[value]", value),
            (f"{prefix}[conditionType]", condition),
        ]
    return [
        *params,
        ("searchCriteria[sortOrders][0][field]", "updated_at"),
        ("searchCriteria[sortOrders][0][direction]", "ASC"),
        ("searchCriteria[pageSize]", str(page_size)),
        ("searchCriteria[currentPage]", str(page)),
    ]


class _MagentoFeed:
    """
    A `searchCriteria` collection read by `updated_at`.
    """

    name = ""
    path = ""
    active_only = False
    kind = ""
    translate: staticmethod[..., list[Inbound]]

    def __init__(
        self,
        rest: RestClient,
        *,
        default_region: str | None,
        currency: str,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._rest = rest
        self._default_region = default_region
        self._currency = currency
        self._page_size = page_size

    def read(self, *, after: datetime, page: int, now: datetime) -> Page:
        """
        One page of objects changed at or after `after`.

        Raises:
            PlatformError: the API failed or answered something that is not a search result.
        """
        criteria = search_criteria(
            after=after, page=page, page_size=self._page_size, active_only=self.active_only
        )
        data = self._rest.get(self.path, criteria).data
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise PlatformError(f"Magento answered {self.path} with something not a search result")
        total = data.get("total_count")
        messages: list[Inbound] = []
        invalid = 0
        for document in items:
            try:
                messages += self._translate(document, now)
            except Invalid as error:
                invalid += 1
                log.warning(
                    "poll.object.invalid",
                    platform="magento",
                    kind=self.kind,
                    errors=[f"{e.path}: {e.message}" for e in error.errors][:5],
                )
        return Page(
            messages=messages,
            objects=len(items),
            invalid=invalid,
            newest=_newest(items),
            more=bool(items) and isinstance(total, int) and page * self._page_size < total,
        )

    def _translate(self, document: Any, now: datetime) -> list[Inbound]:
        digest = content_digest(document)
        return self.translate(
            document,
            key=lambda object_id, updated: bounded_key(
                "mage-poll", self.kind, object_id, updated, digest
            ),
            received_at=now,
            default_region=self._default_region,
            currency=self._currency,
        )


class MagentoQuotes(_MagentoFeed):
    """
    Active quotes: carts, with what the shopper entered at checkout.
    """

    name = "carts"
    path = QUOTES_PATH
    active_only = True
    kind = "quote"
    translate = staticmethod(magento.quote_messages)


class MagentoOrders(_MagentoFeed):
    """
    Orders, each closing the quote it came from.
    """

    name = "orders"
    path = ORDERS_PATH
    kind = "order"
    translate = staticmethod(magento.order_messages)


def _newest(documents: list[Any]) -> datetime | None:
    times = [parse_utc(d.get("updated_at")) if isinstance(d, dict) else None for d in documents]
    known = [t for t in times if t is not None]
    return max(known) if known else None
