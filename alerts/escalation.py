"""The escalation ladder: who is told about an incident, and when.

The ladder comes from ``settings.escalation_for(site)`` (default: ``it_staff`` at once; ``head_of_office``
after 30 min unless acknowledged; ``ministry_liaison`` after 24 h, or at once for causes ``lightning`` and
``hardware`` — central replacement needed — with the escalation report attached).

:func:`decide` is pure (``now`` is a parameter) and follows this table, step by step:

=====================================================  ==================================================
situation                                              decision for the step
=====================================================  ==================================================
incident closed, or planned (maintenance)              nothing (recovery goes to everyone told, elsewhere)
step already fired for this incident                   nothing — each step fires once per incident
``unless_acknowledged`` and someone acknowledged        never fires (recorded as skipped)
incident cause is in the step's ``causes``             fire now (reason ``cause``)
incident open for at least ``after``                   fire now (reason ``at_once`` when ``after`` is 0,
                                                       else ``after``)
otherwise                                              wait
=====================================================  ==================================================

Reminders (:func:`reminders_due`): while an incident stays open, the audiences of the at-once steps that
were told get a reminder every ``alerts.repeat_interval`` after their last message.

State lives in ``incidents.escalation`` (JSON, owned by this module, see :class:`EscalationState`); the
thin :func:`apply` loads it, enqueues the messages the decision calls for in the caller's transaction and
saves it, so a step can never fire twice even across restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts import compose, messages
from alerts.messages import parse_time
from alerts.outbox import configured_target, enqueue, site_language
from monitor.clock import utc
from monitor.storage.models import AcknowledgementRow, DeviceStateRow, IncidentRow, OutboxRow

if TYPE_CHECKING:
    from monitor.settings import EscalationStep, Settings

Reason = Literal["at_once", "after", "cause"]


def _iso(dt: datetime) -> str:
    return utc(dt).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What the ladder needs to know about an incident."""

    id: int
    started_at: datetime
    cause: str
    ended_at: datetime | None = None
    planned: bool = False
    acknowledged_at: datetime | None = None


@dataclass
class EscalationState:
    """``incidents.escalation`` JSON:

    ``{"fired": {"<step>:<audience>": time}, "told": {audience: first time told},
    "notified": {audience: time of the last message}, "reminders": n, "skipped": {step key: why},
    "reports": {audience: {"status": "pending"|"sent"|"failed", "tries": n}},
    "acknowledged": {"by": name, "at": time}}`` — times ISO 8601 UTC.
    """

    fired: dict[str, str] = field(default_factory=dict)
    told: dict[str, str] = field(default_factory=dict)
    notified: dict[str, str] = field(default_factory=dict)
    reminders: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    acknowledged: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, data: dict[str, Any] | None) -> EscalationState:
        data = data or {}
        return cls(fired=dict(data.get("fired", {})), told=dict(data.get("told", {})),
                   notified=dict(data.get("notified", {})), reminders=int(data.get("reminders", 0)),
                   skipped=dict(data.get("skipped", {})),
                   reports={k: dict(v) for k, v in data.get("reports", {}).items()},
                   acknowledged=dict(data.get("acknowledged", {})))

    def dump(self) -> dict[str, Any]:
        return {"fired": dict(self.fired), "told": dict(self.told), "notified": dict(self.notified),
                "reminders": self.reminders, "skipped": dict(self.skipped),
                "reports": {k: dict(v) for k, v in self.reports.items()}, "acknowledged": dict(self.acknowledged)}

    def tell(self, audience: str, now: datetime) -> None:
        self.told.setdefault(audience, _iso(now))
        self.notified[audience] = _iso(now)

    def last_notified(self, audience: str) -> datetime | None:
        value = self.notified.get(audience) or self.told.get(audience)
        return parse_time(value) if value else None


@dataclass(frozen=True, slots=True)
class Decision:
    """Fire ladder step ``step`` (index) now: tell ``audience``, for ``reason``."""

    step: int
    key: str
    audience: str
    reason: Reason
    attach_report: bool = False
    unless_acknowledged: bool = False

    @property
    def initial(self) -> bool:
        """The at-once step: its message is the first alert (kind ``alert``), not an escalation."""
        return self.reason == "at_once"


def step_key(index: int, step: EscalationStep) -> str:
    return f"{index}:{step.audience.value}"


def decide(steps: Sequence[EscalationStep], facts: IncidentFacts, state: EscalationState,
           now: datetime) -> list[Decision]:
    """The steps to fire now (module table). Pure."""
    if facts.ended_at is not None or facts.planned:
        return []
    out: list[Decision] = []
    age = now - facts.started_at
    for index, step in enumerate(steps):
        key = step_key(index, step)
        if key in state.fired:
            continue
        if step.unless_acknowledged and facts.acknowledged_at is not None:
            continue
        reason: Reason
        if facts.cause in {c.value for c in step.causes}:
            reason = "cause"
        elif age >= step.after:
            reason = "at_once" if step.after == timedelta(0) else "after"
        else:
            continue
        out.append(Decision(index, key, step.audience.value, reason, step.attach_report, step.unless_acknowledged))
    return out


def skipped_by_ack(steps: Sequence[EscalationStep], facts: IncidentFacts, state: EscalationState) -> list[str]:
    """Keys of steps that will never fire because someone acknowledged first."""
    if facts.acknowledged_at is None:
        return []
    return [step_key(i, s) for i, s in enumerate(steps)
            if s.unless_acknowledged and step_key(i, s) not in state.fired and step_key(i, s) not in state.skipped]


def initial_audiences(steps: Sequence[EscalationStep]) -> list[str]:
    """Audiences told at once (``after: 0``): they get updates and reminders."""
    seen: list[str] = []
    for s in steps:
        if s.after == timedelta(0) and s.audience.value not in seen:
            seen.append(s.audience.value)
    return seen


def reminders_due(steps: Sequence[EscalationStep], facts: IncidentFacts, state: EscalationState, now: datetime,
                  repeat_interval: timedelta) -> list[str]:
    """Audiences that get a reminder now (told, at-once audience, last message ``repeat_interval`` ago)."""
    if facts.ended_at is not None or facts.planned or repeat_interval <= timedelta(0):
        return []
    due: list[str] = []
    for audience in initial_audiences(steps):
        last = state.last_notified(audience)
        if audience in state.told and last is not None and now - last >= repeat_interval:
            due.append(audience)
    return due


def escalation_reason(decision: Decision) -> str:
    """How the message explains itself: ``unacked`` / ``open`` / ``cause`` (see alerts.messages)."""
    if decision.reason == "cause":
        return "cause"
    return "unacked" if decision.unless_acknowledged else "open"


# ------------------------------------------------------------------------------------- applying decisions
# The thin, impure part: load the state, enqueue what `decide` says in the caller's transaction, save.


def _steps(settings: Settings, site_id: str) -> Sequence[EscalationStep]:
    try:
        return settings.escalation_for(site_id).steps
    except KeyError:  # a site removed from the config while its incident is open
        return settings.escalation.steps


def flapping_only(session: Session, inc: IncidentRow) -> bool:
    """Every open device of the incident is flapping (``device_states.flapping``)."""
    device_ids = compose.incident_devices(session, inc.id)
    if not device_ids:
        return False
    flags = list(session.scalars(select(DeviceStateRow.flapping).where(DeviceStateRow.device_id.in_(device_ids))))
    return len(flags) == len(device_ids) and all(flags)


def facts_of(inc: IncidentRow) -> IncidentFacts:
    return IncidentFacts(inc.id, inc.started_at, inc.cause, inc.ended_at, inc.planned, inc.acknowledged_at)


def audience_language(settings: Settings, site_id: str | None, audience: str) -> str:
    found = configured_target(settings, site_id, audience)
    if found is not None and found[1].language:
        return found[1].language
    return site_language(settings, site_id)


def apply(session: Session, settings: Settings, inc: IncidentRow, now: datetime, *, opening: bool = False,
          summary: Callable[[str], str] | None = None, event_time: datetime | None = None,
          reports: bool = False) -> list[Decision]:
    """Fire the steps :func:`decide` calls for, enqueueing their messages; returns them.

    ``opening``: called for the incident's first event — messages wait ``alerts.group_wait`` so related
    evidence arrives first. ``summary(lang)``: the one-line digest text of that event for the first alert.
    ``reports``: an escalation report can be made (the composition root injected one).
    """
    steps = _steps(settings, inc.site_id)
    state = EscalationState.load(inc.escalation)
    facts = facts_of(inc)
    when = event_time or now
    if inc.ended_at is None and flapping_only(session, inc):
        return []  # flapping_started/stopped speak for these devices; the ladder starts once one stays down
    if inc.planned:
        for audience in initial_audiences(steps):
            if audience not in state.told:
                lang = audience_language(settings, inc.site_id, audience)
                text = summary(lang) if summary else messages.summary_line(
                    "sum.opened", lang=lang, emoji="🛠", incident_id=inc.id, devices="",
                    cause=messages.phrase(lang, "cause.maintenance"))
                payload = compose.incident_payload(session, settings, audience=audience, kind="alert", now=now,
                                                   lang=lang, summary=text, incident_id=inc.id, planned=True)
                enqueue(session, key=f"inc:{inc.id}:planned:{audience}", audience=audience, site_id=inc.site_id,
                        kind="alert", payload=payload, now=now, incident_id=inc.id, event_time=when,
                        group_key=f"inc:{inc.id}:{audience}", suppressed="planned maintenance")
                state.tell(audience, now)
        inc.escalation = state.dump()
        return []
    for key in skipped_by_ack(steps, facts, state):
        state.skipped[key] = f"acknowledged by {inc.acknowledged_by} before it was due"
    decisions = decide(steps, facts, state, now)
    for d in decisions:
        lang = audience_language(settings, inc.site_id, d.audience)
        kind = "alert" if d.initial else "escalation"
        info = None if d.initial else messages.EscalationInfo(d.audience, escalation_reason(d),
                                                               d.attach_report and reports)
        if d.initial and summary:
            line = summary(lang)
        else:
            line = messages.summary_line("sum.escalation", lang=lang, emoji="⚠️", incident_id=inc.id,
                                         audience=messages.phrase(lang, f"audience.{d.audience}"))
        payload = compose.incident_payload(session, settings, audience=d.audience, kind=kind, now=now, lang=lang,
                                           summary=line, incident_id=inc.id, escalation=info)
        group = compose.incident_group(session, inc.site_id, inc.id, d.audience, first=d.audience not in state.told)
        due = now + settings.alerts.group_wait if (d.initial or opening) else now
        enqueue(session, key=f"inc:{inc.id}:step:{d.key}", audience=d.audience, site_id=inc.site_id, kind=kind,
                payload=payload, now=now, incident_id=inc.id, group_key=group, due=due,
                event_time=when if d.initial else now)
        state.fired[d.key] = _iso(now)
        state.tell(d.audience, now)
        if d.attach_report and reports:
            state.reports.setdefault(d.audience, {"status": "pending", "tries": 0})
    inc.escalation = state.dump()
    return decisions


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """An escalation report to make and send to ``audience`` for ``incident_id``."""

    incident_id: int
    site_id: str
    audience: str


REPORT_TRIES = 3


def tick(session: Session, settings: Settings, now: datetime, *, reports: bool = False) -> list[ReportRequest]:
    """The periodic part: due escalation steps and reminders for every open incident. Returns the
    escalation reports still to be made."""
    requests: list[ReportRequest] = []
    for inc in session.scalars(select(IncidentRow).where(IncidentRow.ended_at.is_(None)).order_by(IncidentRow.id)):
        apply(session, settings, inc, now, reports=reports)
        state = EscalationState.load(inc.escalation)
        steps = _steps(settings, inc.site_id)
        for audience in reminders_due(steps, facts_of(inc), state, now, settings.alerts.repeat_interval):
            lang = audience_language(settings, inc.site_id, audience)
            state.reminders += 1
            line = messages.summary_line("sum.reminder", lang=lang, emoji="🔁", incident_id=inc.id,
                                         duration=messages.format_duration((now - inc.started_at).total_seconds(),
                                                                           lang))
            payload = compose.incident_payload(session, settings, audience=audience, kind="reminder", now=now,
                                               lang=lang, summary=line, incident_id=inc.id)
            enqueue(session, key=f"inc:{inc.id}:reminder:{state.reminders}:{audience}", audience=audience,
                    site_id=inc.site_id, kind="reminder", payload=payload, now=now, incident_id=inc.id,
                    group_key=compose.incident_group(session, inc.site_id, inc.id, audience, first=False))
            state.notified[audience] = _iso(now)
        inc.escalation = state.dump()
        for audience, report in state.reports.items():
            if report.get("status") == "pending" and int(report.get("tries", 0)) < REPORT_TRIES:
                requests.append(ReportRequest(inc.id, inc.site_id, audience))
    return requests


def record_report(session: Session, settings: Settings, request: ReportRequest, path: str | None, now: datetime,
                  error: str | None = None) -> bool:
    """After the escalation report was made (``path``) or failed (``error``): enqueue the PDF for the
    audience, or count the try. Returns True when a document row was enqueued."""
    inc = session.get(IncidentRow, request.incident_id)
    if inc is None:
        return False
    state = EscalationState.load(inc.escalation)
    entry = state.reports.setdefault(request.audience, {"status": "pending", "tries": 0})
    entry["tries"] = int(entry.get("tries", 0)) + 1
    queued = False
    if path is not None:
        lang = audience_language(settings, inc.site_id, request.audience)
        view = compose.incident_view(session, settings, inc.id)
        caption = (messages.render_escalation_caption(view, lang=lang, now=now, audience=request.audience)
                   if view is not None else "")
        summary = messages.summary_line("sum.report", lang=lang, emoji="📎", incident_id=inc.id,
                                        name=path.rsplit("/", 1)[-1])
        # the PDF follows the escalation message it belongs to, never precedes it
        waiting = session.scalar(select(func.max(OutboxRow.next_attempt_at)).where(
            OutboxRow.incident_id == inc.id, OutboxRow.audience == request.audience,
            OutboxRow.status.in_(("pending", "retry")), OutboxRow.kind != "report"))
        enqueue(session, key=f"inc:{inc.id}:escreport:{request.audience}", audience=request.audience,
                site_id=inc.site_id, kind="report", now=now, incident_id=inc.id,
                due=max(now, waiting) if waiting is not None else now,
                payload={"text": caption, "parse_mode": "HTML", "document": path,
                         "filename": path.rsplit("/", 1)[-1], "summary": summary})
        entry.update(status="sent", error=None)
        queued = True
    else:
        entry["error"] = (error or "no report")[:500]
        if entry["tries"] >= REPORT_TRIES or error is None:
            entry["status"] = "failed"
    inc.escalation = state.dump()
    return queued


def acknowledge(session: Session, inc: IncidentRow, *, user_id: int | None, user_name: str, note: str | None,
                source: str, now: datetime) -> bool:
    """Record an acknowledgement (``acknowledgements`` row; the first one also sets
    ``incidents.acknowledged_at/by``). Returns True when it was the first. Unacknowledged steps stop."""
    session.add(AcknowledgementRow(incident_id=inc.id, time=now, user_id=user_id, user_name=user_name[:200],
                                   note=note, source=source))
    first = inc.acknowledged_at is None
    if first:
        inc.acknowledged_at, inc.acknowledged_by, inc.updated_at = now, user_name[:200], now
        state = EscalationState.load(inc.escalation)
        state.acknowledged = {"by": user_name[:200], "at": _iso(now)}
        inc.escalation = state.dump()  # skipped steps are recorded by apply() on the next tick
    return first
