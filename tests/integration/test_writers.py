"""
The ingest writers: the writer process answers like the in-process one, and a writer process
that dies is replaced, the requests it held answered 503 (retryable), nothing half-written.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from cartback.api.ingest_work import IngestAnswer, IngestRequest
from cartback.api.writers import ProcessWriter
from cartback.bootstrap import Container
from cartback.kit.metrics import Metrics
from cartback.services.stores import CreatedStore
from cartback.settings import Settings
from cartback.store.tables import raw_events
from helpers import track


def _request(store: CreatedStore, *messages: dict[str, Any]) -> IngestRequest:
    return IngestRequest(
        store_id=store.store.id,
        body=orjson.dumps({"batch": list(messages)}),
        single=False,
        now=datetime.now(UTC),
    )


def _stored(container: Container) -> int:
    with container.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(raw_events)).scalar_one())


def _process_writer(settings_factory: Callable[..., Settings], database_url: str) -> ProcessWriter:
    return ProcessWriter(
        settings=settings_factory(database_url, ingest_writer="process"), metrics=Metrics()
    )


def test_the_writer_process_commits_and_answers_each_request(
    settings_factory: Callable[..., Settings],
    database_url: str,
    container: Container,
    store: CreatedStore,
) -> None:
    """
    Concurrent requests through the writer process are all committed and each answered with
    its own outcomes and errors.
    """
    # given
    writer = _process_writer(settings_factory, database_url)
    good = [
        _request(store, track("Product Added", cart_id=f"c-{n}", product_id="p")) for n in range(20)
    ]
    bad = _request(store, track("Product Added", cart_id="c-x", product_id="p", quantity=-1))

    async def run() -> list[IngestAnswer]:
        await writer.start()
        try:
            return list(await asyncio.gather(*(writer.submit(r) for r in [*good, bad])))
        finally:
            await writer.stop()

    # when
    answers = asyncio.run(run())
    # then
    assert [{"applied": 1}] * 20 == [a.outcomes for a in answers[:20]]
    assert ["batch[0].properties.quantity"] == [e.path for e in answers[20].errors]
    assert 20 == _stored(container)


def test_a_dead_writer_is_replaced_and_its_requests_answered_503(
    settings_factory: Callable[..., Settings],
    database_url: str,
    container: Container,
    store: CreatedStore,
) -> None:
    """
    Killing the writer process answers what it held with a retryable 503; the next request
    goes to its replacement and is stored.
    """
    # given
    writer = _process_writer(settings_factory, database_url)

    async def run() -> tuple[IngestAnswer, IngestAnswer]:
        await writer.start()
        try:
            await writer.submit(_request(store, track("Product Viewed", product_id="warm")))
            os.kill(writer.pid, signal.SIGKILL)
            lost = await writer.submit(_request(store, track("Product Viewed", product_id="a")))
            retried = await writer.submit(_request(store, track("Product Viewed", product_id="b")))
            while retried.failure is not None:  # until the replacement is up
                await asyncio.sleep(0.2)
                retried = await writer.submit(
                    _request(store, track("Product Viewed", product_id="b"))
                )
            return lost, retried
        finally:
            await writer.stop()

    # when
    lost, retried = asyncio.run(asyncio.wait_for(run(), timeout=60))
    # then
    assert 503 == (lost.failure or (0, ""))[0]
    assert {"applied": 1} == retried.outcomes


def test_the_writer_process_outlives_its_database_connections(
    settings_factory: Callable[..., Settings],
    database_url: str,
    backend: str,
    container: Container,
    store: CreatedStore,
) -> None:
    """
    The writer does not test pooled connections before each group (a round trip per group);
    when the server has dropped them (a restart, an administrator), the next request is still
    stored and answered 200, on a fresh connection.
    """
    if backend != "postgresql":
        pytest.skip("connections to end belong to a database server")
    # given
    writer = _process_writer(settings_factory, database_url)

    def end_writer_connections() -> int:
        with container.engine.connect() as connection:
            ended = connection.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'cartback-writer' AND datname = current_database()"
            ).scalar_one()
        return int(ended)

    async def run() -> tuple[int, IngestAnswer]:
        await writer.start()
        try:
            await writer.submit(_request(store, track("Product Viewed", product_id="warm")))
            ended = await asyncio.to_thread(end_writer_connections)
            after = await writer.submit(_request(store, track("Product Viewed", product_id="a")))
            return ended, after
        finally:
            await writer.stop()

    # when
    ended, after = asyncio.run(asyncio.wait_for(run(), timeout=60))
    # then
    assert ended >= 1
    assert (None, {"applied": 1}) == (after.failure, after.outcomes)
    assert 2 == _stored(container)


@pytest.mark.parametrize("kind", ["process", "thread"])
def test_the_app_uses_the_writer_the_settings_ask_for(
    settings_factory: Callable[..., Settings], database_url: str, kind: str
) -> None:
    """
    `CARTBACK_INGEST_WRITER` chooses the writer (with the system clock; a simulated clock
    always gets the thread).
    """
    # given
    from cartback.api.app import _ingest_writer
    from cartback.bootstrap import bootstrap

    container = bootstrap(settings_factory(database_url, ingest_writer=kind))
    # when
    writer = _ingest_writer(container)
    container.close()
    # then
    assert {"process": "ProcessWriter", "thread": "ThreadWriter"}[kind] == type(writer).__name__
