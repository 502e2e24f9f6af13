"""Availability figures of one period, from the coverage model (pure; see monitor/reports/figures.py for the
rules a report states and :mod:`monitor.engine.coverage` for what every second is).

:func:`period_figures` turns a :class:`~monitor.reports.data.ReportData` into the coverage model's input,
covers ``[period.start, period.end)`` as known at ``now``, and adds what a report needs on top of the parts:
failures (islands), MTTR/MTBF, the longest failure, central (upstream) downtime, and the estimated impact on
recordings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from monitor.domain import Cause, DeviceKind
from monitor.engine import coverage as cv
from monitor.engine.coverage import Part, Segment, Timeline
from monitor.reports.data import DeviceInfo, ReportData
from monitor.reports.period import Period
from monitor.settings import Site

WORKING_DAYS = (0, 1, 2, 3, 4)            # Monday..Friday
WORK_START = time(8, 0)
WORK_END = time(16, 0)

Slot = Part            # the name the report code used before the coverage model


@dataclass(frozen=True, slots=True)
class Island:
    """One failure on a timeline: unavailable time, joined across excluded time."""

    start: datetime
    end: datetime
    down_s: float
    cause: Cause
    origin: str | None
    from_start: bool      # begins at the window start (it may have begun earlier)


@dataclass(frozen=True, slots=True)
class Availability:
    """Time accounting of one timeline over the period (seconds), with the coverage parts it comes from."""

    parts: cv.Parts
    failures: int
    degraded_periods: int
    longest: Island | None
    islands: tuple[Island, ...]
    central_down_s: float          # part of down_s with cause upstream

    def _s(self, part: Part) -> float:
        return self.parts.seconds(part)

    @property
    def up_s(self) -> float:
        return self._s(Part.UP)

    @property
    def degraded_s(self) -> float:
        return self._s(Part.DEGRADED)

    @property
    def down_s(self) -> float:
        """Unavailable: down + unreachable, unplanned."""
        return self.parts.unavailable.total_seconds()

    @property
    def unreachable_s(self) -> float:
        return self._s(Part.UNREACHABLE)

    @property
    def maintenance_s(self) -> float:
        return self._s(Part.MAINTENANCE)

    @property
    def unknown_s(self) -> float:
        return self._s(Part.UNKNOWN)

    @property
    def not_running_s(self) -> float:
        return self._s(Part.NOT_RUNNING)

    @property
    def not_yet_monitored_s(self) -> float:
        return self._s(Part.NOT_YET_MONITORED)

    @property
    def future_s(self) -> float:
        return self._s(Part.FUTURE)

    @property
    def unmonitored_s(self) -> float:
        """Not monitored: the monitor not running, not yet monitored, or status unknown."""
        return self.not_running_s + self.not_yet_monitored_s + self.unknown_s

    @property
    def elapsed_s(self) -> float:
        """The period up to ``now`` (everything but the future)."""
        return (self.parts.total - self.parts[Part.FUTURE]).total_seconds()

    @property
    def down_by_cause(self) -> tuple[tuple[Cause, float], ...]:
        return tuple((c, d.total_seconds()) for c, d in self.parts.down_by_cause)

    @property
    def observed_s(self) -> float:
        return self.parts.monitored.total_seconds()

    @property
    def available_s(self) -> float:
        return self.parts.available.total_seconds()

    @property
    def availability(self) -> float | None:
        """Percent of monitored time available; None when nothing was monitored."""
        ratio = self.parts.availability
        return None if ratio is None else 100.0 * ratio

    @property
    def local_availability(self) -> float | None:
        """Availability not counting central (upstream) downtime against the office."""
        obs = self.observed_s
        return None if obs <= 0 else 100.0 * (obs - (self.down_s - self.central_down_s)) / obs

    @property
    def mttr_s(self) -> float | None:
        return self.down_s / self.failures if self.failures else None

    @property
    def mtbf_s(self) -> float | None:
        return self.available_s / self.failures if self.failures else None


@dataclass(frozen=True, slots=True)
class DeviceFigures:
    device: DeviceInfo
    availability: Availability
    timeline: Timeline


@dataclass(frozen=True, slots=True)
class ServiceFigures:
    id: str
    name: str
    up_when: Literal["any", "all"]
    devices: tuple[str, ...]
    availability: Availability
    timeline: Timeline
    recording: bool          # contains a recording server


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """All availability figures of one period."""

    period: Period
    window_end: datetime       # min(period end, now): the figures cover the period up to here
    record_end: datetime       # the end of the record: now while the monitor runs, else its last heartbeat
    running: bool              # the monitor ran at ``now``
    site: Availability
    site_timeline: Timeline
    services: tuple[ServiceFigures, ...]
    devices: tuple[DeviceFigures, ...]
    incidents: int

    @property
    def complete(self) -> bool:
        return self.window_end >= self.period.end

    @property
    def tail_s(self) -> float:
        """The open not-running tail (from the last heartbeat to the window end; 0 while running)."""
        return max(0.0, (self.window_end - self.record_end).total_seconds())

    def service(self, service_id: str) -> ServiceFigures | None:
        return next((s for s in self.services if s.id == service_id), None)

    def device(self, device_id: str) -> DeviceFigures | None:
        return next((d for d in self.devices if d.device.id == device_id), None)


# ------------------------------------------------------------------------------------------- figures


def clip(s: datetime, e: datetime, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    s2, e2 = max(s, start), min(e, end)
    return (s2, e2) if s2 < e2 else None


def islands(timeline: Timeline) -> tuple[Island, ...]:
    """Failures: runs of unavailable time, joined across excluded time (maintenance, not monitored)."""
    if not timeline:
        return ()
    w_start = timeline[0].start
    out: list[Island] = []
    cur: list[Segment] = []
    for seg in timeline:
        if seg.part.unavailable:
            cur.append(seg)
        elif seg.part.available and cur:
            out.append(_island(cur, w_start))
            cur = []
    if cur:
        out.append(_island(cur, w_start))
    return tuple(out)


def _island(segs: list[Segment], w_start: datetime) -> Island:
    first, last = segs[0], segs[-1]
    return Island(start=first.start, end=last.end, down_s=sum(s.seconds for s in segs),
                  cause=first.cause or Cause.UNKNOWN, origin=first.origin, from_start=first.start == w_start)


def availability(timeline: Timeline) -> Availability:
    """Time accounting of a timeline (see monitor/reports/figures.py)."""
    parts = cv.parts_of(timeline)
    central = sum(seg.seconds for seg in timeline if seg.part.unavailable and seg.cause is Cause.UPSTREAM)
    degraded_runs = 0
    prev: Part | None = None
    for seg in timeline:
        if seg.part is Part.DEGRADED and prev is not Part.DEGRADED:
            degraded_runs += 1
        prev = seg.part
    found = islands(timeline)
    longest = max(found, key=lambda i: (i.down_s, -i.start.timestamp()), default=None)
    return Availability(parts=parts, failures=len(found), degraded_periods=degraded_runs, longest=longest,
                        islands=found, central_down_s=central)


def window_end(period: Period, now: datetime) -> datetime:
    return max(period.start, min(period.end, now))


def is_recording_service(site: Site, service_devices: Iterable[str]) -> bool:
    kinds = {d.id: d.kind for d in site.devices}
    return any(kinds.get(d) is DeviceKind.RECORDING_SERVER for d in service_devices)


def site_input(data: ReportData) -> cv.SiteInput:
    """The coverage model's input from a report's data."""
    watch = cv.Watch(data.monitoring_since, data.last_heartbeat, data.running,
                     tuple(cv.Gap(g.start, g.end, g.reason) for g in data.gaps))
    return cv.SiteInput(
        devices=tuple(cv.DeviceInput(d.id, d.added_at, d.in_config) for d in data.devices), watch=watch,
        outages=tuple(o.coverage_input() for o in data.outages),
        maintenance=tuple(m.window() for m in data.maintenance),
        services=tuple(cv.ServiceInput(s.id, s.up_when, tuple(s.devices)) for s in data.site.services))


def period_figures(data: ReportData, period: Period, now: datetime) -> PeriodFigures:
    """Availability of every device, service and the site over one period."""
    covered = cv.cover(site_input(data), period.start, period.end, now)
    devices = tuple(DeviceFigures(d, availability(c.timeline), c.timeline)
                    for d, c in zip(data.devices, covered.devices, strict=True))
    services = tuple(ServiceFigures(svc.id, svc.name, svc.up_when, tuple(svc.devices), availability(c.timeline),
                                    c.timeline, is_recording_service(data.site, svc.devices))
                     for svc, c in zip(data.site.services, covered.services, strict=True))
    end = window_end(period, now)
    incidents = sum(1 for i in data.incidents if not i.planned and i.started_at < end
                    and (i.ended_at is None or i.ended_at > period.start))
    return PeriodFigures(period, end, covered.known_until, data.running, availability(covered.site.timeline),
                         covered.site.timeline, services, devices, incidents)


# ------------------------------------------------------------------------------------------- impact


@dataclass(frozen=True, slots=True)
class Impact:
    service_name: str
    expected_daily: int
    lost_working_s: float
    working_day_s: float
    recordings: int


def working_intervals(start: datetime, end: datetime, zone: str) -> list[tuple[datetime, datetime]]:
    """Office working hours (:data:`WORKING_DAYS`, :data:`WORK_START`–:data:`WORK_END` local) in a window."""
    tz = ZoneInfo(zone)
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    out: list[tuple[datetime, datetime]] = []
    while day <= last:
        if day.weekday() in WORKING_DAYS:
            s = datetime.combine(day, WORK_START, tzinfo=tz).astimezone(UTC)
            e = datetime.combine(day, WORK_END, tzinfo=tz).astimezone(UTC)
            if c := clip(s, e, start, end):
                out.append(c)
        day += timedelta(days=1)
    return out


def recording_timeline(fig: PeriodFigures, now: datetime) -> tuple[str, Timeline] | None:
    for svc in fig.services:
        if svc.recording:
            return svc.name, svc.timeline
    servers = [d for d in fig.devices if d.device.kind == DeviceKind.RECORDING_SERVER and d.device.in_config]
    if not servers:
        return None
    tl = cv.combine("any", [d.timeline for d in servers], fig.period.start, fig.period.end, now)
    return ", ".join(d.device.name for d in servers), tl


def impact(data: ReportData, fig: PeriodFigures, now: datetime, start: datetime | None = None,
           end: datetime | None = None) -> Impact | None:
    """Recordings that could not be made (see monitor/reports/figures.py); None without the site's figure."""
    expected = data.site.expected_daily_recordings
    found = recording_timeline(fig, now)
    if expected is None or found is None:
        return None
    name, tl = found
    s = start or fig.period.start
    e = end or fig.window_end
    lost = 0.0
    for ws, we in working_intervals(s, e, data.site.timezone):
        for seg in tl:
            if seg.part.unavailable and (c := clip(seg.start, seg.end, ws, we)):
                lost += (c[1] - c[0]).total_seconds()
    day_s = float((WORK_END.hour * 60 + WORK_END.minute - WORK_START.hour * 60 - WORK_START.minute) * 60)
    return Impact(name, expected, lost, day_s, round(expected * lost / day_s))
