"""
Reading a platform's REST API: a pure retry policy (which answers to retry, and after how
long) beside a small client that does the IO, sleeps where the policy says and turns every
other failure into one `PlatformError` with a sentence an operator can act on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson
import structlog

from cartback.domain.errors import CartbackError

log = structlog.get_logger(__name__)

#: Statuses that mean "later": rate limited, or a gateway in front of the shop is overloaded.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
Params = list[tuple[str, str]]


class PlatformError(CartbackError):
    """
    The shop's API could not be read.
    """

    slug = "platform-error"


class PlatformAuthFailed(PlatformError):
    """
    The shop's API refused Cartback's credentials.
    """

    slug = "platform-unauthorized"


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryDecision:
    """
    Whether to try again, and after how many seconds.
    """

    retry: bool
    delay: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """
    Bounded retries with exponential backoff; a `Retry-After` is honoured when it asks for
    longer, and a server that asks for more than `max_delay` is not waited for.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0

    def decide(
        self, *, attempt: int, status: int | None, retry_after: str | None, now: datetime
    ) -> RetryDecision:
        """
        What to do after `attempt` (1 for the first) failed with `status` (None: the
        connection failed) and an optional `Retry-After` header.
        """
        if attempt >= self.max_attempts or (status is not None and status not in RETRY_STATUSES):
            return RetryDecision(retry=False)
        backoff = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
        asked = retry_after_seconds(retry_after, now=now)
        if asked is not None and asked > self.max_delay:
            return RetryDecision(retry=False)
        return RetryDecision(retry=True, delay=max(backoff, asked or 0.0))


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """
    A `Retry-After` header in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3);
    None when absent or unreadable.
    """
    if not value:
        return None
    text = value.strip()
    if text.isdecimal():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class Answer:
    """
    A successful answer's JSON and headers.
    """

    data: Any
    headers: httpx.Headers


def platform_client(
    base_url: str,
    *,
    auth: httpx.Auth | tuple[str, str] | None,
    headers: Mapping[str, str] | None,
    timeout: float,
    transport: httpx.BaseTransport | None,
) -> httpx.Client:
    """
    An HTTP client for a shop's REST API: JSON, our User-Agent, no redirects followed.
    """
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        auth=auth,
        headers={"User-Agent": "Cartback", "Accept": "application/json", **(headers or {})},
        timeout=timeout,
        follow_redirects=False,  # a redirect would resend the credentials elsewhere
        transport=transport,
    )


class RestClient:
    """
    GETs JSON from one shop's API with retries. Credentials travel in `auth` or `headers`
    and never appear in errors or logs.
    """

    def __init__(
        self,
        *,
        platform: str,
        base_url: str,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._platform = platform
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._now = now
        self._client = platform_client(
            base_url, auth=auth, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        """
        Release the connections.
        """
        self._client.close()

    def get(self, path: str, params: Params) -> Answer:
        """
        GET `path` and return its JSON, retrying what the policy allows.

        Raises:
            PlatformAuthFailed: 401 or 403.
            PlatformError: any other failure, after the retries.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._client.get(path, params=tuple(params))
            except httpx.TransportError as error:
                self._wait_or_fail(
                    attempt, None, None, f"cannot reach {self._where(path)}: {error}"
                )
                continue
            if response.is_success:
                return Answer(data=self._json(response, path), headers=response.headers)
            if response.status_code in (401, 403):
                raise PlatformAuthFailed(
                    f"{self._platform} refused the credentials (HTTP {response.status_code}) "
                    f"at {self._where(path)}; check them with `cartback sources poll configure`"
                )
            reason = f"{self._platform} answered HTTP {response.status_code} at {self._where(path)}"
            self._wait_or_fail(
                attempt, response.status_code, response.headers.get("retry-after"), reason
            )

    def _wait_or_fail(
        self, attempt: int, status: int | None, retry_after: str | None, reason: str
    ) -> None:
        decision = self._policy.decide(
            attempt=attempt, status=status, retry_after=retry_after, now=self._now()
        )
        if not decision.retry:
            tries = f" after {attempt} attempts" if attempt > 1 else ""
            raise PlatformError(reason + tries)
        log.warning(
            "poll.request.retry",
            platform=self._platform,
            status=status,
            attempt=attempt,
            delay=decision.delay,
        )
        self._sleep(decision.delay)

    def _json(self, response: httpx.Response, path: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise PlatformError(
                f"{self._platform} did not answer JSON at {self._where(path)}; "
                "is the URL the shop's?"
            ) from None

    def _where(self, path: str) -> str:
        return f"{str(self._client.base_url).rstrip('/')}/{path.lstrip('/')}"
