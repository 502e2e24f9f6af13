"""The ``ektp-monitor`` command line (stable: scripts and docs rely on these names).

::

    ektp-monitor demo [--out DIR] [--speed N] [--keep-running]
    ektp-monitor run -c FILE
    ektp-monitor check -c FILE [--device ID] [--json]
    ektp-monitor discover -c FILE [--device ID] [--json]
    ektp-monitor config validate FILE | show FILE | schema
    ektp-monitor db upgrade -c FILE | downgrade -c FILE REV | current -c FILE
    ektp-monitor outages -c FILE [--open] [--since DATE] [--json]
    ektp-monitor report -c FILE [--site ID] [--week 2026-W47 | --from D --to D] [--format pdf,html,csv]
                        [--out DIR] [--send]
    ektp-monitor status -c FILE [--json]          the daemon's health; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
    ektp-monitor maintenance add -c FILE TARGET --duration D --reason TEXT [--start WHEN]
    ektp-monitor maintenance list -c FILE [--site ID] [--all] [--json] | end -c FILE ID
    ektp-monitor ack -c FILE INCIDENT [--note TEXT]
    ektp-monitor mute -c FILE DEVICE DURATION [--reason TEXT] | unmute -c FILE DEVICE
    ektp-monitor hub serve|db|outages|token|report -c HUB.yaml     the national hub
    ektp-monitor hub status|resync -c FILE                           this office's link to it

``-c`` may also come from ``EKTP_MONITOR_CONFIG``. Conventions every command keeps:

* exit codes: 0 success; 1 the command ran and failed; 2 bad config or usage (an unknown option, a malformed
  date, an unknown site or device — nothing is done); 3 not available in this version. ``check`` follows the
  Nagios plugin convention instead (0 all up, 1 something degraded, 2 something down or unreachable, 3 it
  could not run or decide; bad config and usage errors 2 as everywhere);
* a closed stdout (``… | head``) ends the command quietly (exit 141, as for SIGPIPE), never a traceback;
* commands that only read (``outages``, ``report``, ``db current``) never create a database: a missing one is
  a clear message saying to run ``db upgrade``.

Each command lives in ``monitor/commands/<name>.py`` with a ``main(args) -> int``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.errors import ConfigError, MonitorError, NotReadyError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_NOT_READY = 0, 1, 2, 3
EXIT_USAGE = EXIT_CONFIG
EXIT_PIPE = 141            # 128 + SIGPIPE: what a shell reports for a writer whose reader went away


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", default=os.environ.get("EKTP_MONITOR_CONFIG"),
                   help="config file (default: $EKTP_MONITOR_CONFIG)")


def _hub_config_arg(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    default = os.environ.get("EKTP_HUB_CONFIG")
    p.add_argument("-c", "--config", default=default if required else (default or ""),
                   help="the hub's HUB.yaml (default: $EKTP_HUB_CONFIG)")


def _hub_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("hub", help="the national hub (-c HUB.yaml), and this office's link to it (-c FILE)")
    hsub = p.add_subparsers(dest="hub_command", metavar="ACTION", required=True)
    q = hsub.add_parser("serve", help="run the hub: the ingest over HTTPS")
    _hub_config_arg(q)
    q = hsub.add_parser("db", help="the hub's database schema")
    dsub = q.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    r = dsub.add_parser("upgrade", help="apply the hub's migrations and grant the ingest role")
    _hub_config_arg(r)
    r.add_argument("--revision", default="head")
    r = dsub.add_parser("downgrade", help="revert the hub's migrations to REVISION")
    _hub_config_arg(r)
    r.add_argument("revision")
    r = dsub.add_parser("current", help="print the hub's schema revision")
    _hub_config_arg(r)
    q = hsub.add_parser("outages", help="every office's outages")
    _hub_config_arg(q)
    q.add_argument("--open", action="store_true", help="only outages still open")
    q.add_argument("--since", metavar="DATE", help="started at or after DATE (YYYY-MM-DD in WIB, or ISO time)")
    q.add_argument("--office", metavar="ID")
    q.add_argument("--site", metavar="CODE", help="a Kemendagri code: that area and everything inside it")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q = hsub.add_parser("report", help="the national weekly report (not in this version)")
    _hub_config_arg(q)
    q = hsub.add_parser("token", help="office tokens")
    tsub = q.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    r = tsub.add_parser("new", help="make a token for an office: printed once, with the line for HUB.yaml")
    r.add_argument("--office", required=True, metavar="ID")
    _hub_config_arg(r, required=False)
    q = hsub.add_parser("status", help="this office's link: backlog, last acknowledged seq, last contact, error")
    _config_arg(q)
    q.add_argument("--json", action="store_true")
    q = hsub.add_parser("resync", help="this office: send the whole record to the hub again at the next start")
    _config_arg(q)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ektp-monitor",
        description="Health monitor for e-KTP recording server rooms: servers, UPS, surge protection, "
                    "network and the central link; outages with causes; Telegram alerts; weekly reports.")
    parser.add_argument("--version", action="version", version=f"ektp-monitor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="self-contained simulated office through a lightning storm (loopback only)")
    p.add_argument("--out", default=None,
                   help="new or empty folder for the database, reports and logs (default: ./demo-out/<time>)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="shorten the story's pauses and the demo's cause windows by this factor (default 1)")
    p.add_argument("--keep-running", action="store_true", help="keep the monitor and simulators running at the end")
    p.add_argument("--plain", action="store_true", help="plain text output (no colours / progress line)")

    p = sub.add_parser("run", help="the monitor daemon")
    _config_arg(p)

    p = sub.add_parser("check", help="one round of every check, now; results printed")
    _config_arg(p)
    p.add_argument("--device", action="append", default=[], metavar="ID",
                   help="only this device (ID or SITE/ID); repeatable")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser("discover", help="probe configured devices: what they are, which profiles read them, and the "
                                        "config lines that pin the choice")
    _config_arg(p)
    p.add_argument("--device", action="append", default=[], metavar="ID",
                   help="only this device (ID or SITE/ID); repeatable")
    p.add_argument("--json", action="store_true", help="one JSON object per device")

    p = sub.add_parser("config", help="validate, show or describe the config")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    q = csub.add_parser("validate", help="exit 0, or print every error with file:line and key path (exit 2)")
    q.add_argument("file")
    q = csub.add_parser("show", help="print the effective config with secrets redacted")
    q.add_argument("file")
    q.add_argument("--json", action="store_true")
    csub.add_parser("schema", help="print the JSON Schema of the config (for editor completion)")

    p = sub.add_parser("db", help="database schema")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    q = dsub.add_parser("upgrade", help="apply migrations")
    _config_arg(q)
    q.add_argument("--revision", default="head")
    q = dsub.add_parser("downgrade", help="revert migrations to REVISION (e.g. base)")
    _config_arg(q)
    q.add_argument("revision")
    q = dsub.add_parser("current", help="print the schema revision")
    _config_arg(q)

    p = sub.add_parser("outages", help="list recorded outages")
    _config_arg(p)
    p.add_argument("--open", action="store_true", help="only outages still open")
    p.add_argument("--since", metavar="DATE", help="started at or after DATE (YYYY-MM-DD, site-local)")
    p.add_argument("--site", metavar="ID")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser("report", help="build (and send) the weekly downtime report")
    _config_arg(p)
    p.add_argument("--site", metavar="ID", action="append", default=[])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W47 (default: last week)")
    g.add_argument("--from", dest="date_from", metavar="DATE")
    p.add_argument("--to", dest="date_to", metavar="DATE")
    p.add_argument("--incident", type=int, metavar="ID", help="escalation report for one incident")
    p.add_argument("--format", default=None, help="comma list of pdf,html,csv (default from config)")
    p.add_argument("--out", default=None, help="output folder (default reports.out_dir)")
    p.add_argument("--send", action="store_true", help="also send through the outbox to the audiences")
    p.add_argument("--language", choices=["id", "en"], default=None)

    p = sub.add_parser("status", help="the daemon's own health (Nagios exit codes: 0 OK, 1 WARNING, 2 CRITICAL, "
                                      "3 UNKNOWN); reads only")
    _config_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON object")
    _operator_parsers(sub)
    _hub_parser(sub)
    return parser


def _operator_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """maintenance, ack, mute, unmute: the command-line twins of the Telegram buttons and commands."""
    target_help = "device, site/device or site/* (the whole site)"
    p = sub.add_parser("maintenance", help="ad-hoc maintenance windows: add, list, end")
    msub = p.add_subparsers(dest="maintenance_command", metavar="ACTION", required=True)
    q = msub.add_parser("add", help="a window: outages starting in it are planned, their alerts held")
    _config_arg(q)
    q.add_argument("target", metavar="TARGET", help=target_help)
    q.add_argument("--duration", required=True, help="30m, 2h, 1d (at most 7 days)")
    q.add_argument("--reason", required=True, help="why (shown in the reports)")
    q.add_argument("--start", default="now", help="now (default), 22:00, '2026-12-05 22:00' (site time) or ISO")
    q = msub.add_parser("list", help="windows and mutes in force or to come (and the config's in force now)")
    _config_arg(q)
    q.add_argument("--site", metavar="ID")
    q.add_argument("--all", action="store_true", help="every window ever set, ended and cancelled too")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q = msub.add_parser("end", help="end a window (or mute) now, or cancel one not begun")
    _config_arg(q)
    q.add_argument("id", metavar="ID")

    p = sub.add_parser("ack", help="acknowledge an incident (\"I'm on it\"), as the Telegram button does")
    _config_arg(p)
    p.add_argument("incident", metavar="INCIDENT", help="incident number (see `outages`)")
    p.add_argument("--note", default=None)

    p = sub.add_parser("mute", help="hold the alerts about a device (or site) for a while, as /mute does")
    _config_arg(p)
    p.add_argument("device", metavar="DEVICE", help=target_help)
    p.add_argument("duration", metavar="DURATION", help="30m, 2h, 1d (at most 7 days)")
    p.add_argument("--reason", default=None)

    p = sub.add_parser("unmute", help="end the mutes of a device (or site), as /unmute does")
    _config_arg(p)
    p.add_argument("device", metavar="DEVICE", help=target_help)


_COMMANDS = {"demo": "demo", "run": "run", "check": "check", "discover": "discover", "config": "config", "db": "db",
             "outages": "outages", "report": "report", "status": "status", "maintenance": "maintenance",
             "ack": "ack", "mute": "mute", "unmute": "mute", "hub": "hub"}


def _quiet_stdout() -> None:
    """After a closed stdout: point it at /dev/null so the interpreter's last flush cannot fail loudly."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config", "unset") is None:
        if args.command == "hub" and args.hub_command not in ("status", "resync"):
            parser.error("hub: give the hub's config with -c HUB.yaml or EKTP_HUB_CONFIG")
        parser.error(f"{args.command}: give the config file with -c FILE or EKTP_MONITOR_CONFIG")
    module = importlib.import_module(f"monitor.commands.{_COMMANDS[args.command]}")
    try:
        code: int = module.main(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_CONFIG
    except UsageError as exc:
        print(f"ektp-monitor {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotReadyError as exc:
        print(f"ektp-monitor {args.command}: {exc}", file=sys.stderr)
        return EXIT_NOT_READY
    except MonitorError as exc:
        print(f"ektp-monitor {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
