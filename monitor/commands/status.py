"""``ektp-monitor status -c FILE [--json]``: the daemon's own health, for systemd, cron or a Nagios check.

Reads the record only (never creates or changes a database): last heartbeat, devices whose checks are
late, the outbox backlog, whether the database can be written, and the hub link when the office ships to
a hub — thresholds in :mod:`monitor.daemon.health`. Exit codes are the Nagios plugin states: **0** OK,
**1** WARNING, **2** CRITICAL, **3** UNKNOWN (the config cannot be read, so nothing can be said).

Text output is a Nagios plugin line (``EKTP-MONITOR OK - heartbeat: … | heartbeat=4 checks=0 outbox=0``)
followed by one line per finding. ``--json`` prints one object::

    {"state": "warning", "code": 1, "checked_at": "2026-12-04T08:00:00Z", "config": "/etc/ektp-monitor/config.yaml",
     "version": "0.1.0", "pid": 1234, "heartbeat": "2026-12-04T07:59:58Z",
     "findings": [{"name": "heartbeat", "state": "ok", "code": 0, "detail": "...", "value": 2.1}, ...]}
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from monitor.app import load_config, open_database
from monitor.daemon.health import Finding, State, evaluate, overall, read_health, summary
from monitor.domain import jsonable
from monitor.errors import ConfigError, MonitorError
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage.db import require_current_schema


def _missing_database(settings: Settings) -> str | None:
    """Why the database cannot be read without creating it (a SQLite file that does not exist), or None."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    if not path.exists():
        return f"no database at {path}: run `ektp-monitor db upgrade -c FILE` (and start the daemon)"
    return None


def _findings(args: argparse.Namespace, now: datetime) -> tuple[list[Finding], dict[str, Any]]:
    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid config"
        return [Finding("config", State.UNKNOWN, first)], {}
    missing = _missing_database(settings)
    if missing:
        return [Finding("database", State.CRITICAL, missing)], {}
    engine = open_database(settings)
    db = Database(engine)
    try:
        require_current_schema(engine, args.config)
        figures = db.call(lambda s: read_health(s, settings, now), "reading the monitor's health")
    except MonitorError as exc:
        return [Finding("database", State.CRITICAL, str(exc).splitlines()[0])], {}
    finally:
        db.close()
    extra = {"version": figures.version, "pid": figures.pid,
             "heartbeat": jsonable(figures.heartbeat) if figures.heartbeat else None,
             "started": jsonable(figures.started) if figures.started else None}
    return evaluate(figures, settings, now), extra


def main(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    findings, extra = _findings(args, now)
    state = overall(findings)
    if args.json:
        print(json.dumps({"state": state.name.lower(), "code": int(state), "checked_at": jsonable(now),
                          "config": str(args.config), **extra, "findings": [f.json() for f in findings]},
                         ensure_ascii=False))
    else:
        print(summary(findings))
        for f in findings:
            print(f"  {f.state.name:<8} {f.name}: {f.detail}")
    sys.stdout.flush()
    return int(state)
