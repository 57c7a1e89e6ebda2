"""
Report snapshots: the dashboard overview's measurement report, computed by the worker every
`CARTBACK_REPORT_SNAPSHOT_EVERY` (or on "Refresh now") and read in one row, one per store and
period key (`30d`). The document is the report's JSON as text. Nothing to backfill: the first
view of a store's overview, or the worker's next pass, computes it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_snapshots",
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_report_snapshots_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "period", name=op.f("pk_report_snapshots")),
    )
    with op.batch_alter_table("report_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_snapshots_period_computed_at", ["period", "computed_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("report_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_report_snapshots_period_computed_at")
    op.drop_table("report_snapshots")
