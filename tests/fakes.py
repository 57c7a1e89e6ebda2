"""
In-memory fakes of the ports in `cartback.domain.ports`, for service unit tests.

They keep the behaviour the services rely on: a unit of work that sees its own writes and
discards them unless committed, raw events unique per store, source and idempotency key,
contacts unique per store by each identifier, open carts found by owner (newest activity
first), due carts claimed oldest first, and a cart's lines kept by `save_states`.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from cartback.domain.cart import CartStatus
from cartback.domain.consent import Channel, ConsentFact, LedgerEntry, LedgerUpdate, Purpose
from cartback.domain.errors import InvalidInput
from cartback.domain.identity import ContactRef
from cartback.domain.ingest import EventOutcome, Inbound
from cartback.domain.ports import (
    CartPage,
    CartRecord,
    Contact,
    OrderRecord,
    UnitOfWorkFactory,
    UnmappedEvent,
    Visitor,
    VisitorSeen,
)
from cartback.domain.stores import KeyKind, Store
from cartback.domain.time import check_aware
from cartback.kit.ids import new_id

_OPEN = frozenset({CartStatus.ACTIVE, CartStatus.ABANDONED, CartStatus.LOST})


class FakeIntegrityError(Exception):
    """
    A write broke a unique constraint (what the database would refuse).
    """


@dataclass(kw_only=True)
class KeyRow:
    """
    A stored API key: its digest and shown prefix, never the key.
    """

    store_id: str
    kind: KeyKind
    prefix: str
    digest: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(kw_only=True)
class SecretRow:
    """
    A stored, sealed webhook secret.
    """

    store_id: str
    sealed: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(kw_only=True)
class RawEventRow:
    """
    A stored raw message and what ingesting it did.
    """

    store_id: str
    source: str
    idempotency_key: str
    name: str | None
    occurred_at: datetime
    received_at: datetime
    outcome: EventOutcome
    payload: dict[str, Any]


@dataclass(kw_only=True)
class VisitorRow:
    """
    A stored anonymous id.
    """

    id: str
    store_id: str
    anonymous_id: str
    contact_id: str | None
    user_agent: str | None
    is_bot: bool
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(kw_only=True)
class OrderRow:
    """
    A stored order.
    """

    order: OrderRecord
    updated_at: datetime


@dataclass(kw_only=True)
class WorkerRow:
    """
    A registered worker.
    """

    id: str
    name: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None = None


@dataclass(kw_only=True)
class FakeDatabase:
    """
    The committed state every fake unit of work starts from.
    """

    stores: dict[str, Store] = field(default_factory=dict)
    keys: dict[str, KeyRow] = field(default_factory=dict)
    secrets: list[SecretRow] = field(default_factory=list)
    events: dict[tuple[str, str, str], RawEventRow] = field(default_factory=dict)
    visitors: dict[str, VisitorRow] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    carts: dict[str, CartRecord] = field(default_factory=dict)
    orders: dict[tuple[str, str], OrderRow] = field(default_factory=dict)
    workers: dict[str, WorkerRow] = field(default_factory=dict)
    consents: list[tuple[str, str, LedgerEntry]] = field(default_factory=list)
    unmapped: dict[tuple[str, str], UnmappedEvent] = field(default_factory=dict)
    commits: int = 0

    def snapshot(self) -> FakeDatabase:
        """
        A deep copy for a transaction to work on.
        """
        return copy.deepcopy(self)

    def replace_with(self, other: FakeDatabase) -> None:
        """
        Take over a committed transaction's state.
        """
        for name in (
            "stores",
            "keys",
            "secrets",
            "events",
            "visitors",
            "contacts",
            "carts",
            "orders",
            "workers",
            "consents",
            "unmapped",
        ):
            setattr(self, name, getattr(other, name))
        self.commits += 1

    def cart(self, store_id: str, key: str) -> CartRecord | None:
        """
        A committed cart by its platform key (for assertions).
        """
        return next(
            (r for r in self.carts.values() if r.store_id == store_id and r.cart.key == key),
            None,
        )


class InMemoryStoreRepository:
    """
    Stores, key digests and sealed secrets.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def add(self, store: Store) -> None:
        if store.id in self._db.stores:
            raise FakeIntegrityError(f"store {store.id} exists")
        self._db.stores[store.id] = store

    def get(self, store_id: str) -> Store | None:
        return self._db.stores.get(store_id)

    def save(self, store: Store) -> None:
        current = self._db.stores.get(store.id)
        if current is not None:
            self._db.stores[store.id] = replace(store, created_at=current.created_at)

    def list_all(self) -> list[Store]:
        return sorted(self._db.stores.values(), key=lambda s: s.created_at)

    def add_key(
        self, *, store_id: str, kind: KeyKind, prefix: str, digest: str, created_at: datetime
    ) -> None:
        check_aware(created_at, "created_at")
        if digest in self._db.keys:
            raise FakeIntegrityError("duplicate key digest")
        self._db.keys[digest] = KeyRow(
            store_id=store_id, kind=kind, prefix=prefix, digest=digest, created_at=created_at
        )

    def find_key(self, digest: str) -> tuple[str, KeyKind] | None:
        row = self._db.keys.get(digest)
        if row is None or row.revoked_at is not None:
            return None
        return row.store_id, row.kind

    def add_webhook_secret(self, *, store_id: str, sealed: str, created_at: datetime) -> None:
        check_aware(created_at, "created_at")
        self._db.secrets.append(SecretRow(store_id=store_id, sealed=sealed, created_at=created_at))

    def webhook_secrets(self, store_id: str) -> list[str]:
        rows = [s for s in self._db.secrets if s.store_id == store_id and s.revoked_at is None]
        return [s.sealed for s in reversed(rows)]


class InMemoryEventRepository:
    """
    The raw event log; a key seen before is not stored again.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def add_new(
        self, store_id: str, events: Sequence[Inbound], *, received_at: datetime
    ) -> set[str]:
        check_aware(received_at, "received_at")
        fresh: set[str] = set()
        for event in events:
            key = (store_id, event.source, event.message_id)
            if key in self._db.events:
                continue
            self._db.events[key] = RawEventRow(
                store_id=store_id,
                source=event.source,
                idempotency_key=event.message_id,
                name=event.name,
                occurred_at=event.occurred_at,
                received_at=received_at,
                outcome=EventOutcome.APPLIED,
                payload=dict(event.payload),
            )
            fresh.add(event.message_id)
        return fresh

    def set_outcomes(
        self, store_id: str, source: str, outcomes: Mapping[str, EventOutcome]
    ) -> None:
        for message_id, outcome in outcomes.items():
            row = self._db.events.get((store_id, source, message_id))
            if row is not None:
                row.outcome = outcome

    def count(self, store_id: str) -> int:
        return sum(1 for row in self._db.events.values() if row.store_id == store_id)


class InMemoryVisitorRepository:
    """
    Anonymous ids, one per store and id; a bot stays a bot.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def ensure(self, store_id: str, seen: Mapping[str, VisitorSeen]) -> dict[str, Visitor]:
        result: dict[str, Visitor] = {}
        for anonymous_id, sighting in seen.items():
            row = self._find(store_id, anonymous_id)
            if row is None:
                row = VisitorRow(
                    id=new_id("vi"),
                    store_id=store_id,
                    anonymous_id=anonymous_id,
                    contact_id=None,
                    user_agent=sighting.user_agent[:500] if sighting.user_agent else None,
                    is_bot=sighting.is_bot,
                    first_seen_at=sighting.at,
                    last_seen_at=sighting.at,
                )
                self._db.visitors[row.id] = row
            row.is_bot = row.is_bot or sighting.is_bot
            row.last_seen_at = max(row.last_seen_at, sighting.at)
            result[anonymous_id] = Visitor(
                id=row.id, anonymous_id=anonymous_id, contact_id=row.contact_id, is_bot=row.is_bot
            )
        return result

    def link(self, visitor_id: str, contact_id: str) -> None:
        row = self._db.visitors.get(visitor_id)
        if row is not None:
            row.contact_id = contact_id

    def _find(self, store_id: str, anonymous_id: str) -> VisitorRow | None:
        return next(
            (
                v
                for v in self._db.visitors.values()
                if v.store_id == store_id and v.anonymous_id == anonymous_id
            ),
            None,
        )


class InMemoryContactRepository:
    """
    People, unique per store by user id, by email and by phone.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def find(
        self, store_id: str, *, user_id: str | None, email: str | None, phone: str | None
    ) -> tuple[ContactRef | None, ContactRef | None, ContactRef | None]:
        return (
            self._holder(store_id, "user_id", user_id),
            self._holder(store_id, "email", email),
            self._holder(store_id, "phone", phone),
        )

    def create(
        self, store_id: str, *, fields: Mapping[str, str], is_bot: bool, now: datetime
    ) -> ContactRef:
        check_aware(now, "now")
        contact = Contact(
            id=new_id("ct"),
            store_id=store_id,
            user_id=fields.get("user_id"),
            email=fields.get("email"),
            phone=fields.get("phone"),
            is_bot=is_bot,
            created_at=now,
            updated_at=now,
        )
        self._check_unique(contact)
        self._db.contacts[contact.id] = contact
        return contact.ref

    def update(self, contact_id: str, *, fields: Mapping[str, str], now: datetime) -> None:
        check_aware(now, "now")
        current = self._db.contacts.get(contact_id)
        if current is None:
            return
        changed = replace(
            current,
            updated_at=now,
            user_id=fields.get("user_id", current.user_id),
            email=fields.get("email", current.email),
            phone=fields.get("phone", current.phone),
        )
        self._check_unique(changed)
        self._db.contacts[contact_id] = changed

    def mark_bot(self, contact_id: str) -> None:
        current = self._db.contacts.get(contact_id)
        if current is not None:
            self._db.contacts[contact_id] = replace(current, is_bot=True)

    def get(self, store_id: str, contact_id: str) -> Contact | None:
        contact = self._db.contacts.get(contact_id)
        return contact if contact is not None and contact.store_id == store_id else None

    def _holder(self, store_id: str, name: str, value: str | None) -> ContactRef | None:
        if not value:
            return None
        return next(
            (
                c.ref
                for c in self._db.contacts.values()
                if c.store_id == store_id and getattr(c, name) == value
            ),
            None,
        )

    def _check_unique(self, contact: Contact) -> None:
        for name in ("user_id", "email", "phone"):
            value = getattr(contact, name)
            holder = self._holder(contact.store_id, name, value)
            if holder is not None and holder.id != contact.id:
                raise FakeIntegrityError(f"{name} {value!r} belongs to another contact")


class InMemoryCartRepository:
    """
    Carts with their lines and timers.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def get_many(self, store_id: str, keys: Sequence[str]) -> dict[str, CartRecord]:
        wanted = set(keys)
        return {
            r.cart.key: r
            for r in self._db.carts.values()
            if r.store_id == store_id and r.cart.key in wanted
        }

    def get(self, store_id: str, key: str) -> CartRecord | None:
        return self.get_many(store_id, [key]).get(key)

    def find_open(
        self, store_id: str, *, visitor_id: str | None = None, contact_id: str | None = None
    ) -> CartRecord | None:
        if visitor_id is None and contact_id is None:
            return None
        found = [
            r
            for r in self._of_store(store_id)
            if r.cart.status in _OPEN
            and (
                r.visitor_id == visitor_id if visitor_id is not None else r.contact_id == contact_id
            )
        ]
        return max(found, key=_by_activity, default=None)

    def find_by_checkout(self, store_id: str, checkout_id: str) -> CartRecord | None:
        found = [r for r in self._of_store(store_id) if r.cart.checkout_id == checkout_id]
        return max(found, key=_by_activity, default=None)

    def add(self, records: Sequence[CartRecord], *, now: datetime) -> None:
        check_aware(now, "now")
        for record in records:
            if record.id in self._db.carts or self.get(record.store_id, record.cart.key):
                raise FakeIntegrityError(f"cart {record.cart.key!r} exists")
            self._db.carts[record.id] = record

    def update(self, records: Sequence[CartRecord], *, now: datetime) -> None:
        check_aware(now, "now")
        for record in records:
            if record.id in self._db.carts:
                self._db.carts[record.id] = record

    def save_states(self, records: Sequence[CartRecord], *, now: datetime) -> None:
        check_aware(now, "now")
        for record in records:
            stored = self._db.carts.get(record.id)
            if stored is not None:
                lines = stored.cart.lines
                self._db.carts[record.id] = replace(record, cart=replace(record.cart, lines=lines))

    def flag_bot(
        self, store_id: str, *, visitor_id: str | None = None, contact_id: str | None = None
    ) -> None:
        for record in self._of_store(store_id):
            owned = (
                record.visitor_id == visitor_id if visitor_id else (record.contact_id == contact_id)
            )
            if owned and record.cart.status in _OPEN:
                flagged = replace(record.cart, is_bot=True, check_at=None)
                self._db.carts[record.id] = replace(record, cart=flagged)

    def assign_contact(self, store_id: str, visitor_id: str, contact_id: str) -> None:
        for record in self._of_store(store_id):
            if (
                record.visitor_id == visitor_id
                and record.contact_id is None
                and record.cart.status in _OPEN
            ):
                self._db.carts[record.id] = replace(record, contact_id=contact_id)

    def list_page(
        self,
        store_id: str,
        *,
        status: str | None,
        contact_id: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> CartPage:
        found = [
            r
            for r in self._of_store(store_id)
            if (not status or r.cart.status == status)
            and (not contact_id or r.contact_id == contact_id)
            and (not since or r.created_at >= since)
        ]
        found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        if cursor:
            after = _decode_cursor(cursor)
            found = [r for r in found if (r.created_at, r.id) < after]
        page = found[:limit]
        more = len(found) > limit
        return CartPage(records=page, next_cursor=_encode_cursor(page[-1]) if more else None)

    def claim_due(self, *, now: datetime, limit: int) -> list[CartRecord]:
        check_aware(now, "now")
        return sorted(self._due(now), key=lambda r: (r.cart.check_at, r.id))[:limit]

    def next_check_at(self) -> datetime | None:
        pending = [r.cart.check_at for r in self._db.carts.values() if r.cart.check_at]
        return min(pending, default=None)

    def due_count(self, *, now: datetime) -> int:
        return len(self._due(now))

    def timed_for_store(self, store_id: str) -> list[CartRecord]:
        timed = (CartStatus.ACTIVE, CartStatus.ABANDONED)
        return sorted(
            (r for r in self._of_store(store_id) if r.cart.status in timed), key=lambda r: r.id
        )

    def _of_store(self, store_id: str) -> list[CartRecord]:
        return [r for r in self._db.carts.values() if r.store_id == store_id]

    def _due(self, now: datetime) -> list[CartRecord]:
        return [
            r
            for r in self._db.carts.values()
            if r.cart.check_at is not None and r.cart.check_at <= now
        ]


def _by_activity(record: CartRecord) -> tuple[datetime, str]:
    return (record.cart.last_activity_at or record.created_at, record.id)


def _encode_cursor(record: CartRecord) -> str:
    raw = json.dumps([record.created_at.isoformat(), record.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, cart_id = json.loads(base64.urlsafe_b64decode(cursor))
        return datetime.fromisoformat(created_at), str(cart_id)
    except (ValueError, TypeError) as error:
        raise InvalidInput("the cursor is not one this API returned") from error


class InMemoryOrderRepository:
    """
    Orders, unique per store and order key; a repeated report fills in what was missing.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def upsert(self, order: OrderRecord, *, now: datetime) -> None:
        check_aware(now, "now")
        key = (order.store_id, order.order_key)
        current = self._db.orders.get(key)
        if current is None:
            self._db.orders[key] = OrderRow(order=order, updated_at=now)
            return
        kept = current.order
        merged = replace(
            kept,
            cart_id=order.cart_id or kept.cart_id,
            contact_id=order.contact_id or kept.contact_id,
            total=order.total if order.total is not None else kept.total,
        )
        self._db.orders[key] = OrderRow(order=merged, updated_at=now)

    def set_status(self, store_id: str, order_key: str, status: str, *, now: datetime) -> bool:
        current = self._db.orders.get((store_id, order_key))
        if current is None:
            return False
        changed = replace(current.order, status=status)
        self._db.orders[(store_id, order_key)] = OrderRow(order=changed, updated_at=now)
        return True


class InMemoryConsentRepository:
    """
    The consent ledger as a list of (store id, contact id, entry), only ever appended to but
    for the latest entry's confirmation stamp.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def current(self, contact_id: str) -> dict[tuple[Channel, Purpose], ConsentFact]:
        state: dict[tuple[Channel, Purpose], ConsentFact] = {}
        entries = [e for _, owner, e in self._db.consents if owner == contact_id]
        for entry in sorted(entries, key=lambda e: (e.claim.occurred_at, not e.claim.granted)):
            claim = entry.claim
            state[(claim.channel, claim.purpose)] = ConsentFact(
                granted=claim.granted,
                occurred_at=claim.occurred_at,
                confirmed_at=entry.confirmed_at,
            )
        return state

    def record(
        self, store_id: str, contact_id: str, ledger: LedgerUpdate, *, now: datetime
    ) -> None:
        del now
        for key, confirmed_at in ledger.confirmations.items():
            mine = [
                (index, e)
                for index, (_, owner, e) in enumerate(self._db.consents)
                if owner == contact_id and (e.claim.channel, e.claim.purpose) == key
            ]
            index, latest = max(
                mine, key=lambda pair: (pair[1].claim.occurred_at, not pair[1].claim.granted)
            )
            if latest.confirmed_at < confirmed_at:
                confirmed = replace(latest, confirmed_at=confirmed_at)
                self._db.consents[index] = (store_id, contact_id, confirmed)
        self._db.consents.extend((store_id, contact_id, e) for e in ledger.entries)


class InMemoryPrivacyRepository:
    """
    Erasure over the in-memory tables.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def erase_contact(self, store_id: str, contact_id: str, mentions: Sequence[str]) -> int:
        self._db.consents = [e for e in self._db.consents if e[1] != contact_id]
        for key, record in list(self._db.carts.items()):
            if record.contact_id == contact_id:
                self._db.carts[key] = replace(record, contact_id=None)
        self._db.contacts.pop(contact_id, None)
        doomed = [
            key
            for key, row in self._db.events.items()
            if key[0] == store_id
            and any(m and m.lower() in json.dumps(row.payload).lower() for m in mentions)
        ]
        for key in doomed:
            del self._db.events[key]
        return len(doomed)

    def erase_store_data(self, store_id: str) -> int:
        before = len(self._db.carts) + len(self._db.contacts) + len(self._db.events)
        self._db.carts = {k: r for k, r in self._db.carts.items() if r.store_id != store_id}
        self._db.contacts = {k: c for k, c in self._db.contacts.items() if c.store_id != store_id}
        self._db.events = {k: e for k, e in self._db.events.items() if k[0] != store_id}
        self._db.consents = [e for e in self._db.consents if e[0] != store_id]
        return before - len(self._db.carts) - len(self._db.contacts) - len(self._db.events)


class InMemoryWorkerRepository:
    """
    Registered workers and their heartbeats.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def register(
        self, *, worker_id: str, name: str, hostname: str, pid: int, now: datetime
    ) -> None:
        check_aware(now, "now")
        if worker_id in self._db.workers:
            raise FakeIntegrityError(f"worker {worker_id} exists")
        self._db.workers[worker_id] = WorkerRow(
            id=worker_id, name=name, hostname=hostname, pid=pid, started_at=now, heartbeat_at=now
        )

    def heartbeat(self, worker_id: str, *, now: datetime) -> None:
        if worker_id in self._db.workers:
            self._db.workers[worker_id].heartbeat_at = now

    def stop(self, worker_id: str, *, now: datetime) -> None:
        if worker_id in self._db.workers:
            self._db.workers[worker_id].stopped_at = now

    def alive(self, *, since: datetime) -> list[dict[str, Any]]:
        return [
            vars(w).copy()
            for w in self._db.workers.values()
            if w.heartbeat_at >= since and w.stopped_at is None
        ]


class InMemoryUnmappedEventRepository:
    """
    Unmapped event names, counted per store and name.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def record(self, store_id: str, counts: Mapping[str, int], *, now: datetime) -> None:
        check_aware(now, "now")
        for name, count in counts.items():
            known = self._db.unmapped.get((store_id, name))
            self._db.unmapped[(store_id, name)] = UnmappedEvent(
                name=name,
                count=count + (known.count if known else 0),
                first_seen_at=min(now, known.first_seen_at) if known else now,
                last_seen_at=max(now, known.last_seen_at) if known else now,
            )

    def list_recent(self, store_id: str, *, limit: int) -> list[UnmappedEvent]:
        rows = [row for (owner, _), row in self._db.unmapped.items() if owner == store_id]
        rows.sort(key=lambda row: row.name)
        rows.sort(key=lambda row: row.last_seen_at, reverse=True)
        return rows[:limit]


class FakeUnitOfWork:
    """
    One transaction on a `FakeDatabase`: it works on a copy, and `commit()` publishes it.
    Leaving without a commit discards every write, as the SQL unit of work does.
    """

    stores: InMemoryStoreRepository
    events: InMemoryEventRepository
    visitors: InMemoryVisitorRepository
    contacts: InMemoryContactRepository
    carts: InMemoryCartRepository
    orders: InMemoryOrderRepository
    workers: InMemoryWorkerRepository
    consents: InMemoryConsentRepository
    privacy: InMemoryPrivacyRepository
    unmapped_events: InMemoryUnmappedEventRepository

    def __init__(self, database: FakeDatabase, *, read_only: bool = False) -> None:
        self.database = database
        self.read_only = read_only
        self.committed = False
        self._working: FakeDatabase | None = None

    def __enter__(self) -> Self:
        self._working = self.database.snapshot()
        self.committed = False
        self.stores = InMemoryStoreRepository(self._working)
        self.events = InMemoryEventRepository(self._working)
        self.visitors = InMemoryVisitorRepository(self._working)
        self.contacts = InMemoryContactRepository(self._working)
        self.carts = InMemoryCartRepository(self._working)
        self.orders = InMemoryOrderRepository(self._working)
        self.workers = InMemoryWorkerRepository(self._working)
        self.consents = InMemoryConsentRepository(self._working)
        self.privacy = InMemoryPrivacyRepository(self._working)
        self.unmapped_events = InMemoryUnmappedEventRepository(self._working)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._working = None

    def commit(self) -> None:
        """
        Publish this transaction's writes.
        """
        if self._working is None:
            raise RuntimeError("commit() outside the unit of work")
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self.database.replace_with(self._working)
        self.committed = True
        self._working = self._working.snapshot()
        self._rebind(self._working)

    def rollback(self) -> None:
        """
        Discard this transaction's writes.
        """
        if self._working is not None:
            self._working = self.database.snapshot()
            self._rebind(self._working)

    def _rebind(self, working: FakeDatabase) -> None:
        for repository in (
            self.stores,
            self.events,
            self.visitors,
            self.contacts,
            self.carts,
            self.orders,
            self.workers,
            self.unmapped_events,
            self.consents,
            self.privacy,
        ):
            repository._db = working


class FakeUnitOfWorkFactory:
    """
    Makes fake units of work on one shared `FakeDatabase`, like `SqlUnitOfWorkFactory`.
    """

    def __init__(self, database: FakeDatabase | None = None) -> None:
        self.database = database or FakeDatabase()

    def __call__(self, *, read_only: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.database, read_only=read_only)


if TYPE_CHECKING:
    # mypy proves the fakes implement the ports the services are typed against.
    _FACTORY: UnitOfWorkFactory = FakeUnitOfWorkFactory()
