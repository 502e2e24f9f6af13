"""the hub"s central schema: the replicated record keyed by site code, office tables, row-level security

Revision ID: hub0001
Revises: (none)
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "hub0001"
down_revision = None
branch_labels = None
depends_on = None

SITE_TABLES = ("hub_sites", "hub_devices", "hub_incidents", "hub_outages", "hub_evidence", "hub_acknowledgements",
               "hub_maintenance", "hub_report_runs", "hub_device_states", "hub_answers")
OFFICE_TABLES = ("hub_feeds", "hub_office_status", "hub_monitor_gaps")
OFFICE = "current_setting('ektp.office', true)"


def _owned(table: str) -> str:
    return (f"EXISTS (SELECT 1 FROM hub_site_owners o WHERE o.site_code = {table}.site_code "
            f"AND o.office_id = {OFFICE})")


def _row_level_security() -> None:
    """Every role but the owner may touch a row only for the office named in ``ektp.office`` (set by the
    ingest in each transaction): site rows of the sites it owns, office rows of itself. See monitor/hub/db.py."""
    for table in SITE_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY office_owns_site ON {table} FOR ALL USING ({_owned(table)}) "
                   f"WITH CHECK ({_owned(table)} AND office_id = {OFFICE})")
    for table in OFFICE_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY own_office ON {table} FOR ALL USING (office_id = {OFFICE}) "
                   f"WITH CHECK (office_id = {OFFICE})")


def upgrade() -> None:
    op.create_table("hub_acknowledgements",
    sa.Column("site_code", sa.String(length=16), nullable=False),
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("local_id", sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column("site_local_id", sa.String(length=64), nullable=False),
    sa.Column("incident_local_id", sa.BigInteger(), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("user_id", sa.BigInteger(), nullable=True),
    sa.Column("user_name", sa.String(length=200), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("source", sa.String(length=16), nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("site_code", "office_id", "local_id", name=op.f("pk_hub_acknowledgements"))
    )
    op.create_table("hub_answers",
    sa.Column("site_code", sa.String(length=16), nullable=False),
    sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("incident_local_id", sa.BigInteger(), nullable=False),
    sa.Column("status", sa.String(length=32), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("answered_by", sa.String(length=200), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("site_code", "id", name=op.f("pk_hub_answers"))
    )
    op.create_index("ix_hub_answers_office_id_delivered_at", "hub_answers", ["office_id", "delivered_at"], unique=False)
    op.create_table("hub_device_states",
    sa.Column("site_code", sa.String(length=16), nullable=False),
    sa.Column("device_key", sa.String(length=64), nullable=False),
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("flapping", sa.Boolean(), nullable=False),
    sa.Column("last_check_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("site_code", "device_key", name=op.f("pk_hub_device_states"))
    )
    op.create_table("hub_devices",
    sa.Column("site_code", sa.String(length=16), nullable=False),
    sa.Column("device_key", sa.String(length=64), nullable=False),
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("local_id", sa.BigInteger(), nullable=False),
    sa.Column("site_local_id", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("kind", sa.String(length=32), nullable=False),
    sa.Column("address", sa.String(length=255), nullable=True),
    sa.Column("installed", sa.String(length=10), nullable=True),
    sa.Column("funding", sa.String(length=8), nullable=True),
    sa.Column("model", sa.String(length=200), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("site_code", "device_key", name=op.f("pk_hub_devices"))
    )
    op.create_table("hub_evidence",
    sa.Column("site_code", sa.String(length=16), nullable=False),
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("local_id", sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column("site_local_id", sa.String(length=64), nullable=False),
    sa.Column("device_local_id", sa.BigInteger(), nullable=True),
    sa.Column("device_key", sa.String(length=64), nullable=True),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(length=32), nullable=False),
    sa.Column("source", sa.String(length=32), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("values", JSONB(), nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("site_code", "office_id", "local_id", name=op.f("pk_hub_evidence"))
    )
    op.create_index("ix_hub_evidence_site_code_time", "hub_evidence", ["site_code", "time"], unique=False)
    op.create_table("hub_feeds",
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("acked_seq", sa.BigInteger(), nullable=False),
    sa.Column("baseline_seq", sa.BigInteger(), nullable=True),
    sa.Column("schema_version", sa.Integer(), nullable=True),
    sa.Column("records_applied", sa.BigInteger(), nullable=False),
    sa.Column("last_batch_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("office_id", name=op.f("pk_hub_feeds"))
    )
    op.create_table("hub_incidents",
    sa.Column("site_code", sa.String(length=16), nullable=False),
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("local_id", sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column("site_local_id", sa.String(length=64), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("cause", sa.String(length=32), nullable=False),
    sa.Column("worst_status", sa.String(length=16), nullable=False),
    sa.Column("planned", sa.Boolean(), nullable=False),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("evidence", JSONB(), nullable=False),
    sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
    sa.Column("escalation", JSONB(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("site_code", "office_id", "local_id", name=op.f("pk_hub_incidents"))
    )
    op.create_index("ix_hub_incidents_site_code_started_at", "hub_incidents", ["site_code", "started_at"], unique=False)
    op.create_table("hub_maintenance",
    sa.Column("site_code", sa.String(length=16), nullable=False),
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("local_id", sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column("site_local_id", sa.String(length=64), nullable=False),
    sa.Column("device_local_id", sa.BigInteger(), nullable=True),
    sa.Column("device_key", sa.String(length=64), nullable=True),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("created_by", sa.String(length=200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("site_code", "office_id", "local_id", name=op.f("pk_hub_maintenance"))
    )
    op.create_table("hub_monitor_gaps",
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("local_id", sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.String(length=32), nullable=False),
    sa.Column("boot_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("office_id", "local_id", name=op.f("pk_hub_monitor_gaps"))
    )
    op.create_table("hub_office_status",
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("software", sa.String(length=32), nullable=True),
    sa.Column("monitor_started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("backlog_records", sa.BigInteger(), nullable=False),
    sa.Column("backlog_oldest_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("open_incidents", JSONB(), nullable=False),
    sa.PrimaryKeyConstraint("office_id", name=op.f("pk_hub_office_status"))
    )
    op.create_table("hub_offices",
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("office_id", name=op.f("pk_hub_offices"))
    )
    op.create_table("hub_outages",
    sa.Column("site_code", sa.String(length=16), nullable=False),
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("local_id", sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column("site_local_id", sa.String(length=64), nullable=False),
    sa.Column("device_local_id", sa.BigInteger(), nullable=False),
    sa.Column("device_key", sa.String(length=64), nullable=False),
    sa.Column("incident_local_id", sa.BigInteger(), nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("cause", sa.String(length=32), nullable=False),
    sa.Column("planned", sa.Boolean(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("evidence", JSONB(), nullable=False),
    sa.Column("gaps", JSONB(), nullable=False),
    sa.Column("timeline", JSONB(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("site_code", "office_id", "local_id", name=op.f("pk_hub_outages"))
    )
    op.create_index("ix_hub_outages_site_code_started_at", "hub_outages", ["site_code", "started_at"], unique=False)
    op.create_table("hub_report_runs",
    sa.Column("site_code", sa.String(length=16), nullable=False),
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("local_id", sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column("site_local_id", sa.String(length=64), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("incident_local_id", sa.BigInteger(), nullable=True),
    sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("files", JSONB(), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("site_code", "office_id", "local_id", name=op.f("pk_hub_report_runs"))
    )
    op.create_table("hub_site_owners",
    sa.Column("site_code", sa.String(length=16), nullable=False),
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint("site_code", name=op.f("pk_hub_site_owners"))
    )
    op.create_index(op.f("ix_hub_site_owners_office_id"), "hub_site_owners", ["office_id"], unique=False)
    op.create_table("hub_sites",
    sa.Column("site_code", sa.String(length=16), nullable=False),
    sa.Column("office_id", sa.String(length=64), nullable=False),
    sa.Column("local_id", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=200), nullable=False),
    sa.Column("timezone", sa.String(length=64), nullable=False),
    sa.Column("province", sa.String(length=100), nullable=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("site_code", name=op.f("pk_hub_sites"))
    )
    op.create_index(op.f("ix_hub_sites_office_id"), "hub_sites", ["office_id"], unique=False)

    _row_level_security()


def downgrade() -> None:
    for table in (*SITE_TABLES, *OFFICE_TABLES):
        op.execute(f"DROP POLICY IF EXISTS office_owns_site ON {table}")
        op.execute(f"DROP POLICY IF EXISTS own_office ON {table}")
    op.drop_index(op.f("ix_hub_sites_office_id"), table_name="hub_sites")
    op.drop_table("hub_sites")
    op.drop_index(op.f("ix_hub_site_owners_office_id"), table_name="hub_site_owners")
    op.drop_table("hub_site_owners")
    op.drop_table("hub_report_runs")
    op.drop_index("ix_hub_outages_site_code_started_at", table_name="hub_outages")
    op.drop_table("hub_outages")
    op.drop_table("hub_offices")
    op.drop_table("hub_office_status")
    op.drop_table("hub_monitor_gaps")
    op.drop_table("hub_maintenance")
    op.drop_index("ix_hub_incidents_site_code_started_at", table_name="hub_incidents")
    op.drop_table("hub_incidents")
    op.drop_table("hub_feeds")
    op.drop_index("ix_hub_evidence_site_code_time", table_name="hub_evidence")
    op.drop_table("hub_evidence")
    op.drop_table("hub_devices")
    op.drop_table("hub_device_states")
    op.drop_index("ix_hub_answers_office_id_delivered_at", table_name="hub_answers")
    op.drop_table("hub_answers")
    op.drop_table("hub_acknowledgements")
