"""Fixtures for the alerting tests: the local Telegram Bot API server (monitor.sandbox.telegram_api), a real
SQLite file with the schema, a fake clock, and :class:`World`, which writes incidents, outages, device
states and events exactly as the engine's recorder does (monitor/daemon/recorder.py, contract in monitor/events.py).

Everything goes through python-telegram-bot against the loopback server: never the real API.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.outbox import Dispatcher
from alerts.router import Router
from alerts.service import drain, make_dispatcher
from alerts.telegram import TelegramNotifier
from monitor.clock import Clock
from monitor.domain import DeviceRef, jsonable
from monitor.events import EventKind
from monitor.sandbox.telegram_api import TelegramApiServer
from monitor.settings import Settings, load_settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.inventory import sync_inventory
from monitor.storage.models import (
    DeviceStateRow,
    EventRow,
    IncidentRow,
    OutageRow,
    OutboxRow,
)
from tests.fakes import T0, FakeClock

TOKEN = "123456789:AAHtestTokenForTheLocalSandbox_0123456"
IT, HEAD, MINISTRY = -1001001, -1001002, -1001003
IT_THREAD = 7
ALLOWED, STRANGER = 5001, 6666

CONFIG = """
database: {{url: "sqlite:///{db}"}}
telegram:
  bot_token: "{token}"
  api_base_url: "{url}"
  allowed_users: [{allowed}]
  request_timeout: 2s
  audiences:
    ministry_liaison: {{chat_id: {ministry}}}
alerts:
  group_wait: {group_wait}
  repeat_interval: 4h
  digest_after: 10m
  daily_alive: null
{extra}
sites:
  - id: kantor
    name: "Disdukcapil Kab. Contoh"
    timezone: Asia/Jakarta
    audiences:
      it_staff: {{chat_id: {it}, thread_id: {thread}}}
      head_of_office: {{chat_id: {head}}}
    devices:
      - {{id: router, name: "Router VPN", kind: router}}
      - {{id: ups-1, name: "UPS Ruang Server", kind: ups, depends_on: [router]}}
      - {{id: srv, name: "Server Perekaman e-KTP", kind: recording_server, depends_on: [router], powered_by: ups-1,
          funding: apbn}}
      - {{id: ws-1, name: "Workstation 1", kind: workstation, powered_by: ups-1}}
      - {{id: ws-2, name: "Workstation 2", kind: workstation, powered_by: ups-1}}
      - {{id: ws-3, name: "Workstation 3", kind: workstation, powered_by: ups-1}}
      - {{id: spd, name: "Arrester Petir", kind: spd}}
      - {{id: evil, name: "Server <b>&\\"Jahat\\"</b> <script>", kind: workstation}}
"""


def write_config(tmp_path: Path, url: str, extra: str = "", name: str = "alerts.yaml",
                 group_wait: str = "30s") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(CONFIG).format(db=tmp_path / "alerts.db", token=TOKEN, url=url, allowed=ALLOWED,
                                                   group_wait=group_wait,
                                                   ministry=MINISTRY, it=IT, thread=IT_THREAD, head=HEAD,
                                                   extra=textwrap.dedent(extra)), encoding="utf-8")
    return path


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


class World:
    """Writes what the engine writes (one transaction per change, events in the recorder's order)."""

    def __init__(self, db: Database, settings: Settings, ids: dict[DeviceRef, int], clock: Clock) -> None:
        self.db, self.settings, self.ids, self.clock = db, settings, ids, clock
        self.site = "kantor"

    def dev(self, key: str) -> int:
        return self.ids[DeviceRef(self.site, key)]

    def name(self, key: str) -> str:
        return self.settings.site(self.site).device(key).name

    def _event(self, s: Session, kind: EventKind, payload: dict[str, Any], *, device: str | None = None,
               outage_id: int | None = None, incident_id: int | None = None) -> None:
        s.add(EventRow(time=self.clock.now(), kind=kind.value, site_id=self.site,
                       device_id=self.dev(device) if device else None, outage_id=outage_id, incident_id=incident_id,
                       payload=jsonable(payload)))

    def _device_payload(self, key: str) -> dict[str, Any]:
        d = self.settings.site(self.site).device(key)
        return {"site": self.site, "device": key, "device_name": d.name, "kind": d.kind.value}

    def evidence(self, device: str, kind: str, at: datetime | None = None, **values: Any) -> dict[str, Any]:
        return {"time": iso(at or self.clock.now()), "device": device, "kind": kind,
                "text": kind.replace("_", " "), "source": "poll", "values": values}

    def state(self, key: str, status: str, metrics: dict[str, Any] | None = None, reason: str | None = None,
              flapping: bool = False) -> None:
        now = self.clock.now()

        def fn(s: Session) -> None:
            row = s.get(DeviceStateRow, self.dev(key))
            if row is None:
                row = DeviceStateRow(device_id=self.dev(key), status=status, since=now, updated_at=now)
                s.add(row)
            if row.status != status:
                row.since = now
            row.status, row.reason, row.metrics, row.updated_at = status, reason, metrics or {}, now
            row.last_check_at, row.flapping = now, flapping
        self.db.call(fn)

    def open(self, key: str, *, status: str = "down", cause: str = "unknown", incident: int | None = None,
             evidence: list[dict[str, Any]] | None = None, reason: str = "timeout", planned: bool = False,
             started_at: datetime | None = None, flapping: bool = False) -> tuple[int, int]:
        """Open an outage; a new incident unless ``incident`` names one to join. Returns (outage, incident)."""
        now = self.clock.now()
        start = started_at or now
        ev = evidence or []

        def fn(s: Session) -> tuple[int, int]:
            o = OutageRow(device_id=self.dev(key), started_at=start, confirmed_at=now, status=status, cause=cause,
                          planned=planned, reason=reason, evidence=ev, gaps=[], updated_at=now)
            s.add(o)
            s.flush()
            if incident is None:
                inc = IncidentRow(site_id=self.site, started_at=start, cause=cause, worst_status=status,
                                  planned=planned, title=f"{self.name(key)}: {status}", evidence=ev, updated_at=now)
                s.add(inc)
                s.flush()
                o.incident_id = inc.id
                self._event(s, EventKind.INCIDENT_OPENED, {"site": self.site, "incident_id": inc.id, "cause": cause,
                                                           "started_at": iso(start), "devices": [key],
                                                           "planned": planned, "status": status},
                            incident_id=inc.id)
            else:
                inc = s.get(IncidentRow, incident)
                assert inc is not None
                o.incident_id = inc.id
                previous = inc.cause
                inc.cause = cause if cause != "unknown" else inc.cause
                inc.evidence = [*inc.evidence, *ev]
                inc.updated_at = now
                self._event(s, EventKind.INCIDENT_CHANGED, {"site": self.site, "incident_id": inc.id,
                                                            "cause": inc.cause, "previous_cause": previous,
                                                            "devices": [key], "joined": key},
                            incident_id=inc.id)
            self._event(s, EventKind.OUTAGE_OPENED, {**self._device_payload(key), "outage_id": o.id,
                                                     "started_at": iso(start), "confirmed_at": iso(now),
                                                     "status": status, "reason": reason, "cause": cause,
                                                     "evidence": ev, "planned": planned, "incident_id": inc.id,
                                                     "metrics": {}, "flapping": flapping},
                        device=key, outage_id=o.id, incident_id=inc.id)
            return o.id, inc.id
        return self.db.call(fn)

    def recause(self, incident_id: int, cause: str, evidence: list[dict[str, Any]] | None = None) -> None:
        """The incident's cause changes (new evidence), like the recorder's re-inference."""
        now = self.clock.now()

        def fn(s: Session) -> None:
            inc = s.get(IncidentRow, incident_id)
            assert inc is not None
            previous, inc.cause, inc.updated_at = inc.cause, cause, now
            inc.evidence = [*inc.evidence, *(evidence or [])]
            for o in s.scalars(select(OutageRow).where(OutageRow.incident_id == incident_id)):
                o.cause = cause
                o.evidence = [*o.evidence, *(evidence or [])]
            self._event(s, EventKind.INCIDENT_CHANGED, {"site": self.site, "incident_id": inc.id, "cause": cause,
                                                        "previous_cause": previous, "devices": []},
                        incident_id=inc.id)
        self.db.call(fn)

    def close(self, key: str) -> None:
        now = self.clock.now()

        def fn(s: Session) -> None:
            o = s.scalars(select(OutageRow).where(OutageRow.device_id == self.dev(key),
                                                  OutageRow.ended_at.is_(None))).one()
            o.ended_at, o.updated_at = now, now
            inc = s.get(IncidentRow, o.incident_id)
            assert inc is not None
            self._event(s, EventKind.OUTAGE_CLOSED, {**self._device_payload(key), "outage_id": o.id,
                                                     "started_at": iso(o.started_at), "ended_at": iso(now),
                                                     "duration_s": (now - o.started_at).total_seconds(),
                                                     "status": o.status, "cause": o.cause, "evidence": o.evidence,
                                                     "planned": o.planned, "incident_id": inc.id},
                        device=key, outage_id=o.id, incident_id=inc.id)
            s.flush()
            still = s.scalars(select(OutageRow).where(OutageRow.incident_id == inc.id,
                                                      OutageRow.ended_at.is_(None))).first()
            if still is None:
                inc.ended_at, inc.updated_at = now, now
                self._event(s, EventKind.INCIDENT_CLOSED, {"site": self.site, "incident_id": inc.id,
                                                           "cause": inc.cause, "started_at": iso(inc.started_at),
                                                           "ended_at": iso(now),
                                                           "duration_s": (now - inc.started_at).total_seconds(),
                                                           "devices": []}, incident_id=inc.id)
        self.db.call(fn)

    def flapping(self, key: str, started: bool, changes: int = 7) -> None:
        kind = EventKind.FLAPPING_STARTED if started else EventKind.FLAPPING_STOPPED
        payload = {**self._device_payload(key), "status": "down"}
        if started:
            payload.update(changes=changes, window_s=1800.0)
        self.db.call(lambda s: self._event(s, kind, payload, device=key))

    def observation(self, key: str, kind: str, **values: Any) -> None:
        now = self.clock.now()
        self.db.call(lambda s: self._event(s, EventKind.OBSERVATION, {
            **self._device_payload(key), "kind": kind, "observation": kind, "text": kind.replace("_", " "),
            "values": values, "source": "trap", "time": iso(now)}, device=key))

    def gap(self, started: datetime, ended: datetime) -> None:
        self.db.call(lambda s: s.add(EventRow(time=self.clock.now(), kind=EventKind.MONITOR_GAP.value, site_id=None,
                                              payload={"started_at": iso(started), "ended_at": iso(ended),
                                                       "duration_s": (ended - started).total_seconds(),
                                                       "reason": "host_rebooted"})))


@dataclass
class Env:
    """One test's alerting world: settings, database, fake clock, the local Bot API and the notifier."""

    settings: Settings
    db: Database
    clock: FakeClock
    api: TelegramApiServer
    notifier: TelegramNotifier
    world: World
    path: Path
    router: Router = field(init=False)
    dispatcher: Dispatcher = field(init=False)

    def __post_init__(self) -> None:
        self.router = Router(self.settings)
        self.dispatcher = make_dispatcher(self.settings, self.db, self.clock, self.notifier)

    async def drain(self) -> Any:
        return await drain(self.settings, self.db, self.clock, self.notifier, dispatcher=self.dispatcher,
                           router=self.router)

    async def advance(self, seconds: float) -> Any:
        """Route what happened so far (the router runs every half second), let time pass, drain again."""
        await self.drain()
        self.clock.advance(seconds)
        return await self.drain()

    def rows(self, **where: Any) -> list[OutboxRow]:
        def fn(s: Session) -> list[OutboxRow]:
            stmt = select(OutboxRow).order_by(OutboxRow.id)
            for k, v in where.items():
                stmt = stmt.where(getattr(OutboxRow, k) == v)
            return list(s.scalars(stmt))
        return self.db.call(fn)

    def incident(self, incident_id: int) -> IncidentRow:
        row = self.db.call(lambda s: s.get(IncidentRow, incident_id))
        assert row is not None
        return row


def open_db(settings: Settings) -> Database:
    engine = dbmod.create_db_engine(settings.database_url)
    dbmod.upgrade(engine)
    return Database(engine)


@pytest.fixture
async def api() -> AsyncIterator[TelegramApiServer]:
    async with TelegramApiServer(TOKEN) as server:
        yield server


async def make_env(tmp_path: Path, api: TelegramApiServer, extra: str = "", start: datetime = T0,
                   group_wait: str = "30s") -> Env:
    path = write_config(tmp_path, api.url, extra, group_wait=group_wait)
    settings = load_settings(path)
    db = open_db(settings)
    clock = FakeClock(start)
    ids = db.call(lambda s: sync_inventory(s, settings, clock.now()))
    notifier = TelegramNotifier.from_settings(settings)
    return Env(settings, db, clock, api, notifier, World(db, settings, ids, clock), path)


@pytest.fixture
async def env(tmp_path: Path, api: TelegramApiServer) -> AsyncIterator[Env]:
    e = await make_env(tmp_path, api)
    try:
        yield e
    finally:
        await e.notifier.close()
        e.db.close()


@pytest.fixture
def later() -> Iterator[timedelta]:
    yield timedelta(seconds=31)
