"""The hub's central schema on PostgreSQL: every office's record, one copy, keyed by site code.

Two kinds of tables:

* **site tables** — the replicated record (``hub_sites``, ``hub_devices``, ``hub_outages``, ``hub_incidents``,
  ``hub_evidence``, ``hub_acknowledgements``, ``hub_maintenance``, ``hub_report_runs``), the current device
  states from the status message (``hub_device_states``) and the Ministry's answers (``hub_answers``).
  Every primary and unique key starts with ``site_code`` (collision-free across 514 office databases,
  and the distribution column if the hub ever moves to Citus: see docs/decisions/0012). A replicated row
  is identified by (site code, office, the office's local id) and carries ``version`` (the feed seq of its
  snapshot): an older version never overwrites a newer one.
* **office tables** — about an office as a whole, small, one row per office or per office event
  (:data:`OFFICE_TABLES`: offices and site ownership from HUB.yaml, the feed cursor, the office's last
  status, its monitor gaps). Under Citus they would be reference tables.

Times are ``timestamptz``; JSON is ``jsonb``. Column names follow the office's snapshot (``monitor/storage/
feed.py``), with the office's ids renamed ``*_local_id`` and device ids resolved to their keys
(``monitor/hub/entities.py`` holds the mapping both ways). Row-level security (``monitor/hub/db.py``,
migration ``hub0001``) lets the ingest role write only rows of sites its office owns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Boolean, DateTime, Identity, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TZ = DateTime(timezone=True)
CODE = String(16)
OFFICE = String(64)


class HubBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: TZ, dict[str, Any]: JSONB, list[Any]: JSONB}


def table_of(model: type[HubBase]) -> Table:
    """The Core table of a central model (typed)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


# ------------------------------------------------------------------------------------ office tables


class HubOffice(HubBase):
    """An office as HUB.yaml lists it (synced at ``hub serve`` start)."""

    __tablename__ = "hub_offices"
    office_id: Mapped[str] = mapped_column(OFFICE, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class HubSiteOwner(HubBase):
    """Which office owns a site code (from HUB.yaml): the table row-level security checks."""

    __tablename__ = "hub_site_owners"
    site_code: Mapped[str] = mapped_column(CODE, primary_key=True)
    office_id: Mapped[str] = mapped_column(OFFICE, index=True)


class HubFeed(HubBase):
    """The office's feed cursor: every seq up to ``acked_seq`` is applied. Locked (``FOR UPDATE``) by each
    ingest of that office, so replicas never apply one office's batches concurrently."""

    __tablename__ = "hub_feeds"
    office_id: Mapped[str] = mapped_column(OFFICE, primary_key=True)
    acked_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    baseline_seq: Mapped[int | None] = mapped_column(BigInteger)
    schema_version: Mapped[int | None] = mapped_column(Integer)
    records_applied: Mapped[int] = mapped_column(BigInteger, default=0)
    last_batch_at: Mapped[datetime | None]


class HubOfficeStatus(HubBase):
    """The office's last status message: its liveness (``last_seen``, hub clock; ``status_at``, office
    clock), its monitor, its backlog and open incidents. Silent-office detection (part B) reads it."""

    __tablename__ = "hub_office_status"
    office_id: Mapped[str] = mapped_column(OFFICE, primary_key=True)
    last_seen: Mapped[datetime]
    status_at: Mapped[datetime | None]
    software: Mapped[str | None] = mapped_column(String(32))
    monitor_started_at: Mapped[datetime | None]
    backlog_records: Mapped[int] = mapped_column(BigInteger, default=0)
    backlog_oldest_at: Mapped[datetime | None]
    open_incidents: Mapped[list[Any]] = mapped_column(default=list)


class HubMonitorGap(HubBase):
    """A period when the office's monitor was not running (office-wide: it covers all its sites)."""

    __tablename__ = "hub_monitor_gaps"
    office_id: Mapped[str] = mapped_column(OFFICE, primary_key=True)
    local_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(32))
    boot_time: Mapped[datetime | None]
    detected_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime]


OFFICE_TABLES = frozenset({"hub_offices", "hub_site_owners", "hub_feeds", "hub_office_status", "hub_monitor_gaps"})
"""Tables about an office as a whole (no site code in their keys; Citus reference tables)."""


# -------------------------------------------------------------------------------------- site tables


class _Replica:
    """Columns of every replicated site row: (site code, office, local id) and the version."""

    site_code: Mapped[str] = mapped_column(CODE, primary_key=True, sort_order=-4)
    office_id: Mapped[str] = mapped_column(OFFICE, primary_key=True, sort_order=-3)
    local_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False, sort_order=-2)
    site_local_id: Mapped[str] = mapped_column(String(64), sort_order=-1)
    version: Mapped[int] = mapped_column(BigInteger, sort_order=100)
    received_at: Mapped[datetime] = mapped_column(sort_order=101)


class HubSite(HubBase):
    """A site (office or sub-district recording point) as its office's inventory says."""

    __tablename__ = "hub_sites"
    site_code: Mapped[str] = mapped_column(CODE, primary_key=True)
    office_id: Mapped[str] = mapped_column(OFFICE, index=True)
    local_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    province: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime]


class HubDevice(HubBase):
    """A device of a site: kind, installation date and funding (the replacement queue's equipment)."""

    __tablename__ = "hub_devices"
    site_code: Mapped[str] = mapped_column(CODE, primary_key=True)
    device_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    office_id: Mapped[str] = mapped_column(OFFICE)
    local_id: Mapped[int] = mapped_column(BigInteger)
    site_local_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(255))
    installed: Mapped[str | None] = mapped_column(String(10))
    funding: Mapped[str | None] = mapped_column(String(8))
    model: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]
    added_at: Mapped[datetime | None]
    """When the office first watched it (the coverage model's "not yet monitored"; NULL: since monitoring began)."""
    version: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime]


class HubIncident(_Replica, HubBase):
    """Outages at one site sharing a root event, with the office's escalation state (``escalation``: the
    ladder's notified audiences and reports — "escalated to the Ministry" is read from it)."""

    __tablename__ = "hub_incidents"
    __table_args__ = (Index("ix_hub_incidents_site_code_started_at", "site_code", "started_at"),)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    cause: Mapped[str] = mapped_column(String(32))
    worst_status: Mapped[str] = mapped_column(String(16))
    planned: Mapped[bool] = mapped_column(Boolean)
    title: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[Any]]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    escalation: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class HubOutage(_Replica, HubBase):
    """One continuous non-up period of one device, with its status timeline, cause, evidence and gaps."""

    __tablename__ = "hub_outages"
    __table_args__ = (Index("ix_hub_outages_site_code_started_at", "site_code", "started_at"),)
    device_local_id: Mapped[int] = mapped_column(BigInteger)
    device_key: Mapped[str] = mapped_column(String(64))
    incident_local_id: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str] = mapped_column(String(32))
    planned: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[Any]]
    gaps: Mapped[list[Any]]
    timeline: Mapped[list[Any]]
    updated_at: Mapped[datetime]


class HubEvidence(_Replica, HubBase):
    """A timestamped fact about a device or site (UPS on battery, SPD tripped, strike counted...)."""

    __tablename__ = "hub_evidence"
    __table_args__ = (Index("ix_hub_evidence_site_code_time", "site_code", "time"),)
    device_local_id: Mapped[int | None] = mapped_column(BigInteger)
    device_key: Mapped[str | None] = mapped_column(String(64))
    time: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    values: Mapped[dict[str, Any]]


class HubAcknowledgement(_Replica, HubBase):
    """Someone at the office said "I'm on it" for an incident."""

    __tablename__ = "hub_acknowledgements"
    incident_local_id: Mapped[int] = mapped_column(BigInteger)
    time: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    user_name: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))


class HubMaintenance(_Replica, HubBase):
    """An ad-hoc maintenance window or mute set at the office (Telegram or CLI)."""

    __tablename__ = "hub_maintenance"
    device_local_id: Mapped[int | None] = mapped_column(BigInteger)
    device_key: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]


class HubReportRun(_Replica, HubBase):
    """A report the office built (weekly or escalation) and whether it was sent. ``files`` are paths on
    the office's machine."""

    __tablename__ = "hub_report_runs"
    kind: Mapped[str] = mapped_column(String(16))
    incident_local_id: Mapped[int | None] = mapped_column(BigInteger)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    files: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)


class HubDeviceState(HubBase):
    """A device's current state, from the office's status message (not part of the feed)."""

    __tablename__ = "hub_device_states"
    site_code: Mapped[str] = mapped_column(CODE, primary_key=True)
    device_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    office_id: Mapped[str] = mapped_column(OFFICE)
    status: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    last_check_at: Mapped[datetime | None]
    reported_at: Mapped[datetime]
    received_at: Mapped[datetime]


class HubAnswer(HubBase):
    """An answer of the Ministry about an office's incident: ``received``, ``replacement_approved``,
    ``shipped``, ``resolved``. Written by the hub (part B: the board and the Ministry's Telegram command);
    travels to the office in the ingest reply until the office confirms it (``delivered_at``)."""

    __tablename__ = "hub_answers"
    __table_args__ = (Index("ix_hub_answers_office_id_delivered_at", "office_id", "delivered_at"),)
    site_code: Mapped[str] = mapped_column(CODE, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    office_id: Mapped[str] = mapped_column(OFFICE)
    incident_local_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str] = mapped_column(String(200))
    answered_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


ANSWER_STATUSES = ("received", "replacement_approved", "shipped", "resolved")
"""The Ministry's answers, in the order an escalation normally moves through them."""
