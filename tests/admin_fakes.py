"""
In-memory fakes of the dashboard's repositories: operators with their sessions, and the
dashboard's cart reads over `FakeDatabase.carts` and `.orders`.

Rows live in `FakeDatabase.admin` (an `AdminRows`), so a fake unit of work's copy-and-publish
covers them like every other table. Raw events that named a cart are set by tests
(`AdminRows.cart_events`): the fake event log does not keep cart keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from cartback.domain.errors import InvalidInput
from cartback.domain.operators import Operator, OperatorSession
from cartback.domain.ports import CartEvent, CartFilters, CartPage, CartRecord, OrderRecord

if TYPE_CHECKING:
    from fakes import FakeDatabase


@dataclass
class AdminRows:
    """
    Operators by id, sessions by digest, and raw events by (store, cart key).
    """

    operators: dict[str, Operator] = field(default_factory=dict)
    sessions: dict[str, OperatorSession] = field(default_factory=dict)
    cart_events: dict[tuple[str, str], list[CartEvent]] = field(default_factory=dict)


class InMemoryOperatorRepository:
    """
    `OperatorRepository` over `AdminRows`; emails are unique like the table's constraint.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    @property
    def _rows(self) -> AdminRows:
        return self._db.admin

    def add(self, operator: Operator) -> None:
        if any(o.email == operator.email for o in self._rows.operators.values()):
            raise ValueError(f"duplicate email {operator.email}")  # the unique constraint
        self._rows.operators[operator.id] = operator

    def get(self, operator_id: str) -> Operator | None:
        return self._rows.operators.get(operator_id)

    def by_email(self, email: str) -> Operator | None:
        return next((o for o in self._rows.operators.values() if o.email == email), None)

    def list_all(self) -> list[Operator]:
        return sorted(self._rows.operators.values(), key=lambda o: o.email)

    def save(self, operator: Operator) -> None:
        stored = self._rows.operators[operator.id]
        self._rows.operators[operator.id] = replace(
            stored,
            password_hash=operator.password_hash,
            last_login_at=operator.last_login_at,
            disabled_at=operator.disabled_at,
        )

    def add_session(self, session: OperatorSession) -> None:
        self._rows.sessions[session.digest] = session

    def session(self, digest: str) -> OperatorSession | None:
        return self._rows.sessions.get(digest)

    def touch_session(self, digest: str, *, at: datetime) -> None:
        if digest in self._rows.sessions:
            self._rows.sessions[digest] = replace(self._rows.sessions[digest], last_seen_at=at)

    def delete_session(self, digest: str) -> None:
        self._rows.sessions.pop(digest, None)

    def delete_sessions(self, operator_id: str) -> int:
        ended = [d for d, s in self._rows.sessions.items() if s.operator_id == operator_id]
        for digest in ended:
            del self._rows.sessions[digest]
        return len(ended)


class InMemoryDashboardRepository:
    """
    `DashboardRepository` over the fake carts and orders.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def carts_page(
        self, store_id: str, *, filters: CartFilters, limit: int, cursor: str | None
    ) -> CartPage:
        def key(record: CartRecord) -> tuple[datetime, str]:
            at = record.cart.abandoned_at if filters.by_abandonment else record.created_at
            assert at is not None
            return at, record.id

        found = sorted(
            (r for r in self._db.carts.values() if r.store_id == store_id and _kept(r, filters)),
            key=key,
            reverse=True,
        )
        if cursor:
            after = _decode(cursor)
            found = [r for r in found if key(r) < after]
        page = found[:limit]
        more = len(found) > limit and page
        at, cart_id = key(page[-1]) if more else (None, "")
        return CartPage(records=page, next_cursor=f"{at.isoformat()}|{cart_id}" if at else None)

    def cart(self, store_id: str, cart_id: str) -> CartRecord | None:
        record = self._db.carts.get(cart_id)
        return record if record is not None and record.store_id == store_id else None

    def cart_events(self, store_id: str, cart_key: str, *, limit: int) -> list[CartEvent]:
        return self._db.admin.cart_events.get((store_id, cart_key), [])[:limit]

    def cart_orders(self, store_id: str, cart_id: str) -> list[OrderRecord]:
        found = [
            row.order
            for (store, _), row in self._db.orders.items()
            if store == store_id and row.order.cart_id == cart_id
        ]
        return sorted(found, key=lambda o: o.placed_at)


def _kept(record: CartRecord, filters: CartFilters) -> bool:
    cart = record.cart
    checks = [
        filters.status is None or cart.status == filters.status,
        filters.stage is None or cart.stage == filters.stage,
        not filters.by_abandonment or cart.abandoned_at is not None,
        filters.abandoned_from is None
        or (cart.abandoned_at is not None and cart.abandoned_at >= filters.abandoned_from),
        filters.abandoned_to is None
        or (cart.abandoned_at is not None and cart.abandoned_at < filters.abandoned_to),
        filters.has_contact is None or (record.contact_id is not None) == filters.has_contact,
    ]
    return all(checks)


def _decode(cursor: str) -> tuple[datetime, str]:
    at, _, cart_id = cursor.partition("|")
    try:
        return datetime.fromisoformat(at), cart_id
    except ValueError:
        raise InvalidInput("the cursor is not one this listing made") from None
