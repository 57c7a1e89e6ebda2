"""
Platform sources: unmapped event names counted per store and name, and the consent ledger's
confirmation stamp (the latest time a source repeated an entry).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 06:47:36.567130
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unmapped_events",
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("count > 0", name=op.f("ck_unmapped_events_count_positive")),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_unmapped_events_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "name", name=op.f("pk_unmapped_events")),
    )
    with op.batch_alter_table("consent_ledger", schema=None) as batch_op:
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE consent_ledger SET confirmed_at = occurred_at")
    with op.batch_alter_table("consent_ledger", schema=None) as batch_op:
        batch_op.alter_column(
            "confirmed_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_ledger", schema=None) as batch_op:
        batch_op.drop_column("confirmed_at")
    op.drop_table("unmapped_events")
