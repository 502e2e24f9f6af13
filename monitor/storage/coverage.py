"""Reading the inputs of the coverage model (:mod:`monitor.engine.coverage`) from the office's record.

One place answers "what does the record say about the monitor itself and the planned windows of a site", so
the weekly report, the escalation letter and Telegram ``/status`` count the same time the same way:

* :func:`load_watch` — monitoring began (the first ``monitor_started`` event), the last sign of life (the
  latest heartbeat or check result, as the daemon's own gap detection reads it), the recorded gaps, and
  whether the monitor is running at ``now``: told by the caller (the daemon knows it is running), else
  inferred from the heartbeat being fresher than :func:`~monitor.engine.coverage.silence_threshold`;
* :func:`load_maintenance` — config windows (one-off, and recurring ``cron`` expanded in the site's zone as
  :mod:`monitor.engine.maintenance` reads it) and ad-hoc ``maintenance`` rows (``mute`` rows only silence
  alerts: they are not maintenance);
* :func:`load_site_input` — everything :func:`~monitor.engine.coverage.cover` needs for one site;
* :func:`site_parts` — the site's parts over a window, e.g. the last 24 hours for Telegram ``/status``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from monitor.domain import Cause, Status
from monitor.engine import coverage as cv
from monitor.engine.coverage import Part
from monitor.engine.maintenance import parse_cron
from monitor.settings import MaintenanceWindow, Settings, Site
from monitor.storage.models import (
    DeviceRow,
    DeviceStateRow,
    EventRow,
    HeartbeatRow,
    MaintenanceRow,
    MonitorGapRow,
    OutageRow,
)

__all__ = ["MaintenanceRecord", "Part", "load_maintenance", "load_site_input", "load_watch", "site_parts"]

MONITOR_STARTED = "monitor_started"   # monitor.events.EventKind.MONITOR_STARTED (storage may not import events)


@dataclass(frozen=True, slots=True)
class MaintenanceRecord:
    """A planned-work window. ``devices`` empty = the whole site."""

    start: datetime
    end: datetime
    reason: str
    devices: frozenset[str] = frozenset()
    source: str = "config"       # config | adhoc
    created_by: str | None = None

    def covers(self, device: str) -> bool:
        return not self.devices or device in self.devices

    def window(self) -> cv.Window:
        return cv.Window(self.start, self.end, self.devices)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ------------------------------------------------------------------------------------------- the monitor


def first_start(session: Session) -> datetime | None:
    """When monitoring began: the first monitor start on record (None: it never ran)."""
    return _aware(session.scalar(select(func.min(EventRow.time)).where(EventRow.kind == MONITOR_STARTED)))


def last_sign_of_life(session: Session) -> datetime | None:
    """The latest heartbeat or check result (the daemon's gap detection starts its gaps there)."""
    beat = _aware(session.scalar(select(func.max(HeartbeatRow.beat_at))))
    check = _aware(session.scalar(select(func.max(DeviceStateRow.last_check_at))))
    found = [t for t in (beat, check) if t is not None]
    return max(found) if found else None


def load_watch(session: Session, now: datetime, *, heartbeat_interval: timedelta, running: bool | None = None,
               start: datetime | None = None, end: datetime | None = None) -> cv.Watch:
    """The monitor's own record (see the module docstring); gaps overlapping ``[start, end)`` (all when
    not given)."""
    last = last_sign_of_life(session)
    if running is None:
        running = last is not None and now - last <= cv.silence_threshold(heartbeat_interval)
    g = MonitorGapRow
    stmt = select(g).order_by(g.started_at, g.id)
    if start is not None and end is not None:
        stmt = stmt.where(g.started_at < end, g.ended_at > start)
    gaps = tuple(cv.Gap(r.started_at, r.ended_at, r.reason) for r in session.scalars(stmt))
    return cv.Watch(first_start(session), last, running, gaps)


# ------------------------------------------------------------------------------------------- maintenance


def expand_window(win: MaintenanceWindow, zone: str, start: datetime,
                  end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Occurrences of a config window that overlap ``[start, end)``, as aware UTC intervals."""
    tz = ZoneInfo(zone)
    if win.start is not None and win.end is not None:
        s = win.start if win.start.tzinfo else win.start.replace(tzinfo=tz)
        e = win.end if win.end.tzinfo else win.end.replace(tzinfo=tz)
        s, e = s.astimezone(UTC), e.astimezone(UTC)
        if s < end and e > start:
            yield s, e
        return
    if win.cron is None or win.duration is None:
        return
    trigger = parse_cron(win.cron, zone)  # the engine's own cron reading (crontab weekdays, site zone)
    cursor = (start - win.duration).astimezone(tz)
    previous: datetime | None = None
    for _ in range(10_000):  # bounded: far more occurrences than any sensible window has in a report period
        fire = trigger.get_next_fire_time(previous, cursor)
        if fire is None or fire >= end:
            return
        s = fire.astimezone(UTC)
        e = s + win.duration
        if e > start:
            yield s, e
        previous = fire
        cursor = fire + timedelta(seconds=1)


def config_maintenance(site: Site, start: datetime, end: datetime) -> tuple[MaintenanceRecord, ...]:
    out: list[MaintenanceRecord] = []
    for win in site.maintenance:
        for s, e in expand_window(win, site.timezone, start, end):
            out.append(MaintenanceRecord(start=s, end=e, reason=win.reason, devices=frozenset(win.devices),
                                         source="config"))
    return tuple(out)


def load_maintenance(session: Session, site: Site, keys: Mapping[int, str], start: datetime,
                     end: datetime) -> tuple[MaintenanceRecord, ...]:
    """Config windows and ad-hoc maintenance rows of ``site`` overlapping ``[start, end)``, in time order.
    ``keys``: devices.id -> config id of the site's devices (a row for another site's device is ignored)."""
    out = list(config_maintenance(site, start, end))
    m = MaintenanceRow
    for row in session.scalars(select(m).where(m.site_id == site.id, m.kind == "maintenance", m.starts_at < end,
                                               m.ends_at > start).order_by(m.starts_at, m.id)):
        stop = row.ends_at if row.cancelled_at is None else min(row.ends_at, row.cancelled_at)
        if stop <= row.starts_at:
            continue  # cancelled before it began
        if row.device_id is not None and row.device_id not in keys:
            continue
        devs = frozenset({keys[row.device_id]}) if row.device_id is not None else frozenset()
        out.append(MaintenanceRecord(start=row.starts_at, end=stop, reason=row.reason, devices=devs,
                                     source="adhoc", created_by=row.created_by))
    return tuple(sorted(out, key=lambda x: (x.start, x.end)))


# ------------------------------------------------------------------------------------------- one site


def status_of(value: str | None) -> Status:
    """A stored status string; unknown strings (written by a newer version) read as ``unknown``."""
    try:
        return Status(value or "unknown")
    except ValueError:
        return Status.UNKNOWN


def cause_of(value: str | None) -> Cause:
    """A stored cause string; unknown strings read as ``unknown``."""
    try:
        return Cause(value or "unknown")
    except ValueError:
        return Cause.UNKNOWN


def outage_timeline(raw: object) -> tuple[tuple[datetime, Status], ...]:
    """An outage's ``timeline`` JSON as (time, status), oldest first; malformed entries are skipped."""
    out: list[tuple[datetime, Status]] = []
    for item in raw if isinstance(raw, list) else ():
        if not isinstance(item, dict) or not isinstance(item.get("status"), str):
            continue
        try:
            at = datetime.fromisoformat(str(item.get("at")).replace("Z", "+00:00"))
        except ValueError:
            continue
        out.append((at if at.tzinfo else at.replace(tzinfo=UTC), status_of(item["status"])))
    return tuple(sorted(out, key=lambda x: x[0]))


def load_site_input(session: Session, settings: Settings, site_id: str, start: datetime, end: datetime,
                    now: datetime, *, running: bool | None = None) -> cv.SiteInput:
    """Everything :func:`monitor.engine.coverage.cover` needs for ``site_id`` over ``[start, end)``."""
    site = settings.site(site_id)
    rows = {r.key: r for r in session.scalars(select(DeviceRow).where(DeviceRow.site_id == site_id))}
    keys = {r.id: r.key for r in rows.values()}
    devices = tuple(cv.DeviceInput(d.id, _aware(rows[d.id].added_at) if d.id in rows else None)
                    for d in site.devices)
    o = OutageRow
    outages = tuple(
        cv.OutageInput(keys[r.device_id], r.started_at, r.ended_at, status_of(r.status), cause_of(r.cause),
                       outage_timeline(r.timeline), r.id)
        for r in session.scalars(select(o).where(o.device_id.in_(sorted(keys)), o.started_at < end,
                                                 or_(o.ended_at.is_(None), o.ended_at > start)))) if keys else ()
    maintenance = tuple(m.window() for m in load_maintenance(session, site, keys, start, end))
    watch = load_watch(session, now, heartbeat_interval=settings.monitor.heartbeat_interval, running=running,
                       start=start, end=end)
    services = tuple(cv.ServiceInput(s.id, s.up_when, tuple(s.devices)) for s in site.services)
    return cv.SiteInput(devices, watch, outages, maintenance, services)


def site_parts(session: Session, settings: Settings, site_id: str, start: datetime, now: datetime, *,
               running: bool | None = None) -> cv.Parts:
    """The whole site's parts over ``[start, now)`` (the coverage model's ``site``: all of its services)."""
    inp = load_site_input(session, settings, site_id, start, now, now, running=running)
    return cv.cover(inp, start, now, now).site.parts
