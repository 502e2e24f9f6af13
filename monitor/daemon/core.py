"""The monitor daemon: wires the core parts and runs them until SIGTERM/SIGINT.

Core components, started in this order and stopped in reverse:

1. :class:`~monitor.daemon.pipeline.Pipeline` — the one path from results and traps to the database (it also
   applies wall-clock steps, in order with the record: :mod:`monitor.daemon.clocksteps`);
2. :class:`~monitor.daemon.clocksteps.ClockWatch` — reads the clocks every second, so a step is applied and
   the schedule re-planned promptly even when nothing else happens; and
   :class:`~monitor.daemon.selfwatch.SelfWatch` — the heartbeat;
3. housekeeping — re-infers open outages' causes as time passes, rolls samples up and prunes them;
4. the trap receiver (built by the composition root; its callback is the pipeline's ``submit_trap``);
5. :class:`~monitor.daemon.scheduler.CheckScheduler` — the checks, whose results go to the pipeline.

Before any of them starts, the inventory is synced, the engine state is loaded from the database
(device states, counters, open outages) and the gap since the last run is recorded. Extra components
from the composition root (alert router and outbox dispatcher, Telegram bot, weekly report job) start
after the core and stop before it, so they never see a half-started record.

**SIGHUP** reloads the config file: the new config is validated (and its checks built) first; if that
fails the daemon keeps running on the old config and logs why. Otherwise the inventory, engine policy,
recorder, schedule, trap receiver and every :class:`~monitor.lifecycle.Reloadable` extra switch over —
engine state and open outages carry on.

``cleanup`` callbacks (e.g. closing the shared SNMP engine of the checks) run after everything stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import __version__
from monitor.clock import Clock, ClockStep, StepWatch, SystemClock, utc
from monitor.daemon.clocksteps import ClockWatch
from monitor.daemon.pipeline import Pipeline
from monitor.daemon.recorder import Recorder, prune_samples, rollup_samples
from monitor.daemon.scheduler import CheckKey, CheckScheduler
from monitor.daemon.selfwatch import SelfWatch, host_boot_time, start_up
from monitor.daemon.shipper import prune_unshipped
from monitor.domain import Check, DeviceRef, Status, TrapEvent
from monitor.engine.state import DeviceState, Policy, World, state_from_data
from monitor.errors import ConfigError, MonitorError
from monitor.lifecycle import Component, Reloadable, TaskComponent
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage.inventory import device_refs, sync_inventory
from monitor.storage.models import DeviceStateRow, OutageRow

log = logging.getLogger("monitor.daemon.core")

CheckBuilder = Callable[[Settings], Mapping[CheckKey, Check]]
"""Builds every configured check (the composition root's ``build_checks``)."""
TrapCallback = Callable[[TrapEvent], Awaitable[None]]
TrapReceiverBuilder = Callable[[Settings, TrapCallback], Component | None]
"""Builds the trap receiver for a config (None when traps are disabled)."""


def load_world(session: Session) -> World:
    """The engine state as persisted: device_states rows and each device's open outage."""
    refs = device_refs(session)
    outages = {o.device_id: o for o in session.scalars(select(OutageRow).where(OutageRow.ended_at.is_(None)))}
    states: dict[DeviceRef, DeviceState] = {}
    for row in session.scalars(select(DeviceStateRow)):
        ref = refs.get(row.device_id)
        if ref is None:
            continue
        o = outages.pop(row.device_id, None)
        data = dict(row.data or {})
        states[ref] = state_from_data(
            ref, status=Status(data.get("engine_status", row.status)), since=row.since, reason=row.reason,
            flapping=row.flapping, data=data, metrics=dict(row.metrics or {}),
            outage=(o.started_at, o.confirmed_at, Status(o.status)) if o is not None else None)
    for dev_id, o in outages.items():  # an open outage without a state row: keep it open, never lose it
        ref = refs[dev_id]
        states[ref] = state_from_data(ref, status=Status(o.status), since=o.started_at, reason=o.reason,
                                      flapping=False, data={}, metrics={},
                                      outage=(o.started_at, o.confirmed_at, Status(o.status)))
    return World(states)


class Housekeeping(TaskComponent):
    """Time-driven upkeep, run in order with the record: cause re-inference (``hardware`` after its
    threshold, maintenance windows ending), the hourly sample roll-up and pruning, and — when no hub is
    configured — dropping the unread national feed."""

    name = "housekeeping"

    def __init__(self, daemon: Daemon, *, sweep_interval: float = 30.0) -> None:
        self.daemon = daemon
        self.sweep_interval = sweep_interval
        self._task: asyncio.Task[None] | None = None
        self._last_rollup: float | None = None     # monotonic: an hour is an hour, whatever the wall clock does

    async def run_once(self) -> None:
        d = self.daemon
        now = d.clock.now()
        changed = await d.pipeline.call(lambda s, w: d.pipeline.recorder.sweep(s, w, d.clock.now()))
        if changed:
            log.info("housekeeping: %d outage cause(s) updated", changed)
        mono = d.clock.monotonic()
        if self._last_rollup is None or mono - self._last_rollup >= 3600.0:
            retention = d.settings.database.sample_retention_days
            hours = await d.pipeline.call(lambda s, _w: rollup_samples(s, now))
            pruned = await d.pipeline.call(lambda s, _w: prune_samples(s, now, retention))
            self._last_rollup = mono
            if hours or pruned:
                log.info("samples: %d hour(s) rolled up, %d raw sample(s) older than %d days pruned",
                         hours, pruned, retention)
            if d.settings.hub is None:  # nobody ships the feed: keep it from growing (a hub later gets a baseline)
                await d.pipeline.call(lambda s, _w: prune_unshipped(s))

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("housekeeping failed (retried): %s", exc)
            await asyncio.sleep(self.sweep_interval)


class Daemon:
    """The running monitor. ``await run()`` until a signal; or ``start()``/``stop()`` in tests."""

    def __init__(self, settings: Settings, database: Database, *, build_checks: CheckBuilder,
                 clock: Clock | None = None, loader: Callable[[str], Settings] | None = None,
                 config_path: str | None = None, trap_receiver: TrapReceiverBuilder | None = None,
                 extra: Sequence[Component] = (), on_reload: Callable[[Settings], None] | None = None,
                 monitor_name: str = "monitor", boot_time: Callable[[], datetime] = host_boot_time,
                 sweep_interval: float = 30.0, batch_delay: float = 0.2,
                 cleanup: Sequence[Callable[[], Awaitable[None]]] = (), steps: StepWatch | None = None) -> None:
        self.settings = settings
        self.db = database
        self.build_checks = build_checks
        self.clock: Clock = clock or SystemClock()
        self.loader = loader
        self.config_path = config_path or settings.source
        self.trap_builder = trap_receiver
        self.extra = list(extra)
        self.on_reload = on_reload
        self.monitor_name = monitor_name
        self.boot_time = boot_time
        self.batch_delay = batch_delay
        self.cleanup = list(cleanup)
        self.housekeeping = Housekeeping(self, sweep_interval=sweep_interval)
        self.pipeline: Pipeline = None  # type: ignore[assignment]  # set by start()
        self.scheduler: CheckScheduler = None  # type: ignore[assignment]
        self.selfwatch: SelfWatch = None  # type: ignore[assignment]
        self.steps = steps if steps is not None else StepWatch(self.clock)   # shared with the alerting side
        self.clockwatch: ClockWatch = None  # type: ignore[assignment]
        self.traps: Component | None = None
        self.checks: Mapping[CheckKey, Check] = {}
        self.last_runs: dict[CheckKey, tuple[datetime, float]] = {}
        """Each check's last run (time, seconds it took), for ``/metrics``: one dict store per result."""
        self._started: list[Component] = []
        self._stop = asyncio.Event()
        self._reloading = asyncio.Lock()

    @property
    def world(self) -> World:
        return self.pipeline.world

    @property
    def clock_steps(self) -> list[ClockStep]:
        """Every wall-clock step and suspend found since the start (oldest first)."""
        return list(self.steps.steps)

    def _replan(self, step: ClockStep) -> None:
        if self.scheduler is not None:
            self.scheduler.replan()

    # ------------------------------------------------------------------------------ start / stop

    async def start(self) -> None:
        """Load state, record the gap since the last run, start the core then the extras."""
        settings = self.settings
        checks = self.build_checks(settings)  # a setup error (e.g. no ICMP permission) stops us here
        now = self.clock.now()
        ids = await self.db.run(lambda s: sync_inventory(s, settings, now), "syncing the inventory")
        recorder = Recorder(settings, ids)
        policy = Policy.from_settings(settings)
        world = await self.db.run(load_world, "loading the engine state")
        try:
            boot: datetime | None = utc(self.boot_time())
        except Exception:  # psutil may not know on an odd platform; the gap is then process_stopped
            boot = None
        world, gap = await self.db.run(lambda s: start_up(
            s, recorder, world, now=now, boot_time=boot, interval=settings.monitor.heartbeat_interval,
            name=self.monitor_name, version=__version__), "recording the start")
        self.checks = checks
        self._restore_metrics(world)
        self.scheduler = CheckScheduler(settings, checks, self._submit, self.clock)
        self.steps.observe()                              # the reference reading: steps from here on
        if self._replan not in self.steps.listeners:
            self.steps.listeners.append(self._replan)
        self.pipeline = Pipeline(self.db, recorder, policy, world, self.clock, batch_delay=self.batch_delay,
                                 poll_soon=self.scheduler.poll_soon, on_written=self._wake_extras, steps=self.steps)
        self.clockwatch = ClockWatch(self.steps, self.pipeline.drain)
        self.selfwatch = SelfWatch(self.pipeline.call, self.clock, interval=settings.monitor.heartbeat_interval,
                                   monitor_name=self.monitor_name)
        self.traps = self.trap_builder(settings, self.pipeline.submit_trap) if self.trap_builder else None
        try:
            await self._start(self.pipeline)
            await self.pipeline.reconfigure(recorder, policy)  # new devices; close outages of removed ones
            await self._start(self.clockwatch)
            await self._start(self.selfwatch)
            await self._start(self.housekeeping)
            if self.traps is not None:
                await self._start(self.traps)
            await self._start(self.scheduler)
            for c in self.extra:
                await self._start(c)
        except BaseException:
            await self.stop()
            raise
        # Everything built at start (config, checks, engine state, jobs) lives as long as the process: moved
        # out of the collector's sight, so full collections do not rescan it (issue 8: 10,000 devices)
        gc.freeze()
        log.info("ektp-monitor %s started: %d sites, %d devices, %d checks%s", __version__, len(settings.sites),
                 len(policy.devices), len(checks),
                 f"; not monitored {gap.started_at:%Y-%m-%d %H:%M:%S}Z .. {gap.ended_at:%H:%M:%S}Z ({gap.reason})"
                 if gap else "")

    async def _start(self, c: Component) -> None:
        await c.start()
        self._started.append(c)

    def _wake_extras(self) -> None:
        """New events are in the database: wake the extras that can be woken (the alert router reads them
        at once instead of at its next poll)."""
        for c in self.extra:
            wake = getattr(c, "wake", None)
            if callable(wake):
                wake()

    def _submit(self, ref: DeviceRef, result: Any, mono: float | None = None) -> None:
        self.last_runs[(ref, result.check)] = (result.time, result.duration_s)
        self.pipeline.submit_result(ref, result, mono)

    def _restore_metrics(self, world: World) -> None:
        """Seed checks that keep history (counters, uptime) with the last persisted metrics."""
        for (ref, key), check in self.checks.items():
            restore = getattr(check, "restore", None)
            state = world.get(ref)
            metrics = state.metrics.get(key)
            if not callable(restore) or not metrics:
                continue
            track = state.checks.get(key)
            try:
                if "at" in inspect.signature(restore).parameters:
                    restore(dict(metrics), at=track.last_at if track else None)
                else:
                    restore(dict(metrics))
            except Exception as exc:
                log.warning("could not restore %s %s: %s", ref, key, exc)

    def _keep_running_checks(self, new: Settings, built: Mapping[CheckKey, Check]) -> dict[CheckKey, Check]:
        """On reload, keep the running check object where the device and the check are unchanged (it holds
        state between runs: counter baselines, uptime), and seed the others from the persisted metrics."""
        running = self.scheduler.specs
        kept: dict[CheckKey, Check] = {}
        fresh: dict[CheckKey, Check] = {}
        for site, dev in new.iter_devices():
            for spec in dev.checks:
                key = (DeviceRef(site.id, dev.id), spec.key)
                if key not in built:
                    continue
                if key in self.checks and running.get(key) == (dev, spec):
                    kept[key] = self.checks[key]
                else:
                    fresh[key] = built[key]
        saved, self.checks = self.checks, fresh
        self._restore_metrics(self.pipeline.world)
        self.checks = saved
        return {**fresh, **kept}

    async def stop(self) -> None:
        """Stop extras first, then the core in reverse order (the pipeline writes what it holds)."""
        while self._started:
            c = self._started.pop()
            try:
                await c.stop()
            except Exception as exc:
                log.error("stopping %s: %s", getattr(c, "name", c), exc)
        for fn in self.cleanup:  # shared check resources (SNMP engine, sockets): after the checks stopped
            try:
                await fn()
            except Exception as exc:
                log.error("cleanup: %s", exc)
        self.cleanup = []
        log.info("ektp-monitor stopped")

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        """Start, run until SIGTERM/SIGINT, stop. SIGHUP reloads the config."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.start()
        installed = []
        for sig, handler in ((signal.SIGTERM, self.request_stop), (signal.SIGINT, self.request_stop),
                             (signal.SIGHUP, self._on_sighup)):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, handler)
                installed.append(sig)
        try:
            await self._stop.wait()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.stop()
        return 0

    # ------------------------------------------------------------------------------ reload

    def _on_sighup(self) -> None:
        asyncio.get_running_loop().create_task(self.reload_from_file(), name="reload")

    async def reload_from_file(self) -> bool:
        """SIGHUP: validate the config file; switch to it only when valid. Returns whether it switched."""
        if self.loader is None or not self.config_path:
            log.warning("reload requested but the daemon has no config file to read")
            return False
        path = self.config_path
        try:
            loader = self.loader
            new = await asyncio.to_thread(loader, path)
        except ConfigError as exc:
            log.error("config reload refused, still running on the previous config. %s:\n%s", path, exc)
            return False
        except Exception as exc:
            log.error("config reload refused, still running on the previous config: %s", exc)
            return False
        return await self.reload(new)

    async def reload(self, new: Settings) -> bool:
        """Switch to an already validated config (checks are built first; failure keeps the old one)."""
        async with self._reloading:
            try:
                checks = self.build_checks(new)
            except (MonitorError, ValueError) as exc:
                log.error("config reload refused (checks cannot be built), still running on the previous "
                          "config: %s", exc)
                return False
            checks = self._keep_running_checks(new, checks)
            now = self.clock.now()
            ids = await self.db.run(lambda s: sync_inventory(s, new, now), "syncing the inventory")
            await self.pipeline.reconfigure(Recorder(new, ids), Policy.from_settings(new))
            old = self.settings
            self.settings = new
            self.checks = checks
            self.last_runs = {k: v for k, v in self.last_runs.items() if k in checks}
            await self.scheduler.reload(new, checks)
            if new.traps != old.traps and self.trap_builder is not None:
                if self.traps is not None and self.traps in self._started:
                    await self.traps.stop()
                    self._started.remove(self.traps)
                self.traps = self.trap_builder(new, self.pipeline.submit_trap)
                if self.traps is not None:
                    await self.traps.start()
                    self._started.insert(self._started.index(self.scheduler), self.traps)
            elif self.traps is not None and self.trap_builder is not None:
                # same trap settings, maybe other devices: the running receiver takes the new addresses (it
                # refuses unknown sources unread, so a new device's traps would otherwise be dropped)
                fresh = self.trap_builder(new, self.pipeline.submit_trap)
                adopt = getattr(self.traps, "adopt", None)
                if fresh is not None and callable(adopt):
                    adopt(fresh)
            self.selfwatch.interval = new.monitor.heartbeat_interval
            for c in self.extra:
                if isinstance(c, Reloadable):
                    try:
                        await c.reload(new)
                    except Exception as exc:
                        log.error("reloading %s: %s", getattr(c, "name", c), exc)
            if self.on_reload is not None:
                self.on_reload(new)
            log.info("config reloaded: %d sites, %d devices, %d checks", len(new.sites),
                     len(self.pipeline.policy.devices), len(checks))
            return True
