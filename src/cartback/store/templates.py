"""
Stores' own message templates: the `message_templates` table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, select, update

from cartback.domain.consent import Channel
from cartback.domain.ports import MessageTemplate
from cartback.store.tables import message_templates

_T = message_templates.c


class SqlMessageTemplateRepository:
    """
    The `message_templates` table, one row per store, name, channel and locale.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def list_for_store(self, store_id: str) -> list[MessageTemplate]:
        """
        The store's templates by name, channel and locale.
        """
        rows = self._db.execute(
            select(message_templates)
            .where(_T.store_id == store_id)
            .order_by(_T.name, _T.channel, _T.locale)
        ).mappings()
        return [_template(row) for row in rows]

    def for_name(self, store_id: str, name: str, channel: Channel) -> list[MessageTemplate]:
        """
        The store's templates of one name and channel, every locale.
        """
        rows = self._db.execute(
            select(message_templates)
            .where(_T.store_id == store_id, _T.name == name, _T.channel == channel.value)
            .order_by(_T.locale)
        ).mappings()
        return [_template(row) for row in rows]

    def save(self, template: MessageTemplate) -> None:
        """
        Replace the template with its store, name, channel and locale, or insert it.
        """
        row = _row(template)
        changed = self._db.execute(
            update(message_templates)
            .where(
                _T.store_id == template.store_id,
                _T.name == template.name,
                _T.channel == template.channel.value,
                _T.locale == template.locale,
            )
            .values(
                subject=row["subject"],
                preheader=row["preheader"],
                html=row["html"],
                text=row["text"],
                updated_at=row["updated_at"],
            )
        ).rowcount
        if not changed:
            self._db.execute(message_templates.insert().values(**row))

    def delete(self, store_id: str, name: str, channel: Channel, locale: str | None) -> int:
        """
        Delete the template for one locale (every locale when None); how many went.
        """
        query = delete(message_templates).where(
            _T.store_id == store_id, _T.name == name, _T.channel == channel.value
        )
        if locale is not None:
            query = query.where(_T.locale == locale)
        return int(self._db.execute(query).rowcount or 0)


def _row(template: MessageTemplate) -> dict[str, Any]:
    return {
        "store_id": template.store_id,
        "name": template.name,
        "channel": template.channel.value,
        "locale": template.locale,
        "subject": template.subject,
        "preheader": template.preheader,
        "html": template.html,
        "text": template.text,
        "updated_at": template.updated_at,
    }


def _template(row: Any) -> MessageTemplate:
    return MessageTemplate(
        store_id=row["store_id"],
        name=row["name"],
        channel=Channel(row["channel"]),
        locale=row["locale"],
        subject=row["subject"],
        preheader=row["preheader"],
        html=row["html"],
        text=row["text"],
        updated_at=row["updated_at"],
    )
