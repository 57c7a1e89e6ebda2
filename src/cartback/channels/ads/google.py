"""
Google Ads Customer Match through the Google Ads API's REST interface, one offline user data
job per change (Google does not let one job both add and remove):

1. `POST {api}/{version}/customers/{customer_id}/offlineUserDataJobs:create` with
   `{"job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata":
   {"userList": "customers/…/userLists/…"}}}`, which answers the job's `resourceName`;
2. `POST {api}/{version}/{job}:addOperations` with `{"operations": [{"create" | "remove":
   {"userIdentifiers": [{"hashedEmail" | "hashedPhoneNumber": <sha256 hex>}]}}, …],
   "enablePartialFailure": true}`, at most `batch_size` operations a request (Google allows
   100,000 identifiers a request and advises about 10,000);
3. `POST {api}/{version}/{job}:run`: Google applies the operations (within hours).

Every request carries `Authorization: Bearer <access token>`, `developer-token`, and
`login-customer-id` when the access goes through a manager account. Hashes are SHA-256 hex of
the address trimmed and lower-cased and of the number in E.164 *with* its `+`
(`domain/ad_hashing.py`). 429 and 5xx are transient (retried a few times, `Retry-After`
honoured); any other refusal is final with Google's own message, never a token.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

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

API_URL = "https://googleads.googleapis.com"
API_VERSION = "v22"
#: Google's documented ceiling: 100,000 user identifiers per AddOfflineUserDataJobOperations
#: request (each of our operations carries one identifier).
MAX_OPERATIONS = 100_000
#: What Google advises per request for steady processing.
BATCH_SIZE = 10_000
#: Our identifier kinds and the `UserIdentifier` field for each one's hash.
FIELDS = {"email": "hashedEmail", "phone": "hashedPhoneNumber"}
_USER_LIST = re.compile(r"customers/\d{10}/userLists/\d{1,20}")
_JOB = re.compile(r"customers/\d{10}/offlineUserDataJobs/\d{1,20}")


class GoogleAudiencePusher:
    """
    One Google Ads customer's Customer Match lists; one HTTP client.
    """

    def __init__(
        self,
        *,
        developer_token: str,
        access_token: str,
        customer_id: str,
        login_customer_id: str | None = None,
        api_url: str = API_URL,
        api_version: str = API_VERSION,
        batch_size: int = BATCH_SIZE,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not 0 < batch_size <= MAX_OPERATIONS:
            raise ValueError(f"Google takes 1 to {MAX_OPERATIONS} operations per request")
        self._secrets = (developer_token, access_token)
        self._customer_id = customer_id
        self._base = f"{api_url.rstrip('/')}/{api_version}"
        self._batch_size = batch_size
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        headers = {
            "Authorization": f"Bearer {access_token}",
            "developer-token": developer_token,
        }
        if login_customer_id:
            headers["login-customer-id"] = login_customer_id
        self._client = httpx.Client(timeout=timeout, transport=transport, headers=headers)

    def add(self, list_id: str, identifiers: Sequence[tuple[str, str]]) -> None:
        """
        Add the hashed identifiers to user list `list_id` (`customers/…/userLists/…`).

        Raises:
            AdsError: Google refused (final) or could not take them now (transient).
        """
        self._job("create", list_id, identifiers)

    def remove(self, list_id: str, identifiers: Sequence[tuple[str, str]]) -> None:
        """
        Remove the hashed identifiers from user list `list_id`.

        Raises:
            AdsError: Google refused (final) or could not take them now (transient).
        """
        self._job("remove", list_id, identifiers)

    def close(self) -> None:
        """
        Close the HTTP client's connections.
        """
        self._client.close()

    def _job(self, operation: str, list_id: str, identifiers: Sequence[tuple[str, str]]) -> None:
        if not _USER_LIST.fullmatch(list_id):
            raise AdsError(f"google_bad_user_list: {list_id[:80]!r} is not a user list")
        if not identifiers:
            return
        operations = [_operation(operation, kind, digest) for kind, digest in identifiers]
        created = self._post(
            f"customers/{self._customer_id}/offlineUserDataJobs:create",
            {
                "job": {
                    "type": "CUSTOMER_MATCH_USER_LIST",
                    "customerMatchUserListMetadata": {"userList": list_id},
                }
            },
        )
        job = created.get("resourceName")
        if not isinstance(job, str) or not _JOB.fullmatch(job):
            raise AdsError("google_bad_response: the job's resource name is missing")
        for batch in batches(operations, self._batch_size):
            answer = self._post(f"{job}:addOperations", {"operations": batch, **_PARTIAL})
            if answer.get("partialFailureError"):
                log.warning("ads.google.partial_failure", job=job, sent=len(batch))
        self._post(f"{job}:run", {})
        log.info("ads.google.pushed", job=job, operation=operation, sent=len(operations))

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self._base}/{path}"
        response = send_with_retries(
            lambda: self._client.post(url, json=body),
            network="google",
            refusal=self._refusal,
            policy=self._retry,
            sleep=self._sleep,
        )
        return json_object(response)

    def _refusal(self, response: httpx.Response) -> AdsError:
        found = json_object(response).get("error")
        error = found if isinstance(found, dict) else {}
        status = error.get("status")
        label = status if isinstance(status, str) else f"http_{response.status_code}"
        message = redacted(_message(error), self._secrets)
        transient = response.status_code == 429 or response.status_code >= 500
        reason = f"google_{label}: {message}"
        log.warning("ads.google.refused", status=response.status_code, reason=reason)
        return AdsError(reason, transient=transient, retry_after=retry_after(response))


#: Identifiers Google cannot read are left out and reported, instead of failing the batch.
_PARTIAL = {"enablePartialFailure": True}


def _operation(operation: str, kind: str, digest: str) -> dict[str, Any]:
    field = FIELDS.get(kind)
    if field is None:
        raise ValueError(f"Google takes no {kind!r} identifiers")
    return {operation: {"userIdentifiers": [{field: digest}]}}


def _message(error: dict[str, Any]) -> str:
    """
    The most specific message: the first GoogleAdsFailure error's, else the status message.
    """
    for detail in error.get("details") or []:
        for failure in detail.get("errors") or [] if isinstance(detail, dict) else []:
            if isinstance(failure, dict) and isinstance(failure.get("message"), str):
                return str(failure["message"])
    message = error.get("message")
    return message if isinstance(message, str) else "no message"
