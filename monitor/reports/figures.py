"""Report figures: pure functions of (data, period, now). No database, no clock, no I/O.

The rules below are the contract of every number in the weekly and escalation reports; each one is
tested in ``tests/reports/test_figures.py`` against hand-computed fixtures.

**The window.** Figures cover ``[period.start, min(period.end, now))``. Time after ``now`` has not
happened yet and is not counted at all (a report of the running week says so).

**What each instant is, for one device** (a *timeline* of :class:`Segment`), in this order of priority:

1. ``unmonitored`` — inside a monitor gap (the monitor itself was off: process stopped, host rebooted,
   clock jump), before monitoring began (``ReportData.monitoring_since``), or inside an outage recorded
   with status ``unknown``. Nobody knows what the device did, so this time is never counted as up.
2. ``maintenance`` — inside a planned window covering the device (config windows, one-off or cron, and
   ad-hoc rows of kind ``maintenance``; ``mute`` rows are not maintenance). An outage, or the part of an
   outage, inside a window is planned and not counted as downtime. The part of an outage that runs past
   the end of its window *is* downtime, even if the engine flagged the outage ``planned``.
3. the status of the outages covering the instant: overlapping outages of one device are merged
   (gaps-and-islands): the instant takes the worst status among them (down > unreachable > degraded) and
   the cause of that outage (ties: the earliest started). Each outage counts with the status it had at
   that instant (``outages.timeline``): a UPS degraded on battery for an hour and then down for five
   minutes was unavailable for five minutes. Rows without a timeline count with their worst status.
4. otherwise ``up``.

**Availability** = (observed − unavailable) / observed, where observed = up + degraded + down +
unreachable time. Maintenance time and not-monitored time are *excluded from the denominator* and stated
separately next to every availability figure. ``degraded`` counts as available (the device works, at
risk) and its time is stated too. ``unreachable`` (a parent is down, so the device cannot be reached)
counts as **unavailable** — the office cannot serve through it — but its cause is attributed to
``network`` unless the outage records ``power``, ``lightning`` or ``maintenance`` as its cause (a power
cut or a strike that took down the room's router is the root event, not "the network"). With nothing
observed (e.g. the monitor was off all week) availability is undefined (None, shown "—").

**Central (upstream) downtime.** Unavailable time whose cause is ``upstream`` (the Ministry's data
center or the VPN link failed while the office's own equipment was fine) is counted as downtime, and
also reported separately as *central*; ``local_availability`` leaves it out, so the report never blames
the office for a central fault.

**Services** (``Site.services``) combine their devices' timelines instant by instant:

* ``up_when: any`` — available if any device is available (up, or degraded when none is up); otherwise
  not monitored if any device is not monitored; otherwise maintenance if any device is in maintenance;
  otherwise unavailable.
* ``up_when: all`` — unavailable if any device is unavailable; otherwise not monitored if any device is;
  otherwise maintenance if any device is; otherwise degraded if any device is degraded, else up.

The cause of a service's unavailable time is the cause of its failing devices, chosen by root-cause
priority when they differ: lightning, power, upstream, hardware, service, network, monitor_offline,
unknown, maintenance. **The site** is ``all`` of its services (all of its devices when it defines no
service).

**Failures** are runs of unavailable time on a timeline; a run interrupted only by excluded time
(maintenance or not monitored) is one failure. A failure counts in a period when some of its
unavailable time falls in the window; an outage that crosses the window's edges is clipped exactly.
``failures`` = their number; **MTTR** = unavailable time / failures; **MTBF** = available time /
failures — both over the window, so availability = MTBF / (MTBF + MTTR). With zero failures, MTTR and
MTBF are undefined (None; the report prints "—" with a note) and availability is 100 % of the observed
time. ``longest`` is the failure with the most unavailable time in the window.

**Open at the end**: outages not ended at the window's end (``ended_at`` NULL or later), with their age
(window end − start).

**Acknowledgements**: per unplanned incident overlapping the window, the first acknowledgement (from
``acknowledgements``, else the incident's own ``acknowledged_at/by``), who, and the time to acknowledge
(ack time − incident start).

**Equipment warnings**: evidence in the window of kind ``replace_battery``, ``low_runtime``,
``spd_tripped``, ``strike`` (increments summed from ``values.increment``, default 1),
``voltage_abnormal``, ``disk_full``, ``temperature_high`` and ``overload``, grouped per device and kind.

**Recurrence**: per device, its failures — outages with status ``down``, not planned, cause not
``maintenance``/``monitor_offline`` (an ``unreachable`` device did not fail itself), overlapping
outages merged — in the 12 and 36 months before the window's end, by cause; with the device's age in
whole years from ``Device.installed`` (``YYYY`` alone counts from January). ``ordinal`` is the rank of
the device's latest failure in the period among its failures of the same cause in 36 months ("the
third power failure"). ``repeated`` = at least :data:`RECURRENCE_THRESHOLD` failures in 12 months.

**Impact** (only when the site sets ``expected_daily_recordings``): recordings that could not be made =
expected per day × (unavailable time of the recording service inside office working hours ÷ working
hours per day), rounded. Working hours are an assumption, :data:`WORKING_DAYS` ``Mon–Fri``
:data:`WORK_START`–:data:`WORK_END` site-local (public holidays are not known and count as working
days). Maintenance and not-monitored time are not counted, so the estimate is a minimum. The recording
service is the first service that contains a ``recording_server`` device; without one, ``any`` of the
site's recording servers.

**Detail in the PDF.** Every outage is in the CSV (and the HTML). The PDF lists in full at most
:data:`DETAIL_LIMIT` outages — those still open first, then the ones behind a central action, then the
longest — in time order, and sums up the others per device (count, downtime, causes), so a bad week
stays a document a head of office reads, not 40 pages of rows (:func:`outage_detail`); likewise the
acknowledgements (:data:`ACK_DETAIL_LIMIT`, :func:`ack_detail`) and the failure-history table (the
:data:`RECURRENCE_LIMIT` devices that failed most; :attr:`ReportFigures.recurrence` holds them all).

**Actions.** *Central* (section "Perlu tindak lanjut Kementerian"): a lightning or hardware failure in
the window of equipment bought from the national budget (``funding: apbn``); central (upstream)
downtime; repeated failures (≥ threshold in 12 months) of APBN equipment; replace-battery, SPD-tripped
or strike warnings on APBN equipment. *Local* (open issues for the office): outages open at the end,
incidents still open and not acknowledged at the end, the other warnings, repeated failures of equipment
not bought by the Ministry, devices whose current state is ``unknown`` (they cannot be checked).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

from monitor.domain import Cause, DeviceKind, ObservationKind, Status
from monitor.reports.data import (
    AckRecord,
    DeviceInfo,
    EvidenceItem,
    GapRecord,
    IncidentRecord,
    MaintenanceRecord,
    OutageRecord,
    ReportData,
    months_before,
)
from monitor.reports.period import Period
from monitor.settings import Site

RECURRENCE_THRESHOLD = 3
DETAIL_LIMIT = 30
ACK_DETAIL_LIMIT = 15
RECURRENCE_LIMIT = 15
DEVICE_LIMIT = 100
"""The PDF's per-device tables list at most this many devices, the most downtime first (issue 8: a site of
1,000 devices made a 130-page PDF); the HTML file and the CSV list every device."""
ACTION_LIMIT = 40
"""The PDF lists at most this many actions of each kind (in their order of importance); the HTML all."""
WORKING_DAYS = (0, 1, 2, 3, 4)            # Monday..Friday
WORK_START = time(8, 0)
WORK_END = time(16, 0)

CAUSE_PRIORITY: tuple[Cause, ...] = (
    Cause.LIGHTNING, Cause.POWER, Cause.UPSTREAM, Cause.HARDWARE, Cause.SERVICE, Cause.NETWORK,
    Cause.MONITOR_OFFLINE, Cause.UNKNOWN, Cause.MAINTENANCE)
_CAUSE_RANK = {c: i for i, c in enumerate(CAUSE_PRIORITY)}

WARNING_KINDS: tuple[str, ...] = (
    ObservationKind.REPLACE_BATTERY, ObservationKind.LOW_RUNTIME, ObservationKind.SPD_TRIPPED,
    ObservationKind.STRIKE, ObservationKind.VOLTAGE_ABNORMAL, ObservationKind.DISK_FULL,
    ObservationKind.TEMPERATURE_HIGH, ObservationKind.OVERLOAD)
CENTRAL_WARNING_KINDS = frozenset({ObservationKind.REPLACE_BATTERY, ObservationKind.SPD_TRIPPED,
                                   ObservationKind.STRIKE})
DAMAGE_CAUSES = frozenset({Cause.LIGHTNING, Cause.HARDWARE})
_KEEP_WHEN_UNREACHABLE = frozenset({Cause.POWER, Cause.LIGHTNING, Cause.MAINTENANCE})
_NOT_A_FAILURE = frozenset({Cause.MAINTENANCE, Cause.MONITOR_OFFLINE})


class Slot(StrEnum):
    """What one instant of a timeline is (see the module docstring)."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    UNREACHABLE = "unreachable"
    MAINTENANCE = "maintenance"
    UNMONITORED = "unmonitored"

    @property
    def available(self) -> bool:
        return self in (Slot.UP, Slot.DEGRADED)

    @property
    def unavailable(self) -> bool:
        return self in (Slot.DOWN, Slot.UNREACHABLE)

    @property
    def excluded(self) -> bool:
        return self in (Slot.MAINTENANCE, Slot.UNMONITORED)


@dataclass(frozen=True, slots=True)
class Segment:
    """``[start, end)`` of one slot; ``cause`` for degraded/unavailable time, ``origin`` the device it
    comes from (for services and the site: the failing device whose cause was chosen)."""

    start: datetime
    end: datetime
    slot: Slot
    cause: Cause | None = None
    origin: str | None = None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


Timeline = tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Island:
    """One failure on a timeline: unavailable time, joined across excluded time."""

    start: datetime
    end: datetime
    down_s: float
    cause: Cause
    origin: str | None
    from_start: bool      # begins at the window start (it may have begun earlier)
    to_end: bool          # still unavailable at the window end


@dataclass(frozen=True, slots=True)
class Availability:
    """Time accounting of one timeline over the window (seconds)."""

    elapsed_s: float
    up_s: float
    degraded_s: float
    down_s: float                  # unavailable: down + unreachable, unplanned
    unreachable_s: float           # part of down_s
    central_down_s: float          # part of down_s with cause upstream
    maintenance_s: float
    unmonitored_s: float
    failures: int
    degraded_periods: int
    longest: Island | None
    islands: tuple[Island, ...]
    down_by_cause: tuple[tuple[Cause, float], ...]   # largest first

    @property
    def observed_s(self) -> float:
        return self.up_s + self.degraded_s + self.down_s

    @property
    def available_s(self) -> float:
        return self.up_s + self.degraded_s

    @property
    def availability(self) -> float | None:
        """Percent of observed time available; None when nothing was observed."""
        obs = self.observed_s
        return None if obs <= 0 else 100.0 * self.available_s / obs

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
    window_end: datetime
    site: Availability
    site_timeline: Timeline
    services: tuple[ServiceFigures, ...]
    devices: tuple[DeviceFigures, ...]
    incidents: int

    @property
    def complete(self) -> bool:
        return self.window_end >= self.period.end

    def service(self, service_id: str) -> ServiceFigures | None:
        return next((s for s in self.services if s.id == service_id), None)

    def device(self, device_id: str) -> DeviceFigures | None:
        return next((d for d in self.devices if d.device.id == device_id), None)


@dataclass(frozen=True, slots=True)
class IncidentAck:
    incident: IncidentRecord
    acknowledged_at: datetime | None
    by: str | None
    notes: tuple[AckRecord, ...]

    @property
    def time_to_ack_s(self) -> float | None:
        if self.acknowledged_at is None:
            return None
        return max(0.0, (self.acknowledged_at - self.incident.started_at).total_seconds())


@dataclass(frozen=True, slots=True)
class OutageLine:
    """One outage row of the report, with its figures inside the window."""

    outage: OutageRecord
    device: DeviceInfo
    cause: Cause                 # attributed (unreachable -> network unless power/lightning/maintenance)
    duration_s: float            # start to end (or to the window end while open)
    in_period_s: float           # the clipped part inside the window
    maintenance_s: float         # of in_period_s, inside planned windows
    unmonitored_s: float         # of in_period_s, not monitored
    started_before: bool
    open_at_end: bool
    ack: IncidentAck | None
    degraded_s: float = 0.0      # of in_period_s, still working (e.g. on battery before it went down)

    @property
    def start(self) -> datetime:
        return self.outage.started_at

    @property
    def end(self) -> datetime | None:
        return self.outage.ended_at

    @property
    def unavailable(self) -> bool:
        return self.outage.status.is_failure

    @property
    def central(self) -> bool:
        return self.cause is Cause.UPSTREAM

    @property
    def downtime_s(self) -> float:
        """Counted downtime of this outage in the window (0 for degraded)."""
        if not self.unavailable:
            return 0.0
        return max(0.0, self.in_period_s - self.maintenance_s - self.unmonitored_s - self.degraded_s)

    @property
    def evidence(self) -> tuple[EvidenceItem, ...]:
        return self.outage.evidence


@dataclass(frozen=True, slots=True)
class EquipmentWarning:
    device: DeviceInfo | None
    kind: str
    count: int
    first: datetime
    last: datetime
    strikes: int
    last_text: str
    last_values: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Failure:
    device: str
    start: datetime
    end: datetime | None
    cause: Cause


@dataclass(frozen=True, slots=True)
class Recurrence:
    device: DeviceInfo
    age_years: int | None
    last_12: tuple[tuple[Cause, int], ...]
    last_36: tuple[tuple[Cause, int], ...]
    in_period: tuple[Failure, ...]
    ordinal: int | None          # rank of the latest failure in the period among same-cause ones (36 months)
    failures_36: tuple[Failure, ...] = ()

    def ordinal_of(self, failure: Failure) -> int:
        """Rank of ``failure`` among this device's failures of the same cause in the 36 months."""
        return sum(1 for f in self.failures_36 if f.cause is failure.cause and f.start <= failure.start)

    def ordinal_for(self, cause: Cause) -> int:
        """Rank of the latest failure of ``cause`` in the period (0 when there is none)."""
        latest = next((f for f in reversed(self.in_period) if f.cause is cause), None)
        return self.ordinal_of(latest) if latest is not None else 0

    @property
    def total_12(self) -> int:
        return sum(n for _, n in self.last_12)

    @property
    def total_36(self) -> int:
        return sum(n for _, n in self.last_36)

    @property
    def latest(self) -> Failure | None:
        return self.in_period[-1] if self.in_period else None

    @property
    def repeated(self) -> bool:
        return self.total_12 >= RECURRENCE_THRESHOLD


@dataclass(frozen=True, slots=True)
class Impact:
    service_name: str
    expected_daily: int
    lost_working_s: float
    working_day_s: float
    recordings: int


ActionKind = Literal["apbn_damage", "upstream", "recurrence", "apbn_warning", "open_outage", "unacknowledged",
                     "warning", "unknown_state"]


@dataclass(frozen=True, slots=True)
class Action:
    """Something that needs someone to act; ``central`` ones need the Ministry."""

    kind: ActionKind
    central: bool
    device: DeviceInfo | None = None
    cause: Cause | None = None
    since: datetime | None = None
    seconds: float | None = None
    count: int | None = None
    detail: str | None = None
    ongoing: bool = False
    recurrence: Recurrence | None = None
    items: tuple[tuple[str, int], ...] = ()     # warnings: (observation kind, count) of this device


@dataclass(frozen=True, slots=True)
class ReportFigures:
    """Everything the weekly report shows."""

    site: Site
    period: Period
    now: datetime
    current: PeriodFigures
    previous: PeriodFigures
    outages: tuple[OutageLine, ...]
    open_at_end: tuple[OutageLine, ...]
    acknowledgements: tuple[IncidentAck, ...]
    warnings: tuple[EquipmentWarning, ...]
    recurrence: tuple[Recurrence, ...]
    impact: Impact | None
    central_actions: tuple[Action, ...]
    local_actions: tuple[Action, ...]
    gaps: tuple[GapRecord, ...]
    maintenance: tuple[MaintenanceRecord, ...]
    central_down_s: float
    headline: ServiceFigures | None

    @property
    def window_end(self) -> datetime:
        return self.current.window_end

    @property
    def unavailable_outages(self) -> tuple[OutageLine, ...]:
        return tuple(x for x in self.outages if x.unavailable and x.downtime_s > 0)

    @property
    def mean_time_to_ack_s(self) -> float | None:
        vals = [a.time_to_ack_s for a in self.acknowledgements if a.time_to_ack_s is not None]
        return sum(vals) / len(vals) if vals else None


# ------------------------------------------------------------------------------------------- basics


def attributed_cause(outage: OutageRecord, status: Status | None = None) -> Cause:
    """The cause its downtime (or the stretch of it with ``status``) is counted under (see the module
    docstring on ``unreachable``)."""
    if (status or outage.status) is Status.UNREACHABLE and outage.cause not in _KEEP_WHEN_UNREACHABLE:
        return Cause.NETWORK
    return outage.cause


def _slot_of(status: Status) -> Slot:
    return {Status.DOWN: Slot.DOWN, Status.UNREACHABLE: Slot.UNREACHABLE, Status.DEGRADED: Slot.DEGRADED,
            Status.UNKNOWN: Slot.UNMONITORED, Status.UP: Slot.UP}[status]


def _clip(s: datetime, e: datetime, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    s2, e2 = max(s, start), min(e, end)
    return (s2, e2) if s2 < e2 else None


def _merge_adjacent(segments: Iterable[Segment]) -> Timeline:
    out: list[Segment] = []
    for seg in segments:
        if out and out[-1].end == seg.start and (out[-1].slot, out[-1].cause, out[-1].origin) == (
                seg.slot, seg.cause, seg.origin):
            out[-1] = Segment(out[-1].start, seg.end, seg.slot, seg.cause, seg.origin)
        else:
            out.append(seg)
    return tuple(out)


def unmonitored_intervals(data: ReportData, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Monitor gaps, and the time before monitoring began, clipped to ``[start, end)``."""
    out = [c for g in data.gaps if (c := _clip(g.start, g.end, start, end))]
    if data.monitoring_since is not None and (c := _clip(start, data.monitoring_since, start, end)):
        out.append(c)
    return out


def device_timeline(device: str, outages: Sequence[OutageRecord], maintenance: Sequence[MaintenanceRecord],
                    unmonitored: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime) -> Timeline:
    """The device's slots over ``[start, end)`` (rules 1–4 of the module docstring)."""
    if end <= start:
        return ()
    # each outage as its stretches of real status (outages.timeline), not its worst status all along
    outs = [(c, o, st) for o in outages if o.device == device for s, e, st in o.spans(end)
            if (c := _clip(s, e, start, end))]
    maint = [c for m in maintenance if m.covers(device) if (c := _clip(m.start, m.end, start, end))]
    unmon = list(unmonitored)
    bounds = {start, end}
    for (s, e), _, _ in outs:
        bounds.update((s, e))
    for s, e in (*maint, *unmon):
        bounds.update((s, e))
    points = sorted(bounds)
    segments: list[Segment] = []
    for a, b in pairwise(points):
        if any(s <= a and b <= e for s, e in unmon):
            segments.append(Segment(a, b, Slot.UNMONITORED))
        elif any(s <= a and b <= e for s, e in maint):
            segments.append(Segment(a, b, Slot.MAINTENANCE))
        else:
            covering = [(o, st) for (s, e), o, st in outs if s <= a and b <= e]
            if not covering:
                segments.append(Segment(a, b, Slot.UP))
                continue
            worst, status = min(covering, key=lambda c: (-c[1].severity, c[0].started_at, c[0].id))
            slot = _slot_of(status)
            cause = attributed_cause(worst, status) if slot not in (Slot.UP, Slot.UNMONITORED) else None
            segments.append(Segment(a, b, slot, cause, device if cause is not None else None))
    return _merge_adjacent(segments)


def _root(candidates: Sequence[Segment]) -> Segment:
    return min(candidates, key=lambda s: _CAUSE_RANK.get(s.cause or Cause.UNKNOWN, len(_CAUSE_RANK)))


def _combine_slots(rule: Literal["any", "all"], segs: Sequence[Segment]) -> tuple[Slot, Cause | None, str | None]:
    slots = [s.slot for s in segs]
    failing = [s for s in segs if s.slot.unavailable]
    if rule == "any":
        if Slot.UP in slots:
            return Slot.UP, None, None
        if Slot.DEGRADED in slots:
            d = _root([s for s in segs if s.slot is Slot.DEGRADED])
            return Slot.DEGRADED, d.cause, d.origin
        if Slot.UNMONITORED in slots:
            return Slot.UNMONITORED, None, None
        if Slot.MAINTENANCE in slots:
            return Slot.MAINTENANCE, None, None
    elif not failing:
        if Slot.UNMONITORED in slots:
            return Slot.UNMONITORED, None, None
        if Slot.MAINTENANCE in slots:
            return Slot.MAINTENANCE, None, None
        if Slot.DEGRADED in slots:
            d = _root([s for s in segs if s.slot is Slot.DEGRADED])
            return Slot.DEGRADED, d.cause, d.origin
        return Slot.UP, None, None
    root = _root(failing)
    return Slot.DOWN, root.cause, root.origin


def combine(rule: Literal["any", "all"], members: Sequence[Timeline], start: datetime, end: datetime) -> Timeline:
    """A service's (or the site's) timeline from its members' timelines (see the module docstring)."""
    if end <= start:
        return ()
    members = [m for m in members if m]
    if not members:
        return (Segment(start, end, Slot.UNMONITORED),)
    points = sorted({start, end} | {seg.start for m in members for seg in m} | {seg.end for m in members for seg in m})
    idx = [0] * len(members)
    out: list[Segment] = []
    for a, b in pairwise(points):
        current: list[Segment] = []
        for i, m in enumerate(members):
            while idx[i] < len(m) - 1 and m[idx[i]].end <= a:
                idx[i] += 1
            current.append(m[idx[i]])
        slot, cause, origin = _combine_slots(rule, current)
        out.append(Segment(a, b, slot, cause, origin))
    return _merge_adjacent(out)


def islands(timeline: Timeline) -> tuple[Island, ...]:
    """Failures: runs of unavailable time, joined across excluded (maintenance / not monitored) time."""
    if not timeline:
        return ()
    w_start, w_end = timeline[0].start, timeline[-1].end
    out: list[Island] = []
    cur: list[Segment] = []
    for seg in timeline:
        if seg.slot.unavailable:
            cur.append(seg)
        elif seg.slot.available and cur:
            out.append(_island(cur, w_start, w_end))
            cur = []
    if cur:
        out.append(_island(cur, w_start, w_end))
    return tuple(out)


def _island(segs: list[Segment], w_start: datetime, w_end: datetime) -> Island:
    first, last = segs[0], segs[-1]
    return Island(start=first.start, end=last.end, down_s=sum(s.seconds for s in segs),
                  cause=first.cause or Cause.UNKNOWN, origin=first.origin,
                  from_start=first.start == w_start, to_end=last.end == w_end)


def availability(timeline: Timeline) -> Availability:
    """Time accounting of a timeline (see the module docstring)."""
    sums: dict[Slot, float] = defaultdict(float)
    by_cause: dict[Cause, float] = defaultdict(float)
    central = 0.0
    degraded_runs = 0
    prev: Slot | None = None
    for seg in timeline:
        sums[seg.slot] += seg.seconds
        if seg.slot.unavailable:
            cause = seg.cause or Cause.UNKNOWN
            by_cause[cause] += seg.seconds
            if cause is Cause.UPSTREAM:
                central += seg.seconds
        if seg.slot is Slot.DEGRADED and prev is not Slot.DEGRADED:
            degraded_runs += 1
        prev = seg.slot
    found = islands(timeline)
    longest = max(found, key=lambda i: (i.down_s, -i.start.timestamp()), default=None)
    elapsed = sum(sums.values())
    return Availability(
        elapsed_s=elapsed, up_s=sums[Slot.UP], degraded_s=sums[Slot.DEGRADED],
        down_s=sums[Slot.DOWN] + sums[Slot.UNREACHABLE], unreachable_s=sums[Slot.UNREACHABLE],
        central_down_s=central, maintenance_s=sums[Slot.MAINTENANCE], unmonitored_s=sums[Slot.UNMONITORED],
        failures=len(found), degraded_periods=degraded_runs, longest=longest, islands=found,
        down_by_cause=tuple(sorted(by_cause.items(), key=lambda kv: (-kv[1], _CAUSE_RANK.get(kv[0], 99)))))


# ------------------------------------------------------------------------------------ per period


def window_end(period: Period, now: datetime) -> datetime:
    return max(period.start, min(period.end, now))


def is_recording_service(site: Site, service_devices: Iterable[str]) -> bool:
    kinds = {d.id: d.kind for d in site.devices}
    return any(kinds.get(d) is DeviceKind.RECORDING_SERVER for d in service_devices)


def period_figures(data: ReportData, period: Period, now: datetime) -> PeriodFigures:
    """Availability of every device, service and the site over one period's window."""
    start, end = period.start, window_end(period, now)
    unmon = unmonitored_intervals(data, start, end)
    devices = tuple(DeviceFigures(d, availability(tl), tl) for d in data.devices
                    for tl in (device_timeline(d.id, data.outages, data.maintenance, unmon, start, end),))
    by_id = {d.device.id: d.timeline for d in devices}
    services: list[ServiceFigures] = []
    for svc in data.site.services:
        tl = combine(svc.up_when, [by_id[x] for x in svc.devices if x in by_id], start, end)
        services.append(ServiceFigures(svc.id, svc.name, svc.up_when, tuple(svc.devices), availability(tl), tl,
                                       is_recording_service(data.site, svc.devices)))
    if services:
        site_tl = combine("all", [s.timeline for s in services], start, end)
    else:
        site_tl = combine("all", [d.timeline for d in devices if d.device.in_config], start, end)
    incidents = sum(1 for i in data.incidents if not i.planned and i.started_at < end
                    and (i.ended_at is None or i.ended_at > start))
    return PeriodFigures(period, end, availability(site_tl), site_tl, tuple(services), devices, incidents)


# ------------------------------------------------------------------------------------ the details


def _overlap_s(s: datetime, e: datetime, segs: Iterable[Segment], slot: Slot) -> float:
    total = 0.0
    for seg in segs:
        if seg.slot is slot and (c := _clip(seg.start, seg.end, s, e)):
            total += (c[1] - c[0]).total_seconds()
    return total


def incident_acks(data: ReportData, start: datetime, end: datetime) -> tuple[IncidentAck, ...]:
    by_incident: dict[int, list[AckRecord]] = defaultdict(list)
    for a in data.acks:
        by_incident[a.incident_id].append(a)
    out: list[IncidentAck] = []
    for inc in data.incidents:
        if inc.planned or not (inc.started_at < end and (inc.ended_at is None or inc.ended_at > start)):
            continue
        notes = tuple(sorted(by_incident.get(inc.id, ()), key=lambda a: a.time))
        at: datetime | None = notes[0].time if notes else inc.acknowledged_at
        by: str | None = notes[0].user_name if notes else inc.acknowledged_by
        out.append(IncidentAck(inc, at, by, notes))
    return tuple(out)


def outage_lines(data: ReportData, period_fig: PeriodFigures, acks: Sequence[IncidentAck]) -> tuple[OutageLine, ...]:
    start, end = period_fig.period.start, period_fig.window_end
    ack_by_incident = {a.incident.id: a for a in acks}
    timelines = {d.device.id: d.timeline for d in period_fig.devices}
    out: list[OutageLine] = []
    for o in data.outages:
        clipped = _clip(o.started_at, o.end_or(end), start, end)
        if clipped is None:
            continue
        device = data.device(o.device)
        tl = timelines.get(o.device, ())
        s, e = clipped
        open_at_end = o.ended_at is None or o.ended_at > end
        out.append(OutageLine(
            outage=o, device=device, cause=attributed_cause(o),
            duration_s=((o.ended_at if not open_at_end and o.ended_at else end) - o.started_at).total_seconds(),
            in_period_s=(e - s).total_seconds(), maintenance_s=_overlap_s(s, e, tl, Slot.MAINTENANCE),
            unmonitored_s=_overlap_s(s, e, tl, Slot.UNMONITORED), started_before=o.started_at < start,
            degraded_s=_overlap_s(s, e, tl, Slot.DEGRADED) if o.timeline else 0.0,
            open_at_end=open_at_end,
            ack=ack_by_incident.get(o.incident_id) if o.incident_id is not None else None))
    out.sort(key=lambda x: (x.start, x.device.name, x.outage.id))
    return tuple(out)


def equipment_warnings(data: ReportData, start: datetime, end: datetime) -> tuple[EquipmentWarning, ...]:
    groups: dict[tuple[str | None, str], list[int]] = defaultdict(list)
    obs = [x for x in data.observations if x.kind in WARNING_KINDS and start <= x.time < end]
    for i, x in enumerate(obs):
        groups[(x.device, x.kind)].append(i)
    known = {d.id: d for d in data.devices}
    out: list[EquipmentWarning] = []
    for (dev, kind), idx in groups.items():
        items = [obs[i] for i in idx]
        strikes = 0
        if kind == ObservationKind.STRIKE:
            for x in items:
                inc = x.values.get("increment", 1)
                strikes += int(inc) if isinstance(inc, int | float) and not isinstance(inc, bool) else 1
        last = items[-1]
        out.append(EquipmentWarning(known.get(dev) if dev else None, kind, len(items), items[0].time, last.time,
                                    strikes, last.text, dict(last.values)))
    out.sort(key=lambda w: (WARNING_KINDS.index(w.kind), w.device.name if w.device else "", w.first))
    return tuple(out)


def device_failures(history: Iterable[OutageRecord]) -> dict[str, list[Failure]]:
    """Per device: its failures (see "Recurrence" in the module docstring), merged and in time order."""
    per: dict[str, list[OutageRecord]] = defaultdict(list)
    for o in history:
        if o.status is Status.DOWN and not o.planned and o.cause not in _NOT_A_FAILURE:
            per[o.device].append(o)
    out: dict[str, list[Failure]] = {}
    for dev, rows in per.items():
        rows.sort(key=lambda o: (o.started_at, o.id))
        merged: list[Failure] = []
        for o in rows:
            if merged and (merged[-1].end is None or o.started_at <= merged[-1].end):
                last = merged[-1]
                end = None if last.end is None or o.ended_at is None else max(last.end, o.ended_at)
                merged[-1] = Failure(dev, last.start, end, last.cause)
            else:
                merged.append(Failure(dev, o.started_at, o.ended_at, o.cause))
        out[dev] = merged
    return out


def age_years(installed: str | None, at: datetime, zone: str) -> int | None:
    """Whole years from ``installed`` (``YYYY-MM`` or ``YYYY``) to ``at`` in the site's zone."""
    if not installed:
        return None
    parts = installed.split("-")
    try:
        year, month = int(parts[0]), int(parts[1]) if len(parts) > 1 else 1
    except ValueError:
        return None
    local = at.astimezone(ZoneInfo(zone))
    months = (local.year - year) * 12 + (local.month - month)
    return max(0, months // 12)


def recurrence(data: ReportData, start: datetime, end: datetime) -> tuple[Recurrence, ...]:
    failures = device_failures(data.history)
    since_12, since_36 = months_before(end, 12), months_before(end, 36)
    out: list[Recurrence] = []
    for d in data.devices:
        fs = [f for f in failures.get(d.id, []) if f.start < end]
        in36 = [f for f in fs if f.start >= since_36]
        if not in36:
            continue
        in12 = [f for f in in36 if f.start >= since_12]
        in_period = tuple(f for f in in36 if f.end is None or f.end > start)
        ordinal = None
        if in_period:
            latest = in_period[-1]
            ordinal = sum(1 for f in in36 if f.cause is latest.cause and f.start <= latest.start)
        out.append(Recurrence(d, age_years(d.installed, end, data.site.timezone), _count(in12), _count(in36),
                              in_period, ordinal, tuple(in36)))
    out.sort(key=lambda r: (-len(r.in_period), -r.total_12, -r.total_36, r.device.name))
    return tuple(out)


def _count(fs: Iterable[Failure]) -> tuple[tuple[Cause, int], ...]:
    c: dict[Cause, int] = defaultdict(int)
    for f in fs:
        c[f.cause] += 1
    return tuple(sorted(c.items(), key=lambda kv: (-kv[1], _CAUSE_RANK.get(kv[0], 99))))


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
            if c := _clip(s, e, start, end):
                out.append(c)
        day += timedelta(days=1)
    return out


def recording_timeline(data: ReportData, fig: PeriodFigures) -> tuple[str, Timeline] | None:
    for svc in fig.services:
        if svc.recording:
            return svc.name, svc.timeline
    servers = [d for d in fig.devices if d.device.kind == DeviceKind.RECORDING_SERVER and d.device.in_config]
    if not servers:
        return None
    tl = combine("any", [d.timeline for d in servers], fig.period.start, fig.window_end)
    return ", ".join(d.device.name for d in servers), tl


def impact(data: ReportData, fig: PeriodFigures, start: datetime | None = None,
           end: datetime | None = None) -> Impact | None:
    """Recordings that could not be made (see the module docstring); None without the site's figure."""
    expected = data.site.expected_daily_recordings
    found = recording_timeline(data, fig)
    if expected is None or found is None:
        return None
    name, tl = found
    s = start or fig.period.start
    e = end or fig.window_end
    lost = 0.0
    for ws, we in working_intervals(s, e, data.site.timezone):
        for seg in tl:
            if seg.slot.unavailable and (c := _clip(seg.start, seg.end, ws, we)):
                lost += (c[1] - c[0]).total_seconds()
    day_s = float((WORK_END.hour * 60 + WORK_END.minute - WORK_START.hour * 60 - WORK_START.minute) * 60)
    return Impact(name, expected, lost, day_s, round(expected * lost / day_s))


def _union_seconds(intervals: Iterable[tuple[datetime, datetime]]) -> float:
    total, cur_s, cur_e = 0.0, None, None
    for s, e in sorted(intervals):
        if cur_e is None or s > cur_e:
            if cur_s is not None and cur_e is not None:
                total += (cur_e - cur_s).total_seconds()
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_s is not None and cur_e is not None:
        total += (cur_e - cur_s).total_seconds()
    return total


def central_downtime(lines: Sequence[OutageLine], fig: PeriodFigures) -> tuple[float, int]:
    """Seconds (union over devices) and count of unavailable time caused upstream in the window."""
    timelines = {d.device.id: d.timeline for d in fig.devices}
    intervals = [(seg.start, seg.end) for dev, tl in timelines.items() for seg in tl
                 if seg.slot.unavailable and seg.cause is Cause.UPSTREAM]
    count = sum(1 for x in lines if x.central and x.unavailable and x.downtime_s > 0
                and x.device.kind == DeviceKind.UPSTREAM)
    if not count:
        count = sum(1 for x in lines if x.central and x.unavailable and x.downtime_s > 0)
    return _union_seconds(intervals), count


def actions(data: ReportData, lines: Sequence[OutageLine], acks: Sequence[IncidentAck],
            warnings: Sequence[EquipmentWarning], rec: Sequence[Recurrence], central_s: float, central_n: int,
            end: datetime) -> tuple[tuple[Action, ...], tuple[Action, ...]]:
    """(central actions, local actions) — see "Actions" in the module docstring."""
    central: list[Action] = []
    local: list[Action] = []
    rec_by_device = {r.device.id: r for r in rec}
    # 1. damage to national-budget equipment (with its failure history)
    damage: dict[str, list[OutageLine]] = defaultdict(list)
    for x in lines:
        if x.unavailable and x.downtime_s > 0 and x.cause in DAMAGE_CAUSES and x.device.funding == "apbn":
            damage[x.device.id].append(x)
    for dev_id, xs in damage.items():
        central.append(Action("apbn_damage", True, device=xs[0].device, cause=xs[0].cause, since=xs[0].start,
                              seconds=sum(x.downtime_s for x in xs), count=len(xs),
                              ongoing=any(x.open_at_end for x in xs), recurrence=rec_by_device.get(dev_id)))
    # 2. central link
    if central_s > 0:
        first = min((x.start for x in lines if x.central and x.unavailable), default=None)
        central.append(Action("upstream", True, cause=Cause.UPSTREAM, since=first, seconds=central_s,
                              count=central_n, ongoing=any(x.central and x.open_at_end for x in lines)))
    # 3. recurrence (already part of the damage item for a device listed there)
    for r in rec:
        if r.repeated and r.in_period and r.device.id not in damage:
            (central if r.device.funding == "apbn" else local).append(
                Action("recurrence", r.device.funding == "apbn", device=r.device, cause=r.in_period[-1].cause,
                       count=r.total_12, recurrence=r))
    # 4. warnings, one item per device (central for national-budget equipment that needs replacing)
    grouped: dict[tuple[str, bool], list[EquipmentWarning]] = defaultdict(list)
    for w in warnings:
        is_central = w.device is not None and w.device.funding == "apbn" and w.kind in CENTRAL_WARNING_KINDS
        grouped[(w.device.id if w.device else "", is_central)].append(w)
    for (_, is_central), ws in grouped.items():
        (central if is_central else local).append(
            Action("apbn_warning" if is_central else "warning", is_central, device=ws[0].device,
                   since=max(w.last for w in ws), count=sum(w.strikes or w.count for w in ws),
                   items=tuple((w.kind, w.strikes or w.count) for w in ws)))
    # 5. open outages, unacknowledged incidents, unknown states
    for x in lines:
        if x.open_at_end:
            local.append(Action("open_outage", False, device=x.device, cause=x.cause, since=x.start,
                                seconds=(end - x.start).total_seconds(), ongoing=True, detail=x.outage.status.value))
    for a in acks:
        # an incident that ended by itself without an ack is a statistic (see the acknowledgement figures);
        # one still open and unacknowledged is an open issue
        if a.acknowledged_at is None and (a.incident.ended_at is None or a.incident.ended_at > end):
            local.append(Action("unacknowledged", False, cause=a.incident.cause, since=a.incident.started_at,
                                detail=a.incident.title or None, ongoing=True))
    names = {d.id: d for d in data.devices}
    for st in data.states:
        if st.status is Status.UNKNOWN and st.device in names and names[st.device].in_config:
            local.append(Action("unknown_state", False, device=names[st.device], since=st.since, detail=st.reason))
    return tuple(central), tuple(local)


def compute(data: ReportData, period: Period, now: datetime) -> ReportFigures:
    """All figures of a report of ``period``, as known at ``now``."""
    current = period_figures(data, period, now)
    previous = period_figures(data, period.previous(), now)
    start, end = period.start, current.window_end
    acks = incident_acks(data, start, end)
    lines = outage_lines(data, current, acks)
    warnings = equipment_warnings(data, start, end)
    rec = recurrence(data, start, end)
    central_s, central_n = central_downtime(lines, current)
    central, local = actions(data, lines, acks, warnings, rec, central_s, central_n, end)
    headline = next((s for s in current.services if s.recording), current.services[0] if current.services else None)
    return ReportFigures(
        site=data.site, period=period, now=now, current=current, previous=previous, outages=lines,
        open_at_end=tuple(x for x in lines if x.open_at_end), acknowledgements=acks, warnings=warnings,
        recurrence=rec, impact=impact(data, current), central_actions=central, local_actions=local,
        gaps=tuple(GapRecord(c[0], c[1], g.reason) for g in data.gaps if (c := _clip(g.start, g.end, start, end))),
        maintenance=tuple(m for m in data.maintenance if _clip(m.start, m.end, start, end)),
        central_down_s=central_s, headline=headline)


# --------------------------------------------------------------------------------- detail selection


@dataclass(frozen=True, slots=True)
class OutageGroup:
    """Outages of one device left out of the PDF's detailed list, summed up."""

    device: DeviceInfo
    count: int
    downtime_s: float
    causes: tuple[tuple[Cause, int], ...]


def outage_detail(fig: ReportFigures, limit: int | None = DETAIL_LIMIT
                  ) -> tuple[tuple[OutageLine, ...], tuple[OutageGroup, ...]]:
    """(outages listed in full, in time order; the others summed up per device) — see "Detail in the PDF"."""
    lines = fig.outages
    if limit is None or len(lines) <= limit:
        return lines, ()
    central_devices = {a.device.id for a in fig.central_actions if a.device is not None}

    def weight(x: OutageLine) -> tuple[int, int, float, float]:
        return (0 if x.open_at_end else 1, 0 if x.device.id in central_devices or x.central else 1,
                -x.downtime_s, x.start.timestamp())

    chosen = set(id(x) for x in sorted(lines, key=weight)[:limit])
    shown = tuple(x for x in lines if id(x) in chosen)
    rest: dict[str, list[OutageLine]] = defaultdict(list)
    for x in lines:
        if id(x) not in chosen:
            rest[x.device.id].append(x)
    groups = [OutageGroup(xs[0].device, len(xs), sum(x.downtime_s for x in xs),
                          _count(Failure(x.device.id, x.start, x.end, x.cause) for x in xs))
              for xs in rest.values()]
    groups.sort(key=lambda g: (-g.downtime_s, g.device.name))
    return shown, tuple(groups)


@dataclass(frozen=True, slots=True)
class AckStats:
    incidents: int
    acknowledged: int
    mean_s: float | None
    median_s: float | None
    slowest_s: float | None


def ack_stats(acks: Sequence[IncidentAck]) -> AckStats:
    times = sorted(t for a in acks if (t := a.time_to_ack_s) is not None)
    n = len(times)
    median = None if not n else (times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2)
    return AckStats(len(acks), n, sum(times) / n if n else None, median, times[-1] if n else None)


def device_detail(devices: Sequence[DeviceFigures], limit: int | None = DEVICE_LIMIT) -> tuple[DeviceFigures, ...]:
    """The per-device rows for the PDF: all of them (in report order) up to ``limit``; beyond it the ``limit``
    devices with the most down + degraded time, in report order."""
    if limit is None or len(devices) <= limit:
        return tuple(devices)
    ranked = sorted(range(len(devices)), key=lambda i: -(devices[i].availability.down_s
                                                         + devices[i].availability.degraded_s))[:limit]
    return tuple(devices[i] for i in sorted(ranked))


def ack_detail(acks: Sequence[IncidentAck], limit: int | None = ACK_DETAIL_LIMIT) -> tuple[IncidentAck, ...]:
    """Acknowledgements listed in the PDF: all when few; else those with notes, the unacknowledged and the
    slowest, up to ``limit``, in time order."""
    if limit is None or len(acks) <= limit:
        return tuple(acks)
    ranked = sorted(acks, key=lambda a: (0 if any(n.note for n in a.notes) else 1,
                                         0 if a.acknowledged_at is None else 1, -(a.time_to_ack_s or 0.0)))
    keep = set(id(a) for a in ranked[:limit])
    return tuple(a for a in acks if id(a) in keep)
