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
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import message_fakes
from admin_fakes import AdminRows, InMemoryDashboardRepository, InMemoryOperatorRepository
from cartback.domain.cart import CartStatus
from cartback.domain.catalog import CatalogItem, learned, merged
from cartback.domain.consent import (
    Channel,
    ConsentFact,
    LedgerEntry,
    LedgerUpdate,
    Purpose,
    erased_address,
)
from cartback.domain.delivery import DeliveryEvent
from cartback.domain.discounts import GIVEN, OfferStatus
from cartback.domain.errors import InvalidInput
from cartback.domain.feeds import CatalogVersion, left_out
from cartback.domain.identity import ContactRef
from cartback.domain.ingest import EventOutcome, Inbound
from cartback.domain.origin import CartOrigin
from cartback.domain.ports import (
    AudienceMemberFacts,
    AudienceMembership,
    AudienceVisitorFacts,
    CartPage,
    CartRecord,
    CartTouch,
    Contact,
    EnrollmentRecord,
    InboundMessage,
    MessageFilters,
    MessagePage,
    MessageSummary,
    MessageTemplate,
    OfferRecord,
    OrderRecord,
    OutboundMessage,
    OutboxMessage,
    PartnerProgram,
    PartnerTotals,
    PersonalData,
    ShortLink,
    SimilarItem,
    SmsConfirmation,
    StockWatch,
    StoredAudience,
    StoredFlow,
    StoredKey,
    Suppression,
    SyncedIdentifier,
    TouchRecord,
    UnitOfWorkFactory,
    UnmappedEvent,
    Visitor,
    VisitorSeen,
)
from cartback.domain.stores import KeyKind, Store
from cartback.domain.time import check_aware
from cartback.domain.touches import PENDING as TOUCH_PENDING
from cartback.domain.touches import WENT as TOUCH_WENT
from cartback.domain.touches import EnrollmentStatus, Group, SendFailed, TouchStatus
from cartback.kit.ids import new_id
from report_fakes import FakeReportRepository, FakeReportSnapshotRepository
from store_pages_fakes import InMemoryStorePagesRepository
from webhook_fakes import InMemoryStoreAlertRepository, InMemoryWebhookRepository, WebhookState

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
    anonymous_id: str | None = None
    user_id: str | None = None


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
    ads_opt_out_at: datetime | None = None


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
class PartnerCodeRow:
    """
    One code of a partner's pool.
    """

    program_id: str
    code: str
    offer_id: str | None = None
    assigned_at: datetime | None = None


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
    cart_origins: dict[str, CartOrigin] = field(default_factory=dict)
    orders: dict[tuple[str, str], OrderRow] = field(default_factory=dict)
    workers: dict[str, WorkerRow] = field(default_factory=dict)
    consents: list[tuple[str, str, LedgerEntry]] = field(default_factory=list)
    unmapped: dict[tuple[str, str], UnmappedEvent] = field(default_factory=dict)
    suppressions: list[Suppression] = field(default_factory=list)
    inbound: dict[tuple[str, str], InboundMessage] = field(default_factory=dict)
    confirmations: list[SmsConfirmation] = field(default_factory=list)
    flows: dict[tuple[str, str], StoredFlow] = field(default_factory=dict)
    enrollments: dict[str, EnrollmentRecord] = field(default_factory=dict)
    touches: dict[str, TouchRecord] = field(default_factory=dict)
    outbox: dict[str, OutboxMessage] = field(default_factory=dict)
    catalog: dict[tuple[str, str], CatalogItem] = field(default_factory=dict)
    watches: dict[tuple[str, str], StockWatch] = field(default_factory=dict)
    short_links: dict[str, ShortLink] = field(default_factory=dict)
    offers: dict[str, OfferRecord] = field(default_factory=dict)
    partner_programs: dict[str, PartnerProgram] = field(default_factory=dict)
    partner_codes: list[PartnerCodeRow] = field(default_factory=list)
    deliveries: list[DeliveryEvent] = field(default_factory=list)
    templates: dict[tuple[str, str, str, str], MessageTemplate] = field(default_factory=dict)
    audiences: dict[tuple[str, str], StoredAudience] = field(default_factory=dict)
    memberships: list[AudienceMembership] = field(default_factory=list)
    #: (store, audience, network, kind, identifier) -> (contact id, held now).
    audience_syncs: dict[tuple[str, str, str, str, str], tuple[str | None, bool]] = field(
        default_factory=dict
    )
    reports: FakeReportRepository = field(default_factory=FakeReportRepository)
    report_snapshots: FakeReportSnapshotRepository = field(
        default_factory=FakeReportSnapshotRepository
    )
    #: Outbound webhook endpoints and deliveries, store alerts (`webhook_fakes`).
    webhooks: WebhookState = field(default_factory=WebhookState)
    #: Dashboard operators and sessions (`admin_fakes`).
    admin: AdminRows = field(default_factory=AdminRows)
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
            "cart_origins",
            "orders",
            "workers",
            "consents",
            "unmapped",
            "suppressions",
            "inbound",
            "confirmations",
            "flows",
            "enrollments",
            "touches",
            "outbox",
            "catalog",
            "watches",
            "short_links",
            "offers",
            "partner_programs",
            "partner_codes",
            "deliveries",
            "templates",
            "audiences",
            "memberships",
            "audience_syncs",
            "webhooks",
            "admin",
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

    def keys(self, store_id: str) -> list[StoredKey]:
        rows = [k for k in self._db.keys.values() if k.store_id == store_id]
        return [
            StoredKey(
                kind=k.kind, prefix=k.prefix, created_at=k.created_at, revoked_at=k.revoked_at
            )
            for k in reversed(rows)
        ]

    def revoke_keys(self, *, store_id: str, kind: KeyKind, at: datetime) -> int:
        check_aware(at, "at")
        active = [
            digest
            for digest, k in self._db.keys.items()
            if k.store_id == store_id and k.kind is kind and k.revoked_at is None
        ]
        for digest in active:
            self._db.keys[digest] = replace(self._db.keys[digest], revoked_at=at)
        return len(active)

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
                anonymous_id=event.anonymous_id,
                user_id=event.user_id,
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

    def mark_ads_opt_out(self, visitor_ids: Sequence[str], *, at: datetime) -> None:
        check_aware(at, "at")
        for visitor_id in visitor_ids:
            row = self._db.visitors.get(visitor_id)
            if row is not None and row.ads_opt_out_at is None:
                row.ads_opt_out_at = at

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

    def get_many(self, contact_ids: Sequence[str]) -> dict[str, Contact]:
        return {c: self._db.contacts[c] for c in contact_ids if c in self._db.contacts}

    def get(self, store_id: str, contact_id: str) -> Contact | None:
        contact = self._db.contacts.get(contact_id)
        return contact if contact is not None and contact.store_id == store_id else None

    def mark_ads_opt_out(self, contact_id: str, *, at: datetime) -> None:
        check_aware(at, "at")
        current = self._db.contacts.get(contact_id)
        if current is not None and current.ads_opt_out_at is None:
            self._db.contacts[contact_id] = replace(current, ads_opt_out_at=at)

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

    def get_by_ids(self, cart_ids: Sequence[str]) -> dict[str, CartRecord]:
        return {c: self._db.carts[c] for c in cart_ids if c in self._db.carts}

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

    def add(
        self,
        records: Sequence[CartRecord],
        *,
        now: datetime,
        origins: Mapping[str, CartOrigin] | None = None,
    ) -> None:
        check_aware(now, "now")
        for record in records:
            if record.id in self._db.carts or self.get(record.store_id, record.cart.key):
                raise FakeIntegrityError(f"cart {record.cart.key!r} exists")
            self._db.carts[record.id] = record
            origin = (origins or {}).get(record.id)
            if origin is not None and origin != CartOrigin():
                self._db.cart_origins[record.id] = origin

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

    def set_contact(self, store_id: str, key: str, contact_id: str) -> None:
        record = self.get(store_id, key)
        if record is not None:
            self._db.carts[record.id] = replace(record, contact_id=contact_id)

    def origins(self, cart_ids: Sequence[str]) -> dict[str, CartOrigin]:
        return {c: self._db.cart_origins[c] for c in cart_ids if c in self._db.cart_origins}

    def set_origins(self, origins: Mapping[str, CartOrigin]) -> None:
        self._db.cart_origins.update(origins)

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

    def abandoned_between(
        self, store_id: str, *, since: datetime, until: datetime, limit: int
    ) -> list[CartRecord]:
        found = [
            r
            for r in self._of_store(store_id)
            if r.cart.abandoned_at is not None and since <= r.cart.abandoned_at < until
        ]
        return sorted(found, key=lambda r: (r.cart.abandoned_at, r.id))[:limit]

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

    def has_ordered(self, store_id: str, contact_id: str) -> bool:
        return any(
            row.order.store_id == store_id and row.order.contact_id == contact_id
            for row in self._db.orders.values()
        )

    def ordered_among(self, store_id: str, contact_ids: Sequence[str]) -> set[str]:
        return {c for c in contact_ids if self.has_ordered(store_id, c)}

    def counts_among(self, store_id: str, contact_ids: Sequence[str]) -> dict[str, int]:
        return {c: self.count_for_contact(store_id, c) for c in contact_ids}

    def count_for_contact(self, store_id: str, contact_id: str) -> int:
        return sum(
            1
            for row in self._db.orders.values()
            if row.order.store_id == store_id
            and row.order.contact_id == contact_id
            and row.order.status != "cancelled"
        )

    def placed_between(
        self, store_id: str, *, since: datetime, until: datetime
    ) -> list[OrderRecord]:
        found = [
            row.order
            for row in self._db.orders.values()
            if row.order.store_id == store_id and since <= row.order.placed_at < until
        ]
        return sorted(found, key=lambda o: o.placed_at)


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

    def current_many(
        self, contact_ids: Sequence[str]
    ) -> dict[str, dict[tuple[Channel, Purpose], ConsentFact]]:
        return {c: self.current(c) for c in contact_ids}

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
    Export and erasure over the in-memory tables, choosing a person's rows as the SQL one does.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def identifiers(self, store_id: str, contact_id: str) -> ContactRef | None:
        contact = self._db.contacts.get(contact_id)
        return contact.ref if contact is not None and contact.store_id == store_id else None

    def personal_data(
        self, store_id: str, contact_id: str, mentions: Sequence[str]
    ) -> PersonalData | None:
        contact = self._db.contacts.get(contact_id)
        if contact is None or contact.store_id != store_id:
            return None
        mine = _Person(self._db, contact.ref, mentions)
        return PersonalData(
            contact=vars_of(contact),
            visitors=[vars(v).copy() for v in mine.visitors()],
            carts=[
                {"id": r.id, "cart_key": r.cart.key, "lines": list(r.cart.lines)}
                for r in mine.carts()
            ],
            orders=[vars_of(o.order) for o in mine.orders()],
            consents=[vars_of(e.claim) for e in mine.consents()],
            suppressions=[vars_of(s) for s in mine.suppressions()],
            inbound_messages=[vars_of(m) for m in mine.inbound()],
            sms_confirmations=[vars_of(c) for c in mine.confirmations()],
            raw_events=[vars(e).copy() for e in mine.raw_events()],
        )

    def erase_contact(
        self, store_id: str, contact_id: str, mentions: Sequence[str]
    ) -> dict[str, int]:
        db = self._db
        contact = self.identifiers(store_id, contact_id) if contact_id else None
        ref = contact or ContactRef(id="", user_id=None, email=None, phone=None)
        mine = _Person(db, ref, mentions, store_id=store_id)
        counts = {"raw_events": len(mine.raw_events())}
        gone = {id(e) for e in mine.raw_events()}
        db.events = {k: e for k, e in db.events.items() if id(e) not in gone}
        if contact is None:
            return counts
        counts["consent_ledger"] = len(mine.consents())
        db.consents = [c for c in db.consents if c[1] != contact.id]
        confirmations = mine.confirmations()
        counts["sms_confirmations"] = len(confirmations)
        db.confirmations = [c for c in db.confirmations if c not in confirmations]
        inbound = mine.inbound()
        counts["inbound_messages"] = len(inbound)
        db.inbound = {k: m for k, m in db.inbound.items() if m not in inbound}
        visitor_ids = {v.id for v in mine.visitors()}
        counts["carts"] = len(mine.carts())
        for key, record in list(db.carts.items()):
            if record.contact_id == contact.id or record.visitor_id in visitor_ids:
                unlinked = replace(
                    record,
                    contact_id=None if record.contact_id == contact.id else record.contact_id,
                    visitor_id=None if record.visitor_id in visitor_ids else record.visitor_id,
                )
                db.carts[key] = unlinked
        counts["orders"] = len(mine.orders())
        for key, row in list(db.orders.items()):
            if row.order.contact_id == contact.id:
                db.orders[key] = OrderRow(
                    order=replace(row.order, contact_id=None), updated_at=row.updated_at
                )
        counts["visitors"] = len(visitor_ids)
        db.visitors = {k: v for k, v in db.visitors.items() if k not in visitor_ids}
        counts["contacts"] = 1
        del db.contacts[contact.id]
        return counts

    def erase_store_data(self, store_id: str) -> int:
        before = len(self._db.carts) + len(self._db.contacts) + len(self._db.events)
        self._db.carts = {k: r for k, r in self._db.carts.items() if r.store_id != store_id}
        self._db.contacts = {k: c for k, c in self._db.contacts.items() if c.store_id != store_id}
        self._db.events = {k: e for k, e in self._db.events.items() if k[0] != store_id}
        self._db.consents = [e for e in self._db.consents if e[0] != store_id]
        self._db.suppressions = [s for s in self._db.suppressions if s.store_id != store_id]
        return before - len(self._db.carts) - len(self._db.contacts) - len(self._db.events)


def vars_of(value: Any) -> dict[str, Any]:
    """
    A slotted dataclass's fields as a dict.
    """
    return {f.name: getattr(value, f.name) for f in fields(value)}


class _Person:
    """
    One person's rows in a `FakeDatabase`, by the rules of `store/privacy.py`.
    """

    def __init__(
        self,
        db: FakeDatabase,
        contact: ContactRef,
        mentions: Sequence[str],
        *,
        store_id: str | None = None,
    ) -> None:
        self._db = db
        self._contact = contact
        self._store_id = store_id or db.contacts[contact.id].store_id
        self._addresses = {a for a in (contact.email, contact.phone) if a}
        self._mentions = {m.lower() for m in (*mentions, contact.user_id) if m}

    def visitors(self) -> list[VisitorRow]:
        cid = self._contact.id
        return [v for v in self._db.visitors.values() if cid and v.contact_id == cid]

    def carts(self) -> list[CartRecord]:
        cid = self._contact.id
        return [r for r in self._db.carts.values() if cid and r.contact_id == cid]

    def orders(self) -> list[OrderRow]:
        cid = self._contact.id
        return [o for o in self._db.orders.values() if cid and o.order.contact_id == cid]

    def consents(self) -> list[LedgerEntry]:
        return [e for _, owner, e in self._db.consents if owner == self._contact.id]

    def suppressions(self) -> list[Suppression]:
        forms = self._addresses | {erased_address(a) for a in self._addresses}
        return [
            s for s in self._db.suppressions if s.store_id == self._store_id and s.address in forms
        ]

    def inbound(self) -> list[InboundMessage]:
        cid = self._contact.id
        return [
            m
            for m in self._db.inbound.values()
            if m.store_id == self._store_id
            and ((cid and m.contact_id == cid) or m.sender in self._addresses)
        ]

    def confirmations(self) -> list[SmsConfirmation]:
        cid = self._contact.id
        return [
            c
            for c in self._db.confirmations
            if c.store_id == self._store_id and (c.contact_id == cid or c.phone in self._addresses)
        ]

    def raw_events(self) -> list[RawEventRow]:
        anonymous = {v.anonymous_id for v in self.visitors()}
        user_id = self._contact.user_id
        return [
            e
            for e in self._db.events.values()
            if e.store_id == self._store_id
            and (
                (e.anonymous_id is not None and e.anonymous_id in anonymous)
                or (user_id is not None and e.user_id == user_id)
                or any(m in json.dumps(e.payload).lower() for m in self._mentions)
            )
        ]


class InMemoryRetentionRepository:
    """
    Retention purges over the in-memory tables.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def _carts(self, store_id: str, before: datetime) -> list[CartRecord]:
        ordered = {o.order.cart_id for o in self._db.orders.values()}
        return sorted(
            (
                r
                for r in self._db.carts.values()
                if r.store_id == store_id
                and r.contact_id is None
                and r.id not in ordered
                and (r.cart.last_activity_at or r.created_at) < before
            ),
            key=lambda r: r.id,
        )

    def _events(self, store_id: str, before: datetime) -> list[tuple[str, str, str]]:
        return [
            k for k, e in self._db.events.items() if k[0] == store_id and e.received_at < before
        ]

    def expired(self, store_id: str, *, before: datetime) -> dict[str, int]:
        return {
            "carts": len(self._carts(store_id, before)),
            "raw_events": len(self._events(store_id, before)),
        }

    def purge_carts(self, store_id: str, *, before: datetime, limit: int) -> int:
        doomed = self._carts(store_id, before)[:limit]
        for record in doomed:
            del self._db.carts[record.id]
        return len(doomed)

    def purge_raw_events(self, store_id: str, *, before: datetime, limit: int) -> int:
        doomed = self._events(store_id, before)[:limit]
        for key in doomed:
            del self._db.events[key]
        return len(doomed)


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


class InMemorySuppressionRepository:
    """
    The suppression list as a list, one entry per store, channel and address.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def _forms(self, address: str) -> set[str]:
        return {address, erased_address(address)}

    def add(self, suppression: Suppression) -> bool:
        if any(
            (s.store_id, s.channel, s.address)
            == (suppression.store_id, suppression.channel, suppression.address)
            for s in self._db.suppressions
        ):
            return False
        self._db.suppressions.append(suppression)
        return True

    def remove(self, store_id: str, channel: Channel, address: str) -> bool:
        before = len(self._db.suppressions)
        forms = self._forms(address)
        self._db.suppressions = [
            s
            for s in self._db.suppressions
            if not (s.store_id == store_id and s.channel == channel and s.address in forms)
        ]
        return len(self._db.suppressions) < before

    def is_suppressed(self, store_id: str, channel: Channel, address: str) -> bool:
        forms = self._forms(address)
        return any(
            s.store_id == store_id and s.channel == channel and s.address in forms
            for s in self._db.suppressions
        )

    def suppressed_among(
        self, store_id: str, channel: Channel, addresses: Sequence[str]
    ) -> set[str]:
        return {a for a in addresses if self.is_suppressed(store_id, channel, a)}

    def get(self, store_id: str, channel: Channel, address: str) -> Suppression | None:
        forms = self._forms(address)
        return next(
            (
                s
                for s in self._db.suppressions
                if s.store_id == store_id and s.channel == channel and s.address in forms
            ),
            None,
        )

    def list_recent(
        self, store_id: str, *, limit: int, channel: Channel | None = None
    ) -> list[Suppression]:
        mine = [
            s
            for s in self._db.suppressions
            if s.store_id == store_id and channel in (None, s.channel)
        ]
        return sorted(mine, key=lambda s: s.created_at, reverse=True)[:limit]

    def hash_addresses(self, store_id: str, addresses: Sequence[str]) -> int:
        changed = 0
        kept: list[Suppression] = []
        for s in self._db.suppressions:
            if s.store_id == store_id and s.address in addresses:
                changed += 1
                hashed = replace(s, address=erased_address(s.address))
                if hashed not in kept:
                    kept.append(hashed)
            else:
                kept.append(s)
        self._db.suppressions = kept
        return changed


class InMemoryInboundMessageRepository:
    """
    Replies by store and provider id.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def add(self, message: InboundMessage) -> bool:
        key = (message.store_id, message.provider_id)
        if key in self._db.inbound:
            return False
        self._db.inbound[key] = message
        return True

    def list_recent(self, store_id: str, *, limit: int) -> list[InboundMessage]:
        mine = [m for (owner, _), m in self._db.inbound.items() if owner == store_id]
        return sorted(mine, key=lambda m: (m.received_at, m.id), reverse=True)[:limit]


class InMemorySmsConfirmationRepository:
    """
    Pending SMS double opt-in requests as a list; ids count up from one.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def add(self, confirmation: SmsConfirmation) -> int:
        identifier = max((c.id or 0 for c in self._db.confirmations), default=0) + 1
        self._db.confirmations.append(replace(confirmation, id=identifier))
        return identifier

    def pending(self, store_id: str, phone: str) -> list[SmsConfirmation]:
        return [
            c
            for c in self._db.confirmations
            if c.store_id == store_id and c.phone == phone and c.confirmed_at is None
        ]

    def confirm(self, confirmation_id: int, *, at: datetime) -> None:
        self._db.confirmations = [
            replace(c, confirmed_at=at) if c.id == confirmation_id else c
            for c in self._db.confirmations
        ]

    def discard_pending(self, store_id: str, phone: str) -> int:
        dropped = self.pending(store_id, phone)
        self._db.confirmations = [c for c in self._db.confirmations if c not in dropped]
        return len(dropped)


class InMemoryFlowRepository:
    """
    Installed flows by store and name.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def list_for_store(self, store_id: str) -> list[StoredFlow]:
        mine = [f for (store, _), f in self._db.flows.items() if store == store_id]
        return sorted(mine, key=lambda f: (-f.priority, f.name))

    def get(self, store_id: str, name: str) -> StoredFlow | None:
        return self._db.flows.get((store_id, name))

    def replace(self, store_id: str, flows: Sequence[StoredFlow]) -> None:
        self._db.flows = {k: v for k, v in self._db.flows.items() if k[0] != store_id}
        for flow in flows:
            self._db.flows[(store_id, flow.name)] = flow


class InMemoryEnrollmentRepository:
    """
    Enrollments by id; at most one active per contact, as the partial unique index says.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def add(self, record: EnrollmentRecord) -> None:
        if record.status is EnrollmentStatus.ACTIVE and self.active_for_contact(record.contact_id):
            raise FakeIntegrityError("uq_enrollments_active_contact")
        self._db.enrollments[record.id] = record

    def get(self, enrollment_id: str) -> EnrollmentRecord | None:
        return self._db.enrollments.get(enrollment_id)

    def get_many(self, enrollment_ids: Sequence[str]) -> dict[str, EnrollmentRecord]:
        return {e: self._db.enrollments[e] for e in enrollment_ids if e in self._db.enrollments}

    def active_for_contact(self, contact_id: str) -> EnrollmentRecord | None:
        return next(
            (
                e
                for e in self._db.enrollments.values()
                if e.contact_id == contact_id and e.status is EnrollmentStatus.ACTIVE
            ),
            None,
        )

    def for_cart(self, cart_id: str) -> list[EnrollmentRecord]:
        return sorted(
            (e for e in self._db.enrollments.values() if e.cart_id == cart_id),
            key=lambda e: (e.started_at, e.id),
        )

    def end(
        self, enrollment_id: str, *, status: EnrollmentStatus, reason: str | None, at: datetime
    ) -> None:
        current = self._db.enrollments.get(enrollment_id)
        if current is not None and current.status is EnrollmentStatus.ACTIVE:
            self._db.enrollments[enrollment_id] = replace(
                current, status=status, reason=reason, ended_at=at
            )

    def complete_held_out(self, *, now: datetime, limit: int) -> int:
        done = [
            e
            for e in self._db.enrollments.values()
            if e.group is Group.CONTROL
            and e.status is EnrollmentStatus.ACTIVE
            and all(t.due_at <= now for t in self._db.touches.values() if t.enrollment_id == e.id)
        ][:limit]
        for enrollment in done:
            self._db.enrollments[enrollment.id] = replace(
                enrollment, status=EnrollmentStatus.COMPLETED, ended_at=now
            )
        return len(done)


class InMemoryTouchRepository:
    """
    Touches by id, with the reads the guards need.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def add(self, records: Sequence[TouchRecord]) -> None:
        for record in records:
            self._db.touches[record.id] = record

    def get(self, touch_id: str) -> TouchRecord | None:
        return self._db.touches.get(touch_id)

    def has_sent(self, contact_id: str, channel: Channel) -> bool:
        return any(
            t.channel is channel
            and t.status in TOUCH_WENT
            and self._db.enrollments[t.enrollment_id].contact_id == contact_id
            for t in self._db.touches.values()
            if t.enrollment_id in self._db.enrollments
        )

    def by_provider_id(self, store_id: str, provider_id: str) -> TouchRecord | None:
        return next(
            (
                t
                for t in self._db.touches.values()
                if t.store_id == store_id and t.provider_id == provider_id
            ),
            None,
        )

    def get_many(self, touch_ids: Sequence[str]) -> dict[str, TouchRecord]:
        return {t: self._db.touches[t] for t in touch_ids if t in self._db.touches}

    def save(self, record: TouchRecord) -> None:
        # `clicked_at` is written only by `record_click`, as in the SQL repository.
        stored = self._db.touches.get(record.id)
        clicked_at = stored.clicked_at if stored is not None else record.clicked_at
        self._db.touches[record.id] = replace(record, clicked_at=clicked_at)

    def save_many(self, records: Sequence[TouchRecord]) -> None:
        for record in records:
            self.save(record)

    def record_click(self, touch_id: str, at: datetime) -> bool:
        touch = self._db.touches.get(touch_id)
        if touch is None or touch.clicked_at is not None:
            return False
        self._db.touches[touch_id] = replace(touch, clicked_at=at)
        return True

    def claim_due(self, *, now: datetime, limit: int) -> list[TouchRecord]:
        def claimable(t: TouchRecord) -> bool:
            if t.status in TOUCH_PENDING:
                return t.due_at <= now
            in_flight = t.status in (TouchStatus.SENDING, TouchStatus.AMBIGUOUS)
            return in_flight and t.lease_until is not None and t.lease_until <= now

        due = sorted(
            (t for t in self._db.touches.values() if claimable(t)), key=lambda t: (t.due_at, t.id)
        )
        return due[:limit]

    def extend_leases(self, touch_ids: Sequence[str], *, owner: str, until: datetime) -> set[str]:
        renewed: set[str] = set()
        for touch_id in touch_ids:
            touch = self._db.touches.get(touch_id)
            in_flight = touch is not None and touch.status in (
                TouchStatus.SENDING,
                TouchStatus.AMBIGUOUS,
            )
            if touch is not None and in_flight and touch.lease_owner == owner:
                self._db.touches[touch_id] = replace(touch, lease_until=until)
                renewed.add(touch_id)
        return renewed

    def next_due_at(self) -> datetime | None:
        pending = [t.due_at for t in self._db.touches.values() if t.status in TOUCH_PENDING]
        return min(pending, default=None)

    def cart_key(self, cart_id: str) -> str | None:
        record = self._db.carts.get(cart_id)
        return record.cart.key if record is not None else None

    def for_enrollment(self, enrollment_id: str) -> list[TouchRecord]:
        return sorted(
            (t for t in self._db.touches.values() if t.enrollment_id == enrollment_id),
            key=lambda t: t.step,
        )

    def for_enrollments(self, enrollment_ids: Sequence[str]) -> dict[str, list[TouchRecord]]:
        return {e: self.for_enrollment(e) for e in enrollment_ids}

    def with_open_touches(self, enrollment_ids: Sequence[str]) -> set[str]:
        still = (*TOUCH_PENDING, TouchStatus.SENDING, TouchStatus.AMBIGUOUS)
        return {e for e in enrollment_ids if any(t.status in still for t in self.for_enrollment(e))}

    def cancel_pending(self, enrollment_id: str, *, reason: str, now: datetime) -> int:
        changed = 0
        for touch in self.for_enrollment(enrollment_id):
            if touch.status in TOUCH_PENDING:
                self._db.touches[touch.id] = replace(
                    touch, status=TouchStatus.CANCELLED, reason=reason, updated_at=now
                )
                changed += 1
        return changed

    def cancel_for_order(
        self,
        store_id: str,
        *,
        cart_id: str | None,
        contact_id: str | None,
        placed_at: datetime,
        reason: str,
        now: datetime,
    ) -> list[str]:
        ended = []
        for enrollment in list(self._db.enrollments.values()):
            matches = (cart_id is not None and enrollment.cart_id == cart_id) or (
                contact_id is not None and enrollment.contact_id == contact_id
            )
            if (
                not matches
                or enrollment.store_id != store_id
                or enrollment.status is not EnrollmentStatus.ACTIVE
                or enrollment.started_at > placed_at
            ):
                continue
            self.cancel_pending(enrollment.id, reason=reason, now=now)
            in_flight = any(
                t.status in (TouchStatus.SENDING, TouchStatus.AMBIGUOUS)
                for t in self.for_enrollment(enrollment.id)
            )
            if not in_flight:
                self._db.enrollments[enrollment.id] = replace(
                    enrollment, status=EnrollmentStatus.CANCELLED, reason=reason, ended_at=now
                )
                ended.append(enrollment.id)
        return ended

    def sent_times(self, contact_id: str, *, since: datetime) -> list[datetime]:
        found = []
        for touch in self._db.touches.values():
            enrollment = self._db.enrollments.get(touch.enrollment_id)
            if enrollment is None or enrollment.contact_id != contact_id:
                continue
            if touch.status in TOUCH_WENT:
                at = touch.sent_at or touch.updated_at
                if at >= since:
                    found.append(at)
        return found

    def sent_times_many(
        self, contact_ids: Sequence[str], *, since: datetime
    ) -> dict[str, list[datetime]]:
        return {c: self.sent_times(c, since=since) for c in contact_ids}

    def for_cart(self, store_id: str, cart_id: str) -> list[CartTouch]:
        found = [
            CartTouch(touch=t, flow=self._db.enrollments[t.enrollment_id].flow)
            for t in self._db.touches.values()
            if t.store_id == store_id and t.cart_id == cart_id
        ]
        return sorted(found, key=lambda c: (c.touch.created_at, c.touch.step))

    def unengaged_emails(self, store_id: str, contact_id: str) -> int:
        seen = [
            r.cart.last_activity_at
            for r in self._db.carts.values()
            if r.store_id == store_id
            and r.contact_id == contact_id
            and r.cart.last_activity_at is not None
        ]
        last = max(seen, default=None)
        count = 0
        for touch in self._db.touches.values():
            enrollment = self._db.enrollments.get(touch.enrollment_id)
            if enrollment is None or enrollment.contact_id != contact_id:
                continue
            if touch.channel is not Channel.EMAIL or touch.status not in TOUCH_WENT:
                continue
            if touch.sent_at is not None and (last is None or touch.sent_at > last):
                count += 1
        return count

    def for_carts(self, store_id: str, cart_ids: Sequence[str]) -> dict[str, list[CartTouch]]:
        return {cart_id: self.for_cart(store_id, cart_id) for cart_id in cart_ids}

    def order_matches(
        self, store_id: str, *, cart_id: str, contact_id: str, since: datetime
    ) -> set[str]:
        found: set[str] = set()
        for row in self._db.orders.values():
            order = row.order
            if order.store_id != store_id or order.placed_at < since:
                continue
            if order.cart_id == cart_id:
                found.add("cart")
            if order.contact_id == contact_id:
                contact = self._db.contacts.get(contact_id)
                found.add("email" if contact is not None and contact.email else "phone")
        return found

    def order_matches_many(
        self, store_id: str, queries: Sequence[tuple[str, str, datetime]]
    ) -> list[set[str]]:
        return [
            self.order_matches(store_id, cart_id=cart, contact_id=contact, since=since)
            for cart, contact, since in queries
        ]

    def mark_cart_touched(self, cart_id: str, *, at: datetime) -> None:
        record = self._db.carts.get(cart_id)
        if record is not None and record.cart.touched_at is None:
            self._db.carts[cart_id] = replace(record, cart=replace(record.cart, touched_at=at))

    def mark_carts_touched(self, cart_ids: Sequence[str], *, at: datetime) -> None:
        for cart_id in cart_ids:
            self.mark_cart_touched(cart_id, at=at)


class InMemoryCatalogRepository:
    """
    Catalog items by (store, key) and stock watches by (cart, item key).
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def get_many(
        self, store_id: str, keys: Sequence[str], *, unread: bool = False
    ) -> dict[str, CatalogItem]:
        found: dict[str, CatalogItem] = {}
        for key in keys:
            if key.startswith("s:"):
                item = next(
                    (
                        i
                        for (s, _), i in sorted(self._db.catalog.items())
                        if s == store_id and i.sku == key[2:]
                    ),
                    None,
                )
            else:
                item = self._db.catalog.get((store_id, key))
            if item is not None and (unread or item.read_at is not None):
                found[key] = item
        return found

    def upsert(self, store_id: str, items: Sequence[CatalogItem]) -> None:
        for item in items:
            self._db.catalog[(store_id, item.key)] = merged(
                self._db.catalog.get((store_id, item.key)), item
            )

    def learn(self, store_id: str, items: Sequence[CatalogItem]) -> None:
        for item in items:
            self._db.catalog[(store_id, item.key)] = learned(
                self._db.catalog.get((store_id, item.key)), item
            )

    def watch(self, store_id: str, cart_id: str, watches: Sequence[StockWatch]) -> None:
        for key in [k for k in self._db.watches if k[0] == cart_id]:
            del self._db.watches[key]
        for watch in watches:
            self._db.watches[(cart_id, watch.item_key)] = watch

    def watches_for(self, store_id: str, item_keys: Sequence[str]) -> list[StockWatch]:
        wanted = set(item_keys)
        found = [
            w for w in self._db.watches.values() if w.store_id == store_id and w.item_key in wanted
        ]
        return sorted(found, key=lambda w: w.since)

    def unwatch(self, cart_id: str, item_keys: Sequence[str]) -> None:
        for key in item_keys:
            self._db.watches.pop((cart_id, key), None)

    def similar(
        self,
        store_id: str,
        item_keys: Sequence[str],
        *,
        categories: Sequence[str] = (),
        limit: int = 4,
    ) -> list[SimilarItem]:
        # Read through getattr: the page fields arrive on `CatalogItem` with the product feeds.
        named = self.get_many(store_id, item_keys).values()
        wanted = ({getattr(i, "category", None) for i in named} | set(categories)) - {None}
        left_out = {i.key for i in named}
        found = [
            SimilarItem(key=i.key, title=i.title or "", url=getattr(i, "url", None) or "")
            for (s, _), i in self._db.catalog.items()
            if s == store_id
            and i.key not in left_out
            and getattr(i, "category", None) in wanted
            and i.in_stock
            and not i.preorder
            and i.title
            and getattr(i, "url", None)
        ]
        return sorted(found, key=lambda f: (f.title, f.key))[:limit]

    def feed_page(self, store_id: str, *, after: str | None, limit: int) -> list[CatalogItem]:
        keys = sorted(
            k for s, k in self._db.catalog if s == store_id and (after is None or k > after)
        )
        return [self._db.catalog[(store_id, k)] for k in keys[:limit]]

    def feed_version(self, store_id: str) -> CatalogVersion:
        items = [i for (s, _), i in self._db.catalog.items() if s == store_id]
        return CatalogVersion(
            items=len(items),
            left_out=sum(1 for i in items if left_out(i) is not None),
            newest_update=max((i.updated_at for i in items), default=None),
            newest_read=max((i.read_at for i in items if i.read_at), default=None),
        )


class InMemoryOutboxRepository:
    """
    Outbox messages, one per touch.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def add(self, message: OutboxMessage) -> str:
        existing = self.by_touch(message.touch_id)
        if existing is not None:
            return existing.id
        self._db.outbox[message.id] = message
        return message.id

    def add_many(self, messages: Sequence[OutboxMessage]) -> dict[str, str]:
        return {m.touch_id: self.add(m) for m in messages}

    def by_touch(self, touch_id: str) -> OutboxMessage | None:
        found = next((m for m in self._db.outbox.values() if m.touch_id == touch_id), None)
        return self._with_touch(found) if found is not None else None

    def list_for_store(
        self, store_id: str, *, cart_key: str | None, channel: Channel | None, limit: int
    ) -> list[OutboxMessage]:
        found = []
        for message in sorted(self._db.outbox.values(), key=lambda m: (m.created_at, m.id)):
            touch = self._db.touches.get(message.touch_id)
            record = self._db.carts.get(touch.cart_id) if touch is not None else None
            if message.store_id != store_id or (channel and message.channel is not channel):
                continue
            if cart_key is not None and (record is None or record.cart.key != cart_key):
                continue
            found.append(self._with_touch(message))
        return found[:limit]

    def page_for_store(
        self, store_id: str, *, filters: MessageFilters, limit: int, cursor: str | None
    ) -> MessagePage:
        return message_fakes.page(self._db, store_id, filters=filters, limit=limit, cursor=cursor)

    def summary(self, store_id: str, message_id: str) -> MessageSummary | None:
        found = message_fakes.summaries(self._db, store_id)
        return next((s for s in found if s.id == message_id), None)

    def get(self, store_id: str, message_id: str) -> OutboxMessage | None:
        message = self._db.outbox.get(message_id)
        if message is None or message.store_id != store_id:
            return None
        return self._with_touch(message)

    def _with_touch(self, message: OutboxMessage) -> OutboxMessage:
        touch = self._db.touches.get(message.touch_id)
        if touch is None:
            return message
        return replace(message, status=touch.status.value, sent_at=touch.sent_at)


class InMemoryDeliveryEventRepository:
    """
    Providers' reports, once per store, provider and event key.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def add(self, event: DeliveryEvent) -> bool:
        key = (event.store_id, event.provider, event.event_key)
        if any((e.store_id, e.provider, e.event_key) == key for e in self._db.deliveries):
            return False
        self._db.deliveries.append(event)
        return True

    def for_touch(self, touch_id: str) -> list[DeliveryEvent]:
        return [e for e in self._db.deliveries if e.touch_id == touch_id]


class InMemoryShortLinkRepository:
    """
    Short links by code; one per touch.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def add(self, link: ShortLink) -> ShortLink | None:
        existing = self.for_touch(link.touch_id)
        if existing is None and link.code not in self._db.short_links:
            self._db.short_links[link.code] = link
            return link
        return existing

    def for_touch(self, touch_id: str) -> ShortLink | None:
        return next((k for k in self._db.short_links.values() if k.touch_id == touch_id), None)

    def get(self, code: str) -> ShortLink | None:
        return self._db.short_links.get(code)


class InMemoryOfferRepository:
    """
    Offers by id; unique per store by code and per enrollment by offer key.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def add(self, record: OfferRecord) -> OfferRecord | None:
        record = replace(record, code=record.code.upper())
        for existing in self._db.offers.values():
            if (existing.enrollment_id, existing.offer_key) == (
                record.enrollment_id,
                record.offer_key,
            ):
                return existing
        if self.by_code(record.store_id, record.code) is not None:
            return None
        self._db.offers[record.id] = record
        return record

    def save(self, record: OfferRecord) -> None:
        self._db.offers[record.id] = record

    def get(self, offer_id: str) -> OfferRecord | None:
        return self._db.offers.get(offer_id)

    def by_code(self, store_id: str, code: str) -> OfferRecord | None:
        wanted = code.strip().upper()
        return next(
            (o for o in self._db.offers.values() if (o.store_id, o.code) == (store_id, wanted)),
            None,
        )

    def for_enrollment(self, enrollment_id: str) -> list[OfferRecord]:
        found = [o for o in self._db.offers.values() if o.enrollment_id == enrollment_id]
        return sorted(found, key=lambda o: (o.created_at, o.id))

    def given_since(self, store_id: str, contact_id: str, since: datetime) -> int:
        return sum(
            1
            for o in self._db.offers.values()
            if (o.store_id, o.contact_id) == (store_id, contact_id)
            and o.created_at >= since
            and o.status in GIVEN
        )

    def waiting(self, *, now: datetime, limit: int) -> list[OfferRecord]:
        found = [
            o
            for o in self._db.offers.values()
            if o.status is OfferStatus.PENDING and (o.retry_at is None or o.retry_at <= now)
        ]
        return sorted(found, key=lambda o: (o.created_at, o.id))[:limit]

    def to_revoke(self, *, now: datetime, limit: int) -> list[OfferRecord]:
        live = (OfferStatus.ACTIVE, OfferStatus.SUPERSEDED)
        found = [
            o
            for o in self._db.offers.values()
            if (
                (o.status in live and o.expires_at <= now)
                or o.status in (OfferStatus.SUPERSEDED, OfferStatus.EXPIRED)
            )
            and (o.retry_at is None or o.retry_at <= now)
        ]
        return sorted(found, key=lambda o: (o.expires_at, o.id))[:limit]


class InMemoryPartnerRepository:
    """
    Partner programs, unique per store and name, and their pools (codes in upload order).
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def add(self, program: PartnerProgram) -> bool:
        if self.get(program.store_id, program.name) is not None:
            return False
        self._db.partner_programs[program.id] = program
        return True

    def save(self, program: PartnerProgram) -> None:
        self._db.partner_programs[program.id] = program

    def get(self, store_id: str, name: str) -> PartnerProgram | None:
        return next(
            (
                p
                for p in self._db.partner_programs.values()
                if (p.store_id, p.name) == (store_id, name)
            ),
            None,
        )

    def list(self, store_id: str) -> list[PartnerProgram]:
        found = [p for p in self._db.partner_programs.values() if p.store_id == store_id]
        return sorted(found, key=lambda p: p.name)

    def add_codes(self, program_id: str, codes: Sequence[str]) -> int:
        known = {r.code for r in self._db.partner_codes if r.program_id == program_id}
        added = 0
        for code in codes:
            if code not in known:
                known.add(code)
                self._db.partner_codes.append(PartnerCodeRow(program_id=program_id, code=code))
                added += 1
        return added

    def take_code(self, program_id: str, at: datetime) -> str | None:
        check_aware(at, "at")
        for row in self._db.partner_codes:
            if row.program_id == program_id and row.assigned_at is None:
                row.assigned_at = at
                return row.code
        return None

    def link_code(self, program_id: str, code: str, offer_id: str) -> None:
        for row in self._db.partner_codes:
            if (row.program_id, row.code) == (program_id, code):
                row.offer_id = offer_id

    def codes_available(self, program_id: str) -> int:
        return sum(
            1
            for r in self._db.partner_codes
            if r.program_id == program_id and r.assigned_at is None
        )

    def totals(self, store_id: str, source: str) -> PartnerTotals:
        found = [
            o for o in self._db.offers.values() if (o.store_id, o.source) == (store_id, source)
        ]
        return PartnerTotals(
            given=sum(1 for o in found if o.status in GIVEN),
            redeemed=sum(1 for o in found if o.redeemed_at is not None),
            discount_total=sum((o.discount_amount or Decimal(0) for o in found), Decimal(0)),
        )


class InMemoryMessageTemplateRepository:
    """
    Stores' own templates, keyed by store, name, channel and locale.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def list_for_store(self, store_id: str) -> list[MessageTemplate]:
        return [t for k, t in sorted(self._db.templates.items()) if k[0] == store_id]

    def for_name(self, store_id: str, name: str, channel: Channel) -> list[MessageTemplate]:
        return [t for t in self.list_for_store(store_id) if t.name == name and t.channel is channel]

    def save(self, template: MessageTemplate) -> None:
        key = (template.store_id, template.name, template.channel.value, template.locale)
        self._db.templates[key] = template

    def delete(self, store_id: str, name: str, channel: Channel, locale: str | None) -> int:
        gone = [
            k
            for k in self._db.templates
            if k[:3] == (store_id, name, channel.value) and locale in (None, k[3])
        ]
        for key in gone:
            del self._db.templates[key]
        return len(gone)


class InMemoryAudienceSyncRepository:
    """
    What each ad network holds of each audience, like `SqlAudienceSyncRepository`.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def held(self, store_id: str, audience: str, network: str) -> list[SyncedIdentifier]:
        return [
            SyncedIdentifier(kind=key[3], identifier=key[4], contact_id=contact_id)
            for key, (contact_id, held) in self._db.audience_syncs.items()
            if key[:3] == (store_id, audience, network) and held
        ]

    def mark_added(
        self,
        store_id: str,
        audience: str,
        network: str,
        entries: Sequence[SyncedIdentifier],
        *,
        at: datetime,
    ) -> None:
        check_aware(at, "at")
        for entry in entries:
            key = (store_id, audience, network, entry.kind, entry.identifier)
            self._db.audience_syncs[key] = (entry.contact_id, True)

    def mark_removed(
        self,
        store_id: str,
        audience: str,
        network: str,
        identifiers: Sequence[tuple[str, str]],
        *,
        at: datetime,
    ) -> None:
        check_aware(at, "at")
        for kind, identifier in identifiers:
            key = (store_id, audience, network, kind, identifier)
            if key in self._db.audience_syncs:
                self._db.audience_syncs[key] = (self._db.audience_syncs[key][0], False)


class InMemoryAudienceReachRepository:
    """
    Current memberships with each person's flags, like `SqlAudienceReachRepository`: contacts
    with their active enrollment's group and hand-off, visitors with their own flags only.
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def current_members(
        self, store_id: str, audience: str, *, now: datetime
    ) -> list[AudienceMemberFacts]:
        check_aware(now, "now")
        found = []
        for held in self._current(store_id, audience, now):
            contact = self._db.contacts.get(held.contact_id or "")
            if contact is None or contact.store_id != store_id:
                continue
            active = next(
                (
                    e
                    for e in self._db.enrollments.values()
                    if e.contact_id == contact.id and e.status is EnrollmentStatus.ACTIVE
                ),
                None,
            )
            found.append(
                AudienceMemberFacts(
                    contact=contact,
                    offer_eligible=held.offer_eligible,
                    entered_at=held.entered_at,
                    expires_at=held.expires_at,
                    active_group=active.group if active else None,
                    handed_to_ads=active is not None and self._handed(active.id),
                )
            )
        return sorted(found, key=lambda f: (f.entered_at, f.contact.id))

    def current_visitors(
        self, store_id: str, audience: str, *, now: datetime
    ) -> list[AudienceVisitorFacts]:
        check_aware(now, "now")
        found = [
            AudienceVisitorFacts(
                visitor_id=visitor.id,
                anonymous_id=visitor.anonymous_id,
                is_bot=visitor.is_bot,
                ads_opt_out_at=visitor.ads_opt_out_at,
                entered_at=held.entered_at,
                expires_at=held.expires_at,
            )
            for held in self._current(store_id, audience, now)
            if (visitor := self._db.visitors.get(held.visitor_id or "")) is not None
            and visitor.store_id == store_id
        ]
        return sorted(found, key=lambda f: (f.entered_at, f.visitor_id))

    def _current(self, store_id: str, audience: str, now: datetime) -> list[AudienceMembership]:
        return [
            m
            for m in self._db.memberships
            if (m.store_id, m.audience) == (store_id, audience)
            and m.left_at is None
            and m.expires_at > now
        ]

    def _handed(self, enrollment_id: str) -> bool:
        return any(
            t.enrollment_id == enrollment_id
            and t.status is TouchStatus.SKIPPED
            and t.reason == "handed_to_ads"
            for t in self._db.touches.values()
        )


class InMemoryAudienceRepository:
    """
    Audience definitions and memberships, like `SqlAudienceRepository` (one current
    membership per person and audience).
    """

    def __init__(self, database: FakeDatabase) -> None:
        self._db = database

    def list_for_store(self, store_id: str) -> list[StoredAudience]:
        return sorted(
            (a for (store, _), a in self._db.audiences.items() if store == store_id),
            key=lambda a: a.name,
        )

    def replace(self, store_id: str, audiences: Sequence[StoredAudience]) -> None:
        self._db.audiences = {k: v for k, v in self._db.audiences.items() if k[0] != store_id}
        for audience in audiences:
            self._db.audiences[(store_id, audience.name)] = audience

    def enter(self, membership: AudienceMembership) -> bool:
        check_aware(membership.entered_at, "entered_at")
        for index, held in enumerate(self._db.memberships):
            same = (held.store_id, held.audience, held.contact_id, held.visitor_id) == (
                membership.store_id,
                membership.audience,
                membership.contact_id,
                membership.visitor_id,
            )
            if same and held.left_at is None:
                self._db.memberships[index] = replace(
                    held,
                    expires_at=max(held.expires_at, membership.expires_at),
                    cart_id=membership.cart_id,
                    offer_eligible=membership.offer_eligible,
                )
                return False
        self._db.memberships.append(membership)
        return True

    def leave(
        self,
        store_id: str,
        *,
        contact_ids: Sequence[str] = (),
        visitor_ids: Sequence[str] = (),
        reason: str,
        at: datetime,
    ) -> int:
        ended = 0
        for index, held in enumerate(self._db.memberships):
            mine = held.contact_id in contact_ids or held.visitor_id in visitor_ids
            if held.store_id == store_id and mine and held.left_at is None:
                self._db.memberships[index] = replace(held, left_at=at, left_reason=reason)
                ended += 1
        return ended

    def expire(self, *, now: datetime, limit: int) -> int:
        held = self._db.memberships
        due = sorted(
            (i for i, m in enumerate(held) if m.left_at is None and m.expires_at <= now),
            key=lambda i: (held[i].contact_id is None, held[i].expires_at),
        )[:limit]
        for index in due:
            held = self._db.memberships[index]
            self._db.memberships[index] = replace(
                held, left_at=held.expires_at, left_reason="window_ended"
            )
        return len(due)

    def contact_memberships(
        self, store_id: str, audience: str, *, current_only: bool = True
    ) -> list[AudienceMembership]:
        return self._of(store_id, audience, current_only, contacts=True)

    def visitor_memberships(
        self, store_id: str, audience: str, *, current_only: bool = True
    ) -> list[AudienceMembership]:
        return self._of(store_id, audience, current_only, contacts=False)

    def visitor_may_enter(self, visitor_id: str) -> bool:
        row = self._db.visitors.get(visitor_id)
        return row is not None and not row.is_bot and row.ads_opt_out_at is None

    def _of(
        self, store_id: str, audience: str, current_only: bool, *, contacts: bool
    ) -> list[AudienceMembership]:
        return sorted(
            (
                m
                for m in self._db.memberships
                if (m.store_id, m.audience) == (store_id, audience)
                and (m.contact_id is not None) == contacts
                and (m.left_at is None or not current_only)
            ),
            key=lambda m: m.entered_at,
        )


class FakeChannel:
    """
    A channel that records every call, answers like an idempotent provider, and can be told
    to fail (`fail_with`) the next calls.
    """

    def __init__(self) -> None:
        self.sent: dict[str, OutboundMessage] = {}
        self.calls: list[str] = []
        self.fail_with: list[SendFailed] = []

    def send(self, message: OutboundMessage, idempotency_key: str) -> str:
        self.calls.append(idempotency_key)
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.setdefault(idempotency_key, message)
        return f"fake-{idempotency_key}"

    def status(self, idempotency_key: str) -> str | None:
        return f"fake-{idempotency_key}" if idempotency_key in self.sent else None


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
    retention: InMemoryRetentionRepository
    unmapped_events: InMemoryUnmappedEventRepository
    suppressions: InMemorySuppressionRepository
    inbound_messages: InMemoryInboundMessageRepository
    sms_confirmations: InMemorySmsConfirmationRepository
    flows: InMemoryFlowRepository
    enrollments: InMemoryEnrollmentRepository
    touches: InMemoryTouchRepository
    outbox: InMemoryOutboxRepository
    catalog: InMemoryCatalogRepository
    short_links: InMemoryShortLinkRepository
    offers: InMemoryOfferRepository
    partners: InMemoryPartnerRepository
    deliveries: InMemoryDeliveryEventRepository
    templates: InMemoryMessageTemplateRepository
    audiences: InMemoryAudienceRepository
    audience_syncs: InMemoryAudienceSyncRepository
    audience_reach: InMemoryAudienceReachRepository
    reports: FakeReportRepository
    report_snapshots: FakeReportSnapshotRepository
    webhooks: InMemoryWebhookRepository
    operators: InMemoryOperatorRepository
    dashboard: InMemoryDashboardRepository
    store_pages: InMemoryStorePagesRepository
    alerts: InMemoryStoreAlertRepository

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
        self.retention = InMemoryRetentionRepository(self._working)
        self.unmapped_events = InMemoryUnmappedEventRepository(self._working)
        self.suppressions = InMemorySuppressionRepository(self._working)
        self.inbound_messages = InMemoryInboundMessageRepository(self._working)
        self.sms_confirmations = InMemorySmsConfirmationRepository(self._working)
        self.flows = InMemoryFlowRepository(self._working)
        self.enrollments = InMemoryEnrollmentRepository(self._working)
        self.touches = InMemoryTouchRepository(self._working)
        self.outbox = InMemoryOutboxRepository(self._working)
        self.catalog = InMemoryCatalogRepository(self._working)
        self.short_links = InMemoryShortLinkRepository(self._working)
        self.offers = InMemoryOfferRepository(self._working)
        self.partners = InMemoryPartnerRepository(self._working)
        self.deliveries = InMemoryDeliveryEventRepository(self._working)
        self.templates = InMemoryMessageTemplateRepository(self._working)
        self.audiences = InMemoryAudienceRepository(self._working)
        self.audience_syncs = InMemoryAudienceSyncRepository(self._working)
        self.audience_reach = InMemoryAudienceReachRepository(self._working)
        self.webhooks = InMemoryWebhookRepository(self._working)
        self.operators = InMemoryOperatorRepository(self._working)
        self.dashboard = InMemoryDashboardRepository(self._working)
        self.store_pages = InMemoryStorePagesRepository(self._working)
        self.alerts = InMemoryStoreAlertRepository(self._working)
        # Canned answers, shared by every unit of work (read only: nothing to roll back).
        self.reports = self.database.reports
        self.report_snapshots = self.database.report_snapshots
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._working = None

    def pipelined(self) -> AbstractContextManager[None]:
        return nullcontext()

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
            self.retention,
            self.suppressions,
            self.inbound_messages,
            self.sms_confirmations,
            self.flows,
            self.enrollments,
            self.touches,
            self.outbox,
            self.catalog,
            self.short_links,
            self.offers,
            self.partners,
            self.deliveries,
            self.templates,
            self.audiences,
            self.audience_syncs,
            self.audience_reach,
            self.webhooks,
            self.alerts,
            self.operators,
            self.dashboard,
            self.store_pages,
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
