"""The demo (issue 7), end to end: the installed ``ektp-monitor demo`` as a subprocess, its outcome checked from
the database it leaves and the Telegram messages the local Bot API server recorded — not from what it prints.

One demo run (module fixture, ~1.5 min; generous timeouts for a loaded machine) serves the outcome tests. It runs
while this test holds the ports ``config/demo.yaml`` would fall back to, so it can only succeed on ports it chose
free at start. A second run is interrupted with SIGINT in the middle of the storm: no process it started may
survive. The pure parts (HTML rendering, event lines, the recordings' provenance and adaptations) are tested
directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from monitor.sandbox.demo.describe import describe_event
from monitor.sandbox.demo.recordings import ADAPTATIONS, LIBRENMS_DIR, OID, write_agent_data
from monitor.sandbox.demo.timeline import render_html

from .conftest import RECORDINGS

EXE = str(Path(sys.executable).with_name("ektp-monitor"))
OFFICE_NAME = "Disdukcapil Kabupaten Contoh"
IT_CHAT, HEAD_CHAT, MINISTRY_CHAT = "-1009000000001", "-1009000000002", "-1009000000003"
DEFAULT_UDP = (16161, 16162)             # the fallbacks in config/demo.yaml
DEFAULT_TCP = (18080, 18081, 18443)


@dataclass
class DemoRun:
    out: Path
    code: int
    stdout: str
    stderr: str
    seconds: float

    def q(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        conn = sqlite3.connect(f"file:{self.out / 'demo.db'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return list(conn.execute(sql, args))
        finally:
            conn.close()

    def messages(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads((self.out / "telegram-messages.json").read_text(encoding="utf-8"))
        return data

    def to(self, chat: str) -> list[dict[str, Any]]:
        return [m for m in self.messages() if m["chat_id"] == chat]

    @property
    def result(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.out / "demo-result.json").read_text(encoding="utf-8"))
        return data

    def storm(self) -> sqlite3.Row:
        [row] = self.q("SELECT * FROM incidents WHERE id = ?", self.result["facts"]["storm_incident"])
        return row

    def outages(self, device: str) -> list[sqlite3.Row]:
        return self.q("SELECT o.* FROM outages o JOIN devices d ON d.id = o.device_id WHERE d.key = ? ORDER BY o.id",
                      device)


@contextlib.contextmanager
def _holding_default_ports() -> Iterator[list[socket.socket]]:
    """Bind the fallback ports of config/demo.yaml (those that are free) for the duration."""
    held: list[socket.socket] = []
    for kind, ports in ((socket.SOCK_DGRAM, DEFAULT_UDP), (socket.SOCK_STREAM, DEFAULT_TCP)):
        for port in ports:
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind(("127.0.0.1", port))
                if kind == socket.SOCK_STREAM:
                    s.listen(1)
                held.append(s)
            except OSError:
                s.close()
    try:
        yield held
    finally:
        for s in held:
            s.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    out = tmp_path_factory.mktemp("demo") / "out"
    started = time.monotonic()
    with _holding_default_ports():
        proc = subprocess.run([EXE, "demo", "--out", str(out), "--plain"], capture_output=True, text=True,
                              timeout=900, check=False, stdin=subprocess.DEVNULL)
    return DemoRun(out, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def test_demo_exits_0_when_everything_happened(demo: DemoRun) -> None:
    print(f"demo took {demo.seconds:.0f} s")
    assert demo.code == 0, demo.stdout[-6000:] + demo.stderr[-3000:]
    assert "everything happened" in demo.stdout and "Traceback" not in demo.stderr
    assert "\x1b[" not in demo.stdout                                   # --plain: no escape codes at all
    result = demo.result
    assert result["ok"] is True and all(o["ok"] for o in result["outcomes"])
    # the ports were chosen free at start (the fallbacks were held by this test)
    ports = result["ports"]
    assert ports["snmp"] not in DEFAULT_UDP and ports["traps"] not in DEFAULT_UDP
    assert {ports["telegram"], ports["service"], ports["upstream"]}.isdisjoint(DEFAULT_TCP)
    # and it says where everything is, with the commands to look further
    for needle in ("demo.db", "telegram-messages.json", "ektp-monitor outages", "ektp-monitor report", ".pdf", ".csv"):
        assert needle in demo.stdout


def test_the_lightning_incident_has_cause_lightning_and_its_evidence(demo: DemoRun) -> None:
    storm = demo.storm()
    assert storm["cause"] == "lightning" and storm["ended_at"] is not None
    kinds = {e["kind"] for e in json.loads(storm["evidence"])}
    assert {"strike", "spd_tripped", "on_battery"} <= kinds
    [srv] = [o for o in demo.outages("rec-srv-1") if o["incident_id"] == storm["id"]]
    assert (srv["status"], srv["cause"]) == ("down", "lightning")
    evidence = json.loads(srv["evidence"])
    strike = next(e for e in evidence if e["kind"] == "strike")
    assert strike["device"] == "spd-count" and strike["values"]["new"] == 13
    assert any(e["kind"] == "spd_tripped" and e["device"] == "spd-1" for e in evidence)
    assert any(e["kind"] == "on_battery" and e["device"] == "ups-1" for e in evidence)
    # the router is down; the data center behind it is unreachable, not down; all one incident
    [router] = demo.outages("router")
    [dc] = demo.outages("dc-pusat")
    assert router["status"] == "down" and dc["status"] == "unreachable"
    assert router["incident_id"] == dc["incident_id"] == storm["id"]
    # the Ministry was told at once (cause lightning), with the escalation report attached by the daemon
    ministry = demo.to(MINISTRY_CHAT)
    assert "ESKALASI" in ministry[0]["text"] and "petir" in ministry[0]["text"]
    assert any(m["filename"] == f"Laporan-Eskalasi-demo-Insiden-{storm['id']}.pdf" for m in ministry)


def test_the_acknowledgement_from_telegram_is_recorded_with_who(demo: DemoRun) -> None:
    storm = demo.storm()
    [ack] = demo.q("SELECT * FROM acknowledgements WHERE incident_id = ?", storm["id"])
    assert (ack["user_id"], ack["user_name"], ack["source"]) == (5001, "Budi", "button")
    assert storm["acknowledged_by"] == "Budi"
    first = demo.to(IT_CHAT)[0]
    labels = [b["text"] for row in first["buttons"] for b in row]
    assert first["edited"] and any("Ditangani: Budi" in x for x in labels)
    # before the acknowledgement, the head of office was escalated to (nobody had taken it)
    assert any("ESKALASI" in m["text"] for m in demo.to(HEAD_CHAT))


def test_recovery_messages_go_to_everyone_who_was_told(demo: DemoRun) -> None:
    storm = demo.storm()
    sent = demo.q("SELECT audience, chat_id, message_id FROM outbox WHERE kind = 'recovery' AND status = 'sent' "
                  "AND incident_id = ?", storm["id"])
    assert {r["audience"] for r in sent} == {"it_staff", "head_of_office", "ministry_liaison"}
    texts = {(m["chat_id"], m["message_id"]): m["text"] for m in demo.messages()}
    for r in sent:
        assert f"PULIH #{storm['id']}" in texts[(r["chat_id"], r["message_id"])]


def test_the_later_service_outage_has_cause_service(demo: DemoRun) -> None:
    storm = demo.storm()
    later = [o for o in demo.outages("rec-srv-1") if o["incident_id"] != storm["id"]]
    assert [(o["status"], o["cause"]) for o in later] == [("down", "service")]
    assert later[0]["ended_at"] is not None
    [inc] = demo.q("SELECT * FROM incidents WHERE id = ?", later[0]["incident_id"])
    assert inc["cause"] == "service" and inc["ended_at"] is not None
    assert any(f"#{inc['id']}" in m["text"] and "layanan" in m["text"] for m in demo.to(IT_CHAT))


def test_the_monitor_gap_is_not_monitored_time_inside_one_outage(demo: DemoRun) -> None:
    [gap] = demo.q("SELECT * FROM monitor_gaps")
    assert gap["reason"] == "process_stopped"
    env = dict(os.environ, EKTP_DEMO_DIR=str(demo.out))
    r = subprocess.run([EXE, "outages", "-c", str(Path(__file__).parents[1] / "config" / "demo.yaml"), "--json"],
                       capture_output=True, text=True, env=env, timeout=120, check=True)
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    storm_id = demo.storm()["id"]
    [srv] = [o for o in rows if o["device"] == "rec-srv-1" and o["incident"] == storm_id]
    assert srv["gap_s"] >= 4.0 and srv["gaps"][0]["reason"] == "process_stopped"
    assert srv["duration_s"] > srv["gap_s"]
    assert any(m["text"].startswith("⏸") for m in demo.to(IT_CHAT))


def test_reports_are_produced_and_sent(demo: DemoRun) -> None:
    from pypdf import PdfReader

    files = {Path(p).name: Path(p) for paths in demo.result["files"].values() for p in paths}
    weekly = next(p for n, p in files.items() if n.startswith("Laporan-Mingguan") and n.endswith(".pdf"))
    escalation = next(p for n, p in files.items() if n.startswith("Laporan-Eskalasi") and n.endswith(".pdf"))
    csv = next(p for n, p in files.items() if n.endswith(".csv"))
    for pdf in (weekly, escalation):
        text = " ".join(page.extract_text() or "" for page in PdfReader(pdf).pages)
        assert OFFICE_NAME in " ".join(text.split()), pdf
    assert "rec-srv-1" in csv.read_text(encoding="utf-8")
    # sent: the Bot API server recorded the very bytes of the files on disk
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (weekly, escalation)}
    head_docs = {m["filename"]: m["document"]["sha256"] for m in demo.to(HEAD_CHAT) if m["document"]}
    ministry_docs = [(m["filename"], m["document"]["sha256"]) for m in demo.to(MINISTRY_CHAT) if m["document"]]
    assert head_docs.get(weekly.name) == digest[weekly.name]
    assert (weekly.name, digest[weekly.name]) in ministry_docs
    assert (escalation.name, digest[escalation.name]) in ministry_docs      # the final letter, sent again
    runs = [(r["kind"], r["status"]) for r in demo.q("SELECT kind, status FROM report_runs ORDER BY id")]
    assert ("weekly", "sent") in runs and runs.count(("escalation", "built")) == 2   # the daemon's, then the CLI's


def test_the_verdict_names_what_did_not_happen(demo: DemoRun, tmp_path: Path) -> None:
    """The verdict is computed from the record and the chats: take things away and it says which."""
    from datetime import datetime

    from monitor.domain import Audience
    from monitor.sandbox.demo.verify import verify
    from monitor.sandbox.demo.watch import ChatMessage, Record

    db = tmp_path / "demo.db"
    db.write_bytes((demo.out / "demo.db").read_bytes())
    facts = dict(demo.result["facts"])
    facts["killed_at"] = datetime.fromisoformat(facts["killed_at"])
    messages = [ChatMessage(chat_id=m["chat_id"], message_id=m["message_id"], method=m["method"], text=m["text"],
                            parse_mode=m["parse_mode"], buttons=m["buttons"], filename=m["filename"],
                            document_size=(m["document"] or {}).get("size"),
                            document_sha256=(m["document"] or {}).get("sha256"), date=m["date"])
                for m in demo.messages()]
    chat_of = {Audience.IT_STAFF: IT_CHAT, Audience.HEAD_OF_OFFICE: HEAD_CHAT,
               Audience.MINISTRY_LIAISON: MINISTRY_CHAT}
    files = {k: [Path(p) for p in v] for k, v in demo.result["files"].items()}
    assert all(o.ok for o in verify(Record(db), messages, chat_of, facts, files, 0))

    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM monitor_gaps")
        conn.execute("DELETE FROM acknowledgements")
        conn.execute("UPDATE outages SET cause = 'unknown' WHERE cause = 'service'")
    conn.close()
    outcomes = verify(Record(db), [m for m in messages if not m.filename], chat_of, facts, files, None)
    assert {o.name for o in outcomes if not o.ok} == {
        "Ministry liaison told at once (cause lightning) with the escalation report PDF attached",
        "acknowledged from Telegram (button “Tangani”)",
        "monitor gap recorded as not-monitored time, inside one continuous outage",
        "a later, short outage of the recording service alone, cause service",
        "reports sent: weekly to the head of office and the Ministry, escalation to the Ministry",
        "the monitor stopped cleanly at the end (SIGTERM, exit 0)"}


# ------------------------------------------------------------------------------------------- Ctrl-C


def _descendants(pid: int) -> dict[int, float]:
    try:
        return {p.pid: p.create_time() for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return {}


def _alive(pid: int, created: float) -> bool:
    try:
        p = psutil.Process(pid)
        return p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_ctrl_c_in_the_middle_leaves_no_process_behind(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen([EXE, "demo", "--out", str(out), "--plain"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    seen: dict[int, float] = {}
    try:
        deadline = time.monotonic() + 300
        while not any("── 3 ·" in line for line in lines):                 # the storm is under way
            assert proc.poll() is None, "".join(lines)[-4000:]
            assert time.monotonic() < deadline, "".join(lines)[-4000:]
            seen.update(_descendants(proc.pid))
            time.sleep(0.2)
        seen.update(_descendants(proc.pid))
        names = {psutil.Process(p).name() for p in seen if _alive(p, seen[p])}
        assert len(seen) >= 7, names                      # 5 agents, the Bot API server, the monitor
        proc.send_signal(signal.SIGINT)
        code = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for pid, created in seen.items():                 # never leave anything behind, even on failure
            if _alive(pid, created):
                with contextlib.suppress(psutil.NoSuchProcess):
                    psutil.Process(pid).kill()
    reader.join(10)
    text = "".join(lines)
    assert code == 130, text[-4000:]
    left = [pid for pid, created in seen.items() if _alive(pid, created)]
    assert left == [], f"still running: {left}\n{text[-3000:]}"
    assert "interrupted: stopping everything the demo started" in text and "stopped" in text


# ------------------------------------------------------------------------------------------- pure parts


def test_render_html_as_the_chat_shows_it() -> None:
    html = '⚡ <b>GANGGUAN #1</b> · A &amp; B\n<i>catatan</i> <a href="https://x.example/">tautan</a> &lt;3'
    assert render_html(html, rich=False) == "⚡ GANGGUAN #1 · A & B\ncatatan tautan (https://x.example/) <3"
    rich = render_html(html, rich=True)
    assert "\x1b[1mGANGGUAN #1\x1b[0m" in rich and "A & B" in rich


@pytest.mark.parametrize(("kind", "payload", "want"), [
    ("outage_opened", {"device_name": "Server", "status": "down", "cause": "lightning", "reason": "tcp: refused"},
     "OUTAGE opened: Server (srv) is DOWN, cause lightning — tcp: refused"),
    ("outage_changed", {"device_name": "DC", "status": "unreachable", "previous_status": "down",
                        "cause": "lightning", "change": "status"},
     "outage of DC (srv): down → unreachable, cause lightning (a parent is down: unreachable, not down itself)"),
    ("outage_closed", {"device_name": "Server", "duration_s": 39.2, "status": "down", "cause": "service", "gap_s": 12},
     "outage closed: Server (srv) recovered after 39s (worst down, cause service, of which 12s not monitored "
     "(monitor gap))"),
    ("monitor_gap", {"duration_s": 12.2, "reason": "process_stopped"},
     "MONITOR GAP recorded: 12s when the monitor was not running (process_stopped) — reported as not-monitored "
     "time, never as up"),
    ("incident_changed", {"incident_id": 1, "cause": "lightning", "previous_cause": "lightning"}, None),
])
def test_event_lines(kind: str, payload: dict[str, Any], want: str | None) -> None:
    assert describe_event(kind, payload, "srv") == want


def test_shipped_recordings_are_the_librenms_files_unmodified() -> None:
    notice = (LIBRENMS_DIR / "NOTICE.txt").read_text(encoding="utf-8")
    assert "GPL-3.0" in notice
    for a in ADAPTATIONS.values():
        if a.base is None:
            continue
        data = (LIBRENMS_DIR / a.base).read_bytes()
        assert hashlib.sha256(data).hexdigest() in notice, a.base       # the sum stated in the notice
        assert data == (RECORDINGS / "snmprec" / a.base).read_bytes(), a.base   # the tests' copy: the same bytes


def test_adaptations_enable_the_spd_contact_and_reset_uptime_on_a_boot(tmp_path: Path) -> None:
    def records(path: Path) -> dict[str, tuple[str, str]]:
        out = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            oid, tag, value = line.split("|", 2)
            out[oid] = (tag, value)
        return out

    apc = records(write_agent_data(tmp_path / "a", "ups-apc"))
    assert apc[OID.iemStatusContactStatus1] == ("2:wcapc", "value=1")            # recorded 3 (disabled)
    assert apc[OID.iemStatusContactName1] == ("4", "Arrester Petir (SPD)")
    assert apc[OID.upsBasicOutputStatus] == ("2:wcapc", "value=2")               # recorded onLine, SET-able
    first = records(write_agent_data(tmp_path / "b1", "rec-srv-1"))
    again = records(write_agent_data(tmp_path / "b2", "rec-srv-1", boot=2))
    assert first[OID.hrSystemUptime] == ("67", "3834774601")                     # the recorded 443 days
    assert again[OID.hrSystemUptime] == ("67", "2000")                           # 20 s after the power came back
