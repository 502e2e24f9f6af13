"""The detection engine: a pure state machine from check results (and traps) to device statuses and
outages. No I/O, no clock reads: every function takes ``now`` (or the result's tick time).

Two levels
==========

**Per check (confirmation).** Each configured check of a device has a :class:`CheckTrack`: its
*confirmed* status and a *pending* streak of results that disagree with it. A result group is
``ok`` (up), ``fail`` (degraded, down) or ``unknown``. A streak collects consecutive results of one
group (between ``degraded`` and ``down`` — both ``fail`` — the exact status). ``N↓`` is the device's
``confirm_down``, ``N↑`` its ``confirm_up``.

====  ==================  =====================  ======================================  =====================
row   confirmed           result                 condition                               new confirmed
====  ==================  =====================  ======================================  =====================
T1    any                 same status            —                                       unchanged, streak reset
T2    never seen          up                     —                                       up at once
T3    up                  degraded / down        streak < N↓                             up (silent: one lost
                                                                                         packet changes nothing)
T4    up                  degraded / down        streak reaches N↓                       the latest result's
                                                                                         status; since = first
                                                                                         failed result
T5    degraded / down     up                     streak < N↑                             unchanged
T6    degraded / down     up                     streak reaches N↑                       up; since = first good
                                                                                         result of the streak
T7    degraded            down                   N↓ downs in a row                       down (worse)
T8    down                degraded               N↑ degradeds in a row                   degraded (better)
T9    up/degraded/down    unknown                N↓ unknowns in a row                    unknown (never a
                                                                                         failure)
T10   unknown             up                     N↑ ups in a row                         up
T11   unknown / never     degraded / down        N↓ in a row                             that status
====  ==================  =====================  ======================================  =====================

**Per device (derivation).** The device's status is derived from its checks' confirmed statuses and
its parents (``depends_on``):

====  ===============================================  ==============================  ============
row   own checks (confirmed)                            parents                         device
====  ===============================================  ==============================  ============
D1    no check known (none, or all unknown)             —                               unknown
D2    every known check up                              —                               up
D3    some degraded, none down                          —                               degraded
D4    some down, and no other check's latest result     none down/unreachable           down
      answered (a host dying: checks confirm in turn)
D5    some down, some up or degraded (and their         none down/unreachable           down, hint
      latest result answered)                                                           ``service``
D6    some down                                         a parent down or unreachable    unreachable,
                                                                                        hint ``network``
D7    down only in checks being re-checked after a      —                               unreachable
      parent recovered                                                                  (held)
====  ===============================================  ==============================  ============

An ``upstream`` device (the central data center over the VPN) that is down while its parents are up
gets the hint ``upstream`` instead (D4/D5). When a parent recovers, each unreachable child keeps
``unreachable`` (D7) and its failing checks must be confirmed afresh: ``N↑`` good results close its
outage, ``N↓`` new failures make it ``down`` on its own account. A child that was confirmed down just
before its parent becomes ``unreachable`` when the parent is confirmed; if the parent's outage started
before the child's was confirmed, the child's outage is *reclassified* (its worst status becomes
unreachable — the ``down`` was only the order in which the polls ran).

**Outages** follow the device status:

====  ===================================  =====================  ========================================
row   old device status                    new device status      outage
====  ===================================  =====================  ========================================
O1    up, or unknown without an outage     degraded/down/unr.     opened; started_at = the first failed
                                                                  result of the confirming streak(s)
O2    non-up (outage open)                 another non-up status  changed (status; worst kept)
O3    non-up or unknown (outage open)      up                     closed; ended_at = the first good result
                                                                  of the confirmed recovery
O4    non-up (outage open)                 unknown                stays open (unknown never closes: we
                                                                  did not see it recover)
O5    unknown without an outage            up                     nothing
====  ===================================  =====================  ========================================

**Flapping.** Every device status change is remembered for ``flapping.window``. More than
``max_changes`` changes in the window → ``flapping`` (one FlappingStarted); it stops (one
FlappingStopped) once at most ``max_changes // 2`` changes remain in the window (hysteresis, as in
Nagios' high/low flap thresholds). Outages keep being recorded exactly while a device flaps; the
events carry ``flapping=True`` so the alerting side can stay quiet.

**Traps** (:func:`apply_trap`): an on-battery / low-battery / SPD-tripped trap confirms ``degraded``
at once on the device's SNMP checks (or on a pseudo check ``trap`` when it has none) — a trap is an
explicit statement, not a lost packet. Recovery still comes from the polls (``N↑``).

**Time.** A check's clock never goes back: each result's time is clamped to that check's previous
result time, and an outage's end is never before its start, so an NTP step backwards cannot produce a
negative duration. (Clamped per check, not per device: results carry their tick time, and a slow SNMP
poll started before a quick ping legitimately finishes after it.) A step back of :data:`CLOCK_STEP` or
more while the device is at rest (no open outage, no failure streak, not flapping) re-bases the device
on the new clock instead: every time it holds that is later than the result's becomes the result's time.
Clamping there would freeze the device's clock for the length of the step, and every outage in that
time would be recorded as lasting 0 s.

Invariants (tested, including by a hypothesis property test): at most one open outage per device;
``started_at <= confirmed_at``; ``started_at <= ended_at``; an ``unknown`` result never opens an
outage.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from monitor.clock import utc
from monitor.domain import (
    Cause,
    CheckResult,
    DeviceKind,
    DeviceRef,
    MetricValue,
    ObservationKind,
    ReasonCode,
    Status,
    worst,
)

TRAP_TRACK = "trap"
"""Key of the pseudo check that carries a trap-forced status on a device without SNMP checks."""

FORCING_TRAP_KINDS = frozenset({ObservationKind.ON_BATTERY, ObservationKind.LOW_BATTERY,
                                ObservationKind.SPD_TRIPPED})
"""Trap facts that make the device degraded at once."""

RESTORING_TRAP_KINDS = frozenset({ObservationKind.ON_MAINS, ObservationKind.SPD_OK})

_FAIL = (Status.DEGRADED, Status.DOWN)


def _group(status: Status) -> str:
    if status is Status.UP:
        return "ok"
    if status in _FAIL:
        return "fail"
    return "unknown"  # UNKNOWN (and UNREACHABLE, which a check never reports itself)


# -------------------------------------------------------------------------------------------- policy


@dataclass(frozen=True, slots=True)
class DevicePolicy:
    """What the engine needs to know about one configured device."""

    ref: DeviceRef
    kind: DeviceKind
    confirm_down: int
    confirm_up: int
    parents: tuple[DeviceRef, ...] = ()
    powered_by: DeviceRef | None = None
    checks: Mapping[str, str] = field(default_factory=dict)  # enabled check key -> check type


@dataclass(frozen=True, slots=True)
class Policy:
    """The engine's view of the configuration (built once per config load)."""

    devices: Mapping[DeviceRef, DevicePolicy]
    flap_window: timedelta = timedelta(minutes=30)
    flap_max_changes: int = 6
    children: Mapping[DeviceRef, tuple[DeviceRef, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, devices: Iterable[DevicePolicy], *, flap_window: timedelta,
              flap_max_changes: int) -> Policy:
        devs = {d.ref: d for d in devices}
        kids: dict[DeviceRef, list[DeviceRef]] = {}
        for d in devs.values():
            for p in d.parents:
                kids.setdefault(p, []).append(d.ref)
        return cls(devs, flap_window, flap_max_changes, {k: tuple(sorted(v)) for k, v in kids.items()})

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        """Build from :class:`monitor.settings.Settings` (typed ``Any`` to keep this module import-light)."""
        devices = []
        for site, dev in settings.iter_devices():
            devices.append(DevicePolicy(
                ref=DeviceRef(site.id, dev.id), kind=dev.kind, confirm_down=dev.confirm_down,
                confirm_up=dev.confirm_up, parents=tuple(DeviceRef(site.id, p) for p in dev.depends_on),
                powered_by=DeviceRef(site.id, dev.powered_by) if dev.powered_by else None,
                checks={c.key: c.type for c in dev.checks if c.enabled}))
        return cls.build(devices, flap_window=settings.flapping.window,
                         flap_max_changes=settings.flapping.max_changes)


# --------------------------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class CheckTrack:
    """Confirmation state of one check of one device (rows T1–T11)."""

    status: Status = Status.UNKNOWN
    since: datetime | None = None          # None = never seen
    reason: str | None = None
    reason_code: ReasonCode | None = None
    pending: Status | None = None
    pending_count: int = 0
    pending_since: datetime | None = None
    pending_reason: str | None = None
    pending_code: ReasonCode | None = None
    last_at: datetime | None = None
    last_status: Status | None = None
    recheck: bool = False                  # failure must be confirmed afresh (parent recovered)
    forced: bool = False                   # status set by a trap
    conditions: tuple[str, ...] = ()       # observation kinds active in the last result (dedup)


@dataclass(frozen=True, slots=True)
class OutageState:
    """The open outage of a device, as far as the engine needs it."""

    started_at: datetime
    confirmed_at: datetime
    worst: Status
    status: Status  # the latest non-up status inside the outage (unknown does not replace it)


@dataclass(frozen=True, slots=True)
class DeviceState:
    """Everything the engine knows about one device. Persisted (device_states + the open outage)."""

    ref: DeviceRef
    status: Status = Status.UNKNOWN
    since: datetime | None = None
    reason: str | None = None
    hint: Cause | None = None
    checks: Mapping[str, CheckTrack] = field(default_factory=dict)
    changes: tuple[datetime, ...] = ()
    flapping: bool = False
    outage: OutageState | None = None
    last_at: datetime | None = None
    stale: bool = False                    # not monitored since the last restart (after a gap)
    metrics: Mapping[str, Mapping[str, MetricValue]] = field(default_factory=dict)

    @property
    def shown_status(self) -> Status:
        """What to show people: ``unknown`` while not monitored since a restart."""
        return Status.UNKNOWN if self.stale else self.status


@dataclass(frozen=True, slots=True)
class World:
    """Every device's state. Immutable; each step returns a new World."""

    devices: Mapping[DeviceRef, DeviceState] = field(default_factory=dict)

    def get(self, ref: DeviceRef) -> DeviceState:
        return self.devices.get(ref) or DeviceState(ref)

    def with_states(self, states: Mapping[DeviceRef, DeviceState]) -> World:
        if not states:
            return self
        merged = dict(self.devices)
        merged.update(states)
        return World(merged)


# -------------------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """The device's status changed (one log line; device_states updated)."""

    ref: DeviceRef
    at: datetime
    old: Status
    new: Status
    reason: str | None
    hint: Cause | None


@dataclass(frozen=True, slots=True)
class OutageOpened:
    ref: DeviceRef
    started_at: datetime
    confirmed_at: datetime
    status: Status
    reason: str | None
    hint: Cause | None
    flapping: bool = False


@dataclass(frozen=True, slots=True)
class OutageChanged:
    ref: DeviceRef
    at: datetime
    status: Status
    previous_status: Status
    worst: Status
    reason: str | None
    hint: Cause | None
    reclassified: bool = False   # the whole outage is now attributed to the network
    flapping: bool = False
    changed_at: datetime | None = None  # first result of the streak that confirmed ``status`` (else ``at``)


@dataclass(frozen=True, slots=True)
class OutageClosed:
    ref: DeviceRef
    at: datetime
    ended_at: datetime
    worst: Status
    flapping: bool = False
    removed: bool = False        # the device left the configuration


@dataclass(frozen=True, slots=True)
class FlappingStarted:
    ref: DeviceRef
    at: datetime
    changes: int
    window: timedelta
    status: Status


@dataclass(frozen=True, slots=True)
class FlappingStopped:
    ref: DeviceRef
    at: datetime
    status: Status


EngineEvent = StatusChanged | OutageOpened | OutageChanged | OutageClosed | FlappingStarted | FlappingStopped


@dataclass(frozen=True, slots=True)
class Step:
    world: World
    events: tuple[EngineEvent, ...] = ()


# ------------------------------------------------------------------------------------ check tracking


def confirm(track: CheckTrack, result: CheckResult, at: datetime, n_down: int, n_up: int) -> CheckTrack:
    """Rows T1–T11: feed one result (at time ``at``) to a check's confirmation state."""
    r = result.status
    conditions = tuple(sorted({o.kind.value for o in result.observations}))
    base = replace(track, last_at=at, last_status=r, conditions=conditions)
    if r is track.status and track.since is not None:                              # T1
        if track.recheck and r in _FAIL:
            # a failure after the parent recovered: count it towards a fresh confirmation
            count = track.pending_count + 1 if track.pending is r else 1
            if count >= n_down:
                return replace(base, recheck=False, pending=None, pending_count=0, pending_since=None,
                               reason=result.reason, reason_code=result.reason_code, forced=False)
            return replace(base, pending=r, pending_count=count,
                           pending_since=track.pending_since if track.pending is r else at)
        return replace(base, reason=result.reason, reason_code=result.reason_code, pending=None,
                       pending_count=0, pending_since=None, pending_reason=None, pending_code=None,
                       forced=track.forced and r is not Status.UP)
    if track.since is None and r is Status.UP:                                     # T2
        return replace(base, status=r, since=at, reason=None, reason_code=None, pending=None,
                       pending_count=0, pending_since=None)
    same_group = _group(r) == _group(track.status) and track.since is not None
    if same_group:
        # degraded <-> down while failing: the exact status must repeat (T7, T8)
        continuing = track.pending is r
        need = n_down if r.severity > track.status.severity else n_up
    else:
        continuing = track.pending is not None and _group(track.pending) == _group(r)
        need = n_up if r is Status.UP else n_down
    count = track.pending_count + 1 if continuing else 1
    first = track.pending_since if continuing and track.pending_since is not None else at
    if count >= need:                                                              # T4 T6 T7 T8 T9 T10 T11
        return replace(base, status=r, since=first, reason=result.reason, reason_code=result.reason_code,
                       pending=None, pending_count=0, pending_since=None, pending_reason=None,
                       pending_code=None, recheck=False, forced=False)
    return replace(base, pending=r, pending_count=count, pending_since=first,      # T3 T5
                   pending_reason=result.reason, pending_code=result.reason_code)


# --------------------------------------------------------------------------------- device derivation


@dataclass(frozen=True, slots=True)
class _Derived:
    status: Status
    reason: str | None
    hint: Cause | None


def _tracks(state: DeviceState, policy: DevicePolicy) -> Iterator[tuple[str, CheckTrack]]:
    for key, track in sorted(state.checks.items()):
        if key in policy.checks or key == TRAP_TRACK:
            yield key, track


def _parent_failing(world: World, policy: DevicePolicy) -> DeviceRef | None:
    for p in policy.parents:
        if world.get(p).status.is_failure:
            return p
    return None


def derive(world: World, state: DeviceState, policy: DevicePolicy) -> _Derived:
    """Rows D1–D7: the device's status from its checks' confirmed statuses and its parents."""
    known = [(k, t) for k, t in _tracks(state, policy) if t.since is not None and t.status is not Status.UNKNOWN]
    if not known:                                                                  # D1
        unknown = [f"{k}: {t.reason}" for k, t in _tracks(state, policy) if t.reason]
        return _Derived(Status.UNKNOWN, "; ".join(unknown) or None, None)
    down = [(k, t) for k, t in known if t.status is Status.DOWN]
    degraded = [(k, t) for k, t in known if t.status is Status.DEGRADED]
    if not down:
        if degraded:                                                               # D3
            return _Derived(Status.DEGRADED, _reasons(degraded), None)
        return _Derived(Status.UP, None, None)                                     # D2
    parent = _parent_failing(world, policy)
    if parent is not None:                                                         # D6
        return _Derived(Status.UNREACHABLE, f"{parent.device} is {world.get(parent).status.value}: "
                                            + _reasons(down), Cause.NETWORK)
    if all(t.recheck for _, t in down):                                            # D7
        return _Derived(Status.UNREACHABLE, "waiting for own checks after the network recovered: "
                        + _reasons(down), Cause.NETWORK)
    # "answering" means its latest result answered: a check still confirmed up whose last result failed
    # (a host dying, its checks confirming one after the other) is no sign of a live host
    answering = [k for k, t in known if t.status is not Status.DOWN and t.last_status in (Status.UP, Status.DEGRADED)]
    if policy.kind is DeviceKind.UPSTREAM:
        return _Derived(Status.DOWN, _reasons(down), Cause.UPSTREAM)
    if answering:                                                                  # D5
        return _Derived(Status.DOWN, _reasons(down) + f" (answering: {', '.join(answering)})", Cause.SERVICE)
    return _Derived(Status.DOWN, _reasons(down), None)                             # D4


def _reasons(tracks: list[tuple[str, CheckTrack]]) -> str:
    return "; ".join(f"{k}: {t.reason or t.status.value}" for k, t in tracks)


def _first_failure(state: DeviceState, policy: DevicePolicy) -> datetime | None:
    """The first failed result of the current failing streaks: confirmed ones, and those still being
    confirmed on other checks (a ping that failed first, before the service check confirmed)."""
    times = [t.since for _, t in _tracks(state, policy) if t.since is not None and t.status in _FAIL]
    times += [t.pending_since for _, t in _tracks(state, policy)
              if t.pending in _FAIL and t.pending_since is not None and t.status not in _FAIL]
    return min(times) if times else None


def _recovered_at(state: DeviceState, policy: DevicePolicy, started: datetime) -> datetime | None:
    times = [t.since for _, t in _tracks(state, policy)
             if t.since is not None and t.status is Status.UP and t.since >= started]
    return max(times) if times else None


# ------------------------------------------------------------------------------------ transitions


def _settle(world: World, old: DeviceState, new: DeviceState, policy: Policy, at: datetime,
            events: list[EngineEvent], parent_change: bool = False) -> DeviceState:
    """Re-derive ``new``'s status, apply rows O1–O5 and flapping, append the events."""
    dp = policy.devices[new.ref]
    d = derive(world, new, dp)
    state = replace(new, reason=d.reason, hint=d.hint)
    if d.status is old.status:
        return state  # same status (a new reason or hint is kept, nothing to record)
    changes = tuple(t for t in (*old.changes, at) if t > at - policy.flap_window)
    state = replace(state, status=d.status, since=at, changes=changes)
    flapping = state.flapping
    if not flapping and len(changes) > policy.flap_max_changes:
        flapping = True
        events.append(FlappingStarted(new.ref, at, len(changes), policy.flap_window, d.status))
    state = replace(state, flapping=flapping)
    events.append(StatusChanged(new.ref, at, old.status, d.status, d.reason, d.hint))
    outage = old.outage
    if d.status in (Status.DEGRADED, Status.DOWN, Status.UNREACHABLE):
        if outage is None:                                                         # O1
            first = _first_failure(state, dp) or at
            first = min(first, at)
            state = replace(state, since=first,
                            outage=OutageState(started_at=first, confirmed_at=at, worst=d.status, status=d.status))
            events.append(OutageOpened(new.ref, first, at, d.status, d.reason, d.hint, flapping))
        else:                                                                      # O2
            reclassify = (parent_change and d.status is Status.UNREACHABLE and outage.worst is Status.DOWN
                          and _parent_started_before(world, dp, outage.confirmed_at))
            new_worst = Status.UNREACHABLE if reclassify else worst(outage.worst, d.status)
            state = replace(state, outage=replace(outage, worst=new_worst, status=d.status))
            if d.status is not outage.status or reclassify:
                streak = [t.since for _, t in _tracks(state, dp)
                          if t.status is d.status and t.since is not None and outage.started_at <= t.since <= at]
                events.append(OutageChanged(new.ref, at, d.status, outage.status, new_worst, d.reason, d.hint,
                                            reclassify, flapping, min(streak) if streak else at))
    elif d.status is Status.UP and outage is not None:                             # O3
        ended = _recovered_at(state, dp, outage.started_at) or at
        ended = max(min(ended, at), outage.started_at)
        state = replace(state, since=ended, outage=None)
        events.append(OutageClosed(new.ref, at, ended, outage.worst, flapping))
    # O4 (unknown with an outage: it stays open) and O5 need nothing more
    if flapping and len(changes) <= policy.flap_max_changes // 2:
        state = replace(state, flapping=False)
        events.append(FlappingStopped(new.ref, at, d.status))
    return state


def _parent_started_before(world: World, dp: DevicePolicy, when: datetime) -> bool:
    for p in dp.parents:
        ps = world.get(p)
        if ps.status.is_failure and ps.outage is not None and ps.outage.started_at <= when:
            return True
    return False


def _flap_decay(state: DeviceState, policy: Policy, at: datetime, events: list[EngineEvent]) -> DeviceState:
    """Flapping also ends when time passes without changes (evaluated on every result)."""
    if not state.flapping:
        return state
    changes = tuple(t for t in state.changes if t > at - policy.flap_window)
    if len(changes) <= policy.flap_max_changes // 2:
        events.append(FlappingStopped(state.ref, at, state.status))
        return replace(state, flapping=False, changes=changes)
    return state


def _propagate(world: World, ref: DeviceRef, old_failing: bool, policy: Policy, at: datetime,
               events: list[EngineEvent]) -> World:
    """Re-derive the children of ``ref`` after its failing-ness changed (recursively)."""
    now_failing = world.get(ref).status.is_failure
    if now_failing == old_failing:
        return world
    for child in policy.children.get(ref, ()):
        if child not in policy.devices:
            continue
        cs = world.get(child)
        if now_failing:
            new = cs
        else:
            # parent recovered: failing checks of an unreachable child must be confirmed afresh (D7)
            if cs.status is not Status.UNREACHABLE:
                continue
            checks = {k: (replace(t, recheck=True, pending=None, pending_count=0, pending_since=None)
                          if t.status in _FAIL else t) for k, t in cs.checks.items()}
            new = replace(cs, checks=checks)
        child_failing = cs.status.is_failure
        settled = _settle(world, cs, new, policy, at, events, parent_change=True)
        world = world.with_states({child: settled})
        world = _propagate(world, child, child_failing, policy, at, events)
    return world


# ------------------------------------------------------------------------------------------ public


def advance(world: World, ref: DeviceRef, result: CheckResult, policy: Policy) -> Step:
    """Feed one check result of device ``ref`` to the engine. ``result.time`` is the tick time."""
    dp = policy.devices.get(ref)
    if dp is None:
        return Step(world)  # a device removed by a reload while its check was running
    old = world.get(ref)
    at = utc(result.time)
    track = old.checks.get(result.check, CheckTrack())
    last = track.last_at
    if last is not None and at < last:
        if last - at >= CLOCK_STEP and _at_rest(old):
            # the wall clock was stepped back (NTP) and nothing of this device spans the step: follow it
            old = _rebase(old, at)
            track = old.checks.get(result.check, CheckTrack())
        else:
            # time never runs backwards for a check. (Per check, not per device: a slow SNMP poll started
            # before a quick ping legitimately finishes after it.)
            at = last
    events: list[EngineEvent] = []
    new_track = confirm(track, result, at, dp.confirm_down, dp.confirm_up)
    checks = dict(old.checks)
    checks[result.check] = new_track
    metrics = dict(old.metrics)
    if result.metrics:
        metrics[result.check] = dict(result.metrics)
    new = replace(old, checks=checks, last_at=at if old.last_at is None else max(old.last_at, at), stale=False,
                  metrics=metrics)
    new = _flap_decay(new, policy, at, events)
    settled = _settle(world, old, new, policy, at, events)
    world = world.with_states({ref: settled})
    world = _propagate(world, ref, old.status.is_failure, policy, at, events)
    return Step(world, tuple(events))


CLOCK_STEP = timedelta(seconds=60)
"""A check's time going back at least this much is a wall-clock step (see "Time" above)."""


def _at_rest(state: DeviceState) -> bool:
    """Nothing of the device spans time: no open outage, no failure streak being confirmed, not flapping."""
    return (state.outage is None and not state.flapping
            and all(t.pending is None for t in state.checks.values()))


def _rebase(state: DeviceState, at: datetime) -> DeviceState:
    """The device after a wall-clock step back to ``at``: every time it holds later than ``at`` is ``at``."""
    def clip(t: datetime | None) -> datetime | None:
        return None if t is None else min(t, at)

    checks = {k: replace(t, since=clip(t.since), last_at=clip(t.last_at)) for k, t in state.checks.items()}
    return replace(state, checks=checks, since=clip(state.since), last_at=clip(state.last_at),
                   changes=tuple(c for c in state.changes if c <= at))


def apply_trap(world: World, ref: DeviceRef, kinds: Iterable[ObservationKind], text: str, at: datetime,
               policy: Policy) -> Step:
    """A trap from ``ref`` stated ``kinds``: on battery / low battery / SPD tripped confirm degraded at once."""
    dp = policy.devices.get(ref)
    forcing = [k for k in kinds if k in FORCING_TRAP_KINDS]
    restoring = [k for k in kinds if k in RESTORING_TRAP_KINDS]
    if dp is None or not (forcing or restoring):
        return Step(world)
    old = world.get(ref)
    at = utc(at)
    if old.last_at is not None and at < old.last_at:
        at = old.last_at
    checks = dict(old.checks)
    if forcing:
        reason = text if "trap" in text.lower() else f"{text} (trap)"
        snmp = [k for k, kind in dp.checks.items() if kind == "snmp"]
        for key in snmp or [TRAP_TRACK]:
            t = checks.get(key, CheckTrack())
            if t.status in (Status.UP, Status.UNKNOWN):
                checks[key] = replace(t, status=Status.DEGRADED, since=at, reason=reason,
                                      reason_code=ReasonCode.CONDITION, pending=None, pending_count=0,
                                      pending_since=None, forced=True, last_at=at)
    elif TRAP_TRACK in checks:
        checks.pop(TRAP_TRACK)  # power restored / SPD ok: the pseudo check has nothing left to say
    events: list[EngineEvent] = []
    new = replace(old, checks=checks, last_at=at if old.last_at is None else max(old.last_at, at))
    settled = _settle(world, old, new, policy, at, events)
    world = world.with_states({ref: settled})
    world = _propagate(world, ref, old.status.is_failure, policy, at, events)
    return Step(world, tuple(events))


def mark_gap(world: World) -> World:
    """After a monitor gap: every device is not monitored (shown unknown) until its next result, and
    confirmation streaks started before the gap are dropped (results hours apart are not "in a row")."""
    states = {}
    for ref, s in world.devices.items():
        checks = {k: replace(t, pending=None, pending_count=0, pending_since=None, pending_reason=None,
                             pending_code=None) for k, t in s.checks.items()}
        states[ref] = replace(s, checks=checks, stale=True)
    return World(states)


def reconcile(world: World, policy: Policy, now: datetime) -> Step:
    """Fit ``world`` to a (re)loaded config: new devices start unknown, tracks of removed checks are
    dropped, and a removed device's open outage is closed at ``now`` (it is no longer watched)."""
    events: list[EngineEvent] = []
    states: dict[DeviceRef, DeviceState] = {}
    for ref, s in world.devices.items():
        dp = policy.devices.get(ref)
        if dp is None:
            if s.outage is not None:
                ended = max(now, s.outage.started_at)
                events.append(OutageClosed(ref, now, ended, s.outage.worst, removed=True))
            continue
        checks = {k: t for k, t in s.checks.items() if k in dp.checks or k == TRAP_TRACK}
        metrics = {k: v for k, v in s.metrics.items() if k in dp.checks}
        states[ref] = replace(s, checks=checks, metrics=metrics)
    for ref in policy.devices:
        states.setdefault(ref, DeviceState(ref))
    return Step(World(states), tuple(events))


# ---------------------------------------------------------------------------------- persistence


def _dt(value: datetime | None) -> str | None:
    return None if value is None else utc(value).isoformat()


def _pdt(value: Any) -> datetime | None:
    return None if value is None else utc(datetime.fromisoformat(str(value)))


def track_to_data(t: CheckTrack) -> dict[str, Any]:
    return {"status": t.status.value, "since": _dt(t.since), "reason": t.reason,
            "reason_code": t.reason_code.value if t.reason_code else None,
            "pending": t.pending.value if t.pending else None, "pending_count": t.pending_count,
            "pending_since": _dt(t.pending_since), "pending_reason": t.pending_reason,
            "pending_code": t.pending_code.value if t.pending_code else None,
            "last_at": _dt(t.last_at), "last_status": t.last_status.value if t.last_status else None,
            "recheck": t.recheck, "forced": t.forced, "conditions": list(t.conditions)}


def track_from_data(d: Mapping[str, Any]) -> CheckTrack:
    return CheckTrack(
        status=Status(d.get("status", "unknown")), since=_pdt(d.get("since")), reason=d.get("reason"),
        reason_code=ReasonCode(d["reason_code"]) if d.get("reason_code") else None,
        pending=Status(d["pending"]) if d.get("pending") else None, pending_count=int(d.get("pending_count", 0)),
        pending_since=_pdt(d.get("pending_since")), pending_reason=d.get("pending_reason"),
        pending_code=ReasonCode(d["pending_code"]) if d.get("pending_code") else None,
        last_at=_pdt(d.get("last_at")), last_status=Status(d["last_status"]) if d.get("last_status") else None,
        recheck=bool(d.get("recheck", False)), forced=bool(d.get("forced", False)),
        conditions=tuple(d.get("conditions", ())))


def state_to_data(s: DeviceState) -> dict[str, Any]:
    """The engine-private part of a device state as JSON (``device_states.data``)."""
    return {"v": 1, "checks": {k: track_to_data(t) for k, t in s.checks.items()},
            "changes": [_dt(t) for t in s.changes], "hint": s.hint.value if s.hint else None,
            "last_at": _dt(s.last_at), "stale": s.stale,
            "outage_status": s.outage.status.value if s.outage else None}


def state_from_data(ref: DeviceRef, *, status: Status, since: datetime | None, reason: str | None,
                    flapping: bool, data: Mapping[str, Any], metrics: Mapping[str, Any],
                    outage: tuple[datetime, datetime | None, Status] | None) -> DeviceState:
    """Rebuild a state from ``device_states`` and the device's open outage row
    (``outage`` = (started_at, confirmed_at, worst status))."""
    open_outage = None
    if outage is not None:
        started, confirmed, worst_status = outage
        current = data.get("outage_status")
        open_outage = OutageState(started, confirmed or started, worst_status,
                                  Status(current) if current else worst_status)
    checks = {k: track_from_data(v) for k, v in (data.get("checks") or {}).items()}
    changes = tuple(t for t in (_pdt(x) for x in data.get("changes", ())) if t is not None)
    return DeviceState(
        ref=ref, status=status, since=since, reason=reason,
        hint=Cause(data["hint"]) if data.get("hint") else None, checks=checks, changes=changes,
        flapping=flapping, outage=open_outage, last_at=_pdt(data.get("last_at")), stale=bool(data.get("stale", False)),
        metrics={k: dict(v) for k, v in metrics.items() if isinstance(v, Mapping)})
