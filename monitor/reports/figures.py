"""Report figures: pure functions of (data, period, now). No database, no clock, no I/O.

The rules below are the contract of every number in the weekly and escalation reports; each one is
tested in ``tests/reports/test_figures.py`` against hand-computed fixtures.

**The window and what each instant is** come from the coverage model (:mod:`monitor.engine.coverage`, its
docstring states the rules and their laws): every instant of ``[period.start, period.end)`` of every device
is one part — future (after ``now``), not yet monitored (before the first monitor start, or before the
device was added), monitor not running (recorded gaps, and the open tail after the last heartbeat when the
monitor is not running at ``now``), maintenance (config windows, one-off or cron, and ad-hoc rows of kind
``maintenance``; ``mute`` rows are not maintenance; the part of an outage past its window *is* downtime,
even if the engine flagged it ``planned``), the worst status of the overlapping outages at that instant
(each outage with the status it had then: a UPS degraded on battery for an hour and then down for five
minutes was unavailable for five minutes; ``unknown`` status is its own part), else up. The figures of the
period cover up to ``window_end`` = min(period end, now); outage lines are measured up to ``record_end``
(now while the monitor runs, else its last heartbeat: an outage still open then is open at the end, and
the time after it is the monitor's silence, stated as not running).

**Availability** = (up + degraded) / monitored time, where monitored = up + degraded + down +
unreachable time. Maintenance, unknown, not running and not-yet-monitored time are *excluded from the
denominator* and stated separately (the parts table, the summary, the list of gaps — they agree). ``degraded``
counts as available (the device works, at risk) and its time is stated too. ``unreachable`` (a parent is
down, so the device cannot be reached) counts as **unavailable** — the office cannot serve through it —
but its cause is attributed to ``network`` unless the outage records ``power``, ``lightning`` or
``maintenance`` as its cause. With nothing monitored (e.g. the monitor was off all week) availability is
undefined (None, shown "—").

**Central (upstream) downtime.** Unavailable time whose cause is ``upstream`` (the Ministry's data
center or the VPN link failed while the office's own equipment was fine) is counted as downtime, and
also reported separately as *central*; ``local_availability`` leaves it out, so the report never blames
the office for a central fault.

**Services** (``Site.services``) combine their devices' timelines instant by instant:

* ``up_when: any`` — available if any device is available (up, or degraded when none is up); otherwise
  the first excluded part of its devices (future, not yet monitored, not running, unknown, maintenance);
  otherwise unavailable.
* ``up_when: all`` — unavailable if any device is unavailable; otherwise the first excluded part of its
  devices; otherwise degraded if any device is degraded, else up.

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
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from monitor.domain import Cause, DeviceKind, ObservationKind, Status
from monitor.engine import coverage as cv
from monitor.engine.causes import merge_facts
from monitor.engine.coverage import CAUSE_PRIORITY, Part, Segment, Timeline, cause_rank
from monitor.reports.availability import (
    WORK_END,
    WORK_START,
    WORKING_DAYS,
    Availability,
    DeviceFigures,
    Impact,
    Island,
    PeriodFigures,
    ServiceFigures,
    Slot,
    availability,
    clip,
    impact,
    islands,
    period_figures,
    working_intervals,
)
from monitor.reports.data import (
    AckRecord,
    DeviceInfo,
    EvidenceItem,
    GapRecord,
    IncidentRecord,
    MaintenanceRecord,
    ObservationRecord,
    OutageRecord,
    ReportData,
    months_before,
)
from monitor.reports.period import Period
from monitor.settings import Site
from monitor.vocabulary.facts import strikes as strikes_of

RECURRENCE_THRESHOLD = 3
TAIL_REASON = "not_running_now"
"""The reason of the listed open tail: the monitor is not running now and has said nothing since."""
DETAIL_LIMIT = 30
ACK_DETAIL_LIMIT = 15
RECURRENCE_LIMIT = 15
DEVICE_LIMIT = 100
"""The PDF's per-device tables list at most this many devices, the most downtime first (issue 8: a site of
1,000 devices made a 130-page PDF); the HTML file and the CSV list every device."""
ACTION_LIMIT = 40
"""The PDF lists at most this many actions of each kind (in their order of importance); the HTML all."""
__all__ = ["CAUSE_PRIORITY", "WORKING_DAYS", "WORK_END", "WORK_START", "Availability", "DeviceFigures", "Impact",
           "Island", "Part", "PeriodFigures", "Segment", "ServiceFigures", "Slot", "Timeline", "availability",
           "impact", "islands", "period_figures", "working_intervals"]

WARNING_KINDS: tuple[str, ...] = (
    ObservationKind.REPLACE_BATTERY, ObservationKind.LOW_RUNTIME, ObservationKind.SPD_TRIPPED,
    ObservationKind.STRIKE, ObservationKind.VOLTAGE_ABNORMAL, ObservationKind.DISK_FULL,
    ObservationKind.TEMPERATURE_HIGH, ObservationKind.OVERLOAD)
CENTRAL_WARNING_KINDS = frozenset({ObservationKind.REPLACE_BATTERY, ObservationKind.SPD_TRIPPED,
                                   ObservationKind.STRIKE})
DAMAGE_CAUSES = frozenset({Cause.LIGHTNING, Cause.HARDWARE})
_NOT_A_FAILURE = frozenset({Cause.MAINTENANCE, Cause.MONITOR_OFFLINE})


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
    monitoring_began: datetime | None = None   # when monitoring began, if inside the period

    @property
    def window_end(self) -> datetime:
        return self.current.window_end

    @property
    def record_end(self) -> datetime:
        """Now while the monitor runs; else its last heartbeat (figures are known up to here)."""
        return self.current.record_end

    @property
    def running(self) -> bool:
        return self.current.running

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
    return cv.attributed_cause(outage.cause, status or outage.status)


# ------------------------------------------------------------------------------------ the details


def _overlap_s(s: datetime, e: datetime, segs: Iterable[Segment], parts: frozenset[Part]) -> float:
    total = 0.0
    for seg in segs:
        if seg.part in parts and (c := clip(seg.start, seg.end, s, e)):
            total += (c[1] - c[0]).total_seconds()
    return total


_NOT_MONITORED = frozenset({Part.NOT_RUNNING, Part.NOT_YET_MONITORED, Part.UNKNOWN})


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
    """Every outage overlapping the period, measured up to the end of the record (``record_end``: now while
    the monitor runs, else its last heartbeat — an outage still open then is "open at the end", and the
    time after it is the monitor's, not the outage's)."""
    start, end = period_fig.period.start, period_fig.record_end
    ack_by_incident = {a.incident.id: a for a in acks}
    timelines = {d.device.id: d.timeline for d in period_fig.devices}
    out: list[OutageLine] = []
    for o in data.outages:
        clipped = clip(o.started_at, o.end_or(end), start, end)
        if clipped is None:
            continue
        device = data.device(o.device)
        tl = timelines.get(o.device, ())
        s, e = clipped
        open_at_end = o.ended_at is None or o.ended_at > end
        out.append(OutageLine(
            outage=o, device=device, cause=attributed_cause(o),
            duration_s=((o.ended_at if not open_at_end and o.ended_at else end) - o.started_at).total_seconds(),
            in_period_s=(e - s).total_seconds(), maintenance_s=_overlap_s(s, e, tl, frozenset({Part.MAINTENANCE})),
            unmonitored_s=_overlap_s(s, e, tl, _NOT_MONITORED), started_before=o.started_at < start,
            degraded_s=_overlap_s(s, e, tl, frozenset({Part.DEGRADED})) if o.timeline else 0.0,
            open_at_end=open_at_end,
            ack=ack_by_incident.get(o.incident_id) if o.incident_id is not None else None))
    out.sort(key=lambda x: (x.start, x.device.name, x.outage.id))
    return tuple(out)


def equipment_warnings(data: ReportData, start: datetime, end: datetime) -> tuple[EquipmentWarning, ...]:
    """Warnings per device and kind, counting physical events: an arrester trip reported by a trap and by the
    next poll is one trip (:func:`monitor.engine.causes.merge_facts`)."""
    groups: dict[tuple[str | None, str], list[ObservationRecord]] = defaultdict(list)
    seen = [x for x in data.observations if x.kind in WARNING_KINDS and start <= x.time < end]
    for x, _sources in merge_facts(seen, lambda o: (o.time, o.device, o.kind, o.source)):
        groups[(x.device, x.kind)].append(x)
    known = {d.id: d for d in data.devices}
    out: list[EquipmentWarning] = []
    for (dev, kind), items in groups.items():
        strikes = 0
        if kind == ObservationKind.STRIKE:
            strikes = sum(strikes_of(x.values) for x in items)
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
        out.append(Recurrence(d, age_years(d.installed, end, data.site.timezone), count_causes(in12),
                              count_causes(in36), in_period, ordinal, tuple(in36)))
    out.sort(key=lambda r: (-len(r.in_period), -r.total_12, -r.total_36, r.device.name))
    return tuple(out)


def count_causes(fs: Iterable[Failure]) -> tuple[tuple[Cause, int], ...]:
    c: dict[Cause, int] = defaultdict(int)
    for f in fs:
        c[f.cause] += 1
    return tuple(sorted(c.items(), key=lambda kv: (-kv[1], cause_rank(kv[0]))))


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
                 if seg.part.unavailable and seg.cause is Cause.UPSTREAM]
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
    start, end, known = period.start, current.window_end, current.record_end
    acks = incident_acks(data, start, end)
    lines = outage_lines(data, current, acks)
    warnings = equipment_warnings(data, start, end)
    rec = recurrence(data, start, end)
    central_s, central_n = central_downtime(lines, current)
    central, local = actions(data, lines, acks, warnings, rec, central_s, central_n, known)
    headline = next((s for s in current.services if s.recording), current.services[0] if current.services else None)
    gaps = tuple(GapRecord(c[0], c[1], g.reason) for g in data.gaps if (c := clip(g.start, g.end, start, end)))
    if known < end:       # the open tail: the monitor is not running now and has said nothing since
        gaps = (*gaps, GapRecord(known, end, TAIL_REASON))
    began = data.monitoring_since
    return ReportFigures(
        site=data.site, period=period, now=now, current=current, previous=previous, outages=lines,
        open_at_end=tuple(x for x in lines if x.open_at_end), acknowledgements=acks, warnings=warnings,
        recurrence=rec, impact=impact(data, current, now), central_actions=central, local_actions=local,
        gaps=gaps, maintenance=tuple(m for m in data.maintenance if clip(m.start, m.end, start, end)),
        central_down_s=central_s, headline=headline,
        monitoring_began=began if began is not None and start < began < end else None)
