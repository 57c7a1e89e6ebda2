"""
What the three discount clients share: one HTTP request to a shop's API with its failures
sorted the way the worker needs them (`DiscountError`), and amounts written as the platforms
want them.

A rate limit, a 5xx or a network failure is transient: the worker tries again, after the
platform's `Retry-After` when it gave one. Refused credentials are final and say which
permission is missing, never the credential. Any other answer is the caller's to read (a 404
on a delete means the code is already gone; a 400 on a create names the problem).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from babel.numbers import get_currency_precision

from cartback.domain.discounts import DiscountError, DiscountSpec
from cartback.domain.flows import OfferKind
from cartback.sources._rest import platform_client, retry_after_seconds

#: How long to wait after a rate limit that did not say (Shopify's bucket refills in about 2 s).
DEFAULT_RETRY_AFTER = 2.0
#: Statuses that mean "later" rather than "no": a timeout, a rate limit, an overloaded server.
_LATER = frozenset({408, 429})


class DiscountApi:
    """
    Sends JSON requests to one shop's API. Credentials travel in `auth` or `headers` and never
    appear in errors or logs.
    """

    def __init__(
        self,
        *,
        platform: str,
        base_url: str,
        refused: str,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """
        Args:
            platform: the platform's name in reasons (`Shopify`, `WooCommerce`, `Magento`).
            refused: what a 401 or 403 means there: the permission Cartback needs.
        """
        self.platform = platform
        self._refused = refused
        self._now = now
        self._client = platform_client(
            base_url, auth=auth, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        """
        Release the connections.
        """
        self._client.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """
        One request; answers any response that is neither a refusal of the credentials nor a
        reason to try later.

        Raises:
            DiscountError: transient for network failures, timeouts, 408, 429 and 5xx; final
                for 401 and 403.
        """
        try:
            response = self._client.request(method, path, json=body, params=params)
        except httpx.TransportError as error:
            raise DiscountError(
                f"cannot reach {self.platform} at {self._client.base_url.host}: "
                f"{error or type(error).__name__}",
                transient=True,
            ) from None
        status = response.status_code
        if status in (401, 403):
            raise DiscountError(
                f"{self.platform} refused Cartback's credentials (HTTP {status}); {self._refused}"
            )
        if status in _LATER or status >= 500:
            raise self.later(f"{self.platform} answered HTTP {status}", response.headers)
        return response

    def later(self, reason: str, headers: httpx.Headers) -> DiscountError:
        """
        A transient error to try again after the `Retry-After` the platform sent, else after
        `DEFAULT_RETRY_AFTER`.
        """
        asked = retry_after_seconds(headers.get("retry-after"), now=self._now())
        return DiscountError(
            reason, transient=True, retry_after=DEFAULT_RETRY_AFTER if asked is None else asked
        )

    def json(self, response: httpx.Response) -> Any:
        """
        The JSON of an answer.

        Raises:
            DiscountError: transient, since a proxy's error page is the likely cause.
        """
        try:
            return response.json()
        except ValueError:
            raise DiscountError(
                f"{self.platform} answered HTTP {response.status_code} without JSON",
                transient=True,
            ) from None


def money(amount: Decimal, currency: str) -> str:
    """
    An amount as a decimal string with the currency's number of decimals (`"10.00"`, `"1500"`).
    """
    places = get_currency_precision(currency)
    return str(amount.quantize(Decimal(1).scaleb(-places)))


def percent(value: Decimal) -> str:
    """
    A percentage as a plain decimal string without trailing zeros (`"15"`, `"12.5"`).
    """
    return format(value.normalize(), "f")


def discount_value(spec: DiscountSpec) -> str:
    """
    A percent or fixed code's value: a percentage, or an amount in the offer's currency.
    """
    if spec.kind is OfferKind.PERCENT:
        return percent(spec.value)
    return money(spec.value, spec.currency)


def message_of(document: Any) -> str:
    """
    The `message` of a REST error answer (WooCommerce and Magento both send one), with
    Magento's `%name` placeholders filled from its `parameters`.
    """
    if not isinstance(document, dict):
        return "no reason given"
    message = str(document.get("message") or "no reason given")
    parameters = document.get("parameters")
    if isinstance(parameters, dict):
        for name, value in parameters.items():
            message = message.replace(f"%{name}", str(value))
    elif isinstance(parameters, list):
        for index, value in enumerate(parameters, start=1):
            message = message.replace(f"%{index}", str(value))
    return message


def check_currency(spec: DiscountSpec, currency: str, platform: str) -> None:
    """
    Refuse an amount in another currency than the shop's: the platform would read it as the
    shop's own.

    Raises:
        DiscountError: final.
    """
    carries_money = spec.kind is OfferKind.FIXED or spec.minimum_subtotal is not None
    if carries_money and spec.currency.upper() != currency.upper():
        raise DiscountError(
            f"the offer is in {spec.currency} but the {platform} shop sells in {currency}"
        )
