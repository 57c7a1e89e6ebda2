"""
Who in an audience may be advertised to now: the one answer the exports and the pushes to ad
networks share.

A known contact in an audience (a current row of `audience_members`: `left_at IS NULL AND
expires_at > now`) is reachable when all of these hold:

1. they have not said no to ads (`contacts.ads_opt_out_at` is empty: GPC or denied cookies);
2. they have the consent the store's policy needs for ads, which Cartback defines as
   `may_message(uow, store, contact, Channel.EMAIL, Purpose.MARKETING).allowed`
   (`services/permission.py`): an EU (or strict) store needs a marketing grant on email, a US
   store's opt-out model allows unless the person withdrew or the address is suppressed. A
   contact without an email address therefore never qualifies. The answer is computed for the
   whole audience at once from the same inputs `may_message` reads (ledger, suppression list,
   past orders), so the rule stays `may_contact`'s;
3. they are not a bot;
4. no flow holds them: a contact whose ACTIVE enrollment is in the `treated` group is held
   until a touch of it is skipped `handed_to_ads` (the flow still emails them, and the same
   person is not chased everywhere at once); one whose active enrollment is in the `control`
   group (the holdout) is always held, since a holdout gets no recovery contact of any kind.

An anonymous visitor in an audience (a current row of `audience_visitors`) is reachable unless
its visitor said no to ads or is a bot. Its only identifier is `external_id`, the SHA-256 of
the visitor's `anonymous_id`: never an email, a phone number or a contact id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cartback.domain.ad_hashing import sha256_hex
from cartback.domain.consent import Channel, Purpose, may_contact
from cartback.domain.ports import AudienceMemberFacts, Contact, UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import check_aware
from cartback.domain.touches import Group

#: Contacts whose consent is read per batch: a few `IN` queries each, well under SQLite's
#: limit on bound parameters however large the audience.
CONSENT_BATCH = 1_000


@dataclass(frozen=True, kw_only=True, slots=True)
class ReachableMember:
    """
    A known contact who may be shown ads from this audience now.
    """

    contact_id: str
    email: str | None
    phone: str | None
    #: The audience's offer rules held when they entered; None: the audience has no offer.
    offer_eligible: bool | None
    entered_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        check_aware(self.entered_at, "entered_at")
        check_aware(self.expires_at, "expires_at")


@dataclass(frozen=True, kw_only=True, slots=True)
class AnonymousMember:
    """
    An anonymous visitor who may be shown ads from this audience now, known to ad networks
    only by `external_id` (the SHA-256 hex of its anonymous id).
    """

    visitor_id: str
    external_id: str
    entered_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        check_aware(self.entered_at, "entered_at")
        check_aware(self.expires_at, "expires_at")


def reachable_members(
    uow: UnitOfWork, store: Store, audience: str, now: datetime
) -> list[ReachableMember]:
    """
    The audience's known contacts who may be advertised to now (the rules are in this
    module's docstring), oldest entry first.

    Runs inside the caller's open unit of work and only reads: one query for the audience,
    then the consent inputs in batches of `CONSENT_BATCH` contacts.

    Args:
        uow: an open unit of work.
        store: the audience's store (its consent policy decides).
        audience: the audience's name.
        now: the instant "current" and "active" refer to.

    Returns:
        The reachable members with their addresses.
    """
    check_aware(now, "now")
    candidates = [
        facts
        for facts in uow.audience_reach.current_members(store.id, audience, now=now)
        if _not_excluded(facts)
    ]
    allowed: set[str] = set()
    for start in range(0, len(candidates), CONSENT_BATCH):
        batch = [facts.contact for facts in candidates[start : start + CONSENT_BATCH]]
        allowed |= _email_marketing_allowed(uow, store, batch)
    return [_reachable(facts) for facts in candidates if facts.contact.id in allowed]


def anonymous_members(
    uow: UnitOfWork, store: Store, audience: str, now: datetime
) -> list[AnonymousMember]:
    """
    The audience's anonymous visitors who may be advertised to now (not opted out of ads,
    not bots), oldest entry first, each known by the SHA-256 of its anonymous id.

    Runs inside the caller's open unit of work and only reads, in one query.

    Args:
        uow: an open unit of work.
        store: the audience's store.
        audience: the audience's name.
        now: the instant "current" refers to.

    Returns:
        The reachable visitors, without any contact detail.
    """
    check_aware(now, "now")
    return [
        AnonymousMember(
            visitor_id=facts.visitor_id,
            external_id=sha256_hex(facts.anonymous_id),
            entered_at=facts.entered_at,
            expires_at=facts.expires_at,
        )
        for facts in uow.audience_reach.current_visitors(store.id, audience, now=now)
        if facts.ads_opt_out_at is None and not facts.is_bot
    ]


def _not_excluded(facts: AudienceMemberFacts) -> bool:
    """
    Rules 1, 3 and 4 (everything but consent, which needs more reads).
    """
    contact = facts.contact
    return contact.ads_opt_out_at is None and not contact.is_bot and not _held_by_flow(facts)


def _held_by_flow(facts: AudienceMemberFacts) -> bool:
    if facts.active_group is Group.CONTROL:
        return True  # a holdout gets no recovery contact, ads included
    return facts.active_group is Group.TREATED and not facts.handed_to_ads


def _email_marketing_allowed(uow: UnitOfWork, store: Store, batch: Sequence[Contact]) -> set[str]:
    """
    The ids of those contacts `may_message(..., Channel.EMAIL, Purpose.MARKETING)` allows,
    from the same inputs it reads, read for the whole batch at once.
    """
    ids = [contact.id for contact in batch]
    emails = sorted({contact.email for contact in batch if contact.email is not None})
    ledgers = uow.consents.current_many(ids)
    suppressed = uow.suppressions.suppressed_among(store.id, Channel.EMAIL, emails)
    customers = uow.orders.ordered_among(store.id, ids)
    policy = store.consent_policy
    return {
        contact.id
        for contact in batch
        if may_contact(
            policy,
            ledgers.get(contact.id, {}),
            Channel.EMAIL,
            Purpose.MARKETING,
            has_address=contact.email is not None,
            suppressed=contact.email in suppressed,
            is_customer=contact.id in customers,
        ).allowed
    }


def _reachable(facts: AudienceMemberFacts) -> ReachableMember:
    return ReachableMember(
        contact_id=facts.contact.id,
        email=facts.contact.email,
        phone=facts.contact.phone,
        offer_eligible=facts.offer_eligible,
        entered_at=facts.entered_at,
        expires_at=facts.expires_at,
    )
