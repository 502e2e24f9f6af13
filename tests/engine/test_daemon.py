"""The daemon in-process, for real: APScheduler jobs, the runner, the pipeline, the recorder and
selfwatch on a SQLite file, checking real TCP services on loopback that the test stops and starts.
(The checks here are a minimal TCP connect so this test does not depend on checks/; the e2e tests in
test_e2e.py run the installed ``ektp-monitor run`` with the real checks against real agents.)"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import select

from monitor.commands.outages import fetch
from monitor.daemon.core import Daemon
from monitor.domain import CheckResult, Device, DeviceRef, ReasonCode, Status
from monitor.settings import Settings, load_settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.db import create_db_engine
from monitor.storage.models import CheckSample, EventRow, HeartbeatRow, MonitorGapRow


class LoopbackTcp:
    """Connects to the spec's port on loopback: up, refused (down) or timeout (down)."""

    kind: ClassVar[str] = "tcp"

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.restored: tuple[dict[str, Any], datetime | None] | None = None

    def restore(self, metrics: dict[str, Any], *, at: datetime | None = None) -> None:
        self.restored = (metrics, at)

    async def run(self, device: Device, *, now: datetime) -> CheckResult:
        t0 = time.perf_counter()
        try:
            _r, w = await asyncio.wait_for(asyncio.open_connection(device.address, self.spec.port),
                                           self.spec.timeout.total_seconds())
            w.close()
            return CheckResult(self.spec.key, "tcp", Status.UP, now, metrics={"tcp.connect": time.perf_counter() - t0})
        except ConnectionRefusedError:
            return CheckResult(self.spec.key, "tcp", Status.DOWN, now, reason="connection refused",
                               reason_code=ReasonCode.REFUSED)
        except TimeoutError:
            return CheckResult(self.spec.key, "tcp", Status.DOWN, now, reason="timeout", reason_code=ReasonCode.TIMEOUT)


def build(settings: Settings) -> dict[tuple[DeviceRef, str], Any]:
    return {(DeviceRef(s.id, d.id), c.key): LoopbackTcp(c) for s, d in settings.iter_devices() for c in d.checks}


class Service:
    """A TCP listener on a fixed loopback port that can be stopped and started again."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        async def handle(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.close()
        self.server = await asyncio.start_server(handle, "127.0.0.1", self.port, reuse_address=True)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


CONFIG = """
telegram: {{enabled: false}}
database: {{url: "sqlite:///{db}"}}
defaults: {{interval: 300ms, timeout: 200ms, retries: 0, confirm_down: 2, confirm_up: 2}}
monitor: {{heartbeat_interval: 500ms, jitter: 100ms, misfire_grace: 5s}}
causes: {{incident_window: 30s}}
sites:
  - id: kantor
    name: "Kantor Uji"
    timezone: Asia/Makassar
    devices:
      - {{id: router, name: "Router", kind: router, address: 127.0.0.1, checks: [{{type: tcp, port: {p1}}}]}}
      - {{id: srv, name: "Server Perekaman", kind: recording_server, address: 127.0.0.1, depends_on: [router],
         checks: [{{type: tcp, port: {p2}}}]}}
"""

SRV = DeviceRef("kantor", "srv")
ROUTER = DeviceRef("kantor", "router")


async def wait_for(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def services() -> AsyncIterator[tuple[Service, Service]]:
    a, b = Service(), Service()
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


def make(tmp_path: Path, a: Service, b: Service) -> tuple[Settings, Database, Path]:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG.format(db=tmp_path / "m.db", p1=a.port, p2=b.port))
    settings = load_settings(cfg, environ={})
    engine = create_db_engine(settings.database_url)
    dbmod.upgrade(engine)
    return settings, Database(engine), cfg


async def test_daemon_records_a_real_service_outage_to_the_second(tmp_path: Path,
                                                                  services: tuple[Service, Service]) -> None:
    a, b = services
    settings, db, cfg = make(tmp_path, a, b)
    daemon = Daemon(settings, db, build_checks=build, loader=lambda p: load_settings(p, environ={}),
                    config_path=str(cfg), sweep_interval=1.0, batch_delay=0.05)
    await daemon.start()
    try:
        await wait_for(lambda: daemon.world.get(SRV).status is Status.UP)
        stopped = datetime.now(UTC)
        await b.stop()
        await wait_for(lambda: daemon.world.get(SRV).status is Status.DOWN)
        await daemon.pipeline.drain()   # the engine decides first; the record is written right after
        [o] = fetch(db)
        start = datetime.fromisoformat(o["start"].replace("Z", "+00:00"))
        confirmed = datetime.fromisoformat(o["confirmed_at"].replace("Z", "+00:00"))
        samples = db.call(lambda s: [(x.time, x.status) for x in s.scalars(
            select(CheckSample).where(CheckSample.device_id == 2).order_by(CheckSample.time))])
        first_down = min(t for t, st in samples if st == "down")
        # exactly the first failed check (not the confirming one), and after the service stopped
        assert start == first_down and stopped <= start < confirmed
        assert o["open"] and o["status"] == "down" and o["reason"] == "tcp:" + str(b.port) + ": connection refused"
        assert o["start_local"].endswith("WITA")
        await b.start()
        restarted = datetime.now(UTC)
        await wait_for(lambda: daemon.world.get(SRV).status is Status.UP)
        await daemon.pipeline.drain()
        [o] = fetch(db)
        end = datetime.fromisoformat(o["end"].replace("Z", "+00:00"))
        samples = db.call(lambda s: [(x.time, x.status) for x in s.scalars(
            select(CheckSample).where(CheckSample.device_id == 2).order_by(CheckSample.time))])
        first_up_after = min(t for t, st in samples if st == "up" and t > start)
        assert end == first_up_after and end >= restarted   # the first good check of the recovery
        assert o["duration_s"] == pytest.approx((end - start).total_seconds(), abs=1e-3)
        kinds = [e.kind for e in db.call(lambda s: list(s.scalars(select(EventRow).order_by(EventRow.id))))]
        assert kinds.count("outage_opened") == 1 and kinds.count("outage_closed") == 1
        assert kinds[0] == "monitor_started"
        hb = db.call(lambda s: s.get(HeartbeatRow, "monitor"))
        assert hb is not None and (datetime.now(UTC) - hb.beat_at).total_seconds() < 5
    finally:
        await daemon.stop()
        db.close()


async def test_dependency_reload_and_restart(tmp_path: Path, services: tuple[Service, Service]) -> None:
    a, b = services
    settings, db, cfg = make(tmp_path, a, b)
    loader = lambda p: load_settings(p, environ={})  # noqa: E731
    daemon = Daemon(settings, db, build_checks=build, loader=loader, config_path=str(cfg), batch_delay=0.05)
    await daemon.start()
    try:
        await wait_for(lambda: daemon.world.get(SRV).status is Status.UP
                       and daemon.world.get(ROUTER).status is Status.UP)
        await a.stop()
        await b.stop()
        await wait_for(lambda: daemon.world.get(SRV).status is Status.UNREACHABLE
                       and daemon.world.get(ROUTER).status is Status.DOWN)
        await daemon.pipeline.drain()
        rows = {r["device"]: r for r in fetch(db)}
        assert rows["srv"]["status"] == "unreachable" and rows["srv"]["cause"] == "network"
        assert rows["srv"]["incident"] == rows["router"]["incident"]
        # SIGHUP with a broken file: refused, still running on the old config
        good = cfg.read_text()
        cfg.write_text(good.replace("kind: router", "kind: rooter"))
        assert await daemon.reload_from_file() is False
        assert daemon.settings is settings
        # a valid new config: a device removed -> its open outage is closed, not lost
        before = dict(daemon.checks)
        cfg.write_text(good[:good.index("      - {id: srv")])
        assert await daemon.reload_from_file() is True
        # the unchanged router keeps its running check object (state between runs survives a reload)
        [router_key] = [k for k in before if k[0] == ROUTER]
        assert daemon.checks[router_key] is before[router_key] and len(daemon.checks) == 1
        await daemon.pipeline.drain()
        rows = {r["device"]: r for r in fetch(db)}
        assert not rows["srv"]["open"] and "removed from the configuration" in rows["srv"]["reason"]
        assert rows["router"]["open"]
    finally:
        await daemon.stop()
    # a restart later: the router's outage continues (one row, one "opened"), the gap is recorded
    cfg.write_text(good)
    await asyncio.sleep(3.5)   # longer than the gap threshold (2 heartbeats, at least 3 s)
    daemon = Daemon(loader(cfg), db, build_checks=build, loader=loader, config_path=str(cfg), batch_delay=0.05)
    await daemon.start()
    try:
        # checks that keep state were seeded with their last persisted metrics and when they were taken
        restored = [c.restored for (ref, _k), c in daemon.checks.items() if ref == ROUTER]
        assert restored and restored[0] is not None and "tcp.connect" in restored[0][0] and restored[0][1]
        await a.start()
        await wait_for(lambda: daemon.world.get(ROUTER).status is Status.UP)
        await daemon.pipeline.drain()
        routers = [r for r in fetch(db) if r["device"] == "router"]
        assert len(routers) == 1 and not routers[0]["open"] and routers[0]["gap_s"] >= 1.0
        gaps = db.call(lambda s: list(s.scalars(select(MonitorGapRow))))
        assert len(gaps) == 1 and gaps[0].reason == "process_stopped"
        opened = [e for e in db.call(lambda s: list(s.scalars(select(EventRow))))
                  if e.kind == "outage_opened" and e.payload["device"] == "router"]
        assert len(opened) == 1
    finally:
        await daemon.stop()
        with contextlib.suppress(Exception):
            db.close()
