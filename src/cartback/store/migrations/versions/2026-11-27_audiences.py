"""
Audiences and feeds: audience definitions per store, known contacts' and anonymous visitors'
memberships (kept apart), what each ad network holds of an audience (`audience_syncs`), and
the product details feeds need on catalog items (description, brand, GTIN, MPN).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audiences",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "definition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_audiences_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audiences")),
        sa.UniqueConstraint("store_id", "name", name=op.f("uq_audiences_store_id_name")),
    )
    op.create_table(
        "audience_syncs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("network", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("identifier", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_audience_syncs_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_audience_syncs_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_syncs")),
        sa.UniqueConstraint(
            "store_id",
            "audience",
            "network",
            "kind",
            "identifier",
            name=op.f("uq_audience_syncs_store_id_audience_network_kind_identifier"),
        ),
    )
    with op.batch_alter_table("audience_syncs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audience_syncs_contact_id"), ["contact_id"], unique=False
        )

    op.create_table(
        "audience_members",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("cart_id", sa.String(length=32), nullable=True),
        sa.Column("offer_eligible", sa.Boolean(), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_reason", sa.String(length=30), nullable=True),
        sa.ForeignKeyConstraint(
            ["cart_id"],
            ["carts.id"],
            name=op.f("fk_audience_members_cart_id_carts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_audience_members_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_audience_members_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_members")),
    )
    with op.batch_alter_table("audience_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audience_members_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            "ix_audience_members_expiring",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("left_at IS NULL"),
            sqlite_where=sa.text("left_at IS NULL"),
        )
        batch_op.create_index(
            "uq_audience_members_current",
            ["store_id", "audience", "contact_id"],
            unique=True,
            postgresql_where=sa.text("left_at IS NULL"),
            sqlite_where=sa.text("left_at IS NULL"),
        )

    op.create_table(
        "audience_visitors",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("visitor_id", sa.String(length=32), nullable=False),
        sa.Column("cart_id", sa.String(length=32), nullable=True),
        sa.Column("offer_eligible", sa.Boolean(), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_reason", sa.String(length=30), nullable=True),
        sa.ForeignKeyConstraint(
            ["cart_id"],
            ["carts.id"],
            name=op.f("fk_audience_visitors_cart_id_carts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_audience_visitors_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
            name=op.f("fk_audience_visitors_visitor_id_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_visitors")),
    )
    with op.batch_alter_table("audience_visitors", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audience_visitors_expiring",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("left_at IS NULL"),
            sqlite_where=sa.text("left_at IS NULL"),
        )
        batch_op.create_index(
            batch_op.f("ix_audience_visitors_visitor_id"), ["visitor_id"], unique=False
        )
        batch_op.create_index(
            "uq_audience_visitors_current",
            ["store_id", "audience", "visitor_id"],
            unique=True,
            postgresql_where=sa.text("left_at IS NULL"),
            sqlite_where=sa.text("left_at IS NULL"),
        )

    with op.batch_alter_table("catalog_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("brand", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("gtin", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("mpn", sa.String(length=70), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_items", schema=None) as batch_op:
        batch_op.drop_column("mpn")
        batch_op.drop_column("gtin")
        batch_op.drop_column("brand")
        batch_op.drop_column("description")

    with op.batch_alter_table("audience_visitors", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_audience_visitors_current",
            postgresql_where=sa.text("left_at IS NULL"),
            sqlite_where=sa.text("left_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_audience_visitors_visitor_id"))
        batch_op.drop_index(
            "ix_audience_visitors_expiring",
            postgresql_where=sa.text("left_at IS NULL"),
            sqlite_where=sa.text("left_at IS NULL"),
        )

    op.drop_table("audience_visitors")
    with op.batch_alter_table("audience_members", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_audience_members_current",
            postgresql_where=sa.text("left_at IS NULL"),
            sqlite_where=sa.text("left_at IS NULL"),
        )
        batch_op.drop_index(
            "ix_audience_members_expiring",
            postgresql_where=sa.text("left_at IS NULL"),
            sqlite_where=sa.text("left_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_audience_members_contact_id"))

    op.drop_table("audience_members")
    with op.batch_alter_table("audience_syncs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audience_syncs_contact_id"))

    op.drop_table("audience_syncs")
    op.drop_table("audiences")
