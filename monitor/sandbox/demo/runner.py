"""``ektp-monitor demo``: set up the simulated office, run the real monitor through the storm, verify, clean up.

Order: the output folder; the simulators (free ports, chosen now); ``ektp-monitor db upgrade`` and
``ektp-monitor run -c config/demo.yaml`` with the ports in EKTP_DEMO_* variables; the storyline; the reports;
a clean stop of the monitor (SIGTERM, exit 0 expected); the verdict; the files and commands to look further.

Every process it started (the snmpsim agents, the Bot API server, the monitor, a running ``report``) is
stopped by its own PID on the way out — also on Ctrl-C (SIGINT), SIGTERM and errors. ``--keep-running`` leaves
everything running after the verdict, prints how to poke it, and stops it all on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from monitor.errors import ConfigError
from monitor.sandbox import SandboxError
from monitor.sandbox.demo.monitorproc import MonitorProcess
from monitor.sandbox.demo.office import Office
from monitor.sandbox.demo.scenario import Demo, DemoFailed, reports, show_record, storyline
from monitor.sandbox.demo.timeline import Timeline
from monitor.sandbox.demo.verify import Outcome, verify
from monitor.sandbox.demo.watch import Chat, Record
from monitor.settings import load_settings

__all__ = ["DemoOptions", "default_config", "run_demo"]

SITE_ID = "demo"
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


@dataclass(frozen=True)
class DemoOptions:
    out: Path | None = None
    speed: float = 1.0
    keep_running: bool = False
    plain: bool = False
    config: Path | None = None


def default_config() -> Path:
    """``config/demo.yaml`` of the source tree this package runs from, else the one an installed wheel put under
    ``<prefix>/share/ektp-monitor/config`` (with the ``demo`` extra for snmpsim), else the current directory's."""
    import sysconfig

    here = Path(__file__).resolve().parents[3] / "config" / "demo.yaml"
    if here.exists():
        return here
    installed = Path(sysconfig.get_path("data")) / "share" / "ektp-monitor" / "config" / "demo.yaml"
    if installed.exists():
        return installed
    return (Path.cwd() / "config" / "demo.yaml").resolve()


def fresh_out_dir(base: Path | None) -> Path:
    """``base`` (created, must be empty or new), or ``./demo-out/<timestamp>``."""
    if base is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path.cwd() / "demo-out" / stamp
        n = 1
        while base.exists():
            n += 1
            base = Path.cwd() / "demo-out" / f"{stamp}-{n}"
    base = base.resolve()
    if base.exists() and any(base.iterdir()):
        raise SandboxError(f"--out {base} is not empty: give a new or empty folder")
    base.mkdir(parents=True, exist_ok=True)
    return base


def timing_env(speed: float) -> dict[str, str]:
    """The cause windows of ``config/demo.yaml`` for ``--speed``: shorter with speed, but never so short that the
    storm (about 10-25 s from the strike to the router's failure) would fall apart into several incidents."""
    def seconds(base: float, floor: float) -> str:
        return f"{max(floor, base / speed):g}s"

    return {"EKTP_DEMO_LIGHTNING_WINDOW": seconds(60, 30), "EKTP_DEMO_INCIDENT_WINDOW": seconds(60, 30),
            "EKTP_DEMO_POWER_WINDOW": seconds(20, 10)}


class _Stop(Exception):
    """SIGTERM arrived: unwind like Ctrl-C."""


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Stop()

    previous = signal.signal(signal.SIGTERM, handler)
    # Ctrl-C must clean up even when the demo was started with SIGINT ignored (a background job of a script)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def run_demo(options: DemoOptions) -> int:
    """The whole demo; the exit code (0 only when every expectation held)."""
    if options.speed <= 0:
        print("ektp-monitor demo: --speed must be positive", file=sys.stderr)
        return 2
    config = (options.config or default_config()).resolve()
    if not config.exists():
        print(f"ektp-monitor demo: {config} not found: run it from the source tree (scripts/demo)", file=sys.stderr)
        return 2
    try:
        out = fresh_out_dir(options.out)
        timing = timing_env(options.speed)
        settings = load_settings(config, environ={**os.environ, **timing, "EKTP_DEMO_DIR": str(out)})
        site = settings.site(SITE_ID)
        office = Office(settings, SITE_ID, out / "agents")
    except (SandboxError, ConfigError, OSError, KeyError) as exc:
        print(f"ektp-monitor demo: {exc}", file=sys.stderr)
        return 2
    tl = Timeline(site.timezone, plain=options.plain)
    monitor: MonitorProcess | None = None
    demo: Demo | None = None
    started = time.monotonic()
    code = EXIT_FAILED
    with _sigterm_unwinds():
        try:
            tl.banner([f"ektp-monitor demo — {site.name}",
                       "A lightning storm at a regency office, told through the real monitor, on loopback only.",
                       f"Times are {tl.label} (site-local). Output folder: {out}",
                       f"Speed ×{options.speed:g}. Ctrl-C stops it and cleans up."])
            tl.chapter("0", "Setting up the simulated office",
                       "Real SNMP recordings (LibreNMS) served by snmpsim, one device per loopback address; "
                       "free ports chosen now.")
            office.start()
            env = {**office.env(out), **timing}
            _print_office(tl, office)
            monitor = MonitorProcess(config, env, out / "monitor.log")
            tl.sim("$ " + monitor.command_line("db", "upgrade"))
            monitor.upgrade()
            tl.sim("$ " + monitor.command_line("run") + f"   (log: {out / 'monitor.log'})")
            monitor.start()
            assert office.bot is not None
            demo = Demo(settings, SITE_ID, office, monitor, Record(out / "demo.db"), Chat(office.bot.control), tl,
                        speed=options.speed)
            storyline(demo)
            files = reports(demo, out / "reports")
            show_record(demo)
            exit_code: int | None = None
            if not options.keep_running:
                tl.chapter("14", "The monitor stops", "A clean stop (SIGTERM), as systemd does.")
                exit_code = monitor.stop()
                demo.monitor_should_run = False
                tl.monitor(f"ektp-monitor run exited with code {exit_code}")
            outcomes = verify(demo.record, list(demo.chat.refresh()), demo.chat_of, demo.facts, files, exit_code,
                              expect_clean_stop=not options.keep_running)
            outcomes += [Outcome(f"step: {m}", False, "did not happen in time") for m in demo.missed]
            ok = all(o.ok for o in outcomes)
            _write_results(out, demo, outcomes, files, office, time.monotonic() - started)
            _print_verdict(tl, outcomes, time.monotonic() - started)
            _print_where(tl, out, files, monitor, demo)
            code = EXIT_OK if ok else EXIT_FAILED
            if options.keep_running:
                _keep_running(tl, office, monitor, env, demo)
        except DemoFailed as exc:
            tl.line("fail", f"the demo could not go on: {exc}")
            if demo is not None:
                _write_results(out, demo, [Outcome(str(exc).split("\n")[0], False, str(exc))], {}, office,
                               time.monotonic() - started)
            tl.plain_line(f"\nLook at {out / 'monitor.log'} and {out / 'agents'} for the details.")
            code = EXIT_FAILED
        except (KeyboardInterrupt, _Stop):
            tl.plain_line("")
            tl.note("interrupted: stopping everything the demo started")
            code = EXIT_INTERRUPTED if not (options.keep_running and code == EXIT_OK) else EXIT_OK
        except SandboxError as exc:
            tl.line("fail", f"the simulated office could not run: {exc}")
            code = EXIT_FAILED
        except Exception as exc:  # a bug or an unexpected failure: say so, keep the details, still clean up
            (out / "demo-error.txt").write_text(traceback.format_exc(), encoding="utf-8")
            tl.line("fail", f"the demo failed unexpectedly: {exc!r} (details in {out / 'demo-error.txt'})")
            code = EXIT_FAILED
        finally:
            with _ignore_signals():
                stopped = _cleanup(office, monitor)
            tl.note(f"stopped {len(stopped)} process(es) the demo started: "
                    + ", ".join(f"{name} (pid {pid})" for name, pid in stopped.items()))
    return code


@contextlib.contextmanager
def _ignore_signals() -> Iterator[None]:
    """While cleaning up, a second Ctrl-C must not leave processes behind."""
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def _cleanup(office: Office, monitor: MonitorProcess | None) -> dict[str, int]:
    stopped: dict[str, int] = {}
    if monitor is not None and monitor.alive() and monitor.pid is not None:
        stopped["ektp-monitor run"] = monitor.pid
        monitor.stop(timeout=20)
    stopped.update(office.pids())
    office.stop()
    return stopped


def _print_office(tl: Timeline, office: Office) -> None:
    assert office.bot is not None
    for device, agent in office.agents.items():
        if agent is not None:
            tl.sim(f"snmpsim {device:<10} {agent.host}:{agent.port} (pid {agent.pid})")
    tl.sim(f"recording service      {office.service.host}:{office.service.port} (TCP)")
    tl.sim(f"central data center    {office.upstream.host}:{office.upstream.port} (TCP, behind the router)")
    tl.sim(f"Telegram Bot API       {office.bot.url} (pid {office.bot.proc.pid}; control {office.bot.control_url})")
    tl.sim(f"trap receiver of the monitor: 127.0.0.1:{office.trap_port}")


def _write_results(out: Path, demo: Demo, outcomes: Sequence[Outcome], files: Mapping[str, Sequence[Path]],
                   office: Office, seconds: float) -> None:
    """``telegram-messages.json`` (every message as the Bot API server recorded it) and ``demo-result.json``."""
    try:
        messages = demo.chat.refresh()
    except OSError:
        messages = list(demo.chat.messages.values())
    chats = {v: k.value for k, v in demo.chat_of.items()}
    (out / "telegram-messages.json").write_text(json.dumps(
        [{**m.to_json(), "audience": chats.get(m.chat_id)} for m in sorted(messages, key=lambda m: (m.date,
                                                                                                  m.message_id))],
        ensure_ascii=False, indent=1), encoding="utf-8")
    facts: dict[str, Any] = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in demo.facts.items()}
    result = {"ok": all(o.ok for o in outcomes), "seconds": round(seconds, 1), "speed": demo.speed,
              "outcomes": [o.to_json() for o in outcomes], "facts": facts,
              "files": {k: [str(p) for p in v] for k, v in files.items()},
              "database": str(out / "demo.db"), "monitor_log": str(out / "monitor.log"),
              "ports": {"snmp": office.snmp_port, "traps": office.trap_port,
                        "telegram": office.bot.port if office.bot else None,
                        "service": office.service.port, "upstream": office.upstream.port}}
    (out / "demo-result.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


def _print_verdict(tl: Timeline, outcomes: Sequence[Outcome], seconds: float) -> None:
    ok = all(o.ok for o in outcomes)
    tl.chapter("✓" if ok else "✗", "What the demo expected, checked against the record and the chats")
    for o in outcomes:
        tl.result(o.ok, f"{o.name} — {o.detail}")
    missing = [o.name for o in outcomes if not o.ok]
    tl.plain_line("")
    if ok:
        tl.result(True, f"everything happened, in {seconds:.0f} s")
    else:
        tl.result(False, f"{len(missing)} expectation(s) not met: " + "; ".join(missing))


def _print_where(tl: Timeline, out: Path, files: Mapping[str, Sequence[Path]], monitor: MonitorProcess,
                 demo: Demo) -> None:
    tl.plain_line("")
    tl.plain_line("Where things are:")
    for name, paths in files.items():
        for p in paths:
            tl.plain_line(f"  {name + ' report':<18} {p}")
    tl.plain_line(f"  {'SQLite database':<18} {out / 'demo.db'}")
    tl.plain_line(f"  {'Telegram messages':<18} {out / 'telegram-messages.json'}")
    tl.plain_line(f"  {'monitor log':<18} {out / 'monitor.log'}")
    tl.plain_line(f"  {'verdict':<18} {out / 'demo-result.json'}")
    prefix = f"EKTP_DEMO_DIR={out}"
    tl.plain_line("")
    tl.plain_line("Look further (the same commands an office uses):")
    tl.plain_line(f"  {prefix} {monitor.command_line('outages')}")
    tl.plain_line(f"  {prefix} {monitor.command_line('outages', '--json')}")
    incident = demo.facts.get("storm_incident")
    if incident is not None:
        inc_args = ("report", "--incident", str(incident), "--out", str(out / "reports"))
        tl.plain_line(f"  {prefix} {monitor.command_line(*inc_args)}")
    week_args = ("report", "--from", _today(demo), "--format", "pdf,html,csv", "--out", str(out / "reports"))
    tl.plain_line(f"  {prefix} {monitor.command_line(*week_args)}")
    tl.plain_line(f"  sqlite3 {out / 'demo.db'} 'SELECT id, cause, started_at, ended_at, acknowledged_by "
                  "FROM incidents'")

def _today(demo: Demo) -> str:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(demo.settings.site(demo.site_id).timezone)).date().isoformat()


def _keep_running(tl: Timeline, office: Office, monitor: MonitorProcess, env: Mapping[str, str],
                  demo: Demo) -> None:
    """Leave everything running; keep narrating what the monitor records and sends until Ctrl-C."""
    assert office.bot is not None
    tl.chapter("…", "Still running (--keep-running): poke it, then Ctrl-C to stop everything")
    tl.plain_line(f"  monitor pid {monitor.pid}, log {monitor.log}")
    tl.plain_line(f"  SNMP agents on port {office.snmp_port}: "
                  + ", ".join(f"{d} {a}" for d, a in office.addresses.items() if d in office.agents))
    tl.plain_line(f"  traps to 127.0.0.1:{office.trap_port} (community demo-traps); Bot API {office.bot.url}")
    tl.plain_line("  export " + " ".join(f"{k}={v}" for k, v in env.items() if k != "EKTP_DEMO_BOT_TOKEN"))
    for cmd in office.poke_commands(env):
        tl.plain_line(f"  {cmd}")
    tl.plain_line("")
    while monitor.alive():
        demo.tick()
        tl.status("running; Ctrl-C stops everything")
        time.sleep(0.5)
    tl.note(f"the monitor exited ({monitor.returncode})")
