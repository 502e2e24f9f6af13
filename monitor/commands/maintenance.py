"""``ektp-monitor maintenance add|list|end``: ad-hoc maintenance windows from the server console.

::

    ektp-monitor maintenance add -c FILE TARGET --duration 2h --reason TEXT [--start WHEN]
    ektp-monitor maintenance list -c FILE [--site ID] [--all] [--json]
    ektp-monitor maintenance end -c FILE ID

``TARGET`` is ``device``, ``site/device`` or ``site/*`` (the whole site), as in Telegram's ``/mute``.
An outage that *starts* inside a window is recorded as planned (cause ``maintenance``; reports count the
time as maintenance, not as downtime) and its alerts are held; one still open when the window ends is
unplanned again (:mod:`monitor.engine.maintenance`). ``--start`` (default now) is the site's local time
(``2026-12-05 22:00``, or ``22:00`` for the next such time) or an ISO time with an offset; it may not lie in
the past (that would rewrite what was recorded) nor more than 90 days ahead. A window lasts at most 7 days:
longer or recurring ones belong in the config (``sites[].maintenance``). Who may and what is recorded:
:mod:`monitor.commands.operator`.

``list`` shows the ad-hoc windows and mutes that are in force or still to come (``--all``: every one ever
set) and the config windows in force now; with ``--json`` one object per line::

    {"id": 7, "source": "adhoc", "kind": "maintenance", "site": "mura", "device": "rec-srv-1",
     "device_name": "Server Perekaman 1", "start": "2026-12-05T15:00:00Z", "end": "2026-12-05T17:00:00Z",
     "start_local": "05-12-2026 22:00 WIB", "end_local": "06-12-2026 00:00 WIB", "reason": "ganti RAM",
     "by": "cli:budi", "created_at": "...", "cancelled_at": null, "state": "upcoming"}

``state`` is ``active``, ``upcoming``, ``ended`` or ``cancelled``; config windows have ``"source":
"config:<id>"`` and ``id`` null. ``end ID`` ends a window (or mute) now, or cancels one not begun.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from alerts import messages, mutes
from monitor.app import load_config, open_database
from monitor.clock import format_local, utc
from monitor.commands.operator import explain, open_for_writing, operator_name, tell_it_staff, usage_error
from monitor.commands.status import _missing_database
from monitor.domain import jsonable
from monitor.engine.maintenance import Calendar
from monitor.errors import MonitorError
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage.db import require_current_schema
from monitor.storage.models import DeviceRow, MaintenanceRow

log = logging.getLogger("monitor.operator")
MAX_AHEAD = timedelta(days=90)
LOCAL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def parse_start(text: str, zone: str, now: datetime) -> datetime:
    """``now``, ``HH:MM`` (the next such local time), a local ``YYYY-MM-DD HH:MM`` or an ISO time with an
    offset; ValueError with the accepted forms."""
    text = text.strip()
    if text.lower() == "now":
        return now
    tz = ZoneInfo(zone)
    if len(text) == 5 and text[2] == ":" and text.replace(":", "").isdigit():
        local_now = now.astimezone(tz)
        hour, minute = int(text[:2]), int(text[3:])
        if hour > 23 or minute > 59:
            raise ValueError(f"--start {text!r}: not a time of day")
        candidate = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if candidate <= local_now:
            candidate += timedelta(days=1)
        return utc(candidate)
    for fmt in LOCAL_FORMATS:
        try:
            return utc(datetime.strptime(text, fmt).replace(tzinfo=tz))
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--start {text!r}: use now, 22:00, 2026-12-05 22:00 (site time) or an ISO time with "
                         f"an offset") from None
    return utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=tz))


# ------------------------------------------------------------------------------------------------- add


def _add(args: argparse.Namespace, settings: Settings) -> int:
    who, now = operator_name(), datetime.now(UTC)
    try:
        duration = mutes.window_duration(args.duration)
    except mutes.TargetError as exc:
        return usage_error("maintenance add", explain(exc))
    reason = (args.reason or "").strip()
    if not reason:
        return usage_error("maintenance add", "--reason is required (it goes into the reports)")
    db = open_for_writing(settings, args.config)
    try:
        with db.transaction("adding a maintenance window") as session:
            try:
                target = mutes.resolve_target(session, settings, [s.id for s in settings.sites], args.target)
            except mutes.TargetError as exc:
                return usage_error("maintenance add", explain(exc))
            site = settings.site(target.site_id)
            try:
                start = parse_start(args.start, site.timezone, now)
            except ValueError as exc:
                return usage_error("maintenance add", str(exc))
            if start < now - timedelta(minutes=1):
                return usage_error("maintenance add", f"--start {args.start!r} is in the past: a window cannot "
                                                      "change what was already recorded")
            if start > now + MAX_AHEAD:
                return usage_error("maintenance add", "--start is more than 90 days ahead")
            start = max(start, now)
            row = mutes.add_window(session, kind="maintenance", site_id=target.site_id, device_id=target.device_id,
                                   starts_at=start, ends_at=start + duration, reason=reason, by=who, now=now)

            def what(lang: str) -> str:
                return target.device_name or messages.phrase(lang, "bot.whole_site", site=site.name)

            tell_it_staff(session, settings, site_id=target.site_id, key=f"maintenance:{row.id}", now=now,
                          phrase="op.maintenance_added", what=what, by=who, reason=reason,
                          start=lambda lg: messages.format_time(row.starts_at, site.timezone, now, lg),
                          end=lambda lg: messages.format_time(row.ends_at, site.timezone, now, lg))
            message = (f"maintenance #{row.id}: {what('en')} from {format_local(row.starts_at, site.timezone)} to "
                       f"{format_local(row.ends_at, site.timezone)}: {reason}")
    finally:
        db.close()
    log.info("%s: %s", who, message)
    print(message)
    return 0


# ------------------------------------------------------------------------------------------------- end


def _end(args: argparse.Namespace, settings: Settings) -> int:
    who, now = operator_name(), datetime.now(UTC)
    number = str(args.id).lstrip("#")
    if not number.isdigit() or len(number) > 18:
        return usage_error("maintenance end", f"ID must be a window number from `maintenance list`, not {args.id!r}")
    db = open_for_writing(settings, args.config)
    try:
        with db.transaction("ending a maintenance window") as session:
            try:
                row = mutes.end_window(session, int(number), now)
            except mutes.TargetError as exc:
                return usage_error("maintenance end", explain(exc))
            dev = session.get(DeviceRow, row.device_id) if row.device_id is not None else None
            site_name = settings.site(row.site_id).name if row.site_id in [s.id for s in settings.sites] \
                else row.site_id

            def what(lang: str) -> str:
                return dev.name if dev is not None else messages.phrase(lang, "bot.whole_site", site=site_name)

            tell_it_staff(session, settings, site_id=row.site_id, key=f"maintenance-end:{row.id}", now=now,
                          phrase="op.maintenance_ended", id=row.id, what=what, by=who)
            verb = "cancelled" if row.starts_at > now else "ended"
            message = f"{row.kind} #{row.id} ({what('en')}) {verb}"
    finally:
        db.close()
    log.info("%s: %s", who, message)
    print(message)
    return 0


# ------------------------------------------------------------------------------------------------ list


def _state(row: MaintenanceRow, now: datetime) -> str:
    if row.cancelled_at is not None and row.cancelled_at < row.ends_at:
        return "cancelled" if row.cancelled_at <= row.starts_at else "ended"
    if row.ends_at <= now:
        return "ended"
    return "active" if row.starts_at <= now else "upcoming"


def fetch(db: Database, settings: Settings, now: datetime, *, site: str | None = None,
          everything: bool = False) -> list[dict[str, Any]]:
    """The ``--json`` records: ad-hoc windows and mutes, then the config windows in force now."""
    zones = {s.id: s.timezone for s in settings.sites}

    def q(session: Any) -> list[dict[str, Any]]:
        stmt = select(MaintenanceRow, DeviceRow).outerjoin(DeviceRow, DeviceRow.id == MaintenanceRow.device_id)
        if not everything:
            stmt = stmt.where(MaintenanceRow.ends_at > now, or_(MaintenanceRow.cancelled_at.is_(None),
                                                                MaintenanceRow.cancelled_at > now))
        if site:
            stmt = stmt.where(MaintenanceRow.site_id == site)
        out = []
        for row, dev in session.execute(stmt.order_by(MaintenanceRow.starts_at, MaintenanceRow.id)):
            zone = zones.get(row.site_id, "UTC")
            out.append({"id": row.id, "source": "adhoc", "kind": row.kind, "site": row.site_id,
                        "device": dev.key if dev else None, "device_name": dev.name if dev else None,
                        "start": jsonable(row.starts_at), "end": jsonable(row.ends_at),
                        "start_local": format_local(row.starts_at, zone), "end_local": format_local(row.ends_at, zone),
                        "reason": row.reason, "by": row.created_by, "created_at": jsonable(row.created_at),
                        "cancelled_at": jsonable(row.cancelled_at) if row.cancelled_at else None,
                        "state": _state(row, now)})
        return out

    rows = db.call(q, "reading maintenance windows")
    calendar = Calendar(settings)
    for s in settings.sites:
        if site and s.id != site:
            continue
        seen: set[str] = set()
        for dev_key in ["", *(d.id for d in s.devices)]:
            for w in calendar.active(s.id, dev_key, now):
                if w.source in seen:
                    continue
                seen.add(w.source)
                rows.append({"id": None, "source": w.source, "kind": "maintenance", "site": s.id,
                             "device": ",".join(sorted(w.devices)) or None, "device_name": None,
                             "start": jsonable(w.starts_at), "end": jsonable(w.ends_at),
                             "start_local": format_local(w.starts_at, s.timezone),
                             "end_local": format_local(w.ends_at, s.timezone), "reason": w.reason, "by": "config",
                             "created_at": None, "cancelled_at": None, "state": "active"})
    return rows


def _list(args: argparse.Namespace, settings: Settings) -> int:
    if args.site and args.site not in [s.id for s in settings.sites]:
        return usage_error("maintenance list", f"no site {args.site!r} in {args.config} "
                                               f"(known: {', '.join(s.id for s in settings.sites)})")
    missing = _missing_database(settings)
    if missing:
        raise MonitorError(missing)
    engine = open_database(settings)
    db = Database(engine)
    try:
        require_current_schema(engine, args.config)
        rows = fetch(db, settings, datetime.now(UTC), site=args.site, everything=args.all)
    finally:
        db.close()
    if args.json:
        for r in rows:
            print(json.dumps(r, ensure_ascii=False))
        return 0
    if not rows:
        print("no maintenance windows or mutes" + ("" if args.all else " in force or to come"))
        return 0
    headers = ("ID", "KIND", "SITE", "DEVICE", "START", "END", "STATE", "BY", "REASON")
    lines = [(str(r["id"] or r["source"]), r["kind"], r["site"], r["device"] or "*", r["start_local"],
              r["end_local"], r["state"], r["by"], r["reason"][:60]) for r in rows]
    widths = [max(len(h), *(len(x[i]) for x in lines)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print("\n".join(fmt.format(*x).rstrip() for x in [headers, *lines]))
    return 0


def main(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    action = {"add": _add, "list": _list, "end": _end}[args.maintenance_command]
    code = action(args, settings)
    sys.stdout.flush()
    return code
