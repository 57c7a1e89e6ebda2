"""
Consent as a ledger: every grant or withdrawal is appended with the words the person saw and
where; the current state of a channel and purpose is the latest entry. Nothing is implied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from cartback.domain.time import check_aware


class Channel(StrEnum):
    """
    How a person may be reached.
    """

    EMAIL = "email"
    SMS = "sms"


class Purpose(StrEnum):
    """
    What the messages are for: recovering a cart, or marketing beyond it.
    """

    RECOVERY = "recovery"
    MARKETING = "marketing"


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsentClaim:
    """
    A grant or withdrawal as a source reported it, with its evidence.

    `text` is the exact wording shown where the source knows it; where it does not (a
    platform's checkbox), it names the flag it came from, so the ledger never pretends.
    """

    channel: Channel
    purpose: Purpose
    granted: bool
    text: str
    source: str
    occurred_at: datetime
    client_ip: str | None = None
    user_agent: str | None = None

    def __post_init__(self) -> None:
        check_aware(self.occurred_at, "occurred_at")
        if not self.text.strip():
            raise ValueError("a consent entry needs the text that was shown")


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsentFact:
    """
    The latest ledger entry for a channel and purpose: what it says, when it was given, and
    the latest time a source said the same again (`confirmed_at`, never before `occurred_at`).
    """

    granted: bool
    occurred_at: datetime
    confirmed_at: datetime


ConsentState = Mapping[tuple[Channel, Purpose], ConsentFact]
ConsentKey = tuple[Channel, Purpose]


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerEntry:
    """
    A claim to append, with the latest time it was repeated in the same batch.
    """

    claim: ConsentClaim
    confirmed_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerUpdate:
    """
    What a set of claims does to the ledger: entries that change the state, and later
    repetitions of an existing latest entry (which move its `confirmed_at`, not its content).
    """

    entries: list[LedgerEntry]
    confirmations: dict[ConsentKey, datetime]

    @property
    def is_empty(self) -> bool:
        return not self.entries and not self.confirmations


def changes(current: ConsentState, claims: Iterable[ConsentClaim]) -> LedgerUpdate:
    """
    Fold claims into the ledger in the order they happened, whatever order they arrived in.

    A claim that repeats the current state adds no entry (every checkout update repeats its
    flags) but confirms it as of its time; a claim older than the latest confirmation (a
    webhook delivered late) cannot overrule it. Two claims of the same instant that disagree
    resolve to the withdrawal, so the outcome never depends on arrival order.
    """
    state = dict(current)
    entries: dict[ConsentKey, list[LedgerEntry]] = {}
    confirmations: dict[ConsentKey, datetime] = {}
    # At equal times, withdrawals sort first; a grant at the same instant then loses to them.
    for claim in sorted(claims, key=lambda c: (c.occurred_at, c.granted)):
        key = (claim.channel, claim.purpose)
        latest = state.get(key)
        if latest is not None and claim.occurred_at <= latest.confirmed_at:
            # Stale, or a tie that the withdrawal already won (a tied withdrawal still applies).
            tied_withdrawal = (
                claim.occurred_at == latest.confirmed_at and latest.granted and not claim.granted
            )
            if not tied_withdrawal:
                continue
        if latest is not None and latest.granted is claim.granted:
            state[key] = replace(latest, confirmed_at=claim.occurred_at)
            pending = entries.get(key)
            if pending and pending[-1].claim.granted is claim.granted:
                pending[-1] = replace(pending[-1], confirmed_at=claim.occurred_at)
            else:
                confirmations[key] = claim.occurred_at
            continue
        state[key] = ConsentFact(
            granted=claim.granted, occurred_at=claim.occurred_at, confirmed_at=claim.occurred_at
        )
        entries.setdefault(key, []).append(LedgerEntry(claim=claim, confirmed_at=claim.occurred_at))
        # A confirmation of the entry this one supersedes still stands: it happened before.
    ordered = sorted(
        (entry for pending in entries.values() for entry in pending),
        key=lambda e: (e.claim.occurred_at, e.claim.granted),
    )
    return LedgerUpdate(entries=ordered, confirmations=confirmations)
