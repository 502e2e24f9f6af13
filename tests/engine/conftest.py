"""Fixtures for the detection engine's database tests: a migrated database, a small office config,
and a harness that drives the real pipeline (engine -> recorder, one transaction per batch) with a
fake clock."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from monitor.daemon.pipeline import Pipeline
from monitor.daemon.recorder import Recorder
from monitor.domain import CheckResult, DeviceRef, Observation, ObservationKind, ReasonCode, Status, TrapEvent
from monitor.engine.state import Policy, World
from monitor.settings import Settings, load_settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.inventory import sync_inventory
from monitor.storage.models import EventRow, OutageRow
from tests.fakes import T0, FakeClock, result

OFFICE = """
telegram: {enabled: false}
defaults: {interval: 60s, timeout: 1s, retries: 0, confirm_down: 3, confirm_up: 2,
           snmp: {version: 2c, community: test}}
causes: {power_window: 15m, lightning_window: 30m, hardware_after: 30m, incident_window: 10m}
flapping: {window: 30m, max_changes: 6}
monitor: {heartbeat_interval: 15s}
sites:
  - id: mura
    name: "Disdukcapil Murung Raya"
    timezone: Asia/Jakarta
    devices:
      - {id: router, name: "Router VPN", kind: router, address: 127.0.0.1, checks: [{type: ping}]}
      - {id: ups, name: "UPS Ruang Server", kind: ups, address: 127.0.0.1, depends_on: [router],
         checks: [{type: snmp, profile: ups-rfc1628}]}
      - {id: spd, name: "Arrester Petir", kind: spd, address: 127.0.0.1, depends_on: [router],
         checks: [{type: snmp, profile: spd-counter}]}
      - {id: srv, name: "Server Perekaman", kind: recording_server, address: 127.0.0.1, depends_on: [router],
         powered_by: ups, checks: [{type: ping}, {type: tcp, port: 443}]}
      - {id: dc, name: "Data Center Pusat", kind: upstream, address: 127.0.0.1, depends_on: [router],
         checks: [{type: tcp, port: 443}]}
    maintenance:
      - {id: backup, reason: "Backup mingguan", devices: [srv], cron: "0 22 * * 5", duration: 2h}
"""

ROUTER, UPS, SPD, SRV, DC = (DeviceRef("mura", d) for d in ("router", "ups", "spd", "srv", "dc"))
CHECK = {ROUTER: "ping", UPS: "snmp:ups-rfc1628", SPD: "snmp:spd-counter", SRV: "ping", DC: "tcp:443"}


def office_settings(tmp_path: Path, body: str = OFFICE) -> Settings:
    path = tmp_path / "office.yaml"
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return load_settings(path, environ={})  # without the profile catalogue: the engine does not need it


class Office:
    """The real pipeline and recorder on a real database, fed by hand, with a fake clock."""

    def __init__(self, settings: Settings, db: Database, clock: FakeClock) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.polled: list[DeviceRef] = []
        self.pipeline: Pipeline | None = None

    async def start(self, world: World | None = None) -> Office:
        now = self.clock.now()
        ids = await self.db.run(lambda s: sync_inventory(s, self.settings, now))
        self.recorder = Recorder(self.settings, ids)
        self.policy = Policy.from_settings(self.settings)
        self.pipeline = Pipeline(self.db, self.recorder, self.policy, world or World(), self.clock, batch_delay=0,
                                 poll_soon=self.polled.append)
        await self.pipeline.start()
        await self.pipeline.reconfigure(self.recorder, self.policy)
        return self

    async def stop(self) -> None:
        if self.pipeline is not None:
            await self.pipeline.stop()

    @property
    def world(self) -> World:
        assert self.pipeline is not None
        return self.pipeline.world

    def at(self, minutes: float) -> datetime:
        return T0 + timedelta(minutes=minutes)

    async def feed(self, ref: DeviceRef, status: Status, minutes: float, check: str | None = None,
                   **kw: Any) -> None:
        """One result of ``ref``'s check at T0 + minutes (the clock is moved there first)."""
        assert self.pipeline is not None
        t = self.at(minutes)
        if t > self.clock.now():
            self.clock.set(t)
        self.pipeline.submit_result(ref, result(check or CHECK[ref], status, t, **kw))
        await self.pipeline.drain()

    async def series(self, ref: DeviceRef, statuses: list[Status], start: float, step: float = 1.0,
                     check: str | None = None, **kw: Any) -> None:
        for i, s in enumerate(statuses):
            await self.feed(ref, s, start + i * step, check, **kw)

    async def trap(self, ref: DeviceRef, kind: ObservationKind, minutes: float, text: str = "") -> None:
        assert self.pipeline is not None
        t = self.at(minutes)
        if t > self.clock.now():
            self.clock.set(t)
        o = Observation(time=t, kind=kind, text=text or kind.value.replace("_", " "), source="trap")
        await self.pipeline.submit_trap(TrapEvent(received_at=t, source="127.0.0.1", trap_oid="1.3.6.1.2.1.33.2.0.1",
                                                  name="upsTrapOnBattery", version="2c", device=ref, accepted=True,
                                                  observations=(o,)))
        await self.pipeline.drain()

    def outages(self, ref: DeviceRef | None = None) -> list[OutageRow]:
        def q(s: Any) -> list[OutageRow]:
            rows = list(s.scalars(select(OutageRow).order_by(OutageRow.id)))
            if ref is not None:
                rows = [r for r in rows if r.device_id == self.recorder.ids[ref]]
            return rows
        return self.db.call(q)

    def events(self, kind: str | None = None) -> list[EventRow]:
        rows = self.db.call(lambda s: list(s.scalars(select(EventRow).order_by(EventRow.id))))
        return [r for r in rows if kind is None or r.kind == kind]


@pytest.fixture
def migrated(engine: Engine) -> Iterator[Database]:
    dbmod.upgrade(engine)
    db = Database(engine)
    yield db
    db._executor.shutdown(wait=True)


@pytest.fixture
async def office(migrated: Database, tmp_path: Path) -> AsyncIterator[Office]:
    o = Office(office_settings(tmp_path), migrated, FakeClock(T0 - timedelta(minutes=5)))
    await o.start()
    try:
        yield o
    finally:
        await o.stop()


def ups_result(status: Status, t: datetime, *kinds: ObservationKind, **metrics: Any) -> CheckResult:
    obs = tuple(Observation(time=t, kind=k, text=k.value.replace("_", " ")) for k in kinds)
    reason = None if status is Status.UP else ", ".join(k.value.replace("_", " ") for k in kinds) or "condition"
    return CheckResult(check=CHECK[UPS], type="snmp", status=status, time=t, reason=reason,
                       reason_code=None if status is Status.UP else ReasonCode.CONDITION, observations=obs,
                       metrics=metrics)


__all__ = ["CHECK", "DC", "ROUTER", "SPD", "SRV", "UPS", "Office", "office_settings", "result", "ups_result"]
