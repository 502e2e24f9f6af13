"""Operator commands against a running daemon: ``mute``, ``unmute``, ``maintenance add|list|end``, ``ack`` and
``status``, with Telegram on the loopback Bot API server.

What the Telegram path records, the command line records the same way (same rows, same functions), with the
person as ``cli:<login behind sudo>``; the IT staff chat is told; the running daemon obeys at once without a
signal — a muted server's outage alert is held (suppressed, with the mute as the reason), an outage that starts
inside a maintenance window is planned — and ``status`` exits by the Nagios convention.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.commands.maintenance import parse_start
from monitor.sandbox.telegram_api import TelegramApiServer

from .conftest import sqlite_rows as _query
from .conftest import stop_daemon
from .conftest import wait_until as _until

EXE = str(Path(sys.executable).with_name("ektp-monitor"))
TOKEN = "4242424242:operator-test-token-not-a-secret"
IT_CHAT = -1007001


class Service:
    """A TCP service on loopback the test can stop (its device goes down)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def stop(self) -> None:
        self.sock.close()


@pytest.fixture
def services() -> Iterator[tuple[Service, Service]]:
    a, b = Service(), Service()
    yield a, b
    a.stop()
    b.stop()


def _config(tmp_path: Path, api_url: str, srv: int, srv2: int) -> Path:
    cfg = tmp_path / "office.yaml"
    cfg.write_text(textwrap.dedent(f"""
        database: {{url: "sqlite:///{tmp_path}/monitor.db"}}
        defaults: {{interval: 1s, timeout: 300ms, retries: 0, confirm_down: 2, confirm_up: 2}}
        telegram:
          bot_token: "${{EKTP_OP_TOKEN}}"
          api_base_url: "{api_url}"
          allowed_users: [5001]
        monitor: {{heartbeat_interval: 1s, jitter: 100ms}}
        alerts: {{group_wait: 0s, daily_alive: null}}
        escalation: {{steps: [{{audience: it_staff}}]}}
        reports: {{weekly: {{enabled: false}}}}
        sites:
          - id: uji
            name: "Kantor Uji"
            audiences: {{it_staff: {{chat_id: {IT_CHAT}}}}}
            devices:
              - {{id: srv, name: "Server Perekaman", kind: recording_server, address: 127.0.0.1,
                 checks: [{{type: tcp, port: {srv}}}]}}
              - {{id: srv2, name: "Server Cadangan", kind: recording_server, address: 127.0.0.1,
                 checks: [{{type: tcp, port: {srv2}}}]}}
        """).lstrip())
    return cfg


async def test_operator_commands_reach_the_record_the_chat_and_the_running_daemon(
        tmp_path: Path, services: tuple[Service, Service]) -> None:
    srv, srv2 = services
    db = tmp_path / "monitor.db"
    async with TelegramApiServer(TOKEN) as api:
        cfg = _config(tmp_path, api.url, srv.port, srv2.port)
        env = dict(os.environ, EKTP_OP_TOKEN=TOKEN, SUDO_USER="budi")

        def op(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([EXE, *args[:1], *(["-c", str(cfg)] if args[0] != "maintenance" else []),
                                   *args[1:]], capture_output=True, text=True, env=env, timeout=60)

        def maint(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([EXE, "maintenance", args[0], "-c", str(cfg), *args[1:]], capture_output=True,
                                  text=True, env=env, timeout=60)

        assert op("mute", "srv", "1h").returncode == 1            # no database yet: said, and none created
        assert not db.exists()
        subprocess.run([EXE, "db", "upgrade", "-c", str(cfg)], check=True, capture_output=True, env=env)
        log = (tmp_path / "run.log").open("w")
        proc = subprocess.Popen([EXE, "run", "-c", str(cfg)], stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            await _until(lambda: sorted(_query(db, "SELECT status FROM device_states")) == [("up",), ("up",)],
                         30, "both servers up")

            # --- status while it runs: OK
            r = op("status", "--json")
            assert r.returncode == 0, r.stdout + r.stderr
            assert json.loads(r.stdout)["state"] == "ok"

            # --- mute: the same row as /mute, by cli:budi; the IT chat is told
            r = op("mute", "srv", "1h", "--reason", "ganti kabel jaringan")
            assert r.returncode == 0 and "muted srv (Server Perekaman)" in r.stdout, r.stdout + r.stderr
            assert _query(db, "SELECT kind, created_by, reason, device_id IS NOT NULL, cancelled_at FROM maintenance") \
                == [("mute", "cli:budi", "ganti kabel jaringan", 1, None)]
            assert await api.wait_for_messages(1, within=20, chat_id=IT_CHAT), "no note about the mute"
            note = api.messages_to(IT_CHAT)[0].text or ""
            assert "Server Perekaman dibisukan dari konsol server oleh cli:budi" in note and "ganti kabel" in note

            # ... and the running daemon holds the alert of the muted server's outage
            srv.stop()
            await _until(lambda: _query(db, "SELECT count(*) FROM outbox WHERE kind != 'operator' "
                                            "AND status = 'suppressed'") != [(0,)], 30, "the held alert")
            reasons = _query(db, "SELECT last_error FROM outbox WHERE status = 'suppressed'")
            assert all("muted by cli:budi" in str(x[0]) for x in reasons), reasons
            await asyncio.sleep(2)
            assert len(api.messages_to(IT_CHAT)) == 1          # only the note: no alert reached the chat
            incident = _query(db, "SELECT id FROM incidents")[0][0]

            # --- maintenance: an outage starting inside the window is planned
            r = maint("add", "srv2", "--duration", "1h", "--reason", "ganti RAM")
            assert r.returncode == 0 and r.stdout.startswith("maintenance #2: Server Cadangan from "), r.stdout
            assert await api.wait_for_messages(2, within=20, chat_id=IT_CHAT)
            assert "Pemeliharaan Server Cadangan dijadwalkan dari konsol server oleh cli:budi" in (
                api.messages_to(IT_CHAT)[1].text or "")
            srv2.stop()
            await _until(lambda: _query(db, "SELECT o.planned, o.cause FROM outages o JOIN devices d "
                                            "ON d.id = o.device_id WHERE d.key = 'srv2'") == [(1, "maintenance")],
                         30, "the planned outage of srv2")
            listed = [json.loads(line) for line in maint("list", "--json").stdout.splitlines()]
            assert [(x["id"], x["kind"], x["device"], x["state"], x["by"]) for x in listed] == [
                (1, "mute", "srv", "active", "cli:budi"), (2, "maintenance", "srv2", "active", "cli:budi")]
            assert maint("end", "2").returncode == 0
            assert maint("end", "2").returncode == 2                # already ended: said
            assert maint("end", "99").returncode == 2

            # --- ack: the same record as the ✋ button, source cli
            r = op("ack", str(incident), "--note", "sedang ke lokasi")
            assert r.returncode == 0 and f"incident #{incident} acknowledged by cli:budi" in r.stdout, r.stdout
            assert _query(db, "SELECT user_name, source, note FROM acknowledgements") == [
                ("cli:budi", "cli", "sedang ke lokasi")]
            assert _query(db, f"SELECT acknowledged_by FROM incidents WHERE id = {incident}") == [("cli:budi",)]
            assert op("ack", "999").returncode == 2

            # --- unmute; bad requests get the same words as in Telegram
            r = op("unmute", "srv")
            assert r.returncode == 0 and "1 mute(s) ended" in r.stdout
            assert _query(db, "SELECT cancelled_at IS NOT NULL FROM maintenance WHERE id = 1") == [(1,)]
            r = op("mute", "nope", "1h")
            assert r.returncode == 2 and "No device nope. Choices: srv, srv2" in r.stderr
            r = op("mute", "srv", "8d")
            assert r.returncode == 2 and "at most 7 days" in r.stderr
            r = maint("add", "srv", "--duration", "1h", "--reason", "x", "--start", "2020-01-01 10:00")
            assert r.returncode == 2 and "in the past" in r.stderr
            await _until(lambda: len(api.messages_to(IT_CHAT)) >= 5, 20, "the notes about unmute, end and ack")
            texts = [m.text or "" for m in api.messages_to(IT_CHAT)]
            assert any("ditangani oleh cli:budi (dari konsol server): sedang ke lokasi" in t for t in texts), texts
        finally:
            code = stop_daemon(proc)
            log.close()
        assert code == 0
        # --- status when it has stopped: CRITICAL (2), still read-only
        r = op("status")
        assert r.returncode == 2 and r.stdout.startswith("EKTP-MONITOR CRITICAL - heartbeat:"), r.stdout
    assert "Traceback" not in (tmp_path / "run.log").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the database to another user")
def test_root_is_told_to_write_as_the_database_owner(tmp_path: Path) -> None:
    cfg = tmp_path / "office.yaml"
    cfg.write_text(textwrap.dedent(f"""
        database: {{url: "sqlite:///{tmp_path}/monitor.db"}}
        sites:
          - id: uji
            name: "Kantor Uji"
            devices: [{{id: srv, name: "Server", kind: recording_server, address: 127.0.0.1,
                        checks: [{{type: tcp, port: 9}}]}}]
        """).lstrip())
    subprocess.run([EXE, "db", "upgrade", "-c", str(cfg)], check=True, capture_output=True)
    os.chown(tmp_path / "monitor.db", 65534, 65534)
    r = subprocess.run([EXE, "mute", "-c", str(cfg), "srv", "1h"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "belongs to nobody: run this as that user, e.g. sudo -u nobody" in r.stderr, r.stderr
    assert _query(tmp_path / "monitor.db", "SELECT count(*) FROM maintenance") == [(0,)]


NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)   # 15:00 WIB


@pytest.mark.parametrize(("text", "want"), [
    ("now", NOW),
    ("22:00", datetime(2026, 12, 4, 15, 0, tzinfo=UTC)),           # later today, WIB
    ("14:00", datetime(2026, 12, 5, 7, 0, tzinfo=UTC)),            # already past today: tomorrow
    ("2026-12-05 22:00", datetime(2026, 12, 5, 15, 0, tzinfo=UTC)),
    ("2026-12-05T22:00", datetime(2026, 12, 5, 15, 0, tzinfo=UTC)),
    ("2026-12-05T22:00+08:00", datetime(2026, 12, 5, 14, 0, tzinfo=UTC)),
    ("2026-12-05T14:00Z", datetime(2026, 12, 5, 14, 0, tzinfo=UTC)),
])
def test_start_times_are_site_local_unless_they_carry_an_offset(text: str, want: datetime) -> None:
    assert parse_start(text, "Asia/Jakarta", NOW) == want


@pytest.mark.parametrize("text", ["tomorrow", "25:00", "2026-13-01 10:00", ""])
def test_bad_start_times_are_refused_with_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="--start"):
        parse_start(text, "Asia/Jakarta", NOW)


def test_the_operator_is_the_person_behind_sudo() -> None:
    from monitor.commands.operator import operator_name

    assert operator_name({"SUDO_USER": "budi"}) == "cli:budi"
    assert operator_name({}).startswith("cli:") and len(operator_name({})) > 4
