"""
What keeps a person from being messaged, and what they wrote back: the suppression list,
inbound SMS replies, and pending SMS double opt-in confirmations.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, RowMapping, delete, insert, or_, select, update

from cartback.domain.consent import Channel, Purpose, erased_address
from cartback.domain.ports import InboundMessage, SmsConfirmation, Suppression
from cartback.store._bulk import member_of
from cartback.store.repositories import dialect_insert
from cartback.store.tables import inbound_messages, sms_confirmations, suppressions


class SqlSuppressionRepository:
    """
    The `suppressions` table.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, suppression: Suppression) -> bool:
        statement = (
            dialect_insert(self._db, suppressions)
            .values(
                store_id=suppression.store_id,
                channel=suppression.channel.value,
                address=suppression.address,
                reason=suppression.reason[:30],
                source=suppression.source[:40],
                created_at=suppression.created_at,
            )
            .on_conflict_do_nothing(index_elements=["store_id", "channel", "address"])
            # psycopg reports no rowcount for this INSERT (-1): RETURNING says what happened.
            .returning(suppressions.c.id)
        )
        return self._db.execute(statement).first() is not None

    def remove(self, store_id: str, channel: Channel, address: str) -> bool:
        result = self._db.execute(
            delete(suppressions).where(
                suppressions.c.store_id == store_id,
                suppressions.c.channel == channel.value,
                suppressions.c.address.in_([address, erased_address(address)]),
            )
        )
        return bool(result.rowcount)

    def is_suppressed(self, store_id: str, channel: Channel, address: str) -> bool:
        found = self._db.execute(
            select(suppressions.c.id)
            .where(
                suppressions.c.store_id == store_id,
                suppressions.c.channel == channel.value,
                or_(
                    suppressions.c.address == address,
                    suppressions.c.address == erased_address(address),
                ),
            )
            .limit(1)
        ).first()
        return found is not None

    def suppressed_among(
        self, store_id: str, channel: Channel, addresses: Sequence[str]
    ) -> set[str]:
        """
        Those of `addresses` on the list (as they are, or in their erased form).
        """
        if not addresses:
            return set()
        forms = {form: a for a in addresses for form in (a, erased_address(a))}
        listed = self._db.execute(
            select(suppressions.c.address).where(
                suppressions.c.store_id == store_id,
                suppressions.c.channel == channel.value,
                member_of(self._db, suppressions.c.address, sorted(forms)),
            )
        ).scalars()
        return {forms[address] for address in listed}

    def get(self, store_id: str, channel: Channel, address: str) -> Suppression | None:
        row = (
            self._db.execute(
                select(suppressions)
                .where(
                    suppressions.c.store_id == store_id,
                    suppressions.c.channel == channel.value,
                    suppressions.c.address.in_([address, erased_address(address)]),
                )
                .order_by(suppressions.c.id)
                .limit(1)
            )
            .mappings()
            .first()
        )
        return _suppression(row) if row else None

    def list_recent(
        self, store_id: str, *, limit: int, channel: Channel | None = None
    ) -> list[Suppression]:
        query = select(suppressions).where(suppressions.c.store_id == store_id)
        if channel is not None:
            query = query.where(suppressions.c.channel == channel.value)
        rows = self._db.execute(
            query.order_by(suppressions.c.created_at.desc(), suppressions.c.id.desc()).limit(limit)
        ).mappings()
        return [_suppression(row) for row in rows]

    def hash_addresses(self, store_id: str, addresses: Sequence[str]) -> int:
        changed = 0
        for address in addresses:
            hashed = erased_address(address)
            for channel in Channel:
                plain = (
                    suppressions.c.store_id == store_id,
                    suppressions.c.channel == channel.value,
                    suppressions.c.address == address,
                )
                hashed_there = self._db.execute(
                    select(suppressions.c.id).where(
                        suppressions.c.store_id == store_id,
                        suppressions.c.channel == channel.value,
                        suppressions.c.address == hashed,
                    )
                ).first()
                # Where the hashed form is already listed, the plain row simply goes.
                statement = (
                    delete(suppressions).where(*plain)
                    if hashed_there
                    else update(suppressions).where(*plain).values(address=hashed)
                )
                changed += self._db.execute(statement).rowcount
        return changed


def _suppression(row: RowMapping) -> Suppression:
    return Suppression(
        store_id=row["store_id"],
        channel=Channel(row["channel"]),
        address=row["address"],
        reason=row["reason"],
        source=row["source"],
        created_at=row["created_at"],
    )


class SqlInboundMessageRepository:
    """
    The `inbound_messages` table.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, message: InboundMessage) -> bool:
        statement = (
            dialect_insert(self._db, inbound_messages)
            .values(
                id=message.id,
                store_id=message.store_id,
                channel=message.channel.value,
                provider_id=message.provider_id[:64],
                sender=message.sender[:320],
                body=message.body,
                keyword=message.keyword,
                contact_id=message.contact_id,
                received_at=message.received_at,
            )
            .on_conflict_do_nothing(index_elements=["store_id", "provider_id"])
            .returning(inbound_messages.c.id)
        )
        return self._db.execute(statement).first() is not None

    def list_recent(self, store_id: str, *, limit: int) -> list[InboundMessage]:
        rows = self._db.execute(
            select(inbound_messages)
            .where(inbound_messages.c.store_id == store_id)
            .order_by(inbound_messages.c.received_at.desc(), inbound_messages.c.id.desc())
            .limit(limit)
        ).mappings()
        return [
            InboundMessage(
                id=row["id"],
                store_id=row["store_id"],
                channel=Channel(row["channel"]),
                provider_id=row["provider_id"],
                sender=row["sender"],
                body=row["body"],
                keyword=row["keyword"],
                contact_id=row["contact_id"],
                received_at=row["received_at"],
            )
            for row in rows
        ]


class SqlSmsConfirmationRepository:
    """
    The `sms_confirmations` table.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, confirmation: SmsConfirmation) -> int:
        result = self._db.execute(
            insert(sms_confirmations)
            .values(
                store_id=confirmation.store_id,
                contact_id=confirmation.contact_id,
                phone=confirmation.phone,
                purpose=confirmation.purpose.value,
                text=confirmation.text,
                text_version=confirmation.text_version,
                source=confirmation.source[:40],
                client_ip=confirmation.client_ip,
                user_agent=(confirmation.user_agent or None) and confirmation.user_agent[:500],
                requested_at=confirmation.requested_at,
                confirmed_at=confirmation.confirmed_at,
            )
            .returning(sms_confirmations.c.id)
        )
        return int(result.scalar_one())

    def pending(self, store_id: str, phone: str) -> list[SmsConfirmation]:
        rows = self._db.execute(
            select(sms_confirmations)
            .where(
                sms_confirmations.c.store_id == store_id,
                sms_confirmations.c.phone == phone,
                sms_confirmations.c.confirmed_at.is_(None),
            )
            .order_by(sms_confirmations.c.requested_at, sms_confirmations.c.id)
        ).mappings()
        return [
            SmsConfirmation(
                id=row["id"],
                store_id=row["store_id"],
                contact_id=row["contact_id"],
                phone=row["phone"],
                purpose=Purpose(row["purpose"]),
                text=row["text"],
                text_version=row["text_version"],
                source=row["source"],
                client_ip=row["client_ip"],
                user_agent=row["user_agent"],
                requested_at=row["requested_at"],
                confirmed_at=row["confirmed_at"],
            )
            for row in rows
        ]

    def confirm(self, confirmation_id: int, *, at: datetime) -> None:
        self._db.execute(
            update(sms_confirmations)
            .where(sms_confirmations.c.id == confirmation_id)
            .values(confirmed_at=at)
        )

    def discard_pending(self, store_id: str, phone: str) -> int:
        result = self._db.execute(
            delete(sms_confirmations).where(
                sms_confirmations.c.store_id == store_id,
                sms_confirmations.c.phone == phone,
                sms_confirmations.c.confirmed_at.is_(None),
            )
        )
        return int(result.rowcount)
