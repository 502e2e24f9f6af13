"""The coverage model: what every second of a period was, per device, service and site (pure).

Every figure a person reads about availability — the weekly report, the escalation letter, Telegram
``/status``, the office and national web pages, the national roll-up — comes from :func:`cover`. It takes
plain frozen values (so they can be built from the office's SQLite record or from the central copy of it),
a period ``[start, end)`` and ``now``; it reads no database and no clock.

**The parts.** Every instant of ``[start, end)`` of every device is exactly one :class:`Part`, decided in
this order (the first rule that applies wins):

1. ``future`` — at or after ``now``: it has not happened yet.
2. ``not_yet_monitored`` — before monitoring began: before the site's first heartbeat
   (:attr:`Watch.first_heartbeat`; ``None`` = the monitor never ran), or before the device was added
   (:attr:`DeviceInput.added_at`; ``None`` = it was there when monitoring began).
3. ``not_running`` — the monitor itself was not running: inside a recorded gap (:attr:`Watch.gaps`:
   process stopped, host rebooted, clock jump), or in the *open tail* after the last sign of life
   (:attr:`Watch.last_heartbeat`) when the monitor is not running at ``now`` (:attr:`Watch.running`).
   A monitor destroyed by the lightning that broke the server says nothing; its silence is never "up".
4. ``maintenance`` — inside a planned window covering the device (:class:`Window`).
5. the status of the outages covering the instant, each stretch with the status it had
   (:attr:`OutageInput.timeline`); overlapping outages of one device take the worst status
   (down > unreachable > degraded > unknown), ties the earliest started: ``down``, ``unreachable``,
   ``degraded``, or ``unknown`` (the monitor ran but could not tell: an outage recorded ``unknown``).
6. otherwise ``up``.

``down`` and ``unreachable`` time carry a *cause*: the outage's cause, except that ``unreachable`` time
(a parent is down, so the device cannot be reached) is attributed to ``network`` unless the outage records
``power``, ``lightning``, ``environment`` or ``maintenance`` (a power cut or an overheating room that took the
router down is the root event, not "the network"). ``degraded`` time carries the outage's cause too.

**Monitored time** = up + degraded + down + unreachable. **Availability** = (up + degraded) / monitored
time, a ratio in [0, 1]; ``None`` when nothing was monitored. Maintenance, unknown, not running, not yet
monitored and future are never counted as up and never as down: they are stated separately.

**Services** combine their devices instant by instant (``any``: available when one device is available
— up, or degraded when none is up; ``all``: unavailable when one device is unavailable). When a service is
neither available (``any``) nor unavailable (``all``) because of excluded time, it takes the first excluded
part of its devices in the order future, not yet monitored, not running, unknown, maintenance. The cause of a
service's unavailable time is its failing devices' cause, chosen by root-cause priority (:data:`CAUSE_PRIORITY`).
**The site** is ``all`` of its services (of its counted devices when it defines no service).

**Laws** (proved with hypothesis in ``tests/engine/test_coverage.py``):

* the segments of every device, service and the site tile ``[start, end)`` exactly, and the parts sum to
  ``end - start`` exactly (durations are kept as :class:`~datetime.timedelta`, microsecond-exact);
* ``future`` is exactly ``[max(start, min(now, end)), end)``;
* *rebuilding later changes no monitored figure*: with the monitor not running (last heartbeat at or before
  ``now``), building the same period at a later ``now2`` leaves up, degraded, down (by cause), unreachable,
  maintenance, unknown and not-yet-monitored time unchanged; only the tail grows as ``not_running`` by
  exactly what ``future`` shrinks;
* maintenance, not running, not yet monitored and future time are never up, degraded or down; a window or a
  gap added to the input never adds up time;
* availability is ``None`` exactly when monitored time is zero, else in ``[0, 1]``; an outage added to the
  input never raises it.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any, Literal

from monitor.domain import Cause, Status

ZERO = timedelta(0)


class Part(StrEnum):
    """What one instant of a device, service or site was (see the module docstring)."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNREACHABLE = "unreachable"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"
    NOT_RUNNING = "not_running"
    NOT_YET_MONITORED = "not_yet_monitored"
    FUTURE = "future"

    @property
    def available(self) -> bool:
        return self in (Part.UP, Part.DEGRADED)

    @property
    def unavailable(self) -> bool:
        return self in (Part.DOWN, Part.UNREACHABLE)

    @property
    def monitored(self) -> bool:
        return self.available or self.unavailable

    @property
    def excluded(self) -> bool:
        """Neither available nor unavailable: stated separately, outside the availability figure."""
        return not self.monitored


EXCLUDED_ORDER: tuple[Part, ...] = (Part.FUTURE, Part.NOT_YET_MONITORED, Part.NOT_RUNNING, Part.UNKNOWN,
                                    Part.MAINTENANCE)
"""Which excluded part a service takes when its devices differ (the first present wins)."""
_EXCLUDED_RANK = {p: i for i, p in enumerate(EXCLUDED_ORDER)}

CAUSE_PRIORITY: tuple[Cause, ...] = (
    Cause.LIGHTNING, Cause.POWER, Cause.ENVIRONMENT, Cause.UPSTREAM, Cause.HARDWARE, Cause.SERVICE, Cause.NETWORK,
    Cause.MONITOR_OFFLINE, Cause.UNKNOWN, Cause.MAINTENANCE)
"""Root-cause order when a service's failing devices have different causes."""
_CAUSE_RANK = {c: i for i, c in enumerate(CAUSE_PRIORITY)}
KEEP_WHEN_UNREACHABLE = frozenset({Cause.POWER, Cause.LIGHTNING, Cause.ENVIRONMENT, Cause.MAINTENANCE})

_STATUS_PART = {Status.DOWN: Part.DOWN, Status.UNREACHABLE: Part.UNREACHABLE, Status.DEGRADED: Part.DEGRADED,
                Status.UNKNOWN: Part.UNKNOWN, Status.UP: Part.UP}


def cause_rank(cause: Cause | None) -> int:
    return _CAUSE_RANK.get(cause or Cause.UNKNOWN, len(_CAUSE_RANK))


def attributed_cause(cause: Cause, status: Status) -> Cause:
    """The cause time with ``status`` is counted under (``unreachable`` → network unless power/lightning)."""
    if status is Status.UNREACHABLE and cause not in KEEP_WHEN_UNREACHABLE:
        return Cause.NETWORK
    return cause


def silence_threshold(heartbeat_interval: timedelta) -> timedelta:
    """Silence longer than this means the monitor is not running: two missed heartbeats (at least 3 s).
    The daemon records a gap on start by the same rule (monitor/daemon/selfwatch.py)."""
    return max(2 * heartbeat_interval, timedelta(seconds=3))


# ------------------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True, slots=True)
class Interval:
    """``[start, end)``, aware datetimes."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class OutageInput:
    """One recorded outage of one device. ``ended_at`` None = still open (at the last sign of life).
    ``timeline``: the status changes inside it, oldest first; empty = ``status`` all along."""

    device: str
    started_at: datetime
    ended_at: datetime | None
    status: Status
    cause: Cause
    timeline: tuple[tuple[datetime, Status], ...] = ()
    id: int = 0

    def spans(self, default_end: datetime) -> list[tuple[datetime, datetime, Status]]:
        """``(start, end, status)`` stretches covering the outage, each with the status it really had."""
        end = self.ended_at if self.ended_at is not None else default_end
        points = [(at, st) for at, st in self.timeline if self.started_at <= at < end]
        if not points or points[0][0] > self.started_at:
            points.insert(0, (self.started_at, points[0][1] if points else self.status))
        bounds = [at for at, _ in points[1:]] + [end]
        return [(at, b, st) for (at, st), b in zip(points, bounds, strict=True) if b > at]


@dataclass(frozen=True, slots=True)
class Window:
    """A planned maintenance window; ``devices`` empty = the whole site."""

    start: datetime
    end: datetime
    devices: frozenset[str] = frozenset()

    def covers(self, device: str) -> bool:
        return not self.devices or device in self.devices


@dataclass(frozen=True, slots=True)
class Gap:
    """A recorded period when the monitor was not running (``reason``: process_stopped, host_rebooted,
    clock_jump)."""

    start: datetime
    end: datetime
    reason: str = "process_stopped"


@dataclass(frozen=True, slots=True)
class Watch:
    """What the record says about the monitor itself at one site.

    ``first_heartbeat``: monitoring began (the first start on record); ``None`` = it never ran.
    ``last_heartbeat``: the last sign of life (heartbeat or check result; the hub passes the office's last
    status time). ``running``: whether the monitor is running at ``now`` — when it is not, everything after
    ``last_heartbeat`` is ``not_running``. ``gaps``: the recorded gaps."""

    first_heartbeat: datetime | None
    last_heartbeat: datetime | None = None
    running: bool = True
    gaps: tuple[Gap, ...] = ()

    def tail_start(self) -> datetime | None:
        """Where the open not-running tail begins (None while the monitor runs)."""
        if self.running or self.first_heartbeat is None:
            return None
        return self.last_heartbeat if self.last_heartbeat is not None else self.first_heartbeat

    def known_until(self, now: datetime) -> datetime:
        """The end of what the record can know: ``now`` while running, else the last sign of life."""
        tail = self.tail_start()
        return now if tail is None else min(now, tail)


@dataclass(frozen=True, slots=True)
class DeviceInput:
    """One device. ``added_at`` None = present since monitoring began. ``counted``: part of the site
    figure when the site defines no service (devices removed from the config are shown, not counted)."""

    id: str
    added_at: datetime | None = None
    counted: bool = True


@dataclass(frozen=True, slots=True)
class ServiceInput:
    id: str
    rule: Literal["any", "all"]
    devices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SiteInput:
    """Everything :func:`cover` needs about one site."""

    devices: tuple[DeviceInput, ...]
    watch: Watch
    outages: tuple[OutageInput, ...] = ()
    maintenance: tuple[Window, ...] = ()
    services: tuple[ServiceInput, ...] = ()


# ----------------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Segment:
    """``[start, end)`` of one part; ``cause`` for degraded and unavailable time; ``origin`` the device it
    comes from (for services and the site: the failing device whose cause was chosen)."""

    start: datetime
    end: datetime
    part: Part
    cause: Cause | None = None
    origin: str | None = None

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


Timeline = tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Parts:
    """How long each part lasted (exact durations), and the unavailable time by cause."""

    durations: Mapping[Part, timedelta]
    down_by_cause: tuple[tuple[Cause, timedelta], ...] = ()     # down + unreachable, largest first

    def __getitem__(self, part: Part) -> timedelta:
        return self.durations.get(part, ZERO)

    def seconds(self, part: Part) -> float:
        return self[part].total_seconds()

    @property
    def total(self) -> timedelta:
        return sum(self.durations.values(), ZERO)

    @property
    def monitored(self) -> timedelta:
        return self[Part.UP] + self[Part.DEGRADED] + self[Part.DOWN] + self[Part.UNREACHABLE]

    @property
    def available(self) -> timedelta:
        return self[Part.UP] + self[Part.DEGRADED]

    @property
    def unavailable(self) -> timedelta:
        return self[Part.DOWN] + self[Part.UNREACHABLE]

    @property
    def availability(self) -> float | None:
        """(up + degraded) / monitored time, in [0, 1]; None when nothing was monitored."""
        monitored = self.monitored
        return None if monitored <= ZERO else self.available / monitored

    def to_json(self) -> dict[str, Any]:
        """The machine form (``report --format json``): seconds in each part, ``down`` = down + unreachable
        with ``down_by_cause`` and the ``unreachable`` share, and the availability ratio."""
        s = {p.value: round(self.seconds(p), 3) for p in Part if p is not Part.UNREACHABLE}
        s["down"] = round(self.unavailable.total_seconds(), 3)
        availability = self.availability
        return {"seconds": s, "unreachable_s": round(self.seconds(Part.UNREACHABLE), 3),
                "down_by_cause": {c.value: round(d.total_seconds(), 3) for c, d in self.down_by_cause},
                "period_s": round(self.total.total_seconds(), 3),
                "monitored_s": round(self.monitored.total_seconds(), 3),
                "availability": None if availability is None else round(availability, 6)}


@dataclass(frozen=True, slots=True)
class Coverage:
    """One device, service or the site over the period."""

    id: str
    timeline: Timeline
    parts: Parts


@dataclass(frozen=True, slots=True)
class SiteCoverage:
    start: datetime
    end: datetime
    now: datetime
    known_until: datetime          # the end of the record: now while running, else the last sign of life
    devices: tuple[Coverage, ...]
    services: tuple[Coverage, ...]
    site: Coverage
    service_rules: Mapping[str, str] = field(default_factory=dict)

    def device(self, device_id: str) -> Coverage | None:
        return next((d for d in self.devices if d.id == device_id), None)

    def service(self, service_id: str) -> Coverage | None:
        return next((s for s in self.services if s.id == service_id), None)


# ------------------------------------------------------------------------------------------------- model


class _Cover:
    """Merged, sorted intervals; ``at(t)`` answers "is ``t`` inside one" in O(log n)."""

    def __init__(self, intervals: Iterable[tuple[datetime, datetime]]) -> None:
        merged: list[list[datetime]] = []
        for s, e in sorted((s, e) for s, e in intervals if e > s):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [m[0] for m in merged]
        self.ends = [m[1] for m in merged]

    def at(self, t: datetime) -> bool:
        i = bisect.bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.ends[i]

    def bounds(self) -> Iterable[datetime]:
        yield from self.starts
        yield from self.ends


def _clamp(t: datetime, lo: datetime, hi: datetime) -> datetime:
    return max(lo, min(t, hi))


def _merge_adjacent(segments: Iterable[Segment]) -> Timeline:
    out: list[Segment] = []
    for seg in segments:
        if out and out[-1].end == seg.start and (out[-1].part, out[-1].cause, out[-1].origin) == (
                seg.part, seg.cause, seg.origin):
            out[-1] = Segment(out[-1].start, seg.end, seg.part, seg.cause, seg.origin)
        else:
            out.append(seg)
    return tuple(out)


def device_timeline(device: DeviceInput, outages: Sequence[OutageInput], maintenance: Sequence[Window],
                    watch: Watch, gaps: _Cover, start: datetime, end: datetime, now: datetime) -> Timeline:
    """One device's segments over ``[start, end)`` (rules 1–6 of the module docstring)."""
    if end <= start:
        return ()
    cut = _clamp(now, start, end)
    began = watch.first_heartbeat
    if began is not None and device.added_at is not None:
        began = max(began, device.added_at)
    tail = watch.tail_start()
    maint = _Cover((w.start, w.end) for w in maintenance if w.covers(device.id))
    spans = sorted(((s, e, st, o) for o in outages for s, e, st in o.spans(cut) if e > start and s < cut),
                   key=lambda x: (x[0], x[3].started_at, x[3].id))
    points = {start, end, cut}
    points.update(t for t in (began, tail) if t is not None)
    points.update(gaps.bounds())
    points.update(maint.bounds())
    for s, e, _, _ in spans:
        points.update((s, e))
    ordered = sorted(t for t in points if start <= t <= end)
    segments: list[Segment] = []
    active: list[tuple[datetime, datetime, Status, OutageInput]] = []
    nxt = 0
    for a, b in pairwise(ordered):
        if a >= cut:
            segments.append(Segment(a, b, Part.FUTURE))
            continue
        if began is None or a < began:
            segments.append(Segment(a, b, Part.NOT_YET_MONITORED))
            continue
        if (tail is not None and a >= tail) or gaps.at(a):
            segments.append(Segment(a, b, Part.NOT_RUNNING))
            continue
        if maint.at(a):
            segments.append(Segment(a, b, Part.MAINTENANCE))
            continue
        while nxt < len(spans) and spans[nxt][0] <= a:
            active.append(spans[nxt])
            nxt += 1
        active = [x for x in active if x[1] > a]
        if not active:
            segments.append(Segment(a, b, Part.UP))
            continue
        _, _, status, worst = min(active, key=lambda x: (-x[2].severity, x[3].started_at, x[3].id))
        part = _STATUS_PART[status]
        cause = attributed_cause(worst.cause, status) if part not in (Part.UP, Part.UNKNOWN) else None
        segments.append(Segment(a, b, part, cause, device.id if cause is not None else None))
    return _merge_adjacent(segments)


def _root(candidates: Sequence[Segment]) -> Segment:
    return min(candidates, key=lambda s: cause_rank(s.cause))


def _combine_parts(rule: Literal["any", "all"], segs: Sequence[Segment]) -> tuple[Part, Cause | None, str | None]:
    parts = {s.part for s in segs}
    failing = [s for s in segs if s.part.unavailable]
    excluded = [p for p in parts if p.excluded]
    if rule == "any":
        if Part.UP in parts:
            return Part.UP, None, None
        if Part.DEGRADED in parts:
            d = _root([s for s in segs if s.part is Part.DEGRADED])
            return Part.DEGRADED, d.cause, d.origin
        if excluded:
            return min(excluded, key=_EXCLUDED_RANK.__getitem__), None, None
    elif not failing:
        if excluded:
            return min(excluded, key=_EXCLUDED_RANK.__getitem__), None, None
        if Part.DEGRADED in parts:
            d = _root([s for s in segs if s.part is Part.DEGRADED])
            return Part.DEGRADED, d.cause, d.origin
        return Part.UP, None, None
    root = _root(failing)
    return Part.DOWN, root.cause, root.origin


def combine(rule: Literal["any", "all"], members: Sequence[Timeline], start: datetime, end: datetime,
            now: datetime) -> Timeline:
    """A service's (or the site's) timeline from its members' timelines (see the module docstring)."""
    if end <= start:
        return ()
    members = [m for m in members if m]
    if not members:
        cut = _clamp(now, start, end)
        return tuple(s for s in (Segment(start, cut, Part.NOT_YET_MONITORED), Segment(cut, end, Part.FUTURE))
                     if s.end > s.start)
    points = sorted({start, end} | {seg.start for m in members for seg in m} | {seg.end for m in members for seg in m})
    idx = [0] * len(members)
    out: list[Segment] = []
    for a, b in pairwise(points):
        current: list[Segment] = []
        for i, m in enumerate(members):
            while idx[i] < len(m) - 1 and m[idx[i]].end <= a:
                idx[i] += 1
            current.append(m[idx[i]])
        part, cause, origin = _combine_parts(rule, current)
        out.append(Segment(a, b, part, cause, origin))
    return _merge_adjacent(out)


def parts_of(timeline: Timeline) -> Parts:
    """The durations of each part of a timeline, and unavailable time by cause (largest first)."""
    sums: dict[Part, timedelta] = defaultdict(lambda: ZERO)
    by_cause: dict[Cause, timedelta] = defaultdict(lambda: ZERO)
    for seg in timeline:
        sums[seg.part] += seg.duration
        if seg.part.unavailable:
            by_cause[seg.cause or Cause.UNKNOWN] += seg.duration
    return Parts(dict(sums), tuple(sorted(by_cause.items(), key=lambda kv: (-kv[1], cause_rank(kv[0])))))


def cover(site: SiteInput, start: datetime, end: datetime, now: datetime) -> SiteCoverage:
    """Every device, service and the site over ``[start, end)`` as known at ``now`` (module docstring)."""
    watch = site.watch
    gaps = _Cover((g.start, g.end) for g in watch.gaps)
    by_device: dict[str, list[OutageInput]] = defaultdict(list)
    for o in site.outages:
        by_device[o.device].append(o)
    devices: list[Coverage] = []
    for d in site.devices:
        maint = [w for w in site.maintenance if w.covers(d.id)]
        tl = device_timeline(d, by_device.get(d.id, ()), maint, watch, gaps, start, end, now)
        devices.append(Coverage(d.id, tl, parts_of(tl)))
    by_id = {c.id: c.timeline for c in devices}
    services: list[Coverage] = []
    for svc in site.services:
        tl = combine(svc.rule, [by_id[x] for x in svc.devices if x in by_id], start, end, now)
        services.append(Coverage(svc.id, tl, parts_of(tl)))
    if services:
        site_tl = combine("all", [s.timeline for s in services], start, end, now)
    else:
        counted = {d.id for d in site.devices if d.counted}
        site_tl = combine("all", [c.timeline for c in devices if c.id in counted], start, end, now)
    cut = _clamp(now, start, end)
    return SiteCoverage(start, end, now, _clamp(watch.known_until(cut), start, cut), tuple(devices),
                        tuple(services), Coverage("site", site_tl, parts_of(site_tl)),
                        {s.id: s.rule for s in site.services})
