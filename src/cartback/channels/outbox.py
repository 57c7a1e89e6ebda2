"""
The development channel: messages are stored in `outbox_messages` (and shown by
`GET /v1/messages`); nothing leaves the machine. It behaves like a provider that takes an
idempotency key: the touch id is unique in the table, so a second send of one touch stores
nothing new, and `status` looks the message up by it (resolving `ambiguous` touches).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cartback.domain.ports import OutboundMessage, OutboxMessage, UnitOfWorkFactory
from cartback.domain.time import Clock
from cartback.domain.touches import SendFailed
from cartback.kit.ids import new_id


class OutboxChannel:
    """
    Stores each message in its own transaction, as a provider would accept it.
    """

    def __init__(self, *, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    def send(self, message: OutboundMessage, idempotency_key: str) -> str:
        """
        Store the message under `idempotency_key` (the touch id); the stored message's id.

        Raises:
            SendFailed: the message has no address (permanent), as a provider would refuse it.
        """
        if not message.to:
            raise SendFailed("no_address", transient=False)
        with self._uow_factory() as uow:
            stored_id = uow.outbox.add(_kept(message, idempotency_key, self._clock.now()))
            uow.commit()
        return stored_id

    def send_many(self, messages: Sequence[tuple[OutboundMessage, str]]) -> list[str | SendFailed]:
        """
        `send` for each `(message, idempotency_key)`, all stored in one transaction (a batch
        a provider accepts at once); a message without an address fails alone, as in `send`.
        """
        now = self._clock.now()
        stored = [_kept(message, key, now) for message, key in messages if message.to]
        ids: dict[str, str] = {}
        if stored:
            with self._uow_factory() as uow:
                ids = uow.outbox.add_many(stored)
                uow.commit()
        return [
            ids[key] if message.to else SendFailed("no_address", transient=False)
            for message, key in messages
        ]

    def status(self, idempotency_key: str) -> str | None:
        """
        The stored message's id for this touch, or None if it was never stored.
        """
        with self._uow_factory(read_only=True) as uow:
            found = uow.outbox.by_touch(idempotency_key)
        return found.id if found is not None else None


def _kept(message: OutboundMessage, touch_id: str, now: datetime) -> OutboxMessage:
    """
    The message as the outbox keeps it: the text, and an email's HTML and headers as written.
    """
    email = message.email
    return OutboxMessage(
        id=new_id("msg"),
        store_id=message.store_id,
        touch_id=touch_id,
        channel=message.channel,
        to=message.to,
        subject=message.subject,
        text=message.text,
        html=email.html if email is not None else None,
        headers=email.headers() if email is not None else None,
        created_at=now,
    )
