"""Promise 2 — dependencies failing: Telegram (unreachable for a day, 429 storms, 500s, a slow API), the
database (locked by another process, the disk full), the config (an invalid reload) and the clock (NTP
steps forward and back). The monitor keeps checking, keeps its state in memory, writes when it can, warns
through Telegram when it can, loses no outage and no alert, and never corrupts its record.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.outbox import Dispatcher
from alerts.router import Router
from alerts.service import drain, make_dispatcher
from alerts.telegram import TelegramNotifier
from monitor import app
from monitor.clock import SystemClock
from monitor.daemon.core import Daemon as CoreDaemon
from monitor.daemon.pipeline import Pipeline
from monitor.daemon.recorder import Recorder
from monitor.domain import DeviceRef, Status
from monitor.engine.state import Policy, World
from monitor.sandbox.telegram_api import TelegramApiServer
from monitor.settings import Settings, load_settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.inventory import sync_inventory
from monitor.storage.models import DeliveryAttemptRow, IncidentRow, MonitorGapRow, OutageRow, OutboxRow
from tests.fakes import T0, FakeClock, result

from .conftest import (
    Daemon,
    TcpService,
    integrity,
    query,
    report,
    upgrade,
    write,
)

TOKEN = "4242424242:reliability-deps-token-abcdef012"
IT = -1009200001

# ================================================================================== Telegram failing


TG_CONFIG = """
database: {{url: "sqlite:///{db}"}}
defaults: {{interval: 60s, timeout: 1s, retries: 0, confirm_down: 2, confirm_up: 2}}
telegram: {{bot_token: "{token}", api_base_url: "{url}", allowed_users: [5001], request_timeout: 1s}}
alerts: {{group_wait: 0s, daily_alive: null, digest_after: 10m, repeat_interval: 7d}}
escalation: {{steps: [{{audience: it_staff}}]}}
flapping: {{max_changes: 1000}}
causes: {{incident_window: 1m}}
sites:
  - id: kantor
    name: "Kantor Uji"
    audiences: {{it_staff: {{chat_id: {it}}}}}
    devices:
      - {{id: srv-1, name: "Server 1", kind: recording_server, address: 127.0.0.1, checks: [{{type: tcp, port: 9}}]}}
      - {{id: srv-2, name: "Server 2", kind: recording_server, address: 127.0.0.1, checks: [{{type: tcp, port: 9}}]}}
"""


@dataclass
class Office:
    """The real engine pipeline and the real alerting (router, outbox, python-telegram-bot) on one SQLite
    file, driven by a fake clock; the Bot API is the local server."""

    settings: Settings
    db: Database
    clock: FakeClock
    pipeline: Pipeline
    notifier: TelegramNotifier
    router: Router
    dispatcher: Dispatcher

    async def result(self, device: str, status: Status) -> None:
        self.pipeline.submit_result(DeviceRef("kantor", device), result("tcp:9", status, self.clock.now()))
        await self.pipeline.drain()

    async def tick(self, seconds: float) -> None:
        """Route and send what is due (as the running components would), then let time pass."""
        await drain(self.settings, self.db, self.clock, self.notifier, dispatcher=self.dispatcher, router=self.router)
        self.clock.advance(seconds)

    async def outage(self, device: str, minutes: int) -> None:
        """``device`` down (confirmed after two results a minute apart) for ``minutes``, then back."""
        for status in (Status.DOWN, Status.DOWN):
            await self.result(device, status)
            await self.tick(60)
        for _ in range(minutes // 5):
            await self.tick(300)
        for status in (Status.UP, Status.UP):
            await self.result(device, status)
            await self.tick(60)

    def rows(self) -> list[OutboxRow]:
        return self.db.call(lambda s: list(s.scalars(select(OutboxRow).order_by(OutboxRow.id))))

    def attempts(self) -> list[DeliveryAttemptRow]:
        return self.db.call(lambda s: list(s.scalars(select(DeliveryAttemptRow).order_by(DeliveryAttemptRow.id))))


@pytest.fixture
async def office(tmp_path: Path) -> AsyncIterator[tuple[Office, TelegramApiServer]]:
    async with TelegramApiServer(TOKEN) as api:
        path = tmp_path / "office.yaml"
        path.write_text(textwrap.dedent(TG_CONFIG).format(db=tmp_path / "office.db", token=TOKEN, url=api.url, it=IT))
        settings = load_settings(path)
        engine = dbmod.create_db_engine(settings.database_url)
        dbmod.upgrade(engine)
        db = Database(engine)
        clock = FakeClock(T0)
        ids = db.call(lambda s: sync_inventory(s, settings, clock.now()))
        pipeline = Pipeline(db, Recorder(settings, ids), Policy.from_settings(settings), World(), clock,
                            batch_delay=0)
        await pipeline.start()
        await pipeline.reconfigure(pipeline.recorder, pipeline.policy)
        notifier = TelegramNotifier.from_settings(settings)
        office = Office(settings, db, clock, pipeline, notifier, Router(settings),
                        make_dispatcher(settings, db, clock, notifier))
        for dev in ("srv-1", "srv-2"):
            await office.result(dev, Status.UP)
        try:
            yield office, api
        finally:
            await pipeline.stop()
            await notifier.close()
            db.close()


FAULTS = ["unreachable_for_a_day", "429_storm", "500s", "slow_api_timeouts"]


@pytest.mark.parametrize("fault", FAULTS)
async def test_telegram_failing_loses_no_alert(office: tuple[Office, TelegramApiServer], fault: str) -> None:
    o, api = office
    if fault == "unreachable_for_a_day":
        await api.go_down()
    elif fault == "429_storm":
        api.fail("sendMessage", status=429, retry_after=45, times=None)
    elif fault == "500s":
        api.fail("sendMessage", status=500, times=None)
    else:
        api.slow(1.5, "sendMessage")  # request_timeout 1 s: Telegram takes it, the answer comes too late
    started = o.clock.now()
    outages = 3
    for i in range(outages):
        await o.outage("srv-1" if i % 2 == 0 else "srv-2", minutes=20)
        if fault == "unreachable_for_a_day":
            for _ in range(14):                        # the rest of a simulated day without Telegram
                await o.tick(1800)
    faulty = o.clock.now() - started
    during = len(api.messages)
    # the dependency heals
    if fault == "unreachable_for_a_day":
        await api.come_up()
    api.clear_faults()
    for _ in range(8):
        await o.tick(300)

    rows = o.rows()
    incidents = o.db.call(lambda s: list(s.scalars(select(IncidentRow).order_by(IncidentRow.id))))
    assert len(incidents) == outages and all(i.ended_at is not None for i in incidents)
    assert {r.status for r in rows} == {"sent"}, [(r.id, r.kind, r.status, r.last_error) for r in rows]
    for inc in incidents:                              # each outage: its alert and its recovery, delivered
        kinds = {r.kind for r in rows if r.incident_id == inc.id}
        assert {"alert", "recovery"} <= kinds, (inc.id, kinds)
    recorded = {(str(r.chat_id), r.message_id) for r in rows if r.message_id is not None}
    delivered = [(str(m.chat_id), m.message_id) for m in api.messages]
    assert recorded <= set(delivered)
    duplicates = [k for k in delivered if k not in recorded]
    attempts = o.attempts()
    failed = [a for a in attempts if not a.ok]
    error_kinds = {a.error_kind for a in failed}
    assert all(TOKEN not in (a.error or "") for a in attempts)
    if fault == "unreachable_for_a_day":
        assert during == 0 and faulty >= timedelta(hours=20) and error_kinds == {"network"}
        assert len(api.messages) == 1 and "Selama offline" in (api.messages[0].text or "")  # one digest
        digest = api.messages[0].text or ""
        assert all((r.payload.get("summary") or "")[:20] in digest for r in rows if r.digest_id is not None)
        assert len({a.time for a in failed}) <= 60     # the circuit breaker probes, it does not hammer
    elif fault == "429_storm":
        assert during == 0 and error_kinds == {"rate_limited"}
        times = sorted({a.time for a in failed})    # rows sent together fail together
        gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
        assert min(gaps) >= 45, gaps                   # retry_after obeyed
    elif fault == "500s":
        assert during == 0 and error_kinds == {"network"}
    else:
        assert error_kinds == {"timeout"}
        assert len(duplicates) <= len(failed)         # a timed-out send may have arrived: at most one copy each
    if fault != "slow_api_timeouts":
        assert duplicates == []
    report(f"telegram {fault}: {outages} outages over {faulty.total_seconds() / 3600:.1f} h of failure, "
           f"{len({a.time for a in failed})} failed sends ({len(failed)} row attempts, "
           f"{sorted(str(k) for k in error_kinds)}), {len(rows)} outbox rows all sent, "
           f"{len(api.messages)} messages, {len(duplicates)} duplicates")


# ==================================================================== the daemon's database in trouble


def _daemon_config(tmp_path: Path, db_path: Path, api_url: str, port: int, extra: str = "",
                   devices: str = "") -> Path:
    return write(tmp_path / "office.yaml", f"""
        database: {{url: "sqlite:///{db_path}", busy_timeout: 500ms}}
        defaults: {{interval: 500ms, timeout: 300ms, retries: 0, confirm_down: 2, confirm_up: 2}}
        telegram: {{bot_token: "{TOKEN}", api_base_url: "{api_url}", allowed_users: [5001], request_timeout: 3s,
                   per_chat_per_minute: 60}}
        monitor: {{heartbeat_interval: 1s, jitter: 100ms}}
        alerts: {{group_wait: 0s, daily_alive: null, digest_after: 1h}}
        escalation: {{steps: [{{audience: it_staff}}]}}
        reports: {{weekly: {{enabled: false}}}}
        {extra}
        sites:
          - id: kantor
            name: "Kantor Uji"
            audiences: {{it_staff: {{chat_id: {IT}}}}}
            devices:
              - {{id: srv, name: "Server Perekaman", kind: recording_server, address: 127.0.0.1,
                  checks: [{{type: tcp, port: {port}}}]}}
              {devices}
        """)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _samples(db: Path, since: float) -> list[float]:
    return [_ts(t) for (t,) in query(db, "SELECT time FROM check_samples ORDER BY time") if _ts(t) >= since]


async def _wait(pred: Any, within: float, what: str, proc: Daemon) -> None:
    deadline = time.monotonic() + within
    while not pred():
        if not proc.alive():
            raise AssertionError(f"{what}: the monitor exited\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{proc.tail()}")
        await asyncio.sleep(0.1)


async def test_database_locked_by_another_process(tmp_path: Path) -> None:
    """Another program holds the database's write lock for 8 s while the server goes down: the monitor
    keeps checking (its log shows the change at once), keeps everything in memory, warns the IT chat
    directly (the outbox cannot be written), and records the outage — from its true start — when the lock
    goes."""
    svc = TcpService()
    db = tmp_path / "monitor.db"
    async with TelegramApiServer(TOKEN) as api:
        cfg = _daemon_config(tmp_path, db, api.url, svc.port)
        upgrade(cfg)
        daemon = Daemon(cfg, tmp_path / "monitor.log").start()
        locker: subprocess.Popen[str] | None = None
        try:
            await _wait(lambda: query(db, "SELECT status FROM device_states") == [("up",)], 60, "the server up", daemon)
            lock_s = 8.0
            locker = subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(f"""
                    import sqlite3, sys, time
                    c = sqlite3.connect({str(db)!r}, isolation_level=None, timeout=10)
                    c.execute("BEGIN EXCLUSIVE"); print("locked", flush=True)
                    time.sleep({lock_s}); c.execute("ROLLBACK"); print("released", flush=True)
                """)], stdout=subprocess.PIPE, text=True)
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            locked_at = time.time()
            await asyncio.sleep(1.0)
            svc.down()
            down_at = time.time()
            await _wait(lambda: "kantor/srv up -> down" in daemon.text(), 10, "the change seen while locked", daemon)
            seen_at = time.time()
            assert query(db, "SELECT COUNT(*) FROM outages") == [(0,)]      # nothing could be written yet
            assert locker.stdout.readline().strip() == "released"
            released_at = time.time()
            await _wait(lambda: query(db, "SELECT COUNT(*) FROM outages") == [(1,)], 20, "the outage written", daemon)
            svc.up()
            await _wait(lambda: query(db, "SELECT ended_at IS NOT NULL FROM outages") == [(1,)], 20, "recovery",
                        daemon)
            await _wait(lambda: query(db, "SELECT COUNT(*) FROM outbox WHERE status != 'sent'") == [(0,)]
                        and query(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'recovery'") == [(1,)], 30,
                        "the alerts sent", daemon)
        finally:
            if locker is not None and locker.poll() is None:
                locker.kill()
                locker.wait(10)
            code = daemon.stop()
            svc.down()
        assert code == 0, daemon.tail()
        log = daemon.text()
        assert "could not record" in log and "database is locked" in log
        [(start,)] = query(db, "SELECT started_at FROM outages")
        assert down_at - 1.0 <= _ts(start) <= down_at + 1.5                     # the true start, not the write time
        during = [t for t in _samples(db, locked_at) if t <= released_at]
        assert len(during) >= 8, during                                        # kept checking while locked
        texts = [m.text or "" for m in api.messages_to(IT)]
        assert any("tidak bisa menulis databasenya" in t and "dikunci" in t for t in texts), texts
        assert any("GANGGUAN" in t for t in texts) and any("PULIH" in t for t in texts)
        assert integrity(db) == "ok"
        report(f"database locked {lock_s:.0f} s: change logged {seen_at - down_at:.1f} s after it happened, "
               f"{len(during)} check results kept in memory and written after the lock, outage start "
               f"{_ts(start) - down_at:+.2f} s from the truth; IT chat warned directly")


def _fill(mnt: Path) -> Path:
    """Fill the filesystem completely with one file; returns it."""
    filler = mnt / "filler.bin"
    chunk = b"\0" * (64 * 1024)
    with contextlib.suppress(OSError), filler.open("wb") as out:
        while True:
            out.write(chunk)
            out.flush()
    with contextlib.suppress(OSError), filler.open("ab") as out:   # the last partial chunk
        for _ in range(64):
            out.write(b"\0" * 1024)
            out.flush()
    return filler


async def test_disk_full_keeps_checking_warns_and_writes_when_space_returns(tmp_path: Path, small_disk: Path) -> None:
    svc = TcpService()
    db = small_disk / "monitor.db"
    async with TelegramApiServer(TOKEN) as api:
        cfg = _daemon_config(tmp_path, db, api.url, svc.port)
        upgrade(cfg)
        daemon = Daemon(cfg, tmp_path / "monitor.log").start()
        try:
            await _wait(lambda: query(db, "SELECT status FROM device_states") == [("up",)], 60, "the server up", daemon)
            filler = _fill(small_disk)
            full_at = time.time()
            await asyncio.sleep(1.0)
            svc.down()
            down_at = time.time()
            await _wait(lambda: "kantor/srv up -> down" in daemon.text(), 10, "the change seen on a full disk", daemon)
            await _wait(lambda: any("tidak bisa menulis databasenya" in (m.text or "") for m in api.messages_to(IT)),
                        20, "the direct warning", daemon)
            assert query(db, "SELECT COUNT(*) FROM outages") == [(0,)]
            await asyncio.sleep(3.0)                                            # a while longer on a full disk
            filler.unlink()
            freed_at = time.time()
            await _wait(lambda: query(db, "SELECT COUNT(*) FROM outages") == [(1,)], 60, "the outage written", daemon)
            written_at = time.time()
            svc.up()
            await _wait(lambda: query(db, "SELECT ended_at IS NOT NULL FROM outages") == [(1,)], 20, "recovery",
                        daemon)
            await _wait(lambda: query(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'recovery' AND status = 'sent'")
                        == [(1,)], 30, "the recovery message", daemon)
        finally:
            code = daemon.stop()
            svc.down()
        assert code == 0, daemon.tail()
        log = daemon.text()
        assert "could not record" in log and "disk full" in log
        [(start,)] = query(db, "SELECT started_at FROM outages")
        assert down_at - 1.0 <= _ts(start) <= down_at + 1.5
        during = [t for t in _samples(db, full_at) if t <= freed_at]
        assert len(during) >= 6, during
        texts = [m.text or "" for m in api.messages_to(IT)]
        assert any("tidak bisa menulis databasenya" in t and "disk penuh" in t for t in texts), texts
        assert any("hampir penuh" in t for t in texts), texts                 # the nearly-full warning as well
        assert any("GANGGUAN" in t for t in texts) and any("PULIH" in t for t in texts)
        assert integrity(db) == "ok"
        report(f"disk full: {freed_at - full_at:.0f} s on a full tmpfs, {len(during)} check results kept in memory, "
               f"outage written {written_at - freed_at:.1f} s after space returned with start "
               f"{_ts(start) - down_at:+.2f} s from the truth; integrity_check ok")


# ==================================================================================== config reload


async def test_reload_with_an_invalid_config_keeps_running_on_the_old_one_and_says_why(tmp_path: Path) -> None:
    svc = TcpService()
    db = tmp_path / "monitor.db"
    async with TelegramApiServer(TOKEN) as api:
        cfg = _daemon_config(tmp_path, db, api.url, svc.port)
        good = cfg.read_text()
        upgrade(cfg)
        daemon = Daemon(cfg, tmp_path / "monitor.log").start()
        try:
            await _wait(lambda: query(db, "SELECT status FROM device_states") == [("up",)], 60, "the server up", daemon)
            cfg.write_text(good.replace("kind: recording_server", "kind: mainframe"))
            daemon.signal(signal.SIGHUP)
            await _wait(lambda: "config reload refused, still running on the previous config" in daemon.text(), 20,
                        "the refusal", daemon)
            # still monitoring on the old config: an outage now is found and alerted
            svc.down()
            await _wait(lambda: query(db, "SELECT COUNT(*) FROM outages") == [(1,)], 20, "the outage", daemon)
            await api.wait_for_messages(1, within=20, chat_id=IT)
            svc.up()
            await _wait(lambda: query(db, "SELECT ended_at IS NOT NULL FROM outages") == [(1,)], 20, "recovery",
                        daemon)
        finally:
            code = daemon.stop()
            svc.down()
        assert code == 0, daemon.tail()
        log = daemon.text()
        refusal = log[log.index("config reload refused"):][:800]
        line = next(n for n, text in enumerate(good.splitlines(), 1) if "kind: recording_server" in text)
        assert f"{cfg}:{line}: sites[0].devices[0].kind: invalid value 'mainframe'" in refusal, refusal
        assert "Traceback" not in log
        assert any("GANGGUAN" in (m.text or "") for m in api.messages_to(IT))


# ======================================================================================= clock steps


class SteppedClock(SystemClock):
    """The system clock with a wall-clock offset the test steps (an NTP step); monotonic time is untouched.

    :meth:`install` makes APScheduler read the same wall clock (it calls ``datetime.now`` itself), so the
    step hits the whole process the way a real one does — without libfaketime."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import apscheduler.executors.base
        import apscheduler.schedulers.base

        clock = self

        class _Stepped(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
                return datetime.now(tz) + clock.offset

        for module in (apscheduler.schedulers.base, apscheduler.executors.base):
            monkeypatch.setattr(module, "datetime", _Stepped)


async def test_clock_steps_forward_and_back_make_no_fake_outage_and_no_negative_duration(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = TcpService()
    path = write(tmp_path / "office.yaml", f"""
        database: {{url: "sqlite:///{tmp_path / 'monitor.db'}"}}
        telegram: {{enabled: false}}
        defaults: {{interval: 300ms, timeout: 200ms, retries: 0, confirm_down: 2, confirm_up: 2}}
        monitor: {{heartbeat_interval: 500ms, jitter: 50ms, clock_skew_warn: 30s}}
        sites:
          - id: kantor
            name: "Kantor Uji"
            devices:
              - {{id: srv, name: "Server", kind: recording_server, address: 127.0.0.1,
                  checks: [{{type: tcp, port: {svc.port}}}]}}
        """)
    settings = app.load_config(path)
    engine = dbmod.create_db_engine(settings.database_url)
    dbmod.upgrade(engine)
    db = Database(engine)
    clock = SteppedClock()
    clock.install(monkeypatch)
    resources = app.build_check_resources(settings)
    daemon = CoreDaemon(settings, db, build_checks=lambda s: app.build_checks(s, resources), clock=clock,
                        batch_delay=0.05, cleanup=[resources.close])
    await daemon.start()
    steps: list[float] = []
    try:
        async def until(pred: Any, what: str, within: float = 15.0) -> None:
            deadline = time.monotonic() + within
            while not pred():
                assert time.monotonic() < deadline, what
                await asyncio.sleep(0.05)

        srv = DeviceRef("kantor", "srv")
        await until(lambda: daemon.world.get(srv).status is Status.UP, "the server up")
        for step in (timedelta(hours=1), timedelta(hours=-1), timedelta(minutes=-30), timedelta(minutes=45)):
            clock.offset += step                          # NTP steps the wall clock while everything is up
            steps.append(step.total_seconds())
            await asyncio.sleep(1.5)
        assert db.call(lambda s: list(s.scalars(select(OutageRow)))) == []      # no fake outage
        assert daemon.world.get(srv).status is Status.UP

        def outages() -> list[OutageRow]:
            return db.call(lambda s: list(s.scalars(select(OutageRow).order_by(OutageRow.id))))

        # an outage after a step back is measured on the new clock (not frozen at the old time)
        clock.offset -= timedelta(hours=1)
        steps.append(-3600.0)
        await asyncio.sleep(1.5)
        svc.down()
        down_wall = clock.now()
        await until(lambda: len(outages()) == 1, "the first outage")
        await asyncio.sleep(2.0)
        svc.up()
        up_wall = clock.now()
        await until(lambda: [o.ended_at is not None for o in outages()] == [True], "its recovery")
        # a real outage with a step back in the middle of it
        svc.down()
        span_start = time.monotonic()
        await until(lambda: len(outages()) == 2, "the second outage")
        clock.offset -= timedelta(hours=2)
        steps.append(-7200.0)
        await asyncio.sleep(1.0)
        svc.up()
        span_truth = time.monotonic() - span_start
        await until(lambda: [o.ended_at is not None for o in outages()] == [True, True], "its recovery")
        await daemon.pipeline.drain()
    finally:
        await daemon.stop()
        svc.down()
    after_step, across_step = db.call(lambda s: list(s.scalars(select(OutageRow).order_by(OutageRow.id))))
    gaps = db.call(lambda s: list(s.scalars(select(MonitorGapRow))))
    db.close()
    for o in (after_step, across_step):
        assert o.ended_at is not None and o.ended_at >= o.started_at                 # never negative
    assert after_step.ended_at is not None
    measured = (after_step.ended_at - after_step.started_at).total_seconds()
    truth = (up_wall - down_wall).total_seconds()
    assert abs(measured - truth) <= 1.0, (measured, truth)                         # on the new clock
    assert abs((after_step.started_at - down_wall).total_seconds()) <= 1.0
    assert all(g.ended_at >= g.started_at for g in gaps)
    assert gaps == []                    # a step is no time the monitor missed (issue 13); only a suspend is
    assert [round(s.size_s) for s in daemon.clock_steps] == [round(s) for s in steps]
    assert across_step.ended_at is not None
    spanned = (across_step.ended_at - across_step.started_at).total_seconds()
    assert abs(spanned - span_truth) <= 1.0, (spanned, span_truth)             # its monotonic span
    report(f"clock steps {[f'{s / 60:+.0f} min' for s in steps]}: 0 fake outages; an outage after a step back "
           f"measured {measured:.2f} s for {truth:.2f} s; one spanning a 2 h step back {spanned:.2f} s for "
           f"{span_truth:.2f} s; every step recorded with its size, none as a gap")
