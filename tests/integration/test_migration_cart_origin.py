"""
Revision 0013 (`carts.device`, `carts.country`, `carts.country_source`) backfills the carts
already stored: the device from the visitor's user agent, the country from the contact's
phone number; carts with neither stay empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert, select

from cartback.store.database import create_database_engine
from cartback.store.migrate import downgrade, upgrade
from cartback.store.tables import carts, contacts, stores, visitors

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
IPAD = "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    """
    A database migrated to 0012, the revision before the one under test.
    """
    built = create_database_engine(empty_database_url)
    upgrade(built, "0012")
    yield built
    built.dispose()


def _cart(cart_id: str, visitor_id: str | None, contact_id: str | None) -> dict[str, object]:
    return {
        "id": cart_id,
        "store_id": "st-1",
        "cart_key": cart_id,
        "visitor_id": visitor_id,
        "contact_id": contact_id,
        "status": "abandoned",
        "stage": "cart",
        "currency": "USD",
        "total": Decimal("10"),
        "item_count": 1,
        "is_bot": False,
        "signals": {},
        "created_at": NOW,
        "updated_at": NOW,
    }


def test_existing_carts_get_their_device_and_phone_country(engine: Engine) -> None:
    """
    The iPad visitor's cart is a tablet; the contact's +33 number makes it FR (`phone`); a
    cart with no visitor or contact stays empty. Downgrading drops the columns again.
    """
    # given: rows written at revision 0012
    with engine.begin() as db:
        db.execute(
            insert(stores).values(
                id="st-1",
                name="Shop",
                platform="custom",
                domains=[],
                currency="USD",
                timezone="UTC",
                abandon_after_seconds=1800,
                recovery_window_seconds=604800,
                settings={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        db.execute(
            insert(visitors).values(
                id="vi-1",
                store_id="st-1",
                anonymous_id="anon-1",
                user_agent=IPAD,
                is_bot=False,
                first_seen_at=NOW,
                last_seen_at=NOW,
            )
        )
        db.execute(
            insert(contacts).values(
                id="co-1",
                store_id="st-1",
                phone="+33612345678",
                is_bot=False,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        db.execute(insert(carts), [_cart("c-1", "vi-1", "co-1"), _cart("c-2", None, None)])
    # when
    upgrade(engine, "0013")
    # then
    query = select(carts.c.id, carts.c.device, carts.c.country, carts.c.country_source)
    with engine.connect() as db:
        found = sorted(tuple(row) for row in db.execute(query.order_by(carts.c.id)))
    assert [("c-1", "tablet", "FR", "phone"), ("c-2", None, None, None)] == found
    downgrade(engine, "0012")
