"""
Dashboard operators, the stores each may see, and their sessions (by token digest only).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from cartback.domain.operators import Operator, OperatorSession
from cartback.store.tables import operator_sessions, operator_stores, operators

_SESSION_FIELDS = (
    "digest",
    "operator_id",
    "csrf_token",
    "created_at",
    "last_seen_at",
    "expires_at",
)


class SqlOperatorRepository:
    """
    Operators with their stores, and their server-side sessions.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, operator: Operator) -> None:
        self._db.execute(insert(operators).values(**_operator_row(operator)))
        if operator.store_ids:
            self._db.execute(
                insert(operator_stores),
                [{"operator_id": operator.id, "store_id": s} for s in sorted(operator.store_ids)],
            )

    def get(self, operator_id: str) -> Operator | None:
        return self._one(select(operators).where(operators.c.id == operator_id))

    def by_email(self, email: str) -> Operator | None:
        return self._one(select(operators).where(operators.c.email == email))

    def list_all(self) -> list[Operator]:
        rows = self._db.execute(select(operators).order_by(operators.c.email)).mappings().all()
        stores = self._stores_of([r["id"] for r in rows])
        return [_operator(r, stores.get(r["id"], frozenset())) for r in rows]

    def save(self, operator: Operator) -> None:
        self._db.execute(
            update(operators)
            .where(operators.c.id == operator.id)
            .values(
                password_hash=operator.password_hash,
                last_login_at=operator.last_login_at,
                disabled_at=operator.disabled_at,
            )
        )

    def add_session(self, session: OperatorSession) -> None:
        self._db.execute(
            insert(operator_sessions).values(**{f: getattr(session, f) for f in _SESSION_FIELDS})
        )

    def session(self, digest: str) -> OperatorSession | None:
        row = (
            self._db.execute(select(operator_sessions).where(operator_sessions.c.digest == digest))
            .mappings()
            .first()
        )
        return OperatorSession(**{f: row[f] for f in _SESSION_FIELDS}) if row else None

    def touch_session(self, digest: str, *, at: datetime) -> None:
        self._db.execute(
            update(operator_sessions)
            .where(operator_sessions.c.digest == digest)
            .values(last_seen_at=at)
        )

    def delete_session(self, digest: str) -> None:
        self._db.execute(delete(operator_sessions).where(operator_sessions.c.digest == digest))

    def delete_sessions(self, operator_id: str) -> int:
        result = self._db.execute(
            delete(operator_sessions).where(operator_sessions.c.operator_id == operator_id)
        )
        return int(result.rowcount or 0)

    def _one(self, query: Any) -> Operator | None:
        row = self._db.execute(query).mappings().first()
        if row is None:
            return None
        return _operator(row, self._stores_of([row["id"]]).get(row["id"], frozenset()))

    def _stores_of(self, operator_ids: list[str]) -> dict[str, frozenset[str]]:
        if not operator_ids:
            return {}
        found: dict[str, set[str]] = {}
        query = select(operator_stores).where(operator_stores.c.operator_id.in_(operator_ids))
        for row in self._db.execute(query).mappings():
            found.setdefault(row["operator_id"], set()).add(row["store_id"])
        return {k: frozenset(v) for k, v in found.items()}


def _operator_row(operator: Operator) -> dict[str, Any]:
    return {
        "id": operator.id,
        "email": operator.email,
        "password_hash": operator.password_hash,
        "all_stores": operator.all_stores,
        "created_at": operator.created_at,
        "last_login_at": operator.last_login_at,
        "disabled_at": operator.disabled_at,
    }


def _operator(row: Mapping[Any, Any], store_ids: frozenset[str]) -> Operator:
    return Operator(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        all_stores=row["all_stores"],
        store_ids=store_ids,
        created_at=row["created_at"],
        last_login_at=row["last_login_at"],
        disabled_at=row["disabled_at"],
    )
