"""End to end: the installed ``ektp-monitor run`` against real agents, the test changing the world, and
``ektp-monitor outages --json`` read back.

The office lives in two network namespaces this test creates and removes (library-findings §4): the
monitor's (with snmpsim serving a UPS and a strike counter on its own loopback, and the trap listener)
and the recording server's (198.18.0.2, a real TCP service), joined by a veth pair. Nothing can leave:
the monitor's namespace has no default route. The storm of the issue's "Done when" is scripted —
a strike is counted, the UPS goes on battery (SET + a real ``snmptrap``), the server goes down (its
link is taken down), the daemon is killed with SIGKILL in the middle of the outage and started again,
then everything recovers — and the record is compared with what happened, to the second.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor.sandbox import SandboxError
from monitor.sandbox.snmpsim import SnmpsimAgent, make_recording
from monitor.storage.db import create_db_engine
from monitor.storage.models import CheckSample, DeviceRow, DeviceStateRow, EventRow, EvidenceRow

from ..conftest import RECORDINGS

EXE = shutil.which("ektp-monitor") or str(Path(sys.executable).with_name("ektp-monitor"))
IP = shutil.which("ip")
STRIKES_OID = "1.3.6.1.4.1.99999.1.1.0"
UPS_OUTPUT_SOURCE = "1.3.6.1.2.1.33.1.4.1.0"
UPS_TRAP_ON_BATTERY = "1.3.6.1.2.1.33.2.0.1"   # UPS-MIB upsTraps.0.1

needs_netns = pytest.mark.skipif(os.geteuid() != 0 or IP is None or shutil.which("snmptrap") is None,
                                 reason="needs root, iproute2 and net-snmp's snmptrap (network namespaces)")


def sh(*argv: str, timeout: float = 20, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=check)


@dataclass
class Namespaces:
    mon: str
    dev: str
    dev_link: str
    mon_ip: str = "198.18.0.1"
    dev_ip: str = "198.18.0.2"

    def exec(self, ns: str, *argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", ns, *argv, **kw)

    def link(self, up: bool) -> None:
        sh("ip", "-n", self.dev, "link", "set", self.dev_link, "up" if up else "down")


@pytest.fixture
def netns() -> Iterator[Namespaces]:
    tag = secrets.token_hex(3)
    ns = Namespaces(mon=f"ekm-{tag}", dev=f"ekd-{tag}", dev_link=f"ekb{tag}")
    a = f"eka{tag}"
    try:
        sh("ip", "netns", "add", ns.mon)
        sh("ip", "netns", "add", ns.dev)
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", ns.dev_link)
        sh("ip", "link", "set", a, "netns", ns.mon)
        sh("ip", "link", "set", ns.dev_link, "netns", ns.dev)
        sh("ip", "-n", ns.mon, "addr", "add", f"{ns.mon_ip}/24", "dev", a)
        sh("ip", "-n", ns.dev, "addr", "add", f"{ns.dev_ip}/24", "dev", ns.dev_link)
        for n in (ns.mon, ns.dev):
            sh("ip", "-n", n, "link", "set", "lo", "up")
        sh("ip", "-n", ns.mon, "link", "set", a, "up")
        sh("ip", "-n", ns.dev, "link", "set", ns.dev_link, "up")
        # prove there is no way out of the monitor's namespace
        assert ns.exec(ns.mon, "ip", "route", "get", "8.8.8.8", check=False).returncode != 0
        yield ns
    finally:
        for n in (ns.mon, ns.dev):
            sh("ip", "netns", "del", n, check=False)   # deleting the namespaces deletes the veth pair


class NsSnmpsim(SnmpsimAgent):
    """snmpsim inside the monitor's namespace (its own loopback); probed and driven from there too."""

    def __init__(self, ns: Namespaces, *args: Any, **kw: Any) -> None:
        self.ns = ns
        super().__init__(*args, **kw)

    def _argv(self, probe_dir: Path) -> list[str]:
        return ["ip", "netns", "exec", self.ns.mon, *super()._argv(probe_dir)]

    def _answers(self) -> bool:
        r = self.ns.exec(self.ns.mon, "snmpget", "-v2c", "-c", self._token, "-Oqv", "-t", "0.3", "-r", "0",
                         f"127.0.0.1:{self.port}", "1.3.6.1.2.1.1.1.0", check=False, timeout=5)
        return self._token in r.stdout

    def set(self, community: str, oid: str, value: int | str, type_: str = "i") -> None:
        # the sandbox's own SET (it knows Counter32, net-snmp's snmpset does not), run in the namespace
        code = (f"import sys; from monitor.sandbox import snmp_set; "
                f"sys.exit(0 if snmp_set('127.0.0.1', {self.port}, {community!r}, {oid!r}, {value!r}, "
                f"type_={type_!r}) else 1)")
        r = self.ns.exec(self.ns.mon, sys.executable, "-c", code, check=False)
        if r.returncode != 0:
            raise SandboxError(f"SET {oid}={value} refused: {r.stderr.strip()[-500:]}")


@pytest.fixture
def agents(netns: Namespaces, tmp_path: Path) -> Iterator[NsSnmpsim]:
    data = tmp_path / "data"
    make_recording(data, "ups01", base=RECORDINGS / "snmprec" / "deltaups.snmprec",
                   values={UPS_OUTPUT_SOURCE: ("2", 3), "1.3.6.1.2.1.33.1.3.3.1.3.1": ("2", 220),   # 220 V mains
                           "1.3.6.1.2.1.33.1.4.4.1.2.1": ("2", 220)},
                   writable={UPS_OUTPUT_SOURCE: "wcups"})
    make_recording(data, "spd01", values={"1.3.6.1.2.1.1.1.0": ("4", "Strike counter (simulated)"),
                                          "1.3.6.1.2.1.1.3.0": ("67", 100000), STRIKES_OID: ("65", 12)},
                   writable={STRIKES_OID: "wcspd"})
    sim = NsSnmpsim(netns, data, writecache=["wcups", "wcspd"], work_dir=tmp_path / "sim")
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def service(netns: Namespaces, tmp_path: Path) -> Iterator[int]:
    """The recording service: a TCP listener on the server's address in its namespace."""
    port = 18000 + secrets.randbelow(20000)
    code = ("import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('{netns.dev_ip}', {port})); s.listen(16)\n"
            "while True:\n    c, _ = s.accept(); c.close()\n")
    proc = subprocess.Popen(["ip", "netns", "exec", netns.dev, sys.executable, "-c", code],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while netns.exec(netns.mon, sys.executable, "-c",
                         f"import socket; socket.create_connection(('{netns.dev_ip}', {port}), 0.5)",
                         check=False).returncode != 0:
            assert time.monotonic() < deadline and proc.poll() is None, "the TCP service did not start"
            time.sleep(0.2)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


CONFIG = """
    telegram: {{enabled: false}}
    database: {{url: "sqlite:///{db}"}}
    defaults:
      interval: 1s
      timeout: 500ms
      retries: 0
      confirm_down: 2
      confirm_up: 2
      snmp: {{version: 2c, port: {snmp_port}}}
    monitor: {{heartbeat_interval: 1s, jitter: 300ms, misfire_grace: 10s}}
    causes: {{power_window: 5m, lightning_window: 5m, hardware_after: 30m, incident_window: 2m}}
    traps: {{enabled: true, listen: "127.0.0.1:{trap_port}", communities: ["e2e-traps"]}}
    sites:
      - id: mura
        name: "Disdukcapil Murung Raya (uji)"
        timezone: Asia/Jakarta
        devices:
          - id: ups-1
            name: "UPS Ruang Server"
            kind: ups
            address: 127.0.0.1
            checks: [{{type: snmp, profile: ups-rfc1628, snmp: {{community: ups01}}}}]
          - id: spd-1
            name: "Penghitung Petir"
            kind: spd
            address: 127.0.0.1
            checks: [{{type: snmp, profile: spd-counter, snmp: {{community: spd01}}, params: {{oid: "{strikes}"}}}}]
          - id: rec-srv-1
            name: "Server Perekaman e-KTP"
            kind: recording_server
            address: {dev_ip}
            powered_by: ups-1
            checks: [{{type: ping, count: 2, packet_interval: 100ms}}, {{type: tcp, port: {svc_port}}}]
"""


class Monitor:
    """``ektp-monitor run`` inside the monitor's namespace, stopped by its PID."""

    def __init__(self, ns: Namespaces, cfg: Path, log: Path) -> None:
        self.ns, self.cfg, self.log = ns, cfg, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns.mon, EXE, "run", "-c", str(self.cfg)],
                                     stdout=out, stderr=subprocess.STDOUT)
        out.close()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Record:
    """Reads the record the daemon writes (SQLite, WAL: safe beside the writer)."""

    def __init__(self, url: str) -> None:
        self.engine = create_db_engine(url)

    def q(self, fn: Callable[[Any], Any]) -> Any:
        from sqlalchemy.orm import Session
        with Session(self.engine) as s:
            return fn(s)

    def status(self, device: str) -> str | None:
        def f(s: Any) -> str | None:
            row = s.execute(select(DeviceStateRow.status).join(DeviceRow, DeviceRow.id == DeviceStateRow.device_id)
                            .where(DeviceRow.key == device)).first()
            return row[0] if row else None
        return self.q(f)  # type: ignore[no-any-return]

    def samples(self, device: str, check: str) -> list[tuple[datetime, str]]:
        return self.q(lambda s: [(t, st) for t, st in s.execute(
            select(CheckSample.time, CheckSample.status).join(DeviceRow, DeviceRow.id == CheckSample.device_id)
            .where(DeviceRow.key == device, CheckSample.check == check).order_by(CheckSample.time))])  # type: ignore[no-any-return]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return self.q(lambda s: [e.payload for e in s.scalars(select(EventRow).where(EventRow.kind == kind)
                                                                .order_by(EventRow.id))])  # type: ignore[no-any-return]

    def evidence(self, kind: str) -> list[EvidenceRow]:
        return self.q(lambda s: list(s.scalars(select(EvidenceRow).where(EvidenceRow.kind == kind))))  # type: ignore[no-any-return]


def wait(cond: Callable[[], object], what: str, monitor: Monitor, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline or not monitor.alive():
            tail = monitor.log.read_text(errors="replace")[-3000:] if monitor.log.exists() else ""
            raise AssertionError(f"{what}: not reached in {timeout:.0f}s (monitor alive: {monitor.alive()})\n{tail}")
        time.sleep(0.2)


def outages(cfg: Path, *extra: str) -> list[dict[str, Any]]:
    r = sh(EXE, "outages", "-c", str(cfg), "--json", *extra, timeout=60)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def free_port_in_range() -> int:
    # the trap port only has to be free in the monitor's fresh namespace; pick one that is free here too
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@needs_netns
def test_scripted_storm_is_recorded_to_the_second_through_a_kill_9(netns: Namespaces, agents: NsSnmpsim,
                                                                    service: int, tmp_path: Path) -> None:
    db_path = tmp_path / "monitor.db"
    trap_port = free_port_in_range()
    cfg = tmp_path / "office.yaml"
    cfg.write_text(textwrap.dedent(CONFIG.format(db=db_path, snmp_port=agents.port, trap_port=trap_port,
                                                 strikes=STRIKES_OID, dev_ip=netns.dev_ip, svc_port=service)))
    cfg.chmod(0o600)
    assert sh(EXE, "db", "upgrade", "-c", str(cfg)).returncode == 0
    record = Record(f"sqlite:///{db_path}")
    mon = Monitor(netns, cfg, tmp_path / "monitor.log")
    mon.start()
    try:
        wait(lambda: all(record.status(d) == "up" for d in ("ups-1", "spd-1", "rec-srv-1")), "all devices up", mon)

        # 1. lightning: the strike counter counts one (12 -> 13)
        t_strike = datetime.now(UTC)
        agents.set("spd01", STRIKES_OID, 13, "c")
        wait(lambda: record.evidence("strike"), "strike recorded", mon)

        # 2. the UPS goes on battery: its card sends a trap, and polls agree
        t_battery = datetime.now(UTC)
        agents.set("ups01", UPS_OUTPUT_SOURCE, 5)
        netns.exec(netns.mon, "snmptrap", "-v2c", "-c", "e2e-traps", f"127.0.0.1:{trap_port}", "",
                   UPS_TRAP_ON_BATTERY)
        wait(lambda: record.status("ups-1") == "degraded", "UPS degraded", mon)
        t_after_battery = datetime.now(UTC)

        # 3. the server goes down (its link is cut)
        t_down = datetime.now(UTC)
        netns.link(up=False)
        wait(lambda: [o for o in outages(cfg, "--open") if o["device"] == "rec-srv-1"], "server outage", mon)

        # 4. the monitor is killed in the middle of the outage, and started again after a while
        mon.kill9()
        t_killed = datetime.now(UTC)
        time.sleep(4.0)                       # longer than two 1 s heartbeats: a gap
        mon.start()
        wait(lambda: record.events("monitor_started")[1:], "monitor restarted", mon)

        # 5. recovery
        t_up = datetime.now(UTC)
        netns.link(up=True)
        agents.set("ups01", UPS_OUTPUT_SOURCE, 3)
        wait(lambda: not outages(cfg, "--open"), "every outage closed", mon)
    finally:
        code = mon.stop()
    assert code == 0, mon.log.read_text(errors="replace")[-3000:]

    rows = outages(cfg)
    by_device = {o["device"]: o for o in rows}
    assert set(by_device) == {"ups-1", "rec-srv-1"} and len(rows) == 2       # one outage each, nothing doubled
    srv, ups = by_device["rec-srv-1"], by_device["ups-1"]

    # the server: down from the first failed check after its link was cut until the first good one
    samples = {c: record.samples("rec-srv-1", c) for c in ("ping", f"tcp:{service}")}
    confirmed = ts(srv["confirmed_at"])

    def streak_start(rows_: list[tuple[datetime, str]]) -> datetime | None:
        """Recomputed from the raw samples: the first failed result (down or degraded) after the check's
        last success before the confirmation."""
        last_up = max((t for t, st in rows_ if st == "up" and t <= confirmed), default=datetime.min.replace(tzinfo=UTC))
        return min((t for t, st in rows_ if st in ("down", "degraded") and last_up < t <= confirmed), default=None)

    first_down = min(t for t in (streak_start(r) for r in samples.values()) if t is not None)
    # recovered when the last of its checks came back: the later of each check's first good result
    first_up = max(min(t for t, st in rows_ if st == "up" and t >= t_up) for rows_ in samples.values())
    dump = f"t_down={t_down} confirmed={confirmed}\n" + "\n".join(
        f"{c}: " + ", ".join(f"{t:%S.%f}={st}" for t, st in r if t_down - timedelta(seconds=5) <= t <= confirmed)
        for c, r in samples.items())
    assert ts(srv["start"]) == first_down and first_down < confirmed < t_killed, dump
    # to the second: a result carries the time its check started, so the first failed check may have
    # started just before the cut (less than one check's duration: 0.5 s timeout + 2 pings 100 ms apart)
    assert timedelta(seconds=-1) <= first_down - t_down <= timedelta(seconds=2)
    assert ts(srv["end"]) == first_up
    assert srv["duration_s"] == round((first_up - first_down).total_seconds(), 3)
    assert (srv["status"], srv["cause"], srv["planned"]) == ("down", "lightning", False)
    kinds = [(e["device"], e["kind"]) for e in srv["evidence"]]
    assert ("spd-1", "strike") in kinds and ("ups-1", "on_battery") in kinds
    strike = next(e for e in srv["evidence"] if e["kind"] == "strike")
    assert t_strike <= ts(strike["time"]) <= t_battery and strike["values"]["new"] == 13
    # the kill -9: one outage, the gap recorded inside it, one "opened" and one "closed" event
    [gap] = srv["gaps"]
    assert gap["reason"] == "process_stopped" and ts(gap["started_at"]) <= t_killed <= ts(gap["ended_at"])
    assert srv["gap_s"] >= 3.0
    assert [e["device"] for e in record.events("outage_opened")].count("rec-srv-1") == 1
    assert [e["device"] for e in record.events("outage_closed")].count("rec-srv-1") == 1
    assert len(record.events("monitor_gap")) == 1

    # the UPS: degraded from the trap (not the next poll) until the first good poll on mains
    assert (ups["status"], ups["cause"]) == ("degraded", "lightning")
    assert t_battery <= ts(ups["start"]) <= t_after_battery
    assert srv["incident"] == ups["incident"]
    observed = [(e["device"], e["kind"], e["source"]) for e in record.events("observation")]
    trace = (f"{observed}\n{[(e.kind, e.source, e.text) for e in record.evidence('on_battery')]}\n"
             + mon.log.read_text(errors="replace")[-4000:])
    assert ("spd-1", "strike", "poll") in observed and ("ups-1", "on_battery", "trap") in observed, trace

    # the human table: site-local time with its zone label
    table = sh(EXE, "outages", "-c", str(cfg)).stdout
    assert "WIB" in table and "rec-srv-1" in table and "lightning" in table


def test_run_refuses_an_old_schema(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(textwrap.dedent(f"""
        telegram: {{enabled: false}}
        database: {{url: "sqlite:///{tmp_path / 'm.db'}"}}
        sites:
          - id: s
            name: "Kantor"
            devices: [{{id: srv, name: "Server", kind: recording_server, address: 127.0.0.1,
                        checks: [{{type: tcp, port: 9}}]}}]
    """))
    r = sh(EXE, "run", "-c", str(cfg), check=False, timeout=60)
    assert r.returncode == 1
    assert f"ektp-monitor db upgrade -c {cfg}" in r.stderr


def test_run_reloads_on_sighup_keeps_running_on_a_bad_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    cfg = tmp_path / "c.yaml"
    good = textwrap.dedent(f"""
        telegram: {{enabled: false}}
        database: {{url: "sqlite:///{tmp_path / 'm.db'}"}}
        defaults: {{interval: 500ms, timeout: 300ms, retries: 0}}
        monitor: {{heartbeat_interval: 1s, jitter: 100ms}}
        sites:
          - id: s
            name: "Kantor"
            devices:
              - {{id: srv, name: "Server", kind: recording_server, address: 127.0.0.1,
                  checks: [{{type: tcp, port: {port}}}]}}
    """)
    cfg.write_text(good)
    assert sh(EXE, "db", "upgrade", "-c", str(cfg)).returncode == 0
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([EXE, "run", "-c", str(cfg)], stdout=out, stderr=subprocess.STDOUT)
    try:
        def logged(text: str, timeout: float = 30) -> None:
            deadline = time.monotonic() + timeout
            while text not in log.read_text(errors="replace"):
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.1)

        logged("state s/srv unknown -> up")
        cfg.write_text(good.replace("kind: recording_server", "kind: mainframe"))
        proc.send_signal(signal.SIGHUP)
        logged("config reload refused, still running on the previous config")
        assert "sites[0].devices[0].kind" in log.read_text()
        assert proc.poll() is None
        cfg.write_text(good + f"      - {{id: ws, name: \"PC\", kind: workstation, address: 127.0.0.1, "
                              f"checks: [{{type: tcp, port: {port}}}]}}\n")
        proc.send_signal(signal.SIGHUP)
        logged("config reloaded: 1 sites, 2 devices, 2 checks")
        logged("state s/ws unknown -> up")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "ektp-monitor stopped" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        listener.close()
