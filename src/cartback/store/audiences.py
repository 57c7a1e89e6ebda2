"""
Audiences: the `audiences` definitions, and the memberships of known contacts
(`audience_members`) and of anonymous visitors (`audience_visitors`), two tables never joined.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, case, delete, select, text, update

from cartback.domain.audiences import LeaveReason
from cartback.domain.ports import AudienceMembership, StoredAudience
from cartback.store._bulk import member_of
from cartback.store.repositories import dialect_insert
from cartback.store.tables import audience_members, audience_visitors, audiences, visitors

#: The partial unique index that makes a person a current member at most once.
_CURRENT = text("left_at IS NULL")


class SqlAudienceRepository:
    """
    Audience definitions and memberships, in the caller's transaction.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def list_for_store(self, store_id: str) -> list[StoredAudience]:
        """
        The store's installed audiences, by name.
        """
        rows = self._db.execute(
            select(audiences).where(audiences.c.store_id == store_id).order_by(audiences.c.name)
        ).mappings()
        return [_audience(row) for row in rows]

    def replace(self, store_id: str, records: Sequence[StoredAudience]) -> None:
        """
        Delete the store's audiences and insert `records`, in the caller's transaction.
        """
        self._db.execute(delete(audiences).where(audiences.c.store_id == store_id))
        if records:
            self._db.execute(audiences.insert(), [_audience_row(r) for r in records])

    def enter(self, membership: AudienceMembership) -> bool:
        """
        Insert a current membership, or extend the current one: one statement (`ON CONFLICT`
        on the partial unique index), so two transactions entering the same person at once
        cannot both insert.
        """
        table, person = _table_of(membership)
        statement = dialect_insert(self._db, table).values(
            store_id=membership.store_id,
            audience=membership.audience,
            **{person: _person(membership)},
            cart_id=membership.cart_id,
            offer_eligible=membership.offer_eligible,
            entered_at=membership.entered_at,
            expires_at=membership.expires_at,
        )
        later = statement.excluded.expires_at > table.c.expires_at
        upsert = statement.on_conflict_do_update(
            index_elements=[table.c.store_id, table.c.audience, table.c[person]],
            index_where=_CURRENT,
            set_={
                # A shorter window applied since never cuts a membership short.
                "expires_at": case(
                    (later, statement.excluded.expires_at), else_=table.c.expires_at
                ),
                "cart_id": statement.excluded.cart_id,
                "offer_eligible": statement.excluded.offer_eligible,
            },
        ).returning(table.c.entered_at)
        entered_at = self._db.execute(upsert).scalar_one()
        return bool(entered_at == membership.entered_at)

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
        End the current memberships of these contacts and visitors.
        """
        ended = 0
        for table, column, ids in (
            (audience_members, audience_members.c.contact_id, contact_ids),
            (audience_visitors, audience_visitors.c.visitor_id, visitor_ids),
        ):
            if not ids:
                continue
            ended += (
                self._db.execute(
                    update(table)
                    .where(
                        table.c.store_id == store_id,
                        member_of(self._db, column, list(ids)),
                        table.c.left_at.is_(None),
                    )
                    .values(left_at=at, left_reason=reason)
                ).rowcount
                or 0
            )
        return ended

    def expire(self, *, now: datetime, limit: int) -> int:
        """
        End up to `limit` due memberships, contacts' first; on PostgreSQL rows another
        transaction holds are skipped (it is ending or extending them).
        """
        ended = 0
        for table in (audience_members, audience_visitors):
            if ended >= limit:
                break
            due = (
                select(table.c.id)
                .where(table.c.left_at.is_(None), table.c.expires_at <= now)
                .order_by(table.c.expires_at, table.c.id)
                .limit(limit - ended)
            )
            if self._db.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ended += (
                self._db.execute(
                    update(table)
                    .where(table.c.id.in_(due.scalar_subquery()))
                    .values(left_at=table.c.expires_at, left_reason=LeaveReason.WINDOW_ENDED.value)
                ).rowcount
                or 0
            )
        return ended

    def contact_memberships(
        self, store_id: str, audience: str, *, current_only: bool = True
    ) -> list[AudienceMembership]:
        """
        An audience's known contacts, oldest entry first.
        """
        return self._memberships(audience_members, store_id, audience, current_only)

    def visitor_memberships(
        self, store_id: str, audience: str, *, current_only: bool = True
    ) -> list[AudienceMembership]:
        """
        An audience's anonymous visitors, oldest entry first.
        """
        return self._memberships(audience_visitors, store_id, audience, current_only)

    def visitor_may_enter(self, visitor_id: str) -> bool:
        """
        False for a robot's visitor, one whose browser said no to ads, or an unknown one.
        """
        row = self._db.execute(
            select(visitors.c.is_bot, visitors.c.ads_opt_out_at).where(visitors.c.id == visitor_id)
        ).first()
        return row is not None and not row.is_bot and row.ads_opt_out_at is None

    def _memberships(
        self, table: Table, store_id: str, audience: str, current_only: bool
    ) -> list[AudienceMembership]:
        query = select(table).where(table.c.store_id == store_id, table.c.audience == audience)
        if current_only:
            query = query.where(table.c.left_at.is_(None))
        rows = self._db.execute(query.order_by(table.c.entered_at, table.c.id)).mappings()
        return [_membership(row) for row in rows]


def _table_of(membership: AudienceMembership) -> tuple[Table, str]:
    if membership.contact_id is not None:
        return audience_members, "contact_id"
    return audience_visitors, "visitor_id"


def _person(membership: AudienceMembership) -> str:
    person = membership.contact_id or membership.visitor_id
    if person is None:  # the dataclass refuses this; kept for the type checker
        raise ValueError("a membership needs a contact or a visitor")
    return person


def _membership(row: Any) -> AudienceMembership:
    return AudienceMembership(
        store_id=row["store_id"],
        audience=row["audience"],
        contact_id=row.get("contact_id"),
        visitor_id=row.get("visitor_id"),
        cart_id=row["cart_id"],
        offer_eligible=row["offer_eligible"],
        entered_at=row["entered_at"],
        expires_at=row["expires_at"],
        left_at=row["left_at"],
        left_reason=row["left_reason"],
    )


def _audience_row(record: StoredAudience) -> dict[str, Any]:
    return {
        "store_id": record.store_id,
        "name": record.name,
        "version": record.version,
        "source": record.source,
        "definition": dict(record.definition),
        "enabled": record.enabled,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _audience(row: Any) -> StoredAudience:
    return StoredAudience(
        store_id=row["store_id"],
        name=row["name"],
        version=row["version"],
        source=row["source"],
        definition=row["definition"],
        enabled=row["enabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
