"""
Group commit for ingestion. Requests hand their validated messages to a committer that merges
everything waiting into one transaction per store, then answers each request with its own
outcomes. Nothing waits on a timer: while one transaction runs, the next group gathers, so a
quiet service commits each request alone and a busy one amortises the commit over many.
Every request is still answered only after its messages are committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from cartback.domain.errors import ServiceUnavailable
from cartback.domain.ingest import Inbound, IngestReport
from cartback.domain.ports import UnitOfWorkFactory
from cartback.domain.time import Clock
from cartback.kit.metrics import Metrics
from cartback.services.ingest import ingest

log = structlog.get_logger(__name__)

#: Messages merged into one transaction at most.
MAX_GROUP_MESSAGES = 2000
#: A unique-key race with another process (two first sightings of one visitor) or a lock
#: timeout is retried; the retry sees the other transaction's rows.
ATTEMPTS = 3


@dataclass(kw_only=True, slots=True)
class _Pending:
    store_id: str
    messages: Sequence[Inbound]
    future: asyncio.Future[IngestReport]


class IngestPipeline:
    """
    Merges concurrent ingest requests into few transactions.
    """

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        metrics: Metrics,
        committers: int = 1,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._metrics = metrics
        self._committers = committers
        self._queue: asyncio.Queue[_Pending] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """
        Start the committer tasks on the running loop.
        """
        self._queue = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._commit_loop()) for _ in range(self._committers)]

    async def stop(self) -> None:
        """
        Finish what is queued, then stop.
        """
        if self._queue is not None:
            await self._queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def submit(self, store_id: str, messages: Sequence[Inbound]) -> IngestReport:
        """
        Ingest messages and return once they are committed.
        """
        if self._queue is None:
            raise RuntimeError("the ingest pipeline is not started")
        future: asyncio.Future[IngestReport] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(store_id=store_id, messages=messages, future=future))
        return await future

    async def _commit_loop(self) -> None:
        queue = self._queue
        if queue is None:
            return
        while True:
            group = [await queue.get()]
            size = len(group[0].messages)
            while not queue.empty() and size < MAX_GROUP_MESSAGES:
                pending = queue.get_nowait()
                group.append(pending)
                size += len(pending.messages)
            try:
                await self._commit(group)
            finally:
                for _ in group:
                    queue.task_done()

    async def _commit(self, group: list[_Pending]) -> None:
        by_store: dict[str, list[_Pending]] = {}
        for pending in group:
            by_store.setdefault(pending.store_id, []).append(pending)
        for store_id, pendings in by_store.items():
            try:
                await self._commit_store(store_id, pendings)
            except Exception:
                for pending in pendings:
                    await self._commit_store(store_id, [pending])

    async def _commit_store(self, store_id: str, pendings: list[_Pending]) -> None:
        """
        One transaction for these requests. A lone request that fails is answered with the
        error; a merged group that fails raises, and the caller retries its requests one by one.
        """
        messages = [m for p in pendings for m in p.messages]
        try:
            report = await asyncio.to_thread(self._ingest_with_retry, store_id, messages)
        except Exception as error:
            if len(pendings) == 1:
                for pending in pendings:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                return
            raise
        self._metrics.ingest_batch_size.observe(len(messages))
        for pending in pendings:
            outcomes = {m.message_id: report.outcomes[m.message_id] for m in pending.messages}
            if not pending.future.done():
                pending.future.set_result(IngestReport(outcomes=outcomes))

    def _ingest_with_retry(self, store_id: str, messages: list[Inbound]) -> IngestReport:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return ingest(
                    uow=self._uow_factory(),
                    clock=self._clock,
                    store_id=store_id,
                    messages=messages,
                )
            except (IntegrityError, OperationalError) as error:
                log.warning("ingest.retry", attempt=attempt, error=str(error.orig)[:200])
                if attempt == ATTEMPTS:
                    raise ServiceUnavailable("the database is busy; retry shortly") from error
            except DBAPIError as error:
                raise ServiceUnavailable("the database is unavailable; retry shortly") from error
        raise ServiceUnavailable("the database is busy; retry shortly")
