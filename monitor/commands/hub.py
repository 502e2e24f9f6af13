"""``ektp-monitor hub ...``: the national hub (``-c HUB.yaml``) and an office's link to it (``-c FILE``).

Hub side (HUB.yaml, default ``$EKTP_HUB_CONFIG``)::

    hub serve -c HUB.yaml                       the ingest (and, later, the board and national report)
    hub db upgrade|current|downgrade -c HUB.yaml
    hub outages -c HUB.yaml [--open] [--since DATE] [--office ID] [--site CODE] [--json]
    hub token new --office ID [-c HUB.yaml]     a new office token, printed once, and the HUB.yaml line
    hub report -c HUB.yaml ...                  the national weekly report (issue 15, part B)

Office side (the office's config, default ``$EKTP_MONITOR_CONFIG``)::

    hub status -c FILE [--json]                 backlog, last acknowledged seq, last contact, last error
    hub resync -c FILE                          send the whole record again at the next start

``hub outages --json`` prints one object per line: the fields of ``outages --json`` plus ``office`` and
``site_code``. Read-only commands never create a database; output to a closed pipe ends quietly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import make_url

from monitor.domain import Slug
from monitor.errors import NotReadyError, StorageError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from monitor.hub.config import HubConfig
    from monitor.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _print_lines(lines: Iterable[str]) -> int:
    """Print; a reader that went away (``| head``) ends the command quietly."""
    try:
        for line in lines:
            print(line)
        sys.stdout.flush()
    except BrokenPipeError:
        import os
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def _usage(message: str) -> int:
    print(f"ektp-monitor hub: {message}", file=sys.stderr)
    return EXIT_USAGE


# ------------------------------------------------------------------------------------------ hub side


def _hub(args: argparse.Namespace) -> tuple[HubConfig, Engine]:
    from monitor.hub import db as hubdb
    from monitor.hub.config import load_hub_config
    config = load_hub_config(args.config)
    return config, hubdb.engine_for(config)


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from monitor.hub.config import load_hub_config
    from monitor.hub.serve import HubServer
    from monitor.logs import setup_logging
    config = load_hub_config(args.config)
    secrets = [s.get_secret_value() for s in (config.database.password, config.ministry.telegram.bot_token) if s]
    setup_logging(config.log_level, secrets)
    return asyncio.run(HubServer(config, config_path=args.config).run())


def _db(args: argparse.Namespace) -> int:
    from monitor.hub import db as hubdb
    config, engine = _hub(args)
    where = engine.url.render_as_string(hide_password=True)
    try:
        if args.db_command == "upgrade":
            before, after = hubdb.upgrade(engine, config.database.ingest_role, args.revision)
            print(f"hub database already at {after} ({where})" if before == after
                  else f"hub database upgraded {before or 'empty'} -> {after} ({where})")
        elif args.db_command == "downgrade":
            before, down_to = hubdb.downgrade(engine, args.revision)
            print(f"hub database downgraded {before} -> {down_to or 'empty'}")
        else:
            current, head = hubdb.current_revision(engine), hubdb.head_revision()
            state = "up to date" if current == head else f"code expects {head}: run ektp-monitor hub db upgrade"
            print(f"{current or 'empty'} ({state})")
    finally:
        engine.dispose()
    return EXIT_OK


def _since(value: str) -> datetime:
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo("Asia/Jakarta")).astimezone(UTC)
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {value!r}: use a date like 2026-11-23 (WIB midnight) or an ISO time") from None
    return (t if t.tzinfo else t.replace(tzinfo=ZoneInfo("Asia/Jakarta"))).astimezone(UTC)


def _outages(args: argparse.Namespace) -> int:
    from monitor.areas import check_code
    from monitor.hub import db as hubdb
    from monitor.hub.dump import outages
    try:
        since = _since(args.since) if args.since else None
        site = check_code(args.site) if args.site else None
    except ValueError as exc:
        return _usage(str(exc))
    _config, engine = _hub(args)
    try:
        hubdb.require_current_schema(engine, args.config)
        with engine.connect() as conn:
            rows = outages(conn, open_only=args.open, since=since, office=args.office, site_code=site,
                           now=datetime.now(UTC))
    finally:
        engine.dispose()
    if args.json:
        return _print_lines(json.dumps(r, ensure_ascii=False) for r in rows)
    if not rows:
        return _print_lines(["no outages" + (" open" if args.open else "")])
    from monitor.domain import format_duration
    head = ("OFFICE", "SITE", "DEVICE", "START", "END", "DURATION", "STATUS", "CAUSE")
    table = [(r["office"], r["site_code"], r["device"], r["start_local"], r["end_local"] or "-",
              format_duration(timedelta(seconds=r["duration_s"])) + (" (open)" if r["open"] else ""),
              r["status"], r["cause"]) for r in rows]
    widths = [max(len(h), *(len(str(x[i])) for x in table)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return _print_lines(fmt.format(*x).rstrip() for x in [head, *table])


def _token(args: argparse.Namespace) -> int:
    from monitor.hub.config import load_hub_config
    from monitor.hub.tokens import hash_token, new_token
    try:
        office = TypeAdapter(Slug).validate_python(args.office)
    except ValidationError as exc:
        return _usage(f"--office {args.office!r}: {exc.errors(include_url=False)[0]['msg']}")
    known = None
    if args.config:
        config = load_hub_config(args.config)
        known = next((o for o in config.offices if o.id == office), None)
    token = new_token()
    digest = hash_token(token)
    lines = [f"New token for office {office!r}. It is shown only now: give it to the office, which keeps it in",
             "the file its config names in hub.token_file (chmod 600). The hub keeps only its hash.", "",
             f"  {token}", ""]
    if known is not None:
        lines += [f"Add the hash to the office's tokens in {args.config} (offices[id={office}].tokens), then",
                  "reload the hub (SIGHUP); move an old hash to revoked_tokens to revoke it:", "",
                  f'      - "{digest}"']
    else:
        lines += ["Add the office to HUB.yaml (its sites are Kemendagri codes), then reload the hub (SIGHUP):", "",
                  f"  - id: {office}", '    name: "…"', '    sites: ["…"]', f'    tokens: ["{digest}"]']
    return _print_lines(lines)


# ------------------------------------------------------------------------------------------ office side


def _office_db(args: argparse.Namespace) -> tuple[Settings, Engine]:
    from monitor.app import load_config, open_database
    settings = load_config(args.config)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise StorageError(f"no database at {url.database}; run: ektp-monitor db upgrade -c {args.config}",
                           permanent=True)
    return settings, open_database(settings)


def _status(args: argparse.Namespace) -> int:
    from monitor.clock import format_local
    from monitor.daemon.shipper import link_info, target_of
    from monitor.storage import Database
    from monitor.storage.db import require_current_schema
    settings, engine = _office_db(args)
    db = Database(engine)
    try:
        require_current_schema(engine, args.config)
        info = db.call(link_info, "reading the hub link")
    finally:
        db.close()
    now = datetime.now(UTC)
    if args.json:
        data = info.as_json(now)
        data["configured"] = settings.hub is not None
        return _print_lines([json.dumps(data, ensure_ascii=False)])
    zone = settings.sites[0].timezone

    def when(t: datetime | None) -> str:
        return "never" if t is None else format_local(t, zone, "%d-%m-%Y %H:%M:%S")
    age = info.oldest_age_s(now)
    hub = f"{settings.hub.url} as {settings.hub.office_id}" if settings.hub else "not configured"
    error = f"{info.last_error} ({when(info.last_error_at)})" if info.last_error else "none"
    lines = [f"hub:            {hub}",
             f"backlog:        {info.backlog_records} record(s)"
             + (f", oldest waiting {timedelta(seconds=round(age))}" if age is not None else ""),
             f"acknowledged:   seq {info.acked_seq} (last written {info.last_seq})",
             f"last contact:   {when(info.last_contact_at)}",
             f"last error:     {error}"]
    if settings.hub is not None and info.target not in (None, target_of(settings)):
        lines.append("note:           the hub or a site code changed: the next start sends the whole record again")
    if info.answers_unconfirmed:
        lines.append(f"answers:        {info.answers_unconfirmed} Ministry answer(s) not yet confirmed to the hub")
    return _print_lines(lines)


def _resync(args: argparse.Namespace) -> int:
    from monitor.daemon.shipper import resync
    from monitor.storage import Database
    from monitor.storage.db import require_current_schema
    _settings, engine = _office_db(args)
    db = Database(engine)
    try:
        require_current_schema(engine, args.config)
        db.call(lambda s: resync(s, datetime.now(UTC)), "marking a resync")
    finally:
        db.close()
    print("the next start of ektp-monitor run sends the whole record to the hub again")
    return EXIT_OK


def main(args: argparse.Namespace) -> int:
    command = args.hub_command
    if command == "report":
        raise NotReadyError("the national weekly report comes with the hub's reporting (issue 15, part B)")
    handlers = {"serve": _serve, "db": _db, "outages": _outages, "token": _token, "status": _status,
                "resync": _resync}
    return handlers[command](args)
