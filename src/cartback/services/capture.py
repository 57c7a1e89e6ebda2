"""
Lead capture (`POST /v1/capture`): a shopper typed an email address or a phone number into a
capture widget or the store's checkout. One transaction finds or creates the contact, links
the browser's visitor and cart to it, appends every consent answer to the ledger with its
evidence (an SMS grant under double opt-in waits for the shopper's YES instead), and records a
browser's no to ads.

Nothing is stored for a filled honeypot or a crawler, and nothing for an invalid request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog

from cartback.domain.audiences import LeaveReason
from cartback.domain.capture import opts_out_of_ads
from cartback.domain.consent import Channel, ConsentClaim, changes
from cartback.domain.errors import NotFound
from cartback.domain.events import IdentityClaims
from cartback.domain.identity import is_bot_user_agent
from cartback.domain.ports import SmsConfirmation, UnitOfWork, Visitor, VisitorSeen
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services._capture_input import (
    ConsentInput,
    Submission,
    is_honeypot,
    parse_submission,
)
from cartback.services._contacts import resolve_contact
from cartback.services.audiences import leave_audiences, leave_on_withdrawal

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class CaptureEvidence:
    """
    What the HTTP request itself says: the ledger's proof of who answered, and whether the
    browser sent `Sec-GPC: 1`.
    """

    client_ip: str | None = None
    user_agent: str | None = None
    gpc_header: bool = False


class CaptureOutcome(StrEnum):
    """
    What became of a capture. Every outcome answers the browser the same way.
    """

    STORED = "stored"
    HONEYPOT = "honeypot"
    CRAWLER = "crawler"


@dataclass(frozen=True, kw_only=True, slots=True)
class CaptureResult:
    """
    The outcome, and for a stored capture its contact and what was written.
    """

    outcome: CaptureOutcome
    contact_id: str | None = None
    ledger_entries: int = 0
    sms_confirmations: int = 0


def capture(
    *,
    uow: UnitOfWork,
    clock: Clock,
    store_id: str,
    document: Mapping[str, Any],
    evidence: CaptureEvidence,
) -> CaptureResult:
    """
    Capture a contact detail and the consents given with it, all or nothing.

    Raises:
        NotFound: no such store.
        InvalidInput: with every invalid field; nothing is stored.
    """
    if is_honeypot(document):
        log.info("capture.honeypot", store_id=store_id)
        return CaptureResult(outcome=CaptureOutcome.HONEYPOT)
    if is_bot_user_agent(evidence.user_agent):
        log.info("capture.crawler", store_id=store_id, user_agent=(evidence.user_agent or "")[:200])
        return CaptureResult(outcome=CaptureOutcome.CRAWLER)
    now = clock.now()
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        submission = parse_submission(document, default_region=store.country)
        seen = VisitorSeen(at=now, user_agent=evidence.user_agent)
        visitor = uow.visitors.ensure(store.id, {submission.anonymous_id: seen})[
            submission.anonymous_id
        ]
        if visitor.is_bot:
            log.info("capture.crawler", store_id=store_id, visitor_id=visitor.id)
            return CaptureResult(outcome=CaptureOutcome.CRAWLER)
        claims = IdentityClaims(email=submission.email, phone=submission.phone)
        contact_id = resolve_contact(uow=uow, store_id=store.id, claims=claims, now=now)
        _link(uow, store.id, submission, visitor, contact_id)
        entries, confirmations = _record_consents(uow, store, submission, contact_id, evidence, now)
        if opts_out_of_ads(
            gpc_header=evidence.gpc_header,
            gpc=submission.gpc,
            cookie_consent=submission.cookie_consent,
        ):
            uow.visitors.mark_ads_opt_out([visitor.id], at=now)
            uow.contacts.mark_ads_opt_out(contact_id, at=now)
            leave_audiences(
                uow,
                store.id,
                contact_ids=[contact_id],
                visitor_ids=[visitor.id],
                reason=LeaveReason.OPTED_OUT,
                now=now,
            )
        uow.commit()
    log.info(
        "capture.stored",
        store_id=store_id,
        contact_id=contact_id,
        widget=submission.widget.value,
        action=submission.action.value,
        ledger_entries=entries,
        sms_confirmations=confirmations,
    )
    return CaptureResult(
        outcome=CaptureOutcome.STORED,
        contact_id=contact_id,
        ledger_entries=entries,
        sms_confirmations=confirmations,
    )


def _link(
    uow: UnitOfWork, store_id: str, submission: Submission, visitor: Visitor, contact_id: str
) -> None:
    """
    The visitor and its open carts belong to the contact now; so does the cart named, unless
    another browser holds it for someone else (a guessed cart id must not take a cart over).
    """
    if visitor.contact_id != contact_id:
        uow.visitors.link(visitor.id, contact_id)
        uow.carts.assign_contact(store_id, visitor.id, contact_id)
    if submission.cart_id is None:
        return
    record = uow.carts.get(store_id, submission.cart_id)
    if record is None or record.contact_id == contact_id:
        return
    elsewhere = record.visitor_id not in (None, visitor.id) and record.contact_id is not None
    if elsewhere:
        log.info("capture.cart_kept", store_id=store_id, cart_id=record.id)
        return
    uow.carts.set_contact(store_id, submission.cart_id, contact_id)


def _record_consents(
    uow: UnitOfWork,
    store: Store,
    submission: Submission,
    contact_id: str,
    evidence: CaptureEvidence,
    now: datetime,
) -> tuple[int, int]:
    """
    Append the answers to the ledger; returns (ledger entries, SMS confirmations asked for).

    Under SMS double opt-in an SMS grant is only asked for: it reaches the ledger when the
    shopper replies YES. A grant the ledger already holds needs no new confirmation, and a
    decline is always written at once (saying no never waits).
    """
    current = uow.consents.current(contact_id)
    claims: list[ConsentClaim] = []
    confirmations = 0
    for consent in submission.consents:
        held = current.get((consent.channel, consent.purpose))
        waits = (
            consent.channel is Channel.SMS
            and consent.granted
            and store.consent_policy.sms_double_opt_in
            and not (held is not None and held.granted)
        )
        if waits:
            confirmations += _ask_confirmation(
                uow, store, submission, consent, contact_id, evidence, now
            )
        else:
            claims.append(_claim(submission, consent, evidence, now))
    update = changes(current, claims)
    if not update.is_empty:
        uow.consents.record(store.id, contact_id, update, now=now)
        leave_on_withdrawal(uow, store.id, contact_id, update, now)
    return len(update.entries), confirmations


def _claim(
    submission: Submission, consent: ConsentInput, evidence: CaptureEvidence, now: datetime
) -> ConsentClaim:
    return ConsentClaim(
        channel=consent.channel,
        purpose=consent.purpose,
        granted=consent.granted,
        text=consent.text,
        source=consent.source.value,
        occurred_at=now,
        client_ip=evidence.client_ip,
        user_agent=evidence.user_agent,
        text_version=consent.text_version,
        locale=submission.locale,
    )


def _ask_confirmation(
    uow: UnitOfWork,
    store: Store,
    submission: Submission,
    consent: ConsentInput,
    contact_id: str,
    evidence: CaptureEvidence,
    now: datetime,
) -> int:
    """
    Add a pending SMS confirmation, unless one for this number and purpose already waits
    (a shopper pressing the button twice gets one text). Returns how many were added.
    """
    phone = submission.phone or ""
    waiting = uow.sms_confirmations.pending(store.id, phone)
    if any(c.purpose is consent.purpose for c in waiting):
        return 0
    confirmation_id = uow.sms_confirmations.add(
        SmsConfirmation(
            id=None,
            store_id=store.id,
            contact_id=contact_id,
            phone=phone,
            purpose=consent.purpose,
            text=consent.text,
            text_version=consent.text_version,
            source=consent.source.value,
            client_ip=evidence.client_ip,
            user_agent=evidence.user_agent,
            requested_at=now,
        )
    )
    log.info(
        "capture.sms_confirmation_pending",
        store_id=store.id,
        contact_id=contact_id,
        confirmation_id=confirmation_id,
        purpose=consent.purpose.value,
    )
    return 1
