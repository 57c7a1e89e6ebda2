"""
Product feeds (`contract.md` §5.6): the store's catalog as a Google Merchant Center RSS feed and
a Meta catalog CSV, streamed page by page so a 100,000-item catalog never sits in memory; the
version both carry for cheap polling; and the check that abandoned carts' lines match the feed.

Each page of a feed is read in its own short read-only transaction (`FEED_PAGE` items in
item-key order), never one transaction for the whole download: a slow reader must not hold a
snapshot (PostgreSQL) or a read lock that blocks WAL checkpoints (SQLite) for minutes. An item
written while a feed streams may or may not appear in it; the next fetch has it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import structlog

from cartback.domain.catalog import CatalogItem, find_item, line_keys
from cartback.domain.errors import NotFound
from cartback.domain.feeds import (
    CatalogVersion,
    FeedEntry,
    LeftOut,
    Mismatch,
    feed_entry,
    line_mismatches,
)
from cartback.domain.ports import CartRecord, UnitOfWork, UnitOfWorkFactory
from cartback.domain.stores import Store

log = structlog.get_logger(__name__)

#: Items read per transaction while a feed streams.
FEED_PAGE = 1000
#: Carts checked by one consistency check (the oldest abandonments since the date first).
MAX_CHECKED_CARTS = 10_000
#: Changes whenever what the feeds write changes, so caches holding the old form are refreshed.
FORMAT_VERSION = "2"
GOOGLE_NAMESPACE = "http://base.google.com/ns/1.0"
#: Meta's catalog columns, in this order.
META_COLUMNS = (
    "id",
    "title",
    "description",
    "availability",
    "condition",
    "price",
    "sale_price",
    "link",
    "image_link",
    "brand",
    "gtin",
    "mpn",
    "item_group_id",
    "product_type",
)
#: Characters XML 1.0 cannot carry at all, even escaped (a platform's title may hold one).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CHECK_BATCH = 200


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedState:
    """
    A store's feed as of now: the store and its catalog's version.
    """

    store: Store
    version: CatalogVersion

    def etag(self, kind: str) -> str:
        """
        The strong ETag of feed `kind` (`google`, `meta`): a digest of everything the feed is
        made of that can change (the store, the item count and the newest item times).
        """
        v = self.version
        parts = (FORMAT_VERSION, kind, self.store.id, self.store.name, *self.store.domains)
        stamps = (self.store.updated_at, v.items, v.left_out, v.newest_update, v.newest_read)
        digest = hashlib.sha256("\x1f".join(map(str, (*parts, *stamps))).encode()).hexdigest()
        return f'"{digest[:32]}"'

    @property
    def last_modified(self) -> datetime:
        """
        When the feed last changed: the newest item write, or the store's own change.
        """
        return max(self.version.newest_read or self.store.updated_at, self.store.updated_at)


def feed_state(*, uow: UnitOfWork, store_id: str) -> FeedState:
    """
    The store and its catalog's version, in one short read.

    Raises:
        NotFound: no such store.
    """
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        return FeedState(store=store, version=uow.catalog.feed_version(store_id))


def catalog_pages(
    *, uow_factory: UnitOfWorkFactory, store_id: str, page_size: int = FEED_PAGE
) -> Iterator[list[CatalogItem]]:
    """
    The store's items, `page_size` at a time, each page read in its own read-only transaction.
    """
    after: str | None = None
    while True:
        with uow_factory(read_only=True) as uow:
            page = uow.catalog.feed_page(store_id, after=after, limit=page_size)
        if page:
            yield page
        if len(page) < page_size:
            return
        after = page[-1].key


def google_feed(
    *, uow_factory: UnitOfWorkFactory, store: Store, home: str, page_size: int = FEED_PAGE
) -> Iterator[bytes]:
    """
    The Google Merchant Center feed (RSS 2.0 with the `g:` namespace), one chunk per page.
    `home` is the channel's link when the store names no domain.
    """
    link = f"https://{store.domains[0]}/" if store.domains else home
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<rss version="2.0" xmlns:g="{GOOGLE_NAMESPACE}">\n<channel>\n'
        f"<title>{_xml(store.name)}</title>\n<link>{_xml(link)}</link>\n"
        f"<description>{_xml(store.name)} products</description>\n"
    ).encode()
    for entries in _entries(uow_factory, store.id, "google", page_size):
        yield "".join(google_item(entry) for entry in entries).encode()
    yield b"</channel>\n</rss>\n"


def google_item(entry: FeedEntry) -> str:
    """
    One `<item>`: every value escaped, optional attributes only when known.
    """
    fields = [
        ("g:id", entry.id),
        ("g:item_group_id", entry.item_group_id),
        ("g:title", entry.title),
        ("g:description", entry.description),
        ("g:link", entry.link),
        ("g:image_link", entry.image_link),
        ("g:price", entry.price),
        ("g:sale_price", entry.sale_price),
        ("g:availability", entry.availability.value),
        ("g:availability_date", _moment(entry.availability_date)),
        ("g:condition", entry.condition),
        ("g:product_type", entry.product_type),
        ("g:brand", entry.brand),
        ("g:gtin", entry.gtin),
        ("g:mpn", entry.mpn),
        ("g:identifier_exists", None if entry.identifier_exists else "no"),
    ]
    body = "".join(f"<{n}>{_xml(value)}</{n}>" for n, value in fields if value is not None)
    return f"<item>{body}</item>\n"


def meta_feed(
    *, uow_factory: UnitOfWorkFactory, store: Store, page_size: int = FEED_PAGE
) -> Iterator[bytes]:
    """
    The Meta catalog CSV (RFC 4180: CRLF line ends, fields quoted when they need it), a
    header row first, then one chunk per page.
    """
    yield _csv_rows([META_COLUMNS])
    for entries in _entries(uow_factory, store.id, "meta", page_size):
        yield _csv_rows([meta_row(entry) for entry in entries])


def meta_row(entry: FeedEntry) -> tuple[str, ...]:
    """
    One entry as Meta's columns (`META_COLUMNS`); empty where unknown.
    """
    return (
        entry.id,
        entry.title,
        entry.description,
        entry.meta_availability,
        entry.condition,
        entry.price,
        entry.sale_price or "",
        entry.link,
        entry.image_link or "",
        entry.brand or "",
        entry.gtin or "",
        entry.mpn or "",
        entry.item_group_id or "",
        entry.product_type or "",
    )


def feed_mismatches(
    uow: UnitOfWork,
    store_id: str,
    since: datetime,
    *,
    until: datetime | None = None,
    limit: int = MAX_CHECKED_CARTS,
) -> list[Mismatch]:
    """
    In the caller's open unit of work: how each line of the store's carts abandoned since
    `since` (the oldest `limit`, by default `MAX_CHECKED_CARTS`) differs from its feed entry:
    not in the catalog, another id, title or image, or left out of the feed. Empty when the
    ads would show what the shoppers left.
    """
    end = until or datetime.max.replace(tzinfo=UTC)
    records = uow.carts.abandoned_between(store_id, since=since, until=end, limit=limit)
    found: list[Mismatch] = []
    for start in range(0, len(records), _CHECK_BATCH):
        batch = records[start : start + _CHECK_BATCH]
        found.extend(_batch_mismatches(uow, store_id, batch))
    return found


def check_feed(*, uow: UnitOfWork, store_id: str, since: datetime) -> list[Mismatch]:
    """
    `feed_mismatches` in its own read transaction.

    Raises:
        NotFound: no such store.
    """
    with uow:
        if uow.stores.get(store_id) is None:
            raise NotFound(f"no store {store_id!r}")
        found = feed_mismatches(uow, store_id, since)
    log.info("feeds.checked", store_id=store_id, mismatches=len(found))
    return found


def _batch_mismatches(
    uow: UnitOfWork, store_id: str, records: list[CartRecord]
) -> Iterator[Mismatch]:
    keys = [key for r in records for line in r.cart.lines for key in line_keys(line)]
    items = uow.catalog.get_many(store_id, keys, unread=True)
    for record in records:
        for index, line in enumerate(record.cart.lines):
            yield from line_mismatches(record.cart.key, index, line, find_item(line, items))


def _entries(
    uow_factory: UnitOfWorkFactory, store_id: str, kind: str, page_size: int
) -> Iterator[list[FeedEntry]]:
    written = left_out = 0
    for page in catalog_pages(uow_factory=uow_factory, store_id=store_id, page_size=page_size):
        entries = [e for e in map(feed_entry, page) if not isinstance(e, LeftOut)]
        written, left_out = written + len(entries), left_out + len(page) - len(entries)
        yield entries
    log.info("feeds.streamed", store_id=store_id, feed=kind, items=written, left_out=left_out)


def _xml(value: str) -> str:
    return escape(_NOT_XML.sub("", value))


def _moment(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="minutes") if value else None


def _csv_rows(rows: list[tuple[str, ...]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


__all__ = [
    "FEED_PAGE",
    "META_COLUMNS",
    "FeedState",
    "catalog_pages",
    "check_feed",
    "feed_mismatches",
    "feed_state",
    "google_feed",
    "google_item",
    "meta_feed",
    "meta_row",
]
