"""
What shoppers text back (the Twilio inbound webhook, once its signature is verified): every
reply is stored once per `MessageSid`; a keyword also acts, in the same transaction.

- STOP and its synonyms withdraw SMS consent (recovery and marketing) at once and put the
  number on the suppression list (`sms_stop`).
- START, UNSTOP and YES lift the suppression. START and UNSTOP grant recovery texts again with
  the keyword as the words; YES confirms the number's pending double opt-in requests, granting
  each with the words and evidence of the original request. A YES with nothing pending grants
  nothing: "yes" is also an ordinary answer to a question, and consent is never implied.
- HELP and INFO are answered with the store's help text.

A redelivered webhook (same `MessageSid`) changes nothing and gets the same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from cartback.domain.consent import Channel, ConsentClaim, Purpose
from cartback.domain.optouts import (
    CONFIRM_KEYWORD,
    SMS_KEYWORD_SOURCE,
    SMS_KEYWORDS,
    KeywordAction,
    opt_out_claims,
    sms_keyword,
)
from cartback.domain.ports import InboundMessage, Suppression, UnitOfWork
from cartback.domain.reasons import Reason
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.domain.touches import EnrollmentStatus
from cartback.kit.ids import new_id
from cartback.kit.normalise import normalise_phone
from cartback.services.enrollment import store_flows
from cartback.services.permission import append_claims
from cartback.services.webhook_events import WebhookEvents, contact_unsubscribed

log = structlog.get_logger(__name__)

#: The suppression reason of an SMS opt-out keyword.
SMS_STOP = "sms_stop"
DEFAULT_LIMIT = 50


@dataclass(frozen=True, kw_only=True, slots=True)
class SmsReply:
    """
    An inbound SMS as Twilio reported it.
    """

    message_sid: str
    sender: str
    body: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ReplyOutcome:
    """
    What a reply did: whether it was new, its keyword, and the text to answer with (HELP).
    """

    stored: bool
    keyword: str | None
    answer: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Reply:
    """
    A new reply being acted on, inside its unit of work.
    """

    uow: UnitOfWork
    store_id: str
    phone: str | None
    contact_id: str | None
    keyword: str
    text: str  # the keyword as the shopper wrote it (trimmed)
    now: datetime


def receive_sms(
    *, uow: UnitOfWork, clock: Clock, store: Store, reply: SmsReply, help_text: str
) -> ReplyOutcome:
    """
    Store a reply (once per message SID) and carry out its keyword, in one transaction.

    Args:
        uow: a fresh unit of work.
        clock: the time of the reply is the time it arrived.
        store: the store whose number was texted.
        reply: the verified webhook's fields.
        help_text: the answer to HELP and INFO.
    """
    keyword = sms_keyword(reply.body)
    action = SMS_KEYWORDS[keyword] if keyword else None
    answer = help_text if action is KeywordAction.HELP else None
    phone = _phone(reply.sender, store.country)
    now = clock.now()
    with uow:
        contact_id = _contact_id(uow, store.id, phone)
        stored = uow.inbound_messages.add(
            InboundMessage(
                id=new_id("in"),
                store_id=store.id,
                channel=Channel.SMS,
                provider_id=reply.message_sid,
                sender=phone or reply.sender,
                body=reply.body,
                keyword=keyword,
                contact_id=contact_id,
                received_at=now,
            )
        )
        if stored and keyword and action is not None:
            acting = _Reply(
                uow=uow,
                store_id=store.id,
                phone=phone,
                contact_id=contact_id,
                keyword=keyword,
                text=reply.body.strip(),
                now=now,
            )
            _ACTIONS[action](acting)
        elif stored and action is None and contact_id is not None:
            _end_sequence_on_reply(uow, store.id, contact_id, now)
        uow.commit()
    log.info("sms.reply.received", store_id=store.id, keyword=keyword, duplicate=not stored)
    return ReplyOutcome(stored=stored, keyword=keyword, answer=answer)


def _end_sequence_on_reply(uow: UnitOfWork, store_id: str, contact_id: str, now: datetime) -> None:
    """
    A person wrote back: their running sequence ends if its flow lists `replied` in `exit_on`
    (a conversation has started; reminders would talk over it).
    """
    current = uow.enrollments.active_for_contact(contact_id)
    if current is None:
        return
    flow = store_flows(uow, store_id).flow(current.flow)
    if flow is None or "replied" not in flow.exit_on:
        return
    uow.touches.cancel_pending(current.id, reason=Reason.REPLIED.value, now=now)
    uow.enrollments.end(
        current.id, status=EnrollmentStatus.CANCELLED, reason=Reason.REPLIED.value, at=now
    )
    log.info("enrollment.replied", store_id=store_id, enrollment_id=current.id)


def _phone(sender: str, country: str | None) -> str | None:
    try:
        return normalise_phone(sender, default_region=country)
    except ValueError:
        return None  # a short code, an alphanumeric sender, a WhatsApp address: stored only


def _contact_id(uow: UnitOfWork, store_id: str, phone: str | None) -> str | None:
    if phone is None:
        return None
    _, _, holder = uow.contacts.find(store_id, user_id=None, email=None, phone=phone)
    return holder.id if holder else None


def _opt_out(reply: _Reply) -> None:
    if reply.contact_id is not None:
        claims = opt_out_claims(
            text=reply.text, source=SMS_KEYWORD_SOURCE, at=reply.now, channel=Channel.SMS
        )
        append_claims(reply.uow, reply.store_id, reply.contact_id, claims, now=reply.now)
        unsubscribed = contact_unsubscribed(
            reply.store_id,
            reply.contact_id,
            Channel.SMS,
            source=SMS_KEYWORD_SOURCE,
            now=reply.now,
        )
        WebhookEvents().emit(reply.uow, unsubscribed)
    if reply.phone is not None:
        # A later YES must not confirm what was asked before the shopper said no.
        reply.uow.sms_confirmations.discard_pending(reply.store_id, reply.phone)
        reply.uow.suppressions.add(
            Suppression(
                store_id=reply.store_id,
                channel=Channel.SMS,
                address=reply.phone,
                reason=SMS_STOP,
                source=SMS_KEYWORD_SOURCE,
                created_at=reply.now,
            )
        )


def _opt_in(reply: _Reply) -> None:
    if reply.phone is None:
        return
    reply.uow.suppressions.remove(reply.store_id, Channel.SMS, reply.phone)
    if reply.keyword == CONFIRM_KEYWORD:
        _confirm_pending(reply, reply.phone)
        return
    if reply.contact_id is not None:
        grant = ConsentClaim(
            channel=Channel.SMS,
            purpose=Purpose.RECOVERY,
            granted=True,
            text=reply.text,
            source=SMS_KEYWORD_SOURCE,
            occurred_at=reply.now,
        )
        append_claims(reply.uow, reply.store_id, reply.contact_id, [grant], now=reply.now)


def _confirm_pending(reply: _Reply, phone: str) -> None:
    """
    Grant what each pending double opt-in request asked for, with the request's own words and
    evidence (what the shopper agreed to), as of the YES.
    """
    for request in reply.uow.sms_confirmations.pending(reply.store_id, phone):
        grant = ConsentClaim(
            channel=Channel.SMS,
            purpose=request.purpose,
            granted=True,
            text=request.text,
            text_version=request.text_version,
            source=request.source,
            occurred_at=reply.now,
            client_ip=request.client_ip,
            user_agent=request.user_agent,
        )
        append_claims(reply.uow, reply.store_id, request.contact_id, [grant], now=reply.now)
        if request.id is not None:
            reply.uow.sms_confirmations.confirm(request.id, at=reply.now)


def _help(_reply: _Reply) -> None:
    """
    HELP changes nothing; its answer is the store's help text.
    """


_ACTIONS: dict[KeywordAction, Callable[[_Reply], None]] = {
    KeywordAction.OPT_OUT: _opt_out,
    KeywordAction.OPT_IN: _opt_in,
    KeywordAction.HELP: _help,
}


def list_inbound(*, uow: UnitOfWork, store_id: str, limit: int) -> list[InboundMessage]:
    """
    The store's latest replies, newest first.
    """
    with uow:
        return uow.inbound_messages.list_recent(store_id, limit=limit)
