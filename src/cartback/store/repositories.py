"""
SQLAlchemy Core repositories for stores, events, visitors, contacts, orders and workers.
Carts, which carry the timers, are in `carts.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from cartback.domain.consent import Channel, ConsentFact, LedgerUpdate, Purpose
from cartback.domain.conversions import TrackedEvent
from cartback.domain.identity import ContactRef
from cartback.domain.ingest import EventOutcome, Inbound
from cartback.domain.ports import Contact, OrderRecord, StoredKey, Visitor, VisitorSeen
from cartback.domain.stores import KeyKind, Platform, Store
from cartback.kit.ids import new_id
from cartback.store._bulk import BulkWriter, PostgresRead, member_of
from cartback.store.tables import (
    api_keys,
    consent_ledger,
    contacts,
    orders,
    raw_events,
    stores,
    visitors,
    webhook_secrets,
    workers,
)


def dialect_insert(connection: Connection, table: Any) -> Any:
    """
    An INSERT that knows `ON CONFLICT` for the connection's database.
    """
    return insert_for(connection.dialect.name, table)


def insert_for(dialect: str, table: Any) -> Any:
    """
    An INSERT that knows `ON CONFLICT` for a database kind (`Dialect.name`).
    """
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


_STORE_BY_ID = select(stores).where(stores.c.id == bindparam("store_id"))
_READ_STORE = PostgresRead(_STORE_BY_ID)


class SqlStoreRepository:
    """
    Stores, API key digests and sealed webhook secrets.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, store: Store) -> None:
        self._db.execute(insert(stores).values(**_store_row(store)))

    def get(self, store_id: str) -> Store | None:
        if self._db.dialect.name == "postgresql":  # every ingested group's first read
            rows = _READ_STORE.mappings(self._db, store_id=store_id)
            return _store_from_row(rows[0]) if rows else None
        row = self._db.execute(_STORE_BY_ID, {"store_id": store_id}).mappings().first()
        return _store_from_row(row) if row else None

    def save(self, store: Store) -> None:
        row = _store_row(store)
        del row["id"], row["created_at"]
        self._db.execute(update(stores).where(stores.c.id == store.id).values(**row))

    def list_all(self) -> list[Store]:
        rows = self._db.execute(select(stores).order_by(stores.c.created_at)).mappings()
        return [_store_from_row(r) for r in rows]

    def add_key(
        self, *, store_id: str, kind: KeyKind, prefix: str, digest: str, created_at: datetime
    ) -> None:
        self._db.execute(
            insert(api_keys).values(
                store_id=store_id,
                kind=kind.value,
                prefix=prefix,
                digest=digest,
                created_at=created_at,
            )
        )

    def find_key(self, digest: str) -> tuple[str, KeyKind] | None:
        row = self._db.execute(
            select(api_keys.c.store_id, api_keys.c.kind).where(
                api_keys.c.digest == digest, api_keys.c.revoked_at.is_(None)
            )
        ).first()
        return (row.store_id, KeyKind(row.kind)) if row else None

    def keys(self, store_id: str) -> list[StoredKey]:
        rows = self._db.execute(
            select(api_keys.c.kind, api_keys.c.prefix, api_keys.c.created_at, api_keys.c.revoked_at)
            .where(api_keys.c.store_id == store_id)
            .order_by(api_keys.c.id.desc())
        )
        return [
            StoredKey(
                kind=KeyKind(r.kind),
                prefix=r.prefix,
                created_at=r.created_at,
                revoked_at=r.revoked_at,
            )
            for r in rows
        ]

    def revoke_keys(self, *, store_id: str, kind: KeyKind, at: datetime) -> int:
        result = self._db.execute(
            update(api_keys)
            .where(
                api_keys.c.store_id == store_id,
                api_keys.c.kind == kind.value,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        return int(result.rowcount)

    def add_webhook_secret(self, *, store_id: str, sealed: str, created_at: datetime) -> None:
        self._db.execute(
            insert(webhook_secrets).values(store_id=store_id, sealed=sealed, created_at=created_at)
        )

    def webhook_secrets(self, store_id: str) -> list[str]:
        rows = self._db.execute(
            select(webhook_secrets.c.sealed)
            .where(webhook_secrets.c.store_id == store_id, webhook_secrets.c.revoked_at.is_(None))
            .order_by(webhook_secrets.c.id.desc())
        )
        return [r.sealed for r in rows]


def _store_row(store: Store) -> dict[str, Any]:
    return {
        "id": store.id,
        "name": store.name,
        "platform": store.platform.value,
        "domains": list(store.domains),
        "currency": store.currency,
        "timezone": store.timezone,
        "country": store.country,
        "abandon_after_seconds": int(store.abandon_after.total_seconds()),
        "recovery_window_seconds": int(store.recovery_window.total_seconds()),
        "settings": dict(store.settings),
        "created_at": store.created_at,
        "updated_at": store.updated_at,
    }


def _store_from_row(row: Mapping[Any, Any]) -> Store:
    return Store(
        id=row["id"],
        name=row["name"],
        platform=Platform(row["platform"]),
        domains=tuple(row["domains"]),
        currency=row["currency"],
        timezone=row["timezone"],
        country=row["country"],
        abandon_after=timedelta(seconds=row["abandon_after_seconds"]),
        recovery_window=timedelta(seconds=row["recovery_window_seconds"]),
        settings=dict(row["settings"] or {}),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlEventRepository:
    """
    The raw event log; the unique key makes a replayed message a no-op.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add_new(
        self, store_id: str, events: Sequence[Inbound], *, received_at: datetime
    ) -> set[str]:
        if not events:
            return set()
        rows = [
            {
                "store_id": store_id,
                "source": e.source,
                "idempotency_key": e.message_id,
                "kind": e.kind.value,
                "name": e.name,
                "anonymous_id": e.anonymous_id,
                "user_id": e.user_id,
                "cart_key": e.cart_key,
                "occurred_at": e.occurred_at,
                "received_at": received_at,
                "outcome": EventOutcome.APPLIED.value,
                "payload": e.payload,
            }
            for e in events
        ]
        inserted = BulkWriter(self._db).insert(
            raw_events,
            rows,
            skip_conflicts_on=["store_id", "source", "idempotency_key"],
            returning=["idempotency_key"],
        )
        return {row[0] for row in inserted}

    def set_outcomes(
        self, store_id: str, source: str, outcomes: Mapping[str, EventOutcome]
    ) -> None:
        by_outcome: dict[EventOutcome, list[str]] = {}
        for message_id, outcome in outcomes.items():
            by_outcome.setdefault(outcome, []).append(message_id)
        for outcome, ids in by_outcome.items():
            self._db.execute(
                update(raw_events)
                .where(
                    raw_events.c.store_id == store_id,
                    raw_events.c.source == source,
                    member_of(self._db, raw_events.c.idempotency_key, ids),
                )
                .values(outcome=outcome.value)
            )

    def count(self, store_id: str) -> int:
        query = (
            select(func.count()).select_from(raw_events).where(raw_events.c.store_id == store_id)
        )
        return int(self._db.execute(query).scalar_one())

    def tracked_after(
        self, store_id: str, *, after_id: int, names: Sequence[str], limit: int
    ) -> list[TrackedEvent]:
        # `event_key` in SQL (without collapsing repeated spaces, which names rarely have).
        key = func.lower(func.replace(raw_events.c.name, "_", " "))
        query = (
            select(
                raw_events.c.id,
                raw_events.c.idempotency_key,
                raw_events.c.name,
                raw_events.c.anonymous_id,
                raw_events.c.occurred_at,
                raw_events.c.payload,
                visitors.c.is_bot,
                visitors.c.ads_opt_out_at,
            )
            .select_from(
                raw_events.outerjoin(
                    visitors,
                    (visitors.c.store_id == raw_events.c.store_id)
                    & (visitors.c.anonymous_id == raw_events.c.anonymous_id),
                )
            )
            .where(
                raw_events.c.store_id == store_id,
                raw_events.c.id > after_id,
                raw_events.c.kind == "track",
                key.in_(list(names)),
            )
            .order_by(raw_events.c.id)
            .limit(limit)
        )
        return [
            TrackedEvent(
                id=int(row.id),
                message_id=row.idempotency_key,
                name=row.name or "",
                anonymous_id=row.anonymous_id,
                occurred_at=row.occurred_at,
                payload=row.payload if isinstance(row.payload, dict) else {},
                visitor_is_bot=bool(row.is_bot),
                visitor_opted_out=row.ads_opt_out_at is not None,
            )
            for row in self._db.execute(query)
        ]

    def last_id(self, store_id: str) -> int:
        query = select(func.max(raw_events.c.id)).where(raw_events.c.store_id == store_id)
        return int(self._db.execute(query).scalar_one() or 0)


class SqlVisitorRepository:
    """
    Anonymous ids. Created on first sight; the last sighting is updated once per batch.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def ensure(self, store_id: str, seen: Mapping[str, VisitorSeen]) -> dict[str, Visitor]:
        """
        The visitors for these anonymous ids, created on first sight. Each known visitor's last
        sighting moves to its own latest time in the batch, never backwards.
        """
        if not seen:
            return {}
        if self._db.dialect.name == "postgresql":
            result, last_seen = self._insert_or_find(store_id, seen)
        else:
            result, last_seen = self._select(store_id, list(seen))
            missing = [a for a in seen if a not in result]
            if missing:
                result.update(self._insert(store_id, {a: seen[a] for a in missing}))
        raced = [a for a in seen if a not in result]  # inserted by a concurrent batch
        if raced:
            found, more_seen = self._select(store_id, raced)
            result.update(found)
            last_seen.update(more_seen)
        bots = [result[a].id for a, s in seen.items() if s.is_bot and not result[a].is_bot]
        if bots:
            self._db.execute(update(visitors).where(visitors.c.id.in_(bots)).values(is_bot=True))
            for a, v in list(result.items()):
                if v.id in bots:
                    result[a] = Visitor(
                        id=v.id, anonymous_id=a, contact_id=v.contact_id, is_bot=True
                    )
        moved = [
            {"_id": result[a].id, "_at": s.at}
            for a, s in seen.items()
            if a in last_seen and s.at > last_seen[a]
        ]
        if moved:
            self._db.execute(
                update(visitors)
                .where(
                    visitors.c.id == bindparam("_id"), visitors.c.last_seen_at < bindparam("_at")
                )
                .values(last_seen_at=bindparam("_at")),
                moved,
            )
        return result

    def _select(
        self, store_id: str, anonymous_ids: list[str]
    ) -> tuple[dict[str, Visitor], dict[str, datetime]]:
        rows = self._db.execute(
            select(
                visitors.c.id,
                visitors.c.anonymous_id,
                visitors.c.contact_id,
                visitors.c.is_bot,
                visitors.c.last_seen_at,
            ).where(
                visitors.c.store_id == store_id,
                member_of(self._db, visitors.c.anonymous_id, anonymous_ids),
            )
        ).all()
        found = {
            r.anonymous_id: Visitor(
                id=r.id, anonymous_id=r.anonymous_id, contact_id=r.contact_id, is_bot=r.is_bot
            )
            for r in rows
        }
        return found, {r.anonymous_id: r.last_seen_at for r in rows}

    def _insert_or_find(
        self, store_id: str, seen: Mapping[str, VisitorSeen]
    ) -> tuple[dict[str, Visitor], dict[str, datetime]]:
        """
        PostgreSQL: create the new visitors and read the known ones in one round trip; the
        known ones' last sightings come back too.
        """
        rows = self._new_rows(store_id, seen)
        found: dict[str, Visitor] = {}
        last_seen: dict[str, datetime] = {}
        for visitor_id, anonymous_id, contact_id, is_bot, seen_at, created in BulkWriter(
            self._db
        ).insert_or_find(
            visitors,
            rows,
            unique=("store_id", "anonymous_id"),
            returning=["id", "anonymous_id", "contact_id", "is_bot", "last_seen_at"],
        ):
            found[anonymous_id] = Visitor(
                id=visitor_id, anonymous_id=anonymous_id, contact_id=contact_id, is_bot=is_bot
            )
            if not created:
                last_seen[anonymous_id] = seen_at
        return found, last_seen

    def _insert(self, store_id: str, seen: Mapping[str, VisitorSeen]) -> dict[str, Visitor]:
        inserted = BulkWriter(self._db).insert(
            visitors,
            self._new_rows(store_id, seen),
            skip_conflicts_on=["store_id", "anonymous_id"],
            returning=["id", "anonymous_id", "is_bot"],
        )
        return {
            anonymous_id: Visitor(id=visitor_id, anonymous_id=anonymous_id, is_bot=bool(is_bot))
            for visitor_id, anonymous_id, is_bot in inserted
        }

    @staticmethod
    def _new_rows(store_id: str, seen: Mapping[str, VisitorSeen]) -> list[dict[str, Any]]:
        return [
            {
                "id": new_id("vi"),
                "store_id": store_id,
                "anonymous_id": anonymous_id,
                "user_agent": (s.user_agent or None) and s.user_agent[:500],
                "is_bot": s.is_bot,
                "first_seen_at": s.at,
                "last_seen_at": s.at,
            }
            for anonymous_id, s in seen.items()
        ]

    def link(self, visitor_id: str, contact_id: str) -> None:
        self._db.execute(
            update(visitors).where(visitors.c.id == visitor_id).values(contact_id=contact_id)
        )

    def mark_ads_opt_out(self, visitor_ids: Sequence[str], *, at: datetime) -> None:
        self._db.execute(
            update(visitors)
            .where(
                member_of(self._db, visitors.c.id, list(visitor_ids)),
                visitors.c.ads_opt_out_at.is_(None),
            )
            .values(ads_opt_out_at=at)
        )


class SqlContactRepository:
    """
    People, found by any of their identifiers.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def find(
        self, store_id: str, *, user_id: str | None, email: str | None, phone: str | None
    ) -> tuple[ContactRef | None, ContactRef | None, ContactRef | None]:
        conditions = []
        if user_id:
            conditions.append(contacts.c.user_id == user_id)
        if email:
            conditions.append(contacts.c.email == email)
        if phone:
            conditions.append(contacts.c.phone == phone)
        if not conditions:
            return None, None, None
        rows = self._db.execute(
            select(contacts.c.id, contacts.c.user_id, contacts.c.email, contacts.c.phone).where(
                contacts.c.store_id == store_id, or_(*conditions)
            )
        ).all()
        refs = [ContactRef(id=r.id, user_id=r.user_id, email=r.email, phone=r.phone) for r in rows]

        def holder(name: str, value: str | None) -> ContactRef | None:
            return next((c for c in refs if value and getattr(c, name) == value), None)

        return holder("user_id", user_id), holder("email", email), holder("phone", phone)

    def create(
        self, store_id: str, *, fields: Mapping[str, str], is_bot: bool, now: datetime
    ) -> ContactRef:
        contact_id = new_id("ct")
        self._db.execute(
            insert(contacts).values(
                id=contact_id,
                store_id=store_id,
                is_bot=is_bot,
                created_at=now,
                updated_at=now,
                **fields,
            )
        )
        return ContactRef(id=contact_id, **fields)

    def update(self, contact_id: str, *, fields: Mapping[str, str], now: datetime) -> None:
        self._db.execute(
            update(contacts).where(contacts.c.id == contact_id).values(updated_at=now, **fields)
        )

    def mark_bot(self, contact_id: str) -> None:
        self._db.execute(update(contacts).where(contacts.c.id == contact_id).values(is_bot=True))

    def mark_ads_opt_out(self, contact_id: str, *, at: datetime) -> None:
        self._db.execute(
            update(contacts)
            .where(contacts.c.id == contact_id, contacts.c.ads_opt_out_at.is_(None))
            .values(ads_opt_out_at=at)
        )

    def get(self, store_id: str, contact_id: str) -> Contact | None:
        row = (
            self._db.execute(
                select(contacts).where(contacts.c.store_id == store_id, contacts.c.id == contact_id)
            )
            .mappings()
            .first()
        )
        return Contact(**dict(row)) if row else None

    def get_many(self, contact_ids: Sequence[str]) -> dict[str, Contact]:
        if not contact_ids:
            return {}
        query = select(contacts).where(member_of(self._db, contacts.c.id, contact_ids))
        return {row["id"]: Contact(**dict(row)) for row in self._db.execute(query).mappings()}


_ORDER_FIELDS = (
    "store_id",
    "order_key",
    "cart_id",
    "contact_id",
    "status",
    "total",
    "currency",
    "placed_at",
)


class SqlOrderRepository:
    """
    Orders; a repeated report of the same order updates it.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def upsert(self, order: OrderRecord, *, now: datetime) -> None:
        values = {
            "store_id": order.store_id,
            "order_key": order.order_key,
            "cart_id": order.cart_id,
            "contact_id": order.contact_id,
            "status": order.status,
            "total": order.total,
            "currency": order.currency,
            "placed_at": order.placed_at,
            "updated_at": now,
        }
        statement = dialect_insert(self._db, orders).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["store_id", "order_key"],
            set_={
                "cart_id": func.coalesce(statement.excluded.cart_id, orders.c.cart_id),
                "contact_id": func.coalesce(statement.excluded.contact_id, orders.c.contact_id),
                "total": func.coalesce(statement.excluded.total, orders.c.total),
                "updated_at": now,
            },
        )
        self._db.execute(statement)

    def set_status(self, store_id: str, order_key: str, status: str, *, now: datetime) -> bool:
        result = self._db.execute(
            update(orders)
            .where(orders.c.store_id == store_id, orders.c.order_key == order_key)
            .values(status=status, updated_at=now)
        )
        return bool(result.rowcount)

    def has_ordered(self, store_id: str, contact_id: str) -> bool:
        found = self._db.execute(
            select(orders.c.id)
            .where(orders.c.store_id == store_id, orders.c.contact_id == contact_id)
            .limit(1)
        ).first()
        return found is not None

    def count_for_contact(self, store_id: str, contact_id: str) -> int:
        return int(
            self._db.execute(
                select(func.count())
                .select_from(orders)
                .where(
                    orders.c.store_id == store_id,
                    orders.c.contact_id == contact_id,
                    orders.c.status != "cancelled",
                )
            ).scalar_one()
        )

    def ordered_among(self, store_id: str, contact_ids: Sequence[str]) -> set[str]:
        if not contact_ids:
            return set()
        query = (
            select(orders.c.contact_id)
            .where(orders.c.store_id == store_id)
            .where(member_of(self._db, orders.c.contact_id, contact_ids))
            .distinct()
        )
        return set(self._db.execute(query).scalars())

    def counts_among(self, store_id: str, contact_ids: Sequence[str]) -> dict[str, int]:
        found = dict.fromkeys(contact_ids, 0)
        if not contact_ids:
            return found
        query = (
            select(orders.c.contact_id, func.count())
            .where(orders.c.store_id == store_id, orders.c.status != "cancelled")
            .where(member_of(self._db, orders.c.contact_id, contact_ids))
            .group_by(orders.c.contact_id)
        )
        for contact_id, count in self._db.execute(query):
            found[contact_id] = int(count)
        return found

    def placed_between(
        self, store_id: str, *, since: datetime, until: datetime
    ) -> list[OrderRecord]:
        query = (
            select(orders)
            .where(
                orders.c.store_id == store_id,
                orders.c.placed_at >= since,
                orders.c.placed_at < until,
            )
            .order_by(orders.c.placed_at, orders.c.id)
        )
        return [
            OrderRecord(**{name: row[name] for name in _ORDER_FIELDS})
            for row in self._db.execute(query).mappings()
        ]


class SqlConsentRepository:
    """
    The consent ledger: rows are only ever added.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def current(self, contact_id: str) -> dict[tuple[Channel, Purpose], ConsentFact]:
        return self.current_many([contact_id])[contact_id]

    def current_many(
        self, contact_ids: Sequence[str]
    ) -> dict[str, dict[tuple[Channel, Purpose], ConsentFact]]:
        found: dict[str, dict[tuple[Channel, Purpose], ConsentFact]] = {c: {} for c in contact_ids}
        if not contact_ids:
            return found
        rows = self._db.execute(
            select(
                consent_ledger.c.contact_id,
                consent_ledger.c.channel,
                consent_ledger.c.purpose,
                consent_ledger.c.granted,
                consent_ledger.c.occurred_at,
                consent_ledger.c.confirmed_at,
            )
            .where(member_of(self._db, consent_ledger.c.contact_id, contact_ids))
            # At the same instant a withdrawal outranks a grant, as in `changes`.
            .order_by(
                consent_ledger.c.occurred_at, consent_ledger.c.granted.desc(), consent_ledger.c.id
            )
        )
        for row in rows:  # later entries override earlier ones
            found[row.contact_id][(Channel(row.channel), Purpose(row.purpose))] = ConsentFact(
                granted=bool(row.granted),
                occurred_at=row.occurred_at,
                confirmed_at=row.confirmed_at,
            )
        return found

    def record(
        self, store_id: str, contact_id: str, ledger: LedgerUpdate, *, now: datetime
    ) -> None:
        for (channel, purpose), confirmed_at in ledger.confirmations.items():
            latest = (
                select(consent_ledger.c.id)
                .where(
                    consent_ledger.c.contact_id == contact_id,
                    consent_ledger.c.channel == channel.value,
                    consent_ledger.c.purpose == purpose.value,
                )
                .order_by(
                    consent_ledger.c.occurred_at.desc(),
                    consent_ledger.c.granted,
                    consent_ledger.c.id.desc(),
                )
                .limit(1)
                .scalar_subquery()
            )
            self._db.execute(
                update(consent_ledger)
                .where(consent_ledger.c.id == latest, consent_ledger.c.confirmed_at < confirmed_at)
                .values(confirmed_at=confirmed_at)
            )
        if not ledger.entries:
            return
        self._db.execute(
            insert(consent_ledger),
            [
                {
                    "store_id": store_id,
                    "contact_id": contact_id,
                    "channel": c.channel.value,
                    "purpose": c.purpose.value,
                    "granted": c.granted,
                    "text": c.text,
                    "source": c.source[:40],
                    "client_ip": c.client_ip,
                    "user_agent": (c.user_agent or None) and c.user_agent[:500],
                    "text_version": c.text_version,
                    "locale": c.locale,
                    "occurred_at": c.occurred_at,
                    "recorded_at": now,
                    "confirmed_at": entry.confirmed_at,
                }
                for entry in ledger.entries
                for c in (entry.claim,)
            ],
        )


class SqlWorkerRepository:
    """
    Running workers and their heartbeats.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def register(
        self, *, worker_id: str, name: str, hostname: str, pid: int, now: datetime
    ) -> None:
        self._db.execute(
            insert(workers).values(
                id=worker_id,
                name=name,
                hostname=hostname[:255],
                pid=pid,
                started_at=now,
                heartbeat_at=now,
            )
        )

    def heartbeat(self, worker_id: str, *, now: datetime) -> None:
        self._db.execute(update(workers).where(workers.c.id == worker_id).values(heartbeat_at=now))

    def stop(self, worker_id: str, *, now: datetime) -> None:
        self._db.execute(update(workers).where(workers.c.id == worker_id).values(stopped_at=now))

    def alive(self, *, since: datetime) -> list[dict[str, Any]]:
        rows = self._db.execute(
            select(workers).where(workers.c.heartbeat_at >= since, workers.c.stopped_at.is_(None))
        ).mappings()
        return [dict(r) for r in rows]
