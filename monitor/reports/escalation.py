"""The escalation report: a letter to the Ministry about one incident (pure figures + the template).

It answers what a Ministry liaison must know to act: which office, which equipment (model, serial, age,
who bought it, how often it failed before), what happened when (timeline with the evidence), why (the
cause and its facts), what it costs (the recording service's downtime and the recordings that could not
be made), what the office already did (acknowledgements and notes), and what the office asks for:

* ``replace``: equipment bought from the national budget (``funding: apbn``) damaged by lightning or
  hardware failure, or failing repeatedly (≥ :data:`monitor.reports.figures.RECURRENCE_THRESHOLD` in 12
  months) — replacement or repair by the Ministry;
* ``protection``: national-budget surge protection or UPS batteries reporting wear (SPD tripped, strikes
  counted, replace-battery) — replacement before the next storm;
* ``central``: the central data center / VPN link failed (cause ``upstream``) — restore and investigate;
* ``assist``: nothing above applies — technical assistance.

:func:`escalation_figures` is pure; the builder that reads the database and writes the PDF is
:func:`monitor.reports.runner.build_escalation_report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from monitor.domain import Cause, Status
from monitor.reports.data import (
    AckRecord,
    DeviceInfo,
    EvidenceItem,
    IncidentRecord,
    ReportData,
    one_per_event,
    parse_time,
)
from monitor.reports.figures import (
    CENTRAL_WARNING_KINDS,
    DAMAGE_CAUSES,
    EquipmentWarning,
    Impact,
    OutageLine,
    PeriodFigures,
    Recurrence,
    age_years,
    equipment_warnings,
    impact,
    incident_acks,
    outage_lines,
    period_figures,
    recurrence,
)
from monitor.reports.period import Period

EVIDENCE_BEFORE = timedelta(minutes=30)   # facts this long before the incident are part of its story

RequestKind = Literal["replace", "protection", "central", "assist"]
EntryKind = Literal["incident_start", "outage_start", "outage_end", "evidence", "ack", "escalation", "incident_end"]


@dataclass(frozen=True, slots=True)
class Equipment:
    """One device involved in the incident, with its history."""

    device: DeviceInfo
    outage: OutageLine
    recurrence: Recurrence | None
    age_years: int | None


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline."""

    time: datetime
    kind: EntryKind
    device: DeviceInfo | None = None
    status: Status | None = None
    cause: Cause | None = None
    evidence: EvidenceItem | None = None
    ack: AckRecord | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    kind: RequestKind
    devices: tuple[DeviceInfo, ...] = ()
    warnings: tuple[EquipmentWarning, ...] = ()


@dataclass(frozen=True, slots=True)
class EscalationFigures:
    site_name: str
    incident: IncidentRecord
    now: datetime
    end: datetime                 # the incident's end, or ``now`` while it is open
    ongoing: bool
    equipment: tuple[Equipment, ...]
    timeline: tuple[Entry, ...]
    acks: tuple[AckRecord, ...]
    impact: Impact | None
    figures: PeriodFigures
    requests: tuple[Request, ...]
    warnings: tuple[EquipmentWarning, ...]

    @property
    def duration_s(self) -> float:
        return (self.end - self.incident.started_at).total_seconds()

    @property
    def cause(self) -> Cause:
        return self.incident.cause


def incident_period(incident: IncidentRecord, zone: str, now: datetime) -> Period:
    end = incident.ended_at if incident.ended_at is not None else now
    if end <= incident.started_at:
        end = incident.started_at + timedelta(seconds=1)
    return Period(incident.started_at, end, zone, "range", f"incident-{incident.id}")


def _escalations(raw: Mapping[str, Any]) -> list[tuple[datetime, str]]:
    """Who was told about the incident and when (``incidents.escalation["told"]``: audience -> first time told,
    alerts/escalation.py); the IT staff's first alert is not an escalation."""
    told = raw.get("told")
    out = [(t, str(audience)) for audience, value in (told.items() if isinstance(told, dict) else ())
           if audience != "it_staff" and (t := parse_time(value)) is not None]
    return sorted(out)


def escalation_figures(data: ReportData, incident_id: int, now: datetime) -> EscalationFigures:
    """Everything the escalation letter shows about incident ``incident_id`` (KeyError if not in ``data``)."""
    incident = next((i for i in data.incidents if i.id == incident_id), None)
    if incident is None:
        raise KeyError(incident_id)
    period = incident_period(incident, data.site.timezone, now)
    fig = period_figures(data, period, now)
    acks_fig = incident_acks(data, period.start, fig.window_end)
    lines = tuple(x for x in outage_lines(data, fig, acks_fig) if x.outage.incident_id == incident_id)
    rec = {r.device.id: r for r in recurrence(data, period.start, fig.window_end)}
    equipment = tuple(sorted(
        (Equipment(x.device, x, rec.get(x.device.id), age_years(x.device.installed, fig.window_end,
                                                               data.site.timezone)) for x in lines),
        key=lambda e: (0 if e.device.funding == "apbn" else 1, -e.outage.outage.status.severity, e.outage.start)))
    names = {d.id: d for d in data.devices}
    entries: list[Entry] = [Entry(incident.started_at, "incident_start", cause=incident.cause)]
    for x in lines:
        entries.append(Entry(x.start, "outage_start", device=x.device, status=x.outage.status, cause=x.cause))
        if x.end is not None and x.end <= fig.window_end:
            entries.append(Entry(x.end, "outage_end", device=x.device))
    # every fact once: the incident's, its outages' and the site's record of the time hold copies of the same
    # events, and a trap and the poll after it saw one event (one_per_event merges them, naming both sources)
    facts = [*incident.evidence, *(e for x in lines for e in x.evidence)]
    facts += [EvidenceItem(o.time, o.device or "", o.kind, o.text, o.source, dict(o.values)) for o in data.observations
              if period.start - EVIDENCE_BEFORE <= o.time < fig.window_end]
    for e in one_per_event(facts):
        if e.time is not None:
            entries.append(Entry(e.time, "evidence", device=names.get(e.device), evidence=e))
    acks = tuple(a for a in data.acks if a.incident_id == incident_id)
    for a in acks:
        entries.append(Entry(a.time, "ack", ack=a))
    for t, audience in _escalations(incident.escalation):
        entries.append(Entry(t, "escalation", detail=audience))
    if incident.ended_at is not None:
        entries.append(Entry(incident.ended_at, "incident_end"))
    order = {"incident_start": 1, "evidence": 0, "outage_start": 2, "ack": 3, "escalation": 4, "outage_end": 5,
             "incident_end": 6}
    entries.sort(key=lambda e: (e.time, order[e.kind], e.device.name if e.device else ""))

    warnings = equipment_warnings(data, period.start - EVIDENCE_BEFORE, fig.window_end)
    requests: list[Request] = []
    damaged = tuple(e.device for e in equipment if e.device.funding == "apbn" and e.outage.unavailable
                    and (e.outage.cause in DAMAGE_CAUSES or (e.recurrence is not None and e.recurrence.repeated)))
    if damaged:
        requests.append(Request("replace", devices=damaged))
    worn = tuple(w for w in warnings if w.device is not None and w.device.funding == "apbn"
                 and w.kind in CENTRAL_WARNING_KINDS)
    if worn:
        requests.append(Request("protection", devices=tuple(dict.fromkeys(w.device for w in worn if w.device)),
                                warnings=worn))
    if incident.cause is Cause.UPSTREAM or any(x.central for x in lines):
        requests.append(Request("central"))
    if not requests:
        requests.append(Request("assist", devices=tuple(e.device for e in equipment)))

    return EscalationFigures(
        site_name=data.site.name, incident=incident, now=now, end=fig.window_end,
        ongoing=incident.ended_at is None or incident.ended_at > now, equipment=equipment, timeline=tuple(entries),
        acks=acks, impact=impact(data, fig, now), figures=fig, requests=tuple(requests), warnings=warnings)
