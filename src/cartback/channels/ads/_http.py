"""
What both networks' adapters share: one request tried a few times. A 429, a 5xx, a timeout or
a lost connection waits (the network's `Retry-After` when it gave one, else a doubling delay)
and tries again; after the last attempt it raises transient, so a later pass tries again.
Any other refusal is final at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import structlog

from cartback.domain.errors import AdsError

log = structlog.get_logger(__name__)

#: Connecting may take a moment; a batch of 10,000 hashes is about 700 KB to upload.
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
#: Reads a network's refusal: the error to raise (its `transient` decides a retry).
Refusal = Callable[[httpx.Response], AdsError]
_T = TypeVar("_T")


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """
    How often and how long a batch is retried within one pass.
    """

    attempts: int = 3
    base_delay: float = 1.0
    #: A longer wait is left to the next pass (minutes later): the worker waits meanwhile.
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """
        Seconds to wait after failed attempt number `attempt` (1-based).
        """
        wanted = retry_after if retry_after is not None else self.base_delay * 2 ** (attempt - 1)
        return max(0.0, min(wanted, self.max_delay))


def send_with_retries(
    send: Callable[[], httpx.Response],
    *,
    network: str,
    refusal: Refusal,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
) -> httpx.Response:
    """
    Send the request until it succeeds, is refused for good, or the attempts run out.

    Raises:
        AdsError: the last failure (transient after the attempts ran out).
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            response = send()
        except httpx.TransportError as error:
            failure = AdsError(f"{network}_unreachable: {type(error).__name__}", transient=True)
        else:
            if response.is_success:
                return response
            failure = refusal(response)
        if not failure.transient or attempt >= policy.attempts:
            raise failure
        wait = policy.delay(attempt, failure.retry_after)
        log.warning("ads.push.retrying", network=network, attempt=attempt, wait=wait)
        sleep(wait)


def retry_after(response: httpx.Response) -> float | None:
    """
    The seconds a `Retry-After` header asks for (a number; a date is left to the back-off).
    """
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """
    The answer's JSON object, or an empty one when it is not one.
    """
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def batches(items: Sequence[_T], size: int) -> Iterator[list[_T]]:
    """
    The items in order, `size` at a time.
    """
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def redacted(text: str, secrets: Sequence[str]) -> str:
    """
    A network's message fit for logs and reasons: any secret it echoes is masked, and it is
    kept to one short line.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return " ".join(text.split())[:300]
