"""``ektp-monitor outages -c FILE [--open] [--since DATE] [--site ID] [--json]``: the outage record.

With ``--json``, one object per line (times ISO 8601 UTC ending in ``Z``)::

    {"id": 7, "site": "mura", "device": "rec-srv-1", "device_name": "Server Perekaman e-KTP",
     "kind": "recording_server", "start": "2026-11-28T08:01:00Z", "end": "2026-11-28T08:31:30Z",
     "duration_s": 1830.0, "open": false, "status": "down", "cause": "power", "evidence": [...],
     "reason": "ping: timeout", "planned": false, "incident": 3, "confirmed_at": "...",
     "gaps": [...], "gap_s": 0.0, "timeline": [{"at": ..., "status": ...}],
     "start_local": "28-11-2026 15:01:00 WIB", "end_local": "..."}

``status`` is the worst status of the outage; ``duration_s`` of an open outage runs to now; ``gap_s``
is the part of it when the monitor itself was not running (not monitored, listed in ``gaps``).
Without ``--json`` a table, with times in each site's zone and its WIB/WITA/WIT label.
``--since DATE`` (YYYY-MM-DD) is midnight of that day in each site's own zone.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from monitor.app import load_config, open_database
from monitor.clock import format_local, utc
from monitor.daemon.recorder import gap_seconds
from monitor.domain import format_duration, jsonable
from monitor.storage import Database
from monitor.storage.db import require_current_schema
from monitor.storage.models import DeviceRow, OutageRow, SiteRow

EXIT_USAGE = 2


def parse_since(value: str) -> date | datetime:
    """``YYYY-MM-DD`` (site-local midnight) or a full ISO datetime (with or without offset)."""
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {value!r}: use a date like 2026-11-23 (or 2026-11-23T08:00+07:00)") from None


def _since_utc(since: date | datetime, zone: str) -> datetime:
    if isinstance(since, datetime):
        return utc(since.replace(tzinfo=ZoneInfo(zone)) if since.tzinfo is None else since)
    return utc(datetime(since.year, since.month, since.day, tzinfo=ZoneInfo(zone)))


def fetch(db: Database, *, open_only: bool = False, since: date | datetime | None = None, site: str | None = None,
          now: datetime | None = None) -> list[dict[str, Any]]:
    """The outages as JSON-able dicts, oldest first (the ``--json`` records)."""
    now = now or datetime.now(UTC)

    def q(session: Any) -> list[dict[str, Any]]:
        zones = {s.id: s.timezone for s in session.scalars(select(SiteRow))}
        stmt = (select(OutageRow, DeviceRow).join(DeviceRow, DeviceRow.id == OutageRow.device_id)
                .order_by(OutageRow.started_at, OutageRow.id))
        if open_only:
            stmt = stmt.where(OutageRow.ended_at.is_(None))
        if site:
            stmt = stmt.where(DeviceRow.site_id == site)
        if since is not None:  # coarse bound in SQL (widest zone offset), exact per site below
            stmt = stmt.where(OutageRow.started_at >= _since_utc(since, "UTC") - timedelta(hours=14))
        out = []
        for o, d in session.execute(stmt).all():
            zone = zones.get(d.site_id, "UTC")
            if since is not None and o.started_at < _since_utc(since, zone):
                continue
            end = o.ended_at
            duration = ((end or now) - o.started_at).total_seconds()
            out.append({
                "id": o.id, "site": d.site_id, "device": d.key, "device_name": d.name, "kind": d.kind,
                "start": jsonable(o.started_at), "end": jsonable(end) if end else None,
                "duration_s": round(max(duration, 0.0), 3), "open": end is None, "status": o.status,
                "cause": o.cause, "evidence": list(o.evidence or []), "reason": o.reason, "planned": o.planned,
                "incident": o.incident_id, "confirmed_at": jsonable(o.confirmed_at) if o.confirmed_at else None,
                "gaps": list(o.gaps or []), "gap_s": gap_seconds(o.gaps or []), "timeline": list(o.timeline or []),
                "start_local": format_local(o.started_at, zone, "%d-%m-%Y %H:%M:%S"),
                "end_local": format_local(end, zone, "%d-%m-%Y %H:%M:%S") if end else None,
                "zone": zone})
        return out

    return db.call(q, "reading outages")


NOTE_WIDTH = 80


def clip_words(text: str, width: int = NOTE_WIDTH) -> str:
    """``text`` cut at a word boundary to at most ``width`` characters, with an ellipsis when cut."""
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    if " " in cut and not text[width - 1].isspace():
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ;,") + "…"


def _table(rows: list[dict[str, Any]]) -> str:
    headers = ("ID", "SITE", "DEVICE", "START", "END", "DURATION", "STATUS", "CAUSE", "NOTE")
    lines = []
    for r in rows:
        dur = format_duration(timedelta(seconds=r["duration_s"]))
        notes = []
        if r["open"]:
            dur += " (open)"
        if r["planned"]:
            notes.append("planned")
        if r["gap_s"]:
            notes.append(f"not monitored {format_duration(timedelta(seconds=r['gap_s']))}")
        if r["reason"]:
            notes.append(r["reason"])
        lines.append((str(r["id"]), r["site"], r["device"], r["start_local"], r["end_local"] or "-", dur,
                       r["status"], r["cause"], clip_words("; ".join(notes))))
    widths = [max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*x).rstrip() for x in [headers, *lines])


def main(args: argparse.Namespace) -> int:
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as exc:
        print(f"ektp-monitor outages: {exc}", file=sys.stderr)
        return EXIT_USAGE
    settings = load_config(args.config)
    if args.site:
        try:
            settings.site(args.site)
        except KeyError:
            known = ", ".join(s.id for s in settings.sites)
            print(f"ektp-monitor outages: no site {args.site!r} in {args.config} (known: {known})", file=sys.stderr)
            return EXIT_USAGE
    engine = open_database(settings, create=False)
    db = Database(engine)
    try:
        require_current_schema(engine, args.config)
        rows = fetch(db, open_only=args.open, since=since, site=args.site)
    finally:
        db.close()
    if args.json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False, sort_keys=False))
    elif rows:
        print(_table(rows))
    else:
        print("no outages" + (" open" if args.open else "") + (f" since {args.since}" if args.since else ""))
    return 0
