"""
Consent as a ledger: every grant or withdrawal is appended with the words the person saw and
where; the current state of a channel and purpose is the latest entry. Nothing is implied.
"""

from __future__ import annotations

import hashlib
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
    #: Which version of the wording was shown (a widget's text id), and its language.
    text_version: str | None = None
    locale: str | None = None

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


class Region(StrEnum):
    """
    Which consent law a store's shoppers fall under, as a policy table.
    """

    #: GDPR and ePrivacy: recovery email only with explicit consent, or to existing customers
    #: under the soft opt-in when the merchant enables it; SMS and marketing only with consent.
    EU = "eu"
    #: CAN-SPAM and TCPA: email on the opt-out model (with the footer CAN-SPAM asks for); SMS
    #: only with express written consent.
    US = "us"
    #: Explicit consent for every channel and purpose (Canada's CASL, or when unsure).
    STRICT = "strict"


#: EU and EEA members, the UK and Switzerland: GDPR or an equivalent.
_EU_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
        "IS",
        "LI",
        "NO",
        "GB",
        "CH",
    ]
)


def default_region(country: str | None) -> Region:
    """
    The policy a store gets from its country when the merchant has not chosen one: the EU
    table for Europe, the US table for the US, the strict table for everyone else.
    """
    if country in _EU_COUNTRIES:
        return Region.EU
    if country == "US":
        return Region.US
    return Region.STRICT


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsentPolicy:
    """
    A store's consent rules.
    """

    region: Region
    #: EU only: existing customers may get cart-recovery email without a fresh opt-in.
    soft_opt_in: bool = False
    #: SMS consent counts only after the shopper answers a confirmation text with YES.
    sms_double_opt_in: bool = False


class Basis(StrEnum):
    """
    Why a contact may, or may not, get a channel for a purpose.
    """

    CONSENT = "consent"
    OPT_OUT_MODEL = "opt_out_model"
    SOFT_OPT_IN = "soft_opt_in"
    NO_CONSENT = "no_consent"
    WITHDRAWN = "withdrawn"
    SUPPRESSED = "suppressed"
    NO_ADDRESS = "no_address"


@dataclass(frozen=True, kw_only=True, slots=True)
class Permission:
    """
    The answer to "may this contact get this channel for this purpose now?", with its basis.
    """

    allowed: bool
    basis: Basis


def may_contact(
    policy: ConsentPolicy,
    state: ConsentState,
    channel: Channel,
    purpose: Purpose,
    *,
    has_address: bool,
    suppressed: bool,
    is_customer: bool,
) -> Permission:
    """
    Whether a contact may be sent `channel` for `purpose`, from the ledger's current state.

    The order of the rules: no address, then the suppression list, then the ledger's latest
    word on this channel and purpose (a withdrawal always beats the policy), then a marketing
    grant on the same channel (the wider consent covers recovery; withdrawing marketing alone
    leaves recovery to the rules below), then the region's default. SMS is never implied by
    anything said about email.
    """
    if not has_address:
        return Permission(allowed=False, basis=Basis.NO_ADDRESS)
    if suppressed:
        return Permission(allowed=False, basis=Basis.SUPPRESSED)
    own = state.get((channel, purpose))
    if own is not None:
        return Permission(
            allowed=own.granted, basis=Basis.CONSENT if own.granted else Basis.WITHDRAWN
        )
    wider = state.get((channel, Purpose.MARKETING))
    if purpose is Purpose.RECOVERY and wider is not None and wider.granted:
        return Permission(allowed=True, basis=Basis.CONSENT)
    return _by_region(policy, channel, purpose, is_customer=is_customer)


def _by_region(
    policy: ConsentPolicy, channel: Channel, purpose: Purpose, *, is_customer: bool
) -> Permission:
    if channel is Channel.EMAIL and policy.region is Region.US:
        return Permission(allowed=True, basis=Basis.OPT_OUT_MODEL)
    if (
        channel is Channel.EMAIL
        and purpose is Purpose.RECOVERY
        and policy.region is Region.EU
        and policy.soft_opt_in
        and is_customer
    ):
        return Permission(allowed=True, basis=Basis.SOFT_OPT_IN)
    return Permission(allowed=False, basis=Basis.NO_CONSENT)


def erased_address(address: str) -> str:
    """
    The form an erased person's address keeps on the suppression list: still blocking (the
    same address hashes the same), no longer readable.
    """
    return "sha256:" + hashlib.sha256(address.encode()).hexdigest()
