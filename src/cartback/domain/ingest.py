"""
The envelope every source hands to the ingest service: one inbound message, already verified
and translated, with its idempotency key and the raw payload to keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from cartback.domain.consent import ConsentClaim
from cartback.domain.events import CartEvent, IdentityClaims
from cartback.domain.time import check_aware


class MessageKind(StrEnum):
    """
    The Segment message types Cartback stores.
    """

    TRACK = "track"
    IDENTIFY = "identify"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


@dataclass(frozen=True, kw_only=True, slots=True)
class Inbound:
    """
    One message ready to ingest.

    `event` is None for messages the cart model does not use (they are stored and ignored);
    `claims` carries identity (identify calls, or traits a track call repeats); `consents` are
    grants or withdrawals for the identified person (a platform's marketing checkboxes).
    """

    source: str
    message_id: str
    kind: MessageKind
    name: str | None
    occurred_at: datetime
    anonymous_id: str | None = None
    user_id: str | None = None
    cart_key: str | None = None
    order_key: str | None = None
    event: CartEvent | None = None
    claims: IdentityClaims | None = None
    user_agent: str | None = None
    #: The browser's locale (`en-GB`) and an address's country (ISO alpha-2) the message gave,
    #: for the cart's country (`domain/origin.py`).
    locale: str | None = None
    country: str | None = None
    consents: tuple[ConsentClaim, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_aware(self.occurred_at, "occurred_at")


class EventOutcome(StrEnum):
    """
    What ingesting one message did; kept with the raw event.
    """

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    AFTER_ORDER = "after_order"
    IGNORED = "ignored"
    REJECTED = "rejected"


@dataclass(frozen=True, kw_only=True, slots=True)
class IngestReport:
    """
    Per message id, what happened.
    """

    outcomes: dict[str, EventOutcome]

    def count(self, outcome: EventOutcome) -> int:
        """
        How many messages ended with this outcome.
        """
        return sum(1 for o in self.outcomes.values() if o is outcome)
