"""
What a provider says about a message after taking it (a Twilio status callback, an email
provider's delivery or bounce webhook), and what that does to the touch. Pure: the service
records the event and applies the answer in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from cartback.domain.touches import TouchStatus


class DeliveryOutcome(StrEnum):
    """
    A provider's report, in our words.
    """

    #: The provider took or sent it (Twilio `queued`/`sent`): resolves a parked touch.
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    #: The carrier or mailbox did not deliver it (Twilio `undelivered`).
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    #: A permanent bounce: the address does not exist (suppressed).
    BOUNCED = "bounced"
    #: A temporary bounce (full mailbox): recorded, nothing changes.
    SOFT_BOUNCED = "soft_bounced"
    #: The recipient marked it as spam (suppressed; the touch keeps its status).
    COMPLAINED = "complained"
    #: The number opted out at the carrier (Twilio error 21610; suppressed).
    OPTED_OUT = "opted_out"


#: Reports that put the address on the suppression list, with the list's reason.
SUPPRESSING = {
    DeliveryOutcome.BOUNCED: "hard_bounce",
    DeliveryOutcome.COMPLAINED: "complaint",
    DeliveryOutcome.OPTED_OUT: "sms_stop",
}

#: Where a touch is once the provider has had the last word: a late report changes nothing.
FINAL = frozenset({TouchStatus.DELIVERED, TouchStatus.UNDELIVERED, TouchStatus.FAILED})
#: Touches a report may move: sent, in flight, or parked as ambiguous.
_MOVABLE = frozenset({TouchStatus.SENDING, TouchStatus.AMBIGUOUS, TouchStatus.SENT})
_TO_STATUS = {
    DeliveryOutcome.ACCEPTED: TouchStatus.SENT,
    DeliveryOutcome.DELIVERED: TouchStatus.DELIVERED,
    DeliveryOutcome.UNDELIVERED: TouchStatus.UNDELIVERED,
    DeliveryOutcome.FAILED: TouchStatus.FAILED,
    DeliveryOutcome.BOUNCED: TouchStatus.FAILED,
    DeliveryOutcome.OPTED_OUT: TouchStatus.FAILED,
}
#: The short reason written on a touch the report failed (the provider's words go apart).
_REASONS = {
    DeliveryOutcome.UNDELIVERED: "undelivered",
    DeliveryOutcome.FAILED: "provider_failed",
    DeliveryOutcome.BOUNCED: "bounced",
    DeliveryOutcome.OPTED_OUT: "unsubscribed",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class TouchChange:
    """
    How a report moves a touch: its new status, and whether it went out only now (a parked
    ambiguous touch the provider confirms: the send's bookkeeping is done then).
    """

    status: TouchStatus
    reason: str | None
    delivered_at: datetime | None
    provider_error: str | None
    confirmed_sent: bool


def touch_change(
    status: TouchStatus, outcome: DeliveryOutcome, *, detail: str | None, now: datetime
) -> TouchChange | None:
    """
    What a report does to a touch in `status`; None when it changes nothing (a report about a
    touch already final, a soft bounce, a complaint, or an ACCEPTED for a touch already sent).
    """
    target = _TO_STATUS.get(outcome)
    if target is None or status not in _MOVABLE or status in FINAL:
        return None
    if target is TouchStatus.SENT and status is TouchStatus.SENT:
        return None
    return TouchChange(
        status=target,
        reason=_REASONS.get(outcome),
        delivered_at=now if target is TouchStatus.DELIVERED else None,
        provider_error=detail[:500] if detail and target is not TouchStatus.SENT else None,
        confirmed_sent=status is not TouchStatus.SENT,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryEvent:
    """
    One provider report, stored once per (store, provider, event key).
    """

    store_id: str
    provider: str
    event_key: str
    outcome: DeliveryOutcome
    received_at: datetime
    provider_id: str | None = None
    touch_id: str | None = None
    detail: str | None = None

    def with_touch(self, touch_id: str | None) -> DeliveryEvent:
        """
        The event linked to the touch it was found to be about.
        """
        return replace(self, touch_id=touch_id)
