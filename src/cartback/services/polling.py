"""
Polling a shop's REST API for what webhooks miss: WooCommerce never retries a delivery, and
Magento Open Source sends none. Each collection (a "feed") is read in order of last change from
a stored cursor, page by page; every page goes through the one ingest use case in its own
transaction, and the cursor moves only after that transaction committed, so a crash re-reads
a page rather than skipping it (re-read objects are recognised by their idempotency keys).

A feed re-reads the objects changed in the cursor's own second, and pages forward by time
("keyset") rather than by page number whenever time moves on: an order changed while the poll
runs moves to the end of the listing instead of shifting an unread one onto a page already read.

The store's settings hold, per platform, the API's URL, its credentials (sealed with the
service's secret key) and the cursors:

    {"woocommerce": {"url": "https://shop.example.com", "credentials": {"consumer_key": "<sealed>",
     "consumer_secret": "<sealed>"}, "cursors": {"orders": "2026-11-27T10:00:00+00:00"}}}
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import structlog

from cartback.domain.errors import ConfigurationError, FieldError, InvalidInput, NotFound
from cartback.domain.ingest import EventOutcome, Inbound, IngestReport
from cartback.domain.ports import UnitOfWork, UnitOfWorkFactory
from cartback.domain.stores import Platform, Store
from cartback.domain.time import Clock
from cartback.kit.keys import SecretBox
from cartback.services.ingest import ingest

log = structlog.get_logger(__name__)

#: The credentials each pollable platform needs, by name.
CREDENTIALS: dict[Platform, tuple[str, ...]] = {
    Platform.WOOCOMMERCE: ("consumer_key", "consumer_secret"),
    Platform.MAGENTO: ("token",),
}
#: A guard against an API that never stops saying "more".
MAX_PAGES = 100_000


class FeedPage(Protocol):
    """
    One page read from a feed, already translated.
    """

    @property
    def messages(self) -> Sequence[Inbound]: ...
    @property
    def objects(self) -> int: ...
    @property
    def invalid(self) -> int: ...
    @property
    def newest(self) -> datetime | None: ...
    @property
    def more(self) -> bool: ...


class Feed(Protocol):
    """
    A platform collection read in order of last change (WooCommerce orders, Magento quotes).
    """

    @property
    def name(self) -> str: ...

    def read(self, *, after: datetime, page: int, now: datetime) -> FeedPage:
        """
        Page `page` of the objects changed at or after `after`, oldest change first.
        """
        ...


class IngestMessages(Protocol):
    """
    How a page's messages are ingested: the ingest use case in a unit of work of its own (the
    CLI wraps it to retry a unique-key race with a webhook arriving at the same moment).
    """

    def __call__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        store_id: str,
        messages: Sequence[Inbound],
    ) -> IngestReport: ...


def ingest_page(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    store_id: str,
    messages: Sequence[Inbound],
) -> IngestReport:
    """
    Ingest one page's messages in one transaction (`services.ingest.ingest`).
    """
    return ingest(uow=uow_factory(), clock=clock, store_id=store_id, messages=messages)


@dataclass(frozen=True, kw_only=True, slots=True)
class PollTarget:
    """
    A store configured for polling: its platform API's URL and the opened credentials.
    """

    store: Store
    url: str
    credentials: dict[str, str]


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedSummary:
    """
    What one feed's poll did: objects read (an object changed in the cursor's own second is
    read again, and counted again), how many could not be translated, messages stored and
    already known, pages read, and the cursor it ended at.
    """

    name: str
    read: int = 0
    invalid: int = 0
    stored: int = 0
    duplicates: int = 0
    pages: int = 0
    cursor: datetime | None = None


def configure_polling(
    *,
    uow: UnitOfWork,
    clock: Clock,
    box: SecretBox,
    store_id: str,
    url: str,
    credentials: Mapping[str, str | None],
) -> Store:
    """
    Set the API URL and credentials a store is polled with (sealed at rest); its cursors stay.

    Raises:
        NotFound: no such store.
        InvalidInput: the store's platform is not polled, the URL is not an http(s) URL, or a
            credential the platform needs is missing.
    """
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        needed = _needed(store)
        errors = _check(url, needed, credentials)
        if errors:
            raise InvalidInput("invalid polling configuration", errors=errors)
        settings = copy.deepcopy(store.settings)
        section = dict(_section(settings, store.platform))
        section["url"] = url.strip().rstrip("/")
        section["credentials"] = {
            name: box.seal((credentials[name] or "").strip()) for name in needed
        }
        settings[store.platform.value] = section
        store = replace(store, settings=settings, updated_at=clock.now())
        uow.stores.save(store)
        uow.commit()
    log.info("polling.configured", store_id=store_id, platform=store.platform.value)
    return store


def polling_target(*, uow: UnitOfWork, box: SecretBox, store_id: str) -> PollTarget:
    """
    The store, its API URL and opened credentials.

    Raises:
        NotFound: no such store.
        ConfigurationError: the store's platform is not polled, or it was never configured.
    """
    with uow:
        store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    if store.platform not in CREDENTIALS:
        raise ConfigurationError(_not_polled(store))
    section = _section(store.settings, store.platform)
    sealed = section.get("credentials")
    url = section.get("url")
    if not isinstance(url, str) or not isinstance(sealed, dict):
        raise ConfigurationError(
            f"store {store_id} has no API access configured; run "
            f"`cartback sources poll configure --store {store_id} --url …` first"
        )
    opened = {name: box.open(str(sealed.get(name, ""))) for name in CREDENTIALS[store.platform]}
    return PollTarget(store=store, url=url, credentials=opened)


def poll_store(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    store_id: str,
    feeds: Sequence[Feed],
    since: datetime | None = None,
    ingest_messages: IngestMessages = ingest_page,
) -> list[FeedSummary]:
    """
    Read every feed from its cursor (or from `since`; on the first poll, from one recovery
    window ago, since older carts can no longer be recovered) and ingest what changed.

    Raises:
        NotFound: no such store.
        ConfigurationError: the store's platform is not polled.
    """
    with uow_factory(read_only=True) as uow:
        store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    if store.platform not in CREDENTIALS:
        raise ConfigurationError(_not_polled(store))
    summaries = []
    for feed in feeds:
        start = since or _cursor(store, feed.name) or clock.now() - store.recovery_window
        summaries.append(
            _poll_feed(
                uow_factory=uow_factory,
                clock=clock,
                store=store,
                feed=feed,
                start=start,
                ingest_messages=ingest_messages,
            )
        )
    return summaries


def _poll_feed(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    store: Store,
    feed: Feed,
    start: datetime,
    ingest_messages: IngestMessages,
) -> FeedSummary:
    summary = FeedSummary(name=feed.name, cursor=_cursor(store, feed.name))
    after, page = start, 1
    while summary.pages < MAX_PAGES:
        now = clock.now()
        fetched = feed.read(after=after, page=page, now=now)
        summary = _add_page(
            summary, fetched, _ingest(uow_factory, clock, store, fetched, ingest_messages)
        )
        # A shop clock ahead of ours must not move the cursor past changes still to come.
        newest = min(fetched.newest, now) if fetched.newest is not None else None
        if newest is not None:
            cursor = _save_cursor(uow_factory(), store.id, store.platform, feed.name, newest)
            summary = replace(summary, cursor=cursor)
        log.info(
            "poll.page.committed",
            store_id=store.id,
            feed=feed.name,
            page=page,
            objects=fetched.objects,
            cursor=summary.cursor.isoformat() if summary.cursor else None,
        )
        if not fetched.more:
            break
        after, page = (newest, 1) if newest is not None and newest > after else (after, page + 1)
    return summary


def _ingest(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    store: Store,
    fetched: FeedPage,
    ingest_messages: IngestMessages,
) -> IngestReport:
    if not fetched.messages:
        return IngestReport(outcomes={})
    return ingest_messages(
        uow_factory=uow_factory, clock=clock, store_id=store.id, messages=fetched.messages
    )


def _add_page(summary: FeedSummary, fetched: FeedPage, report: IngestReport) -> FeedSummary:
    duplicates = report.count(EventOutcome.DUPLICATE)
    return replace(
        summary,
        read=summary.read + fetched.objects,
        invalid=summary.invalid + fetched.invalid,
        stored=summary.stored + len(report.outcomes) - duplicates,
        duplicates=summary.duplicates + duplicates,
        pages=summary.pages + 1,
    )


def _save_cursor(
    uow: UnitOfWork, store_id: str, platform: Platform, feed: str, newest: datetime
) -> datetime:
    """
    Move a feed's cursor forward (never back: `--since` may re-read older changes) in a
    transaction of its own, after the page's; returns the cursor now stored.
    """
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        current = _cursor(store, feed)
        if current is not None and current >= newest:
            return current
        settings = copy.deepcopy(store.settings)
        section = dict(_section(settings, platform))
        section["cursors"] = {**dict(section.get("cursors") or {}), feed: newest.isoformat()}
        settings[platform.value] = section
        uow.stores.save(replace(store, settings=settings))
        uow.commit()
    return newest


def _cursor(store: Store, feed: str) -> datetime | None:
    cursors = _section(store.settings, store.platform).get("cursors")
    value = cursors.get(feed) if isinstance(cursors, dict) else None
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def _section(settings: Mapping[str, object], platform: Platform) -> Mapping[str, Any]:
    section = settings.get(platform.value)
    return section if isinstance(section, dict) else {}


def _needed(store: Store) -> tuple[str, ...]:
    needed = CREDENTIALS.get(store.platform)
    if needed is None:
        raise InvalidInput(
            _not_polled(store), errors=[FieldError(path="platform", message="not polled")]
        )
    return needed


def _check(
    url: str, needed: tuple[str, ...], credentials: Mapping[str, str | None]
) -> list[FieldError]:
    errors = []
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors.append(FieldError(path="url", message="must be an absolute http(s) URL"))
    for name in needed:
        value = (credentials.get(name) or "").strip()
        if not 1 <= len(value) <= 500:
            errors.append(FieldError(path=name, message="required (1 to 500 characters)"))
    for name, given in credentials.items():
        if name not in needed and given:
            errors.append(FieldError(path=name, message="not used by this platform"))
    return errors


def _not_polled(store: Store) -> str:
    return (
        f"store {store.id} runs on {store.platform.value}; polling reads WooCommerce and "
        "Magento only"
    )
