"""
The `partner_programs` and `partner_codes` tables: co-marketing programs and the partners'
code pools, each code handed out once.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select, update

from cartback.domain.discounts import GIVEN
from cartback.domain.flows import OfferKind
from cartback.domain.ports import CodeSource, PartnerProgram, PartnerTotals
from cartback.store.repositories import dialect_insert
from cartback.store.tables import offers, partner_codes, partner_programs
from cartback.store.types import Money

_P = partner_programs.c
_C = partner_codes.c
#: Rows per INSERT when a pool is uploaded (well under SQLite's bound-parameter limit).
_CHUNK = 1000
#: A code taken from under a statement (another transaction's commit between its read and its
#: write) is tried again this many times before the pool counts as empty.
_TAKE_ATTEMPTS = 5


class SqlPartnerRepository:
    """
    Partner programs and their code pools.
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, program: PartnerProgram) -> bool:
        statement = (
            dialect_insert(self._db, partner_programs)
            .values(**_row(program))
            .on_conflict_do_nothing()
            # psycopg reports no rowcount for this INSERT (-1): RETURNING says what happened.
            .returning(_P.id)
        )
        return self._db.execute(statement).first() is not None

    def save(self, program: PartnerProgram) -> None:
        values = _row(program)
        for fixed in ("id", "store_id", "name", "created_at"):
            del values[fixed]
        self._db.execute(update(partner_programs).where(_P.id == program.id).values(**values))

    def get(self, store_id: str, name: str) -> PartnerProgram | None:
        row = (
            self._db.execute(
                select(partner_programs).where(_P.store_id == store_id, _P.name == name)
            )
            .mappings()
            .first()
        )
        return _program(row) if row is not None else None

    def list(self, store_id: str) -> builtins.list[PartnerProgram]:
        rows = self._db.execute(
            select(partner_programs).where(_P.store_id == store_id).order_by(_P.name)
        ).mappings()
        return [_program(row) for row in rows]

    def add_codes(self, program_id: str, codes: Sequence[str]) -> int:
        # Counting before and after is exact inside the transaction on both databases, where
        # an executemany's rowcount with ON CONFLICT is not.
        before = self.codes_total(program_id)
        unique = list(dict.fromkeys(codes))
        for start in range(0, len(unique), _CHUNK):
            rows = [{"program_id": program_id, "code": c} for c in unique[start : start + _CHUNK]]
            self._db.execute(
                dialect_insert(self._db, partner_codes).values(rows).on_conflict_do_nothing()
            )
        return self.codes_total(program_id) - before

    def take_code(self, program_id: str, at: datetime) -> str | None:
        # One statement picks and marks the oldest free code. On PostgreSQL the pick skips
        # rows another transaction has locked (it is taking them), so two workers never wait
        # for or get the same code; SQLite has one writer at a time. `assigned_at IS NULL` is
        # checked again by the UPDATE itself, and a lost race tries the next code.
        free = (
            select(_C.id)
            .where(_C.program_id == program_id, _C.assigned_at.is_(None))
            .order_by(_C.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        statement = (
            update(partner_codes)
            .where(_C.id == free, _C.assigned_at.is_(None))
            .values(assigned_at=at)
            .returning(_C.code)
        )
        for _ in range(_TAKE_ATTEMPTS):
            code = self._db.execute(statement).scalar()
            if code is not None:
                return str(code)
            if not self.codes_available(program_id):
                return None
        return None

    def link_code(self, program_id: str, code: str, offer_id: str) -> None:
        self._db.execute(
            update(partner_codes)
            .where(_C.program_id == program_id, _C.code == code)
            .values(offer_id=offer_id)
        )

    def codes_available(self, program_id: str) -> int:
        count = self._db.execute(
            select(func.count())
            .select_from(partner_codes)
            .where(_C.program_id == program_id, _C.assigned_at.is_(None))
        ).scalar()
        return int(count or 0)

    def codes_total(self, program_id: str) -> int:
        """
        Every code of the pool, taken or not.
        """
        count = self._db.execute(
            select(func.count()).select_from(partner_codes).where(_C.program_id == program_id)
        ).scalar()
        return int(count or 0)

    def totals(self, store_id: str, source: str) -> PartnerTotals:
        given = [status.value for status in GIVEN]
        row = self._db.execute(
            select(
                func.count().filter(offers.c.status.in_(given)),
                func.count(offers.c.redeemed_at),
                func.sum(offers.c.discount_amount, type_=Money()),
            ).where(offers.c.store_id == store_id, offers.c.source == source)
        ).one()
        return PartnerTotals(
            given=int(row[0] or 0),
            redeemed=int(row[1] or 0),
            discount_total=Decimal(row[2] or 0),
        )


def _row(program: PartnerProgram) -> dict[str, Any]:
    return {
        "id": program.id,
        "store_id": program.store_id,
        "name": program.name,
        "partner": program.partner,
        "segment": program.segment,
        "eligibility": program.eligibility,
        "kind": program.kind.value,
        "value": program.value,
        "currency": program.currency,
        "code_source": program.code_source.value,
        "expires_in_seconds": int(program.expires_in.total_seconds()),
        "starts_at": program.starts_at,
        "ends_at": program.ends_at,
        "enabled": program.enabled,
        "created_at": program.created_at,
        "updated_at": program.updated_at,
    }


def _program(row: Any) -> PartnerProgram:
    return PartnerProgram(
        id=row["id"],
        store_id=row["store_id"],
        name=row["name"],
        partner=row["partner"],
        segment=row["segment"],
        eligibility=row["eligibility"],
        kind=OfferKind(row["kind"]),
        value=row["value"],
        currency=row["currency"],
        code_source=CodeSource(row["code_source"]),
        expires_in=timedelta(seconds=row["expires_in_seconds"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        enabled=row["enabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
