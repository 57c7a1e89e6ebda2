"""
The Resend channel (https://resend.com/docs/api-reference/emails/send-email):
`POST {CARTBACK_RESEND_API_URL}/emails` with `Authorization: Bearer <CARTBACK_RESEND_API_KEY>`,
the touch id as `Idempotency-Key`, and the JSON fields `from`, `to`, `subject`, `html`, `text`,
`reply_to`, `headers` (`List-Unsubscribe`, `List-Unsubscribe-Post` and our `Message-ID` on the
store's domain) and `tags` (the touch id, which Resend echoes in its webhooks). Resend signs
with the domain's own DKIM key, set up in its dashboard, so the store's key is not used here.
Resend's documentation neither lists nor forbids `Message-ID` in `headers`; integrations that set
it there report it kept (if Resend ever replaced it, only reply threading would change).

Answers: 200 → the email's `id`. 429, 5xx, timeouts and network errors → transient. 409
`concurrent_idempotent_requests` (the same key still in flight) → transient. 409
`invalid_idempotent_request` (the key was already used with another payload: a message went
under this touch id, rendered differently, e.g. with another stock count) → sent, answered with
the stable id `resend-idempotent:<key>`. 401/403 (a wrong or revoked API key) → transient, the
service's configuration and not the message's fault. Any other 4xx → permanent, with Resend's
error `name` and `message`.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import structlog

from cartback.channels.email.mime import ONE_CLICK
from cartback.channels.email.resend_events import TOUCH_TAG
from cartback.domain.ports import OutboundMessage
from cartback.domain.touches import SendFailed

log = structlog.get_logger(__name__)

DEFAULT_API_URL = "https://api.resend.com"
#: What a send may take: Resend answers within a second or two when it is well.
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
IDEMPOTENT_PREFIX = "resend-idempotent:"
_MAX_KEY = 256
#: Resend's rule for tag values.
_TAG_VALUE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_RETRYABLE = frozenset({401, 403, 409, 429})
_CLIENT_ERROR = 400
_SERVER = 500
_CONFLICT = 409
_OK = frozenset({200, 201})


class ResendChannel:
    """
    Sends through Resend's HTTP API with one pooled client. Implements `MessageChannel`.
    """

    def __init__(
        self,
        *,
        api_key: str,
        api_url: str = DEFAULT_API_URL,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "cartback"},
            timeout=TIMEOUT,
            transport=transport,
        )

    def send(self, message: OutboundMessage, idempotency_key: str) -> str:
        """
        Send the email; Resend's id for it.

        Raises:
            SendFailed: refused (permanent), or not now (transient), as the module says.
        """
        payload = _payload(message)
        key = idempotency_key[:_MAX_KEY]
        try:
            response = self._client.post("/emails", json=payload, headers={"Idempotency-Key": key})
        except httpx.TimeoutException as error:
            raise SendFailed("resend_timeout", transient=True, detail=str(error)) from None
        except httpx.HTTPError as error:
            raise SendFailed("resend_network", transient=True, detail=str(error)) from None
        provider_id = self._answer(response, key)
        log.info("email.resend.sent", store_id=message.store_id, touch_id=idempotency_key)
        return provider_id

    def status(self, idempotency_key: str) -> str | None:
        """
        None, always: sending again with the same key is the lookup. Resend keeps idempotency
        keys for 24 hours and answers a repeated request with the first one's id without
        sending again, so the dispatcher's resend of an `ambiguous` touch (its lease is
        seconds, its resolution minutes) delivers nothing twice.
        """
        return None

    def close(self) -> None:
        """
        Close the connection pool.
        """
        self._client.close()

    def _answer(self, response: httpx.Response, key: str) -> str:
        status = response.status_code
        body = _json(response)
        if status in _OK:
            found = body.get("id")
            if isinstance(found, str) and found:
                return found
            # Taken, but unreadable: the same key answers with the id on the retry.
            raise SendFailed("resend_no_id", transient=True, detail=response.text[:200])
        name = str(body.get("name") or "")
        detail = f"{name}: {body.get('message') or response.reason_phrase}".strip(": ")
        if status == _CONFLICT and name == "invalid_idempotent_request":
            log.warning("email.resend.idempotent_replay", touch_id=key, detail=detail)
            return IDEMPOTENT_PREFIX + key
        # Not the message's fault: a key still in flight (409), the rate limit, Resend itself,
        # our API key, or an answer that is no refusal at all (3xx).
        transient = status in _RETRYABLE or status >= _SERVER or status < _CLIENT_ERROR
        raise SendFailed(f"resend_{status}", transient=transient, detail=detail)


def _payload(message: OutboundMessage) -> dict[str, Any]:
    """
    The JSON body as Resend documents it.

    Raises:
        SendFailed: (permanent) an email without its envelope or address.
    """
    envelope = message.email
    if envelope is None:
        raise SendFailed(
            "no_envelope", transient=False, detail="an email needs its HTML and headers"
        )
    if not message.to:
        raise SendFailed("no_address", transient=False)
    payload: dict[str, Any] = {
        "from": envelope.sender,
        "to": [message.to],
        "subject": " ".join((message.subject or "").split()),
        "html": envelope.html,
        "text": message.text,
        "headers": {
            "List-Unsubscribe": envelope.list_unsubscribe,
            "List-Unsubscribe-Post": ONE_CLICK,
            "Message-ID": envelope.message_id,
        },
    }
    if envelope.reply_to:
        payload["reply_to"] = envelope.reply_to
    if _TAG_VALUE.fullmatch(message.touch_id):
        # Echoed back in every webhook event: bounces find their touch by it.
        payload["tags"] = [{"name": TOUCH_TAG, "value": message.touch_id}]
    return payload


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
