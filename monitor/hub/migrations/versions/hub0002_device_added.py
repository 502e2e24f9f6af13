"""hub_devices.added_at: the office's devices.added_at (office migration 0003), for the coverage model

Revision ID: hub0002
Revises: hub0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0002"
down_revision = "hub0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hub_devices", sa.Column("added_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("hub_devices", "added_at")
