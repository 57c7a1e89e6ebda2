"""
The ports the services use: repositories and the unit of work. `store/` implements them on
SQLAlchemy; the unit tests implement them in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Protocol, Self

from cartback.domain.cart import Cart
from cartback.domain.consent import Channel, ConsentFact, LedgerUpdate, Purpose
from cartback.domain.identity import ContactRef
from cartback.domain.ingest import EventOutcome, Inbound
from cartback.domain.stores import KeyKind, Store
from cartback.domain.time import check_aware


@dataclass(frozen=True, kw_only=True, slots=True)
class CartRecord:
    """
    A cart as stored: the domain cart plus who it belongs to.
    """

    id: str
    store_id: str
    cart: Cart
    visitor_id: str | None = None
    contact_id: str | None = None
    created_at: datetime

    def __post_init__(self) -> None:
        check_aware(self.created_at, "created_at")


@dataclass(frozen=True, kw_only=True, slots=True)
class Visitor:
    """
    An anonymous browser identity. Kept apart from contact details; linked by id only.
    """

    id: str
    anonymous_id: str
    contact_id: str | None = None
    is_bot: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class VisitorSeen:
    """
    A sighting of an anonymous id in this batch.
    """

    at: datetime
    user_agent: str | None = None
    is_bot: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Contact:
    """
    A person who gave an email, a phone number or an account id.
    """

    id: str
    store_id: str
    user_id: str | None
    email: str | None
    phone: str | None
    is_bot: bool
    created_at: datetime
    updated_at: datetime

    @property
    def ref(self) -> ContactRef:
        """
        The identifiers only.
        """
        return ContactRef(id=self.id, user_id=self.user_id, email=self.email, phone=self.phone)


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderRecord:
    """
    An order as a source reported it, linked to its cart when one is known.
    """

    store_id: str
    order_key: str
    cart_id: str | None
    contact_id: str | None
    status: str
    total: Decimal | None
    currency: str
    placed_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class CartPage:
    """
    One page of a cart listing, and the cursor of the next (None at the end).
    """

    records: list[CartRecord]
    next_cursor: str | None


class StoreRepository(Protocol):
    """
    Stores, their API keys (digests only) and their sealed webhook secrets.
    """

    def add(self, store: Store) -> None: ...
    def get(self, store_id: str) -> Store | None: ...
    def save(self, store: Store) -> None: ...
    def list_all(self) -> list[Store]: ...
    def add_key(
        self, *, store_id: str, kind: KeyKind, prefix: str, digest: str, created_at: datetime
    ) -> None: ...
    def find_key(self, digest: str) -> tuple[str, KeyKind] | None: ...
    def add_webhook_secret(self, *, store_id: str, sealed: str, created_at: datetime) -> None: ...
    def webhook_secrets(self, store_id: str) -> list[str]: ...


class EventRepository(Protocol):
    """
    The raw event log, unique per store, source and idempotency key.
    """

    def add_new(
        self, store_id: str, events: Sequence[Inbound], *, received_at: datetime
    ) -> set[str]: ...
    def set_outcomes(
        self, store_id: str, source: str, outcomes: Mapping[str, EventOutcome]
    ) -> None: ...
    def count(self, store_id: str) -> int: ...


class VisitorRepository(Protocol):
    """
    Anonymous ids, one row per store and id.
    """

    def ensure(self, store_id: str, seen: Mapping[str, VisitorSeen]) -> dict[str, Visitor]: ...
    def link(self, visitor_id: str, contact_id: str) -> None: ...


class ContactRepository(Protocol):
    """
    People, unique per store by user id, email and phone.
    """

    def find(
        self, store_id: str, *, user_id: str | None, email: str | None, phone: str | None
    ) -> tuple[ContactRef | None, ContactRef | None, ContactRef | None]: ...
    def create(
        self, store_id: str, *, fields: Mapping[str, str], is_bot: bool, now: datetime
    ) -> ContactRef: ...
    def update(self, contact_id: str, *, fields: Mapping[str, str], now: datetime) -> None: ...
    def mark_bot(self, contact_id: str) -> None: ...
    def get(self, store_id: str, contact_id: str) -> Contact | None: ...


class CartRepository(Protocol):
    """
    Carts with their lines, and the abandonment timers on them.
    """

    def get_many(self, store_id: str, keys: Sequence[str]) -> dict[str, CartRecord]: ...
    def get(self, store_id: str, key: str) -> CartRecord | None: ...
    def find_open(
        self, store_id: str, *, visitor_id: str | None = None, contact_id: str | None = None
    ) -> CartRecord | None: ...
    def find_by_checkout(self, store_id: str, checkout_id: str) -> CartRecord | None: ...
    def add(self, records: Sequence[CartRecord], *, now: datetime) -> None: ...
    def update(self, records: Sequence[CartRecord], *, now: datetime) -> None: ...
    def save_states(self, records: Sequence[CartRecord], *, now: datetime) -> None: ...
    def flag_bot(
        self, store_id: str, *, visitor_id: str | None = None, contact_id: str | None = None
    ) -> None: ...
    def assign_contact(self, store_id: str, visitor_id: str, contact_id: str) -> None: ...
    def list_page(
        self,
        store_id: str,
        *,
        status: str | None,
        contact_id: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> CartPage: ...
    def claim_due(self, *, now: datetime, limit: int) -> list[CartRecord]: ...
    def next_check_at(self) -> datetime | None: ...
    def due_count(self, *, now: datetime) -> int: ...
    def timed_for_store(self, store_id: str) -> list[CartRecord]: ...


class OrderRepository(Protocol):
    """
    Orders, unique per store and order key.
    """

    def upsert(self, order: OrderRecord, *, now: datetime) -> None: ...
    def set_status(self, store_id: str, order_key: str, status: str, *, now: datetime) -> bool: ...


class ConsentRepository(Protocol):
    """
    The append-only consent ledger: entries never change, except the stamp of the latest
    time a source repeated the latest one.
    """

    def current(self, contact_id: str) -> dict[tuple[Channel, Purpose], ConsentFact]: ...
    def record(
        self, store_id: str, contact_id: str, ledger: LedgerUpdate, *, now: datetime
    ) -> None: ...


class PrivacyRepository(Protocol):
    """
    Erasure: a person's data everywhere, or a whole shop's.
    """

    def erase_contact(self, store_id: str, contact_id: str, mentions: Sequence[str]) -> int: ...
    def erase_store_data(self, store_id: str) -> int: ...


class WorkerRepository(Protocol):
    """
    The registry of running workers and their heartbeats.
    """

    def register(
        self, *, worker_id: str, name: str, hostname: str, pid: int, now: datetime
    ) -> None: ...
    def heartbeat(self, worker_id: str, *, now: datetime) -> None: ...
    def stop(self, worker_id: str, *, now: datetime) -> None: ...
    def alive(self, *, since: datetime) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class UnmappedEvent:
    """
    A track event name that nothing translates, and how often and when it arrived.
    """

    name: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime

    def __post_init__(self) -> None:
        check_aware(self.first_seen_at, "first_seen_at")
        check_aware(self.last_seen_at, "last_seen_at")


class UnmappedEventRepository(Protocol):
    """
    Counts of unmapped event names, one row per store and name.
    """

    def record(self, store_id: str, counts: Mapping[str, int], *, now: datetime) -> None: ...
    def list_recent(self, store_id: str, *, limit: int) -> list[UnmappedEvent]: ...


class UnitOfWork(Protocol):
    """
    One transaction. It rolls back on exit unless `commit()` was called.
    """

    @property
    def stores(self) -> StoreRepository: ...
    @property
    def events(self) -> EventRepository: ...
    @property
    def visitors(self) -> VisitorRepository: ...
    @property
    def contacts(self) -> ContactRepository: ...
    @property
    def carts(self) -> CartRepository: ...
    @property
    def orders(self) -> OrderRepository: ...
    @property
    def workers(self) -> WorkerRepository: ...
    @property
    def consents(self) -> ConsentRepository: ...
    @property
    def privacy(self) -> PrivacyRepository: ...
    @property
    def unmapped_events(self) -> UnmappedEventRepository: ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """
    Makes a fresh unit of work; `read_only=True` promises it writes nothing, so SQLite need not
    take the write lock.
    """

    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...
