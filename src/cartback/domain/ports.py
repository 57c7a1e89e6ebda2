"""
The ports the services use: repositories and the unit of work. `store/` implements them on
SQLAlchemy; the unit tests implement them in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

from cartback.domain.cart import Cart
from cartback.domain.catalog import CatalogItem, WatchReason
from cartback.domain.consent import Channel, ConsentFact, LedgerUpdate, Purpose
from cartback.domain.conversions import TrackedEvent
from cartback.domain.delivery import DeliveryEvent
from cartback.domain.discounts import OfferStatus
from cartback.domain.events import Stage
from cartback.domain.feeds import CatalogVersion
from cartback.domain.flows import OfferKind
from cartback.domain.health import AlertKind, Arrivals, StoreAlert
from cartback.domain.identity import ContactRef
from cartback.domain.ingest import EventOutcome, Inbound
from cartback.domain.operators import Operator, OperatorSession
from cartback.domain.origin import CartOrigin
from cartback.domain.report_snapshots import ReportSnapshotRepository
from cartback.domain.reports import ReportRepository
from cartback.domain.store_pages import StorePagesRepository
from cartback.domain.stores import KeyKind, Store
from cartback.domain.time import check_aware
from cartback.domain.touches import EnrollmentStatus, Group, SendFailed, TouchStatus
from cartback.domain.webhooks import AttemptResult, OutboundEvent, WebhookDelivery, WebhookEndpoint


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
    #: When their browser said no to ads (GPC, denied cookies): never in an ad audience.
    ads_opt_out_at: datetime | None = None

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


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredKey:
    """
    One of a store's API keys as the dashboard lists it: never the key, never its digest.
    """

    kind: KeyKind
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


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
    def keys(self, store_id: str) -> list[StoredKey]:
        """
        The store's keys, revoked ones too, newest first.
        """
        ...

    def revoke_keys(self, *, store_id: str, kind: KeyKind, at: datetime) -> int:
        """
        Revoke the store's active keys of a kind; how many were.
        """
        ...

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
    def tracked_after(
        self, store_id: str, *, after_id: int, names: Sequence[str], limit: int
    ) -> list[TrackedEvent]:
        """
        The store's `track` events stored after raw event `after_id` whose names (as
        `event_key` matches them) are among `names`, oldest first, at most `limit`, each with
        its visitor's robot and no-to-ads flags (never anything from `contacts`).
        """
        ...

    def last_id(self, store_id: str) -> int:
        """
        The id of the store's latest raw event (0 when it has none).
        """
        ...


class VisitorRepository(Protocol):
    """
    Anonymous ids, one row per store and id.
    """

    def ensure(self, store_id: str, seen: Mapping[str, VisitorSeen]) -> dict[str, Visitor]: ...
    def link(self, visitor_id: str, contact_id: str) -> None: ...
    def mark_ads_opt_out(self, visitor_ids: Sequence[str], *, at: datetime) -> None:
        """
        Set `ads_opt_out_at` where it is not set yet (the first time is kept).
        """
        ...


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
    def get_many(self, contact_ids: Sequence[str]) -> dict[str, Contact]:
        """
        The contacts of any store by id (the dispatch pass reads its touches' contacts at once).
        """
        ...

    def mark_ads_opt_out(self, contact_id: str, *, at: datetime) -> None:
        """
        Set `ads_opt_out_at` unless it is set already (the first time is kept).
        """
        ...


class CartRepository(Protocol):
    """
    Carts with their lines, and the abandonment timers on them.
    """

    def get_many(self, store_id: str, keys: Sequence[str]) -> dict[str, CartRecord]: ...
    def get(self, store_id: str, key: str) -> CartRecord | None: ...
    def get_by_ids(self, cart_ids: Sequence[str]) -> dict[str, CartRecord]:
        """
        Carts by id, locked for writing like `get_many` (in id order on PostgreSQL).
        """
        ...

    def find_open(
        self, store_id: str, *, visitor_id: str | None = None, contact_id: str | None = None
    ) -> CartRecord | None: ...
    def find_by_checkout(self, store_id: str, checkout_id: str) -> CartRecord | None: ...
    def add(
        self,
        records: Sequence[CartRecord],
        *,
        now: datetime,
        origins: Mapping[str, CartOrigin] | None = None,
    ) -> None:
        """
        Insert new carts with their lines, and the device and country `origins` knows of
        (by cart id) in the same rows.
        """
        ...

    def update(self, records: Sequence[CartRecord], *, now: datetime) -> None: ...
    def save_states(self, records: Sequence[CartRecord], *, now: datetime) -> None: ...
    def flag_bot(
        self, store_id: str, *, visitor_id: str | None = None, contact_id: str | None = None
    ) -> None: ...
    def assign_contact(self, store_id: str, visitor_id: str, contact_id: str) -> None: ...
    def set_contact(self, store_id: str, key: str, contact_id: str) -> None:
        """
        Give one cart (by its platform key) to a contact, touching no other column.
        """
        ...

    def origins(self, cart_ids: Sequence[str]) -> dict[str, CartOrigin]:
        """
        The stored device and country of these carts (those with neither are left out).
        """
        ...

    def set_origins(self, origins: Mapping[str, CartOrigin]) -> None:
        """
        Write carts' device and country, touching no other column.
        """
        ...

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
    def abandoned_between(
        self, store_id: str, *, since: datetime, until: datetime, limit: int
    ) -> list[CartRecord]:
        """
        Up to `limit` carts whose latest abandonment (`abandoned_at`) is in `[since, until)`,
        whatever became of them since, oldest abandonment first.
        """
        ...


class OrderRepository(Protocol):
    """
    Orders, unique per store and order key.
    """

    def upsert(self, order: OrderRecord, *, now: datetime) -> None: ...
    def set_status(self, store_id: str, order_key: str, status: str, *, now: datetime) -> bool: ...
    def has_ordered(self, store_id: str, contact_id: str) -> bool:
        """
        Whether the contact placed any order in the store (an existing customer).
        """
        ...

    def count_for_contact(self, store_id: str, contact_id: str) -> int:
        """
        The contact's orders in the store that stand (not cancelled).
        """
        ...

    def ordered_among(self, store_id: str, contact_ids: Sequence[str]) -> set[str]:
        """
        Those of the contacts who ordered at the store (`has_ordered` for many).
        """
        ...

    def counts_among(self, store_id: str, contact_ids: Sequence[str]) -> dict[str, int]:
        """
        `count_for_contact` for many: each contact's orders that stand (0 included).
        """
        ...

    def placed_between(
        self, store_id: str, *, since: datetime, until: datetime
    ) -> list[OrderRecord]:
        """
        The store's orders placed in `[since, until)`, oldest first.
        """
        ...


class ConsentRepository(Protocol):
    """
    The append-only consent ledger: entries never change, except the stamp of the latest
    time a source repeated the latest one.
    """

    def current(self, contact_id: str) -> dict[tuple[Channel, Purpose], ConsentFact]: ...
    def current_many(
        self, contact_ids: Sequence[str]
    ) -> dict[str, dict[tuple[Channel, Purpose], ConsentFact]]:
        """
        `current` for each of the contacts.
        """
        ...

    def record(
        self, store_id: str, contact_id: str, ledger: LedgerUpdate, *, now: datetime
    ) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class PersonalData:
    """
    Everything held about one person, table by table; each row is a mapping of its stored
    fields (the API turns it into the documented export shape). `carts` rows carry `lines`.
    """

    contact: Mapping[str, Any]
    visitors: list[Mapping[str, Any]]
    carts: list[Mapping[str, Any]]
    orders: list[Mapping[str, Any]]
    consents: list[Mapping[str, Any]]
    suppressions: list[Mapping[str, Any]]
    inbound_messages: list[Mapping[str, Any]]
    sms_confirmations: list[Mapping[str, Any]]
    raw_events: list[Mapping[str, Any]]
    #: Discount codes given to them, and their ad audiences (as a contact and as a visitor).
    offers: list[Mapping[str, Any]] = field(default_factory=list)
    audiences: list[Mapping[str, Any]] = field(default_factory=list)


class PrivacyRepository(Protocol):
    """
    Export and erasure: a person's data everywhere, or a whole shop's.

    A person's raw events are those of their visitors' anonymous ids, of their user id, and
    those whose payload mentions one of `mentions` (their email, phone forms, user id).
    """

    def identifiers(self, store_id: str, contact_id: str) -> ContactRef | None: ...
    def personal_data(
        self, store_id: str, contact_id: str, mentions: Sequence[str]
    ) -> PersonalData | None: ...
    def erase_contact(
        self, store_id: str, contact_id: str, mentions: Sequence[str]
    ) -> dict[str, int]:
        """
        Delete the contact, their visitors, consent entries, replies, SMS confirmations and raw
        events, and unlink their carts and orders; rows affected per table. An empty
        `contact_id` erases only the raw events mentioning `mentions`.
        """
        ...

    def erase_store_data(self, store_id: str) -> int: ...


class RetentionRepository(Protocol):
    """
    Purging what a store keeps only for a while: anonymous carts (no contact, no order) and raw
    events. Each call removes at most `limit` rows, so a purge is many short transactions.
    """

    def expired(self, store_id: str, *, before: datetime) -> dict[str, int]:
        """
        How many rows of each kind (`carts`, `raw_events`) a purge would remove now.
        """
        ...

    def purge_carts(self, store_id: str, *, before: datetime, limit: int) -> int: ...
    def purge_raw_events(self, store_id: str, *, before: datetime, limit: int) -> int: ...


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


@dataclass(frozen=True, kw_only=True, slots=True)
class Suppression:
    """
    An address no flow may message on a channel, and why. `address` is the normalised email or
    E.164 number, or `sha256:<hex>` of it once its owner was erased (still blocking, no longer
    readable).
    """

    store_id: str
    channel: Channel
    address: str
    reason: str  # unsubscribed, hard_bounce, complaint, sms_stop, manual
    source: str
    created_at: datetime


class SuppressionRepository(Protocol):
    """
    The suppression list, one row per store, channel and address.
    """

    def add(self, suppression: Suppression) -> bool:
        """
        Add it unless the address is already suppressed on the channel; True if added.
        """
        ...

    def remove(self, store_id: str, channel: Channel, address: str) -> bool: ...
    def is_suppressed(self, store_id: str, channel: Channel, address: str) -> bool:
        """
        Whether the address, or its erased (hashed) form, is on the list.
        """
        ...

    def suppressed_among(
        self, store_id: str, channel: Channel, addresses: Sequence[str]
    ) -> set[str]:
        """
        Those of `addresses` that `is_suppressed` says are suppressed.
        """
        ...

    def get(self, store_id: str, channel: Channel, address: str) -> Suppression | None:
        """
        The entry for the address (or its erased form) on the channel, if any.
        """
        ...

    def list_recent(
        self, store_id: str, *, limit: int, channel: Channel | None = None
    ) -> list[Suppression]: ...
    def hash_addresses(self, store_id: str, addresses: Sequence[str]) -> int:
        """
        Replace these addresses by their hashed form (erasure); the count changed.
        """
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class InboundMessage:
    """
    Something a shopper sent back (an SMS reply), kept for the merchant to read.
    """

    id: str
    store_id: str
    channel: Channel
    provider_id: str
    sender: str
    body: str
    keyword: str | None
    contact_id: str | None
    received_at: datetime


class InboundMessageRepository(Protocol):
    """
    Replies, unique per store and provider id (a redelivered webhook adds nothing).
    """

    def add(self, message: InboundMessage) -> bool: ...
    def list_recent(self, store_id: str, *, limit: int) -> list[InboundMessage]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class SmsConfirmation:
    """
    SMS consent asked for under double opt-in, waiting for the shopper's YES. The claim's words
    and evidence are kept so the grant written on YES proves what was agreed to.
    """

    id: int | None
    store_id: str
    contact_id: str
    phone: str
    purpose: Purpose
    text: str
    text_version: str | None
    source: str
    client_ip: str | None
    user_agent: str | None
    requested_at: datetime
    confirmed_at: datetime | None = None


class SmsConfirmationRepository(Protocol):
    """
    Pending SMS double opt-in requests.
    """

    def add(self, confirmation: SmsConfirmation) -> int: ...
    def pending(self, store_id: str, phone: str) -> list[SmsConfirmation]:
        """
        The unconfirmed requests for a number, oldest first.
        """
        ...

    def confirm(self, confirmation_id: int, *, at: datetime) -> None: ...
    def discard_pending(self, store_id: str, phone: str) -> int:
        """
        Drop the number's unconfirmed requests (the shopper said STOP); the count dropped.
        """
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredFlow:
    """
    An installed flow: its parsed definition (`domain.flows.flow_json`) and the whole file it
    came from (`source`, the same on every flow of one apply, so the file can be shown back and
    parsed again). `version` counts the store's applies.
    """

    store_id: str
    name: str
    version: int
    source: str
    definition: Mapping[str, Any]
    priority: int
    enabled: bool
    created_at: datetime
    updated_at: datetime


class FlowRepository(Protocol):
    """
    A store's installed flows, unique per store and name; only the current version is kept.
    """

    def list_for_store(self, store_id: str) -> list[StoredFlow]:
        """
        The store's flows, highest priority first, then by name.
        """
        ...

    def get(self, store_id: str, name: str) -> StoredFlow | None: ...
    def replace(self, store_id: str, flows: Sequence[StoredFlow]) -> None:
        """
        Make `flows` the store's flows: others are deleted, these inserted or updated.
        """
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredAudience:
    """
    An installed audience: its parsed definition (`domain.audiences.audience_json`) and the
    whole file it came from (`source`, the same on every audience of one apply). `version`
    counts the store's applies.
    """

    store_id: str
    name: str
    version: int
    source: str
    definition: Mapping[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class AudienceMembership:
    """
    One person's time in an audience: a known contact (`contact_id`) or an anonymous visitor
    (`visitor_id`), never both (they live in separate tables). Current while `left_at` is None.
    """

    store_id: str
    audience: str
    contact_id: str | None = None
    visitor_id: str | None = None
    cart_id: str | None = None
    #: The audience's offer rules held at the last entry; None: the audience has no offer.
    offer_eligible: bool | None = None
    entered_at: datetime
    expires_at: datetime
    left_at: datetime | None = None
    left_reason: str | None = None

    def __post_init__(self) -> None:
        if (self.contact_id is None) == (self.visitor_id is None):
            raise ValueError("a membership is a contact's or a visitor's, exactly one")
        check_aware(self.entered_at, "entered_at")
        check_aware(self.expires_at, "expires_at")


class AudienceRepository(Protocol):
    """
    A store's audience definitions, and the memberships of contacts and of anonymous visitors
    (kept in separate tables, never joined).
    """

    def list_for_store(self, store_id: str) -> list[StoredAudience]:
        """
        The store's installed audiences, by name.
        """
        ...

    def replace(self, store_id: str, audiences: Sequence[StoredAudience]) -> None:
        """
        Make `audiences` the store's audiences: others are deleted.
        """
        ...

    def enter(self, membership: AudienceMembership) -> bool:
        """
        Add a current membership, or, when the person is a current member already, extend it
        (the later `expires_at`, the new cart and offer eligibility). True if a row was added.
        """
        ...

    def leave(
        self,
        store_id: str,
        *,
        contact_ids: Sequence[str] = (),
        visitor_ids: Sequence[str] = (),
        reason: str,
        at: datetime,
    ) -> int:
        """
        End every current membership of these contacts and visitors; how many ended.
        """
        ...

    def expire(self, *, now: datetime, limit: int) -> int:
        """
        End up to `limit` current memberships whose `expires_at` is due (`left_at` is the
        expiry, reason `window_ended`); how many ended.
        """
        ...

    def contact_memberships(
        self, store_id: str, audience: str, *, current_only: bool = True
    ) -> list[AudienceMembership]:
        """
        An audience's known contacts (`audience_members`), oldest entry first.
        """
        ...

    def visitor_memberships(
        self, store_id: str, audience: str, *, current_only: bool = True
    ) -> list[AudienceMembership]:
        """
        An audience's anonymous visitors (`audience_visitors`), oldest entry first.
        """
        ...

    def visitor_may_enter(self, visitor_id: str) -> bool:
        """
        False for a robot's visitor, or one whose browser said no to ads.
        """
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class EnrollmentRecord:
    """
    A contact's run through one flow for one cart, and the trigger it started from (the
    cart's stage and abandonment time, for `schedule.replacement`).
    """

    id: str
    store_id: str
    contact_id: str
    cart_id: str
    flow: str
    flow_version: int
    group: Group
    status: EnrollmentStatus
    stage: Stage
    triggered_at: datetime
    started_at: datetime
    reason: str | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TouchRecord:
    """
    One step's message for an enrollment, with the lease of a send in flight.
    """

    id: str
    store_id: str
    enrollment_id: str
    cart_id: str
    step: int
    channel: Channel
    template: str
    status: TouchStatus
    due_at: datetime
    created_at: datetime
    updated_at: datetime
    variant: str | None = None
    reason: str | None = None
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    provider_id: str | None = None
    #: What the provider said after taking it (delivery receipt, bounce): when, and any error.
    delivered_at: datetime | None = None
    provider_error: str | None = None
    #: A text's segments and their estimated cost (`cost_currency`), as sent.
    segments: int | None = None
    cost_estimate: Decimal | None = None
    cost_currency: str | None = None
    #: The first person's click on its restore link. Written only by `record_click`, never
    #: by `save`, so a send recorded after a click does not erase it.
    clicked_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class CartTouch:
    """
    A touch as the cart read API shows it (with its flow's name).
    """

    touch: TouchRecord
    flow: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DkimKey:
    """
    A store's DKIM signing key: the signing domain (`d=`), the selector (`s=`) and the private
    key (PEM), opened for the channel that signs.
    """

    domain: str
    selector: str
    private_key: str

    def __repr__(self) -> str:
        return f"DkimKey(domain={self.domain!r}, selector={self.selector!r})"


@dataclass(frozen=True, kw_only=True, slots=True)
class EmailEnvelope:
    """
    What an email carries beyond its text: the HTML part and the headers the channel writes
    (and DKIM-signs, `List-Unsubscribe*` included).
    """

    html: str
    #: `From`: "Store <orders@store.example>".
    sender: str
    reply_to: str | None
    #: `Message-ID` on the store's domain, from the touch id: "<tch_…@store.example>".
    message_id: str
    #: `List-Unsubscribe`: "<https://…/u/token>, <mailto:…>"; `List-Unsubscribe-Post` is fixed.
    list_unsubscribe: str
    dkim: DkimKey | None = None

    def headers(self) -> dict[str, str]:
        """
        The headers, in the order they are written.
        """
        found = {
            "From": self.sender,
            "Message-ID": self.message_id,
            "List-Unsubscribe": self.list_unsubscribe,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        if self.reply_to:
            found["Reply-To"] = self.reply_to
        return found


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboundMessage:
    """
    A rendered message for a channel to deliver: the text (every channel), the email's HTML and
    headers (`email`), a text's status callback URL (`status_callback`).
    """

    store_id: str
    touch_id: str
    channel: Channel
    to: str
    subject: str | None
    text: str
    email: EmailEnvelope | None = None
    status_callback: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxMessage:
    """
    A message the `outbox` channel kept instead of sending, with its touch's state.
    """

    id: str
    store_id: str
    touch_id: str
    channel: Channel
    to: str
    subject: str | None
    text: str
    created_at: datetime
    html: str | None = None
    headers: dict[str, str] | None = None
    status: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageFilters:
    """
    What the dashboard's messages list is narrowed to; None means any.
    """

    channel: Channel | None = None
    #: The touch's status (`sent`, `delivered`, `failed`…).
    status: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageSummary:
    """
    A kept message as the dashboard lists it (no bodies): where it came from (cart, flow,
    step) and its touch's state.
    """

    id: str
    touch_id: str
    cart_id: str
    cart_key: str
    flow: str
    step: int
    channel: Channel
    to: str
    subject: str | None
    status: str
    reason: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, kw_only=True, slots=True)
class MessagePage:
    """
    One page of a store's messages, and the cursor of the next (None at the end).
    """

    summaries: list[MessageSummary]
    next_cursor: str | None


class EnrollmentRepository(Protocol):
    """
    Enrollments; at most one active per contact.
    """

    def add(self, record: EnrollmentRecord) -> None: ...
    def get(self, enrollment_id: str) -> EnrollmentRecord | None: ...
    def get_many(self, enrollment_ids: Sequence[str]) -> dict[str, EnrollmentRecord]: ...
    def active_for_contact(self, contact_id: str) -> EnrollmentRecord | None: ...
    def for_cart(self, cart_id: str) -> list[EnrollmentRecord]: ...
    def end(
        self, enrollment_id: str, *, status: EnrollmentStatus, reason: str | None, at: datetime
    ) -> None: ...
    def complete_held_out(self, *, now: datetime, limit: int) -> int:
        """
        Complete up to `limit` active control-group enrollments whose every withheld touch is
        due by `now` (their sequence would have ended); the count.
        """
        ...


class TouchRepository(Protocol):
    """
    Touches, the worker's claim on due ones, and the facts the guards read around them.
    """

    def add(self, records: Sequence[TouchRecord]) -> None: ...
    def get(self, touch_id: str) -> TouchRecord | None: ...
    def get_many(self, touch_ids: Sequence[str]) -> dict[str, TouchRecord]: ...
    def has_sent(self, contact_id: str, channel: Channel) -> bool:
        """
        Whether a message on `channel` ever went to the contact (the first text says how to
        stop).
        """
        ...

    def by_provider_id(self, store_id: str, provider_id: str) -> TouchRecord | None:
        """
        The store's touch a provider knows by this message id (status callbacks, bounces).
        """
        ...

    def save(self, record: TouchRecord) -> None:
        """
        Write the touch's changing columns (status, reason, due_at, attempts, lease, sent).
        """
        ...

    def save_many(self, records: Sequence[TouchRecord]) -> None:
        """
        `save` for each record, in one round trip.
        """
        ...

    def claim_due(self, *, now: datetime, limit: int) -> list[TouchRecord]:
        """
        Lock up to `limit` `scheduled`/`deferred` touches due at `now`, and `sending` touches
        whose lease ran out, oldest first (SKIP LOCKED on PostgreSQL).
        """
        ...

    def extend_leases(self, touch_ids: Sequence[str], *, owner: str, until: datetime) -> set[str]:
        """
        Move the lease of those in-flight touches that `owner` still holds to `until` (the
        heartbeat of a long pass); the ids renewed (the others are no longer its own).
        """
        ...

    def next_due_at(self) -> datetime | None: ...
    def cart_key(self, cart_id: str) -> str | None:
        """
        The platform key of a cart by its id (to read it through the cart repository).
        """
        ...

    def for_enrollment(self, enrollment_id: str) -> list[TouchRecord]: ...
    def for_enrollments(self, enrollment_ids: Sequence[str]) -> dict[str, list[TouchRecord]]:
        """
        `for_enrollment` for each of the enrollments (an empty list for one without touches).
        """
        ...

    def with_open_touches(self, enrollment_ids: Sequence[str]) -> set[str]:
        """
        Those of the enrollments with a touch still to go (`scheduled`, `deferred`) or in
        flight (`sending`, `ambiguous`).
        """
        ...

    def cancel_pending(self, enrollment_id: str, *, reason: str, now: datetime) -> int:
        """
        Cancel the enrollment's `scheduled` and `deferred` touches with `reason`; the count.
        """
        ...

    def record_click(self, touch_id: str, at: datetime) -> bool:
        """
        Stamp the touch's first click on its restore link; True when this call stamped it
        (False when it was clicked before, or there is no such touch).
        """
        ...

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
        """
        End the active enrollments an order ends (its cart's, its contact's, started at or
        before it was placed) and cancel their pending touches with `reason`; the enrollments
        ended. On PostgreSQL rows a worker holds right now are skipped: that worker's guards
        see the order and cancel them.
        """
        ...

    def sent_times(self, contact_id: str, *, since: datetime) -> list[datetime]:
        """
        When the contact was sent anything (any flow, any channel) at or after `since`.
        """
        ...

    def sent_times_many(
        self, contact_ids: Sequence[str], *, since: datetime
    ) -> dict[str, list[datetime]]:
        """
        `sent_times` for each of the contacts.
        """
        ...

    def unengaged_emails(self, store_id: str, contact_id: str) -> int:
        """
        Emails sent to the contact (any flow) since their last activity on any of their carts:
        the ones the shopper did not come back after.
        """
        ...

    def for_cart(self, store_id: str, cart_id: str) -> list[CartTouch]: ...
    def for_carts(self, store_id: str, cart_ids: Sequence[str]) -> dict[str, list[CartTouch]]:
        """
        The touches of several carts at once (a page of the carts list), by cart id.
        """
        ...

    def order_matches(
        self, store_id: str, *, cart_id: str, contact_id: str, since: datetime
    ) -> set[str]:
        """
        How orders placed at or after `since` match: `cart` (this cart), `email`/`phone`
        (the same contact, who is unique per store by email and phone).
        """
        ...

    def order_matches_many(
        self, store_id: str, queries: Sequence[tuple[str, str, datetime]]
    ) -> list[set[str]]:
        """
        `order_matches` for each `(cart_id, contact_id, since)`, in order.
        """
        ...

    def mark_cart_touched(self, cart_id: str, *, at: datetime) -> None:
        """
        Stamp the cart's first sent touch (an order after it makes the cart `recovered`).
        """
        ...

    def mark_carts_touched(self, cart_ids: Sequence[str], *, at: datetime) -> None:
        """
        `mark_cart_touched` for each of the carts.
        """
        ...


class DeliveryEventRepository(Protocol):
    """
    Providers' reports about sent messages, each kept once.
    """

    def add(self, event: DeliveryEvent) -> bool:
        """
        Keep the report unless one with its store, provider and event key is kept; True if new.
        """
        ...

    def for_touch(self, touch_id: str) -> list[DeliveryEvent]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class MessageTemplate:
    """
    A store's own template for one name, channel and locale (`*`: any): Jinja2 sources.
    """

    store_id: str
    name: str
    channel: Channel
    locale: str
    subject: str | None
    preheader: str | None
    html: str | None
    text: str
    updated_at: datetime

    def __post_init__(self) -> None:
        check_aware(self.updated_at, "updated_at")


class MessageTemplateRepository(Protocol):
    """
    Stores' own message templates, one per store, name, channel and locale.
    """

    def list_for_store(self, store_id: str) -> list[MessageTemplate]:
        """
        The store's templates by name, channel and locale.
        """
        ...

    def for_name(self, store_id: str, name: str, channel: Channel) -> list[MessageTemplate]: ...
    def save(self, template: MessageTemplate) -> None:
        """
        Insert the template, or replace the one with its store, name, channel and locale.
        """
        ...

    def delete(self, store_id: str, name: str, channel: Channel, locale: str | None) -> int:
        """
        Delete the template for one locale (every locale when None); how many went.
        """
        ...


class OutboxRepository(Protocol):
    """
    The `outbox` channel's messages, one per touch.
    """

    def add(self, message: OutboxMessage) -> str:
        """
        Store the message unless its touch has one already; the stored message's id.
        """
        ...

    def add_many(self, messages: Sequence[OutboxMessage]) -> dict[str, str]:
        """
        `add` for each message; the stored messages' ids by touch id.
        """
        ...

    def by_touch(self, touch_id: str) -> OutboxMessage | None: ...
    def list_for_store(
        self, store_id: str, *, cart_key: str | None, channel: Channel | None, limit: int
    ) -> list[OutboxMessage]: ...
    def page_for_store(
        self, store_id: str, *, filters: MessageFilters, limit: int, cursor: str | None
    ) -> MessagePage:
        """
        The store's messages, newest first, in keyset pages.

        Raises:
            InvalidInput: the cursor is not one this listing made.
        """
        ...

    def summary(self, store_id: str, message_id: str) -> MessageSummary | None: ...
    def get(self, store_id: str, message_id: str) -> OutboxMessage | None:
        """
        The message with its bodies, when it is this store's.
        """
        ...


class MessageChannel(Protocol):
    """
    A way to deliver messages (`outbox`, SMTP, Twilio). The touch id is the idempotency key:
    a second `send` with the same key delivers nothing new and answers the same provider id.
    """

    def send(self, message: OutboundMessage, idempotency_key: str) -> str:
        """
        Deliver `message`; the provider's id for it.

        Raises:
            SendFailed: the provider refused or could not be reached (`transient` says which).
        """
        ...

    def status(self, idempotency_key: str) -> str | None:
        """
        The provider id of the message sent under this key, or None if none was sent (the
        lookup that resolves an `ambiguous` touch).
        """
        ...


@runtime_checkable
class BatchMessageChannel(MessageChannel, Protocol):
    """
    A channel that also takes many messages in one call (the `outbox` stores them in one
    transaction). Each message keeps its own idempotency key and its own result.
    """

    def send_many(self, messages: Sequence[tuple[OutboundMessage, str]]) -> list[str | SendFailed]:
        """
        Deliver each `(message, idempotency_key)`; for each, in order, the provider's id or
        the `SendFailed` that `send` would have raised for it.
        """
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class StockWatch:
    """
    An abandoned cart's line that the catalog said was unavailable or a pre-order when the
    cart was left (`since`): a catalog change to it may trigger a `back_in_stock` or `launch`
    flow.
    """

    store_id: str
    cart_id: str
    item_key: str
    reason: WatchReason
    since: datetime

    def __post_init__(self) -> None:
        check_aware(self.since, "since")


class CatalogRepository(Protocol):
    """
    The store's catalog items (one per store and item key) and the stock watches on them.
    """

    def get_many(
        self, store_id: str, keys: Sequence[str], *, unread: bool = False
    ) -> dict[str, CatalogItem]:
        """
        The items known by any of `keys` (`v:`/`p:` item keys, or `s:<sku>`), by requested key;
        those whose stock was never read (learned from events) only when `unread`.
        """
        ...

    def upsert(self, store_id: str, items: Sequence[CatalogItem]) -> None:
        """
        Insert the items or overwrite the stored ones, keeping the prices and page details a
        new item does not carry (`catalog.merged`).
        """
        ...

    def learn(self, store_id: str, items: Sequence[CatalogItem]) -> None:
        """
        Write what storefront events showed of these items (`catalog.learned`), never their
        stock.
        """
        ...

    def watch(self, store_id: str, cart_id: str, watches: Sequence[StockWatch]) -> None:
        """
        Make `watches` the cart's stock watches (the latest abandonment's), replacing any.
        """
        ...

    def watches_for(self, store_id: str, item_keys: Sequence[str]) -> list[StockWatch]: ...
    def unwatch(self, cart_id: str, item_keys: Sequence[str]) -> None: ...
    def similar(
        self,
        store_id: str,
        item_keys: Sequence[str],
        *,
        categories: Sequence[str] = (),
        limit: int = 4,
    ) -> list[SimilarItem]:
        """
        Items in stock in `categories` or sharing a category with any of `item_keys` (`v:`/`p:`
        keys, or `s:<sku>`), those items left out, with a title and a page to link to; by title.
        """
        ...

    def feed_page(self, store_id: str, *, after: str | None, limit: int) -> list[CatalogItem]:
        """
        Up to `limit` of the store's items in item-key order, after the key `after`.
        """
        ...

    def feed_version(self, store_id: str) -> CatalogVersion:
        """
        The store's item count, how many the feeds leave out, and the newest `updated_at`
        and `read_at`, in one cheap query.
        """
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class SimilarItem:
    """
    A catalog item offered instead of a cart's items that no longer sell: what a page shows
    and links to.
    """

    key: str
    title: str
    url: str
    image_url: str | None = None
    price: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ShortLink:
    """
    A text's short restore link (`/s/{code}`): the code stands for one touch until it expires.
    """

    code: str
    store_id: str
    touch_id: str
    created_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        check_aware(self.created_at, "created_at")
        check_aware(self.expires_at, "expires_at")


class ShortLinkRepository(Protocol):
    """
    Short links, unique by code and by touch.
    """

    def add(self, link: ShortLink) -> ShortLink | None:
        """
        Store the link unless its touch has one already (then that one is answered) or its
        code is taken by another touch (then None: draw another code).
        """
        ...

    def for_touch(self, touch_id: str) -> ShortLink | None: ...
    def get(self, code: str) -> ShortLink | None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferRecord:
    """
    A discount code given to one enrollment (see `tables.offers`).
    """

    id: str
    store_id: str
    code: str
    kind: OfferKind
    value: Decimal
    currency: str
    source: str
    offer_key: str
    enrollment_id: str
    contact_id: str
    cart_id: str
    flow: str
    step: int
    status: OfferStatus
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    reason: str | None = None
    platform_ref: str | None = None
    attempts: int = 0
    retry_at: datetime | None = None
    redeemed_at: datetime | None = None
    order_key: str | None = None
    discount_amount: Decimal | None = None
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("expires_at", "created_at", "updated_at", "retry_at"):
            check_aware(getattr(self, name), name)
        check_aware(self.redeemed_at, "redeemed_at")
        check_aware(self.revoked_at, "revoked_at")

    def valid_at(self, now: datetime) -> bool:
        """
        The code can be used now: live on the platform (or for Cartback) and not expired.
        """
        return self.status is OfferStatus.ACTIVE and now < self.expires_at


class OfferRepository(Protocol):
    """
    Offers, unique by store and code and by enrollment and offer key.
    """

    def add(self, record: OfferRecord) -> OfferRecord | None:
        """
        Store the offer unless its enrollment has one with the same `offer_key` (then that one
        is answered) or its code is taken in the store (then None: draw another code).
        """
        ...

    def save(self, record: OfferRecord) -> None: ...
    def get(self, offer_id: str) -> OfferRecord | None: ...
    def by_code(self, store_id: str, code: str) -> OfferRecord | None:
        """
        The offer with this code (codes compare upper-cased, as shoppers type them).
        """
        ...

    def for_enrollment(self, enrollment_id: str) -> list[OfferRecord]:
        """
        The enrollment's offers, oldest first.
        """
        ...

    def given_since(self, store_id: str, contact_id: str, since: datetime) -> int:
        """
        Offers given to the contact since then (any status in `discounts.GIVEN`).
        """
        ...

    def waiting(self, *, now: datetime, limit: int) -> list[OfferRecord]:
        """
        Pending offers whose `retry_at` has come (or never set), oldest first.
        """
        ...

    def to_revoke(self, *, now: datetime, limit: int) -> list[OfferRecord]:
        """
        Active or superseded offers past `expires_at`, superseded ones at once, and expired
        ones not yet revoked (a platform that failed to remove them), oldest first.
        """
        ...


class CodeSource(StrEnum):
    """
    Where a partner program's codes come from.
    """

    #: Codes the partner uploaded (`partner_codes`), each handed out once.
    POOL = "pool"
    #: A joint discount: a code created on the store's own platform, like the store's offers.
    JOINT = "joint"


@dataclass(frozen=True, kw_only=True, slots=True)
class PartnerProgram:
    """
    A co-marketing offer (see `tables.partner_programs`): for the carts its `segment`
    expression selects and its `eligibility` admits, between `starts_at` and `ends_at`.
    """

    id: str
    store_id: str
    name: str
    partner: str
    segment: str
    eligibility: str | None = None
    kind: OfferKind
    #: Percent (0 to 100) or an amount in `currency`; 0 for free shipping.
    value: Decimal
    currency: str
    code_source: CodeSource
    #: How long a code given to a shopper stays valid.
    expires_in: timedelta
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    enabled: bool = True
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        for name in ("starts_at", "ends_at", "created_at", "updated_at"):
            check_aware(getattr(self, name), name)

    @property
    def source(self) -> str:
        """
        What its offers carry in `offers.source`.
        """
        return f"partner:{self.name}"

    def running_at(self, now: datetime) -> bool:
        """
        Enabled, started and not yet ended at `now`.
        """
        started = self.starts_at is None or self.starts_at <= now
        return self.enabled and started and (self.ends_at is None or now < self.ends_at)


@dataclass(frozen=True, kw_only=True, slots=True)
class PartnerTotals:
    """
    What a program's offers came to: codes given, codes an order used, and the discount those
    orders got (in the store's currency).
    """

    given: int
    redeemed: int
    discount_total: Decimal


class PartnerRepository(Protocol):
    """
    Partner programs, unique per store and name, and their code pools.
    """

    def add(self, program: PartnerProgram) -> bool:
        """
        Store the program; False (nothing stored) when the store has one with its name.
        """
        ...

    def save(self, program: PartnerProgram) -> None: ...
    def get(self, store_id: str, name: str) -> PartnerProgram | None: ...
    def list(self, store_id: str) -> list[PartnerProgram]:
        """
        The store's programs by name.
        """
        ...

    def add_codes(self, program_id: str, codes: Sequence[str]) -> int:
        """
        Add codes to the program's pool; how many were new (codes it has are ignored).
        """
        ...

    def take_code(self, program_id: str, at: datetime) -> str | None:
        """
        Hand out one free code of the pool, marked taken at `at`, or None when none is left.
        Two transactions never get the same code (PostgreSQL skips codes another transaction
        holds; SQLite's write lock serialises).
        """
        ...

    def link_code(self, program_id: str, code: str, offer_id: str) -> None:
        """
        Record which offer a taken code went to (once that offer is stored: a foreign key).
        """
        ...

    def codes_available(self, program_id: str) -> int: ...
    def totals(self, store_id: str, source: str) -> PartnerTotals:
        """
        The offers of one source (`partner:<name>`): given, redeemed and their discount.
        """
        ...


class AudiencePusher(Protocol):
    """
    One ad network's audience lists (a Meta Custom Audience, a Google Customer Match user
    list), changed in place. Identifiers are `(kind, hash)`: kind `email` or `phone`, hash the
    SHA-256 hex (64 lowercase digits) of the value normalised as that network documents. The
    adapter splits them into requests within the network's limits; adding what the list holds
    or removing what it lacks changes nothing there.
    """

    def add(self, list_id: str, identifiers: Sequence[tuple[str, str]]) -> None:
        """
        Put the identifiers in the network's list `list_id`.

        Raises:
            AdsError: the network refused (final) or could not take them now (transient).
        """
        ...

    def remove(self, list_id: str, identifiers: Sequence[tuple[str, str]]) -> None:
        """
        Take the identifiers out of the network's list `list_id`.

        Raises:
            AdsError: the network refused (final) or could not take them now (transient).
        """
        ...

    def close(self) -> None:
        """
        Release the adapter's connections.
        """
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncedIdentifier:
    """
    A hashed identifier an ad network holds in an audience (`tables.audience_syncs`), and the
    contact it came from (None once that contact was erased).
    """

    kind: str
    identifier: str
    contact_id: str | None


class AudienceSyncRepository(Protocol):
    """
    What each ad network holds of each audience, one row per hashed identifier.
    """

    def held(self, store_id: str, audience: str, network: str) -> list[SyncedIdentifier]:
        """
        The identifiers the network holds now (added and not removed).
        """
        ...

    def mark_added(
        self,
        store_id: str,
        audience: str,
        network: str,
        entries: Sequence[SyncedIdentifier],
        *,
        at: datetime,
    ) -> None:
        """
        Record that the network took these identifiers (a removed one is held again).
        """
        ...

    def mark_removed(
        self,
        store_id: str,
        audience: str,
        network: str,
        identifiers: Sequence[tuple[str, str]],
        *,
        at: datetime,
    ) -> None:
        """
        Record that the network let go of these `(kind, identifier)`s.
        """
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class AudienceMemberFacts:
    """
    A known contact currently in an audience, with what decides whether ads may reach them:
    the contact (address, bot flag, `ads_opt_out_at`) and their active enrollment, if any.
    """

    contact: Contact
    offer_eligible: bool | None
    entered_at: datetime
    expires_at: datetime
    #: The group of the contact's active enrollment (None: in no flow now).
    active_group: Group | None = None
    #: Whether a touch of that enrollment was skipped `handed_to_ads` (the flow let go).
    handed_to_ads: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class AudienceVisitorFacts:
    """
    An anonymous visitor currently in an audience, with its own flags (never a contact's).
    """

    visitor_id: str
    anonymous_id: str
    is_bot: bool
    ads_opt_out_at: datetime | None
    entered_at: datetime
    expires_at: datetime


class AudienceReachRepository(Protocol):
    """
    Reads of who is in an audience now (`left_at IS NULL AND expires_at > now`), each in one
    query per audience, for exports and pushes to ad networks.
    """

    def current_members(
        self, store_id: str, audience: str, *, now: datetime
    ) -> list[AudienceMemberFacts]:
        """
        The audience's current contacts with their flags and enrollment facts, oldest entry
        first.
        """
        ...

    def current_visitors(
        self, store_id: str, audience: str, *, now: datetime
    ) -> list[AudienceVisitorFacts]:
        """
        The audience's current anonymous visitors, oldest entry first; no contact details.
        """
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class CartFilters:
    """
    What the dashboard's carts list is narrowed to; None means any.
    """

    status: str | None = None
    stage: str | None = None
    abandoned_from: datetime | None = None
    abandoned_to: datetime | None = None
    has_contact: bool | None = None

    @property
    def by_abandonment(self) -> bool:
        """
        True when the list is ordered by abandonment time (an abandonment range is asked).
        """
        return self.abandoned_from is not None or self.abandoned_to is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class CartEvent:
    """
    A raw event that named a cart, as the dashboard's timeline shows it (no payload).
    """

    id: int
    source: str
    kind: str
    name: str | None
    occurred_at: datetime
    received_at: datetime
    outcome: str


class DashboardRepository(Protocol):
    """
    The dashboard's reads of a store's carts: filtered keyset pages and a cart's history.
    """

    def carts_page(
        self, store_id: str, *, filters: CartFilters, limit: int, cursor: str | None
    ) -> CartPage:
        """
        Newest first (by creation, or by abandonment when `filters.by_abandonment`).

        Raises:
            InvalidInput: the cursor is not one this listing made.
        """
        ...

    def cart(self, store_id: str, cart_id: str) -> CartRecord | None: ...
    def cart_events(self, store_id: str, cart_key: str, *, limit: int) -> list[CartEvent]: ...
    def cart_orders(self, store_id: str, cart_id: str) -> list[OrderRecord]: ...


class OperatorRepository(Protocol):
    """
    Dashboard operators (with the stores they may see) and their sessions.
    """

    def add(self, operator: Operator) -> None: ...
    def get(self, operator_id: str) -> Operator | None: ...
    def by_email(self, email: str) -> Operator | None: ...
    def list_all(self) -> list[Operator]: ...
    def save(self, operator: Operator) -> None:
        """
        Write the password hash, last login and disabled time (not the stores).
        """
        ...

    def add_session(self, session: OperatorSession) -> None: ...
    def session(self, digest: str) -> OperatorSession | None: ...
    def touch_session(self, digest: str, *, at: datetime) -> None: ...
    def delete_session(self, digest: str) -> None: ...
    def delete_sessions(self, operator_id: str) -> int: ...


class PasswordHasher(Protocol):
    """
    Slow, salted password hashes (argon2id in production).
    """

    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool:
        """
        True when the password matches; False on a mismatch or an unreadable hash.
        """
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...
    def waste(self, password: str) -> None:
        """
        Spend the time one `verify` takes, for a sign-in without an account.
        """
        ...


class WebhookRepository(Protocol):
    """
    Outbound webhook endpoints and their deliveries (`domain.webhooks`).
    """

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None: ...
    def endpoints(self, store_id: str) -> list[WebhookEndpoint]:
        """
        The store's endpoints, oldest first.
        """
        ...

    def endpoint(self, store_id: str, endpoint_id: str) -> WebhookEndpoint | None: ...
    def endpoints_by_id(self, endpoint_ids: Sequence[str]) -> dict[str, WebhookEndpoint]: ...
    def remove_endpoint(self, store_id: str, endpoint_id: str) -> bool:
        """
        Delete the endpoint and its deliveries; False when the store has no such endpoint.
        """
        ...

    def subscriptions(self, store_id: str) -> dict[str, tuple[str, ...]]:
        """
        The store's enabled endpoints by the event types they take, in one query.
        """
        ...

    def enqueue(self, event: OutboundEvent, endpoint_ids: Sequence[str], *, now: datetime) -> int:
        """
        A pending delivery of the event for each endpoint that still exists and is enabled
        (due at once); how many were written.
        """
        ...

    def any_due(self, *, now: datetime) -> bool:
        """
        Whether a pending delivery is due by `now` (a read, before taking the write lock).
        """
        ...

    def claim_due(self, *, now: datetime, limit: int, lease: timedelta) -> list[WebhookDelivery]:
        """
        Pending deliveries due by `now`, oldest due first, leased until `now + lease` (their
        next attempt moves there, so a worker that dies hands them on). PostgreSQL skips rows
        another worker holds.
        """
        ...

    def finish_attempt(self, delivery: WebhookDelivery, *, leased_until: datetime) -> bool:
        """
        Write an attempt's outcome (status, attempts, next attempt, last answer) if the
        delivery is still under this lease; False when it is not.
        """
        ...

    def mark_endpoint(self, endpoint_id: str, *, ok: bool, at: datetime) -> WebhookEndpoint | None:
        """
        Record an attempt's success (clears `failing_since`) or failure (sets it if unset);
        the endpoint after the change.
        """
        ...

    def disable_endpoint(self, endpoint_id: str, *, reason: str, at: datetime) -> None: ...
    def deliveries(self, store_id: str, endpoint_id: str, *, limit: int) -> list[WebhookDelivery]:
        """
        The endpoint's deliveries, newest first.
        """
        ...


class StoreAlertRepository(Protocol):
    """
    Store health alerts and the arrival history they are decided on.
    """

    def store_ids(self) -> list[str]: ...
    def open_alerts(self, store_id: str | None = None) -> list[StoreAlert]:
        """
        Unresolved alerts (of one store, or all), oldest first.
        """
        ...

    def open(self, alert: StoreAlert) -> StoreAlert | None:
        """
        Store a new open alert; None when the store has one of that kind open already.
        """
        ...

    def resolve(self, alert_id: int, *, at: datetime) -> bool:
        """
        Resolve an open alert; False when it was resolved already.
        """
        ...

    def arrivals(self, store_id: str, kind: AlertKind, *, since: datetime) -> Arrivals:
        """
        The hours since `since` with raw events (or orders placed), and the latest one.
        """
        ...


class Resolver(Protocol):
    """
    DNS: the addresses a host name stands for.
    """

    def resolve(self, host: str, port: int) -> list[str]:
        """
        Every address (text) the name resolves to; empty when it resolves to none.
        """
        ...


class WebhookTransport(Protocol):
    """
    Sends one webhook POST to an address already checked, never following redirects.
    """

    def post(
        self,
        *,
        url: str,
        host_header: str,
        server_name: str | None,
        headers: Mapping[str, str],
        body: bytes,
    ) -> AttemptResult:
        """
        POST to `url` (whose host is the checked address) with `Host: host_header` and, for
        TLS, `server_name` as SNI and certificate name. Never raises for network failures:
        they come back in `AttemptResult.error`.
        """
        ...


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
    def retention(self) -> RetentionRepository: ...
    @property
    def unmapped_events(self) -> UnmappedEventRepository: ...
    @property
    def suppressions(self) -> SuppressionRepository: ...
    @property
    def inbound_messages(self) -> InboundMessageRepository: ...
    @property
    def sms_confirmations(self) -> SmsConfirmationRepository: ...
    @property
    def flows(self) -> FlowRepository: ...
    @property
    def enrollments(self) -> EnrollmentRepository: ...
    @property
    def touches(self) -> TouchRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def deliveries(self) -> DeliveryEventRepository: ...
    @property
    def catalog(self) -> CatalogRepository: ...
    @property
    def templates(self) -> MessageTemplateRepository: ...
    @property
    def short_links(self) -> ShortLinkRepository: ...
    @property
    def offers(self) -> OfferRepository: ...
    @property
    def partners(self) -> PartnerRepository: ...
    @property
    def audience_reach(self) -> AudienceReachRepository: ...
    @property
    def audiences(self) -> AudienceRepository: ...
    @property
    def audience_syncs(self) -> AudienceSyncRepository: ...
    @property
    def reports(self) -> ReportRepository: ...
    @property
    def report_snapshots(self) -> ReportSnapshotRepository: ...
    @property
    def webhooks(self) -> WebhookRepository: ...
    @property
    def alerts(self) -> StoreAlertRepository: ...
    @property
    def operators(self) -> OperatorRepository: ...
    @property
    def dashboard(self) -> DashboardRepository: ...
    @property
    def store_pages(self) -> StorePagesRepository: ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def pipelined(self) -> AbstractContextManager[None]:
        """
        A block of writes whose results nobody reads: PostgreSQL is sent them together and
        answers once, instead of one round trip each. Nothing inside may read.
        """
        ...


class UnitOfWorkFactory(Protocol):
    """
    Makes a fresh unit of work; `read_only=True` promises it writes nothing, so SQLite need not
    take the write lock.
    """

    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...
