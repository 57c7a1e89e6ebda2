"""
Meta's Conversions API: `POST {graph}/{version}/{pixel_id}/events`, form-encoded, with `data`
(the server events as a JSON array, at most 1,000), `access_token` and, while testing in Events
Manager, `test_event_code`. The token goes in the body, not the URL, so it stays out of proxy
and access logs. A 2xx answers `{"events_received": n, "fbtrace_id": …}`.

How answers are read (`AnswerKind`): 429, 5xx, network failures and Graph errors Meta marks
`is_transient` or codes as throttling are transient (the same batch goes next pass, after any
`Retry-After`; a resend is harmless, as Meta deduplicates on `event_id`). A 400 with Graph error
code 100 ("Invalid parameter") means the batch is malformed: it is passed over so one bad
event cannot block a store for ever. Any other refusal (code 190, an expired token; 10 or 200,
a missing permission; an unknown pixel) stops the store until its account is fixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson
import structlog

from cartback.channels._lazy_http import LazyClient
from cartback.domain.conversions import AnswerKind, SendAnswer

log = structlog.get_logger(__name__)

API_URL = "https://graph.facebook.com"
#: The Graph API version the request paths name (each is served for at least two years).
API_VERSION = "v25.0"
#: Meta answers most requests in well under a second; a 1,000-event batch takes longer.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
#: Graph API error codes for "try again later": unknown error, service down, and the rate
#: limits (application, user, page, custom and ads-account ones).
_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80004})
#: Graph API "Invalid parameter": something in the batch is malformed.
_INVALID_PARAMETER = 100


class MetaConversionsClient:
    """
    Sends batches of server events to a pixel; one HTTP client (and its connections) for the
    process.
    """

    def __init__(
        self,
        *,
        api_url: str = API_URL,
        api_version: str = API_VERSION,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._api_version = api_version
        self._client = LazyClient(lambda: httpx.Client(timeout=timeout, transport=transport))

    def send(
        self,
        *,
        pixel_id: str,
        access_token: str,
        events: Sequence[Mapping[str, Any]],
        test_event_code: str | None = None,
    ) -> SendAnswer:
        """
        Post one batch to the pixel's `events` edge; what Meta's answer means.
        """
        form = {"data": orjson.dumps(list(events)).decode(), "access_token": access_token}
        if test_event_code:
            form["test_event_code"] = test_event_code
        url = f"{self._api_url}/{self._api_version}/{pixel_id}/events"
        try:
            response = self._client.get().post(url, data=form)
        except httpx.TransportError as error:
            log.warning(
                "conversions.meta.unreachable", pixel_id=pixel_id, error=type(error).__name__
            )
            return SendAnswer(kind=AnswerKind.TRANSIENT, detail=type(error).__name__)
        return read_answer(response)

    def close(self) -> None:
        """
        Close the HTTP client's connections.
        """
        self._client.close()


def read_answer(response: httpx.Response) -> SendAnswer:
    """
    What an answer of the `events` edge means for the batch it answers.
    """
    body = _json(response)
    status = response.status_code
    if 200 <= status < 300:
        received = body.get("events_received")
        return SendAnswer(
            kind=AnswerKind.ACCEPTED,
            status=status,
            events_received=received if isinstance(received, int) else None,
        )
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    message = error.get("error_user_msg") or error.get("message")
    detail = f"{code}: {message}"[:500] if message else f"HTTP {status}"
    asked = _retry_after(response.headers.get("retry-after"))
    kind = _kind(status, error)
    return SendAnswer(kind=kind, status=status, detail=detail, retry_after=asked)


def _kind(status: int, error: dict[str, Any]) -> AnswerKind:
    code = error.get("code")
    if status == 429 or status >= 500 or error.get("is_transient") is True:
        return AnswerKind.TRANSIENT
    if code in _TRANSIENT_CODES:
        return AnswerKind.TRANSIENT
    if status == 400 and code == _INVALID_PARAMETER:
        return AnswerKind.MALFORMED
    return AnswerKind.REFUSED


def _retry_after(value: str | None) -> float | None:
    """
    `Retry-After` in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); None when
    absent or unreadable.
    """
    text = (value or "").strip()
    if text.isdecimal():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
