"""The inputs of a report, read from the database into frozen values (:class:`ReportData`).

This is the only module of :mod:`monitor.reports` that touches the database. Reports are built from the
record the detection engine writes — outages, incidents, maintenance, monitor gaps, evidence,
acknowledgements, device states — never from raw check samples (DESIGN.md).

What is loaded for a site and a window ``[start, end)`` (the caller passes a window that covers the
report period *and* the previous period, for the trend):

* devices: the site's devices from the config (name, kind, model, age, funding) joined with their
  ``devices`` row; devices that are no longer in the config but still have outages in the window are
  included from the ``devices`` table (``in_config=False``) so their history stays visible;
* outages overlapping the window (``started_at < end`` and ``ended_at`` NULL or ``> start``);
* ``history``: every outage of the site's devices that started in the 36 months before ``end`` (for
  recurrence: "the third power failure of a 15-year-old server");
* incidents overlapping the window, and their acknowledgements;
* maintenance: windows from the config (one-off, and recurring ``cron`` expanded in the site's zone exactly
  as :mod:`monitor.engine.maintenance` reads it: crontab weekday numbers, 0 or 7 = Sunday) plus ad-hoc
  ``maintenance`` rows of kind ``maintenance`` (a cancelled row ends at ``cancelled_at``). Rows of kind
  ``mute`` only silence alerts: they are **not** maintenance and do not change any figure;
* monitor gaps overlapping the window (they concern every site this monitor watches);
* evidence rows of the site in the window; the current device states;
* the monitor's own record (:func:`monitor.storage.coverage.load_watch`): ``monitoring_since`` (the first
  ``monitor_started`` event — a new installation has no record of the weeks before it),
  ``last_heartbeat`` (the last sign of life) and ``running`` (whether it runs at ``now``: when it does not,
  the time after its last heartbeat is *not running*, never up);
* per device ``added_at`` (time before it is *not yet monitored*).

Unknown ``status``/``cause`` strings (written by a newer version) are read as ``unknown``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.domain import Cause, Status
from monitor.engine import coverage as cv
from monitor.engine.causes import merge_facts
from monitor.settings import Settings, Site
from monitor.storage.coverage import (
    MaintenanceRecord,
    cause_of,
    config_maintenance,
    expand_window,
    load_maintenance,
    load_watch,
    outage_timeline,
    status_of,
)
from monitor.storage.models import (
    AcknowledgementRow,
    DeviceRow,
    DeviceStateRow,
    EvidenceRow,
    IncidentRow,
    OutageRow,
)

__all__ = ["MaintenanceRecord", "config_maintenance", "expand_window"]   # kept importable from here

HISTORY_MONTHS = 36


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One device of the site as the report shows it."""

    id: str                      # the config id (devices.key)
    name: str
    kind: str                    # monitor.domain.DeviceKind value
    db_id: int | None = None
    installed: str | None = None  # "YYYY-MM" or "YYYY"
    model: str | None = None
    serial: str | None = None
    funding: str | None = None    # apbn | apbd | other
    powered_by: str | None = None
    depends_on: tuple[str, ...] = ()
    in_config: bool = True
    added_at: datetime | None = None   # first watched (devices.added_at); None: since monitoring began


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One fact behind a cause: ``{time, device, kind, text, source, values}`` (monitor/events.py)."""

    time: datetime | None
    device: str
    kind: str
    text: str
    source: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutageRecord:
    """One row of ``outages``. ``ended_at`` None = still open."""

    id: int
    device: str
    started_at: datetime
    ended_at: datetime | None
    status: Status
    cause: Cause
    incident_id: int | None = None
    confirmed_at: datetime | None = None
    planned: bool = False
    reason: str | None = None
    evidence: tuple[EvidenceItem, ...] = ()
    timeline: tuple[tuple[datetime, Status], ...] = ()
    """Status changes inside the outage (``outages.timeline``); empty = ``status`` all along."""

    def end_or(self, default: datetime) -> datetime:
        return self.ended_at if self.ended_at is not None else default

    def coverage_input(self) -> cv.OutageInput:
        return cv.OutageInput(self.device, self.started_at, self.ended_at, self.status, self.cause, self.timeline,
                              self.id)

    def spans(self, default_end: datetime) -> list[tuple[datetime, datetime, Status]]:
        """``(start, end, status)`` stretches covering the outage, each with the status it really had."""
        return self.coverage_input().spans(default_end)


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    id: int
    started_at: datetime
    ended_at: datetime | None
    cause: Cause
    worst_status: Status
    planned: bool = False
    title: str = ""
    evidence: tuple[EvidenceItem, ...] = ()
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    escalation: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AckRecord:
    incident_id: int
    time: datetime
    user_name: str
    note: str | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class GapRecord:
    """A time the monitor itself was not running (process stopped, host rebooted, clock jump)."""

    start: datetime
    end: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class ObservationRecord:
    """One ``evidence`` row: a timestamped fact about a device (or the site when ``device`` is None)."""

    time: datetime
    device: str | None
    kind: str
    text: str
    source: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceStateRecord:
    device: str
    status: Status
    since: datetime
    reason: str | None = None
    last_check_at: datetime | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything a report of one site needs, for the window ``[start, end)``."""

    site: Site
    start: datetime
    end: datetime
    devices: tuple[DeviceInfo, ...]
    outages: tuple[OutageRecord, ...] = ()
    history: tuple[OutageRecord, ...] = ()
    incidents: tuple[IncidentRecord, ...] = ()
    acks: tuple[AckRecord, ...] = ()
    maintenance: tuple[MaintenanceRecord, ...] = ()
    gaps: tuple[GapRecord, ...] = ()
    observations: tuple[ObservationRecord, ...] = ()
    states: tuple[DeviceStateRecord, ...] = ()
    monitoring_since: datetime | None = None     # first monitor start on record (None: it never ran)
    last_heartbeat: datetime | None = None       # the monitor's last sign of life
    running: bool = True                         # the monitor runs at the report's ``now``

    def device(self, device_id: str) -> DeviceInfo:
        for d in self.devices:
            if d.id == device_id:
                return d
        raise KeyError(device_id)


# ------------------------------------------------------------------------------------------ helpers


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (``Z`` allowed) or datetime as aware UTC; None when missing or malformed."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None


def one_per_event(items: Iterable[EvidenceItem]) -> tuple[EvidenceItem, ...]:
    """Timed facts as physical events (:func:`monitor.engine.causes.merge_facts`): a fact seen by a trap and by
    a poll is one item whose ``source`` names both; untimed items are kept as they are, after them."""
    timed = [e for e in items if e.time is not None]
    merged = [replace(e, source=sources) for e, sources in
              merge_facts(timed, lambda e: (e.time or datetime.min, e.device, e.kind, e.source))]
    return (*merged, *(e for e in items if e.time is None))


def evidence_items(raw: Any) -> tuple[EvidenceItem, ...]:
    """The JSON ``evidence`` list of an outage/incident as values, one item per physical event; malformed
    items are skipped."""
    if not isinstance(raw, list):
        return ()
    out: list[EvidenceItem] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        values = item.get("values")
        out.append(EvidenceItem(time=parse_time(item.get("time")), device=str(item.get("device") or ""),
                                kind=str(item.get("kind") or ""), text=str(item.get("text") or ""),
                                source=str(item.get("source") or ""),
                                values=dict(values) if isinstance(values, dict) else {}))
    return one_per_event(out)


def device_infos(site: Site) -> tuple[DeviceInfo, ...]:
    """The site's configured devices as :class:`DeviceInfo` (without database ids)."""
    return tuple(DeviceInfo(id=d.id, name=d.name, kind=d.kind.value, installed=d.installed, model=d.model,
                            serial=d.serial, funding=d.funding, powered_by=d.powered_by,
                            depends_on=tuple(d.depends_on)) for d in site.devices)


# ------------------------------------------------------------------------------------------- loading


def months_before(dt: datetime, months: int) -> datetime:
    """``dt`` minus whole calendar months (the day clamped to the target month's length)."""
    year, month0 = divmod(dt.year * 12 + dt.month - 1 - months, 12)
    day = min(dt.day, calendar.monthrange(year, month0 + 1)[1])
    return dt.replace(year=year, month=month0 + 1, day=day)


def load_report_data(session: Session, settings: Settings, site_id: str, start: datetime, end: datetime,
                     *, now: datetime | None = None, running: bool | None = None,
                     history_months: int = HISTORY_MONTHS) -> ReportData:
    """Read the record of ``site_id`` for ``[start, end)`` (see the module docstring for what is read).
    ``running``: whether the monitor runs at ``now`` (the daemon says True); None infers it from the
    heartbeat."""
    site = settings.site(site_id)
    rows = {r.key: r for r in session.scalars(select(DeviceRow).where(DeviceRow.site_id == site_id))}
    configured = {d.id for d in site.devices}
    devices: list[DeviceInfo] = []
    for info in device_infos(site):
        row = rows.get(info.id)
        devices.append(info if row is None else replace(info, db_id=row.id, added_at=row.added_at))
    by_db_id: dict[int, str] = {r.id: r.key for r in rows.values()}

    o = OutageRow
    overlap = (o.started_at < end) & or_(o.ended_at.is_(None), o.ended_at > start)
    hist_start = months_before(end, history_months)
    outage_rows = list(session.scalars(select(o).where(o.device_id.in_(sorted(by_db_id)), overlap | (
        (o.started_at >= hist_start) & (o.started_at < end))).order_by(o.started_at, o.id))) if by_db_id else []
    outages: list[OutageRecord] = []
    history: list[OutageRecord] = []
    used_removed: set[str] = set()
    for orow in outage_rows:
        rec = _outage(orow, by_db_id[orow.device_id])
        if orow.started_at < end and (orow.ended_at is None or orow.ended_at > start):
            outages.append(rec)
            if rec.device not in configured:
                used_removed.add(rec.device)
        if orow.started_at >= hist_start:
            history.append(rec)
    for key in sorted(used_removed):
        row = rows[key]
        devices.append(DeviceInfo(id=key, name=row.name, kind=row.kind, db_id=row.id, installed=row.installed,
                                  in_config=False, added_at=row.added_at))

    i = IncidentRow
    incident_rows = list(session.scalars(select(i).where(
        i.site_id == site_id, i.started_at < end, or_(i.ended_at.is_(None), i.ended_at > start)
    ).order_by(i.started_at, i.id)))
    incident_ids = {r.id for r in incident_rows} | {x.incident_id for x in outages if x.incident_id is not None}
    missing = incident_ids - {r.id for r in incident_rows}
    if missing:
        incident_rows.extend(session.scalars(select(i).where(i.id.in_(sorted(missing)))))
    incidents = tuple(sorted((_incident(r) for r in incident_rows), key=lambda x: (x.started_at, x.id)))
    acks = tuple(AckRecord(incident_id=a.incident_id, time=a.time, user_name=a.user_name, note=a.note,
                           source=a.source)
                 for a in session.scalars(select(AcknowledgementRow).where(
                     AcknowledgementRow.incident_id.in_(sorted(incident_ids))).order_by(
                     AcknowledgementRow.time, AcknowledgementRow.id))) if incident_ids else ()

    maintenance = load_maintenance(session, site, by_db_id, start, end)
    watch = load_watch(session, now or end, heartbeat_interval=settings.monitor.heartbeat_interval,
                       running=running, start=start, end=end)
    gaps = tuple(GapRecord(start=g.start, end=g.end, reason=g.reason) for g in watch.gaps)

    e = EvidenceRow
    site_filter = e.site_id == site_id
    if by_db_id:
        site_filter = site_filter | e.device_id.in_(sorted(by_db_id))
    observations = tuple(
        ObservationRecord(time=r.time, device=by_db_id.get(r.device_id) if r.device_id is not None else None,
                          kind=r.kind, text=r.text, source=r.source, values=dict(r.values or {}))
        for r in session.scalars(select(e).where(site_filter, e.time >= start, e.time < end)
                                 .order_by(e.time, e.id)))

    ids = sorted(by_db_id)
    states = tuple(DeviceStateRecord(device=by_db_id[r.device_id], status=status_of(r.status), since=r.since,
                                     reason=r.reason, last_check_at=r.last_check_at, metrics=dict(r.metrics or {}))
                   for r in session.scalars(select(DeviceStateRow).where(DeviceStateRow.device_id.in_(ids)))
                   ) if by_db_id else ()

    return ReportData(site=site, start=start, end=end, devices=tuple(devices), outages=tuple(outages),
                      history=tuple(history), incidents=incidents, acks=acks, maintenance=maintenance, gaps=gaps,
                      observations=observations, states=states, monitoring_since=watch.first_heartbeat,
                      last_heartbeat=watch.last_heartbeat, running=watch.running)


def _outage(r: OutageRow, device: str) -> OutageRecord:
    return OutageRecord(id=r.id, device=device, started_at=r.started_at, ended_at=r.ended_at,
                        status=status_of(r.status), cause=cause_of(r.cause), incident_id=r.incident_id,
                        confirmed_at=r.confirmed_at, planned=bool(r.planned), reason=r.reason,
                        evidence=evidence_items(r.evidence), timeline=outage_timeline(r.timeline))


def _incident(r: IncidentRow) -> IncidentRecord:
    return IncidentRecord(id=r.id, started_at=r.started_at, ended_at=r.ended_at, cause=cause_of(r.cause),
                          worst_status=status_of(r.worst_status), planned=bool(r.planned), title=r.title or "",
                          evidence=evidence_items(r.evidence), acknowledged_at=r.acknowledged_at,
                          acknowledged_by=r.acknowledged_by, escalation=dict(r.escalation or {}))


def incident_site(session: Session, incident_id: int) -> tuple[str, datetime, datetime | None]:
    """(site id, started_at, ended_at) of an incident; KeyError when there is none."""
    row = session.get(IncidentRow, incident_id)
    if row is None:
        raise KeyError(incident_id)
    return row.site_id, row.started_at, row.ended_at
