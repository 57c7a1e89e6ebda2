"""
Catalog: product variants' availability per store (`catalog_items`) and the stock watches of
abandoned carts' unavailable or pre-order lines (`stock_watches`), for the `back_in_stock` and
`launch` triggers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("item_key", sa.String(length=257), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=False),
        sa.Column("variant_id", sa.String(length=255), nullable=True),
        sa.Column("sku", sa.String(length=255), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=True),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("preorder", sa.Boolean(), nullable=False),
        sa.Column("release_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_catalog_items_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_items")),
        sa.UniqueConstraint(
            "store_id", "item_key", name=op.f("uq_catalog_items_store_id_item_key")
        ),
    )
    with op.batch_alter_table("catalog_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_items_store_id_sku"),
            ["store_id", "sku"],
            unique=False,
            postgresql_where=sa.text("sku IS NOT NULL"),
            sqlite_where=sa.text("sku IS NOT NULL"),
        )

    op.create_table(
        "stock_watches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("cart_id", sa.String(length=32), nullable=False),
        sa.Column("item_key", sa.String(length=257), nullable=False),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cart_id"],
            ["carts.id"],
            name=op.f("fk_stock_watches_cart_id_carts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_stock_watches_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_watches")),
        sa.UniqueConstraint("cart_id", "item_key", name=op.f("uq_stock_watches_cart_id_item_key")),
    )
    with op.batch_alter_table("stock_watches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stock_watches_store_id_item_key"), ["store_id", "item_key"], unique=False
        )


def downgrade() -> None:
    # Dropping a table drops its indexes.
    op.drop_table("stock_watches")
    op.drop_table("catalog_items")
