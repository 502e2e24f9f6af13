"""Promise 5 — security.

* only ``telegram.allowed_users`` may acknowledge, mute or change anything: a stranger in the same group
  cannot, by button or by command;
* secrets — the bot token, SNMP communities (poll and trap), SNMPv3 keys, the heartbeat URL — never appear
  in any output of a full run: the daemon's log, every command's stdout/stderr, the database, the Telegram
  messages (text, captions, attached PDFs), the report files, ``config show`` — the run deliberately hits
  the error paths (a wrong SNMPv3 key, Telegram answering 500, an unreachable heartbeat URL);
* device names and strings from devices are escaped in Telegram HTML and in reports;
* the report renderer fetches nothing from the network;
* the database and report files are owner-only; a world-readable config holding secrets is warned about
  by ``run`` (log) and ``config validate`` (stderr);
* SNMPv3 authPriv with SHA-256/AES is the documented recommendation; ``pip-audit`` gates CI.

The full run is ``ektp-monitor run`` (``ektp-monitor demo`` is not built yet) against snmpsim (a UPS and a
device answering HTML in its strings), Debian snmpd (SNMPv3 authPriv SHA-256/AES-128), a TCP service, the
Bot API server as a subprocess driven through its control API, and a heartbeat receiver; every secret
comes from the environment, an env_file or a *_file.
"""

from __future__ import annotations

import base64
import contextlib
import html
import http.server
import io
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.bot import TelegramBot
from monitor.reports import render
from monitor.sandbox.snmpd import SnmpdAgent, SnmpdUser
from monitor.sandbox.snmpsim import SnmpsimAgent, make_recording
from monitor.sandbox.telegram_api import ControlClient, TelegramApiServer
from monitor.storage.models import AcknowledgementRow, IncidentRow, MaintenanceRow
from tests.alerts.conftest import ALLOWED, IT, STRANGER, make_env
from tests.conftest import RECORDINGS

from .conftest import EXE, ROOT, Daemon, TcpService, long_run, query, report, upgrade, wait_until

EVIL_NAME = 'Server <script>alert("x")</script> & <b>Jahat</b>'
EVIL_SNMP = "<i>snmp-evil</i><script>s</script> & co"
APC_MODEL = "1.3.6.1.4.1.318.1.1.1.1.1.1.0"

# ============================================================================== strangers in the group


async def test_a_stranger_in_the_group_cannot_acknowledge_mute_or_unmute(tmp_path: Path) -> None:
    async with TelegramApiServer() as api:
        env = await make_env(tmp_path, api, group_wait="0s")
        try:
            bot = TelegramBot(env.settings, env.db, env.clock, env.notifier)
            await bot.setup()
            _outage, incident = env.world.open("srv", cause="power")
            await env.drain()
            [alert] = [m for m in api.messages_to(IT) if m.buttons]
            data = [b["callback_data"] for row in alert.buttons for b in row]
            assert any(d.startswith("ack:") for d in data) and any(d.startswith("mute:") for d in data)

            def state() -> tuple[Any, ...]:
                acks = env.db.call(lambda s: len(list(s.scalars(select(AcknowledgementRow)))))
                inc = env.db.call(lambda s: s.get(IncidentRow, incident))
                mutes = env.db.call(lambda s: len(list(s.scalars(select(MaintenanceRow)))))
                return acks, inc.acknowledged_at if inc else None, mutes

            untouched = state()
            attempts = [("button", d) for d in data] + [("command", c) for c in (
                f"/ack {incident} saya", "/mute srv 2h", "/mute kantor/* 1d", "/unmute srv", "/laporan")]
            for kind, what in attempts:
                if kind == "button":
                    api.press_button(chat_id=IT, user_id=STRANGER, message_id=alert.message_id, data=what,
                                     first_name="Orang Asing")
                else:
                    api.send_command(chat_id=IT, user_id=STRANGER, text=what, first_name="Orang Asing")
                assert await bot.poll_once(wait=0) == 1
                assert state() == untouched, (kind, what)
            refusals = [a for a in api.callback_answers if a.get("show_alert")]
            replies = [m.text or "" for m in api.messages_to(IT)][1:]
            # every button press answered; one refusal message for the five commands (once per 10 minutes)
            assert len(refusals) == len(data) and len(replies) == 1
            assert all(str(STRANGER) in (a.get("text") or "") for a in refusals)
            assert all(str(STRANGER) in r for r in replies)
            assert bot.counters["refused"] == len(attempts)
            assert api.edits == []                        # the alert's buttons were not touched
            # ... while an allowed user in the same chat can
            ack = next(d for d in data if d.startswith("ack:"))
            api.press_button(chat_id=IT, user_id=ALLOWED, message_id=alert.message_id, data=ack, first_name="Budi")
            await bot.poll_once(wait=0)
            assert state()[0] == 1 and state()[1] is not None
            report(f"strangers: {len(attempts)} attempts by a stranger in the IT group ({len(data)} buttons, "
                   f"5 commands) all refused with their user id (buttons each, the commands once); nothing changed; "
                   f"the allowed user's button worked")
        finally:
            await env.notifier.close()
            env.db.close()


# ======================================================================================= the full run


class _HeartbeatReceiver(http.server.ThreadingHTTPServer):
    """A dead man's switch on loopback: records the paths it is asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append(self.path)
                body = b"OK"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@dataclass
class FullRun:
    """Everything one full run left behind."""

    secrets: dict[str, str]
    outputs: dict[str, bytes] = field(default_factory=dict)   # where -> content
    messages: list[dict[str, Any]] = field(default_factory=list)
    db: Path = Path()
    reports: Path = Path()
    config: Path = Path()
    log: Path = Path()
    calls: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: list[str] = field(default_factory=list)


def _start_bot_api(tmp: Path, token: str) -> tuple[subprocess.Popen[bytes], ControlClient, str]:
    port_file = tmp / "telegram.json"
    proc = subprocess.Popen([sys.executable, "-m", "monitor.sandbox.telegram_api", "--port-file", str(port_file)],
                            env={**os.environ, "EKTP_SANDBOX_BOT_TOKEN": token}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)
    wait_until(port_file.exists, 20, "the Bot API server")
    info = json.loads(port_file.read_text())
    return proc, ControlClient(info["control_url"]), info["url"]


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullRun]:
    tmp = tmp_path_factory.mktemp("fullrun")
    sec = {
        "bot token": f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(26)}",
        "ups community": "comm-" + secrets.token_hex(10),
        "evil community": "evil-" + secrets.token_hex(10),
        "trap community": "trapc-" + secrets.token_hex(10),
        "v3 auth key": "auth-" + secrets.token_hex(10),
        "v3 priv key": "priv-" + secrets.token_hex(10),
    }
    hb = _HeartbeatReceiver()
    sec["heartbeat url"] = f"http://127.0.0.1:{hb.port}/ping/{secrets.token_hex(16)}"
    svc = TcpService()
    data = tmp / "snmp"
    make_recording(data, sec["ups community"], base=RECORDINGS / "snmprec" / "riello.snmprec")
    make_recording(data, sec["evil community"], values={
        "1.3.6.1.2.1.1.1.0": ("4", EVIL_SNMP), "1.3.6.1.2.1.1.4.0": ("4", EVIL_SNMP),      # sysDescr, sysContact
        # output status out of its range and the battery capacity as HTML text: nothing essential can be read, so
        # the device answered garbage and the text is quoted in the reason (issue 14: one odd value alone would
        # only be dropped)
        "1.3.6.1.4.1.318.1.1.1.4.1.1.0": ("2", 99), APC_MODEL: ("4", EVIL_SNMP),
        "1.3.6.1.4.1.318.1.1.1.2.2.1.0": ("4", EVIL_SNMP),
        "1.3.6.1.4.1.318.1.1.1.3.3.1.0": ("66", 2300),
        "1.3.6.1.4.1.318.1.1.10.2.3.4.1.2.1": ("4", EVIL_SNMP),     # the SPD contact's name on an APC card
        "1.3.6.1.4.1.318.1.1.10.2.3.4.1.3.1": ("2", 2)})            # ... and it is in alarm
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        trap_port = int(probe.getsockname()[1])
    token_file = tmp / "telegram-token"
    token_file.write_text(sec["bot token"] + "\n")
    token_file.chmod(0o600)
    env_file = tmp / "secrets.env"
    env_file.write_text(f"SNMP_AUTH_KEY={sec['v3 auth key']}\nSNMP_PRIV_KEY={sec['v3 priv key']}\n")
    env_file.chmod(0o600)
    env = {"EKTP_UPS_COMMUNITY": sec["ups community"], "EKTP_EVIL_COMMUNITY": sec["evil community"],
           "EKTP_TRAP_COMMUNITY": sec["trap community"], "EKTP_HEARTBEAT_URL": sec["heartbeat url"]}
    api_proc, api, api_url = _start_bot_api(tmp, sec["bot token"])
    run = FullRun(sec, db=tmp / "monitor.db", reports=tmp / "reports", config=tmp / "office.yaml", log=tmp / "run.log")
    user = SnmpdUser("monitor", "SHA-256", sec["v3 auth key"], "AES", sec["v3 priv key"])
    try:
        with SnmpsimAgent(data, work_dir=tmp / "snmpsim") as sim, SnmpdAgent(users=[user]) as snmpd:
            run.config.write_text(textwrap.dedent(f"""
                env_file: secrets.env
                database: {{url: "sqlite:///{run.db}"}}
                defaults: {{interval: 1s, timeout: 500ms, retries: 0, confirm_down: 2, confirm_up: 2}}
                telegram:
                  bot_token_file: {token_file}
                  api_base_url: "{api_url}"
                  allowed_users: [{ALLOWED}]
                  request_timeout: 3s
                  per_chat_per_minute: 60
                monitor: {{heartbeat_interval: 1s, jitter: 200ms, heartbeat_url: "${{EKTP_HEARTBEAT_URL}}",
                          heartbeat_url_interval: 1s}}
                alerts: {{group_wait: 0s, daily_alive: null}}
                escalation: {{steps: [{{audience: it_staff}}]}}
                reports: {{out_dir: "{run.reports}", formats: [pdf, html, csv], weekly: {{enabled: false}}}}
                traps: {{enabled: true, listen: "127.0.0.1:{trap_port}", communities: ["${{EKTP_TRAP_COMMUNITY}}"]}}
                sites:
                  - id: kantor
                    name: "Kantor <i>Uji</i> & Co"
                    audiences: {{it_staff: {{chat_id: {IT}}}, head_of_office: {{chat_id: -1009300002}}}}
                    letterhead: {{office: "DINAS <script>x</script>", head_name: "Kepala <b>Dinas</b>"}}
                    devices:
                      - {{id: srv, name: '{EVIL_NAME}', kind: recording_server, address: 127.0.0.1,
                          checks: [{{type: tcp, port: {svc.port}}}]}}
                      - {{id: ups, name: "UPS Ruang Server", kind: ups, address: 127.0.0.1,
                          checks: [{{type: snmp, profile: ups-rfc1628,
                                     snmp: {{community: "${{EKTP_UPS_COMMUNITY}}", port: {sim.port}}}}}]}}
                      - {{id: evil-ups, name: "UPS <u>Aneh</u>", kind: ups, address: 127.0.0.1,
                          checks: [{{type: snmp, profile: ups-apc,
                                     snmp: {{community: "${{EKTP_EVIL_COMMUNITY}}", port: {sim.port}}}}}]}}
                      - {{id: spd, name: "Arrester Petir", kind: spd, address: 127.0.0.1,
                          checks: [{{type: snmp, profile: spd-contact, params: {{contact: 1}},
                                     snmp: {{community: "${{EKTP_EVIL_COMMUNITY}}", port: {sim.port}}}}}]}}
                      - {{id: host, name: "Server v3", kind: recording_server, address: 127.0.0.1,
                          checks: [{{type: snmp, profile: host-resources,
                                     snmp: {{version: 3, port: {snmpd.port}, user: monitor, auth_protocol: sha256,
                                            auth_key: "${{SNMP_AUTH_KEY}}", priv_protocol: aes128,
                                            priv_key: "${{SNMP_PRIV_KEY}}"}}}}]}}
                      - {{id: host-wrong, name: "Server v3 kunci salah", kind: recording_server, address: 127.0.0.1,
                          checks: [{{type: snmp, profile: host-resources,
                                     snmp: {{version: 3, port: {snmpd.port}, user: monitor, auth_protocol: sha256,
                                            auth_key: "${{SNMP_AUTH_KEY}}-wrong", priv_protocol: aes128,
                                            priv_key: "${{SNMP_PRIV_KEY}}"}}}}]}}
                """).lstrip())
            run.config.chmod(0o600)
            full_env = {**os.environ, **env}

            def cmd(name: str, *argv: str, ok: tuple[int, ...] = (0,)) -> None:
                r = subprocess.run([EXE, *argv], capture_output=True, timeout=300, env=full_env)
                run.outputs[f"{name} stdout"] = r.stdout
                run.outputs[f"{name} stderr"] = r.stderr
                assert r.returncode in ok, (name, r.returncode, r.stderr.decode(errors="replace")[-2000:])

            upgrade(run.config, env)
            cmd("config validate", "config", "validate", str(run.config))
            cmd("config show", "config", "show", str(run.config))
            cmd("config show --json", "config", "show", "--json", str(run.config))
            cmd("check", "check", "-c", str(run.config), "--json", ok=(0, 1))
            daemon = Daemon(run.config, run.log, env=env).start()
            try:
                wait_until(lambda: query(run.db, "SELECT COUNT(*) FROM device_states WHERE reason IS NOT NULL "
                                                 "OR status = 'up'") == [(6,)], 60, "every device judged", proc=daemon)
                api.call("command", chat_id=IT, user_id=ALLOWED, text="/status", first_name="Budi")
                api.call("command", chat_id=IT, user_id=STRANGER, text="/mute srv 1h", first_name="<b>Asing</b>")
                wait_until(lambda: any("Aneh" in (m.get("text") or "") for m in api.messages()), 30,
                           "the /status reply", proc=daemon)
                api.call("fail", method="sendMessage", status=500, times=1)    # an error path of the notifier
                svc.down()
                wait_until(lambda: any("GANGGUAN" in (m.get("text") or "") for m in api.messages()), 30,
                           "the alert", proc=daemon)
                subprocess.run(["snmptrap", "-v2c", "-c", sec["trap community"], f"127.0.0.1:{trap_port}", "",
                                "1.3.6.1.4.1.318.0.49", "1.3.6.1.4.1.318.2.3.3.0", "s", EVIL_SNMP], check=True,
                               timeout=20)
                subprocess.run(["snmptrap", "-v2c", "-c", "a-wrong-community", f"127.0.0.1:{trap_port}", "",
                                "1.3.6.1.4.1.318.0.49"], check=True, timeout=20)
                time.sleep(3.0)
                svc.up()
                wait_until(lambda: query(run.db, "SELECT COUNT(*) FROM outages o JOIN devices d ON d.id = o.device_id "
                                                 "WHERE d.key = 'srv' AND o.ended_at IS NOT NULL") == [(1,)], 30,
                           "the server's recovery", proc=daemon)
                hb.close()                                             # the dead man's switch goes away
                cmd("report --send", "report", "-c", str(run.config), "--from",
                    time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400)), "--to",
                    time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400)), "--send")
                wait_until(lambda: any(m.get("document") for m in api.messages())
                           and query(run.db, "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'retry', "
                                             "'sending')") == [(0,)], 60, "the report PDF sent", proc=daemon)
                time.sleep(2.5)
            finally:
                assert daemon.stop() == 0, daemon.tail()
            cmd("outages", "outages", "-c", str(run.config), "--json")
            cmd("db current", "db", "current", "-c", str(run.config))
        run.heartbeats = list(hb.paths)
        run.messages = api.messages()
        run.calls = api.state()["calls"]
    finally:
        with contextlib.suppress(Exception):
            hb.close()
        svc.down()
        api_proc.terminate()
        api_proc.wait(10)
    run.outputs["daemon log"] = run.log.read_bytes()
    conn = sqlite3.connect(run.db)
    try:
        run.outputs["database dump"] = "\n".join(conn.iterdump()).encode()
    finally:
        conn.close()
    for i, m in enumerate(run.messages):
        run.outputs[f"telegram message {i}"] = json.dumps({k: v for k, v in m.items() if k != "document"},
                                                          ensure_ascii=False).encode()
        if m.get("document"):
            pdf = base64.b64decode(m["document"]["base64"])
            run.outputs[f"telegram document {i} (pdf text)"] = _pdf_text(pdf).encode()
            run.outputs[f"telegram document {i} (raw)"] = pdf
    for path in sorted(run.reports.rglob("*")):
        if path.is_file():
            raw = path.read_bytes()
            run.outputs[f"report file {path.name}"] = raw
            if path.suffix == ".pdf":
                run.outputs[f"report file {path.name} (text)"] = _pdf_text(raw).encode()
    yield run


def test_secrets_never_appear_in_any_output_of_a_full_run(full_run: FullRun) -> None:
    leaks = []
    for what, secret in full_run.secrets.items():
        needles = {secret}
        if what == "bot token":
            needles.add(secret.split(":", 1)[1])
        if what == "heartbeat url":
            needles.add(secret.rsplit("/", 1)[1])
        for where, content in full_run.outputs.items():
            for needle in needles:
                if needle.encode() in content:
                    leaks.append(f"{what} in {where}")
    assert not leaks, leaks
    log = full_run.outputs["daemon log"].decode(errors="replace")
    # the run went through the error paths it claims to
    assert "authentication failed" in full_run.outputs["database dump"].decode(errors="replace")  # the wrong v3 key
    assert "HTTP 500" in log or "Internal Server Error" in log                           # Telegram failed once
    assert "heartbeat URL not reached" in log                                            # the switch went away
    assert "wrong community refused" in log
    assert full_run.heartbeats and all(p == "/ping/" + full_run.secrets["heartbeat url"].rsplit("/", 1)[1]
                                       for p in full_run.heartbeats)                      # it was really used
    assert "***" in full_run.outputs["config show stdout"].decode()
    size_ = sum(len(c) for c in full_run.outputs.values())
    report(f"secrets: {len(full_run.secrets)} secrets (bot token, 3 communities, 2 v3 keys, heartbeat URL) "
           f"searched in {len(full_run.outputs)} outputs ({size_ / 1e6:.1f} MB: daemon log, 6 commands' stdout/"
           f"stderr, database dump, {len(full_run.messages)} Telegram messages and their PDFs, report files): "
           f"0 found")


DEMO_TOKEN = re.compile(rb"\b\d{9}:demo-[A-Za-z0-9_-]{20,}")
DEMO_COMMUNITIES = ("demo-router", "demo-ups", "demo-apc", "demo-strikes", "demo-server", "demo-traps")


@pytest.mark.skipif(not long_run(), reason="long variant (EKTP_LONG=1 or --reliability-long): a full demo run")
def test_secrets_never_appear_in_any_output_of_the_demo(tmp_path: Path) -> None:
    """``ektp-monitor demo`` — the simulated storm with its own random bot token — searched for the token and
    the SNMP communities in everything it leaves: its narration, the monitor's log, the database, the recorded
    Telegram messages, the reports and the verdict."""
    out = tmp_path / "demo"
    r = subprocess.run([EXE, "demo", "--out", str(out), "--plain", "--speed", "2"], capture_output=True, timeout=900)
    assert r.returncode == 0, r.stdout.decode(errors="replace")[-3000:]
    outputs: dict[str, bytes] = {"demo stdout": r.stdout, "demo stderr": r.stderr}
    for name in ("monitor.log", "telegram-messages.json", "demo-result.json"):
        if (out / name).exists():
            outputs[name] = (out / name).read_bytes()
    conn = sqlite3.connect(out / "demo.db")
    try:
        outputs["database dump"] = "\n".join(conn.iterdump()).encode()
    finally:
        conn.close()
    for path in (out / "reports").rglob("*"):
        if path.is_file():
            outputs[f"report {path.name}"] = path.read_bytes()
            if path.suffix == ".pdf":
                outputs[f"report {path.name} (text)"] = _pdf_text(path.read_bytes()).encode()
    leaks = [f"a bot token in {where}" for where, content in outputs.items() if DEMO_TOKEN.search(content)]
    leaks += [f"{c} in {where}" for where, content in outputs.items() for c in DEMO_COMMUNITIES
              if c.encode() in content]
    assert not leaks, leaks
    report(f"secrets (demo): the demo's bot token and {len(DEMO_COMMUNITIES)} communities searched in "
           f"{len(outputs)} outputs ({sum(map(len, outputs.values())) / 1e6:.1f} MB): 0 found")


def test_device_names_and_snmp_strings_are_escaped_in_telegram_and_reports(full_run: FullRun) -> None:
    refused = [c for c in full_run.calls if c["method"] in ("sendmessage", "senddocument", "editmessagetext")
               and c["status"] == 400]
    assert refused == [], refused                        # the Bot API found no broken HTML
    texts = [m.get("text") or "" for m in full_run.messages]
    html_texts = [t for m, t in zip(full_run.messages, texts, strict=True) if m.get("parse_mode") == "HTML"]
    assert all("<script" not in t and "<u>" not in t and "<i>Uji" not in t for t in html_texts)
    joined = "\n".join(texts)
    assert "Server &lt;script&gt;alert(" in joined and "&lt;b&gt;Jahat&lt;/b&gt;" in joined   # the name, escaped
    visible = html.unescape(re.sub(r"<[^<>]+>", "", joined))
    assert EVIL_NAME in visible                          # ... and shown to people exactly as configured
    assert any("UPS &lt;u&gt;Aneh&lt;/u&gt;" in t for t in texts)          # /status
    assert any("(kontak 1 &#39;&lt;" in t or "(kontak 1 '&lt;" in t for t in html_texts), html_texts  # escaped
    html_files = [p for p in full_run.reports.rglob("*.html")]
    assert html_files
    for path in html_files:
        page = path.read_text(encoding="utf-8")
        assert "<script" not in page.lower() and "<b>Jahat" not in page and "<b>Dinas" not in page, path
        assert "&lt;script&gt;" in page and "&lt;i&gt;snmp-evil&lt;/i&gt;" in page   # name and device string
    report(f"escaping: {len(html_texts)} HTML messages accepted by the Bot API's parser (0 refused), device name, "
           f"site name, letterhead and SNMP strings escaped in messages and {len(html_files)} report HTML files")


def test_the_report_renderer_fetches_nothing_from_the_network(tmp_path: Path) -> None:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    html = textwrap.dedent(f"""
        <html><head><link rel="stylesheet" href="{base}/style.css">
        <style>@import url("{base}/import.css"); @font-face {{font-family: X; src: url({base}/font.woff);}}
        body {{background: url({base}/bg.png)}}</style></head>
        <body><img src="{base}/logo.png"><img src="file:///etc/passwd"><object data="{base}/obj"></object>
        <iframe src="{base}/frame"></iframe><p>Laporan</p></body></html>""")
    refused: list[str] = []
    try:
        pages = render.html_to_pdf(html, tmp_path / "out.pdf", refused=refused)
    finally:
        server.shutdown()
        server.server_close()
    assert pages >= 1 and (tmp_path / "out.pdf").stat().st_size > 0
    assert hits == []                                   # not one request reached the server
    assert any(base in u for u in refused) and any(u.startswith("file:///etc") for u in refused)
    report(f"report renderer: {len(refused)} external resources (http, @import, @font-face, file:) refused, "
           f"0 requests reached a listening server")


def test_database_and_report_files_are_owner_only(full_run: FullRun) -> None:
    modes = {}
    for path in [full_run.db, *[p for p in (full_run.db.with_name(full_run.db.name + s) for s in ("-wal", "-shm"))
                                if p.exists()], *full_run.reports.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        modes[str(path.relative_to(full_run.db.parent))] = oct(mode)
        assert mode & 0o077 == 0, (path, oct(mode))
    report(f"permissions: {len(modes)} files the monitor created (database, WAL, report folders and files) are "
           f"owner-only: {sorted(set(modes.values()))}")


def test_a_world_readable_config_holding_secrets_is_warned_by_run_and_validate(tmp_path: Path) -> None:
    secret = "literal-" + secrets.token_hex(8)
    cfg = tmp_path / "office.yaml"
    cfg.write_text(textwrap.dedent(f"""
        database: {{url: "sqlite:///{tmp_path / 'm.db'}"}}
        telegram: {{enabled: false}}
        defaults: {{snmp: {{community: "{secret}"}}}}
        sites:
          - id: s
            name: "Kantor"
            devices: [{{id: ups, name: "UPS", kind: ups, address: 127.0.0.1,
                        checks: [{{type: snmp, profile: ups-rfc1628}}]}}]
        """))
    cfg.chmod(0o644)
    warning = f"{cfg} is readable by every user and holds secrets; run: chmod 600 {cfg}"
    r = subprocess.run([EXE, "config", "validate", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and f"warning: {warning}" in r.stderr
    r = subprocess.run([EXE, "run", "-c", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and warning in r.stderr    # logged at start (then: no schema yet)
    assert secret not in r.stdout + r.stderr
    cfg.chmod(0o600)
    r = subprocess.run([EXE, "config", "validate", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "warning" not in r.stderr
    # the database file the monitor creates is owner-only from its first byte
    upgrade(cfg)
    assert stat.S_IMODE((tmp_path / "m.db").stat().st_mode) == 0o600


def test_snmpv3_authpriv_sha256_aes_is_the_documented_recommendation() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    security = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    example = (ROOT / "config" / "office.example.yaml").read_text(encoding="utf-8")
    for name, text in (("README.md", readme), ("SECURITY.md", security), ("office.example.yaml", example)):
        assert "authPriv" in text and "SHA-256" in text and "AES" in text, name
    assert "auth_protocol: sha256" in example and "priv_protocol: aes128" in example
    for heading in ("Threat model", "Out of scope", "Recommended deployment", "Reporting a problem"):
        assert heading.lower() in security.lower(), heading


# =========================================================================================== the audit


def _fake_pip_audit(tmp_path: Path, name: str, stdout: str, stderr: str = "", code: int = 0) -> Path:
    exe = tmp_path / name
    exe.write_text(f"#!/bin/sh\ncat <<'EOF'\n{stdout}\nEOF\ncat >&2 <<'EOF'\n{stderr}\nEOF\nexit {code}\n")
    exe.chmod(0o755)
    return exe


@pytest.mark.parametrize(("case", "stdout", "stderr", "code", "expected"), [
    ("clean", '{"dependencies": [{"name": "jinja2", "version": "3.1.6", "vulns": []}], "fixes": []}', "", 0, 0),
    ("finding", '{"dependencies": [{"name": "jinja2", "version": "3.1.2", "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", '
                '"fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"]}]}], "fixes": []}', "", 1, 1),
    ("unreachable", "", "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='pypi.org'): Max retries "
                        "exceeded (NameResolutionError)", 1, 0),
    ("nothing known", '{"dependencies": [{"name": "jinja2", "skip_reason": "Dependency not found on PyPI"}]}', "", 0,
     0),
    ("broken tool", "", "ModuleNotFoundError: No module named 'pip_audit'", 1, 1),
])
def test_the_ci_dependency_audit_fails_on_findings_and_only_warns_when_unreachable(
        tmp_path: Path, case: str, stdout: str, stderr: str, code: int, expected: int) -> None:
    exe = _fake_pip_audit(tmp_path, "pip-audit", stdout, stderr, code)
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "audit")], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "EKTP_PIP_AUDIT": str(exe)})
    assert r.returncode == expected, (case, r.stdout, r.stderr)
    if case == "finding":
        assert "GHSA-h5c8-rqwp-cp95" in r.stderr and "3.1.3" in r.stderr
    if case in ("unreachable", "nothing known"):
        assert "NOT audited" in r.stderr
    assert "scripts/audit" in (ROOT / ".ci" / "run").read_text()
    if shutil.which("sh") is None:  # pragma: no cover
        pytest.skip("no /bin/sh")
