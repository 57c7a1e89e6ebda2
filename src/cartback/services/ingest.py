"""
Ingest: one transaction per batch. Store each raw message under its idempotency key, stitch
identities, apply cart events in the order they happened, record orders, reschedule timers,
and keep what the events show of the products for the catalog.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import structlog

from cartback.domain.audiences import LeaveReason
from cartback.domain.cart import CartStatus, Outcome, apply_event, new_cart
from cartback.domain.catalog import CatalogItem, learned_item
from cartback.domain.consent import ConsentClaim, changes
from cartback.domain.errors import NotFound
from cartback.domain.events import (
    CartEvent,
    CartSnapshot,
    IdentityClaims,
    ItemAdded,
    ItemRemoved,
    LineItem,
    OrderChanged,
    OrderPlaced,
    ProductViewed,
)
from cartback.domain.identity import is_bot_email, is_bot_user_agent
from cartback.domain.ingest import EventOutcome, Inbound, IngestReport
from cartback.domain.origin import CartOrigin, device_of, guess_country, locale_region, merge_origin
from cartback.domain.ports import CartRecord, OrderRecord, UnitOfWork, Visitor, VisitorSeen
from cartback.domain.reasons import Reason
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.ids import new_id
from cartback.kit.phone_locality import phone_country
from cartback.services._contacts import resolve_contact
from cartback.services.audiences import leave_audiences, leave_on_withdrawal
from cartback.services.redemption import redeem_offers
from cartback.services.sources import unmapped_names
from cartback.services.webhook_events import WebhookEvents, cart_recovered

log = structlog.get_logger(__name__)

_OUTCOMES = {
    Outcome.APPLIED: EventOutcome.APPLIED,
    Outcome.STALE: EventOutcome.STALE,
    Outcome.AFTER_ORDER: EventOutcome.AFTER_ORDER,
}


def ingest(
    *,
    uow: UnitOfWork,
    clock: Clock,
    store_id: str,
    messages: Sequence[Inbound],
    ads_opt_out: Collection[str] = frozenset(),
) -> IngestReport:
    """
    Ingest a batch of messages for one store in one transaction.

    The store is read inside the transaction, so a changed setting (the abandonment delay)
    applies from the next batch on, whatever a caller cached.

    A message whose idempotency key was seen before changes nothing. Cart events apply in the
    order they happened (by their own timestamps), so a batch that arrives shuffled ends in the
    same state as one that arrives in order.

    `ads_opt_out` names the anonymous ids whose browsers said no to ads (Global Privacy
    Control); their visitors are marked once, never put in an ad audience.
    """
    now = clock.now()
    unique = list({(m.source, m.message_id): m for m in reversed(messages)}.values())[::-1]
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        fresh = uow.events.add_new(store.id, unique, received_at=now)
        outcomes = {
            m.message_id: EventOutcome.DUPLICATE for m in unique if m.message_id not in fresh
        }
        batch = _Batch(uow=uow, store=store, now=now)
        todo = sorted((m for m in unique if m.message_id in fresh), key=lambda m: m.occurred_at)
        batch.load_visitors(todo)
        opted_out = [v.id for a, v in batch.visitors.items() if a in ads_opt_out]
        if opted_out:
            uow.visitors.mark_ads_opt_out(opted_out, at=now)
            # A "no" to ads takes the browser, and the person it belongs to, out at once.
            linked = [v.contact_id for a, v in batch.visitors.items() if a in ads_opt_out]
            leave_audiences(
                uow,
                store.id,
                contact_ids=linked,
                visitor_ids=opted_out,
                reason=LeaveReason.OPTED_OUT,
                now=now,
            )
        batch.load_carts(todo)
        for message in todo:
            outcomes[message.message_id] = batch.apply(message)
        batch.flush()
        uow.unmapped_events.record(store.id, unmapped_names(todo), now=now)
        # Raw rows are written as applied; only the exceptions need a second write.
        exceptions = [m for m in todo if outcomes[m.message_id] is not EventOutcome.APPLIED]
        for source in {m.source for m in exceptions}:
            uow.events.set_outcomes(
                store.id,
                source,
                {m.message_id: outcomes[m.message_id] for m in exceptions if m.source == source},
            )
        uow.commit()
    report = IngestReport(outcomes=outcomes)
    log.debug("ingest.batch.committed", store_id=store_id, messages=len(messages))
    return report


@dataclass(kw_only=True)
class _Batch:
    """
    The working set of one batch: visitors, contacts and carts loaded once, written once.
    """

    uow: UnitOfWork
    store: Store
    now: datetime
    visitors: dict[str, Visitor] = field(default_factory=dict)
    contacts: dict[tuple[str | None, str | None, str | None], str] = field(default_factory=dict)
    bot_contacts: set[str] = field(default_factory=set)
    human_contacts: set[str] = field(default_factory=set)
    carts: dict[str, CartRecord] = field(default_factory=dict)
    new_cart_ids: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    implicit: dict[str, str] = field(default_factory=dict)
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    known_missing: set[str] = field(default_factory=set)
    consents: dict[str, list[ConsentClaim]] = field(default_factory=dict)
    seen_items: list[CatalogItem] = field(default_factory=list)
    #: Carts an order of this batch made `recovered` (their `cart.recovered` webhooks).
    recovered: list[str] = field(default_factory=list)
    #: What this batch's events said of where each cart (by id) came from.
    origins: dict[str, CartOrigin] = field(default_factory=dict)

    def load_visitors(self, messages: Sequence[Inbound]) -> None:
        seen: dict[str, VisitorSeen] = {}
        for m in messages:
            if m.anonymous_id is None:
                continue
            bot = _is_bot(m)
            previous = seen.get(m.anonymous_id)
            if previous is None or previous.at <= m.occurred_at or bot:
                seen[m.anonymous_id] = VisitorSeen(
                    at=max(m.occurred_at, previous.at) if previous else m.occurred_at,
                    user_agent=m.user_agent or (previous.user_agent if previous else None),
                    is_bot=bot or bool(previous and previous.is_bot),
                )
        self.visitors = self.uow.visitors.ensure(self.store.id, seen)

    def load_carts(self, messages: Sequence[Inbound]) -> None:
        """
        Read every cart the batch names in one query; the rest are new.
        """
        keys = list({m.cart_key for m in messages if m.cart_key and m.event is not None})
        self.carts.update(self.uow.carts.get_many(self.store.id, keys))
        self.known_missing.update(k for k in keys if k not in self.carts)

    def apply(self, message: Inbound) -> EventOutcome:
        visitor = self.visitors.get(message.anonymous_id) if message.anonymous_id else None
        contact_id = self._identify(message, visitor)
        if message.consents and contact_id is not None:
            self.consents.setdefault(contact_id, []).extend(message.consents)
        if message.event is None:
            return EventOutcome.APPLIED if message.claims else EventOutcome.IGNORED
        if isinstance(message.event, OrderChanged):
            return self._change_order(message, message.event)
        record = self._cart_for(message, visitor, contact_id)
        bot = (visitor is not None and visitor.is_bot) or self._is_bot_contact(contact_id)
        cart = record.cart if record.cart.is_bot or not bot else replace(record.cart, is_bot=True)
        try:
            cart, outcome = apply_event(cart, message.event, policy=self.store.cart_policy)
        except ValueError as error:
            log.warning("ingest.event.rejected", message_id=message.message_id, reason=str(error))
            return EventOutcome.REJECTED
        if outcome is Outcome.APPLIED:
            owner = record.visitor_id or (visitor.id if visitor else None)
            self._keep(
                replace(
                    record,
                    cart=cart,
                    visitor_id=owner,
                    contact_id=contact_id or record.contact_id,
                )
            )
            self._note_origin(record.id, message)
            self._record_order(message, self.carts[cart.key])
            if cart.status is CartStatus.RECOVERED and record.cart.status is not cart.status:
                self.recovered.append(cart.key)
        elif outcome is Outcome.STALE and message.cart_key:
            self._note_late(record, message, visitor, contact_id, bot=bot)
        if not cart.is_bot:
            self._learn(message.event)
        return _OUTCOMES[outcome]

    def _learn(self, event: CartEvent) -> None:
        """
        Keep what the event shows of its products for the catalog (a stale event too: the
        catalog orders what it learns by time itself).
        """
        seen_at = min(event.occurred_at, self.now)  # a clock ahead must not pin its details
        currency = event.currency or self.store.currency
        for line in _event_lines(event):
            item = learned_item(
                line, currency=currency, seen_at=seen_at, domains=self.store.domains
            )
            if item is not None:
                self.seen_items.append(item)

    def flush(self) -> None:
        """
        Write the batch: carts first, then the orders that point to them.
        """
        added = [self.carts[k] for k in self.changed if self.carts[k].id in self.new_cart_ids]
        updated = [self.carts[k] for k in self.changed if self.carts[k].id not in self.new_cart_ids]
        with self.uow.pipelined():  # pure writes: one round trip on PostgreSQL
            # A new cart's device and country go into its own row; stored ones are merged.
            self.uow.carts.add(
                added,
                now=self.now,
                origins={r.id: self.origins[r.id] for r in added if r.id in self.origins},
            )
            self.uow.carts.update(updated, now=self.now)
            if self.seen_items:
                self.uow.catalog.learn(self.store.id, self.seen_items)
        self._write_origins()
        for order in self.orders.values():
            self.uow.orders.upsert(order, now=self.now)
            self._end_enrollments(order)
        for contact_id, claims in self.consents.items():
            update = changes(self.uow.consents.current(contact_id), claims)
            if not update.is_empty:
                self.uow.consents.record(self.store.id, contact_id, update, now=self.now)
                leave_on_withdrawal(self.uow, self.store.id, contact_id, update, self.now)
        if self.recovered:
            events = WebhookEvents()  # the store's subscriptions read once, only now
            for key in dict.fromkeys(self.recovered):
                record = self.carts[key]
                order_id = record.cart.order_id
                events.emit(
                    self.uow, cart_recovered(record, record.cart, order_id=order_id, now=self.now)
                )

    def _note_late(
        self,
        record: CartRecord,
        message: Inbound,
        visitor: Visitor | None,
        contact_id: str | None,
        *,
        bot: bool,
    ) -> None:
        """
        An event older than the cart's state changes no items or stage, but still says who the
        cart belongs to, on what device, and whether a robot is behind it: a storefront's view
        events often arrive after the platform's webhook has created the cart. Owners are
        filled in where the cart has none, never replaced.
        """
        filled = replace(
            record,
            cart=replace(record.cart, is_bot=True) if bot else record.cart,
            visitor_id=record.visitor_id or (visitor.id if visitor else None),
            contact_id=record.contact_id or contact_id,
        )
        if filled != record:
            self._keep(filled)
        self._note_origin(record.id, message)

    def _note_origin(self, cart_id: str, message: Inbound) -> None:
        """
        Keep what the message says of the cart's device and country (`domain/origin.py`).
        """
        phone = message.claims.phone if message.claims else None
        seen = CartOrigin(
            device=device_of(message.user_agent) if message.user_agent else None,
            country=guess_country(
                address=message.country,
                phone=phone_country(phone) if phone else None,
                locale=locale_region(message.locale),
            ),
        )
        self.origins[cart_id] = merge_origin(self.origins.get(cart_id, CartOrigin()), seen)

    def _write_origins(self) -> None:
        """
        Merge the batch's origins into the stored carts' ones; write only those that changed.
        (New carts took theirs in `flush`.)
        """
        seen_by_id = {c: o for c, o in self.origins.items() if c not in self.new_cart_ids}
        if not seen_by_id:
            return
        stored = self.uow.carts.origins(list(seen_by_id))
        changed = {}
        for cart_id, seen in seen_by_id.items():
            known = stored.get(cart_id, CartOrigin())
            merged = merge_origin(known, seen)
            if merged != known:
                changed[cart_id] = merged
        if changed:
            self.uow.carts.set_origins(changed)

    def _end_enrollments(self, order: OrderRecord) -> None:
        """
        An order ends its cart's and its contact's recovery sequences in its own transaction,
        so no pending touch outlives it; the guards still check every send.
        """
        if order.status != "placed":
            return
        ended = self.uow.touches.cancel_for_order(
            self.store.id,
            cart_id=order.cart_id,
            contact_id=order.contact_id,
            placed_at=order.placed_at,
            reason=Reason.ORDERED.value,
            now=self.now,
        )
        if ended:
            log.info("enrollment.ordered", store_id=self.store.id, enrollments=len(ended))

    def _identify(self, message: Inbound, visitor: Visitor | None) -> str | None:
        claims = message.claims
        if claims is None or claims.is_empty:
            return visitor.contact_id if visitor else None
        cache_key = (claims.user_id, claims.email, claims.phone)
        contact_id = self.contacts.get(cache_key) or self._resolve(claims)
        self.contacts[cache_key] = contact_id
        if visitor is not None and visitor.contact_id != contact_id:
            self.uow.visitors.link(visitor.id, contact_id)
            self.uow.carts.assign_contact(self.store.id, visitor.id, contact_id)
            self.visitors[visitor.anonymous_id] = replace(visitor, contact_id=contact_id)
            for key, record in list(self.carts.items()):
                if record.visitor_id == visitor.id and record.contact_id is None:
                    self.carts[key] = replace(record, contact_id=contact_id)
        if contact_id in self.bot_contacts:
            self._flag_bot(contact_id, visitor)
        return contact_id

    def _flag_bot(self, contact_id: str, visitor: Visitor | None) -> None:
        """
        Flag the robot's open carts: the stored ones, and those this batch holds (which
        `flush` writes over the stored rows).
        """
        self.uow.carts.flag_bot(self.store.id, contact_id=contact_id)
        if visitor is not None:
            self.uow.carts.flag_bot(self.store.id, visitor_id=visitor.id)
        for key, record in list(self.carts.items()):
            owned = record.contact_id == contact_id or (
                visitor is not None and record.visitor_id == visitor.id
            )
            if owned and not record.cart.is_ordered:
                flagged = replace(record.cart, is_bot=True, check_at=None)
                self.carts[key] = replace(record, cart=flagged)

    def _resolve(self, claims: IdentityClaims) -> str:
        contact_id = resolve_contact(
            uow=self.uow, store_id=self.store.id, claims=claims, now=self.now
        )
        if is_bot_email(claims.email):
            self.bot_contacts.add(contact_id)
        return contact_id

    def _is_bot_contact(self, contact_id: str | None) -> bool:
        """
        True for a contact flagged as a robot, in this batch or before (read once per batch).
        """
        if contact_id is None:
            return False
        if contact_id not in self.bot_contacts and contact_id not in self.human_contacts:
            contact = self.uow.contacts.get(self.store.id, contact_id)
            known = self.bot_contacts if contact and contact.is_bot else self.human_contacts
            known.add(contact_id)
        return contact_id in self.bot_contacts

    def _cart_for(
        self, message: Inbound, visitor: Visitor | None, contact_id: str | None
    ) -> CartRecord:
        key = (
            message.cart_key
            or self._key_by_checkout(message.event)
            or self._implicit_key(visitor, contact_id)
        )
        if key not in self.carts:
            found = None if key in self.known_missing else self.uow.carts.get(self.store.id, key)
            self.carts[key] = found or self._new_record(key, visitor, contact_id)
        return self.carts[key]

    def _key_by_checkout(self, event: CartEvent | None) -> str | None:
        checkout_id = getattr(event, "checkout_id", None)
        if not isinstance(event, OrderPlaced | OrderChanged) or not checkout_id:
            return None
        for record in self.carts.values():
            if record.cart.checkout_id == checkout_id:
                return record.cart.key
        found = self.uow.carts.find_by_checkout(self.store.id, checkout_id)
        if found is not None:
            self.carts.setdefault(found.cart.key, found)
        return found.cart.key if found else None

    def _implicit_key(self, visitor: Visitor | None, contact_id: str | None) -> str:
        if visitor is None and contact_id is None:
            return new_id("auto")  # nobody to share a cart with: a cart of its own
        owner = f"v:{visitor.id}" if visitor else f"c:{contact_id}"
        if owner in self.implicit and not self.carts[self.implicit[owner]].cart.is_ordered:
            return self.implicit[owner]
        found = self.uow.carts.find_open(
            self.store.id,
            visitor_id=visitor.id if visitor else None,
            contact_id=None if visitor else contact_id,
        )
        # The stored open cart may be one this batch has just ordered: then start a new one.
        current = self.carts.setdefault(found.cart.key, found) if found is not None else None
        key = current.cart.key if current and not current.cart.is_ordered else new_id("auto")
        self.implicit[owner] = key
        return key

    def _new_record(self, key: str, visitor: Visitor | None, contact_id: str | None) -> CartRecord:
        record = CartRecord(
            id=new_id("ca"),
            store_id=self.store.id,
            cart=new_cart(key=key, currency=self.store.currency),
            visitor_id=visitor.id if visitor else None,
            contact_id=contact_id,
            created_at=self.now,
        )
        self.new_cart_ids.add(record.id)
        return record

    def _keep(self, record: CartRecord) -> None:
        self.carts[record.cart.key] = record
        self.changed.add(record.cart.key)

    def _record_order(self, message: Inbound, record: CartRecord) -> None:
        event = message.event
        if isinstance(event, OrderPlaced):
            key = message.order_key or message.message_id
            self.orders[key] = OrderRecord(
                store_id=self.store.id,
                order_key=key,
                cart_id=record.id,
                contact_id=record.contact_id,
                status="placed",
                total=event.total if event.total is not None else record.cart.total,
                currency=event.currency or record.cart.currency,
                placed_at=event.occurred_at,
            )
            if event.discounts:
                redeem_offers(
                    self.uow,
                    store_id=self.store.id,
                    order_key=key,
                    discounts=event.discounts,
                    placed_at=event.occurred_at,
                )
            # A buyer leaves every ad audience in the transaction that records the order.
            leave_audiences(
                self.uow,
                self.store.id,
                contact_ids=[record.contact_id],
                visitor_ids=[record.visitor_id],
                reason=LeaveReason.PURCHASED,
                now=self.now,
            )

    def _change_order(self, message: Inbound, event: OrderChanged) -> EventOutcome:
        """
        A cancellation or refund changes the order, not the cart: the cart did convert.
        """
        if not message.order_key:
            return EventOutcome.IGNORED
        pending = self.orders.get(message.order_key)
        if pending is not None:  # placed in this very batch, not written yet
            self.orders[message.order_key] = replace(pending, status=event.change)
            return EventOutcome.APPLIED
        found = self.uow.orders.set_status(
            self.store.id, message.order_key, event.change, now=self.now
        )
        if not found:
            # The cancellation came before the order (webhooks arrive in any order): record
            # the order as cancelled; its placement, when it arrives, fills in the rest.
            self.uow.orders.upsert(
                OrderRecord(
                    store_id=self.store.id,
                    order_key=message.order_key,
                    cart_id=None,
                    contact_id=None,
                    status=event.change,
                    total=None,
                    currency=event.currency or self.store.currency,
                    placed_at=event.occurred_at,
                ),
                now=self.now,
            )
        return EventOutcome.APPLIED


def _event_lines(event: CartEvent) -> tuple[LineItem, ...]:
    if isinstance(event, (ProductViewed, ItemAdded, ItemRemoved)):
        return (event.item,)
    if isinstance(event, (CartSnapshot, OrderPlaced)):
        return event.items or ()
    return ()


def _is_bot(message: Inbound) -> bool:
    return is_bot_user_agent(message.user_agent)
