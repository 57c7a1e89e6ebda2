"""
Product feeds: peak memory of streaming a large catalog's Google feed, page by page as the
endpoint does (`services.feeds.google_feed`), against a baseline in the same run that reads
every item at once and builds the whole document in memory before sending it.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bench._env import create_bench_store, fresh_database, machine, settings
from cartback.bootstrap import bootstrap
from cartback.domain.catalog import CatalogItem
from cartback.domain.feeds import FeedEntry, feed_entry
from cartback.domain.ports import UnitOfWorkFactory
from cartback.domain.stores import Store
from cartback.services.feeds import catalog_pages, google_feed, google_item

_WRITE_BATCH = 1000


def bench_feed(backend: str, *, items: int = 100_000) -> dict[str, Any]:
    """
    Fill a fresh store's catalog with `items` variants (10 per product, with descriptions),
    then measure the traced peak memory and the time of producing its Google feed twice:
    streamed, and built whole (the baseline).
    """
    with fresh_database(backend) as url:
        store_id, _key = create_bench_store(url)
        container = bootstrap(settings(url))
        try:
            started = time.perf_counter()
            _fill(container.uow_factory, store_id, items)
            filled = time.perf_counter() - started
            with container.uow_factory(read_only=True) as uow:
                store = uow.stores.get(store_id)
            if store is None:
                raise RuntimeError("the bench store vanished")
            streamed = _measure(lambda: _drain(_streamed(container.uow_factory, store)))
            whole = _measure(lambda: len(_whole(container.uow_factory, store)))
        finally:
            container.close()
    return {
        "backend": backend,
        "items": items,
        "fill_seconds": round(filled, 1),
        "streamed": streamed,
        "whole_document_baseline": whole,
        "peak_ratio_streamed_to_baseline": round(streamed["peak_mib"] / whole["peak_mib"], 4),
        "machine": machine(),
    }


def _fill(factory: UnitOfWorkFactory, store_id: str, count: int) -> None:
    now = datetime.now(UTC)
    for start in range(0, count, _WRITE_BATCH):
        batch = [_item(n, now) for n in range(start, min(start + _WRITE_BATCH, count))]
        with factory() as uow:
            uow.catalog.upsert(store_id, batch)
            uow.commit()


def _item(n: int, now: datetime) -> CatalogItem:
    product = n // 10
    return CatalogItem(
        product_id=f"prod-{product:07}",
        variant_id=f"var-{n:08}",
        sku=f"SKU-{n:08}",
        title=f"Stoneware mug no. {product} - size {n % 10}",
        description=f"A hand-glazed stoneware mug, dishwasher safe. Batch {product}. " * 4,
        brand="Acme Pottery",
        available=n % 7 != 0,
        price=Decimal("12.50") + n % 50,
        compare_at_price=Decimal("19.99") + n % 50 if n % 5 == 0 else None,
        currency="USD",
        url=f"https://bench.example/products/mug-{product}",
        image_url=f"https://cdn.bench.example/mug-{product}-{n % 10}.jpg",
        read_at=now,
        updated_at=now,
    )


def _streamed(factory: UnitOfWorkFactory, store: Store) -> Iterator[bytes]:
    return google_feed(uow_factory=factory, store=store, home="https://bench.example/")


def _drain(chunks: Iterator[bytes]) -> int:
    # What a server does with each chunk: hand it to the socket and forget it.
    return sum(len(chunk) for chunk in chunks)


def _whole(factory: UnitOfWorkFactory, store: Store) -> bytes:
    """
    The baseline: every item read, every entry made, the document joined, then sent.
    """
    items = [
        item for page in catalog_pages(uow_factory=factory, store_id=store.id) for item in page
    ]
    entries = [e for e in map(feed_entry, items) if isinstance(e, FeedEntry)]
    head = b"".join(_streamed_head(factory, store))
    body = "".join(google_item(entry) for entry in entries).encode()
    return head + body + b"</channel>\n</rss>\n"


def _streamed_head(factory: UnitOfWorkFactory, store: Store) -> Iterator[bytes]:
    # The same channel header the stream writes (its first chunk), for an identical document.
    chunks = _streamed(factory, store)
    yield next(chunks)
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def _measure(produce: Callable[[], int]) -> dict[str, Any]:
    tracemalloc.start()
    started = time.perf_counter()
    size = produce()
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"bytes": size, "peak_mib": round(peak / 2**20, 2), "seconds": round(seconds, 2)}
