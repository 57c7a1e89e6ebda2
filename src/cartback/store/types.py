"""
Column types that behave the same on SQLite and PostgreSQL: exact money and aware UTC times.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

#: Money keeps four decimal places: enough for every ISO 4217 currency and per-unit prices.
MONEY_SCALE = 4
#: Sixteen integer digits hold the largest cart the domain accepts (500 lines of 10,000 units
#: at 10^8 each, 5 * 10^14); SQLite's 64-bit integer of ten-thousandths holds it too.
MONEY_PRECISION = 20
_MONEY_FACTOR = Decimal(10) ** MONEY_SCALE


class Money(TypeDecorator[Decimal]):
    """
    An exact decimal amount: NUMERIC(20, 4) on PostgreSQL, and on SQLite (whose NUMERIC is a
    float) an integer count of ten-thousandths, so sums stay exact on both.
    """

    impl = Numeric(MONEY_PRECISION, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantized = Decimal(value).quantize(Decimal(1) / _MONEY_FACTOR)
        if dialect.name == "sqlite":
            return int(quantized * _MONEY_FACTOR)
        return quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / _MONEY_FACTOR).quantize(Decimal(1) / _MONEY_FACTOR)
        return Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """
    A timezone-aware instant stored in UTC. Naive values are refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("naive datetimes are not stored; pass an aware one")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_type() -> TypeEngine[Any]:
    """
    JSON on SQLite, JSONB on PostgreSQL.
    """
    return JSON().with_variant(JSONB(), "postgresql")


def big_id() -> TypeEngine[int]:
    """
    A 64-bit autoincrementing key; SQLite only autoincrements INTEGER PRIMARY KEY.
    """
    return BigInteger().with_variant(Integer(), "sqlite")
