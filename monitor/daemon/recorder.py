"""Writing what the engine decided: one transaction per batch.

:meth:`Recorder.apply` takes a :class:`Batch` — the check results of a round (or a trap), the
observations that are new, the engine's events and the devices' new states — and writes, inside the
caller's single transaction:

* the raw check samples (one executemany);
* evidence rows for new observations, and ``observation`` events for the notable ones;
* outages: opened (cause inferred, planned when inside maintenance, joined to an incident), changed
  (status, cause re-inferred), closed (final cause); and their incidents;
* an ``events`` row for everything the alerting side must know (``monitor/events.py``);
* the devices' persisted states (``device_states``), so a restart continues where it stopped.

Either all of it is committed or none: an outage row and its ``outage_opened`` event never exist
without each other, so a crash can neither lose an alert nor send one twice.

:meth:`Recorder.sweep` re-infers the causes of open outages as time passes (``hardware`` after its
threshold) and ends ``planned`` when the maintenance window is over and the device is still down.
:func:`rollup_samples` and :func:`prune_samples` keep the raw samples bounded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from monitor.clock import utc
from monitor.daemon.facts import Facts, flat_metrics
from monitor.domain import (
    Cause,
    CheckResult,
    DeviceKind,
    DeviceRef,
    MetricValue,
    Observation,
    ObservationKind,
    Status,
    jsonable,
    worst,
)
from monitor.engine.causes import (
    EPISODE_KINDS,
    Evidence,
    Gap,
    OtherOutage,
    OutageFacts,
    SiteFacts,
    Verdict,
    Windows,
    incident_cause,
)
from monitor.engine.causes import infer as infer_cause
from monitor.engine.maintenance import Calendar, Window
from monitor.engine.state import (
    DeviceState,
    EngineEvent,
    FlappingStarted,
    FlappingStopped,
    OutageChanged,
    OutageClosed,
    OutageOpened,
    StatusChanged,
    World,
    state_to_data,
)
from monitor.events import EventKind
from monitor.storage.models import (
    CheckSample,
    DeviceRow,
    DeviceStateRow,
    EventRow,
    EvidenceRow,
    IncidentRow,
    KeyValueRow,
    MaintenanceRow,
    MonitorGapRow,
    OutageRow,
    SampleRollup,
)

log = logging.getLogger(__name__)

_K = ObservationKind
NOTABLE_KINDS = frozenset({_K.VOLTAGE_ABNORMAL, _K.LINE_BAD, _K.TRANSFER, _K.STRIKE, _K.SPD_TRIPPED, _K.REBOOT,
                           _K.REPLACE_BATTERY})
"""Facts worth an ``observation`` event (a message) on their own, whatever their source."""
NOTABLE_TRAP_KINDS = NOTABLE_KINDS | {_K.ON_BATTERY, _K.LOW_BATTERY, _K.ON_MAINS, _K.SPD_OK}
"""From a trap also these: a UPS saying it is on battery is news before the next poll confirms it."""
EVIDENCE_LIMIT = 50
"""At most this many evidence items are kept on one incident row (outages keep theirs in full)."""


@dataclass(frozen=True, slots=True)
class NewObservation:
    """An observation worth recording (already deduplicated by the caller)."""

    ref: DeviceRef
    observation: Observation
    notable: bool


@dataclass(slots=True)
class Batch:
    """What one round (or one trap) changed. Built by the pipeline, written by :meth:`Recorder.apply`."""

    now: datetime
    world: World
    samples: list[tuple[DeviceRef, CheckResult]] = field(default_factory=list)
    observations: list[NewObservation] = field(default_factory=list)
    events: list[EngineEvent] = field(default_factory=list)
    states: dict[DeviceRef, DeviceState] = field(default_factory=dict)


def _s(value: datetime | None) -> str | None:
    return None if value is None else str(jsonable(utc(value)))


def gap_seconds(gaps: Iterable[Mapping[str, Any]]) -> float:
    return round(sum(float(g.get("duration_s", 0.0)) for g in gaps), 3)


class Recorder:
    """Turns engine decisions into rows. Holds only configuration-derived lookups; all state it
    needs besides the batch is read from the session it is given."""

    def __init__(self, settings: Any, device_ids: Mapping[DeviceRef, int]) -> None:
        self.settings = settings
        self.ids = dict(device_ids)
        self.refs = {v: k for k, v in self.ids.items()}
        self.windows = Windows.from_settings(settings.causes)
        self.calendar = Calendar(settings)
        self.devices = {DeviceRef(s.id, d.id): d for s, d in settings.iter_devices()}
        self.facts = Facts(self.devices, self.ids)

    # ------------------------------------------------------------------------------ lookups

    def _ref(self, session: Session, device_id: int) -> DeviceRef:
        ref = self.refs.get(device_id)
        if ref is None:
            row = session.get(DeviceRow, device_id)
            assert row is not None
            ref = DeviceRef(row.site_id, row.key)
            self.refs[device_id] = ref
        return ref

    def _device_id(self, session: Session, ref: DeviceRef) -> int | None:
        """devices.id of ``ref``, also for a device no longer in the config (its history stays)."""
        dev_id = self.ids.get(ref)
        if dev_id is None:
            dev_id = session.scalars(select(DeviceRow.id).where(DeviceRow.site_id == ref.site,
                                                                DeviceRow.key == ref.device)).first()
            if dev_id is not None:
                self.refs[dev_id] = ref
        return dev_id

    def _device_payload(self, session: Session, ref: DeviceRef) -> dict[str, Any]:
        dev = self.devices.get(ref)
        if dev is not None:
            return {"site": ref.site, "device": ref.device, "device_name": dev.name, "kind": dev.kind.value}
        row = session.scalars(select(DeviceRow).where(DeviceRow.site_id == ref.site,
                                                      DeviceRow.key == ref.device)).first()
        return {"site": ref.site, "device": ref.device, "device_name": row.name if row else ref.device,
                "kind": row.kind if row else None}

    def _event(self, session: Session, kind: EventKind, now: datetime, payload: dict[str, Any], *,
               ref: DeviceRef | None = None, site: str | None = None, outage_id: int | None = None,
               incident_id: int | None = None) -> EventRow:
        row = EventRow(time=now, kind=kind.value, site_id=ref.site if ref else site,
                       device_id=self._device_id(session, ref) if ref else None, outage_id=outage_id,
                       incident_id=incident_id, payload=jsonable(payload))
        session.add(row)
        return row

    def _open_outage(self, session: Session, ref: DeviceRef) -> OutageRow | None:
        dev_id = self._device_id(session, ref)
        if dev_id is None:
            return None
        return session.scalars(select(OutageRow).where(OutageRow.device_id == dev_id,
                                                       OutageRow.ended_at.is_(None))).first()

    def _adhoc(self, session: Session, site: str, lo: datetime, hi: datetime) -> list[Window]:
        rows = session.scalars(select(MaintenanceRow).where(
            MaintenanceRow.site_id == site, MaintenanceRow.kind == "maintenance",
            MaintenanceRow.cancelled_at.is_(None), MaintenanceRow.starts_at <= hi, MaintenanceRow.ends_at > lo))
        out = []
        for r in rows:
            devices = frozenset({self._ref(session, r.device_id).device}) if r.device_id is not None else frozenset()
            out.append(Window(site, devices, r.starts_at, r.ends_at, r.reason, f"adhoc:{r.id}"))
        return out

    def planned_window(self, session: Session, ref: DeviceRef, t: datetime) -> Window | None:
        return self.calendar.planned(ref.site, ref.device, t, self._adhoc(session, ref.site, t, t))

    # ------------------------------------------------------------------------------ causes

    def _evidence(self, session: Session, site: str, start: datetime, now: datetime) -> list[Evidence]:
        w = self.windows
        hi = min(start + w.settle, max(now, start))
        lo = start - w.lookback
        episode_lo = start - timedelta(days=1)
        rows = session.scalars(select(EvidenceRow).where(
            EvidenceRow.site_id == site, EvidenceRow.time <= hi,
            or_(EvidenceRow.time >= lo, (EvidenceRow.time >= episode_lo) & EvidenceRow.kind.in_(EPISODE_KINDS)),
        ).order_by(EvidenceRow.time, EvidenceRow.id))
        return [Evidence(r.time, self._ref(session, r.device_id).device if r.device_id is not None else None,
                         r.kind, r.text, r.source, dict(r.values or {})) for r in rows]

    def _site_facts(self, session: Session, site: str, start: datetime, world: World,
                    planned: Window | None, exclude: DeviceRef | None) -> SiteFacts:
        statuses: dict[str, Status] = {}
        kinds: dict[str, DeviceKind] = {}
        for ref, dev in self.devices.items():
            if ref.site == site:
                statuses[ref.device] = world.get(ref).shown_status
                kinds[ref.device] = dev.kind
        site_ids = [i for r, i in self.ids.items() if r.site == site]
        outages: dict[str, OtherOutage] = {}
        if site_ids:
            for o in session.scalars(select(OutageRow).where(
                    OutageRow.device_id.in_(site_ids),
                    or_(OutageRow.ended_at.is_(None), OutageRow.ended_at >= start - self.windows.lookback))):
                ref = self._ref(session, o.device_id)
                if ref == exclude:
                    continue
                prev = outages.get(ref.device)
                if prev is None or prev.ended_at is not None:
                    outages[ref.device] = OtherOutage(ref.device, o.started_at, Status(o.status), Cause(o.cause),
                                                      o.ended_at)
        gap_rows = session.scalars(select(MonitorGapRow).where(
            MonitorGapRow.started_at <= start + self.windows.settle,
            MonitorGapRow.ended_at >= start - self.windows.lookback))
        gaps = [Gap(g.started_at, g.ended_at, g.reason, g.boot_time) for g in gap_rows]
        maint = []
        if planned is not None:
            maint.append(Evidence(planned.starts_at, None, "maintenance", planned.reason, planned.source,
                                  {"ends_at": _s(planned.ends_at) or ""}))
        return SiteFacts(statuses=statuses, kinds=kinds, outages=outages, gaps=gaps, maintenance=maint)

    def infer(self, session: Session, ref: DeviceRef, row: OutageRow, world: World, now: datetime,
              hint: Cause | None = None) -> Verdict:
        """Re-infer the cause of the outage ``row`` of ``ref`` from what the database holds now."""
        dev = self.devices.get(ref)
        state = world.get(ref)
        planned = self.planned_window(session, ref, row.started_at) if row.planned else None
        facts = OutageFacts(
            device=ref.device, kind=dev.kind if dev else DeviceKind(self._device_payload(session, ref)["kind"]),
            started_at=row.started_at,
            status=(state.outage.status if state.outage is not None else Status(row.status)),
            worst=Status(row.status), hint=hint if hint is not None else state.hint, planned=row.planned,
            powered_by=dev.powered_by if dev else None, parents=tuple(dev.depends_on) if dev else (),
            reason=row.reason)
        site = self._site_facts(session, ref.site, row.started_at, world, planned, exclude=ref)
        return infer_cause(facts, self._evidence(session, ref.site, row.started_at, now), site, self.windows, now)

    # ------------------------------------------------------------------------------ incidents

    def _incident_devices(self, session: Session, incident_id: int) -> list[str]:
        rows = session.scalars(select(OutageRow.device_id).where(OutageRow.incident_id == incident_id)
                               .order_by(OutageRow.started_at, OutageRow.id))
        return list(dict.fromkeys(self._ref(session, d).device for d in rows))

    def _join_incident(self, session: Session, ref: DeviceRef, outage: OutageRow, now: datetime,
                       verdict: Verdict, flapping: bool = False) -> IncidentRow:
        window = self.settings.causes.incident_window
        candidates = list(session.scalars(select(IncidentRow).where(IncidentRow.site_id == ref.site,
                                                                     IncidentRow.ended_at.is_(None))))
        parents = {DeviceRef(ref.site, p) for p in (self.devices[ref].depends_on if ref in self.devices else ())}
        best: IncidentRow | None = None
        for inc in candidates:
            close = abs(inc.started_at - outage.started_at) <= window
            parent_in = any(self.ids.get(p) in {o.device_id for o in session.scalars(
                select(OutageRow).where(OutageRow.incident_id == inc.id, OutageRow.ended_at.is_(None)))}
                for p in parents)
            if (close or parent_in) and (best is None or abs(inc.started_at - outage.started_at)
                                         < abs(best.started_at - outage.started_at)):
                best = inc
        if best is None:
            inc = IncidentRow(site_id=ref.site, started_at=outage.started_at, ended_at=None, cause=verdict.cause.value,
                              worst_status=outage.status, planned=outage.planned,
                              title=f"{self._device_payload(session, ref)['device_name']}: {outage.status}",
                              evidence=verdict.evidence_json()[:EVIDENCE_LIMIT], updated_at=now)
            session.add(inc)
            session.flush()
            outage.incident_id = inc.id
            session.flush()
            self._event(session, EventKind.INCIDENT_OPENED, now,
                        {"site": ref.site, "incident_id": inc.id, "cause": inc.cause, "started_at": _s(inc.started_at),
                         "devices": [ref.device], "planned": inc.planned, "status": inc.worst_status,
                         "title": inc.title, "flapping": flapping}, site=ref.site, incident_id=inc.id)
            return inc
        outage.incident_id = best.id
        session.flush()
        self._refresh_incident(session, best, now, joined=ref.device, flapping=flapping)
        return best

    def _refresh_incident(self, session: Session, inc: IncidentRow, now: datetime, joined: str | None = None,
                          flapping: bool = False) -> None:
        """Recompute an incident from its outages; write incident_changed/closed when it changed."""
        outages = list(session.scalars(select(OutageRow).where(OutageRow.incident_id == inc.id)))
        if not outages:
            return
        previous_cause = inc.cause
        inc.cause = incident_cause(Cause(o.cause) for o in outages).value
        inc.worst_status = worst(*(Status(o.status) for o in outages)).value
        inc.started_at = min(o.started_at for o in outages)
        inc.planned = all(o.planned for o in outages)
        evidence: list[Any] = []
        for o in sorted(outages, key=lambda o: o.started_at):
            if o.cause == inc.cause:
                evidence.extend(e for e in (o.evidence or []) if e not in evidence)
        inc.evidence = evidence[:EVIDENCE_LIMIT]
        inc.updated_at = now
        devices = self._incident_devices(session, inc.id)
        still_open = [o for o in outages if o.ended_at is None]
        if not still_open:
            ends = [o.ended_at for o in outages if o.ended_at is not None]
            inc.ended_at = max(ends) if ends else now
            self._event(session, EventKind.INCIDENT_CLOSED, now,
                        {"site": inc.site_id, "incident_id": inc.id, "cause": inc.cause,
                         "started_at": _s(inc.started_at), "ended_at": _s(inc.ended_at),
                         "duration_s": round((inc.ended_at - inc.started_at).total_seconds(), 3),
                         "devices": devices, "status": inc.worst_status, "planned": inc.planned,
                         "flapping": flapping}, site=inc.site_id, incident_id=inc.id)
        elif joined is not None or previous_cause != inc.cause:
            self._event(session, EventKind.INCIDENT_CHANGED, now,
                        {"site": inc.site_id, "incident_id": inc.id, "cause": inc.cause,
                         "previous_cause": previous_cause, "devices": devices, "joined": joined,
                         "status": inc.worst_status, "planned": inc.planned, "flapping": flapping,
                         "open_devices": [self._ref(session, o.device_id).device for o in still_open]},
                        site=inc.site_id, incident_id=inc.id)

    # ------------------------------------------------------------------------------ outages

    def _outage_payload(self, session: Session, ref: DeviceRef, row: OutageRow, world: World,
                        verdict: Verdict | None = None) -> dict[str, Any]:
        state = world.get(ref)
        p = self._device_payload(session, ref)
        p.update({"outage_id": row.id, "started_at": _s(row.started_at), "confirmed_at": _s(row.confirmed_at),
                  "status": state.outage.status.value if state.outage else row.status, "worst_status": row.status,
                  "reason": row.reason, "cause": row.cause, "evidence": list(row.evidence or []),
                  "planned": row.planned, "incident_id": row.incident_id, "flapping": state.flapping,
                  "gaps": list(row.gaps or []), "gap_s": gap_seconds(row.gaps or [])})
        if verdict is not None:
            p["cause_summary"] = verdict.summary
        dev = self.devices.get(ref)
        if dev is not None and dev.powered_by:
            ups = DeviceRef(ref.site, dev.powered_by)
            us = world.get(ups)
            p["ups"] = {"device": ups.device, "status": us.shown_status.value, "metrics": flat_metrics(us)}
        return p

    def _opened(self, session: Session, e: OutageOpened, world: World, now: datetime) -> None:
        existing = self._open_outage(session, e.ref)
        if existing is not None:
            # the database already holds this device's open outage (a restart that lost engine state):
            # continue it, never a second row or a second "opened" event
            log.warning("%s: outage already open since %s; continuing it", e.ref, existing.started_at)
            return
        window = self.planned_window(session, e.ref, e.started_at)
        row = OutageRow(device_id=self.ids[e.ref], started_at=e.started_at, confirmed_at=e.confirmed_at,
                        ended_at=None, status=e.status.value, cause=Cause.UNKNOWN.value, planned=window is not None,
                        reason=e.reason, evidence=[], gaps=[], updated_at=now,
                        timeline=[{"at": _s(e.started_at), "status": e.status.value}])
        session.add(row)
        session.flush()
        verdict = self.infer(session, e.ref, row, world, now, hint=e.hint)
        row.cause, row.evidence = verdict.cause.value, verdict.evidence_json()
        inc = self._join_incident(session, e.ref, row, now, verdict, flapping=e.flapping)
        payload = self._outage_payload(session, e.ref, row, world, verdict)
        payload["metrics"] = flat_metrics(world.get(e.ref))
        payload["flapping"] = e.flapping
        if window is not None:
            payload["maintenance"] = {"reason": window.reason, "source": window.source,
                                      "starts_at": _s(window.starts_at), "ends_at": _s(window.ends_at)}
        gap = session.scalars(select(MonitorGapRow).where(
            MonitorGapRow.ended_at <= e.started_at, MonitorGapRow.ended_at >= e.started_at - self.windows.settle)
            .order_by(MonitorGapRow.ended_at.desc())).first()
        if gap is not None and not self._seen_since(session, e.ref, gap.ended_at, e.started_at):
            # found failing at its first check after the monitor was off: it may have begun during the gap
            payload["after_gap"] = {"started_at": _s(gap.started_at), "ended_at": _s(gap.ended_at),
                                    "reason": gap.reason}
        self._event(session, EventKind.OUTAGE_OPENED, now, payload, ref=e.ref, outage_id=row.id, incident_id=inc.id)

    def _seen_since(self, session: Session, ref: DeviceRef, after: datetime, before: datetime) -> bool:
        """Whether ``ref`` had a good result between ``after`` and ``before`` (raw samples)."""
        dev_id = self._device_id(session, ref)
        return session.scalars(select(CheckSample.id).where(
            CheckSample.device_id == dev_id, CheckSample.time >= after, CheckSample.time < before,
            CheckSample.status == Status.UP.value).limit(1)).first() is not None

    def _changed(self, session: Session, e: OutageChanged, world: World, now: datetime) -> None:
        row = self._open_outage(session, e.ref)
        if row is None:
            log.warning("%s: outage change without an open outage; ignored", e.ref)
            return
        previous_cause = row.cause
        row.status = e.worst.value
        if e.reclassified:  # the whole outage was the network's: one stretch, as it is now
            row.timeline = [{"at": _s(row.started_at), "status": e.status.value}]
        else:  # a new list, so the JSON column is seen as changed
            at = max(e.changed_at or e.at, row.started_at)
            row.timeline = [*(row.timeline or []), {"at": _s(at), "status": e.status.value}]
        row.reason = e.reason or row.reason
        row.updated_at = now
        verdict = self.infer(session, e.ref, row, world, now, hint=e.hint)
        row.cause, row.evidence = verdict.cause.value, verdict.evidence_json()
        payload = self._outage_payload(session, e.ref, row, world, verdict)
        payload.update({"status": e.status.value, "previous_status": e.previous_status.value,
                        "previous_cause": previous_cause, "reclassified": e.reclassified, "flapping": e.flapping,
                        "change": "status"})
        self._event(session, EventKind.OUTAGE_CHANGED, now, payload, ref=e.ref, outage_id=row.id,
                    incident_id=row.incident_id)
        if row.incident_id is not None:
            inc = session.get(IncidentRow, row.incident_id)
            if inc is not None:
                self._refresh_incident(session, inc, now, flapping=e.flapping)

    def _closed(self, session: Session, e: OutageClosed, world: World, now: datetime) -> None:
        row = self._open_outage(session, e.ref)
        if row is None:
            log.warning("%s: outage close without an open outage; ignored", e.ref)
            return
        row.ended_at = max(e.ended_at, row.started_at)
        row.status = worst(Status(row.status), e.worst).value
        row.updated_at = now
        if e.removed:
            row.reason = (row.reason or "") + " [monitoring ended: device removed from the configuration]"
        # the engine's hint (service: the host answered but its service did not) ends with the failure;
        # the closed outage keeps it, so a recovered service outage is not re-judged "unknown"
        hint = Cause(row.cause) if row.cause in (Cause.SERVICE.value, Cause.UPSTREAM.value) else None
        verdict = self.infer(session, e.ref, row, world, row.ended_at, hint=hint)
        row.cause, row.evidence = verdict.cause.value, verdict.evidence_json()
        payload = self._outage_payload(session, e.ref, row, world, verdict)
        payload.update({"ended_at": _s(row.ended_at), "status": row.status,
                        "duration_s": round((row.ended_at - row.started_at).total_seconds(), 3),
                        "flapping": e.flapping, "removed": e.removed})
        self._event(session, EventKind.OUTAGE_CLOSED, now, payload, ref=e.ref, outage_id=row.id,
                    incident_id=row.incident_id)
        if row.incident_id is not None:
            inc = session.get(IncidentRow, row.incident_id)
            if inc is not None:
                self._refresh_incident(session, inc, now, flapping=e.flapping)

    def _reinfer_site(self, session: Session, site: str, world: World, now: datetime,
                      skip: set[DeviceRef]) -> None:
        """Re-infer every other open outage at ``site`` (new evidence may change their cause)."""
        site_ids = [i for r, i in self.ids.items() if r.site == site]
        if not site_ids:
            return
        for row in list(session.scalars(select(OutageRow).where(OutageRow.device_id.in_(site_ids),
                                                                OutageRow.ended_at.is_(None)))):
            ref = self._ref(session, row.device_id)
            if ref in skip:
                continue
            self._update_cause(session, ref, row, world, now)

    def _update_cause(self, session: Session, ref: DeviceRef, row: OutageRow, world: World, now: datetime,
                      change: str = "cause") -> bool:
        previous = row.cause
        verdict = self.infer(session, ref, row, world, now)
        evidence = verdict.evidence_json()
        if verdict.cause.value == previous and evidence == list(row.evidence or []) and change == "cause":
            return False
        row.cause, row.evidence, row.updated_at = verdict.cause.value, evidence, now
        if verdict.cause.value == previous and change == "cause":
            return False  # more evidence for the same cause: kept on the row, no message
        payload = self._outage_payload(session, ref, row, world, verdict)
        payload.update({"previous_status": payload["status"], "previous_cause": previous, "change": change})
        self._event(session, EventKind.OUTAGE_CHANGED, now, payload, ref=ref, outage_id=row.id,
                    incident_id=row.incident_id)
        if row.incident_id is not None:
            inc = session.get(IncidentRow, row.incident_id)
            if inc is not None:
                self._refresh_incident(session, inc, now)
        return True

    # ------------------------------------------------------------------------------ the batch

    def apply(self, session: Session, batch: Batch) -> None:
        """Write ``batch`` into the caller's transaction (see the module docstring)."""
        now = batch.now
        self._samples(session, batch.samples)
        touched_sites: set[str] = set()
        for n in [*batch.observations, *self.facts.mains_from_polls(session, batch)]:
            self._observation(session, n, now, batch.world)
            touched_sites.add(n.ref.site)
        handled: set[DeviceRef] = set()
        for e in batch.events:
            if isinstance(e, OutageOpened):
                self._opened(session, e, batch.world, now)
            elif isinstance(e, OutageChanged):
                self._changed(session, e, batch.world, now)
            elif isinstance(e, OutageClosed):
                self._closed(session, e, batch.world, now)
            elif isinstance(e, FlappingStarted):
                self._event(session, EventKind.FLAPPING_STARTED, now,
                            {**self._device_payload(session, e.ref), "changes": e.changes,
                             "window_s": e.window.total_seconds(), "status": e.status.value}, ref=e.ref)
            elif isinstance(e, FlappingStopped):
                self._event(session, EventKind.FLAPPING_STOPPED, now,
                            {**self._device_payload(session, e.ref), "status": e.status.value}, ref=e.ref)
            if not isinstance(e, StatusChanged):
                handled.add(e.ref)
                touched_sites.add(e.ref.site)
        session.flush()
        for site in sorted(touched_sites):
            self._reinfer_site(session, site, batch.world, now, handled)
        self.save_states(session, batch.states.values(), now)

    def _samples(self, session: Session, samples: Sequence[tuple[DeviceRef, CheckResult]]) -> None:
        rows = [{"device_id": self.ids[ref], "check": r.check, "time": utc(r.time), "status": r.status.value,
                 "reason": r.reason, "reason_code": r.reason_code.value if r.reason_code else None,
                 "duration_ms": round(r.duration_s * 1000.0, 3), "metrics": jsonable(dict(r.metrics))}
                for ref, r in samples if ref in self.ids]
        if rows:
            session.execute(insert(CheckSample), rows)

    def _observation(self, session: Session, n: NewObservation, now: datetime, world: World | None = None) -> None:
        o: Observation | None = n.observation
        if o is not None and o.kind is _K.ON_MAINS and world is not None:
            o = self.facts.power_back(n.ref, o, world)
        if o is None:
            return
        dev_id = self.ids.get(n.ref)
        if self.facts.merged(session, dev_id, o):   # one physical event: one fact, with both sources
            return
        session.add(EvidenceRow(site_id=n.ref.site, device_id=dev_id, time=utc(o.time),
                                kind=o.kind.value, source=o.source, text=o.text, values=jsonable(dict(o.values))))
        session.flush()
        if n.notable:
            self._event(session, EventKind.OBSERVATION, now,
                        {**self._device_payload(session, n.ref), "kind": o.kind.value, "observation": o.kind.value,
                         "text": o.text, "values": jsonable(dict(o.values)), "source": o.source,
                         "time": _s(o.time)}, ref=n.ref)

    def save_states(self, session: Session, states: Iterable[DeviceState], now: datetime) -> None:
        """Upsert ``device_states`` for ``states`` (bulk: one executemany for updates, one for inserts)."""
        rows: dict[int, dict[str, Any]] = {}
        for s in states:
            dev_id = self.ids.get(s.ref)
            if dev_id is None:
                continue
            data = state_to_data(s)
            data["engine_status"] = s.status.value
            rows[dev_id] = {
                "device_id": dev_id, "status": s.shown_status.value, "since": s.since or now,
                "flapping": s.flapping,
                "reason": "not monitored since the monitor restarted" if s.stale else s.reason,
                "last_check_at": s.last_at, "metrics": jsonable({k: dict(v) for k, v in s.metrics.items()}),
                "data": data, "updated_at": now}
        if not rows:
            return
        session.flush()
        existing: set[int] = set()
        ids = sorted(rows)
        for i in range(0, len(ids), 500):
            existing.update(session.scalars(select(DeviceStateRow.device_id)
                                            .where(DeviceStateRow.device_id.in_(ids[i:i + 500]))))
        updates = [rows[i] for i in ids if i in existing]
        inserts = [rows[i] for i in ids if i not in existing]
        if updates:
            session.execute(update(DeviceStateRow), updates)
        if inserts:
            session.execute(insert(DeviceStateRow), inserts)
        session.expire_all()  # rows changed behind the identity map's back

    # ------------------------------------------------------------------------------ time passing

    def sweep(self, session: Session, world: World, now: datetime) -> int:
        """Re-infer open outages as time passes; end ``planned`` after the window. Returns changes written."""
        changed = 0
        for row in list(session.scalars(select(OutageRow).where(OutageRow.ended_at.is_(None)))):
            ref = self._ref(session, row.device_id)
            if ref not in self.ids:
                continue
            adhoc = self._adhoc(session, ref.site, now, now) if row.planned else []
            if row.planned and self.calendar.planned(ref.site, ref.device, now, adhoc) is None:
                row.planned = False
                row.reason = (row.reason or "") + " [still down after the maintenance window ended]"
                changed += self._update_cause(session, ref, row, world, now, change="planned")
                continue
            changed += self._update_cause(session, ref, row, world, now)
        return changed

    def add_gap(self, session: Session, gap: Gap, world: World, now: datetime) -> list[int]:
        """Record a monitor gap inside every outage that was open across it; returns their ids."""
        ids = []
        for row in session.scalars(select(OutageRow).where(OutageRow.ended_at.is_(None),
                                                           OutageRow.started_at <= gap.ended_at)):
            entry = {"started_at": _s(gap.started_at), "ended_at": _s(gap.ended_at), "reason": gap.reason,
                     "duration_s": round((gap.ended_at - max(gap.started_at, row.started_at)).total_seconds(), 3)}
            row.gaps = [*(row.gaps or []), entry]
            row.updated_at = now
            ids.append(row.id)
        return ids


# ---------------------------------------------------------------------------------- samples


ROLLUP_KEY = "samples.rolled_up_until"


def _hour(t: datetime) -> datetime:
    return utc(t).replace(minute=0, second=0, microsecond=0)


def rollup_samples(session: Session, now: datetime, *, settle: timedelta = timedelta(minutes=5),
                   max_hours: int = 48) -> int:
    """Summarise raw samples per (device, check, hour) for complete hours; returns hours rolled up.

    An hour is complete ``settle`` after it ends (a result carries its tick time and may be written a
    little later). Progress is kept in ``kv`` so each hour is rolled up once.
    """
    kv = session.get(KeyValueRow, ROLLUP_KEY)
    end = _hour(now - settle)
    if kv is not None and kv.value.get("until"):
        start = utc(datetime.fromisoformat(kv.value["until"]))
    else:
        first = session.scalars(select(CheckSample.time).order_by(CheckSample.time).limit(1)).first()
        if first is None:
            return 0
        start = _hour(first)
    hours = 0
    h = start
    while h < end and hours < max_hours:
        nxt = h + timedelta(hours=1)
        groups: dict[tuple[int, str], list[CheckSample]] = {}
        for s in session.scalars(select(CheckSample).where(CheckSample.time >= h, CheckSample.time < nxt)):
            groups.setdefault((s.device_id, s.check), []).append(s)
        for (dev, check), samples in groups.items():
            counts: dict[str, int] = {}
            numbers: dict[str, list[float]] = {}
            for s in samples:
                counts[s.status] = counts.get(s.status, 0) + 1
                for k, v in (s.metrics or {}).items():
                    if isinstance(v, int | float) and not isinstance(v, bool):
                        numbers.setdefault(k, []).append(float(v))
            metrics: dict[str, MetricValue | dict[str, float]] = {
                k: {"min": min(v), "avg": round(sum(v) / len(v), 6), "max": max(v), "n": len(v)}
                for k, v in numbers.items()}
            existing = session.scalars(select(SampleRollup).where(SampleRollup.device_id == dev,
                                                                  SampleRollup.check == check,
                                                                  SampleRollup.hour == h)).first()
            if existing is None:
                session.add(SampleRollup(device_id=dev, check=check, hour=h, samples=len(samples),
                                         status_counts=counts, metrics=metrics))
            else:
                existing.samples, existing.status_counts, existing.metrics = len(samples), counts, metrics
        h = nxt
        hours += 1
    if kv is None:
        kv = KeyValueRow(key=ROLLUP_KEY, value={}, updated_at=now)
        session.add(kv)
    kv.value = {"until": h.isoformat()}
    kv.updated_at = now
    return hours


def prune_samples(session: Session, now: datetime, retention_days: int) -> int:
    """Delete raw samples older than the retention that are already rolled up; returns rows deleted."""
    kv = session.get(KeyValueRow, ROLLUP_KEY)
    if kv is None or not kv.value.get("until"):
        return 0
    limit = min(now - timedelta(days=retention_days), utc(datetime.fromisoformat(kv.value["until"])))
    res = session.execute(delete(CheckSample).where(CheckSample.time < limit))
    return int(getattr(res, "rowcount", 0) or 0)
