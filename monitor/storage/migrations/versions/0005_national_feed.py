"""national feed: site codes, device funding, the feed, the hub link and the Ministry's answers

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def _big() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("province", sa.String(length=100), nullable=True))
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("funding", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("model", sa.String(length=200), nullable=True))

    op.create_table(
        "feed",
        sa.Column("seq", _big(), autoincrement=False, nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("local_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("site_code", sa.String(length=16), nullable=True),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_feed")),
    )
    feed_state = op.create_table(
        "feed_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_state")),
    )
    op.bulk_insert(feed_state, [{"id": 1, "last_seq": 0}])
    op.create_table(
        "hub_link",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("target", sa.String(length=400), nullable=True),
        sa.Column("baseline_seq", sa.BigInteger(), nullable=True),
        sa.Column("baseline_last", sa.BigInteger(), nullable=True),
        sa.Column("acked_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_contact_at", sa.DateTime(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_status_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_link")),
    )
    op.create_table(
        "hub_answers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hub_id", sa.BigInteger(), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=True),
        sa.Column("site_code", sa.String(length=16), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=200), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_answers")),
        sa.UniqueConstraint("hub_id", name=op.f("uq_hub_answers_hub_id")),
    )
    with op.batch_alter_table("hub_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hub_answers_incident_id"), ["incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hub_answers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hub_answers_incident_id"))
    op.drop_table("hub_answers")
    op.drop_table("hub_link")
    op.drop_table("feed_state")
    op.drop_table("feed")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("model")
        batch_op.drop_column("funding")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("province")
        batch_op.drop_column("code")
