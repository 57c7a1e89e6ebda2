"""
Texts through Twilio's Messages API (`formats.md` §7.4): `POST
{api}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP Basic with the
account SID and auth token; `To`, `From` (a number) or `MessagingServiceSid` (an `MG…`
sender), `Body` and `StatusCallback`. A 201 answers the message's `sid`.

Errors: 429, 5xx, timeouts and network failures are transient (retried with back-off); any
other 4xx is permanent, with Twilio's error code as the reason (`twilio_21211`, an invalid
number; `twilio_21610`, a number that replied STOP) and its message as the detail.

Twilio takes no idempotency key and has no lookup by ours, so `status` cannot resolve an
ambiguous touch: it raises `StatusUnknown`, and the status callback (whose URL carries the
touch id) settles the parked touch instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from cartback.domain.ports import OutboundMessage
from cartback.domain.touches import SendFailed, StatusUnknown

log = structlog.get_logger(__name__)

API_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
#: Twilio refuses a longer body (error 21617).
MAX_BODY = 1600
#: Connecting may take a moment; Twilio answers a create in well under a second.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@dataclass(frozen=True, kw_only=True, slots=True)
class TwilioAccount:
    """
    The account a store's texts go through, and the sender: an E.164 number or a Messaging
    Service SID (`MG…`).
    """

    account_sid: str
    auth_token: str
    sender: str | None

    def __repr__(self) -> str:
        return f"TwilioAccount(account_sid={self.account_sid!r}, sender={self.sender!r})"


#: A store's account, or None when it has none (built in `bootstrap` from the store's settings).
AccountResolver = Callable[[str], TwilioAccount | None]


class TwilioChannel:
    """
    Sends each text with one request; one HTTP client (and its connections) per channel.
    """

    def __init__(
        self,
        *,
        account_for: AccountResolver,
        api_url: str = API_URL,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._account_for = account_for
        self._api_url = api_url.rstrip("/")
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def send(self, message: OutboundMessage, idempotency_key: str) -> str:
        """
        Create the message at Twilio; its `sid`.

        Raises:
            SendFailed: the store has no account or sender, the number or body is unusable, or
                Twilio refused (permanent) or could not be reached (transient).
        """
        account = self._account_for(message.store_id)
        if account is None or not _ACCOUNT_SID.fullmatch(account.account_sid):
            raise SendFailed("twilio_no_account", transient=False)
        form = _form(message, account)
        url = f"{self._api_url}/{API_VERSION}/Accounts/{account.account_sid}/Messages.json"
        try:
            response = self._client.post(
                url, data=form, auth=(account.account_sid, account.auth_token)
            )
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            log.warning("sms.twilio.timeout", touch_id=idempotency_key)
            raise SendFailed("twilio_timeout", transient=True) from None
        except httpx.TimeoutException:
            # The request went; Twilio may have taken it. Without an idempotency key a retry
            # could text twice: the touch is parked until the status callback names it.
            log.warning("sms.twilio.answer_lost", touch_id=idempotency_key)
            raise StatusUnknown("Twilio's answer did not come back") from None
        except httpx.TransportError as error:
            log.warning(
                "sms.twilio.unreachable", touch_id=idempotency_key, error=type(error).__name__
            )
            raise SendFailed("twilio_unreachable", transient=True) from None
        sid = _answer(response)
        log.info("sms.twilio.sent", touch_id=idempotency_key, sid=sid)
        return sid

    def status(self, idempotency_key: str) -> str | None:
        """
        Twilio cannot be asked by our key whether a message went.

        Raises:
            StatusUnknown: always; the status callback resolves the touch.
        """
        raise StatusUnknown(f"Twilio has no lookup by touch id ({idempotency_key})")

    def close(self) -> None:
        """
        Close the HTTP client's connections.
        """
        self._client.close()


def _form(message: OutboundMessage, account: TwilioAccount) -> dict[str, str]:
    """
    The Messages resource's form fields for this text.

    Raises:
        SendFailed: (permanent) what Twilio would refuse anyway: no number, body or sender.
    """
    if not _E164.fullmatch(message.to):
        raise SendFailed("no_address" if not message.to else "twilio_bad_number", transient=False)
    if not message.text or len(message.text) > MAX_BODY:
        raise SendFailed("twilio_bad_body", transient=False, detail="empty or over 1600 chars")
    form = {"To": message.to, "Body": message.text}
    sender = account.sender or ""
    if _MESSAGING_SERVICE_SID.fullmatch(sender):
        form["MessagingServiceSid"] = sender
    elif sender:
        form["From"] = sender
    else:
        raise SendFailed("twilio_no_sender", transient=False)
    if message.status_callback:
        form["StatusCallback"] = message.status_callback
    return form


def _answer(response: httpx.Response) -> str:
    """
    The created message's sid, or the failure Twilio's answer means.

    Raises:
        SendFailed: transient for 429 and 5xx, permanent for other refusals.
    """
    body = _json(response)
    if response.status_code in (200, 201):
        sid = body.get("sid")
        if isinstance(sid, str) and sid:
            return sid
        # Twilio took it but said nothing usable: never resend (a duplicate text).
        raise SendFailed("twilio_bad_response", transient=False)
    code, detail = body.get("code"), body.get("message")
    reason = f"twilio_{code}" if isinstance(code, int) else f"twilio_http_{response.status_code}"
    transient = response.status_code == 429 or response.status_code >= 500
    log.warning("sms.twilio.refused", status=response.status_code, reason=reason)
    raise SendFailed(
        reason,
        transient=transient,
        detail=str(detail)[:500] if isinstance(detail, str) else None,
        suppress=_SUPPRESS.get(code) if isinstance(code, int) else None,
    )


#: Twilio errors that say the number must not be texted again: 21610, it replied STOP.
_SUPPRESS = {21610: "sms_stop"}


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
