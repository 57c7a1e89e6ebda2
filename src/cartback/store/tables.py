"""
The schema. Every row belongs to a store; money is exact; times are aware UTC.

Anonymous visitor ids and contact details live in separate tables, linked only by id, so an
export of one never has to touch the other.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from cartback.store.types import Money, UTCDateTime, big_id, json_type

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = 32  # prefixed random ids such as st_k3j5…
KEY = 255  # identifiers chosen by platforms and SDKs

stores = Table(
    "stores",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("platform", String(20), nullable=False),
    Column("domains", json_type(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("country", String(2)),
    Column("abandon_after_seconds", Integer, nullable=False),
    Column("recovery_window_seconds", Integer, nullable=False),
    Column("settings", json_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Index(None, "store_id"),
)

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("sealed", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Index(None, "store_id"),
)

raw_events = Table(
    "raw_events",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("source", String(20), nullable=False),
    Column("idempotency_key", String(KEY), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("name", String(200)),
    Column("anonymous_id", String(KEY)),
    Column("user_id", String(KEY)),
    Column("cart_key", String(KEY)),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("outcome", String(20), nullable=False),
    # Plain JSON even on PostgreSQL: the log is written far more than it is queried, and
    # `json` keeps the text as sent instead of converting every event to JSONB.
    Column("payload", JSON(), nullable=False),
    UniqueConstraint("store_id", "source", "idempotency_key"),
    Index(None, "store_id", "received_at"),
    # The dashboard's timeline of one cart (events that named no cart stay out).
    Index(
        "ix_raw_events_store_cart",
        "store_id",
        "cart_key",
        "occurred_at",
        postgresql_where=text("cart_key IS NOT NULL"),
        sqlite_where=text("cart_key IS NOT NULL"),
    ),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(KEY)),
    Column("email", String(320)),
    Column("phone", String(20)),
    Column("is_bot", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # When the person's browser said no to ads (Global Privacy Control, or a denied cookie
    # consent): never put in an ad audience from then on.
    Column("ads_opt_out_at", UTCDateTime),
    UniqueConstraint("store_id", "user_id"),
    UniqueConstraint("store_id", "email"),
    UniqueConstraint("store_id", "phone"),
)

visitors = Table(
    "visitors",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("anonymous_id", String(KEY), nullable=False),
    Column("contact_id", String(ID), ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("user_agent", String(500)),
    Column("is_bot", Boolean, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("ads_opt_out_at", UTCDateTime),  # as on contacts
    UniqueConstraint("store_id", "anonymous_id"),
    Index(None, "contact_id"),
)

carts = Table(
    "carts",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("cart_key", String(KEY), nullable=False),
    Column("visitor_id", String(ID), ForeignKey("visitors.id", ondelete="SET NULL")),
    Column("contact_id", String(ID), ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("status", String(20), nullable=False),
    Column("stage", String(20), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", Money, nullable=False),
    Column("declared_total", Money),
    Column("item_count", Integer, nullable=False),
    Column("is_bot", Boolean, nullable=False),
    Column("last_activity_at", UTCDateTime),
    Column("check_at", UTCDateTime),
    Column("abandoned_at", UTCDateTime),
    Column("lost_at", UTCDateTime),
    Column("ordered_at", UTCDateTime),
    Column("touched_at", UTCDateTime),
    Column("order_id", String(KEY)),
    Column("checkout_id", String(KEY)),
    Column("payment_failure_reason", String(500)),
    Column("signals", json_type(), nullable=False),
    # Where the cart came from, for the report (`domain/origin.py`): the device kind, and the
    # country (ISO alpha-2) with its source (address, phone, locale), written at ingest.
    Column("device", String(10)),
    Column("country", String(2)),
    Column("country_source", String(10)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("store_id", "cart_key"),
    CheckConstraint("total >= 0", name="total_not_negative"),
    CheckConstraint("item_count >= 0", name="item_count_not_negative"),
    # The worker's claim reads only carts with a pending timer, in due order; carts without
    # one stay out of the index, so its cost follows the due work, not the table size.
    Index(
        "ix_carts_check_at_pending",
        "check_at",
        "id",
        postgresql_where=text("check_at IS NOT NULL"),
        sqlite_where=text("check_at IS NOT NULL"),
    ),
    Index(None, "store_id", "visitor_id", "last_activity_at"),
    # Most carts have no contact or checkout id yet; leaving them out keeps inserts cheap.
    Index(
        None,
        "store_id",
        "contact_id",
        "last_activity_at",
        postgresql_where=text("contact_id IS NOT NULL"),
        sqlite_where=text("contact_id IS NOT NULL"),
    ),
    Index(
        None,
        "store_id",
        "checkout_id",
        postgresql_where=text("checkout_id IS NOT NULL"),
        sqlite_where=text("checkout_id IS NOT NULL"),
    ),
    Index(None, "store_id", "created_at", "id"),
    # The dashboard's carts list filtered by abandonment time, newest first.
    Index(
        "ix_carts_store_abandoned",
        "store_id",
        "abandoned_at",
        "id",
        postgresql_where=text("abandoned_at IS NOT NULL"),
        sqlite_where=text("abandoned_at IS NOT NULL"),
    ),
)

cart_lines = Table(
    "cart_lines",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("cart_id", String(ID), ForeignKey("carts.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("product_id", String(KEY)),
    Column("variant_id", String(KEY)),
    Column("sku", String(KEY)),
    Column("name", String(500)),
    Column("variant_name", String(500)),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Money),
    Column("image_url", String(2048)),
    Column("url", String(2048)),
    Column("category", String(500)),
    CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    Index(None, "cart_id", "position"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("order_key", String(KEY), nullable=False),
    Column("cart_id", String(ID), ForeignKey("carts.id", ondelete="SET NULL")),
    Column("contact_id", String(ID), ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("status", String(20), nullable=False),
    Column("total", Money),
    Column("currency", String(3), nullable=False),
    Column("placed_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("store_id", "order_key"),
    Index(None, "cart_id"),
    # Health alerts (the latest order) and reports read a store's orders by time.
    Index("ix_orders_store_placed", "store_id", "placed_at"),
    # The guards ask whether a contact has ordered, and since when.
    Index(None, "contact_id"),
)

consent_ledger = Table(
    "consent_ledger",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", String(ID), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("text", Text, nullable=False),
    Column("source", String(40), nullable=False),
    Column("client_ip", String(45)),
    Column("user_agent", String(500)),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    # The latest time a source repeated this entry (a later checkout with the same flag):
    # a late-delivered older claim is judged against it, not against `occurred_at`.
    Column("confirmed_at", UTCDateTime, nullable=False),
    # Which version of the wording was shown (a widget's text id and locale, say), beside the
    # words themselves; and the language they were in.
    Column("text_version", String(64)),
    Column("locale", String(35)),
    Index(None, "contact_id", "channel", "purpose", "occurred_at"),
    # The dashboard's consent log: a store's entries, newest first, in keyset pages.
    Index("ix_consent_ledger_store_occurred", "store_id", "occurred_at", "id"),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
    Index(None, "heartbeat_at"),
)

# Track event names that no translator maps, counted per store and name, so a misspelt
# storefront event shows up the day it first arrives (`GET /v1/sources/unmapped`).
unmapped_events = Table(
    "unmapped_events",
    metadata,
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("store_id", "name"),
    CheckConstraint("count > 0", name="count_positive"),
)

# Addresses no flow may message again, whatever the consent ledger says: unsubscribes, hard
# bounces, complaints, SMS STOP. Kept apart from contacts so an erased person's suppression
# can survive as the bare address (the legally needed proof), or go with them.
suppressions = Table(
    "suppressions",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("address", String(320), nullable=False),
    Column("reason", String(30), nullable=False),
    Column("source", String(40), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("store_id", "channel", "address"),
)

# What shoppers wrote back (SMS replies other than keywords, for the merchant to read).
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("provider_id", String(64), nullable=False),
    Column("sender", String(320), nullable=False),
    Column("body", Text, nullable=False),
    Column("keyword", String(20)),
    Column("contact_id", String(ID), ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("store_id", "provider_id"),
    Index(None, "store_id", "received_at"),
)

# SMS double opt-in: consent asked for and not yet confirmed by a "YES" reply. The grant is
# written to the ledger only when the reply arrives, with the words of this request.
sms_confirmations = Table(
    "sms_confirmations",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", String(ID), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("text", Text, nullable=False),
    Column("text_version", String(64)),
    Column("source", String(40), nullable=False),
    Column("client_ip", String(45)),
    Column("user_agent", String(500)),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Index(None, "store_id", "phone"),
)

# Installed flow definitions, one row per store and flow name (only the current version; the
# version number counts the store's applies). `source` is the whole file the flow came from.
flows = Table(
    "flows",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("definition", json_type(), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("store_id", "name"),
    CheckConstraint("version > 0", name="version_positive"),
)

# A contact's run through a flow for one cart (issue #5). At most one ACTIVE enrollment per
# contact: a partial unique index on both databases (PostgreSQL and SQLite both have them),
# and the enrollment service checks it first so a replacement ends the old one before.
enrollments = Table(
    "enrollments",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", String(ID), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("cart_id", String(ID), ForeignKey("carts.id", ondelete="CASCADE"), nullable=False),
    Column("flow", String(64), nullable=False),
    Column("flow_version", Integer, nullable=False),
    Column("group", String(10), nullable=False),
    Column("status", String(12), nullable=False),
    Column("reason", String(30)),
    Column("stage", String(20), nullable=False),
    Column("triggered_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    CheckConstraint("\"group\" IN ('treated', 'control')", name="group_known"),
    Index(
        "uq_enrollments_active_contact",
        "contact_id",
        unique=True,
        postgresql_where=text("status = 'active'"),
        sqlite_where=text("status = 'active'"),
    ),
    Index(None, "cart_id"),
    # The frequency cap counts a contact's sends over all their enrollments.
    Index(None, "contact_id"),
)

# One message a flow step means for an enrollment: scheduled, then sent, skipped, deferred,
# cancelled or withheld (contract §6). `lease_*` guard the `sending` window of the send protocol.
touches = Table(
    "touches",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column(
        "enrollment_id",
        String(ID),
        ForeignKey("enrollments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("cart_id", String(ID), ForeignKey("carts.id", ondelete="CASCADE"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("variant", String(64)),
    Column("channel", String(10), nullable=False),
    Column("template", String(100), nullable=False),
    Column("status", String(12), nullable=False),
    Column("reason", String(30)),
    Column("due_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_owner", String(ID)),
    Column("lease_until", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("provider_id", String(255)),
    # What the provider said after taking the message (status callbacks, bounce webhooks).
    Column("delivered_at", UTCDateTime),
    Column("provider_error", String(500)),
    # SMS: the segments the text went as and their estimated cost in `cost_currency`.
    Column("segments", Integer),
    Column("cost_estimate", Money),
    Column("cost_currency", String(3)),
    # The first time a person (not a link scanner) followed this touch's restore link.
    Column("clicked_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    # The worker's claim reads only touches waiting to go, in due order.
    Index(
        "ix_touches_due_at_pending",
        "due_at",
        "id",
        postgresql_where=text("status IN ('scheduled', 'deferred')"),
        sqlite_where=text("status IN ('scheduled', 'deferred')"),
    ),
    # Sends whose worker may have died (in flight or already ambiguous): found by their lease.
    Index(
        "ix_touches_lease_until_in_flight",
        "lease_until",
        postgresql_where=text("status IN ('sending', 'ambiguous')"),
        sqlite_where=text("status IN ('sending', 'ambiguous')"),
    ),
    Index(None, "enrollment_id", "step"),
    Index(None, "cart_id"),
    # Status callbacks and bounce webhooks find the touch by the provider's message id.
    Index(
        None,
        "provider_id",
        postgresql_where=text("provider_id IS NOT NULL"),
        sqlite_where=text("provider_id IS NOT NULL"),
    ),
)

# The development channel: what would have been sent, stored instead (nothing leaves).
outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    # Cascades, so erasing a contact (enrollments → touches) erases what was sent to them too.
    Column(
        "touch_id",
        String(ID),
        ForeignKey("touches.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("channel", String(10), nullable=False),
    Column("to_address", String(320), nullable=False),
    Column("subject", String(500)),
    Column("body", Text, nullable=False),
    Column("html", Text),
    # The email's headers as they would have gone (From, Reply-To, Message-ID, List-Unsubscribe…).
    Column("headers", json_type()),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "store_id", "created_at"),
)

# The store's catalog (issue #5's catalog triggers; product feeds later): one row per product
# variant (`v:<id>`) or variant-less product (`p:<id>`). `read_at` is when Cartback last heard
# the platform's answer, `updated_at` when the platform changed the item.
catalog_items = Table(
    "catalog_items",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("item_key", String(KEY + 2), nullable=False),
    Column("product_id", String(KEY), nullable=False),
    Column("variant_id", String(KEY)),
    Column("sku", String(KEY)),
    Column("title", String(500)),
    Column("available", Boolean, nullable=False),
    Column("quantity", Integer),
    Column("preorder", Boolean, nullable=False),
    Column("release_at", UTCDateTime),
    # Price, the "was" price of an item on sale and the merchant's unit cost, in `currency`
    # (offers' eligibility and margin floor; product feeds), with what a page shows of it.
    Column("price", Money),
    Column("compare_at_price", Money),
    Column("cost", Money),
    Column("currency", String(3)),
    Column("category", String(500)),
    Column("url", String(2048)),
    Column("image_url", String(2048)),
    # What product feeds need besides (Google Merchant Center, Meta catalogs).
    Column("description", Text),
    Column("brand", String(200)),
    Column("gtin", String(50)),
    Column("mpn", String(70)),
    # Empty for an item only storefront events told of: its stock was never read.
    Column("read_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("store_id", "item_key"),
    Index(
        None,
        "store_id",
        "sku",
        postgresql_where=text("sku IS NOT NULL"),
        sqlite_where=text("sku IS NOT NULL"),
    ),
)

# An abandoned cart's line the catalog said was unavailable or a pre-order when the cart was
# left: a catalog write that changes the item looks here for carts to enroll.
stock_watches = Table(
    "stock_watches",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("cart_id", String(ID), ForeignKey("carts.id", ondelete="CASCADE"), nullable=False),
    Column("item_key", String(KEY + 2), nullable=False),
    Column("reason", String(12), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    UniqueConstraint("cart_id", "item_key"),
    Index(None, "store_id", "item_key"),
)

# A store's own message templates, overriding the built-in ones for one template name, channel
# and locale (`*` for every locale). Rendered in Jinja2's sandbox with autoescape.
message_templates = Table(
    "message_templates",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("locale", String(20), nullable=False),
    Column("subject", String(500)),
    Column("preheader", String(500)),
    Column("html", Text),
    Column("text", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("store_id", "name", "channel", "locale"),
)

# Short restore links for texts (`/s/{code}`): the code stands for one touch's restore link.
short_links = Table(
    "short_links",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column(
        "touch_id",
        String(ID),
        ForeignKey("touches.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# What providers told Cartback about messages after taking them (Twilio status callbacks, email
# bounce and complaint webhooks), once per provider event: a replayed callback changes nothing.
delivery_events = Table(
    "delivery_events",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("provider", String(20), nullable=False),
    Column("event_key", String(200), nullable=False),
    Column("provider_id", String(255)),
    Column("touch_id", String(ID), ForeignKey("touches.id", ondelete="SET NULL")),
    Column("outcome", String(20), nullable=False),
    Column("detail", String(500)),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("store_id", "provider", "event_key"),
    Index(None, "touch_id"),
)

# A discount code given to one enrollment (contact + cart + flow): created on the platform
# before the message that shows it goes, the same code in every channel of the enrollment.
# `offer_key` names the step's offer (kind, value, partner) so steps with the same offer share
# the code. `source` is `store` or `partner:<program>`. Status: pending (platform call not
# answered yet), active, failed (platform refused; `reason`), superseded, redeemed, expired,
# revoked (removed from the platform). `discount_amount` is what the order's discount cost.
offers = Table(
    "offers",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("code", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("value", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("source", String(80), nullable=False),
    Column("offer_key", String(200), nullable=False),
    Column(
        "enrollment_id",
        String(ID),
        ForeignKey("enrollments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("contact_id", String(ID), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("cart_id", String(ID), ForeignKey("carts.id", ondelete="CASCADE"), nullable=False),
    Column("flow", String(64), nullable=False),
    Column("step", Integer, nullable=False),
    Column("status", String(12), nullable=False),
    Column("reason", String(200)),
    Column("platform_ref", String(255)),
    Column("attempts", Integer, nullable=False),
    Column("retry_at", UTCDateTime),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("redeemed_at", UTCDateTime),
    Column("order_key", String(KEY)),
    Column("discount_amount", Money),
    Column("revoked_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("store_id", "code"),
    UniqueConstraint("enrollment_id", "offer_key"),
    # "At most N offers per contact per 90 days".
    Index(None, "store_id", "contact_id", "created_at"),
    # The worker's passes: codes waiting for the platform, and live codes past their expiry.
    Index(
        "ix_offers_open",
        "expires_at",
        postgresql_where=text("status IN ('pending', 'active', 'superseded', 'expired')"),
        sqlite_where=text("status IN ('pending', 'active', 'superseded', 'expired')"),
    ),
)

# Co-marketing: a partner's offer (another brand's code pool, or a joint discount created on
# this store's platform) for the carts its `segment` expression selects, with its own
# eligibility (`when`), expiry and reporting. Never stacked with the store's own offer.
partner_programs = Table(
    "partner_programs",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("partner", String(200), nullable=False),
    Column("segment", Text, nullable=False),
    Column("eligibility", Text),
    Column("kind", String(20), nullable=False),
    Column("value", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    # `pool`: codes uploaded by the partner; `joint`: created on the store's platform.
    Column("code_source", String(10), nullable=False),
    Column("expires_in_seconds", Integer, nullable=False),
    Column("starts_at", UTCDateTime),
    Column("ends_at", UTCDateTime),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("store_id", "name"),
)

# A partner's pool of codes, each handed out once (`assigned_at`; an erased offer does not
# put its code back).
partner_codes = Table(
    "partner_codes",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column(
        "program_id",
        String(ID),
        ForeignKey("partner_programs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("code", String(64), nullable=False),
    Column("offer_id", String(ID), ForeignKey("offers.id", ondelete="SET NULL")),
    Column("assigned_at", UTCDateTime),
    UniqueConstraint("program_id", "code"),
    Index(
        "ix_partner_codes_free",
        "program_id",
        "id",
        postgresql_where=text("assigned_at IS NULL"),
        sqlite_where=text("assigned_at IS NULL"),
    ),
)

# A store's audience definitions (YAML beside the flows; the shipped built-ins until a file is
# applied), one row per audience with its source text and parsed definition.
audiences = Table(
    "audiences",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("definition", json_type(), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("store_id", "name"),
)

# Known contacts in an audience: entered when their cart qualified, left (`left_at`, with the
# reason) on a purchase, an opt-out or the end of the window (`expires_at`). A contact is in an
# audience at most once at a time. `offer_eligible`: the audience's offer rules held at entry.
audience_members = Table(
    "audience_members",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("audience", String(64), nullable=False),
    Column("contact_id", String(ID), ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("cart_id", String(ID), ForeignKey("carts.id", ondelete="SET NULL")),
    Column("offer_eligible", Boolean),
    Column("entered_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("left_at", UTCDateTime),
    Column("left_reason", String(30)),
    Index(
        "uq_audience_members_current",
        "store_id",
        "audience",
        "contact_id",
        unique=True,
        postgresql_where=text("left_at IS NULL"),
        sqlite_where=text("left_at IS NULL"),
    ),
    Index(
        "ix_audience_members_expiring",
        "expires_at",
        postgresql_where=text("left_at IS NULL"),
        sqlite_where=text("left_at IS NULL"),
    ),
    Index(None, "contact_id"),
)

# Anonymous visitors in an audience, kept apart from contacts: no export joins the two.
audience_visitors = Table(
    "audience_visitors",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("audience", String(64), nullable=False),
    Column("visitor_id", String(ID), ForeignKey("visitors.id", ondelete="CASCADE"), nullable=False),
    Column("cart_id", String(ID), ForeignKey("carts.id", ondelete="SET NULL")),
    Column("offer_eligible", Boolean),
    Column("entered_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("left_at", UTCDateTime),
    Column("left_reason", String(30)),
    Index(
        "uq_audience_visitors_current",
        "store_id",
        "audience",
        "visitor_id",
        unique=True,
        postgresql_where=text("left_at IS NULL"),
        sqlite_where=text("left_at IS NULL"),
    ),
    Index(
        "ix_audience_visitors_expiring",
        "expires_at",
        postgresql_where=text("left_at IS NULL"),
        sqlite_where=text("left_at IS NULL"),
    ),
    Index(None, "visitor_id"),
)

# What an ad network holds of an audience: one hashed identifier per row (SHA-256 hex of the
# normalised email or phone, as that network hashes it), present until `removed_at`. A contact
# erased later leaves `contact_id` null: the next push removes the identifier from the network.
audience_syncs = Table(
    "audience_syncs",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("audience", String(64), nullable=False),
    Column("network", String(10), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("identifier", String(64), nullable=False),
    Column("contact_id", String(ID), ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("added_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime),
    UniqueConstraint("store_id", "audience", "network", "kind", "identifier"),
    Index(None, "contact_id"),
)

# Where a store wants to hear about what happened (outbound webhooks, Standard Webhooks signed):
# an https URL, the event types it takes, and its signing secret sealed with the service key.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("event_types", json_type(), nullable=False),
    Column("sealed_secret", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", String(200)),
    # Since when no attempt succeeded (null while it works): failing for days disables it.
    Column("failing_since", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "store_id"),
)

# One event for one endpoint, kept until delivered or given up: written in the transaction of
# the change it reports, sent by the worker with retries and back-off.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column(
        "endpoint_id",
        String(ID),
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_type", String(50), nullable=False),
    Column("payload", json_type(), nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_until", UTCDateTime),
    Column("last_status_code", Integer),
    Column("last_error", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Index(
        "ix_webhook_deliveries_pending",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
    Index(None, "endpoint_id", "created_at"),
)

# A store's health alarms: events or orders that stopped arriving for longer than usual.
store_alerts = Table(
    "store_alerts",
    metadata,
    Column("id", big_id(), primary_key=True, autoincrement=True),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("detail", String(500), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Index(
        "uq_store_alerts_open",
        "store_id",
        "kind",
        unique=True,
        postgresql_where=text("resolved_at IS NULL"),
        sqlite_where=text("resolved_at IS NULL"),
    ),
)

# The dashboard overview's report, computed by the worker (or a "Refresh now") and read in one
# row. The document is JSON text, not JSON/JSONB: the report may hold an unknown interval
# (`-Infinity`), which PostgreSQL's JSON types refuse and Python's `json` round-trips exactly.
report_snapshots = Table(
    "report_snapshots",
    metadata,
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    Column("period", String(10), nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
    Column("document", Text, nullable=False),
    PrimaryKeyConstraint("store_id", "period"),
    Index("ix_report_snapshots_period_computed_at", "period", "computed_at"),
)

# Dashboard operators: argon2 password hashes; `all_stores` or the stores in operator_stores.
operators = Table(
    "operators",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("all_stores", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime),
    Column("disabled_at", UTCDateTime),
)

operator_stores = Table(
    "operator_stores",
    metadata,
    Column(
        "operator_id", String(ID), ForeignKey("operators.id", ondelete="CASCADE"), nullable=False
    ),
    Column("store_id", String(ID), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("operator_id", "store_id"),
    Index(None, "store_id"),
)

# Dashboard sessions: the cookie carries a random token; only its SHA-256 digest is kept, with
# the session's CSRF token, so a logout or an expiry ends it on the server.
operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column(
        "operator_id", String(ID), ForeignKey("operators.id", ondelete="CASCADE"), nullable=False
    ),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index(None, "operator_id"),
)
