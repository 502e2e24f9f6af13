"""Events → outbox rows: who hears about what, grouped per incident.

The engine writes ``events`` rows (contract: :mod:`monitor.events`). :meth:`Router.route_one` claims one with
a conditional UPDATE on ``events.claimed_at`` and writes the outbox rows it calls for **in the same
transaction**, so an event is routed exactly once and never lost in between.

======================  ==============================================================================
event                   messages
======================  ==============================================================================
incident_opened         first alert to the at-once audiences of the ladder (after ``alerts.group_wait``,
                        so the UPS evidence arrives first) and any step already due (cause lightning →
                        ministry at once); planned → recorded as suppressed ("planned maintenance")
outage_opened /         an update to the at-once audiences already told; while their first alert still
outage_changed /        waits it joins that group and the one message lists every device. Changed only
incident_changed        when the status, the cause or the device set changed; a new cause may fire a step
outage_closed           an update ("Server pulih") while the incident stays open; nothing when the incident
                        closed too (the recovery says it)
outage_* with           nothing: while a device flaps, flapping_started/stopped are its messages, and an
``flapping``            incident of flapping devices only starts its ladder once one of them stays down
incident_closed         recovery (duration and cause) to everyone who was told (``alerts.recovery``)
observation             a note to the at-once audiences for notable facts (strike, SPD tripped, abnormal
                        voltage, replace battery, reboot, ...), grouped per site; inhibited at send time
                        while a power/lightning incident is open there (:mod:`alerts.mutes`)
flapping_*              a note per device
monitor_gap             the monitor was not running from–to: one note per chat
monitor_started         nothing (a gap, if any, has its own event)
======================  ==============================================================================

An outage outside any incident (``incident_id`` null) is alerted and recovered on its own. An event that
cannot be routed (a bug, a malformed payload) still produces a plain note naming it, so nothing is silently
lost; the error is logged.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from markupsafe import escape
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alerts import compose, escalation, messages
from alerts.escalation import EscalationState, audience_language, initial_audiences
from alerts.messages import EvidenceLine, parse_time
from alerts.outbox import configured_target, enqueue, load_migrations, resolve_target
from monitor.clock import to_local
from monitor.storage.models import DeviceRow, DeviceStateRow, EventRow, IncidentRow, OutageRow, OutboxRow

if TYPE_CHECKING:
    from monitor.settings import EscalationStep, Settings

log = logging.getLogger(__name__)

NOTABLE_FACTS = frozenset({"spd_tripped", "strike", "voltage_abnormal", "line_bad", "replace_battery",
                           "low_battery", "low_runtime", "overload", "bypass", "temperature_high", "reboot",
                           "disk_full", "on_battery", "transfer", "link_down"})


def _ts(value: Any, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            return default
    return default


class Router:
    """Routes events into the outbox for one configuration."""

    def __init__(self, settings: Settings, *, name: str | None = None, reports: bool = False) -> None:
        self.settings = settings
        self.name = name or f"router:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.reports = reports

    # ------------------------------------------------------------------------------------------ claiming

    def pending(self, session: Session, limit: int = 200) -> list[int]:
        return list(session.scalars(select(EventRow.id).where(EventRow.claimed_at.is_(None))
                                    .order_by(EventRow.id).limit(limit)))

    def claim(self, session: Session, event_id: int, now: datetime) -> EventRow | None:
        res = session.execute(update(EventRow).where(EventRow.id == event_id, EventRow.claimed_at.is_(None))
                              .values(claimed_at=now, claimed_by=self.name)
                              .execution_options(synchronize_session=False))
        if not res.rowcount:  # type: ignore[attr-defined]
            return None
        return session.get(EventRow, event_id)

    def route_one(self, session: Session, event_id: int, now: datetime) -> int | None:
        """Claim and route one event in the caller's transaction; the number of outbox rows written, or
        None when another router had it."""
        event = self.claim(session, event_id, now)
        if event is None:
            return None
        # max(id) through the primary key, not count(*): the outbox is kept for ever
        before = session.scalar(select(func.max(OutboxRow.id))) or 0
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is None:
            log.warning("router: event %s has unknown kind %r; nothing sent", event.id, event.kind)
        else:
            handler(session, event, now)
        session.flush()
        after = session.scalar(select(func.max(OutboxRow.id))) or 0
        return int(after - before)

    def fallback(self, session: Session, event_id: int, now: datetime, error: str) -> None:
        """The event could not be routed: claim it and tell the at-once audiences plainly."""
        event = self.claim(session, event_id, now) or session.get(EventRow, event_id)
        if event is None:
            return
        site_id = event.site_id or (event.payload or {}).get("site")
        sites = [site_id] if site_id else [s.id for s in self.settings.sites]
        for sid in sites:
            for audience in self._initial(sid):
                lang = audience_language(self.settings, sid, audience)
                what = ("tidak bisa diformat; lihat log monitor" if lang == "id"
                        else "could not be formatted; see the monitor log")
                text = f"⚠️ {escape(event.kind)} #{event.id} ({escape(sid)}): {what}"
                enqueue(session, key=f"ev:{event.id}:fallback:{sid}:{audience}", audience=audience, site_id=sid,
                        kind="note", payload={"text": text, "summary": text}, now=now, event_time=event.time,
                        incident_id=event.incident_id)
        log.error("router: event %s (%s) could not be routed: %s; a plain note was queued", event.id, event.kind,
                  error)

    # ------------------------------------------------------------------------------------------- helpers

    def _steps(self, site_id: str | None) -> tuple[EscalationStep, ...]:
        if site_id is None:
            return self.settings.escalation.steps
        try:
            return self.settings.escalation_for(site_id).steps
        except KeyError:
            return self.settings.escalation.steps

    def _initial(self, site_id: str | None) -> list[str]:
        return initial_audiences(self._steps(site_id))

    def _lang(self, site_id: str | None, audience: str) -> str:
        return audience_language(self.settings, site_id, audience)

    def _site_label(self, site_id: str | None) -> str | None:
        """Summaries name the site only when several sites share the config (a global chat)."""
        if site_id is None or len(self.settings.sites) < 2:
            return None
        try:
            return self.settings.site(site_id).name
        except KeyError:
            return site_id

    def _device_name(self, session: Session, event: EventRow) -> str:
        payload = event.payload or {}
        if payload.get("device_name"):
            return str(payload["device_name"])
        if event.device_id is not None:
            dev = session.get(DeviceRow, event.device_id)
            if dev is not None:
                return dev.name
        return str(payload.get("device", "?"))

    def _incident(self, session: Session, event: EventRow) -> IncidentRow | None:
        iid = event.incident_id or (event.payload or {}).get("incident_id")
        return session.get(IncidentRow, int(iid)) if iid is not None else None

    def _outage_id(self, session: Session, event: EventRow) -> int | None:
        if event.outage_id is not None:
            return event.outage_id
        oid = (event.payload or {}).get("outage_id")
        return int(oid) if oid is not None else None

    def _update(self, session: Session, event: EventRow, inc: IncidentRow, now: datetime, key: str,
                emoji: str, **values: Any) -> None:
        """An update about ``inc`` to the at-once audiences that were told (joins a waiting group)."""
        state = EscalationState.load(inc.escalation)
        if not state.told:  # the engine opened the outage before (or without) incident_opened
            self._open_incident(session, event, inc, now)
            return
        if inc.planned:
            return
        for audience in self._initial(inc.site_id):
            if audience not in state.told:
                continue
            lang = self._lang(inc.site_id, audience)
            line = messages.summary_line(key, lang=lang, emoji=emoji, incident_id=inc.id,
                                         site=self._site_label(inc.site_id), **self._localize(lang, values))
            payload = compose.incident_payload(session, self.settings, audience=audience, kind="update", now=now,
                                               lang=lang, summary=line, incident_id=inc.id)
            enqueue(session, key=f"ev:{event.id}:{audience}", audience=audience, site_id=inc.site_id,
                    kind="update", payload=payload, now=now, incident_id=inc.id, event_time=event.time,
                    group_key=compose.incident_group(session, inc.site_id, inc.id, audience, first=False),
                    due=now + self.settings.alerts.group_wait)
            state.notified[audience] = escalation._iso(now)
        inc.escalation = state.dump()

    @staticmethod
    def _localize(lang: str, values: dict[str, Any]) -> dict[str, Any]:
        out = dict(values)
        if "status" in out:
            out["status"] = messages.phrase(lang, f"status.{out['status']}")
        if "cause" in out:
            out["cause"] = messages.phrase(lang, f"cause.{out['cause']}")
        if "duration_s" in out:
            out["duration"] = messages.format_duration(float(out.pop("duration_s")), lang)
        return out

    def _open_incident(self, session: Session, event: EventRow, inc: IncidentRow, now: datetime) -> None:
        names = [n for (n,) in session.execute(
            select(DeviceRow.name).join(OutageRow, OutageRow.device_id == DeviceRow.id)
            .where(OutageRow.incident_id == inc.id).order_by(OutageRow.started_at))]
        emoji = "🛠" if inc.planned else messages.STATUS_EMOJI.get(inc.worst_status, "🔴")

        def line(lang: str) -> str:
            return messages.summary_line("sum.opened", lang=lang, emoji=emoji, incident_id=inc.id,
                                         site=self._site_label(inc.site_id), devices=", ".join(names) or "—",
                                         cause=messages.phrase(lang, f"cause.{inc.cause}"))

        escalation.apply(session, self.settings, inc, now, opening=True, summary=line, event_time=event.time,
                         reports=self.reports)

    # -------------------------------------------------------------------------------------------- events

    def _on_incident_opened(self, session: Session, event: EventRow, now: datetime) -> None:
        inc = self._incident(session, event)
        if inc is None:
            log.warning("router: incident_opened event %s names no known incident", event.id)
            return
        self._open_incident(session, event, inc, now)

    def _on_outage_opened(self, session: Session, event: EventRow, now: datetime) -> None:
        inc = self._incident(session, event)
        payload = event.payload or {}
        if payload.get("flapping"):
            return  # the engine's contract: quiet while flapping; flapping_started/stopped are the messages
        if inc is None:
            self._lone_outage(session, event, now, opened=True)
            return
        outages = session.scalar(select(func.count()).select_from(OutageRow).where(OutageRow.incident_id == inc.id))
        if outages == 1 and EscalationState.load(inc.escalation).told:
            return  # the incident's founding outage: incident_opened already said it
        self._update(session, event, inc, now, "sum.device_down",
                     messages.STATUS_EMOJI.get(str(payload.get("status", "down")), "🔴"),
                     device=self._device_name(session, event), status=str(payload.get("status", "down")))

    def _on_outage_changed(self, session: Session, event: EventRow, now: datetime) -> None:
        payload = event.payload or {}
        inc = self._incident(session, event)
        if payload.get("flapping") and payload.get("change") != "planned":
            return
        status, previous = payload.get("status"), payload.get("previous_status")
        cause, previous_cause = payload.get("cause"), payload.get("previous_cause")
        if payload.get("change") == "planned" and inc is not None:
            # the maintenance window ended and the device is still down: now it is news
            escalation.apply(session, self.settings, inc, now, opening=True, reports=self.reports)
            return
        if status == previous and (cause == previous_cause or inc is not None):
            # new evidence, or an outage's cause changed inside an incident (incident_changed says it when
            # the incident's cause changes): shown in the next message, no message of its own
            return
        if inc is None:
            self._lone_outage(session, event, now, opened=True, changed=True)
            return
        self._update(session, event, inc, now, "sum.device_changed",
                     messages.STATUS_EMOJI.get(str(status), "🟡"), device=self._device_name(session, event),
                     status=str(status))

    def _on_incident_changed(self, session: Session, event: EventRow, now: datetime) -> None:
        payload = event.payload or {}
        inc = self._incident(session, event)
        if inc is None:
            return
        if payload.get("cause") != payload.get("previous_cause"):
            self._update(session, event, inc, now, "sum.cause_changed", "🔎", cause=str(payload.get("cause")))
        escalation.apply(session, self.settings, inc, now, reports=self.reports)

    def _on_outage_closed(self, session: Session, event: EventRow, now: datetime) -> None:
        payload = event.payload or {}
        inc = self._incident(session, event)
        if payload.get("flapping") or payload.get("removed"):
            return  # quiet while flapping; a removed device did not recover (the incident recovery covers it)
        if inc is None:
            self._lone_outage(session, event, now, opened=False)
            return
        if inc.ended_at is not None:
            return  # the incident closed with it: the recovery message covers this device
        self._update(session, event, inc, now, "sum.device_up", "🟢", device=self._device_name(session, event),
                     duration_s=float(payload.get("duration_s") or 0.0))

    def _on_incident_closed(self, session: Session, event: EventRow, now: datetime) -> None:
        inc = self._incident(session, event)
        if inc is None or not self.settings.alerts.recovery:
            return
        payload = event.payload or {}
        state = EscalationState.load(inc.escalation)
        ended = inc.ended_at or _ts(payload.get("ended_at"), event.time)
        duration = float(payload.get("duration_s") or (ended - inc.started_at).total_seconds())
        for audience in state.told:
            lang = self._lang(inc.site_id, audience)
            line = messages.summary_line("sum.closed", lang=lang, emoji="✅", incident_id=inc.id,
                                         site=self._site_label(inc.site_id),
                                         duration=messages.format_duration(duration, lang),
                                         cause=messages.phrase(lang, f"cause.{inc.cause}"))
            body = compose.incident_payload(session, self.settings, audience=audience, kind="recovery", now=now,
                                            lang=lang, summary=line, incident_id=inc.id)
            enqueue(session, key=f"ev:{event.id}:{audience}", audience=audience, site_id=inc.site_id,
                    kind="recovery", payload=body, now=now, incident_id=inc.id, event_time=event.time,
                    group_key=compose.incident_group(session, inc.site_id, inc.id, audience, first=False))

    def _lone_outage(self, session: Session, event: EventRow, now: datetime, *, opened: bool,
                     changed: bool = False) -> None:
        """An outage outside any incident: its own alert, update and recovery."""
        outage_id = self._outage_id(session, event)
        site_id = event.site_id or (event.payload or {}).get("site")
        if outage_id is None or site_id is None:
            log.warning("router: event %s (%s) has no outage or site; nothing sent", event.id, event.kind)
            return
        outage = session.get(OutageRow, outage_id)
        payload = event.payload or {}
        if opened:
            audiences = self._initial(site_id)
        else:
            audiences = sorted({a for (a,) in session.execute(select(OutboxRow.audience).where(
                OutboxRow.group_key.like(f"out:{outage_id}:%")))})
        for audience in audiences:
            lang = self._lang(site_id, audience)
            name = self._device_name(session, event)
            if opened:
                key = "sum.device_changed" if changed else "sum.device_down"
                status = str(payload.get("status", "down"))
                line = messages.summary_line(key, lang=lang, emoji=messages.STATUS_EMOJI.get(status, "🔴"),
                                             site=self._site_label(site_id),
                                             device=name, status=messages.phrase(lang, f"status.{status}"))
                kind = "update" if changed else "alert"
            else:
                line = messages.summary_line("sum.device_up", lang=lang, emoji="🟢", site=self._site_label(site_id),
                                             device=name, duration=messages.format_duration(
                                                 float(payload.get("duration_s") or 0.0), lang))
                kind = "recovery"
            body = compose.incident_payload(session, self.settings, audience=audience, kind=kind, now=now, lang=lang,
                                            summary=line, outage_id=outage_id,
                                            planned=bool(payload.get("planned") or (outage and outage.planned)))
            enqueue(session, key=f"ev:{event.id}:{audience}", audience=audience, site_id=site_id, kind=kind,
                    payload=body, now=now, event_time=event.time, group_key=f"out:{outage_id}:{audience}",
                    due=now + self.settings.alerts.group_wait if opened else now,
                    suppressed="planned maintenance" if body.get("planned") and kind != "recovery" else None)

    def _on_observation(self, session: Session, event: EventRow, now: datetime) -> None:
        payload = event.payload or {}
        kind = str(payload.get("kind", ""))
        site_id = event.site_id or payload.get("site")
        if kind not in NOTABLE_FACTS or site_id is None:
            return
        name = self._device_name(session, event) if (event.device_id or payload.get("device")) else None
        item = {"time": payload.get("time") or event.time.isoformat().replace("+00:00", "Z"), "device_name": name,
                "kind": kind, "text": str(payload.get("text", "")), "values": payload.get("values") or {}}
        try:
            site = self.settings.site(site_id)
            site_name, zone = site.name, site.timezone
        except KeyError:
            site_name, zone = site_id, "Asia/Jakarta"
        for audience in self._initial(site_id):
            lang = self._lang(site_id, audience)
            evidence = EvidenceLine(_ts(item["time"], event.time), name, kind, str(item["text"]),
                                    dict(payload.get("values") or {}))
            text = messages.render_observation(site_name=site_name, zone=zone, now=now, lang=lang, items=[evidence])
            label = self._site_label(site_id)
            line = f"ℹ️ {escape(label + ': ') if label else ''}{escape(messages.evidence_phrase(evidence, lang))}"
            enqueue(session, key=f"ev:{event.id}:{audience}", audience=audience, site_id=site_id, kind="observation",
                    payload={"text": text, "summary": line, "items": [item],
                             "devices": [payload["device"]] if payload.get("device") else []},
                    now=now, event_time=event.time, group_key=f"obs:{site_id}:{audience}",
                    due=now + self.settings.alerts.group_wait)

    def _flapping(self, session: Session, event: EventRow, now: datetime, started: bool) -> None:
        payload = event.payload or {}
        site_id = event.site_id or payload.get("site")
        if site_id is None:
            return
        try:
            site = self.settings.site(site_id)
            site_name, zone = site.name, site.timezone
        except KeyError:
            site_name, zone = site_id, "Asia/Jakarta"
        name = self._device_name(session, event)
        for audience in self._initial(site_id):
            lang = self._lang(site_id, audience)
            text = messages.render_flapping(site_name=site_name, device_name=name, zone=zone, now=now, lang=lang,
                                            started=started, changes=int(payload.get("changes") or 0),
                                            window_s=float(payload.get("window_s") or 0),
                                            status=str(payload.get("status", "unknown")))
            if started:
                line = messages.summary_line("sum.flap_start", lang=lang, emoji="〰️", site=self._site_label(site_id),
                                             device=name, changes=int(payload.get("changes") or 0),
                                             window=messages.format_duration(float(payload.get("window_s") or 0), lang))
            else:
                line = messages.summary_line("sum.flap_stop", lang=lang, emoji="〰️", site=self._site_label(site_id),
                                             device=name,
                                             status=messages.phrase(lang, f"status.{payload.get('status')}"))
            enqueue(session, key=f"ev:{event.id}:{audience}", audience=audience, site_id=site_id, kind="flapping",
                    payload={"text": text, "summary": line,
                             "devices": [payload["device"]] if payload.get("device") else []},
                    now=now, event_time=event.time, group_key=f"flap:{site_id}:{payload.get('device')}:{audience}",
                    due=now + self.settings.alerts.group_wait)

    def _on_flapping_started(self, session: Session, event: EventRow, now: datetime) -> None:
        self._flapping(session, event, now, True)

    def _on_flapping_stopped(self, session: Session, event: EventRow, now: datetime) -> None:
        self._flapping(session, event, now, False)

    def _on_monitor_gap(self, session: Session, event: EventRow, now: datetime) -> None:
        payload = event.payload or {}
        started = _ts(payload.get("started_at"), event.time)
        ended = _ts(payload.get("ended_at"), event.time)
        reason = str(payload.get("reason", "process_stopped"))
        sites = [event.site_id] if event.site_id else [s.id for s in self.settings.sites]
        migrations = load_migrations(session)
        chats: set[str] = set()
        for site_id in sites:
            try:
                site = self.settings.site(site_id)
            except KeyError:
                continue
            for audience in self._initial(site_id):
                target = resolve_target(self.settings, site_id, audience, migrations)
                if target is None or target.chat_key in chats:
                    continue  # one note per chat, even when it serves several sites
                chats.add(target.chat_key)
                lang = target.language
                label = self._site_label(site_id) if target.scope != "*" else None
                text = messages.render_gap(site_name=label, zone=site.timezone, now=now, lang=lang,
                                           started_at=started, ended_at=ended, reason=reason)
                line = messages.summary_line("sum.gap", lang=lang, emoji="⏸", site=label,
                                             start=messages.format_time(started, site.timezone, now, lang),
                                             end=messages.format_time(ended, site.timezone, now, lang),
                                             duration=messages.format_duration((ended - started).total_seconds(), lang))
                enqueue(session, key=f"ev:{event.id}:{site_id}:{audience}", audience=audience, site_id=site_id,
                        kind="monitor_gap", payload={"text": text, "summary": line}, now=now, event_time=event.time)

    def _on_monitor_started(self, session: Session, event: EventRow, now: datetime) -> None:
        return None

    def _on_clock_step(self, session: Session, event: EventRow, now: datetime) -> None:
        """A wall-clock step was corrected in the record; the IT staff hear of it from the self-warnings
        (``alerts.selfwarn``: "the clock was set back/forward by …"), once per step."""
        return None


# ----------------------------------------------------------------------------------------- daily line


def daily_alive(session: Session, settings: Settings, now: datetime, *, late: timedelta = timedelta(hours=2)) -> int:
    """The daily "still alive" line per site at ``alerts.daily_alive`` (site-local), silent, once a day
    (idempotency key per site and local date). Not sent when the monitor starts more than ``late`` after
    that time. Returns how many were queued."""
    at: time | None = settings.alerts.daily_alive
    if at is None:
        return 0
    queued = 0
    for site in settings.sites:
        local = to_local(now, site.timezone)
        scheduled = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
        if not scheduled <= local < scheduled + late:
            continue
        rows = session.execute(select(DeviceRow.id, DeviceStateRow.status).outerjoin(
            DeviceStateRow, DeviceStateRow.device_id == DeviceRow.id).where(
            DeviceRow.site_id == site.id, DeviceRow.active.is_(True))).all()
        total = len(rows)
        up = sum(1 for _, status in rows if status == "up")
        open_count = session.scalar(select(func.count()).select_from(IncidentRow).where(
            IncidentRow.site_id == site.id, IncidentRow.ended_at.is_(None))) or 0
        for audience in initial_audiences(settings.escalation_for(site.id).steps):
            if configured_target(settings, site.id, audience) is None:
                continue
            lang = audience_language(settings, site.id, audience)
            text = messages.render_alive(site_name=site.name, zone=site.timezone, now=now, lang=lang, total=total,
                                         up=up, open_incidents=int(open_count))
            row = enqueue(session, key=f"alive:{site.id}:{audience}:{local.date().isoformat()}", audience=audience,
                          site_id=site.id, kind="alive", now=now,
                          payload={"text": text, "summary": text.split("\n", 1)[0], "silent": True})
            queued += row is not None
    return queued
