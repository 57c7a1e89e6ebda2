"""
Group commit for ingestion (docs/decisions/0003), in one of two places:

- `ProcessWriter` (what `cartback serve` runs): a writer process of its own does the parsing and
  the database work, on the machine's other core, while the HTTP process only reads bodies,
  authenticates and answers. The two talk over a pipe; a writer that dies is restarted and the
  requests it held are answered 503 (retryable; nothing half-written, each group is one
  transaction).
- `ThreadWriter`: the same work on a thread of this process, for tests and for the demo's
  simulated clock, which a second process could not share.

Either way, requests that arrive while a transaction runs are merged into the next one, and
each request is answered only after its events are committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, Protocol

import structlog

from cartback.api.ingest_work import IngestAnswer, IngestRequest, answer_requests
from cartback.domain.ports import UnitOfWorkFactory
from cartback.domain.time import Clock
from cartback.kit.metrics import Metrics

log = structlog.get_logger(__name__)

#: Requests merged into one round of transactions at most.
MAX_GROUP_REQUESTS = 512
_WRITER_GONE = (503, "the ingest writer restarted; retry shortly")
RESPAWN_DELAY_SECONDS = 1.0
#: How often the writer copies SQLite's log back into the database (see `_checkpoint_loop`).
CHECKPOINT_INTERVAL_SECONDS = 1.0


class IngestWriter(Protocol):
    """
    Takes ingest requests and answers each after its events are committed.
    """

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def submit(self, request: IngestRequest) -> IngestAnswer: ...


class ThreadWriter:
    """
    Group commit on a thread of the HTTP process.
    """

    def __init__(
        self, *, uow_factory: UnitOfWorkFactory, clock: Clock, metrics: Metrics, committers: int = 1
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._metrics = metrics
        self._committers = committers
        self._queue: asyncio.Queue[tuple[IngestRequest, asyncio.Future[IngestAnswer]]] | None = None
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

    async def submit(self, request: IngestRequest) -> IngestAnswer:
        """
        Ingest one request's events; returns once they are committed.
        """
        if self._queue is None:
            raise RuntimeError("the ingest writer is not started")
        future: asyncio.Future[IngestAnswer] = asyncio.get_running_loop().create_future()
        await self._queue.put((request, future))
        return await future

    async def _commit_loop(self) -> None:
        pending = self._queue
        if pending is None:
            return
        while True:
            group = [await pending.get()]
            while not pending.empty() and len(group) < MAX_GROUP_REQUESTS:
                group.append(pending.get_nowait())
            try:
                answers = await asyncio.to_thread(
                    answer_requests,
                    uow_factory=self._uow_factory,
                    clock=self._clock,
                    requests=[request for request, _ in group],
                )
                self._metrics.ingest_batch_size.observe(len(group))
                for (_, future), answer in zip(group, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
            except Exception as error:
                for _, future in group:
                    if not future.done():
                        future.set_exception(error)
            finally:
                for _ in group:
                    pending.task_done()


class ProcessWriter:
    """
    Group commit in a writer process, restarted if it dies.
    """

    def __init__(self, *, settings: Any, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future[IngestAnswer]] = {}
        self._outbox: queue.SimpleQueue[tuple[int, IngestRequest] | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: Any = None
        self._connection: Connection | None = None
        self._stopping = False
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """
        The writer process's id (None before it starts).
        """
        with self._lock:
            return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """
        Start the writer process and the threads that feed it and read its answers.
        """
        self._loop = asyncio.get_running_loop()
        self._spawn()
        threading.Thread(target=self._send_loop, name="cartback-writer-send", daemon=True).start()

    async def stop(self) -> None:
        """
        Let the writer finish what it holds, then end it.
        """
        self._stopping = True
        self._outbox.put(None)  # after the requests already queued
        with self._lock:
            connection, process = self._connection, self._process
        if process is not None:
            await asyncio.to_thread(process.join, 30)
            if process.is_alive():
                process.kill()
        if connection is not None:
            connection.close()
        self._fail_pending()

    async def submit(self, request: IngestRequest) -> IngestAnswer:
        """
        Hand one request to the writer; returns once its events are committed.
        """
        if self._loop is None or self._stopping:
            raise RuntimeError("the ingest writer is not running")
        request_id = next(self._ids)
        future: asyncio.Future[IngestAnswer] = self._loop.create_future()
        self._pending[request_id] = future
        self._outbox.put((request_id, request))
        return await future

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=writer_main, args=(theirs, self._settings), name="cartback-writer", daemon=True
        )
        process.start()
        theirs.close()
        with self._lock:
            self._connection, self._process = ours, process
        threading.Thread(
            target=self._receive_loop, args=(ours,), name="cartback-writer-receive", daemon=True
        ).start()
        log.info("ingest.writer.started", pid=process.pid)

    def _send_loop(self) -> None:
        while True:
            first = self._outbox.get()
            if first is None:
                self._tell_writer_to_stop()
                return
            # Send at once, and everything that queued meanwhile in the same write.
            turn = [first]
            while True:
                try:
                    more = self._outbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._outbox.put(None)
                    break
                turn.append(more)
            with self._lock:
                connection = self._connection
            try:
                if connection is None:
                    raise OSError("no writer")
                connection.send(turn)
            except (OSError, ValueError):
                self._answer([(i, IngestAnswer(total=0, failure=_WRITER_GONE)) for i, _ in turn])

    def _tell_writer_to_stop(self) -> None:
        """
        Ask the writer to exit once it has answered what it holds. (Closing our end would not
        do: the thread blocked reading it keeps the socket open.)
        """
        with self._lock:
            connection = self._connection
        if connection is not None:
            with contextlib.suppress(OSError, ValueError):
                connection.send(None)

    def _receive_loop(self, connection: Connection) -> None:
        while True:
            try:
                answers, group_size = connection.recv()
            except (EOFError, OSError):
                break
            self._metrics.ingest_batch_size.observe(group_size)
            self._answer(answers)
        if self._stopping:
            return
        log.error("ingest.writer.died")
        self._fail_pending()
        time.sleep(RESPAWN_DELAY_SECONDS)  # a writer that cannot start must not spin
        if not self._stopping:
            self._spawn()

    def _answer(self, answers: list[tuple[int, IngestAnswer]]) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._resolve, answers)

    def _resolve(self, answers: list[tuple[int, IngestAnswer]]) -> None:
        for request_id, answer in answers:
            future = self._pending.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result(answer)

    def _fail_pending(self) -> None:
        self._answer(
            [(i, IngestAnswer(total=0, failure=_WRITER_GONE)) for i in list(self._pending)]
        )


def writer_main(connection: Connection, settings: Any) -> None:
    """
    The writer process: read every request waiting, answer them with one round of group
    commits, repeat until told to stop (None) or the HTTP process goes away.

    On PostgreSQL two rounds run at once, so one group's Python work overlaps the other's wait
    on the database; SQLite has one writer anyway.
    """
    from cartback._logging import configure_logging
    from cartback.bootstrap import bootstrap
    from cartback.kit.runtime import freeze_startup_objects

    configure_logging(level=settings.log_level, json_logs=settings.json_logs)
    container = bootstrap(
        settings,
        application_name="cartback-writer",
        checkpoints_elsewhere=True,
        ping_on_checkout=False,  # `_ingest_group` retries a group that met a dropped connection
    )
    freeze_startup_objects()
    committers = 1 if container.is_sqlite else 2
    if container.is_sqlite:
        threading.Thread(
            target=_checkpoint_loop, args=(container,), name="cartback-checkpoint", daemon=True
        ).start()
    free = threading.Semaphore(committers)
    sending = threading.Lock()

    def commit(batch: list[Any]) -> None:
        try:
            reply = _answer(container, batch)
            with sending, contextlib.suppress(OSError, ValueError):
                connection.send(reply)
        finally:
            free.release()

    try:
        with ThreadPoolExecutor(committers, thread_name_prefix="cartback-commit") as pool:
            while True:
                free.acquire()  # collect the next group only when a committer can take it
                batch, stop = _receive_group(connection)
                if batch:
                    pool.submit(commit, batch)
                else:
                    free.release()
                if stop:
                    return
    finally:
        container.close()


def _receive_group(connection: Connection) -> tuple[list[Any], bool]:
    """
    Every request waiting (at least one), and whether the HTTP process asked to stop or left.
    """
    try:
        first = connection.recv()
        if first is None:
            return [], True
        batch = list(first)
        while len(batch) < MAX_GROUP_REQUESTS and connection.poll():
            more = connection.recv()
            if more is None:  # answer what came before, then stop
                return batch, True
            batch.extend(more)
    except (EOFError, OSError):
        return [], True
    return batch, False


def _answer(container: Any, batch: list[Any]) -> tuple[list[tuple[int, IngestAnswer]], int]:
    answers = answer_requests(
        uow_factory=container.uow_factory,
        clock=container.clock,
        requests=[request for _, request in batch],
    )
    reply = [(request_id, answer) for (request_id, _), answer in zip(batch, answers, strict=True)]
    return reply, len(batch)


def _checkpoint_loop(container: Any) -> None:
    """
    Keep SQLite's write-ahead log short from a thread of its own, so that the commits that
    answer requests never stop to copy it back (they run with automatic checkpoints off).
    """
    from sqlalchemy.exc import DBAPIError

    from cartback.store.database import checkpoint_sqlite

    while True:
        time.sleep(CHECKPOINT_INTERVAL_SECONDS)
        try:
            checkpoint_sqlite(container.engine)
        except DBAPIError as error:
            log.warning("ingest.writer.checkpoint.failed", error=str(error.orig)[:200])
