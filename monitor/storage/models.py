"""SQLAlchemy 2 typed models: the persistent record.

Conventions (both SQLite and PostgreSQL):

* every time is stored as naive UTC (:class:`UTCDateTime`) and read back as aware UTC;
* enums are stored as their string values (no database enum types, so adding a value needs no
  migration);
* outages, incidents, evidence, events, acknowledgements, outbox rows, delivery attempts, monitor gaps
  and report runs are kept for ever; only raw check samples are pruned (after an hourly roll-up);
* one open outage per device at most — enforced by a partial unique index, not only by code.

The schema is created and changed only by Alembic migrations (``monitor/storage/migrations``);
``tests/test_migrations.py`` proves the migrations produce exactly these models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database (sortable ISO text in SQLite)."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


JSONType = JSON().with_variant(JSON(none_as_null=True), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime, dict[str, Any]: JSONType, list[Any]: JSONType}


# ----------------------------------------------------------------------------------- inventory


class SiteRow(Base):
    """An office as last seen in the config (kept after removal so history stays readable)."""

    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    code: Mapped[str | None] = mapped_column(String(16))
    """Kemendagri area code (``62.12``): the site's national identity, the hub's key (monitor/areas.py)."""
    province: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]


class DeviceRow(Base):
    """A device as last seen in the config. Identity: (site_id, key)."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("site_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(255))
    installed: Mapped[str | None] = mapped_column(String(10))
    funding: Mapped[str | None] = mapped_column(String(8))
    """apbn | apbd | other: who bought it (APBN equipment waits for the Ministry's replacement)."""
    model: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]
    added_at: Mapped[datetime | None]
    """When the device was first watched (its time before that is "not yet monitored"); NULL for devices
    that existed before this column: they count from the first monitor start on record."""


# ------------------------------------------------------------------------------ observations


class CheckSample(Base):
    """One check result (raw; pruned after ``sample_retention_days`` once rolled up)."""

    __tablename__ = "check_samples"
    __table_args__ = (Index("ix_check_samples_device_time", "device_id", "time"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    check: Mapped[str] = mapped_column(String(100))
    time: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    reason_code: Mapped[str | None] = mapped_column(String(32))
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SampleRollup(Base):
    """Hourly summary of samples of one check: counts per status and min/avg/max per numeric metric."""

    __tablename__ = "sample_rollups"
    __table_args__ = (UniqueConstraint("device_id", "check", "hour"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    check: Mapped[str] = mapped_column(String(100))
    hour: Mapped[datetime]
    samples: Mapped[int] = mapped_column(Integer)
    status_counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)


class EvidenceRow(Base):
    """A timestamped fact (observation) about a device: UPS on battery, SPD tripped, strike counted,
    abnormal voltage, reboot, trap received, monitor host booted... The raw material of causes."""

    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_site_time", "site_id", "time"),
                      Index("ix_evidence_device_time", "device_id", "time"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    time: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)


# ----------------------------------------------------------------------------------- state


class DeviceStateRow(Base):
    """The engine's persisted state of one device, so a restart continues where it stopped.

    ``data`` holds engine-private counters (per-check confirmation counts, recent transitions for
    flapping) as JSON; ``metrics`` the latest metrics per check (e.g. UPS runtime for messages).
    """

    __tablename__ = "device_states"
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime]
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    last_check_at: Mapped[datetime | None]
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class IncidentRow(Base):
    """Outages at one site that share one root event. Alerts and escalation are per incident."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_site_started", "site_id", "started_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    cause: Mapped[str] = mapped_column(String(32), default="unknown")
    worst_status: Mapped[str] = mapped_column(String(16))
    planned: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    escalation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class OutageRow(Base):
    """One continuous non-up period of one device: start (first failed check), end, worst status,
    cause and the evidence for it. ``ended_at`` NULL = still open (at most one per device)."""

    __tablename__ = "outages"
    __table_args__ = (
        Index("ix_outages_device_started", "device_id", "started_at"),
        Index("uq_outages_one_open_per_device", "device_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    started_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    cause: Mapped[str] = mapped_column(String(32), default="unknown")
    planned: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    gaps: Mapped[list[Any]] = mapped_column(default=list)
    timeline: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'"))
    """Status changes inside the outage: ``[{"at": ISO UTC, "status": ...}, ...]``, the first at
    ``started_at``. ``status`` is the worst of them; reports count each stretch by its own status
    (a UPS degraded on battery for an hour, then down for five minutes, was down for five minutes)."""
    updated_at: Mapped[datetime]


class EventRow(Base):
    """Something that happened, written in the same transaction as the state change that caused it.

    The alerting side claims unprocessed events with a conditional UPDATE on ``claimed_at`` and turns
    them into outbox rows (healthchecks' Flip -> Notification pattern). ``kind`` is a
    :class:`monitor.events.EventKind`; ``payload`` is documented there.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_unclaimed", "claimed_at", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    outage_id: Mapped[int | None] = mapped_column(ForeignKey("outages.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))


class MaintenanceRow(Base):
    """An ad-hoc maintenance window or mute (set from Telegram or the CLI). Config windows are not
    stored here; they are computed from the config."""

    __tablename__ = "maintenance"
    __table_args__ = (Index("ix_maintenance_site_time", "site_id", "starts_at", "ends_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    kind: Mapped[str] = mapped_column(String(16), default="maintenance")  # maintenance | mute
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]


class MonitorGapRow(Base):
    """A period when the monitor itself was not running: reported as "not monitored", never as up."""

    __tablename__ = "monitor_gaps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(32))  # process_stopped | host_rebooted | clock_jump
    boot_time: Mapped[datetime | None]
    detected_at: Mapped[datetime]


class HeartbeatRow(Base):
    """The monitor's own heartbeat (one row per monitor instance name)."""

    __tablename__ = "heartbeats"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    beat_at: Mapped[datetime]
    started_at: Mapped[datetime]
    boot_time: Mapped[datetime | None]
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(32))


class AcknowledgementRow(Base):
    """Someone said "I'm on it" (Telegram button or /ack). Shown in reports."""

    __tablename__ = "acknowledgements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    time: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    user_name: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # button | command | cli


# ---------------------------------------------------------------------------------- delivery


class OutboxRow(Base):
    """A message to send, written in the same transaction as its cause. Claimed with a conditional
    UPDATE (status pending/retry -> sending); every attempt is recorded in ``delivery_attempts``.

    ``status``: pending, sending, sent, retry, suppressed (with ``last_error`` = reason), dead.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),
                      Index("ix_outbox_incident_id", "incident_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    audience: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    group_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    event_time: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    chat_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))


class DeliveryAttemptRow(Base):
    """One try at sending one outbox row, with its outcome."""

    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    time: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    retry_after: Mapped[float | None] = mapped_column(Float)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)


class AudienceStateRow(Base):
    """Delivery state of one (site, audience) chat: migrated chat ids and broken receivers."""

    __tablename__ = "audience_states"
    __table_args__ = (UniqueConstraint("scope", "audience"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))  # site id, or "*" for telegram.audiences
    audience: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str | None] = mapped_column(String(64))
    broken: Mapped[bool] = mapped_column(Boolean, default=False)
    broken_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ReportRunRow(Base):
    """One built report (weekly or escalation): period, files, delivery. Unique per (site, kind, period)
    so a missed weekly run made up on start is never built twice."""

    __tablename__ = "report_runs"
    __table_args__ = (UniqueConstraint("site_id", "kind", "period_start", "period_end"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[str] = mapped_column(String(16))  # weekly | escalation | adhoc
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # built | sent | failed
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class KeyValueRow(Base):
    """Small persistent settings of running parts (e.g. Telegram getUpdates offset)."""

    __tablename__ = "kv"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


# ------------------------------------------------------------------------------ the national feed


class FeedRow(Base):
    """One change of the record, written in the same transaction as the change (``monitor/storage/feed.py``):
    the entity's full snapshot after it. Shipped to the hub oldest first and deleted once acknowledged.

    ``seq`` is allocated from ``feed_state`` inside the writing transaction, so it is gap-free and in commit
    order. ``version`` is the seq that produced the snapshot (the hub keeps the highest version of each
    entity). ``site_code`` is the site's Kemendagri code at the time of the change (NULL for office-wide
    entities, i.e. monitor gaps).
    """

    __tablename__ = "feed"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    entity: Mapped[str] = mapped_column(String(32))
    local_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(BigInteger)
    schema_version: Mapped[int] = mapped_column(Integer)
    site_id: Mapped[str | None] = mapped_column(String(64))
    site_code: Mapped[str | None] = mapped_column(String(16))
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class FeedStateRow(Base):
    """The feed's sequence counter (one row, ``id`` 1). Updated in every transaction that writes the feed:
    the row lock (PostgreSQL) or the write lock (SQLite) makes seq order equal commit order."""

    __tablename__ = "feed_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class HubLinkRow(Base):
    """The shipper's side of the link to the hub (one row, ``id`` 1): what the hub acknowledged, where the
    current stream starts (``baseline_seq`` .. ``baseline_last``: a full snapshot of the record), and how the link
    is doing. ``target`` is the hub URL and office id the stream was made for; a new target means a new
    baseline. Read by ``ektp-monitor hub status`` and the metrics."""

    __tablename__ = "hub_link"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    target: Mapped[str | None] = mapped_column(String(400))
    baseline_seq: Mapped[int | None] = mapped_column(BigInteger)
    baseline_last: Mapped[int | None] = mapped_column(BigInteger)
    acked_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_contact_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class HubAnswerRow(Base):
    """An answer of the Ministry (received, replacement approved, shipped, resolved) about one of this
    office's incidents, as it arrived in an ingest reply. ``hub_id`` is the hub's id of the answer (each is
    recorded once); ``confirmed`` says the hub has been told it arrived. Not shipped back (the hub is its
    source). Turned into messages to the head of office by the answers part of the hub (issue 15, part B)."""

    __tablename__ = "hub_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hub_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    site_id: Mapped[str | None] = mapped_column(String(64))
    site_code: Mapped[str] = mapped_column(String(16))
    incident_id: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(200))
    answered_at: Mapped[datetime]
    received_at: Mapped[datetime]
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
