"""devices.added_at: when a device was first watched (the coverage model's "not yet monitored")

Revision ID: 0003
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0005"   # main's head when this branch merged it (issue 15's national feed)
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the devices that exist already: they count from the first monitor start on record
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("added_at", sa.DateTime(timezone=False), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("added_at")
