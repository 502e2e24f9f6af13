"""Promise 6 — monitoring the monitor: the daily "still alive" line in the IT staff chat (configurable), the
optional heartbeat to an external dead man's switch (its URL a secret, never logged), and the monitor saying
so in the IT chat when its own checks find its disk nearly full or its clock off.
"""

from __future__ import annotations

import email.utils
import http.server
import os
import re
import shutil
import subprocess
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from alerts.selfwarn import SelfWarnings
from alerts.service import drain, escalation_round
from alerts.telegram import TelegramNotifier
from monitor.clock import SystemClock
from monitor.daemon.deadman import TimeReference, skew_from_date
from monitor.sandbox.telegram_api import TelegramApiServer
from monitor.settings import load_settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.inventory import sync_inventory
from monitor.storage.models import OutboxRow
from tests.fakes import FakeClock

from .conftest import Daemon, TcpService, query, report, upgrade, wait_until, write

TOKEN = "4242424242:reliability-selfwatch-token-0123"
IT = -1009400001


class Reference(http.server.ThreadingHTTPServer):
    """A loopback HTTP server standing for the dead man's switch (or any server with a good clock): records
    the paths it is asked for and answers with a ``Date`` header ``offset`` away from the true time."""

    allow_reuse_address = True

    def __init__(self, port: int = 0, offset: timedelta = timedelta(0)) -> None:
        self.paths: list[tuple[float, str]] = []
        self.offset = offset
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append((time.time(), self.path))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def do_HEAD(self) -> None:
                outer.paths.append((time.time(), self.path))
                self.send_response(200)
                self.end_headers()

            def date_time_string(self, timestamp: float | None = None) -> str:
                return email.utils.formatdate(time.time() + outer.offset.total_seconds(), usegmt=True)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", port), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def test_clock_reference_arithmetic() -> None:
    sent = datetime(2026, 11, 23, 1, 0, 0, tzinfo=UTC)
    got = skew_from_date("Mon, 23 Nov 2026 00:50:00 GMT", sent, sent + timedelta(seconds=0.2))
    assert got is not None and 599.0 <= got[0] <= 600.5 and got[1] == 0.6       # our clock 10 min ahead
    got = skew_from_date("Mon, 23 Nov 2026 01:00:00 GMT", sent, sent + timedelta(seconds=0.2))
    assert got is not None and abs(got[0]) < 1.0
    assert skew_from_date(None, sent, sent) is None and skew_from_date("yesterday", sent, sent) is None


# ================================================================== the daemon watched from outside


def test_daily_line_heartbeat_url_and_clock_warning_from_the_running_daemon(tmp_path: Path) -> None:
    """One ``ektp-monitor run``: the daily line (its time set to a minute ago) arrives in the IT chat; the
    dead man's switch is pinged every second at its secret URL, which never appears in the log; the switch
    answers with a clock 10 minutes behind, so the IT chat hears that the monitor's clock is off; while the
    database is locked the pings stop; when the switch is away the log says so without the URL."""
    import asyncio

    svc = TcpService()
    switch = Reference(offset=timedelta(minutes=-10))
    secret = "ping/" + os.urandom(12).hex()
    url = f"http://127.0.0.1:{switch.port}/{secret}"
    wib = datetime.now(ZoneInfo("Asia/Jakarta")) - timedelta(minutes=1)
    db = tmp_path / "monitor.db"

    async def scenario() -> tuple[Daemon, TelegramApiServer, dict[str, Any]]:
        async with TelegramApiServer(TOKEN) as api:
            cfg = write(tmp_path / "office.yaml", f"""
                database: {{url: "sqlite:///{db}", busy_timeout: 300ms}}
                defaults: {{interval: 1s, timeout: 300ms, retries: 0}}
                telegram: {{bot_token: "{TOKEN}", api_base_url: "{api.url}", allowed_users: [5001]}}
                monitor: {{heartbeat_interval: 500ms, jitter: 100ms, heartbeat_url: "${{EKTP_TEST_HEARTBEAT}}",
                          heartbeat_url_interval: 1s, clock_skew_warn: 2m}}
                alerts: {{group_wait: 0s, daily_alive: "{wib:%H:%M}"}}
                escalation: {{steps: [{{audience: it_staff}}]}}
                reports: {{weekly: {{enabled: false}}}}
                sites:
                  - id: kantor
                    name: "Kantor Uji"
                    timezone: Asia/Jakarta
                    audiences: {{it_staff: {{chat_id: {IT}}}}}
                    devices:
                      - {{id: srv, name: "Server", kind: recording_server, address: 127.0.0.1,
                          checks: [{{type: tcp, port: {svc.port}}}]}}
                """)
            env = {"EKTP_TEST_HEARTBEAT": url}
            upgrade(cfg, env)
            daemon = Daemon(cfg, tmp_path / "monitor.log", env=env).start()
            out: dict[str, Any] = {}
            try:
                deadline = time.monotonic() + 60

                async def until(pred: Any, what: str) -> None:
                    while not pred():
                        assert time.monotonic() < deadline and daemon.alive(), f"{what}\n{daemon.tail()}"
                        await asyncio.sleep(0.1)

                await until(lambda: any("Monitor aktif" in (m.text or "") for m in api.messages_to(IT)),
                            "the daily line")
                await until(lambda: len(switch.paths) >= 3, "three pings")
                await until(lambda: any("Jam komputer monitor salah" in (m.text or "") for m in api.messages_to(IT)),
                            "the clock warning")
                # the database locked: the monitor cannot keep its record, so it stops telling the world it is fine
                lock = subprocess.Popen(["python3", "-c", textwrap.dedent(f"""
                    import sqlite3, time
                    c = sqlite3.connect({str(db)!r}, isolation_level=None, timeout=10)
                    c.execute("BEGIN EXCLUSIVE"); print("locked", flush=True); time.sleep(5); c.execute("ROLLBACK")
                """)], stdout=subprocess.PIPE, text=True)
                assert lock.stdout is not None and lock.stdout.readline().strip() == "locked"
                locked = time.time()
                lock.wait(20)
                released = time.time()
                out["pings_while_locked"] = [t for t, _ in switch.paths if locked + 2.5 <= t <= released]
                await until(lambda: switch.paths[-1][0] > released + 0.5, "pings again after the lock")
                # the switch goes away, and comes back
                port = switch.port
                switch.close()
                await until(lambda: "heartbeat URL not reached" in daemon.text(), "the failure logged")
                back = Reference(port=port)
                await until(lambda: len(back.paths) >= 1 and "pings get through again" in daemon.text(),
                            "pings again")
                back.close()
                out["messages"] = [m.text or "" for m in api.messages_to(IT)]
                out["silent"] = [m.silent for m in api.messages_to(IT) if "Monitor aktif" in (m.text or "")]
                out["pings"] = list(switch.paths)
            finally:
                code = daemon.stop()
                svc.down()
                out["code"] = code
            return daemon, api, out

    daemon, _api, out = asyncio.run(scenario())
    assert out["code"] == 0, daemon.tail()
    log = daemon.text()
    assert url not in log and secret not in log and "heartbeat URL" in log
    assert all(p == "/" + secret for _, p in out["pings"])
    assert out["pings_while_locked"] == [], out["pings_while_locked"]
    alive = [t for t in out["messages"] if "Monitor aktif" in t]
    assert len(alive) == 1 and "Kantor Uji" in alive[0] and out["silent"] == [True]
    [clock] = [t for t in out["messages"] if "Jam komputer monitor salah" in t]
    assert "lebih cepat" in clock and "10 menit" in clock and "layanan heartbeat" in clock
    gaps = [b - a for (a, _), (b, _) in zip(out["pings"], out["pings"][1:], strict=False)]
    report(f"monitoring the monitor (daemon): the daily line at {wib:%H:%M} WIB arrived once, silent; "
           f"{len(out['pings'])} heartbeat pings ~{sorted(gaps)[len(gaps) // 2]:.1f} s apart at the secret URL "
           f"(absent from the log), none while the database was locked; the clock 10 min ahead of the reference "
           f"was said in the IT chat: {clock.splitlines()[0][:90]!r}")


# ========================================================================= the daily line, configurable


ALIVE_CONFIG = """
database: {{url: "sqlite:///{db}"}}
telegram: {{bot_token: "{token}", api_base_url: "{url}", allowed_users: [5001]}}
alerts: {{daily_alive: {at}}}
escalation: {{steps: [{{audience: it_staff}}]}}
sites:
  - id: palu
    name: "Disdukcapil Kota Palu"
    timezone: Asia/Makassar
    language: en
    audiences: {{it_staff: {{chat_id: {it}}}}}
    devices:
      - {{id: srv, name: "Server", kind: recording_server, address: 127.0.0.1, checks: [{{type: tcp, port: 9}}]}}
"""


@pytest.mark.parametrize(("at", "expected_local_times"), [
    ('"07:30"', ["07:30", "07:30"]),        # default time, every day, once
    ('"18:05"', ["18:05", "18:05"]),        # another time
    ("null", []),                           # switched off
])
async def test_the_daily_still_alive_line_is_configurable(tmp_path: Path, at: str,
                                                          expected_local_times: list[str]) -> None:
    async with TelegramApiServer(TOKEN) as api:
        path = tmp_path / "office.yaml"
        path.write_text(textwrap.dedent(ALIVE_CONFIG).format(db=tmp_path / "m.db", token=TOKEN, url=api.url, at=at,
                                                             it=IT))
        settings = load_settings(path)
        engine = dbmod.create_db_engine(settings.database_url)
        dbmod.upgrade(engine)
        db = Database(engine)
        start = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)            # 06:00 WITA
        clock = FakeClock(start)
        db.call(lambda s: sync_inventory(s, settings, clock.now()))
        notifier = TelegramNotifier.from_settings(settings)
        sent_at: list[str] = []
        try:
            for _ in range(2 * 24 * 4):                                 # two days, the escalation tick every 15 min
                before = len(api.messages)
                await escalation_round(db, settings, clock)
                await drain(settings, db, clock, notifier)
                for m in api.messages[before:]:
                    sent_at.append(f"{clock.now().astimezone(ZoneInfo('Asia/Makassar')):%H:%M}")
                    assert m.silent and "Disdukcapil Kota Palu" in (m.text or "") and "WITA" in (m.text or "")
                clock.advance(15 * 60)
            rows = db.call(lambda s: list(s.scalars(select(OutboxRow).where(OutboxRow.kind == "alive"))))
        finally:
            await notifier.close()
            db.close()
    # sent at the first 15-minute tick at or after the configured time, in the site's zone, once a day
    expected = [t for t in expected_local_times]
    got = [t[:3] + str(int(t[3:]) // 15 * 15).zfill(2) for t in sent_at]
    want = [t[:3] + str(int(t[3:]) // 15 * 15 + (15 if int(t[3:]) % 15 else 0)).zfill(2) for t in expected]
    assert got == want, (sent_at, expected)
    assert len(rows) == len(expected)


# ============================================================================= disk nearly full


def test_the_monitors_disk_nearly_full_is_said_in_the_it_chat(tmp_path: Path, small_disk: Path) -> None:
    """The ``monitor_host`` device's host check watches the disk the database is on (a tmpfs here); filled to
    95 % it is degraded, and the IT chat gets the alert naming the disk; freed, the recovery."""
    import asyncio

    db = small_disk / "monitor.db"

    async def scenario() -> tuple[Daemon, list[str]]:
        async with TelegramApiServer(TOKEN) as api:
            cfg = write(tmp_path / "office.yaml", f"""
                database: {{url: "sqlite:///{db}"}}
                defaults: {{interval: 1s, timeout: 500ms, confirm_down: 2, confirm_up: 2}}
                telegram: {{bot_token: "{TOKEN}", api_base_url: "{api.url}", allowed_users: [5001]}}
                monitor: {{heartbeat_interval: 1s, jitter: 100ms}}
                alerts: {{group_wait: 0s, daily_alive: null}}
                escalation: {{steps: [{{audience: it_staff}}]}}
                reports: {{weekly: {{enabled: false}}}}
                sites:
                  - id: kantor
                    name: "Kantor Uji"
                    audiences: {{it_staff: {{chat_id: {IT}}}}}
                    devices:
                      - {{id: monitor, name: "Komputer Monitor", kind: monitor_host,
                          checks: [{{type: host, paths: ["{small_disk.name}"]}}]}}   # beside the config
                """)
            upgrade(cfg)
            daemon = Daemon(cfg, tmp_path / "monitor.log").start()
            try:
                wait_until(lambda: query(db, "SELECT status FROM device_states") == [("up",)], 60, "up", proc=daemon)
                total = shutil.disk_usage(small_disk).total
                filler = small_disk / "filler.bin"
                used = shutil.disk_usage(small_disk).used
                filler.write_bytes(b"\0" * int(total * 0.95 - used))
                await api.wait_for_messages(1, within=30, chat_id=IT)
                filler.unlink()
                deadline = time.monotonic() + 30
                while not any("PULIH" in (m.text or "") for m in api.messages_to(IT)):
                    assert time.monotonic() < deadline, daemon.tail()
                    await asyncio.sleep(0.2)
                return daemon, [m.text or "" for m in api.messages_to(IT)]
            finally:
                daemon.stop()

    _daemon, texts = asyncio.run(scenario())
    alert = texts[0]
    assert "Komputer Monitor" in alert, alert
    assert re.search(r"disk \S+ terisi \d+%, hampir penuh \(sisa [\d.]+ GB\)", alert), alert
    assert any("PULIH" in t for t in texts)
    report(f"monitoring the monitor (disk): the monitor host at 95 % → IT chat: {alert.splitlines()[1][:100]!r}")


# ===================================================== clock warnings: off, right again, stepped back


async def test_clock_off_right_again_and_stepped_back_are_said(tmp_path: Path) -> None:
    async with TelegramApiServer(TOKEN) as api:
        path = tmp_path / "office.yaml"
        path.write_text(textwrap.dedent(ALIVE_CONFIG).format(db=tmp_path / "m.db", token=TOKEN, url=api.url,
                                                             at="null", it=IT))
        settings = load_settings(path)
        engine = dbmod.create_db_engine(settings.database_url)
        dbmod.upgrade(engine)
        db = Database(engine)
        clock = SystemClock()
        db.call(lambda s: sync_inventory(s, settings, clock.now()))
        notifier = TelegramNotifier.from_settings(settings)
        jumps: list[float] = []
        warn = SelfWarnings(settings, db, clock, notifier, jumps=lambda: jumps)
        reference = Reference(offset=timedelta(minutes=7))            # our clock is 7 minutes behind
        probe = TimeReference(f"http://127.0.0.1:{reference.port}", clock, on_reading=warn.clock_reading)
        try:
            await warn.start()
            await warn.stop()                                          # (start only takes the jump baseline)
            assert await probe.request_once() == 200
            said = await warn.check_once()
            assert [(w.condition, w.state) for w in said] == [("clock", "on")]
            assert await warn.check_once() == []                       # said once, not on every round
            reference.offset = timedelta(seconds=20)                   # NTP fixed it (within half the limit)
            await probe.request_once()
            assert [(w.condition, w.state) for w in await warn.check_once()] == [("clock", "off")]
            jumps.append(-3600.0)                                      # the daemon saw a step back
            assert [(w.condition, w.state) for w in await warn.check_once()] == [("clock", "back")]
            jumps.extend([30.0, 3 * 3600.0])                           # a small step (no note) and 3 h forward
            assert [(w.condition, w.state) for w in await warn.check_once()] == [("clock", "forward")]
            await drain(settings, db, clock, notifier)
            texts = [m.text or "" for m in api.messages_to(IT)]
        finally:
            await probe.stop()
            reference.close()
            await notifier.close()
            db.close()
    assert len(texts) == 4, texts                                        # English: the site's language
    assert "clock is wrong" in texts[0] and "behind by 7 min" in texts[0] and "the Telegram servers" in texts[0]
    assert "right again" in texts[1]
    assert "set back by 1 h" in texts[2]
    assert "set forward by 3 h" in texts[3]
    report(f"monitoring the monitor (clock): off by 7 min → {texts[0].splitlines()[0][:80]!r}; right again and a "
           f"1 h step back and a 3 h step forward each said once")
