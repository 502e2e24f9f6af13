"""One readable line per ``events`` row the daemon wrote (pure: payload in, text out).

The payload fields are the engine → alerts contract of :mod:`monitor.events`; a field that is missing is
left out of the line rather than failing, so a newer daemon never breaks the demo's narration.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from monitor.domain import format_duration

__all__ = ["describe_event"]


def _dur(seconds: Any) -> str:
    try:
        return format_duration(timedelta(seconds=float(seconds)))
    except (TypeError, ValueError):
        return "?"


def _name(p: Mapping[str, Any], device: str | None) -> str:
    name = p.get("device_name") or device or p.get("device") or "?"
    return f"{name} ({device or p.get('device')})" if device or p.get("device") else str(name)


def describe_event(kind: str, payload: Mapping[str, Any], device: str | None) -> str | None:
    """The line for one event, or None for events not worth a line in the demo."""
    p = payload
    if kind == "observation":
        source = p.get("source") or "poll"
        return f"noted: {_name(p, device)} — {p.get('text', p.get('kind', '?'))} [{source}]"
    if kind == "outage_opened":
        reason = f" — {p['reason']}" if p.get("reason") else ""
        return (f"OUTAGE opened: {_name(p, device)} is {str(p.get('status', '?')).upper()}, "
                f"cause {p.get('cause', '?')}{reason}")
    if kind == "outage_changed":
        change = p.get("change")
        if change == "cause" or (p.get("previous_cause") and p.get("previous_cause") != p.get("cause")):
            return f"outage of {_name(p, device)}: cause {p.get('previous_cause', '?')} → {p.get('cause', '?')}"
        extra = " (a parent is down: unreachable, not down itself)" if p.get("status") == "unreachable" else ""
        return (f"outage of {_name(p, device)}: {p.get('previous_status', '?')} → {p.get('status', '?')}"
                f", cause {p.get('cause', '?')}{extra}")
    if kind == "outage_closed":
        gap = float(p.get("gap_s") or 0)
        gap_text = f", of which {_dur(gap)} not monitored (monitor gap)" if gap > 0 else ""
        return (f"outage closed: {_name(p, device)} recovered after {_dur(p.get('duration_s'))} "
                f"(worst {p.get('status', '?')}, cause {p.get('cause', '?')}{gap_text})")
    if kind == "incident_opened":
        return f"INCIDENT #{p.get('incident_id', '?')} opened — cause {p.get('cause', '?')}"
    if kind == "incident_changed":
        parts = []
        if p.get("previous_cause") and p.get("previous_cause") != p.get("cause"):
            parts.append(f"cause {p['previous_cause']} → {p.get('cause')}")
        if p.get("joined"):
            parts.append(f"{p['joined']} joined")
        if not parts:
            return None
        return f"incident #{p.get('incident_id', '?')}: " + ", ".join(parts)
    if kind == "incident_closed":
        devices = ", ".join(str(d) for d in p.get("devices") or [])
        return (f"INCIDENT #{p.get('incident_id', '?')} closed after {_dur(p.get('duration_s'))} — cause "
                f"{p.get('cause', '?')} ({devices})")
    if kind == "monitor_gap":
        return (f"MONITOR GAP recorded: {_dur(p.get('duration_s'))} when the monitor was not running "
                f"({p.get('reason', '?')}) — reported as not-monitored time, never as up")
    if kind == "monitor_started":
        return f"monitor started (pid {p.get('pid', '?')}, version {p.get('version', '?')})"
    if kind == "flapping_started":
        return f"{_name(p, device)} is flapping ({p.get('changes', '?')} changes)"
    if kind == "flapping_stopped":
        return f"{_name(p, device)} stopped flapping"
    return f"{kind}: {dict(p)}"
