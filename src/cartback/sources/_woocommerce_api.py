"""
WooCommerce orders over the REST API (`GET /wp-json/wc/v3/orders`, WooCommerce 5.8+ for
`modified_after`), oldest change first, translated like the webhooks.

Authentication is HTTP Basic with a REST API key (consumer key and secret, read access),
which WooCommerce accepts over HTTPS only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog

from cartback.domain.ingest import Inbound
from cartback.sources import woocommerce
from cartback.sources._commerce import Invalid, bounded_key, content_digest, parse_utc
from cartback.sources._feeds import Page
from cartback.sources._rest import PlatformError, RestClient, RetryPolicy

log = structlog.get_logger(__name__)

ORDERS_PATH = "/wp-json/wc/v3/orders"
PER_PAGE = 100
#: `modified_after` is strict and has one-second precision: asking from a second earlier
#: re-reads the orders changed in the cursor's own second (duplicates, recognised by key)
#: instead of missing the ones not read yet.
_OVERLAP = timedelta(seconds=1)


def client(
    *,
    url: str,
    consumer_key: str,
    consumer_secret: str,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> RestClient:
    """
    A REST client for a WordPress site (`url` is its home URL, with any sub-folder).
    """
    options: dict[str, Any] = {"sleep": sleep} if sleep else {}
    return RestClient(
        platform="WooCommerce",
        base_url=url,
        auth=(consumer_key, consumer_secret),
        policy=policy,
        **options,
    )


class WooCommerceOrders:
    """
    The orders feed: every order changed after a moment, in order of change.
    """

    name = "orders"

    def __init__(
        self,
        rest: RestClient,
        *,
        default_region: str | None,
        currency: str,
        per_page: int = PER_PAGE,
    ) -> None:
        self._rest = rest
        self._default_region = default_region
        self._currency = currency
        self._per_page = per_page

    def read(self, *, after: datetime, page: int, now: datetime) -> Page:
        """
        One page of orders changed at or after `after`.

        Raises:
            PlatformError: the API failed or answered something that is not a list of orders.
        """
        answer = self._rest.get(
            ORDERS_PATH,
            [
                ("modified_after", (after - _OVERLAP).strftime("%Y-%m-%dT%H:%M:%S")),
                ("dates_are_gmt", "true"),
                ("orderby", "modified"),
                ("order", "asc"),
                ("per_page", str(self._per_page)),
                ("page", str(page)),
            ],
        )
        if not isinstance(answer.data, list):
            raise PlatformError(f"WooCommerce answered {ORDERS_PATH} with something not a list")
        pages = _int(answer.headers.get("x-wp-totalpages"))
        messages: list[Inbound] = []
        invalid = 0
        for document in answer.data:
            try:
                messages += self._translate(document, now)
            except Invalid as error:
                invalid += 1
                log.warning(
                    "poll.order.invalid",
                    platform="woocommerce",
                    order_id=document.get("id") if isinstance(document, dict) else None,
                    errors=[f"{e.path}: {e.message}" for e in error.errors][:5],
                )
        return Page(
            messages=messages,
            objects=len(answer.data),
            invalid=invalid,
            newest=_newest(answer.data),
            # Without X-WP-TotalPages (a proxy dropped it), a full page means there may be more.
            more=page < pages if pages is not None else len(answer.data) >= self._per_page,
        )

    def _translate(self, document: Any, now: datetime) -> list[Inbound]:
        digest = content_digest(document)
        return woocommerce.order_messages(
            document,
            topic="order.polled",
            key=lambda order_id, modified: bounded_key("wc-poll", order_id, modified, digest),
            received_at=now,
            default_region=self._default_region,
            currency=self._currency,
        )


def _newest(documents: list[Any]) -> datetime | None:
    times = [
        parse_utc(d.get("date_modified_gmt")) if isinstance(d, dict) else None for d in documents
    ]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdecimal() else None
