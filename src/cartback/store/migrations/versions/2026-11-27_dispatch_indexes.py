"""
Dispatch indexes: the in-flight claim covers `ambiguous` sends too (the reclaim reads both by
their lease), and the guards' per-contact reads (sends under the frequency cap through
`enrollments.contact_id`, a contact's orders) use an index instead of scanning the table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_IN_FLIGHT = "status IN ('sending', 'ambiguous')"


def upgrade() -> None:
    with op.batch_alter_table("touches", schema=None) as batch_op:
        batch_op.drop_index("ix_touches_lease_until_sending")
        batch_op.create_index(
            "ix_touches_lease_until_in_flight",
            ["lease_until"],
            unique=False,
            postgresql_where=sa.text(_IN_FLIGHT),
            sqlite_where=sa.text(_IN_FLIGHT),
        )
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enrollments_contact_id"), ["contact_id"], unique=False)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_orders_contact_id"), ["contact_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_contact_id"))
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollments_contact_id"))
    with op.batch_alter_table("touches", schema=None) as batch_op:
        batch_op.drop_index("ix_touches_lease_until_in_flight")
        batch_op.create_index(
            "ix_touches_lease_until_sending",
            ["lease_until"],
            unique=False,
            postgresql_where=sa.text("status = 'sending'"),
            sqlite_where=sa.text("status = 'sending'"),
        )
