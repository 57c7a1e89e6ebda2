"""
Meta Conversions API events for anonymous visitors (issue #8): a worker pass that reads each
pixel store's stored `Product Added` and `Checkout Started` events (and the store's aliases of
them) after its cursor, and sends them to Meta as `AddToCart` and `InitiateCheckout`
(`domain/conversions.py` decides what is sent, `channels/ads/capi.py` sends).

The cursor is the last raw event id handled, kept in the store's settings
(`ads.meta.capi_cursor`); it moves, in one short transaction, only after Meta accepted the
batch (or called it malformed), so nothing is lost while Meta is down. A store whose pixel is
configured later starts from its latest event, not from its history. No network call happens
inside a transaction.

Two workers may run the pass at the same moment and send a batch twice: Meta deduplicates
server events on `event_id` and `event_name`, so a rare double send counts once.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from cartback.domain.conversions import (
    META_EVENTS,
    AnswerKind,
    Batch,
    ConversionSender,
    SendAnswer,
    plan_batches,
)
from cartback.domain.errors import ConfigurationError
from cartback.domain.ports import UnitOfWork, UnitOfWorkFactory
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.keys import SecretBox
from cartback.services.ads_config import SECTION, MetaAccount, meta_account
from cartback.services.sources import event_aliases

log = structlog.get_logger(__name__)

#: Raw events read per store and pass; the rest waits for the next pass.
DEFAULT_LIMIT = 5000
#: After a refusal that is not the batch's fault (a token or permission problem), the store
#: waits this long before it asks again, rather than every pass.
REFUSED_WAIT = timedelta(minutes=15)
#: Keys in the store's `ads.meta` settings.
CURSOR = "capi_cursor"
RETRY_AT = "capi_retry_at"
TEST_EVENT_CODE = "test_event_code"


@dataclass(kw_only=True)
class ConversionReport:
    """
    What one pass did: events sent and accepted, requests made, events skipped by reason, and
    the stores that started their cursor or must wait.
    """

    sent: int = 0
    requests: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    started: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)


def send_conversions(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    box: SecretBox,
    sender: ConversionSender,
    limit: int = DEFAULT_LIMIT,
) -> ConversionReport:
    """
    Send every pixel store's new conversion events to Meta, in batches of at most 1,000.
    """
    report = ConversionReport()
    with uow_factory(read_only=True) as uow:
        stores = uow.stores.list_all()
    for store in stores:
        account = _account(store, box)
        if account is None or account.pixel_id is None:
            continue
        _send_store(
            uow_factory=uow_factory,
            clock=clock,
            sender=sender,
            store=store,
            account=account,
            limit=limit,
            report=report,
        )
    return report


def _send_store(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    sender: ConversionSender,
    store: Store,
    account: MetaAccount,
    limit: int,
    report: ConversionReport,
) -> None:
    section = _meta_section(store)
    now = clock.now()
    retry_at = _moment(section.get(RETRY_AT))
    if retry_at is not None and now < retry_at:
        report.waiting.append(store.id)
        return
    cursor = section.get(CURSOR)
    if not isinstance(cursor, int) or isinstance(cursor, bool):
        _start_cursor(uow_factory, store.id)
        report.started.append(store.id)
        return
    aliases = event_aliases(store)
    with uow_factory(read_only=True) as uow:
        events = uow.events.tracked_after(
            store.id, after_id=cursor, names=_names(aliases), limit=limit
        )
    for batch in plan_batches(events, now=now, aliases=aliases):
        report.skipped.update(batch.skipped)
        answer = _deliver(sender, account, section, batch)
        if batch.events:
            report.requests += 1
            _log_answer(store.id, batch, answer)
        if answer.kind in (AnswerKind.ACCEPTED, AnswerKind.MALFORMED):
            if answer.kind is AnswerKind.ACCEPTED:
                report.sent += len(batch.events)
            _save_state(uow_factory, store.id, cursor=batch.through_id, retry_at=None)
            continue
        report.waiting.append(store.id)
        _save_state(uow_factory, store.id, cursor=None, retry_at=_retry_at(answer, now))
        return


def _deliver(
    sender: ConversionSender, account: MetaAccount, section: dict[str, Any], batch: Batch
) -> SendAnswer:
    if not batch.events:
        return SendAnswer(kind=AnswerKind.ACCEPTED)  # only skipped events: the cursor moves
    code = section.get(TEST_EVENT_CODE)
    return sender.send(
        pixel_id=account.pixel_id or "",
        access_token=account.access_token,
        events=batch.events,
        test_event_code=code if isinstance(code, str) and code else None,
    )


def _retry_at(answer: SendAnswer, now: datetime) -> datetime | None:
    if answer.kind is AnswerKind.REFUSED:
        return now + max(REFUSED_WAIT, timedelta(seconds=answer.retry_after or 0))
    if answer.retry_after:
        return now + timedelta(seconds=answer.retry_after)
    return None  # the next pass tries again


def _log_answer(store_id: str, batch: Batch, answer: SendAnswer) -> None:
    fields: dict[str, Any] = {
        "store_id": store_id,
        "events": len(batch.events),
        "through_id": batch.through_id,
        "skipped": dict(batch.skipped),
    }
    if answer.kind is AnswerKind.ACCEPTED:
        log.info("conversions.batch.sent", received=answer.events_received, **fields)
    elif answer.kind is AnswerKind.MALFORMED:
        # Passed over on purpose: retrying a malformed batch would block the store for ever.
        log.error(
            "conversions.batch.rejected", status=answer.status, detail=answer.detail, **fields
        )
    elif answer.kind is AnswerKind.TRANSIENT:
        log.warning(
            "conversions.batch.deferred",
            status=answer.status,
            detail=answer.detail,
            retry_after=answer.retry_after,
            **fields,
        )
    else:
        log.error(
            "conversions.account.refused", status=answer.status, detail=answer.detail, **fields
        )


def _names(aliases: dict[str, str]) -> list[str]:
    """
    The event names to read, as `event_key` matches them: Cartback's and the store's aliases.
    """
    return sorted({*META_EVENTS, *(name for name, to in aliases.items() if to in META_EVENTS)})


def _start_cursor(uow_factory: UnitOfWorkFactory, store_id: str) -> None:
    """
    A newly configured pixel starts after the store's latest event: its history stays home.
    """
    with uow_factory() as uow:
        latest = uow.events.last_id(store_id)
        if _update_section(uow, store_id, {CURSOR: latest}):
            uow.commit()
            log.info("conversions.cursor.started", store_id=store_id, cursor=latest)


def _save_state(
    uow_factory: UnitOfWorkFactory, store_id: str, *, cursor: int | None, retry_at: datetime | None
) -> None:
    """
    Move the cursor (never backwards) and set or clear the time before which the store waits.
    """
    with uow_factory() as uow:
        values: dict[str, Any] = {RETRY_AT: retry_at.isoformat() if retry_at else None}
        if cursor is not None:
            values[CURSOR] = cursor
        if _update_section(uow, store_id, values):
            uow.commit()


def _update_section(uow: UnitOfWork, store_id: str, values: dict[str, Any]) -> bool:
    """
    Write `values` into the store's `ads.meta` settings, re-read inside the transaction; False
    when the store or its Meta account is gone. The cursor only moves forward.
    """
    store = uow.stores.get(store_id)
    if store is None:
        return False
    settings = copy.deepcopy(store.settings)
    ads = settings.get(SECTION)
    meta = ads.get("meta") if isinstance(ads, dict) else None
    if not isinstance(meta, dict):
        return False
    current = meta.get(CURSOR)
    if isinstance(current, int) and isinstance(values.get(CURSOR), int):
        values = {**values, CURSOR: max(current, values[CURSOR])}
    for key, value in values.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    # `updated_at` stays: the cursor is bookkeeping, not a change the merchant made.
    uow.stores.save(replace(store, settings=settings))
    return True


def _account(store: Store, box: SecretBox) -> MetaAccount | None:
    try:
        return meta_account(store, box)
    except ConfigurationError:
        log.error("conversions.account.unreadable", store_id=store.id)
        return None


def _meta_section(store: Store) -> dict[str, Any]:
    ads = store.settings.get(SECTION)
    meta = ads.get("meta") if isinstance(ads, dict) else None
    return dict(meta) if isinstance(meta, dict) else {}


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None
