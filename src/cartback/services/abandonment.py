"""
The abandonment timer: claim due carts, let the state machine decide, write the result, all in
one transaction, so a worker that dies mid-batch leaves nothing half-done.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import structlog

from cartback.domain.audiences import EntryReason
from cartback.domain.cart import TimerOutcome, on_timer
from cartback.domain.ports import UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services.audiences import enter_audiences
from cartback.services.catalog import watch_stock
from cartback.services.enrollment import StoreFlows, enroll_abandoned, store_flows
from cartback.services.webhook_events import WebhookEvents, cart_abandoned

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class TimerReport:
    """
    What one pass did, and how late each cart was marked (seconds after it became due).
    """

    outcomes: dict[TimerOutcome, int] = field(default_factory=dict)
    lateness: tuple[float, ...] = ()
    #: Abandoned carts enrolled in a flow in the same transaction (`services.enrollment`).
    enrolled: int = 0

    @property
    def processed(self) -> int:
        """
        Carts whose timer fired in this pass.
        """
        return sum(self.outcomes.values())


def process_due_carts(*, uow: UnitOfWork, clock: Clock, limit: int) -> TimerReport:
    """
    Fire the timers of up to `limit` due carts.

    On PostgreSQL the claim skips carts another worker holds, so any number of workers can run
    this at once and each cart is decided exactly once.
    """
    now = clock.now()
    outcomes: dict[TimerOutcome, int] = {}
    lateness: list[float] = []
    enrolled = 0
    with uow:
        due = uow.carts.claim_due(now=now, limit=limit)
        if not due:
            return TimerReport()
        stores: dict[str, Store | None] = {}
        flows: dict[str, StoreFlows] = {}
        events = WebhookEvents()  # each store's subscriptions read once per pass
        decided = []
        for record in due:
            if record.store_id not in stores:
                stores[record.store_id] = uow.stores.get(record.store_id)
            store = stores[record.store_id]
            if store is None:
                continue
            due_at = record.cart.check_at
            cart, outcome = on_timer(record.cart, now=now, policy=store.cart_policy)
            if outcome is TimerOutcome.NOT_DUE:
                continue
            decided.append(replace(record, cart=cart))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if due_at is not None and outcome is TimerOutcome.ABANDONED:
                lateness.append((now - due_at).total_seconds())
                log.info(
                    "cart.abandoned",
                    store_id=record.store_id,
                    cart_id=record.cart.key,
                    stage=cart.stage.value,
                )
                # Enrollment and its touches commit with the abandonment, or neither does.
                if record.store_id not in flows:
                    flows[record.store_id] = store_flows(uow, record.store_id)
                started = enroll_abandoned(
                    uow=uow,
                    store=store,
                    record=replace(record, cart=cart),
                    now=now,
                    flows=flows[record.store_id],
                )
                enrolled += started is not None
                # Its unavailable and pre-order lines, for the back_in_stock and launch flows.
                watch_stock(uow, replace(record, cart=cart), now=now)
                # The ad audiences it qualifies for, committed with the abandonment too.
                enter_audiences(
                    uow, store, replace(record, cart=cart), now, reason=EntryReason.ABANDONED
                )
                # Its `cart.abandoned` webhooks, in the same transaction (an outbox).
                events.emit(uow, cart_abandoned(record, cart, now=now))
        uow.carts.save_states(decided, now=now)
        uow.commit()
    return TimerReport(outcomes=outcomes, lateness=tuple(lateness), enrolled=enrolled)
