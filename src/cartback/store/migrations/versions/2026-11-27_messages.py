"""
Messages: HTML and headers kept by the outbox, what providers said after taking a message
(`delivery_events`; `delivered_at`, `provider_error`, SMS segments and cost on touches), the
stores' own templates (`message_templates`) and short restore links for texts (`short_links`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_MONEY = sa.Numeric(20, 4).with_variant(sa.BigInteger(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def _store_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["store_id"], ["stores.id"], name=op.f(f"fk_{table}_store_id_stores"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("html", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("headers", _JSON, nullable=True))
    with op.batch_alter_table("touches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivered_at", _WHEN, nullable=True))
        batch_op.add_column(sa.Column("provider_error", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("segments", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cost_estimate", _MONEY, nullable=True))
        batch_op.add_column(sa.Column("cost_currency", sa.String(length=3), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_touches_provider_id"),
            ["provider_id"],
            unique=False,
            postgresql_where=sa.text("provider_id IS NOT NULL"),
            sqlite_where=sa.text("provider_id IS NOT NULL"),
        )
    op.create_table(
        "message_templates",
        sa.Column("id", _ID, nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("locale", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("preheader", sa.String(length=500), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        _store_fk("message_templates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
        sa.UniqueConstraint(
            "store_id",
            "name",
            "channel",
            "locale",
            name=op.f("uq_message_templates_store_id_name_channel_locale"),
        ),
    )
    op.create_table(
        "short_links",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("touch_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        _store_fk("short_links"),
        sa.ForeignKeyConstraint(
            ["touch_id"],
            ["touches.id"],
            name=op.f("fk_short_links_touch_id_touches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_short_links")),
        sa.UniqueConstraint("touch_id", name=op.f("uq_short_links_touch_id")),
    )
    op.create_table(
        "delivery_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("store_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("provider_id", sa.String(length=255), nullable=True),
        sa.Column("touch_id", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("received_at", _WHEN, nullable=False),
        _store_fk("delivery_events"),
        sa.ForeignKeyConstraint(
            ["touch_id"],
            ["touches.id"],
            name=op.f("fk_delivery_events_touch_id_touches"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_events")),
        sa.UniqueConstraint(
            "store_id",
            "provider",
            "event_key",
            name=op.f("uq_delivery_events_store_id_provider_event_key"),
        ),
    )
    with op.batch_alter_table("delivery_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_events_touch_id"), ["touch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_events_touch_id"))
    op.drop_table("delivery_events")
    op.drop_table("short_links")
    op.drop_table("message_templates")
    with op.batch_alter_table("touches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_touches_provider_id"))
        batch_op.drop_column("cost_currency")
        batch_op.drop_column("cost_estimate")
        batch_op.drop_column("segments")
        batch_op.drop_column("provider_error")
        batch_op.drop_column("delivered_at")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("headers")
        batch_op.drop_column("html")
