"""
A person's data across tables, for export and erasure, and a whole shop's data for
`shop/redact`. Which rows belong to a person is decided in one place (`_PersonRows`), so the
export shows exactly what erasure removes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    Text,
    cast,
    delete,
    false,
    func,
    or_,
    select,
    update,
)

from cartback.domain.consent import erased_address
from cartback.domain.identity import ContactRef
from cartback.domain.ports import PersonalData
from cartback.store.tables import (
    audience_members,
    audience_visitors,
    cart_lines,
    carts,
    catalog_items,
    consent_ledger,
    contacts,
    inbound_messages,
    offers,
    orders,
    raw_events,
    sms_confirmations,
    suppressions,
    visitors,
)


def payload_mentions(needles: Sequence[str]) -> ColumnElement[bool]:
    """
    Raw events whose JSON payload mentions one of `needles`, in any case.

    The payload is JSON text on both databases; an identifier appears in it as the source
    wrote it (emails in any case), so the match ignores case. Emails and numbers written with
    `+` are distinctive anywhere; anything else (an account id, a national phone number) only
    as a whole JSON value, so `42` does not match every price of 42.
    """
    text = func.lower(cast(raw_events.c.payload, Text))
    found: list[ColumnElement[bool]] = []
    for needle in sorted({n.lower() for n in needles if n}):
        if "@" in needle or needle.startswith("+"):
            found.append(text.contains(needle, autoescape=True))
            continue
        forms = (f'"{needle}"', f":{needle},", f":{needle}}}", f": {needle},", f": {needle}}}")
        found.extend(text.contains(form, autoescape=True) for form in forms)
    return or_(*found) if found else false()


class _PersonRows:
    """
    The conditions that select one person's rows in each table.
    """

    def __init__(
        self, db: Connection, store_id: str, contact: ContactRef, mentions: Sequence[str]
    ) -> None:
        self.store_id = store_id
        self.contact = contact
        self.addresses = [a for a in (contact.email, contact.phone) if a]
        self.anonymous_ids = list(
            db.execute(
                select(visitors.c.anonymous_id).where(
                    visitors.c.store_id == store_id, visitors.c.contact_id == contact.id
                )
            ).scalars()
        )
        self.mentions = sorted({m for m in (*mentions, contact.user_id) if m})

    def raw_events(self) -> ColumnElement[bool]:
        mine: list[ColumnElement[bool]] = [payload_mentions(self.mentions)]
        if self.anonymous_ids:
            mine.append(raw_events.c.anonymous_id.in_(self.anonymous_ids))
        if self.contact.user_id:
            mine.append(raw_events.c.user_id == self.contact.user_id)
        return (raw_events.c.store_id == self.store_id) & or_(*mine)

    def owned(self, table: Table) -> ColumnElement[bool]:
        return (table.c.store_id == self.store_id) & (table.c.contact_id == self.contact.id)

    def inbound(self) -> ColumnElement[bool]:
        by_sender = inbound_messages.c.sender.in_(self.addresses)
        return (inbound_messages.c.store_id == self.store_id) & or_(
            inbound_messages.c.contact_id == self.contact.id, by_sender
        )

    def confirmations(self) -> ColumnElement[bool]:
        by_phone = sms_confirmations.c.phone.in_(self.addresses)
        return (sms_confirmations.c.store_id == self.store_id) & or_(
            sms_confirmations.c.contact_id == self.contact.id, by_phone
        )

    def suppressions(self) -> ColumnElement[bool]:
        forms = [*self.addresses, *(erased_address(a) for a in self.addresses)]
        return (suppressions.c.store_id == self.store_id) & suppressions.c.address.in_(forms)


class SqlPrivacyRepository:
    """
    Export and erasure across tables, in the caller's transaction.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def identifiers(self, store_id: str, contact_id: str) -> ContactRef | None:
        row = self._db.execute(
            select(contacts.c.id, contacts.c.user_id, contacts.c.email, contacts.c.phone).where(
                contacts.c.store_id == store_id, contacts.c.id == contact_id
            )
        ).first()
        if row is None:
            return None
        return ContactRef(id=row.id, user_id=row.user_id, email=row.email, phone=row.phone)

    def personal_data(
        self, store_id: str, contact_id: str, mentions: Sequence[str]
    ) -> PersonalData | None:
        contact = self.identifiers(store_id, contact_id)
        if contact is None:
            return None
        rows = _PersonRows(self._db, store_id, contact, mentions)
        person = self._one(select(contacts).where(contacts.c.id == contact_id))
        return PersonalData(
            contact=person,
            visitors=self._all(
                select(visitors).where(rows.owned(visitors)).order_by(visitors.c.first_seen_at)
            ),
            carts=self._carts(rows),
            orders=self._all(
                select(orders, carts.c.cart_key)
                .outerjoin(carts, carts.c.id == orders.c.cart_id)
                .where(rows.owned(orders))
                .order_by(orders.c.placed_at, orders.c.id)
            ),
            consents=self._all(
                select(consent_ledger)
                .where(rows.owned(consent_ledger))
                .order_by(consent_ledger.c.occurred_at, consent_ledger.c.id)
            ),
            suppressions=self._all(
                select(suppressions).where(rows.suppressions()).order_by(suppressions.c.id)
            ),
            inbound_messages=self._all(
                select(inbound_messages)
                .where(rows.inbound())
                .order_by(inbound_messages.c.received_at, inbound_messages.c.id)
            ),
            sms_confirmations=self._all(
                select(sms_confirmations)
                .where(rows.confirmations())
                .order_by(sms_confirmations.c.requested_at, sms_confirmations.c.id)
            ),
            raw_events=self._all(
                select(raw_events)
                .where(rows.raw_events())
                .order_by(raw_events.c.occurred_at, raw_events.c.id)
            ),
            offers=self._all(
                select(offers).where(rows.owned(offers)).order_by(offers.c.created_at, offers.c.id)
            ),
            audiences=self._audiences(rows),
        )

    def _audiences(self, rows: _PersonRows) -> list[Mapping[str, Any]]:
        """
        Their audience memberships: as the contact, and as each of their visitors.
        """
        theirs = select(visitors.c.id).where(rows.owned(visitors))
        as_contact = select(
            audience_members.c.audience,
            audience_members.c.entered_at,
            audience_members.c.expires_at,
            audience_members.c.left_at,
            audience_members.c.left_reason,
        ).where(rows.owned(audience_members))
        as_visitor = select(
            audience_visitors.c.audience,
            audience_visitors.c.entered_at,
            audience_visitors.c.expires_at,
            audience_visitors.c.left_at,
            audience_visitors.c.left_reason,
        ).where(
            audience_visitors.c.store_id == rows.store_id,
            audience_visitors.c.visitor_id.in_(theirs),
        )
        found = [*self._all(as_contact), *self._all(as_visitor)]
        return sorted(found, key=lambda row: (row["entered_at"], row["audience"]))

    def _carts(self, rows: _PersonRows) -> list[Mapping[str, Any]]:
        found = self._all(
            select(carts).where(rows.owned(carts)).order_by(carts.c.created_at, carts.c.id)
        )
        lines: dict[str, list[Mapping[str, Any]]] = {}
        if found:
            for line in self._all(
                select(cart_lines)
                .where(cart_lines.c.cart_id.in_([c["id"] for c in found]))
                .order_by(cart_lines.c.cart_id, cart_lines.c.position)
            ):
                lines.setdefault(line["cart_id"], []).append(line)
        return [{**cart, "lines": lines.get(cart["id"], [])} for cart in found]

    def _one(self, query: Any) -> Mapping[str, Any]:
        return dict(self._db.execute(query).mappings().one())

    def _all(self, query: Any) -> list[Mapping[str, Any]]:
        return [dict(row) for row in self._db.execute(query).mappings()]

    def erase_contact(
        self, store_id: str, contact_id: str, mentions: Sequence[str]
    ) -> dict[str, int]:
        contact = self.identifiers(store_id, contact_id) if contact_id else None
        if contact is None:
            gone = self._db.execute(
                delete(raw_events).where(
                    raw_events.c.store_id == store_id, payload_mentions(mentions)
                )
            )
            return {"raw_events": gone.rowcount or 0}
        rows = _PersonRows(self._db, store_id, contact, mentions)
        # Raw events first: they are found through the visitors deleted below.
        counts = {"raw_events": self._delete(raw_events, rows.raw_events())}
        counts["consent_ledger"] = self._delete(consent_ledger, rows.owned(consent_ledger))
        counts["sms_confirmations"] = self._delete(sms_confirmations, rows.confirmations())
        counts["inbound_messages"] = self._delete(inbound_messages, rows.inbound())
        # Carts and orders are the merchant's records: they stay, without the person.
        for table in (carts, orders):
            unlinked = self._db.execute(
                update(table).where(rows.owned(table)).values(contact_id=None)
            )
            counts[table.name] = unlinked.rowcount or 0
        # The visitor rows go whole (anonymous id, user agent, times): an anonymous id is an
        # online identifier, and once their events are erased nothing needs it.
        mine = select(visitors.c.id).where(rows.owned(visitors))
        self._db.execute(update(carts).where(carts.c.visitor_id.in_(mine)).values(visitor_id=None))
        counts["visitors"] = self._delete(visitors, rows.owned(visitors))
        counts["contacts"] = self._delete(contacts, contacts.c.id == contact.id)
        return counts

    def _delete(self, table: Table, where: ColumnElement[bool]) -> int:
        return self._db.execute(delete(table).where(where)).rowcount or 0

    def erase_store_data(self, store_id: str) -> int:
        """
        Delete everything a store collected (the store and its keys stay); returns rows deleted.
        """
        erased = 0
        for table in (
            consent_ledger,
            sms_confirmations,
            inbound_messages,
            suppressions,
            orders,
            carts,
            visitors,
            contacts,
            raw_events,
            catalog_items,  # its stock watches went with the carts
        ):
            result = self._db.execute(delete(table).where(table.c.store_id == store_id))
            erased += result.rowcount or 0
        return erased
