"""
Where a cart came from, for the report's recovery by device and country: `carts.device`
(desktop, mobile, tablet, unknown) from its visitor's user agent, and `carts.country` (ISO
3166 alpha-2) with `carts.country_source` (address, phone, locale), written at ingest.

Existing carts are backfilled from what is stored: the device from the visitor's user agent,
the country from the contact's phone number. Addresses and locales were only in raw events,
which this migration does not replay; those carts' countries stay empty (`unknown`) until an
event brings one.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 02:00:00.000000
"""

from __future__ import annotations

from collections import defaultdict

import phonenumbers
import sqlalchemy as sa
from alembic import op

# The parser as of this revision; a later change to it does not re-run this backfill.
from cartback.domain.origin import device_of

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_CHUNK = 500


def upgrade() -> None:
    with op.batch_alter_table("carts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("country", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("country_source", sa.String(length=10), nullable=True))
    _backfill_devices()
    _backfill_countries()


def downgrade() -> None:
    with op.batch_alter_table("carts", schema=None) as batch_op:
        batch_op.drop_column("country_source")
        batch_op.drop_column("country")
        batch_op.drop_column("device")


def _backfill_devices() -> None:
    """
    One update per distinct user agent (far fewer than carts).
    """
    db = op.get_bind()
    agents = db.execute(
        sa.text(
            "SELECT DISTINCT v.user_agent FROM visitors v JOIN carts c ON c.visitor_id = v.id "
            "WHERE v.user_agent IS NOT NULL"
        )
    ).scalars()
    for agent in list(agents):
        db.execute(
            sa.text(
                "UPDATE carts SET device = :device WHERE visitor_id IN "
                "(SELECT id FROM visitors WHERE user_agent = :agent)"
            ),
            {"device": device_of(agent).value, "agent": agent},
        )


def _backfill_countries() -> None:
    """
    The region of each cart's contact's phone number, grouped by region.
    """
    db = op.get_bind()
    rows = db.execute(
        sa.text(
            "SELECT DISTINCT ct.id, ct.phone FROM contacts ct JOIN carts c ON c.contact_id = ct.id "
            "WHERE ct.phone IS NOT NULL"
        )
    ).all()
    by_region: dict[str, list[str]] = defaultdict(list)
    for contact_id, phone in rows:
        region = _region(phone)
        if region is not None:
            by_region[region].append(contact_id)
    for region, contact_ids in by_region.items():
        for start in range(0, len(contact_ids), _CHUNK):
            db.execute(
                sa.text(
                    "UPDATE carts SET country = :country, country_source = 'phone' "
                    "WHERE contact_id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"country": region, "ids": contact_ids[start : start + _CHUNK]},
            )


def _region(phone: str) -> str | None:
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None
    return region if region and region != "001" else None
