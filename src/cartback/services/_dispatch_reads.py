"""
Read-ahead for one dispatch pass: the facts every claimed touch's guards will ask for, read in a
few `IN` queries right after the claim instead of a dozen small queries per touch.

The guards keep asking through the unit of work exactly as before (`_facts`, `_context`,
`may_message`, `contact_facts`, `cart_stock` are unchanged); `ReadAhead` is a unit of work
that answers those reads from what it read ahead and passes everything else, and every write,
to the real one. An answer is read ahead only while this pass has written nothing it depends
on: a touch or enrollment written during the pass makes its enrollment's reads (and its
contact's sends, for the frequency cap) go to the database again, and any call the view does not
know makes every later read go there. So each touch's guards see what they would have read
themselves, and decide the same.

Order matters for the send protocol: the carts are locked first (in id order, as `get_many`
does), so every fact below is read after an order for one of them committed or while it waits
for this pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from cartback.domain.catalog import CatalogItem, line_keys
from cartback.domain.consent import Channel, ConsentFact, Purpose
from cartback.domain.ports import (
    CartRecord,
    CartRepository,
    CatalogRepository,
    ConsentRepository,
    Contact,
    ContactRepository,
    EnrollmentRecord,
    EnrollmentRepository,
    OrderRepository,
    SuppressionRepository,
    TouchRecord,
    TouchRepository,
    UnitOfWork,
)


class _Known:
    """
    What was read ahead, and which parts of it this pass's writes have made stale.
    """

    def __init__(self) -> None:
        self.carts: dict[str, CartRecord | None] = {}
        self.cart_keys: dict[tuple[str, str], CartRecord] = {}
        self.enrollments: dict[str, EnrollmentRecord | None] = {}
        self.contacts: dict[str, Contact | None] = {}
        self.consents: dict[str, dict[tuple[Channel, Purpose], ConsentFact]] = {}
        self.ordered: dict[tuple[str, str], bool] = {}
        self.order_counts: dict[tuple[str, str], int] = {}
        self.suppressed: dict[tuple[str, Channel, str], bool] = {}
        self.sent: dict[str, list[datetime]] = {}
        self.sent_since: datetime | None = None
        self.matches: dict[tuple[str, str, str, datetime], set[str]] = {}
        self.by_enrollment: dict[str, list[TouchRecord]] | None = None
        self.catalog: dict[str, tuple[set[str], dict[str, CatalogItem]]] = {}
        #: Touch writes held back to go in one statement: before any other database call
        #: (so nothing reads around them, and writes keep their order) and before the commit.
        self.saves: list[TouchRecord] = []
        self.flush: Callable[[], None] = lambda: None
        self.stale_enrollments: set[str] = set()
        self.stale_contacts: set[str] = set()
        self.all_stale = False

    def wrote(self, enrollment_id: str) -> None:
        """
        This pass wrote the enrollment or one of its touches.
        """
        self.stale_enrollments.add(enrollment_id)
        enrollment = self.enrollments.get(enrollment_id)
        if enrollment is None:
            self.all_stale = True  # whose sends changed is unknown: read them all again
        else:
            self.stale_contacts.add(enrollment.contact_id)

    def fresh_enrollment(self, enrollment_id: str) -> bool:
        return not self.all_stale and enrollment_id not in self.stale_enrollments

    def fresh_contact(self, contact_id: str) -> bool:
        return not self.all_stale and contact_id not in self.stale_contacts


class _Passthrough:
    """
    A repository view: what it does not answer goes to the real repository, and marks every
    read-ahead answer stale (it may have been a write).
    """

    def __init__(self, inner: Any, known: _Known) -> None:
        self._real = inner
        self._known = known

    @property
    def _inner(self) -> Any:
        """
        The real repository, for a call to the database: held-back writes go first.
        """
        self._known.flush()
        return self._real

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._real, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._known.all_stale = True
            self._known.flush()
            return attribute(*args, **kwargs)

        return call


class _Touches(_Passthrough):
    def cart_key(self, cart_id: str) -> str | None:
        if self._known.all_stale or cart_id not in self._known.carts:
            return cast(str | None, self._inner.cart_key(cart_id))
        record = self._known.carts[cart_id]
        return record.cart.key if record is not None else None

    def sent_times(self, contact_id: str, *, since: datetime) -> list[datetime]:
        known = self._known
        if (
            contact_id in known.sent
            and known.fresh_contact(contact_id)
            and known.sent_since is not None
            and since >= known.sent_since
        ):
            return [at for at in known.sent[contact_id] if at >= since]
        return cast(list[datetime], self._inner.sent_times(contact_id, since=since))

    def unengaged_emails(self, store_id: str, contact_id: str) -> int:
        # Read for each email only when a file hands contacts to ads; a read, so it leaves
        # the read-ahead answers standing (an unknown call would mark them all stale).
        return cast(int, self._inner.unengaged_emails(store_id, contact_id))

    def has_sent(self, contact_id: str, channel: Channel) -> bool:
        # A read: it leaves the read-ahead answers standing.
        return cast(bool, self._inner.has_sent(contact_id, channel))

    def order_matches(
        self, store_id: str, *, cart_id: str, contact_id: str, since: datetime
    ) -> set[str]:
        found = self._known.matches.get((store_id, cart_id, contact_id, since))
        if found is not None and not self._known.all_stale:
            return set(found)
        return cast(
            set[str],
            self._inner.order_matches(
                store_id, cart_id=cart_id, contact_id=contact_id, since=since
            ),
        )

    def for_enrollment(self, enrollment_id: str) -> list[TouchRecord]:
        known = self._known
        if not known.fresh_enrollment(enrollment_id) or enrollment_id not in known.enrollments:
            return cast(list[TouchRecord], self._inner.for_enrollment(enrollment_id))
        if known.by_enrollment is None:
            # Read on first use only (a skip completing its enrollment, a peak-season cap),
            # for the pass's enrollments that nothing in this pass has written yet.
            unwritten = [e for e in known.enrollments if known.fresh_enrollment(e)]
            known.by_enrollment = self._inner.for_enrollments(unwritten)
        return list(known.by_enrollment[enrollment_id])

    def save(self, record: TouchRecord) -> None:
        self._known.wrote(record.enrollment_id)
        self._known.saves.append(record)

    def cancel_pending(self, enrollment_id: str, *, reason: str, now: datetime) -> int:
        self._known.wrote(enrollment_id)
        return cast(int, self._inner.cancel_pending(enrollment_id, reason=reason, now=now))


class _Enrollments(_Passthrough):
    def get(self, enrollment_id: str) -> EnrollmentRecord | None:
        if enrollment_id in self._known.enrollments and self._known.fresh_enrollment(enrollment_id):
            return self._known.enrollments[enrollment_id]
        return cast(EnrollmentRecord | None, self._inner.get(enrollment_id))

    def end(self, enrollment_id: str, **kwargs: Any) -> None:
        self._known.wrote(enrollment_id)
        self._inner.end(enrollment_id, **kwargs)


class _Carts(_Passthrough):
    def get(self, store_id: str, key: str) -> CartRecord | None:
        found = self._known.cart_keys.get((store_id, key))
        if found is not None and not self._known.all_stale:
            return found
        return cast(CartRecord | None, self._inner.get(store_id, key))


class _Contacts(_Passthrough):
    def get(self, store_id: str, contact_id: str) -> Contact | None:
        if self._known.all_stale or contact_id not in self._known.contacts:
            return cast(Contact | None, self._inner.get(store_id, contact_id))
        contact = self._known.contacts[contact_id]
        return contact if contact is not None and contact.store_id == store_id else None


class _Consents(_Passthrough):
    def current(self, contact_id: str) -> dict[tuple[Channel, Purpose], ConsentFact]:
        if contact_id in self._known.consents and not self._known.all_stale:
            return dict(self._known.consents[contact_id])
        return cast(dict[tuple[Channel, Purpose], ConsentFact], self._inner.current(contact_id))


class _Orders(_Passthrough):
    def has_ordered(self, store_id: str, contact_id: str) -> bool:
        found = self._known.ordered.get((store_id, contact_id))
        if found is not None and not self._known.all_stale:
            return found
        return cast(bool, self._inner.has_ordered(store_id, contact_id))

    def count_for_contact(self, store_id: str, contact_id: str) -> int:
        found = self._known.order_counts.get((store_id, contact_id))
        if found is not None and not self._known.all_stale:
            return found
        return cast(int, self._inner.count_for_contact(store_id, contact_id))


class _Suppressions(_Passthrough):
    def is_suppressed(self, store_id: str, channel: Channel, address: str) -> bool:
        found = self._known.suppressed.get((store_id, channel, address))
        if found is not None and not self._known.all_stale:
            return found
        return cast(bool, self._inner.is_suppressed(store_id, channel, address))


class _Catalog(_Passthrough):
    def get_many(self, store_id: str, keys: Sequence[str]) -> dict[str, CatalogItem]:
        asked, items = self._known.catalog.get(store_id, (set(), {}))
        if set(keys) <= asked and not self._known.all_stale:
            return {k: items[k] for k in keys if k in items}
        return cast(dict[str, CatalogItem], self._inner.get_many(store_id, keys))


class ReadAhead:
    """
    A unit of work over the pass's open one that answers the guards' reads from a read-ahead.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._known = _Known()
        self._touches = _Touches(uow.touches, self._known)
        self._enrollments = _Enrollments(uow.enrollments, self._known)
        self._carts = _Carts(uow.carts, self._known)
        self._contacts = _Contacts(uow.contacts, self._known)
        self._consents = _Consents(uow.consents, self._known)
        self._orders = _Orders(uow.orders, self._known)
        self._suppressions = _Suppressions(uow.suppressions, self._known)
        self._catalog = _Catalog(uow.catalog, self._known)
        self._known.flush = self._flush

    def __getattr__(self, name: str) -> Any:
        # The repositories the guards do not read (stores, flows, ...): held-back writes first.
        self._flush()
        return getattr(self._uow, name)

    def commit(self) -> None:
        """
        Write what was held back, then commit the pass's transaction.
        """
        self._flush()
        self._uow.commit()

    def rollback(self) -> None:
        """
        Drop what was held back and roll the transaction back.
        """
        self._known.saves.clear()
        self._uow.rollback()

    def _flush(self) -> None:
        saves, self._known.saves = self._known.saves, []
        if saves:
            self._uow.touches.save_many(saves)

    @property
    def touches(self) -> TouchRepository:
        return cast(TouchRepository, self._touches)

    @property
    def enrollments(self) -> EnrollmentRepository:
        return cast(EnrollmentRepository, self._enrollments)

    @property
    def carts(self) -> CartRepository:
        return cast(CartRepository, self._carts)

    @property
    def contacts(self) -> ContactRepository:
        return cast(ContactRepository, self._contacts)

    @property
    def consents(self) -> ConsentRepository:
        return cast(ConsentRepository, self._consents)

    @property
    def orders(self) -> OrderRepository:
        return cast(OrderRepository, self._orders)

    @property
    def suppressions(self) -> SuppressionRepository:
        return cast(SuppressionRepository, self._suppressions)

    @property
    def catalog(self) -> CatalogRepository:
        return cast(CatalogRepository, self._catalog)

    def load(self, claimed: Sequence[TouchRecord], *, sent_since: datetime | None) -> None:
        """
        Lock the claimed touches' carts and read what their guards will ask for; the sends
        under the frequency cap from `sent_since` (None: no cap, not read).
        """
        uow, known = self._uow, self._known
        cart_ids = sorted({t.cart_id for t in claimed})
        carts = uow.carts.get_by_ids(cart_ids)
        known.carts = {c: carts.get(c) for c in cart_ids}
        known.cart_keys = {(r.store_id, r.cart.key): r for r in carts.values()}
        enrollment_ids = sorted({t.enrollment_id for t in claimed})
        enrollments = uow.enrollments.get_many(enrollment_ids)
        known.enrollments = {e: enrollments.get(e) for e in enrollment_ids}
        contact_ids = sorted({e.contact_id for e in enrollments.values()})
        contacts = uow.contacts.get_many(contact_ids)
        known.contacts = {c: contacts.get(c) for c in contact_ids}
        known.consents = uow.consents.current_many(contact_ids)
        if sent_since is not None:
            known.sent = uow.touches.sent_times_many(contact_ids, since=sent_since)
            known.sent_since = sent_since
        for store_id in sorted({t.store_id for t in claimed}):
            mine = [t for t in claimed if t.store_id == store_id]
            self._load_store(store_id, mine, enrollments, contacts, carts)

    def _load_store(
        self,
        store_id: str,
        claimed: list[TouchRecord],
        enrollments: dict[str, EnrollmentRecord],
        contacts: dict[str, Contact],
        carts: dict[str, CartRecord],
    ) -> None:
        uow, known = self._uow, self._known
        people = sorted({c.id for c in contacts.values() if c.store_id == store_id})
        ordered = uow.orders.ordered_among(store_id, people)
        known.ordered.update({(store_id, c): c in ordered for c in people})
        counts = uow.orders.counts_among(store_id, people)
        known.order_counts.update({(store_id, c): n for c, n in counts.items()})
        for channel, address_of in _ADDRESSES.items():
            addresses = sorted({a for c in contacts.values() if (a := address_of(c))})
            listed = uow.suppressions.suppressed_among(store_id, channel, addresses)
            known.suppressed.update({(store_id, channel, a): a in listed for a in addresses})
        # As `_context` asks: the touch's cart, its enrollment's contact and start.
        queries = sorted(
            {
                (t.cart_id, e.contact_id, e.started_at)
                for t in claimed
                if (e := enrollments.get(t.enrollment_id)) is not None
            }
        )
        for query, found in zip(
            queries, uow.touches.order_matches_many(store_id, queries), strict=True
        ):
            known.matches[(store_id, *query)] = found
        keys = {
            key
            for record in carts.values()
            if record.store_id == store_id
            for line in record.cart.lines
            for key in line_keys(line)
        }
        known.catalog[store_id] = (keys, uow.catalog.get_many(store_id, sorted(keys)))


_ADDRESSES: dict[Channel, Callable[[Contact], str | None]] = {
    Channel.EMAIL: lambda c: c.email,
    Channel.SMS: lambda c: c.phone,
}
