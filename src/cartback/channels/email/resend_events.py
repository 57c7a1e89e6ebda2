"""
Resend's webhook events (https://resend.com/docs/webhooks) in our words. Every event is
`{"type": "email.bounced", "created_at": "…", "data": {"email_id": "…", "to": ["…"], "tags":
…, "bounce": {"type": "Permanent", "subType": "General", "message": "…"}}}`; Resend signs it
with Svix (Standard Webhooks), which the receiver checks before this reads anything.

Translated, one small function per type (`HANDLED_EVENT_TYPES`): `email.sent` → accepted,
`email.delivered` → delivered, `email.bounced` → bounced when permanent (the address is
suppressed), soft-bounced when transient or undetermined (recorded only), `email.complained` →
complained (suppressed), `email.failed` (Resend could not send it) → failed. Other types
(`email.delivery_delayed`, opens, clicks) are acknowledged and change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cartback.domain.delivery import DeliveryOutcome
from cartback.domain.errors import FieldError, InvalidInput

PROVIDER = "resend"
#: The tag the Resend channel puts on every email: the touch id (Resend echoes tags back).
TOUCH_TAG = "cartback_touch"
_MAX_DETAIL = 500
_MAX_ID = 200


@dataclass(frozen=True, kw_only=True, slots=True)
class EmailEvent:
    """
    One provider event: its type, what it means (None: nothing), the provider's id of the email,
    our touch id when echoed back, the recipient and the provider's words.
    """

    kind: str
    outcome: DeliveryOutcome | None
    provider_id: str | None = None
    touch_id: str | None = None
    address: str | None = None
    detail: str | None = None


def _accepted(_data: Mapping[str, Any]) -> tuple[DeliveryOutcome, str | None]:
    return DeliveryOutcome.ACCEPTED, None


def _delivered(_data: Mapping[str, Any]) -> tuple[DeliveryOutcome, str | None]:
    return DeliveryOutcome.DELIVERED, None


def _bounced(data: Mapping[str, Any]) -> tuple[DeliveryOutcome, str | None]:
    bounce = data.get("bounce")
    bounce = bounce if isinstance(bounce, dict) else {}
    kind = str(bounce.get("type") or "Permanent")
    words = " ".join(
        str(bounce[k]) for k in ("type", "subType", "message") if bounce.get(k) not in (None, "")
    )
    # The event means a permanent rejection; only an explicit other type softens it.
    hard = kind.strip().lower() == "permanent"
    outcome = DeliveryOutcome.BOUNCED if hard else DeliveryOutcome.SOFT_BOUNCED
    return outcome, words or None


def _complained(_data: Mapping[str, Any]) -> tuple[DeliveryOutcome, str | None]:
    return DeliveryOutcome.COMPLAINED, "the recipient marked the email as spam"


def _failed(data: Mapping[str, Any]) -> tuple[DeliveryOutcome, str | None]:
    failed = data.get("failed")
    reason = failed.get("reason") if isinstance(failed, dict) else None
    return DeliveryOutcome.FAILED, str(reason) if reason else None


HANDLED_EVENT_TYPES: dict[
    str, Callable[[Mapping[str, Any]], tuple[DeliveryOutcome, str | None]]
] = {
    "email.sent": _accepted,
    "email.delivered": _delivered,
    "email.bounced": _bounced,
    "email.complained": _complained,
    "email.failed": _failed,
}


def parse_event(body: bytes) -> EmailEvent:
    """
    Read a (verified) Resend event.

    Raises:
        InvalidInput: the body is not a JSON event with a `type` and a `data` object.
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidInput("the event must be a JSON object")
    kind = document.get("type")
    data = document.get("data")
    errors = []
    if not isinstance(kind, str) or not kind or len(kind) > _MAX_ID:
        errors.append(FieldError(path="type", message="required, the event's type"))
    if not isinstance(data, dict):
        errors.append(FieldError(path="data", message="required, an object"))
    if errors or not isinstance(kind, str) or not isinstance(data, dict):
        raise InvalidInput("the webhook is not a Resend event", errors=errors)
    translate = HANDLED_EVENT_TYPES.get(kind)
    if translate is None:
        return EmailEvent(kind=kind, outcome=None)
    outcome, detail = translate(data)
    return EmailEvent(
        kind=kind,
        outcome=outcome,
        provider_id=_short(data.get("email_id")),
        touch_id=_touch_tag(data.get("tags")),
        address=_recipient(data.get("to")),
        detail=detail[:_MAX_DETAIL] if detail else None,
    )


def _recipient(value: object) -> str | None:
    if isinstance(value, list) and value:
        value = value[0]
    return _short(value)


def _touch_tag(tags: object) -> str | None:
    """
    Our touch id from the email's tags, written `[{"name", "value"}]` when sent and echoed
    either that way or as `{"name": "value"}`.
    """
    if isinstance(tags, dict):
        return _short(tags.get(TOUCH_TAG))
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and tag.get("name") == TOUCH_TAG:
                return _short(tag.get("value"))
    return None


def _short(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= _MAX_ID and "\x00" not in value:
        return value
    return None
