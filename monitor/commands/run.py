"""``ektp-monitor run -c FILE``: the monitor daemon.

Refuses a database whose schema is not the code's (with the command that fixes it), logs one line per
device state change (logger ``monitor.state``), reloads the config on SIGHUP (keeping the running one
when the new file is invalid) and stops cleanly on SIGTERM/SIGINT. The wiring is in
:func:`build_daemon`: the checks and the trap receiver from :mod:`monitor.app`, plus any ``extra``
components (alert router/dispatcher, Telegram bot, weekly report job) that start after the core and
stop before it.

Also built here: ``/metrics`` for Prometheus when ``metrics.listen`` is set (:mod:`monitor.daemon.metrics`)
and, under systemd (``$NOTIFY_SOCKET``), readiness, status and the watchdog (:mod:`monitor.daemon.notify`),
started last so ``READY=1`` means every part runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor import app
from monitor.clock import Clock, StepWatch, SystemClock
from monitor.daemon.core import CheckBuilder, Daemon, TrapCallback
from monitor.domain import Check, DeviceRef
from monitor.lifecycle import Component
from monitor.logs import setup_logging
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage.db import require_current_schema

log = logging.getLogger("monitor.run")


class _Checks:
    """Builds the checks for a config; the shared resources (SNMP engine, ICMP mode, profiles) are
    kept across reloads unless what they depend on changed, and closed after the daemon stopped."""

    def __init__(self) -> None:
        self.resources: Any = None
        self._key: tuple[Any, ...] | None = None
        self._retired: list[Any] = []

    def __call__(self, settings: Settings) -> Mapping[tuple[DeviceRef, str], Check]:
        key = (settings.profile_dirs, settings.monitor.concurrency, str(settings.base_dir),
               settings.monitor.snmp_backend)
        if self.resources is None or key != self._key:
            if self.resources is not None:
                self._retired.append(self.resources)  # running checks may still use it: closed at the end
            self.resources, self._key = app.build_check_resources(settings), key
        return app.build_checks(settings, self.resources)

    async def close(self) -> None:
        for res in [*self._retired, self.resources]:
            if res is not None:
                await res.close()
        self._retired, self.resources = [], None


def _trap_receiver(settings: Settings, on_event: TrapCallback) -> Component | None:
    if not settings.traps.enabled:
        return None
    receiver: Component = app.build_trap_receiver(settings, on_event)
    return receiver


def build_daemon(settings: Settings, db: Database, *, config_path: str, extra: Sequence[Component] = (),
                 on_reload: Callable[[Settings], None] | None = None,
                 build_checks: CheckBuilder | None = None, clock: Clock | None = None,
                 steps: StepWatch | None = None) -> Daemon:
    """The daemon for ``settings`` with the real checks and trap receiver (composition root)."""
    checks = _Checks()
    return Daemon(settings, db, build_checks=build_checks or checks, loader=app.load_config,
                  config_path=config_path, trap_receiver=_trap_receiver, extra=extra, on_reload=on_reload,
                  cleanup=[checks.close], clock=clock, steps=steps)


class _ExtraComponents:
    """The parts that start after the core and stop before it: the alert router, dispatcher, escalation
    tick and Telegram bot (when ``telegram.enabled``), the report service behind them (escalation PDFs,
    ``/laporan``), the weekly report job and the hub shipper (when ``hub:`` is set). Built here because
    only the composition root may know both ``alerts`` and ``monitor.reports``."""

    def __init__(self, settings: Settings, db: Database, clock: Clock,
                 jumps: Callable[[], Sequence[float]] = lambda: (),
                 daemon: Callable[[], Daemon | None] = lambda: None, steps: StepWatch | None = None) -> None:
        from alerts.selfwarn import SelfWarnings
        from alerts.service import build_alert_components
        from alerts.telegram import TelegramNotifier
        from monitor.commands.report import outbox_deliver
        from monitor.daemon.deadman import DeadMansSwitch, TimeReference
        from monitor.daemon.metrics import MetricsServer
        from monitor.daemon.notify import SystemdNotifier
        from monitor.daemon.shipper import shipper_for
        from monitor.reports.job import WeeklyReportJob
        from monitor.reports.runner import ReportService

        self.reports = ReportService(settings, db, clock)
        self.weekly = WeeklyReportJob(settings, db, clock)
        self.notifier: TelegramNotifier | None = None
        self.components: list[Component] = []
        if settings.telegram.enabled:
            self.notifier = TelegramNotifier.from_settings(settings)
            self.weekly.deliver = outbox_deliver(lambda: self.weekly.settings, db, clock)
            self.components = build_alert_components(settings, db, clock, self.notifier,
                                                     escalation_report=self.reports.escalation_report,
                                                     report_now=self.reports.report_now, steps=steps)
        self.components.append(self.weekly)
        # the monitor watching itself (issue 9): its own warnings, the dead man's switch, a clock reference
        self.selfwarn = SelfWarnings(settings, db, clock, self.notifier, jumps=jumps)
        self.components.append(self.selfwarn)
        self.components.append(DeadMansSwitch(settings.monitor.heartbeat_url, settings.monitor.heartbeat_url_interval,
                                              clock, healthy=lambda: self.selfwarn.database_writable,
                                              on_reading=self.selfwarn.clock_reading))
        if settings.telegram.enabled:
            self.components.append(TimeReference(settings.telegram.api_base_url, clock,
                                                 on_reading=self.selfwarn.clock_reading))
        # the national hub (issue 15): the feed leaves the office only when hub: is configured
        shipper = shipper_for(settings, db, clock)
        if shipper is not None:
            self.components.append(shipper)
        self.components.append(MetricsServer(_daemon_view(daemon, settings, lambda: self.selfwarn.database_writable),
                                              db))
        self.components.append(SystemdNotifier(lambda: _status_line(daemon())))

    async def reload(self, settings: Settings) -> None:
        # the components reload themselves (they are Reloadable); the report service is not a component
        await self.reports.reload(settings)

    async def close(self) -> None:
        if self.notifier is not None:
            await self.notifier.close()


def _daemon_view(daemon: Callable[[], Daemon | None], settings: Settings,
                 writable: Callable[[], bool]) -> Any:
    """What ``/metrics`` reads from the running daemon (built before it: hence the indirection)."""
    import time

    from monitor.daemon.metrics import DaemonView

    def current_settings() -> Settings:
        d = daemon()
        return d.settings if d is not None else settings

    def world() -> Any:
        d = daemon()
        return d.pipeline.world if d is not None and d.pipeline is not None else None

    def kinds() -> dict[DeviceRef, str]:
        d = daemon()
        if d is None or d.pipeline is None:
            return {}
        return {ref: str(p.kind.value if hasattr(p.kind, "value") else p.kind)
                for ref, p in d.pipeline.policy.devices.items()}

    def last_runs() -> Any:
        d = daemon()
        return d.last_runs if d is not None else {}

    return DaemonView(settings=current_settings, world=world, kinds=kinds, last_runs=last_runs,
                      database_writable=writable, started=time.time())


def _status_line(daemon: Daemon | None) -> str:
    """systemd's STATUS= line: how many devices are in which state."""
    if daemon is None or daemon.pipeline is None:
        return "starting"
    counts: dict[str, int] = {}
    for state in daemon.pipeline.world.devices.values():
        counts[state.status.value] = counts.get(state.status.value, 0) + 1
    total = len(daemon.pipeline.policy.devices)
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda x: -x[1]))
    return f"watching {total} devices" + (f": {parts}" if parts else "")


def main(args: argparse.Namespace) -> int:
    settings = app.load_config(args.config)
    redaction = setup_logging(settings.monitor.log_level, settings.secrets)
    for warning in app.config_warnings(settings):
        log.warning("%s", warning)
    engine = app.open_database(settings)
    db = Database(engine)
    try:
        require_current_schema(engine, args.config)

        def reloaded(new: Settings) -> None:
            redaction.secrets = frozenset(new.secrets)
            logging.getLogger().setLevel(new.monitor.log_level)

        return asyncio.run(_serve(settings, db, args.config, reloaded))
    finally:
        db.close()


async def _serve(settings: Settings, db: Database, config_path: str, reloaded: Callable[[Settings], None]) -> int:
    holder: list[Daemon] = []
    clock = SystemClock()
    steps = StepWatch(clock)     # one for the process: the daemon corrects the record, the alerts wait for it
    extra = _ExtraComponents(settings, db, clock, steps=steps,
                             jumps=lambda: [s.size_s for s in steps.steps if s.stepped],
                             daemon=lambda: holder[0] if holder else None)
    pending: set[asyncio.Task[None]] = set()

    def on_reload(new: Settings) -> None:
        reloaded(new)
        task = asyncio.get_running_loop().create_task(extra.reload(new))
        pending.add(task)
        task.add_done_callback(pending.discard)

    daemon = build_daemon(settings, db, config_path=config_path, extra=extra.components, on_reload=on_reload,
                          clock=clock, steps=steps)
    holder.append(daemon)
    try:
        return await daemon.run()
    finally:
        await extra.close()
