"""Why an outage happened: pure inference from timestamped evidence.

:func:`infer` takes one outage (:class:`OutageFacts`), the evidence recorded at its site
(:class:`Evidence`: observations from polls and traps, monitor gaps), what the site looks like now
(:class:`SiteFacts`), the windows of ``settings.causes`` and ``now``. It returns a :class:`Verdict`:
the cause and the evidence that led to it, so a person can check it.

Rules, first match wins (``start`` = the outage's first failed check; ``settle`` = ``incident_window``,
because polls run in any order and the UPS may be polled a little after the server failed):

1. **lightning** — an SPD tripped or a strike counted (from a poll or a trap) anywhere at the site in
   ``[start - lightning_window, start + settle]``. Lightning outranks power: when both are present the
   strike caused the power loss, and the power evidence is listed with it.
2. **power** — the device's power source failed around ``start``: its ``powered_by`` UPS (the device
   itself when it is a UPS; every UPS of the site when it has none) reported on battery or low battery
   in ``[start - power_window, start + settle]``, or was still on battery at ``start`` (an on-battery
   episode with no on-mains since, however long ago it began — a battery can last an hour); or the UPS
   itself went down in that window; or the monitor's own host rebooted (a ``host_rebooted`` gap touching
   that window: the whole site lost power); or abnormal mains voltage, line-bad counts or transfers were
   seen in ``[start - power_window, start]`` (a surge can kill a server without the UPS going on battery).
3. **environment** — the server room itself: water or smoke detected, or the *room* overheating (a
   ``temperature_high`` observation from a room sensor, or one whose values say ``where: room`` — a UPS card's
   ambient probe), anywhere at the site in ``[start - power_window, start + settle]``. An overheating server
   room is how a second server dies. A UPS battery's own temperature is not the room's and does not count.
4. **maintenance** — the outage started inside a maintenance window (planned).
5. **network** — the device is unreachable: a ``depends_on`` parent is down or unreachable.
6. **upstream** — an ``upstream`` device (the central data center over the VPN) is down while its
   parents (the office router) answer: the fault and the action are central, not the office's.
7. **service** — the host answers (ping, another check) but its service or SNMP does not.
8. **hardware** — down (not degraded) for at least ``hardware_after`` with power normal and none of the
   above. Re-inferred while the outage stays open, so an outage can become ``hardware`` later.
9. **unknown** — nothing above applies (yet).

Incidents take the strongest cause among their outages (:func:`incident_cause`), in the order
lightning, power, environment, maintenance, upstream, hardware, service, network, unknown — ``network`` is ranked
low because it is a consequence (a parent is down), not a root.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.clock import utc
from monitor.domain import Cause, DeviceKind, MetricValue, ObservationKind, Status, format_duration, jsonable

_K = ObservationKind
LIGHTNING_KINDS = frozenset({_K.SPD_TRIPPED.value, _K.STRIKE.value})
ON_BATTERY_KINDS = frozenset({_K.ON_BATTERY.value, _K.LOW_BATTERY.value})
MAINS_KINDS = frozenset({_K.ON_MAINS.value})
VOLTAGE_KINDS = frozenset({_K.VOLTAGE_ABNORMAL.value, _K.LINE_BAD.value, _K.TRANSFER.value})
ENVIRONMENT_KINDS = frozenset({_K.WATER_LEAK.value, _K.SMOKE.value})
"""Room facts that explain a failure on their own; a high temperature does too when it is the room's (a room
sensor's, or a UPS card's ambient probe), not a UPS battery's own temperature."""
EPISODE_KINDS = ON_BATTERY_KINDS | MAINS_KINDS | {_K.SPD_TRIPPED.value, _K.SPD_OK.value}
"""Kinds whose onset may lie far before an outage and still matter (an on-battery episode)."""

CAUSE_RANK = (Cause.LIGHTNING, Cause.POWER, Cause.ENVIRONMENT, Cause.MAINTENANCE, Cause.UPSTREAM, Cause.HARDWARE,
              Cause.SERVICE, Cause.NETWORK, Cause.MONITOR_OFFLINE, Cause.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact a person can check: when, which device (config id; None = the site or the monitor),
    what kind, a short English text, where it came from, and the values."""

    time: datetime
    device: str | None
    kind: str
    text: str
    source: str = "poll"
    values: Mapping[str, MetricValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"time": jsonable(utc(self.time)), "device": self.device, "kind": self.kind, "text": self.text,
                "source": self.source, "values": jsonable(dict(self.values))}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Evidence:
        return cls(time=utc(datetime.fromisoformat(str(d["time"]).replace("Z", "+00:00"))), device=d.get("device"),
                   kind=str(d["kind"]), text=str(d.get("text", "")), source=str(d.get("source", "")),
                   values=dict(d.get("values") or {}))


@dataclass(frozen=True, slots=True)
class Gap:
    """A period the monitor was not running."""

    started_at: datetime
    ended_at: datetime
    reason: str                 # process_stopped | host_rebooted | clock_jump
    boot_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutageFacts:
    device: str
    kind: DeviceKind
    started_at: datetime
    status: Status              # the current non-up status (unknown while not monitored)
    worst: Status
    hint: Cause | None = None   # from the engine: service / network / upstream
    planned: bool = False
    powered_by: str | None = None
    parents: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class OtherOutage:
    """Another device's open (or recent) outage at the same site."""

    device: str
    started_at: datetime
    status: Status
    cause: Cause
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SiteFacts:
    statuses: Mapping[str, Status] = field(default_factory=dict)     # device id -> current status
    kinds: Mapping[str, DeviceKind] = field(default_factory=dict)
    outages: Mapping[str, OtherOutage] = field(default_factory=dict)  # device id -> its outage
    gaps: Sequence[Gap] = ()
    maintenance: Sequence[Evidence] = ()                              # the windows that make it planned


@dataclass(frozen=True, slots=True)
class Windows:
    """The windows of ``settings.causes``."""

    power: timedelta = timedelta(minutes=15)
    lightning: timedelta = timedelta(minutes=30)
    hardware_after: timedelta = timedelta(minutes=30)
    settle: timedelta = timedelta(minutes=10)

    @classmethod
    def from_settings(cls, causes: Any) -> Windows:
        return cls(power=causes.power_window, lightning=causes.lightning_window,
                   hardware_after=causes.hardware_after, settle=causes.incident_window)

    @property
    def lookback(self) -> timedelta:
        """How far before an outage's start evidence can matter (besides open episodes)."""
        return max(self.power, self.lightning)


@dataclass(frozen=True, slots=True)
class Verdict:
    cause: Cause
    evidence: tuple[Evidence, ...]
    summary: str

    def evidence_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.evidence]


def _in(e: Evidence, lo: datetime, hi: datetime) -> bool:
    return lo <= utc(e.time) <= hi


def _ups_of(outage: OutageFacts, site: SiteFacts) -> set[str]:
    """Devices whose power state is this device's power state."""
    if outage.kind is DeviceKind.UPS:
        return {outage.device}
    if outage.powered_by:
        return {outage.powered_by}
    return {d for d, k in site.kinds.items() if k is DeviceKind.UPS}


def _open_episodes(items: Sequence[Evidence], devices: set[str], on_kinds: frozenset[str],
                   off_kinds: frozenset[str], at: datetime) -> list[Evidence]:
    """Onsets of episodes (``on_kinds``) from ``devices`` still open at ``at`` (no ``off_kinds`` fact since)."""
    out: list[Evidence] = []
    for dev in sorted(devices):
        onset: Evidence | None = None
        for e in sorted((e for e in items if e.device == dev and utc(e.time) <= at), key=lambda e: e.time):
            if e.kind in on_kinds:
                onset = onset or e
            elif e.kind in off_kinds:
                onset = None
        if onset is not None:
            out.append(onset)
    return out


def _dedupe(items: Iterable[Evidence]) -> tuple[Evidence, ...]:
    seen: set[tuple[Any, ...]] = set()
    out: list[Evidence] = []
    for e in sorted(items, key=lambda e: (utc(e.time), e.device or "", e.kind)):
        key = (utc(e.time), e.device, e.kind, e.text)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return tuple(out)


def power_evidence(outage: OutageFacts, evidence: Sequence[Evidence], site: SiteFacts,
                   w: Windows) -> list[Evidence]:
    """Rule 2's facts (empty when power looks normal)."""
    start = utc(outage.started_at)
    lo, hi = start - w.power, start + w.settle
    ups = _ups_of(outage, site)
    found = [e for e in evidence if e.device in ups and e.kind in ON_BATTERY_KINDS and _in(e, lo, hi)]
    found += _open_episodes(evidence, ups, ON_BATTERY_KINDS, MAINS_KINDS, start)
    for dev in ups:
        other = site.outages.get(dev)
        if dev != outage.device and other is not None and other.status is Status.DOWN and lo <= other.started_at <= hi:
            found.append(Evidence(other.started_at, dev, "outage", f"UPS {dev} down since "
                                  f"{utc(other.started_at):%H:%M:%S}Z", "engine", {"status": other.status.value}))
    for gap in site.gaps:
        if gap.reason == "host_rebooted" and gap.started_at <= hi and gap.ended_at >= lo:
            values: dict[str, MetricValue] = {"gap_s": round((gap.ended_at - gap.started_at).total_seconds(), 3)}
            if gap.boot_time is not None:
                values["boot_time"] = jsonable(utc(gap.boot_time))
            found.append(Evidence(gap.started_at, None, "monitor_gap",
                                  "the monitor's host lost power and rebooted (probable site power loss)",
                                  "selfwatch", values))
    # abnormal mains (over/under voltage, line-bad counts, transfers) just before the failure is power
    # evidence on its own: a surge can kill a server without the UPS ever going on battery
    found += [e for e in evidence if e.kind in VOLTAGE_KINDS and (e.device in ups or e.device is None)
              and _in(e, lo, start)]
    if not found:
        return []
    reboots = [e for e in evidence if e.device == outage.device and e.kind == _K.REBOOT.value and _in(e, lo, hi)]
    return [*found, *reboots]


def environment_evidence(outage: OutageFacts, evidence: Sequence[Evidence], site: SiteFacts,
                         w: Windows) -> list[Evidence]:
    """Rule 3's facts: water, smoke or the room overheating at the site around the failure."""
    start = utc(outage.started_at)
    lo, hi = start - w.power, start + w.settle
    out = []
    for e in evidence:
        if not _in(e, lo, hi):
            continue
        if e.kind in ENVIRONMENT_KINDS or (e.kind == _K.TEMPERATURE_HIGH.value and (
                e.values.get("where") == "room" or site.kinds.get(e.device or "") is DeviceKind.ROOM_SENSOR)):
            out.append(e)
    return out


def infer(outage: OutageFacts, evidence: Sequence[Evidence], site: SiteFacts, w: Windows,
          now: datetime) -> Verdict:
    """The cause of ``outage`` with its evidence (rules 1–9 of the module docstring)."""
    start = utc(outage.started_at)
    lightning = [e for e in evidence if e.kind in LIGHTNING_KINDS and _in(e, start - w.lightning, start + w.settle)]
    power = power_evidence(outage, evidence, site, w)
    if lightning:
        strikes = sum(1 for e in lightning if e.kind == _K.STRIKE.value)
        tripped = sum(1 for e in lightning if e.kind == _K.SPD_TRIPPED.value)
        what = ", ".join(p for p in (f"{strikes} strike(s) counted" if strikes else "",
                                     f"SPD tripped ({tripped})" if tripped else "") if p)
        return Verdict(Cause.LIGHTNING, _dedupe([*lightning, *power]),
                       f"lightning: {what} within {format_duration(w.lightning)} of the failure"
                       + ("; the power failed with it" if power else ""))
    if power:
        found = _dedupe(power)
        texts = list(dict.fromkeys(f"{e.device + ' ' if e.device else ''}{e.text}" for e in found))
        return Verdict(Cause.POWER, found, "power: " + "; ".join(texts[:3]))
    room = environment_evidence(outage, evidence, site, w)
    if room:
        found = _dedupe(room)
        texts = list(dict.fromkeys(f"{e.device + ' ' if e.device else ''}{e.text}" for e in found))
        return Verdict(Cause.ENVIRONMENT, found, "environment: " + "; ".join(texts[:3]))
    if outage.planned:
        return Verdict(Cause.MAINTENANCE, _dedupe(site.maintenance), "planned maintenance")
    if outage.status is Status.UNREACHABLE or outage.hint is Cause.NETWORK:
        items: list[Evidence] = []
        for p in outage.parents:
            po = site.outages.get(p)
            st = site.statuses.get(p, Status.UNKNOWN)
            if po is not None:
                items.append(Evidence(po.started_at, p, "outage", f"{p} {po.status.value} since "
                                      f"{utc(po.started_at):%H:%M:%S}Z (cause {po.cause.value})", "engine",
                                      {"status": po.status.value, "cause": po.cause.value}))
            elif st.is_failure:
                items.append(Evidence(start, p, "status", f"{p} is {st.value}", "engine", {"status": st.value}))
        return Verdict(Cause.NETWORK, _dedupe(items), "network: " + (", ".join(
            f"{e.device} {e.values.get('status')}" for e in items) or "a parent is not reachable"))
    if outage.hint is Cause.UPSTREAM or (outage.kind is DeviceKind.UPSTREAM and outage.worst is Status.DOWN):
        local = [d for d, k in site.kinds.items() if k is not DeviceKind.UPSTREAM and d != outage.device]
        up = [d for d in local if site.statuses.get(d) in (Status.UP, Status.DEGRADED)]
        items = [Evidence(start, outage.device, "status", outage.reason or "central link down", "engine",
                          {"status": outage.status.value})]
        items += [Evidence(start, p, "status", f"{p} answers", "engine",
                           {"status": site.statuses.get(p, Status.UNKNOWN).value}) for p in outage.parents]
        return Verdict(Cause.UPSTREAM, tuple(items),
                       f"upstream: the central link is down while {len(up)} of {len(local)} local devices answer")
    if outage.hint is Cause.SERVICE:
        return Verdict(Cause.SERVICE, (Evidence(start, outage.device, "status", outage.reason or "service down",
                                                "engine", {"status": outage.status.value}),),
                       "service: the host answers but its service does not")
    down_for = utc(now) - start
    if outage.worst is Status.DOWN and outage.status is not Status.DEGRADED and down_for >= w.hardware_after:
        ups = sorted(_ups_of(outage, site) - {outage.device})
        items = [Evidence(start, outage.device, "status",
                          f"down for {format_duration(down_for)} with power normal and no other evidence",
                          "engine", {"down_s": round(down_for.total_seconds())})]
        items += [Evidence(utc(now), u, "status", f"{u} is {site.statuses.get(u, Status.UNKNOWN).value}", "engine",
                           {"status": site.statuses.get(u, Status.UNKNOWN).value}) for u in ups if u in site.statuses]
        return Verdict(Cause.HARDWARE, tuple(items),
                       f"hardware: down for {format_duration(down_for)} with power normal")
    return Verdict(Cause.UNKNOWN, (), "unknown: no evidence yet")


def incident_cause(causes: Iterable[Cause]) -> Cause:
    """The strongest of an incident's outage causes (order in the module docstring)."""
    present = set(causes)
    for c in CAUSE_RANK:
        if c in present:
            return c
    return Cause.UNKNOWN
