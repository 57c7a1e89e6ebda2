"""
Catalog items learned from storefront events: `catalog_items.read_at` may be empty, for an
item no platform read has told Cartback about yet (its stock is unknown).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_items", schema=None) as batch_op:
        batch_op.alter_column("read_at", existing_type=sa.DateTime(timezone=True), nullable=True)


def downgrade() -> None:
    # Before this revision every item had a stock read: the ones only events told of go (no
    # stock watch can point at them; watches are set on read items only).
    op.execute(sa.text("DELETE FROM catalog_items WHERE read_at IS NULL"))
    with op.batch_alter_table("catalog_items", schema=None) as batch_op:
        batch_op.alter_column("read_at", existing_type=sa.DateTime(timezone=True), nullable=False)
