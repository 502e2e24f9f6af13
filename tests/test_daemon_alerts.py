"""The whole chain in one process tree: the installed ``ektp-monitor run`` polls a real SNMP agent
(snmpsim on loopback), records the outage, routes it and sends it through python-telegram-bot to the
local Bot API server; a button press in the chat acknowledges it (issue 5, "Done when").

UPS switched to battery by an SNMP SET -> Telegram message within the confirmation time
(confirm_down × interval) plus 2 s; the "Tangani" button -> an acknowledgement row with the user's name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.sandbox.snmpsim import SnmpsimAgent, make_recording
from monitor.sandbox.telegram_api import TelegramApiServer

from .conftest import RECORDINGS
from .conftest import sqlite_rows as _query
from .conftest import wait_until as _until

EXE = str(Path(sys.executable).with_name("ektp-monitor"))
TOKEN = "4242424242:integration-test-token-not-a-secret"
UPS_OUTPUT_SOURCE = "1.3.6.1.2.1.33.1.4.1.0"
IT_CHAT = -1001234
STAFF = 5001
INTERVAL_S, CONFIRM_DOWN = 1.0, 2


@pytest.fixture
def ups_agent(tmp_path: Path) -> Iterator[SnmpsimAgent]:
    data = tmp_path / "snmp"
    make_recording(data, "ups-int", base=RECORDINGS / "snmprec" / "riello.snmprec",
                   writable={UPS_OUTPUT_SOURCE: "wcint"})
    with SnmpsimAgent(data, writecache=["wcint"]) as agent:
        yield agent


def _config(tmp_path: Path, snmp_port: int, api_url: str) -> Path:
    cfg = tmp_path / "office.yaml"
    cfg.write_text(textwrap.dedent(f"""
        database: {{url: "sqlite:///{tmp_path}/monitor.db"}}
        defaults: {{interval: {INTERVAL_S}s, timeout: 400ms, retries: 0, confirm_down: {CONFIRM_DOWN},
                   confirm_up: 2, snmp: {{community: ups-int, port: {snmp_port}}}}}
        telegram:
          bot_token: "${{EKTP_IT_TOKEN}}"
          api_base_url: "{api_url}"
          allowed_users: [{STAFF}]
        monitor: {{heartbeat_interval: 1s, jitter: 100ms}}
        alerts: {{group_wait: 0s, daily_alive: null}}
        escalation: {{steps: [{{audience: it_staff}}]}}
        reports: {{weekly: {{enabled: false}}}}
        sites:
          - id: uji
            name: "Kantor Uji"
            audiences: {{it_staff: {{chat_id: {IT_CHAT}}}}}
            devices:
              - {{id: ups-1, name: "UPS Ruang Server", kind: ups, address: 127.0.0.1,
                 checks: [{{type: snmp, profile: ups-rfc1628}}]}}
        """).lstrip())
    return cfg


async def test_ups_on_battery_reaches_telegram_and_a_button_press_acknowledges_it(
        tmp_path: Path, ups_agent: SnmpsimAgent) -> None:
    async with TelegramApiServer(TOKEN) as api:
        cfg = _config(tmp_path, ups_agent.port, api.url)
        env = dict(os.environ, EKTP_IT_TOKEN=TOKEN)
        subprocess.run([EXE, "db", "upgrade", "-c", str(cfg)], check=True, capture_output=True, env=env)
        log = (tmp_path / "run.log").open("w")
        proc = subprocess.Popen([EXE, "run", "-c", str(cfg)], stdout=log, stderr=subprocess.STDOUT, env=env)
        db = tmp_path / "monitor.db"
        try:
            await _until(lambda: _query(db, "SELECT status FROM device_states") == [("up",)], 30, "the UPS up")
            set_at = time.monotonic()
            ups_agent.set("ups-int", UPS_OUTPUT_SOURCE, 5)            # upsOutputSource = battery(5)
            bound = CONFIRM_DOWN * INTERVAL_S + 2.0
            assert await api.wait_for_messages(1, within=bound + 20, chat_id=IT_CHAT), "no message"
            msg = api.messages_to(IT_CHAT)[0]
            elapsed = msg.time - set_at
            print(f"UPS on battery (SET) -> Telegram: {elapsed:.2f} s (bound {bound:.1f} s)")
            assert elapsed <= bound, f"message after {elapsed:.2f} s, bound {bound:.1f} s"
            assert "UPS Ruang Server" in (msg.text or "") and "baterai" in (msg.text or "")
            ack = [b["callback_data"] for row in msg.buttons for b in row if b["callback_data"].startswith("ack:")]
            assert ack, msg.buttons
            api.press_button(chat_id=IT_CHAT, user_id=STAFF, message_id=msg.message_id, data=ack[0],
                             first_name="Budi")
            await _until(lambda: _query(db, "SELECT user_name, source FROM acknowledgements") == [("Budi", "button")],
                         15, "the acknowledgement")
            assert _query(db, "SELECT acknowledged_by FROM incidents") == [("Budi",)]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            log.close()
        assert code == 0, (tmp_path / "run.log").read_text()[-3000:]
        assert TOKEN.split(":")[1] not in (tmp_path / "run.log").read_text()
