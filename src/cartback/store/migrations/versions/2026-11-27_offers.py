"""
Offers and restore-link clicks: discount codes given to enrollments (`offers`), co-marketing
partner programs and their code pools, prices, costs and page details on catalog items, and
`touches.clicked_at`.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_programs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("partner", sa.String(length=200), nullable=False),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.Column("eligibility", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "value", sa.Numeric(20, 4).with_variant(sa.BigInteger(), "sqlite"), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("code_source", sa.String(length=10), nullable=False),
        sa.Column("expires_in_seconds", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_partner_programs_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_programs")),
        sa.UniqueConstraint("store_id", "name", name=op.f("uq_partner_programs_store_id_name")),
    )
    op.create_table(
        "offers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "value", sa.Numeric(20, 4).with_variant(sa.BigInteger(), "sqlite"), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("offer_key", sa.String(length=200), nullable=False),
        sa.Column("enrollment_id", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.String(length=32), nullable=False),
        sa.Column("cart_id", sa.String(length=32), nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("platform_ref", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_key", sa.String(length=255), nullable=True),
        sa.Column(
            "discount_amount",
            sa.Numeric(20, 4).with_variant(sa.BigInteger(), "sqlite"),
            nullable=True,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cart_id"], ["carts.id"], name=op.f("fk_offers_cart_id_carts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_offers_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_offers_enrollment_id_enrollments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_offers_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint(
            "enrollment_id", "offer_key", name=op.f("uq_offers_enrollment_id_offer_key")
        ),
        sa.UniqueConstraint("store_id", "code", name=op.f("uq_offers_store_id_code")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_offers_open",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("status IN ('pending', 'active', 'superseded', 'expired')"),
            sqlite_where=sa.text("status IN ('pending', 'active', 'superseded', 'expired')"),
        )
        batch_op.create_index(
            batch_op.f("ix_offers_store_id_contact_id_created_at"),
            ["store_id", "contact_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "partner_codes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("program_id", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("offer_id", sa.String(length=32), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["offers.id"],
            name=op.f("fk_partner_codes_offer_id_offers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["partner_programs.id"],
            name=op.f("fk_partner_codes_program_id_partner_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_codes")),
        sa.UniqueConstraint("program_id", "code", name=op.f("uq_partner_codes_program_id_code")),
    )
    with op.batch_alter_table("partner_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_partner_codes_free",
            ["program_id", "id"],
            unique=False,
            postgresql_where=sa.text("assigned_at IS NULL"),
            sqlite_where=sa.text("assigned_at IS NULL"),
        )

    with op.batch_alter_table("catalog_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "price", sa.Numeric(20, 4).with_variant(sa.BigInteger(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "compare_at_price",
                sa.Numeric(20, 4).with_variant(sa.BigInteger(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "cost", sa.Numeric(20, 4).with_variant(sa.BigInteger(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("category", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("image_url", sa.String(length=2048), nullable=True))

    with op.batch_alter_table("touches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("touches", schema=None) as batch_op:
        batch_op.drop_column("clicked_at")

    with op.batch_alter_table("catalog_items", schema=None) as batch_op:
        batch_op.drop_column("image_url")
        batch_op.drop_column("url")
        batch_op.drop_column("category")
        batch_op.drop_column("currency")
        batch_op.drop_column("cost")
        batch_op.drop_column("compare_at_price")
        batch_op.drop_column("price")

    with op.batch_alter_table("partner_codes", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_partner_codes_free",
            postgresql_where=sa.text("assigned_at IS NULL"),
            sqlite_where=sa.text("assigned_at IS NULL"),
        )

    op.drop_table("partner_codes")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offers_store_id_contact_id_created_at"))
        batch_op.drop_index(
            "ix_offers_open",
            postgresql_where=sa.text("status IN ('pending', 'active', 'superseded', 'expired')"),
            sqlite_where=sa.text("status IN ('pending', 'active', 'superseded', 'expired')"),
        )

    op.drop_table("offers")
    op.drop_table("partner_programs")
