"""
The database side of ingestion, as plain data in and out, so it can run on a thread of the HTTP
process or in a writer process of its own (`writers.py`): parse and validate the messages of
many requests, ingest them in one transaction per store (group commit), and answer each
request with its own outcomes and errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from cartback.domain.errors import FieldError
from cartback.domain.ingest import EventOutcome, Inbound, IngestReport
from cartback.domain.ports import UnitOfWorkFactory
from cartback.domain.time import Clock
from cartback.services.ingest import ingest
from cartback.sources._webhooks import Delivery
from cartback.sources.registry import webhook_sources
from cartback.sources.segment import (
    MAX_EVENT_BYTES,
    ParseContext,
    batch_sent_at,
    parse_messages,
)

log = structlog.get_logger(__name__)

#: A unique-key race with another process (two first sightings of one visitor), a lock timeout
#: or a dropped connection is retried; the retry sees the other transaction's rows.
ATTEMPTS = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class IngestRequest:
    """
    One HTTP request's body (JSON, already checked to be a batch object or one message object)
    with what parsing it needs. The body travels as sent: it is re-read where it is parsed,
    which costs less than turning it into Python objects twice.
    """

    store_id: str
    body: bytes
    single: bool = False
    single_type: str | None = None
    now: datetime
    default_region: str | None = None
    user_agent: str | None = None
    source: str = "segment"
    headers: dict[str, str] = field(default_factory=dict)
    currency: str = "USD"
    #: The store's event aliases (`services.sources.event_aliases`).
    aliases: dict[str, str] = field(default_factory=dict)
    #: The browser sent `Sec-GPC: 1`: its visitors are opted out of ads (as `context.gpc`).
    gpc: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class IngestAnswer:
    """
    What became of one request: counts per outcome, the invalid events' errors, or why its
    events could not be stored (`failure`: 503 when the database is away or busy, 500 for a
    bug, with a detail for the answer).
    """

    total: int
    outcomes: dict[str, int] = field(default_factory=dict)
    errors: tuple[FieldError, ...] = ()
    failure: tuple[int, str] | None = None

    @property
    def invalid(self) -> int:
        """
        How many events were refused.
        """
        return len({e.index for e in self.errors})

    @property
    def stored(self) -> bool:
        """
        True when at least one event was valid (and so committed).
        """
        return self.total > self.invalid


@dataclass(kw_only=True, slots=True)
class _Parsed:
    request: IngestRequest
    messages: list[Inbound]
    errors: list[FieldError]
    total: int
    ads_opt_out: frozenset[str] = frozenset()


def answer_requests(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, requests: Sequence[IngestRequest]
) -> list[IngestAnswer]:
    """
    Parse every request, then ingest the valid messages in one transaction per store; a group
    that fails is retried request by request, so one bad request cannot fail its neighbours.
    """
    parsed = [_parse(r) for r in requests]
    answers: dict[int, IngestAnswer] = {}
    by_store: dict[str, list[int]] = {}
    for index, item in enumerate(parsed):
        if item.messages:
            by_store.setdefault(item.request.store_id, []).append(index)
        else:
            answers[index] = IngestAnswer(total=item.total, errors=tuple(item.errors))
    for store_id, indexes in by_store.items():
        groups = [indexes] if len(indexes) == 1 else [indexes, *([i] for i in indexes)]
        for group in groups:
            if all(i in answers for i in group):
                continue
            result = _ingest_group(uow_factory, clock, store_id, [parsed[i] for i in group])
            if isinstance(result, tuple) and len(group) > 1:
                continue  # the merged group failed: the next groups are its requests alone
            for i in group:
                answers[i] = _answer(parsed[i], result)
    return [answers[i] for i in range(len(parsed))]


def _parse(request: IngestRequest) -> _Parsed:
    if request.source != "segment":
        return _parse_webhook(request)
    document = orjson.loads(request.body)
    if request.single:
        documents = [{**document, "type": request.single_type} if request.single_type else document]
        envelope: dict[str, Any] = {}
    else:
        documents, envelope = document["batch"], document
    shared = envelope.get("context")
    context = ParseContext(
        now=request.now,
        default_region=request.default_region,
        user_agent=request.user_agent,
        batch_context=shared if isinstance(shared, dict) else None,
        batch_sent_at=batch_sent_at(envelope.get("sentAt")),
        aliases=request.aliases,
    )
    result = parse_messages(
        documents,
        context=context,
        single=request.single,
        check_size=len(request.body) > MAX_EVENT_BYTES,
    )
    return _Parsed(
        request=request,
        messages=result.messages,
        errors=result.errors,
        total=len(documents),
        ads_opt_out=frozenset(
            m.anonymous_id for m in result.messages if m.anonymous_id and _gpc(request, m)
        ),
    )


def _gpc(request: IngestRequest, message: Inbound) -> bool:
    """
    Global Privacy Control from the request header or the message's (merged) `context.gpc`.
    """
    context = message.payload.get("context")
    return request.gpc or (isinstance(context, dict) and context.get("gpc") is True)


def _parse_webhook(request: IngestRequest) -> _Parsed:
    delivery = Delivery(
        platform=request.source,
        store_id=request.store_id,
        body=request.body,
        headers=request.headers,
        received_at=request.now,
        default_region=request.default_region,
        currency=request.currency,
    )
    result = webhook_sources()[request.source].parse(delivery)
    total = len(result.messages) + len({e.index for e in result.errors})
    return _Parsed(
        request=request, messages=result.messages, errors=result.errors, total=max(total, 1)
    )


def _ingest_group(
    uow_factory: UnitOfWorkFactory, clock: Clock, store_id: str, group: list[_Parsed]
) -> IngestReport | tuple[int, str]:
    """
    The report of one transaction over the group, or the status and reason it failed.
    """
    messages = [m for item in group for m in item.messages]
    opted_out = frozenset().union(*(item.ads_opt_out for item in group))
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return ingest(
                uow=uow_factory(),
                clock=clock,
                store_id=store_id,
                messages=messages,
                ads_opt_out=opted_out,
            )
        except (IntegrityError, OperationalError) as error:
            log.warning("ingest.retry", attempt=attempt, error=str(error.orig)[:200])
        except DBAPIError as error:
            log.error("ingest.database.failed", error=str(error.orig)[:200])
            return (503, "the database is unavailable; retry shortly")
        except Exception:
            log.exception("ingest.failed", store_id=store_id)
            return (500, "an unexpected error occurred; it has been logged")
    return (503, "the database is busy; retry shortly")


def _answer(item: _Parsed, result: IngestReport | tuple[int, str]) -> IngestAnswer:
    if isinstance(result, tuple):
        return IngestAnswer(total=item.total, failure=result)
    counts: dict[str, int] = {}
    for message in item.messages:
        outcome: EventOutcome = result.outcomes[message.message_id]
        counts[outcome.value] = counts.get(outcome.value, 0) + 1
    return IngestAnswer(total=item.total, outcomes=counts, errors=tuple(item.errors))
