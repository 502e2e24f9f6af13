"""From the database to message payloads: the bridge between storage and :mod:`alerts.messages`.

* :func:`incident_view` / :func:`outage_view` read an incident (or a lone outage) with its outages, device
  names, evidence, acknowledgement and the battery of the UPS involved, as a plain
  :class:`alerts.messages.IncidentView`;
* :func:`incident_payload` renders an outbox payload for one audience (used when a row is enqueued);
* :class:`AlertComposer` is the dispatcher's composer: at send time it **re-renders** incident messages
  from the current database state (payload ``refresh``), so evidence that arrived during the group wait
  (the UPS going on battery seconds after the server stopped answering) is in the first message; it picks
  the mode (first alert, update, reminder, escalation, recovery, or "short" when the incident closed before
  anything went out), merges the incidents of one group into one message, and writes digests.

UPS metrics are read from ``device_states.metrics`` (``{check: {metric: value}}``, NUT names):
``battery.charge`` (%), ``battery.runtime`` (seconds), and on-battery from ``ups.on_battery`` /
``on_battery`` (bool), ``ups.status`` containing ``OB``, or ``output.source`` = ``battery``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import messages
from alerts.messages import (
    DeviceLine,
    EscalationInfo,
    EvidenceLine,
    IncidentView,
    OpenIncident,
    UpsLine,
    parse_time,
)
from alerts.outbox import SENT, PlainComposer, Target, summary_of
from monitor.storage.coverage import Part, site_parts
from monitor.storage.models import (
    AcknowledgementRow,
    DeviceRow,
    DeviceStateRow,
    IncidentRow,
    OutageRow,
    OutboxRow,
    SiteRow,
)

if TYPE_CHECKING:
    from monitor.settings import Settings

INCIDENT_KINDS = frozenset({"alert", "update", "reminder", "escalation", "recovery"})
_STATUS_ORDER = {"down": 0, "unreachable": 1, "degraded": 2, "unknown": 3, "up": 4}


# ------------------------------------------------------------------------------------------------ metrics


def flat_metrics(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{check: {metric: value}}`` (or already flat) → ``{metric: value}``."""
    out: dict[str, Any] = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, Mapping):
            out.update(value)
        else:
            out[key] = value
    return out


def ups_reading(metrics: Mapping[str, Any] | None) -> tuple[bool | None, float | None, float | None]:
    """(on battery?, charge %, runtime seconds) from a UPS's metrics; None where unknown."""
    m = flat_metrics(metrics)
    on_battery: bool | None = None
    for key in ("ups.on_battery", "on_battery", "battery.on_battery"):
        if key in m:
            on_battery = bool(m[key])
    status = m.get("ups.status")
    if isinstance(status, str) and on_battery is None:
        on_battery = "OB" in status.replace(",", " ").split()
    elif isinstance(status, list | tuple) and on_battery is None:
        on_battery = "OB" in status
    source = m.get("output.source")
    if isinstance(source, str) and on_battery is None:
        on_battery = source.lower() == "battery"
    if m.get("upsOutputSource") is not None and on_battery is None:
        on_battery = str(m["upsOutputSource"]) == "5"

    def num(*keys: str) -> float | None:
        for k in keys:
            v = m.get(k)
            if isinstance(v, int | float) and not isinstance(v, bool):
                return float(v)
        return None

    return on_battery, num("battery.charge"), num("battery.runtime")


# ---------------------------------------------------------------------------------------------------- views


def _site(session: Session, settings: Settings, site_id: str) -> tuple[str, str]:
    """(name, timezone) of a site: from the config, else the ``sites`` row (a site removed since)."""
    try:
        site = settings.site(site_id)
        return site.name, site.timezone
    except KeyError:
        row = session.get(SiteRow, site_id)
        return (row.name, row.timezone) if row else (site_id, "Asia/Jakarta")


def _evidence(items: Iterable[Any], names: Mapping[str, str]) -> list[EvidenceLine]:
    out: dict[tuple[str, str | None, str], EvidenceLine] = {}
    for item in items:
        if not isinstance(item, Mapping) or "time" not in item or "kind" not in item:
            continue
        try:
            when = parse_time(str(item["time"]))
        except ValueError:
            continue
        device = item.get("device")
        key = (when.isoformat(), device, str(item["kind"]))
        values = item.get("values") if isinstance(item.get("values"), Mapping) else {}
        out.setdefault(key, EvidenceLine(when, names.get(str(device), str(device)) if device else None,
                                         str(item["kind"]), str(item.get("text", "")), dict(values or {}),
                                         str(item.get("source") or "")))
    return sorted(out.values(), key=lambda e: e.time)


def _device_lines(session: Session, outages: Sequence[OutageRow], devices: Mapping[int, DeviceRow],
                  evidence: Sequence[EvidenceLine]) -> tuple[list[DeviceLine], list[UpsLine]]:
    battery_evidence = {e.device_name for e in evidence if e.kind in ("on_battery", "transfer")}
    states = {s.device_id: s for s in session.scalars(
        select(DeviceStateRow).where(DeviceStateRow.device_id.in_([o.device_id for o in outages])))}
    lines: list[DeviceLine] = []
    ups: list[UpsLine] = []
    for o in outages:
        dev = devices.get(o.device_id)
        name = dev.name if dev else f"#{o.device_id}"
        on_battery = False
        if dev is not None and dev.kind == "ups":
            state = states.get(o.device_id)
            flag, charge, runtime = ups_reading(state.metrics if state else None)
            on_battery = bool(flag) if flag is not None else name in battery_evidence
            if o.ended_at is None and on_battery and (charge is not None or runtime is not None):
                ups.append(UpsLine(name, charge, runtime))
        lines.append(DeviceLine(name, o.status, o.started_at, o.ended_at, o.reason, on_battery and o.ended_at is None))
    lines.sort(key=lambda d: (d.ended_at is not None, _STATUS_ORDER.get(d.status, 9), d.since, d.name))
    return lines, ups


def _powering_ups(session: Session, settings: Settings, site_id: str, outages: Sequence[OutageRow],
                  devices: Mapping[int, DeviceRow], known: Sequence[UpsLine]) -> list[UpsLine]:
    """Batteries of the UPS that power the affected devices (``powered_by``) when they are on battery."""
    try:
        site = settings.site(site_id)
    except KeyError:
        return []
    keys = {devices[o.device_id].key for o in outages if o.device_id in devices and o.ended_at is None}
    ups_keys = {d.powered_by for d in site.devices if d.id in keys and d.powered_by}
    if not ups_keys:
        return []
    rows = {r.key: r for r in session.scalars(select(DeviceRow).where(DeviceRow.site_id == site_id,
                                                                      DeviceRow.key.in_(ups_keys)))}
    states = {s.device_id: s for s in session.scalars(
        select(DeviceStateRow).where(DeviceStateRow.device_id.in_([r.id for r in rows.values()])))}
    out: list[UpsLine] = []
    for key in sorted(ups_keys):
        row = rows.get(key)
        if row is None or any(u.name == row.name for u in known):
            continue
        state = states.get(row.id)
        flag, charge, runtime = ups_reading(state.metrics if state else None)
        if flag and (charge is not None or runtime is not None):
            out.append(UpsLine(row.name, charge, runtime))
    return out


def _names(session: Session, site_id: str) -> dict[str, str]:
    return {r.key: r.name for r in session.scalars(select(DeviceRow).where(DeviceRow.site_id == site_id))}


def incident_view(session: Session, settings: Settings, incident_id: int) -> IncidentView | None:
    """The incident with every outage in it, as a message view (None when it does not exist)."""
    inc = session.get(IncidentRow, incident_id)
    if inc is None:
        return None
    outages = list(session.scalars(select(OutageRow).where(OutageRow.incident_id == incident_id)
                                   .order_by(OutageRow.started_at, OutageRow.id)))
    devices = {d.id: d for d in session.scalars(select(DeviceRow).where(
        DeviceRow.id.in_([o.device_id for o in outages])))}
    names = _names(session, inc.site_id)
    evidence = _evidence([*inc.evidence, *(item for o in outages for item in o.evidence)], names)
    lines, ups = _device_lines(session, outages, devices, evidence)
    ups += _powering_ups(session, settings, inc.site_id, outages, devices, ups)
    site_name, zone = _site(session, settings, inc.site_id)
    note = None
    if inc.acknowledged_at is not None:
        first = session.scalars(select(AcknowledgementRow).where(AcknowledgementRow.incident_id == incident_id)
                                .order_by(AcknowledgementRow.time, AcknowledgementRow.id)).first()
        note = first.note if first else None
    return IncidentView(inc.id, site_name, zone, inc.cause, inc.started_at, tuple(lines), inc.ended_at,
                        inc.planned, tuple(evidence), tuple(ups), inc.acknowledged_by, inc.acknowledged_at, note)


def outage_view(session: Session, settings: Settings, outage_id: int) -> IncidentView | None:
    """A lone outage (no incident) shown like a one-device incident without an id."""
    o = session.get(OutageRow, outage_id)
    if o is None:
        return None
    dev = session.get(DeviceRow, o.device_id)
    if dev is None:
        return None
    names = _names(session, dev.site_id)
    evidence = _evidence(o.evidence, names)
    lines, ups = _device_lines(session, [o], {dev.id: dev}, evidence)
    ups += _powering_ups(session, settings, dev.site_id, [o], {dev.id: dev}, ups)
    site_name, zone = _site(session, settings, dev.site_id)
    return IncidentView(None, site_name, zone, o.cause, o.started_at, tuple(lines), o.ended_at, o.planned,
                        tuple(evidence), tuple(ups))


STATUS_WINDOW = timedelta(hours=24)


def status_figures(session: Session, settings: Settings, site_id: str, now: datetime) -> tuple[float | None, float]:
    """(availability ratio, seconds not monitored) of the site over the last 24 hours, from the coverage model
    (the bot runs inside the monitor: it is running now)."""
    parts = site_parts(session, settings, site_id, now - STATUS_WINDOW, now, running=True)
    missed = sum(parts.seconds(p) for p in (Part.NOT_RUNNING, Part.NOT_YET_MONITORED, Part.UNKNOWN))
    return parts.availability, missed


def open_incidents(session: Session, settings: Settings, site_ids: Iterable[str] | None = None,
                   ids: Iterable[int] | None = None) -> list[OpenIncident]:
    """Open incidents (of some sites, or with some ids), oldest first, with their open devices."""
    stmt = select(IncidentRow).where(IncidentRow.ended_at.is_(None))
    if site_ids is not None:
        stmt = stmt.where(IncidentRow.site_id.in_(list(site_ids)))
    if ids is not None:
        stmt = stmt.where(IncidentRow.id.in_(list(ids)))
    out: list[OpenIncident] = []
    for inc in session.scalars(stmt.order_by(IncidentRow.started_at, IncidentRow.id)):
        names = [d for (d,) in session.execute(
            select(DeviceRow.name).join(OutageRow, OutageRow.device_id == DeviceRow.id)
            .where(OutageRow.incident_id == inc.id, OutageRow.ended_at.is_(None)).order_by(DeviceRow.name))]
        out.append(OpenIncident(inc.id, _site(session, settings, inc.site_id)[0], inc.started_at, inc.cause,
                                tuple(names), inc.acknowledged_by))
    return out


def incident_group(session: Session, site_id: str, incident_id: int, audience: str, *, first: bool) -> str:
    """The group key for a new row about an incident: the group of a message about it that is still
    waiting (so they go out together); for a first alert, the waiting first-alert group of another incident
    at the same site (Alertmanager ``group_by: [site]``: a power cut noticed by two incidents seconds apart
    is one message); else a fresh key."""
    waiting = session.scalars(select(OutboxRow.group_key).where(
        OutboxRow.incident_id == incident_id, OutboxRow.audience == audience, OutboxRow.status == "pending",
        OutboxRow.kind.in_(INCIDENT_KINDS), OutboxRow.group_key.is_not(None)).limit(1)).first()
    if waiting:
        return waiting
    if first:
        sibling = session.scalars(select(OutboxRow.group_key).where(
            OutboxRow.site_id == site_id, OutboxRow.audience == audience, OutboxRow.status == "pending",
            OutboxRow.kind == "alert", OutboxRow.group_key.like("alert:%")).limit(1)).first()
        return sibling or f"alert:{site_id}:{audience}:{incident_id}"
    return f"inc:{incident_id}:{audience}"


def incident_devices(session: Session, incident_id: int, *, open_only: bool = True) -> list[int]:
    """devices.id of the incident's outages (the open ones, or all when it has none open)."""
    stmt = select(OutageRow.device_id).where(OutageRow.incident_id == incident_id)
    found = list(session.scalars(stmt.where(OutageRow.ended_at.is_(None)))) if open_only else []
    return sorted(set(found or session.scalars(stmt)))


# ------------------------------------------------------------------------------------------------ payloads


def _delivered(session: Session, incident_id: int | None, outage_id: int | None, audience: str,
               exclude: Iterable[int] = ()) -> bool:
    """Has any message about this incident (or lone outage) already reached ``audience``?"""
    stmt = select(OutboxRow.id, OutboxRow.payload).where(OutboxRow.audience == audience, OutboxRow.status == SENT,
                                                         OutboxRow.kind.in_(INCIDENT_KINDS))
    if incident_id is not None:
        stmt = stmt.where(OutboxRow.incident_id == incident_id)
    else:
        stmt = stmt.where(OutboxRow.group_key.like(f"out:{outage_id}:%"))
    skip = set(exclude)
    for row_id, payload in session.execute(stmt):
        if row_id in skip:
            continue
        ref = payload.get("refresh", {}) if isinstance(payload, dict) else {}
        if incident_id is not None or ref.get("outage_id") == outage_id:
            return True
    return False


def _mode(view: IncidentView, kinds: set[str], delivered: bool) -> messages.Mode:
    if view.ended_at is not None:
        return "recovery" if delivered else "short"
    if "escalation" in kinds:
        return "escalation"
    if not delivered:
        return "alert"
    if kinds == {"reminder"}:
        return "reminder"
    return "update"


def render_payload(view: IncidentView, mode: messages.Mode, *, lang: str, now: datetime, settings: Settings,
                   escalation: EscalationInfo | None = None, limit: int = messages.MESSAGE_LIMIT) -> dict[str, Any]:
    """Text and buttons for one incident in one mode (buttons while open and nobody acknowledged)."""
    text = messages.render_incident(view, mode, lang=lang, now=now, escalation=escalation, limit=limit)
    buttons: list[list[dict[str, str]]] = []
    if view.id is not None and view.ended_at is None and view.acknowledged_by is None and not view.planned:
        buttons = messages.incident_buttons(view.id, lang=lang, mute_for=settings.alerts.mute_default)
    silent = mode == "reminder" and view.acknowledged_by is not None
    return {"text": text, "parse_mode": "HTML", "buttons": buttons, "silent": silent}


def incident_payload(session: Session, settings: Settings, *, audience: str, kind: str, now: datetime,
                     lang: str, summary: str, incident_id: int | None = None, outage_id: int | None = None,
                     escalation: EscalationInfo | None = None, planned: bool = False) -> dict[str, Any]:
    """A payload for an incident row at enqueue time. ``refresh`` makes the dispatcher render it again from
    the database when it is sent; ``text`` is what it would say now (kept as the record and fallback)."""
    view = (incident_view(session, settings, incident_id) if incident_id is not None
            else outage_view(session, settings, outage_id) if outage_id is not None else None)
    refresh: dict[str, Any] = {"incident_id": incident_id} if incident_id is not None else {"outage_id": outage_id}
    if escalation is not None:
        refresh["escalation"] = {"audience": escalation.audience, "reason": escalation.reason,
                                 "attach_report": escalation.attach_report}
    if view is None:
        body: dict[str, Any] = {"text": summary, "parse_mode": "HTML", "buttons": []}
    else:
        mode = _mode(view, {kind}, kind not in ("alert", "escalation"))
        body = render_payload(view, mode, lang=lang, now=now, settings=settings, escalation=escalation)
    body.update(summary=summary, refresh=refresh, planned=planned or bool(view and view.planned))
    return body


class AlertComposer(PlainComposer):
    """The dispatcher's composer for alert rows (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.cfg = settings

    def compose(self, session: Session, rows: Sequence[OutboxRow], target: Target,
                now: datetime) -> dict[str, Any]:
        refreshable = [r for r in rows if isinstance(r.payload.get("refresh"), dict)]
        if not refreshable:
            if all(r.kind == "observation" for r in rows) and len(rows) > 1:
                return self._observations(session, rows, target, now)
            return super().compose(session, rows, target, now)
        # one block per incident (a group may merge incidents of one site that started together)
        blocks: dict[tuple[str, int | None], list[OutboxRow]] = {}
        for r in refreshable:
            ref = r.payload["refresh"]
            key = ("incident", ref.get("incident_id")) if ref.get("incident_id") is not None \
                else ("outage", ref.get("outage_id"))
            blocks.setdefault(key, []).append(r)
        limit = messages.MESSAGE_LIMIT // max(1, len(blocks)) - 2
        texts: list[str] = []
        buttons: list[list[dict[str, str]]] = []
        silent = True
        member_ids = [r.id for r in rows]
        for (what, ident), members in blocks.items():
            view = (incident_view(session, self.cfg, ident) if what == "incident" and ident is not None
                    else outage_view(session, self.cfg, ident) if ident is not None else None)
            if view is None:
                texts.extend(r.payload.get("text", "") for r in members)
                silent = False
                continue
            kinds = {r.kind for r in members}
            delivered = _delivered(session, ident if what == "incident" else None,
                                   ident if what == "outage" else None, target.audience, member_ids)
            mode = _mode(view, kinds, delivered)
            esc = None
            if mode == "escalation":
                raw = next(r.payload["refresh"].get("escalation") for r in members if r.kind == "escalation")
                esc = EscalationInfo(**raw) if isinstance(raw, dict) else None
            body = render_payload(view, mode, lang=target.language, now=now, settings=self.cfg, escalation=esc,
                                  limit=limit if len(blocks) > 1 else messages.MESSAGE_LIMIT)
            texts.append(body["text"])
            if body["buttons"] and len(blocks) > 1 and view.id is not None:
                # several incidents in one message: label each button row with its incident
                body["buttons"] = [[{**b, "text": f"{b['text']} #{view.id}"} for b in row] for row in body["buttons"]]
            buttons.extend(body["buttons"])
            silent = silent and bool(body["silent"])
        others = [r for r in rows if r not in refreshable]
        texts.extend(r.payload.get("text", "") for r in others)
        return {"text": messages.clip("\n\n".join(t for t in texts if t), lang=target.language), "parse_mode": "HTML",
                "buttons": buttons[:8], "silent": silent}

    def _observations(self, session: Session, rows: Sequence[OutboxRow], target: Target,
                      now: datetime) -> dict[str, Any]:
        items: list[EvidenceLine] = []
        for r in rows:
            for raw in r.payload.get("items", []):
                try:
                    items.append(EvidenceLine(parse_time(raw["time"]), raw.get("device_name"), raw["kind"],
                                              raw.get("text", ""), raw.get("values") or {}))
                except (KeyError, ValueError, TypeError):
                    continue
        site_id = rows[0].site_id
        site_name, zone = ("", "Asia/Jakarta")
        if site_id:
            site_name, zone = _site(session, self.cfg, site_id)
        text = messages.render_observation(site_name=site_name, zone=zone, now=now, lang=target.language,
                                           items=sorted(items, key=lambda e: e.time))
        return {"text": text, "parse_mode": "HTML", "buttons": [], "silent": False}

    def digest(self, session: Session, rows: Sequence[OutboxRow], target: Target,
               now: datetime) -> list[dict[str, Any]]:
        items = [messages.DigestItem(r.event_time, summary_of(r)) for r in rows]
        zone = "Asia/Jakarta"
        sites = [r.site_id for r in rows if r.site_id]
        if sites:
            try:
                zone = self.cfg.site(sites[0]).timezone
            except KeyError:
                pass
        incident_ids = {r.incident_id for r in rows if r.incident_id is not None}
        still_open = open_incidents(session, self.cfg, ids=incident_ids) if incident_ids else []
        parts = messages.render_digest(items, zone=zone, now=now, lang=target.language, open_incidents=still_open)
        buttons = [[{"text": messages.phrase(target.language, "btn.ack_n", id=o.id), "data": f"ack:{o.id}"}]
                   for o in still_open if o.acknowledged_by is None][:5]
        out = [{"text": p, "parse_mode": "HTML", "buttons": [], "silent": False} for p in parts]
        out[-1]["buttons"] = buttons
        return out
