"""
Touches and enrollments as data (`contract.md` §6), and the pure retry policy of the send
protocol: what a failed channel call means for the touch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class TouchStatus(StrEnum):
    """
    Where a touch is (`contract.md` §6).
    """

    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    #: The provider took it but the carrier or mailbox did not deliver it (status callback).
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    CANCELLED = "cancelled"
    WITHHELD = "withheld"
    AMBIGUOUS = "ambiguous"


#: Touches that may still go: an enrollment's cancellation ends these.
PENDING = frozenset({TouchStatus.SCHEDULED, TouchStatus.DEFERRED})
#: Touches that went out (they count for the frequency cap and make an order a recovery).
WENT = frozenset({TouchStatus.SENDING, TouchStatus.SENT, TouchStatus.DELIVERED})


class EnrollmentStatus(StrEnum):
    """
    An enrollment runs (`active`) until its steps are done or something ends it.
    """

    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REPLACED = "replaced"


class Group(StrEnum):
    """
    Holdout assignment: `control` contacts are enrolled but every touch is `withheld`.
    """

    TREATED = "treated"
    CONTROL = "control"


class SendFailed(Exception):
    """
    A channel could not send: `transient` errors (timeouts, 429, 5xx) may be retried,
    permanent ones (a refused address, 4xx) never. `reason` is a short code (`smtp_550`,
    `resend_422`); `detail` is the provider's own words, also in the message (`str(error)`).
    """

    def __init__(
        self,
        reason: str,
        *,
        transient: bool,
        detail: str | None = None,
        suppress: str | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.transient = transient
        self.detail = detail
        #: A suppression-list reason when the provider says the address must not be messaged
        #: again (Twilio 21610: the number replied STOP; 21211: not a number at all).
        self.suppress = suppress


class StatusUnknown(Exception):
    """
    A channel cannot tell whether a message went: from `status()` (SMTP has no lookup), or from
    `send()` when the provider may have taken it before the answer was lost (a read timeout).
    The touch is parked `ambiguous` for the provider's own report (a status callback) or an
    operator, never resent.
    """


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """
    Exponential backoff for transient send errors: `first`, doubled per attempt, at most
    `longest`, for at most `max_attempts` calls in all.
    """

    max_attempts: int = 5
    first: timedelta = timedelta(minutes=1)
    longest: timedelta = timedelta(hours=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class Retry:
    """
    Try again at `at` (the touch goes back to `scheduled`).
    """

    at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class GiveUp:
    """
    The touch is `failed` with `reason`.
    """

    reason: str


def retry_decision(
    error: SendFailed, *, attempts: int, now: datetime, policy: RetryPolicy
) -> Retry | GiveUp:
    """
    What a failed call means, given the calls made so far (this one included).

    Permanent errors never retry; transient ones back off until `max_attempts` calls were made.
    """
    if not error.transient:
        return GiveUp(reason=error.reason)
    if attempts >= policy.max_attempts:
        return GiveUp(reason=f"gave up after {attempts} attempts: {error.reason}")
    wait = min(policy.first * 2 ** max(attempts - 1, 0), policy.longest)
    return Retry(at=now + wait)
