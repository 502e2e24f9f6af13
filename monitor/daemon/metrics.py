"""Prometheus ``/metrics`` (``metrics: {listen: "127.0.0.1:9877"}``): a daemon component on uvicorn.

Nothing is counted per check: a custom collector reads the daemon's in-memory state (device statuses, each
check's last run, the last metrics of every check) when Prometheus scrapes, and the figures only the record
holds (heartbeat, outbox backlog, open outages and incidents, maintenance, monitor gaps — the same reading as
``ektp-monitor status``, :mod:`monitor.daemon.health`) are read on the database thread at most every
``refresh`` seconds, just before the collector runs. When nobody scrapes, this costs nothing.

Names follow the Prometheus conventions: prefix ``ektp_``, base units (``_seconds``, ``_volts``, ``_ratio``
for 0–1 fractions, ``_celsius``, ``_hertz``, ``_watts``), ``_total`` for counters, enum states as a label with
value 1 (``ektp_device_status{status="down"} 1``). UPS values keep their NUT variable names in the metric name
and in HELP (``battery.charge`` → ``ektp_ups_battery_charge_ratio``), NUT's ``ups.status`` flags become
``ektp_ups_status{flag="OB"} 1``. Labels: ``site``, ``device``, ``kind``, ``check``. ``promtool check metrics``
passes on the output (tests/test_metrics.py).

The exposition is served by ``prometheus_client.make_asgi_app`` on uvicorn, bound by us (so a port already
in use is a clear error at start) and without uvicorn's signal handlers (the daemon owns SIGTERM/SIGHUP).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn
from prometheus_client import PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry, make_asgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.daemon.health import HealthFigures, check_grace, late_devices, read_health
from monitor.domain import DeviceRef, Status
from monitor.engine.state import World
from monitor.settings import Settings
from monitor.storage import Database

log = logging.getLogger(__name__)

# NUT variable -> (metric name, scale to the base unit, HELP)
UPS_VARIABLES: dict[str, tuple[str, float, str]] = {
    "battery.charge": ("ektp_ups_battery_charge_ratio", 0.01, "NUT battery.charge: battery charge (0-1)"),
    "battery.runtime": ("ektp_ups_battery_runtime_seconds", 1.0, "NUT battery.runtime: runtime left on battery"),
    "battery.voltage": ("ektp_ups_battery_voltage_volts", 1.0, "NUT battery.voltage: battery voltage"),
    "input.voltage": ("ektp_ups_input_voltage_volts", 1.0, "NUT input.voltage: mains voltage at the input"),
    "output.voltage": ("ektp_ups_output_voltage_volts", 1.0, "NUT output.voltage: voltage at the output"),
    "input.frequency": ("ektp_ups_input_frequency_hertz", 1.0, "NUT input.frequency: mains frequency"),
    "ups.load": ("ektp_ups_load_ratio", 0.01, "NUT ups.load: load on the UPS (0-1 of its capacity)"),
    "ups.temperature": ("ektp_ups_temperature_celsius", 1.0, "NUT ups.temperature: UPS (battery) temperature"),
    "ups.realpower": ("ektp_ups_realpower_watts", 1.0, "NUT ups.realpower: real power drawn at the output"),
}
STATUSES = tuple(s.value for s in Status)


@dataclass(frozen=True, slots=True)
class DaemonView:
    """What the collector reads from the running daemon (callables: read at scrape time, on the loop)."""

    settings: Callable[[], Settings]
    world: Callable[[], World | None]
    kinds: Callable[[], Mapping[DeviceRef, str]]
    last_runs: Callable[[], Mapping[tuple[DeviceRef, str], tuple[datetime, float]]]
    database_writable: Callable[[], bool] = lambda: True
    started: float = 0.0


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _ts(dt: datetime | None) -> float | None:
    return None if dt is None else dt.timestamp()


class MonitorCollector(Collector):
    """Every ``ektp_`` metric (see the module docstring), from the daemon and the last record reading."""

    def __init__(self, view: DaemonView, figures: Callable[[], HealthFigures | None]) -> None:
        self.view = view
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        yield from self._self_health()
        yield from self._devices()
        yield from self._record()

    # -------------------------------------------------------------------------------------------- devices

    def _devices(self) -> Iterator[Metric]:
        world, kinds = self.view.world(), self.view.kinds()
        dev_status = GaugeMetricFamily("ektp_device_status", "Device status: 1 for the current one "
                                       "(up, degraded, down, unreachable, unknown)",
                                       labels=["site", "device", "kind", "status"])
        since = GaugeMetricFamily("ektp_device_status_since_timestamp_seconds", "When the device entered its "
                                  "current status (Unix time)", labels=["site", "device"])
        flapping = GaugeMetricFamily("ektp_device_flapping", "1 while the device is flapping",
                                     labels=["site", "device"])
        last_run = GaugeMetricFamily("ektp_check_last_run_timestamp_seconds", "When the check last ran (Unix time)",
                                     labels=["site", "device", "check"])
        duration = GaugeMetricFamily("ektp_check_duration_seconds", "How long the check's last run took",
                                     labels=["site", "device", "check"])
        ups = {nut: GaugeMetricFamily(name, text, labels=["site", "device"])
               for nut, (name, _scale, text) in UPS_VARIABLES.items()}
        ups_flags = GaugeMetricFamily("ektp_ups_status", "NUT ups.status flags present (OL, OB, LB, RB, CHRG, "
                                      "BYPASS, TRIM, BOOST, ...): 1 each", labels=["site", "device", "flag"])
        strikes = CounterMetricFamily("ektp_spd_strikes", "Lightning strikes counted by the surge protector "
                                      "(the device's own counter)", labels=["site", "device"])
        tripped = GaugeMetricFamily("ektp_spd_tripped", "1 while the surge protector's alarm contact is in "
                                    "alarm (tripped or worn out)", labels=["site", "device"])
        states = world.devices if world is not None else {}
        for ref, kind in sorted(kinds.items()):
            st = states.get(ref)
            current = st.status.value if st is not None else Status.UNKNOWN.value
            for s in STATUSES:
                dev_status.add_metric([ref.site, ref.device, kind, s], 1.0 if s == current else 0.0)
            if st is None:
                continue
            if st.since is not None:
                since.add_metric([ref.site, ref.device], st.since.timestamp())
            flapping.add_metric([ref.site, ref.device], 1.0 if st.flapping else 0.0)
            for key, track in sorted(st.checks.items()):
                if track.last_at is not None:
                    last_run.add_metric([ref.site, ref.device, key], track.last_at.timestamp())
            self._device_values(ref, kind, st.metrics, ups, ups_flags, strikes, tripped)
        for (ref, key), (_at, seconds) in sorted(self.view.last_runs().items()):
            duration.add_metric([ref.site, ref.device, key], seconds)
        yield from (dev_status, since, flapping, last_run, duration, *ups.values(), ups_flags, strikes, tripped)

    @staticmethod
    def _device_values(ref: DeviceRef, kind: str, metrics: Mapping[str, Mapping[str, Any]],
                       ups: dict[str, GaugeMetricFamily], ups_flags: GaugeMetricFamily,
                       strikes: CounterMetricFamily, tripped: GaugeMetricFamily) -> None:
        merged: dict[str, Any] = {}
        for _key, values in sorted(metrics.items()):
            merged.update(values)
        labels = [ref.site, ref.device]
        if kind == "ups":
            for nut, (_name, scale, _text) in UPS_VARIABLES.items():
                value = _num(merged.get(nut))
                if value is not None:
                    ups[nut].add_metric(labels, value * scale)
            for flag in sorted(set(str(merged.get("ups.status") or "").split())):
                ups_flags.add_metric([*labels, flag], 1.0)
        count = _num(merged.get("spd.strikes"))
        if count is not None and count >= 0:
            strikes.add_metric(labels, count)
        if isinstance(merged.get("spd.tripped"), bool):
            tripped.add_metric(labels, 1.0 if merged["spd.tripped"] else 0.0)

    # --------------------------------------------------------------------------------------- the record

    def _record(self) -> Iterator[Metric]:
        f = self.figures()
        readable = GaugeMetricFamily("ektp_monitor_record_readable", "1 when the last reading of the record "
                                     "(database) for these metrics succeeded")
        readable.add_metric([], 0.0 if f is None else 1.0)
        yield readable
        if f is None:
            return
        outages = GaugeMetricFamily("ektp_outages_open", "Outages still open", labels=["site", "status", "cause"])
        for (site, status, cause), n in sorted(f.outages_open.items()):
            outages.add_metric([site, status, cause], n)
        incidents = GaugeMetricFamily("ektp_incidents_open", "Incidents still open",
                                      labels=["site", "cause", "acknowledged"])
        for (site, cause, acked), n in sorted(f.incidents_open.items()):
            incidents.add_metric([site, cause, "true" if acked else "false"], n)
        windows = GaugeMetricFamily("ektp_maintenance_windows_active", "Ad-hoc maintenance windows and mutes in "
                                    "force (set from Telegram or the command line)", labels=["site", "kind"])
        for (site, kind), n in sorted(f.windows_active.items()):
            windows.add_metric([site, kind], n)
        outbox = GaugeMetricFamily("ektp_outbox_messages", "Messages in the outbox by status (pending, retry, "
                                   "sending, sent, suppressed, dead)", labels=["status"])
        for status in ("pending", "retry", "sending", "sent", "suppressed", "dead"):
            outbox.add_metric([status], f.outbox.get(status, 0))
        oldest = GaugeMetricFamily("ektp_outbox_oldest_pending_age_seconds", "Age of the oldest message waiting "
                                   "to be sent (0 when none waits)")
        oldest.add_metric([], max((datetime.now(UTC) - f.oldest_waiting).total_seconds(), 0.0)
                          if f.oldest_waiting else 0.0)
        yield from (outages, incidents, windows, outbox, oldest)
        if f.heartbeat is not None:
            hb = GaugeMetricFamily("ektp_monitor_heartbeat_timestamp_seconds", "The monitor's last heartbeat "
                                   "written to its record (Unix time)")
            hb.add_metric([], f.heartbeat.timestamp())
            yield hb
        gaps = CounterMetricFamily("ektp_monitor_gaps", "Periods recorded when the monitor was not running")
        gaps.add_metric([], f.gaps)
        gap_s = CounterMetricFamily("ektp_monitor_not_monitored_seconds", "Time recorded as not monitored "
                                    "(the monitor was not running)")
        gap_s.add_metric([], f.gap_seconds)
        yield from (gaps, gap_s)
        if f.hub is not None:
            backlog = GaugeMetricFamily("ektp_hub_backlog_records", "Records not yet accepted by the hub")
            backlog.add_metric([], f.hub.backlog)
            yield backlog
            if f.hub.oldest_unsent is not None:
                age = GaugeMetricFamily("ektp_hub_oldest_unsent_age_seconds", "Age of the oldest record not yet "
                                        "accepted by the hub")
                age.add_metric([], max((datetime.now(UTC) - f.hub.oldest_unsent).total_seconds(), 0.0))
                yield age
            if f.hub.last_accepted is not None:
                last = GaugeMetricFamily("ektp_hub_last_accepted_timestamp_seconds", "When the hub last accepted "
                                         "a batch (Unix time)")
                last.add_metric([], f.hub.last_accepted.timestamp())
                yield last

    # ---------------------------------------------------------------------------------------- self-health

    def _self_health(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("ektp_monitor_info", "The running ektp-monitor", labels=["version"])
        info.add_metric([__version__], 1.0)
        start = GaugeMetricFamily("ektp_monitor_start_time_seconds", "When this daemon started (Unix time)")
        start.add_metric([], self.view.started)
        writable = GaugeMetricFamily("ektp_monitor_database_writable", "1 while the daemon can write its record")
        writable.add_metric([], 1.0 if self.view.database_writable() else 0.0)
        settings, world = self.view.settings(), self.view.world()
        grace = check_grace(settings)
        last: dict[tuple[str, str], datetime | None] = {}
        if world is not None:
            for ref, st in world.devices.items():
                last[(ref.site, ref.device)] = st.last_at
        now = datetime.now(UTC)
        late = late_devices(last, grace, running_since=datetime.fromtimestamp(self.view.started, UTC), now=now)
        devices = GaugeMetricFamily("ektp_monitor_devices", "Devices with at least one enabled check")
        devices.add_metric([], len(grace))
        late_g = GaugeMetricFamily("ektp_monitor_devices_late", "Devices whose last check is older than twice "
                                   "their interval plus timeout (the scheduler is behind)")
        late_g.add_metric([], len(late))
        yield from (info, start, writable, devices, late_g)


class MetricsServer:
    """The ``/metrics`` endpoint as a daemon component (:class:`monitor.lifecycle.Component`)."""

    name = "metrics"

    def __init__(self, view: DaemonView, db: Database, *, refresh: float = 5.0, monitor_name: str = "monitor") -> None:
        self.view = view
        self.db = db
        self.refresh = refresh
        self.monitor_name = monitor_name
        self._figures: HealthFigures | None = None
        self._read_at = -1e9
        self._lock = asyncio.Lock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(MonitorCollector(view, lambda: self._figures))
        self.registry.register(PROCESS_COLLECTOR)
        self.registry.register(PLATFORM_COLLECTOR)
        self._exposition = make_asgi_app(self.registry)
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.address: tuple[str, int] | None = None
        self._listen: str | None = None

    async def _read(self) -> None:
        async with self._lock:
            if time.monotonic() - self._read_at < self.refresh:
                return
            settings, now = self.view.settings(), datetime.now(UTC)
            try:
                self._figures = await self.db.run(
                    lambda s: read_health(s, settings, now, monitor_name=self.monitor_name, checks=False),
                    "reading metrics")
            except Exception as exc:
                log.warning("metrics: the record could not be read: %s", exc)
                self._figures = None
            self._read_at = time.monotonic()

    async def app(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        """ASGI: ``GET /metrics`` (the exposition); anything else 404."""
        if scope.get("type") != "http":
            return
        if scope.get("path") != "/metrics":
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await send({"type": "http.response.body", "body": b"ektp-monitor: the metrics are at /metrics\n"})
            return
        await self._read()
        await self._exposition(scope, receive, send)

    async def start(self) -> None:
        if self._task is not None:
            return
        metrics = self.view.settings().metrics
        self._listen, address = metrics.listen, metrics.address
        if address is None:
            return
        host, port = address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            log.error("metrics: cannot listen on %s:%s (%s); running without /metrics", host, port, exc)
            return
        sock.setblocking(False)
        self.address = sock.getsockname()[:2]
        # log_config=None: uvicorn logs through our root handler (redaction, journald format), warnings only
        config = uvicorn.Config(self.app, interface="asgi3", log_config=None, log_level="warning", access_log=False,
                                lifespan="off", server_header=False, date_header=False)
        self._server = _Server(config)
        self._task = asyncio.create_task(self._serve(sock), name="metrics")
        log.info("metrics: serving /metrics on %s:%s", *self.address)

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        try:
            await self._server.serve(sockets=[sock])
        finally:
            sock.close()

    async def reload(self, settings: Settings) -> None:
        """A changed ``metrics.listen`` moves the endpoint (or closes it)."""
        if settings.metrics.listen != self._listen:
            await self.stop()
            await self.start()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if self._server is not None:
            self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 5.0)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._server, self.address = None, None


class _Server(uvicorn.Server):
    """uvicorn without its own SIGINT/SIGTERM handlers: the daemon owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
