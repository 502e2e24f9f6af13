"""The monitor's own health, read from its record: what ``ektp-monitor status`` reports and ``/metrics`` exposes.

:func:`read_health` reads the figures in one read-only transaction (heartbeat, when each device was last
checked, the outbox backlog, open outages and incidents, monitor gaps, the hub link); :func:`evaluate` turns
them into findings with the Nagios states (pure: ``now`` is a parameter). Thresholds:

* **heartbeat** — written every ``monitor.heartbeat_interval``: older than 3 intervals is *warning* (the
  daemon is stalled or its database writes fail), older than 10 intervals or missing is *critical* (it is
  not running: that time will be reported as not monitored);
* **checks late** — a device whose last check is older than twice its shortest check interval plus the
  timeout and the start-up jitter: some late is *warning*, every device late while the heartbeat is fresh
  is *critical* (the scheduler stopped);
* **outbox** — the oldest message waiting to be sent: older than ``alerts.digest_after`` is *warning*
  (Telegram or the link is down: alerts wait, none lost), older than 6 hours *critical*; ``dead`` rows
  (given up after ``alerts.max_attempts``) are *warning*;
* **database** — SQLite: the file and its folder writable by this user (a read-only command may not write
  to find out) and at least 50 MB free; PostgreSQL: the server accepts writes (not a read-only replica);
* **hub link** — only when the office ships its record to a hub (see :func:`hub_link`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from monitor.daemon.shipper import link_info
from monitor.settings import Settings
from monitor.storage.models import (
    CheckSample,
    DeviceRow,
    DeviceStateRow,
    HeartbeatRow,
    IncidentRow,
    MaintenanceRow,
    MonitorGapRow,
    OutageRow,
    OutboxRow,
)

WAITING = ("pending", "retry")
MIN_FREE_BYTES = 50 * 1024 * 1024


class State(IntEnum):
    """Nagios plugin states, which are also ``ektp-monitor status``'s exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True, slots=True)
class Finding:
    name: str
    state: State
    detail: str
    value: float | None = None

    def json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state.name.lower(), "code": int(self.state),
                "detail": self.detail, "value": self.value}


@dataclass(frozen=True, slots=True)
class HubLink:
    """What the shipper reports about the office → hub link (None: this office ships to no hub)."""

    backlog: int                          # feed rows not yet accepted by the hub
    oldest_unsent: datetime | None        # when the oldest of them was written
    last_accepted: datetime | None        # the hub's last accepted batch


@dataclass(slots=True)
class HealthFigures:
    """Everything :func:`evaluate` needs, read from the record."""

    heartbeat: datetime | None = None
    started: datetime | None = None
    pid: int | None = None
    pid_alive: bool | None = None         # None: cannot tell (another host may run it: PostgreSQL)
    version: str | None = None
    last_checks: dict[tuple[str, str], datetime | None] = field(default_factory=dict)  # (site, device) -> last
    outbox: dict[str, int] = field(default_factory=dict)
    oldest_waiting: datetime | None = None
    outages_open: dict[tuple[str, str, str], int] = field(default_factory=dict)       # (site, status, cause)
    incidents_open: dict[tuple[str, str, bool], int] = field(default_factory=dict)    # (site, cause, acked)
    windows_active: dict[tuple[str, str], int] = field(default_factory=dict)          # (site, kind)
    gaps: int = 0
    gap_seconds: float = 0.0
    database_ok: bool = True
    database_detail: str = ""
    hub: HubLink | None = None


HubReader = Callable[[Session, Settings, datetime], HubLink | None]


def hub_link(session: Session, settings: Settings, now: datetime) -> HubLink | None:
    """The office → hub link (``monitor/daemon/shipper.py``, issue 15) when ``settings`` names a hub: the
    feed rows not yet acknowledged, the oldest one's time, the last contact. None without ``hub:``."""
    if settings.hub is None:
        return None
    info = link_info(session)
    return HubLink(backlog=info.backlog_records, oldest_unsent=info.oldest_at, last_accepted=info.last_contact_at)


def read_health(session: Session, settings: Settings, now: datetime, *, monitor_name: str = "monitor",
                hub: HubReader = hub_link, checks: bool = True) -> HealthFigures:
    """The figures, in the caller's (read-only) transaction. ``checks=False`` skips when each device was last
    checked (``/metrics`` knows it from the running daemon's memory)."""
    f = HealthFigures()
    hb = session.get(HeartbeatRow, monitor_name)
    if hb is not None:
        f.heartbeat, f.started, f.pid, f.version = hb.beat_at, hb.started_at, hb.pid, hb.version
    f.pid_alive = _alive(f.pid) if hb is not None and session.get_bind().dialect.name == "sqlite" else None
    active = {(d.site_id, d.key): d.id for d in session.scalars(select(DeviceRow).where(DeviceRow.active.is_(True)))}
    if checks:
        # device_states is written on changes (throttled), the raw samples at every check: each device's newest
        # sample (one index lookup per device: ix_check_samples_device_time) tells when it was last checked
        last = {row.device_id: row.last_check_at for row in session.scalars(select(DeviceStateRow))}
        newest = select(func.max(CheckSample.time)).where(CheckSample.device_id == DeviceRow.id).scalar_subquery()
        for dev_id, at in session.execute(select(DeviceRow.id, newest).where(DeviceRow.active.is_(True))):
            if at is not None and (last.get(dev_id) is None or at > last[dev_id]):  # type: ignore[operator]
                last[dev_id] = at
        f.last_checks = {key: last.get(dev_id) for key, dev_id in active.items()}
    f.outbox = {status: int(n) for status, n in session.execute(
        select(OutboxRow.status, func.count()).group_by(OutboxRow.status))}
    f.oldest_waiting = session.scalar(select(func.min(OutboxRow.created_at)).where(OutboxRow.status.in_(WAITING)))
    for site, status, cause, n in session.execute(
            select(DeviceRow.site_id, OutageRow.status, OutageRow.cause, func.count())
            .join(DeviceRow, DeviceRow.id == OutageRow.device_id).where(OutageRow.ended_at.is_(None))
            .group_by(DeviceRow.site_id, OutageRow.status, OutageRow.cause)):
        f.outages_open[(site, status, cause)] = int(n)
    for site, cause, acked, n in session.execute(
            select(IncidentRow.site_id, IncidentRow.cause, IncidentRow.acknowledged_at.is_not(None), func.count())
            .where(IncidentRow.ended_at.is_(None))
            .group_by(IncidentRow.site_id, IncidentRow.cause, IncidentRow.acknowledged_at.is_not(None))):
        f.incidents_open[(site, cause, bool(acked))] = int(n)
    for site, kind, n in session.execute(
            select(MaintenanceRow.site_id, MaintenanceRow.kind, func.count())
            .where(MaintenanceRow.starts_at <= now, MaintenanceRow.ends_at > now,
                   MaintenanceRow.cancelled_at.is_(None)).group_by(MaintenanceRow.site_id, MaintenanceRow.kind)):
        f.windows_active[(site, kind)] = int(n)
    gaps = session.execute(select(MonitorGapRow.started_at, MonitorGapRow.ended_at)).all()
    f.gaps = len(gaps)
    f.gap_seconds = sum(max((end - start).total_seconds(), 0.0) for start, end in gaps)
    f.database_ok, f.database_detail = _database_writable(session, settings)
    f.hub = hub(session, settings, now)
    return f


def _alive(pid: int | None) -> bool | None:
    if pid is None or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _database_writable(session: Session, settings: Settings) -> tuple[bool, str]:
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        name = bind.engine.url.database or ""
        if not name or name == ":memory:":
            return True, "in memory"
        path = Path(name)
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            return False, f"{path} (or its folder) is not writable by this user"
        free = shutil.disk_usage(path.parent).free
        if free < MIN_FREE_BYTES:
            return False, f"only {free // (1024 * 1024)} MB free beside {path}"
        return True, f"{path}, {free // (1024 * 1024)} MB free"
    if bind.dialect.name == "postgresql":
        read_only = session.execute(text("SHOW transaction_read_only")).scalar()
        if str(read_only).lower() == "on":
            return False, "the PostgreSQL server accepts no writes (read-only or a replica)"
        return True, "PostgreSQL accepts writes"
    return True, bind.dialect.name


def check_grace(settings: Settings) -> dict[tuple[str, str], timedelta]:
    """How old a device's last check may be before it is late: twice its shortest interval, plus the
    timeout of every attempt and the start-up jitter."""
    out: dict[tuple[str, str], timedelta] = {}
    jitter = settings.monitor.jitter
    for site, dev in settings.iter_devices():
        specs = [c for c in dev.checks if c.enabled]
        if not specs:
            continue
        spec = min(specs, key=lambda c: c.interval)
        out[(site.id, dev.id)] = 2 * spec.interval + spec.timeout * (spec.retries + 1) + jitter
    return out


def late_devices(last_checks: Mapping[tuple[str, str], datetime | None], grace: Mapping[tuple[str, str], timedelta],
                 *, running_since: datetime | None, now: datetime) -> list[tuple[str, str]]:
    """Devices (configured and checked) whose last check is older than their grace; a device never checked
    counts from ``running_since`` (the daemon's start)."""
    late = []
    for key, allowed in grace.items():
        last = last_checks.get(key)
        ref = last if last is not None else running_since
        if ref is not None and now - ref > allowed:
            late.append(key)
    return sorted(late)


def _age(then: datetime | None, now: datetime) -> float | None:
    return None if then is None else max((now - then).total_seconds(), 0.0)


def _fmt_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def evaluate(f: HealthFigures, settings: Settings, now: datetime) -> list[Finding]:
    """The findings, worst first within their fixed order (heartbeat, checks, outbox, database, hub)."""
    out: list[Finding] = []
    interval = settings.monitor.heartbeat_interval.total_seconds()
    age = _age(f.heartbeat, now)
    if age is None:
        out.append(Finding("heartbeat", State.CRITICAL, "no heartbeat recorded: the monitor has never run here"))
    else:
        state = State.OK if age <= 3 * interval else State.WARNING if age <= 10 * interval else State.CRITICAL
        words = {State.OK: "running", State.WARNING: "late: the daemon is stalled or cannot write",
                 State.CRITICAL: "the monitor is not running (this time will be reported as not monitored)"}
        word = words[state]
        if f.pid_alive is False:  # its last beat was written on the way out
            state, word = State.CRITICAL, f"the monitor stopped (process {f.pid} is gone)"
        out.append(Finding("heartbeat", state, f"last heartbeat {_fmt_age(age)} ago, {word}", age))
    grace = check_grace(settings)
    running = age is not None and age <= 3 * interval and f.pid_alive is not False
    late = late_devices(f.last_checks, grace, running_since=f.started, now=now) if running else []
    if not running:
        out.append(Finding("checks", State.UNKNOWN if age is None else State.CRITICAL,
                           "no checks run while the monitor is not running", None))
    elif late and len(late) == len(grace):
        out.append(Finding("checks", State.CRITICAL, f"all {len(late)} devices late: the checks stopped",
                           float(len(late))))
    elif late:
        names = ", ".join(f"{s}/{d}" for s, d in late[:5]) + (" …" if len(late) > 5 else "")
        out.append(Finding("checks", State.WARNING, f"{len(late)} of {len(grace)} devices late: {names}",
                           float(len(late))))
    else:
        out.append(Finding("checks", State.OK, f"{len(grace)} devices checked on time", 0.0))
    waiting = sum(f.outbox.get(s, 0) for s in WAITING) + f.outbox.get("sending", 0)
    oldest = _age(f.oldest_waiting, now)
    dead = f.outbox.get("dead", 0)
    if oldest is not None and oldest > 6 * 3600:
        state = State.CRITICAL
    elif (oldest is not None and oldest > settings.alerts.digest_after.total_seconds()) or dead:
        state = State.WARNING
    else:
        state = State.OK
    detail = f"{waiting} message(s) waiting" + (f", oldest {_fmt_age(oldest)}" if oldest is not None else "")
    if dead:
        detail += f", {dead} given up (dead)"
    out.append(Finding("outbox", state, detail, float(waiting)))
    out.append(Finding("database", State.OK if f.database_ok else State.CRITICAL, f.database_detail))
    if f.hub is not None:
        out.append(_hub_finding(f.hub, now))
    return out


def _hub_finding(hub: HubLink, now: datetime) -> Finding:
    oldest = _age(hub.oldest_unsent, now)
    state = State.OK
    if oldest is not None and oldest > 24 * 3600:
        state = State.CRITICAL
    elif oldest is not None and oldest > 3600:
        state = State.WARNING
    detail = f"{hub.backlog} record(s) not yet at the hub" + (f", oldest {_fmt_age(oldest)}" if oldest else "")
    return Finding("hub", state, detail, float(hub.backlog))


def overall(findings: Iterable[Finding]) -> State:
    """The worst state; UNKNOWN only when nothing is worse (Nagios ranks CRITICAL above UNKNOWN)."""
    states = [x.state for x in findings]
    for s in (State.CRITICAL, State.WARNING, State.UNKNOWN):
        if s in states:
            return s
    return State.OK


def summary(findings: Sequence[Finding]) -> str:
    """One Nagios plugin line: ``EKTP-MONITOR WARNING - … | perfdata``."""
    state = overall(findings)
    text = "; ".join(f"{x.name}: {x.detail}" for x in findings)
    perf = " ".join(f"{x.name}={x.value:g}" for x in findings if x.value is not None)
    return f"EKTP-MONITOR {state.name} - {text}" + (f" | {perf}" if perf else "")
