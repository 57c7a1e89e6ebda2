"""
Meta Custom Audiences through the Marketing API's Custom Audience Users edge:
`POST {api}/{version}/{audience_id}/users` adds and `DELETE` on the same path removes, each
form-encoded with `access_token` and `payload`, a JSON object `{"schema": …, "data": […]}`.
We send single-key payloads: schema `EMAIL_SHA256` or `PHONE_SHA256` and `data` the SHA-256
hex digests (of the address trimmed and lower-cased, of the number's digits without `+`:
`domain/ad_hashing.py`). Meta takes at most 10,000 records per request, so a change is split
into requests of that many, one schema each; Meta answers
`{"audience_id", "session_id", "num_received", "num_invalid_entries"}`.

Errors: HTTP 429 and 5xx, and Graph API errors Meta marks `is_transient` or whose code means
throttling, are transient (retried a few times, `Retry-After` honoured); any other refusal is
final with Meta's own message. The token travels in the form body, never in the URL, and is
masked if a message echoes it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from itertools import groupby

import httpx
import structlog

from cartback.channels.ads._http import (
    DEFAULT_TIMEOUT,
    RetryPolicy,
    batches,
    json_object,
    redacted,
    retry_after,
    send_with_retries,
)
from cartback.domain.errors import AdsError

log = structlog.get_logger(__name__)

API_URL = "https://graph.facebook.com"
API_VERSION = "v25.0"
#: Meta's documented limit: "up to 10000 at a time" per request to the users edge.
MAX_RECORDS = 10_000
#: Our identifier kinds and Meta's single-key schema for each one's hashes.
SCHEMAS = {"email": "EMAIL_SHA256", "phone": "PHONE_SHA256"}
#: Graph API error codes that mean "slow down" or "try again": 1 and 2 (unknown error,
#: service unavailable), 4, 17, 32 and 613 (request limits), 80003 (custom audience limit).
_TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 613, 80003})
_AUDIENCE_ID = re.compile(r"\d{1,30}")


class MetaAudiencePusher:
    """
    One Meta business account's Custom Audiences (its system user's token); one HTTP client.
    """

    def __init__(
        self,
        *,
        access_token: str,
        api_url: str = API_URL,
        api_version: str = API_VERSION,
        batch_size: int = MAX_RECORDS,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not 0 < batch_size <= MAX_RECORDS:
            raise ValueError(f"Meta takes 1 to {MAX_RECORDS} records per request")
        self._token = access_token
        self._base = f"{api_url.rstrip('/')}/{api_version}"
        self._batch_size = batch_size
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def add(self, list_id: str, identifiers: Sequence[tuple[str, str]]) -> None:
        """
        Add the hashed identifiers to Custom Audience `list_id`.

        Raises:
            AdsError: Meta refused a batch (final) or could not take it now (transient).
        """
        self._change("POST", list_id, identifiers)

    def remove(self, list_id: str, identifiers: Sequence[tuple[str, str]]) -> None:
        """
        Remove the hashed identifiers from Custom Audience `list_id`.

        Raises:
            AdsError: Meta refused a batch (final) or could not take it now (transient).
        """
        self._change("DELETE", list_id, identifiers)

    def close(self) -> None:
        """
        Close the HTTP client's connections.
        """
        self._client.close()

    def _change(self, method: str, list_id: str, identifiers: Sequence[tuple[str, str]]) -> None:
        if not _AUDIENCE_ID.fullmatch(list_id):
            raise AdsError(f"meta_bad_audience: {list_id[:40]!r} is not a Custom Audience id")
        url = f"{self._base}/{list_id}/users"
        ordered = sorted(identifiers, key=lambda pair: pair[0])
        for kind, group in groupby(ordered, key=lambda pair: pair[0]):
            schema = SCHEMAS.get(kind)
            if schema is None:
                raise ValueError(f"Meta takes no {kind!r} identifiers")
            for batch in batches(list(group), self._batch_size):
                self._send(method, url, schema, [digest for _, digest in batch])

    def _send(self, method: str, url: str, schema: str, hashes: list[str]) -> None:
        form = {
            "payload": json.dumps({"schema": schema, "data": hashes}, separators=(",", ":")),
            "access_token": self._token,
        }
        response = send_with_retries(
            lambda: self._client.request(method, url, data=form),
            network="meta",
            refusal=self._refusal,
            policy=self._retry,
            sleep=self._sleep,
        )
        body = json_object(response)
        log.info(
            "ads.meta.pushed",
            method=method,
            schema=schema,
            sent=len(hashes),
            received=body.get("num_received"),
            invalid=body.get("num_invalid_entries"),
        )

    def _refusal(self, response: httpx.Response) -> AdsError:
        found = json_object(response).get("error")
        error = found if isinstance(found, dict) else {}
        code = error.get("code")
        message = error.get("error_user_msg") or error.get("message") or "no message"
        transient = (
            response.status_code == 429
            or response.status_code >= 500
            or error.get("is_transient") is True
            or code in _TRANSIENT_CODES
        )
        label = code if isinstance(code, int) else f"http_{response.status_code}"
        reason = f"meta_{label}: {redacted(str(message), [self._token])}"
        log.warning("ads.meta.refused", status=response.status_code, reason=reason)
        return AdsError(reason, transient=transient, retry_after=retry_after(response))
