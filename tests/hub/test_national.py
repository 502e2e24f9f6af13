"""The national layer end to end, on loopback over HTTPS (a throwaway CA), with everything real:

* two ``ektp-monitor run`` offices on snmpsim UPS agents and TCP services the test switches off and on;
* light offices (the daemon core and the real shipper with synthetic checks, on their own SQLite files:
  ``tests/hub/light_office.py``);
* one ``ektp-monitor hub serve`` on its own throwaway PostgreSQL cluster, behind a fault-injecting proxy.

The storm: the link is cut while outages open and close, a light office is killed with SIGKILL during the
cut (its monitor gap must arrive too); when the link returns the drain is interrupted — the hub is killed
with SIGKILL and started again, PostgreSQL is restarted as after a crash, another office is killed — and
30 % of the replies are lost for a while. At the end the hub's copy of each office equals the office's own
record exactly: 0 missing, 0 extra, 0 differing, by the canonical dump of both sides.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text

from monitor.hub import db as hubdb
from monitor.hub.dump import canonical_dump
from monitor.hub.models import HubFeed, HubOfficeStatus
from monitor.sandbox import free_tcp_port
from monitor.sandbox.snmpsim import SnmpsimAgent, make_recording
from monitor.storage import Database, feed
from monitor.storage.db import create_db_engine
from tests.conftest import RECORDINGS
from tests.reliability.conftest import TcpService

from .conftest import BIN, HubProcess, Office, Tls, hub_yaml, office_yaml
from .proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[2]
LIGHT = int(os.environ.get("EKTP_HUB_LIGHT_OFFICES", "6"))
UPS_OUTPUT_SOURCE = "1.3.6.1.2.1.33.1.4.1.0"


def report(line: str) -> None:
    sys.stderr.write(f"\n[hub e2e] {line}\n")


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster of this test (``scripts/pg-tmp``): it can be restarted."""

    dir: Path
    url: str

    def restart(self, *, crash: bool) -> None:
        subprocess.run([str(ROOT / "scripts" / "pg-tmp"), "restart", str(self.dir), *(["immediate"] if crash else [])],
                       check=True, timeout=120, capture_output=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    out = subprocess.run([str(ROOT / "scripts" / "pg-tmp"), "start"], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        if os.environ.get("EKTP_REQUIRE_PG"):
            pytest.fail(f"EKTP_REQUIRE_PG is set but no PostgreSQL cluster could be started: {out.stderr}")
        pytest.skip(f"no PostgreSQL binaries: {out.stderr.strip()}")
    d = Path(out.stdout.strip())
    base = (d / "url").read_text().strip()
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "ektp_hub"'))
    admin.dispose()
    try:
        yield Cluster(d, base.rsplit("/", 1)[0] + "/ektp_hub")
    finally:
        subprocess.run([str(ROOT / "scripts" / "pg-tmp"), "stop", str(d)], timeout=120, check=False)


@dataclass
class Proc:
    """An office process (``ektp-monitor run`` or a light office), stopped by PID."""

    name: str
    argv: list[str]
    log: Path
    db: Path
    proc: subprocess.Popen[bytes] | None = None
    kills: int = 0
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> Proc:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                         env={**os.environ, **self.env})
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def office_state(db: Path) -> tuple[int, dict[Any, Any], int]:
    """(last seq, canonical dump, backlog) of an office database, read in one transaction."""
    engine = create_db_engine(f"sqlite:///{db}")
    try:
        d = Database(engine)
        try:
            def read(s: Any) -> tuple[int, dict[Any, Any], int]:
                from monitor.daemon.shipper import link_info
                return feed.last_seq(s), feed.canonical_dump(s), link_info(s).backlog_records
            return d.call(read)
        finally:
            d.close()
    finally:
        engine.dispose()


def hub_state(engine: Engine, office_id: str) -> tuple[int, dict[Any, Any]]:
    with engine.connect() as conn:
        acked = conn.execute(select(HubFeed.acked_seq).where(HubFeed.office_id == office_id)).scalar() or 0
        return int(acked), canonical_dump(conn, office_id)


def until(pred: Callable[[], object], within: float, what: str, tails: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + within
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{tails()}")
        time.sleep(0.3)


def real_office_config(db: Path, office: Office, hub_url: str, tls: Tls, snmp_port: int, community: str,
                       svc_port: int) -> str:
    sites = (f'  - id: {office.id}\n    name: "Disdukcapil {office.id}"\n    code: "{office.sites[0]}"\n'
             "    timezone: Asia/Jakarta\n    devices:\n"
             '      - {id: ups, name: "UPS Ruang Server", kind: ups, address: 127.0.0.1, installed: 2018-07, '
             f"funding: apbn, checks: [{{type: snmp, profile: ups-rfc1628, snmp: {{version: 2c, port: {snmp_port}, "
             f"community: {community}}}}}]}}\n"
             '      - {id: srv, name: "Server Perekaman e-KTP", kind: recording_server, address: 127.0.0.1, '
             f"powered_by: ups, funding: apbn, checks: [{{type: tcp, port: {svc_port}}}]}}\n")
    extra = ("defaults: {interval: 500ms, timeout: 400ms, retries: 0, confirm_down: 1, confirm_up: 1}\n"
             "monitor: {heartbeat_interval: 1s, jitter: 100ms}\nreports: {weekly: {enabled: false}}\n"
             "causes: {incident_window: 30s}")
    return office_yaml(db, hub_url=hub_url, office=office, ca_file=tls.ca_file, sites=sites, extra=extra)


def light_office_config(db: Path, office: Office, hub_url: str, tls: Tls) -> str:
    devices = "".join(f'      - {{id: d{i}, name: "Perangkat {i}", kind: {kind}, address: 127.0.0.1, '
                      "checks: [{type: ping}]}\n"
                      for i, kind in enumerate(("router", "recording_server", "workstation", "switch")))
    sites = (f'  - id: {office.id}\n    name: "Kecamatan {office.id}"\n    code: "{office.sites[0]}"\n'
             f"    timezone: Asia/Makassar\n    devices:\n{devices}")
    extra = ("defaults: {interval: 300ms, timeout: 200ms, retries: 0, confirm_down: 1, confirm_up: 1}\n"
             "monitor: {heartbeat_interval: 500ms, jitter: 100ms}\nflapping: {max_changes: 1000}")
    return office_yaml(db, hub_url=hub_url, office=office, ca_file=tls.ca_file, sites=sites, extra=extra)


def test_the_hub_holds_every_offices_record_after_a_storm(cluster: Cluster, tls: Tls, tmp_path: Path) -> None:
    t_start = time.monotonic()
    real = [Office("mura", ["62.12"]), Office("barut", ["62.11"])]
    light = [Office(f"kec{i}", [f"63.0{1 + i // 9}.{1 + i % 9:02d}"]) for i in range(LIGHT)]
    hub_port = free_tcp_port()
    cfg = hub_yaml(tmp_path / "hub.yaml", cluster.url, [*real, *light], listen=f"127.0.0.1:{hub_port}",
                   tls=(tls.cert_file, tls.key_file))
    out = subprocess.run([str(BIN), "hub", "db", "upgrade", "-c", str(cfg)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    hub = HubProcess(cfg, tmp_path / "hub.log", hub_port, tls.ca_file).start()
    proxy = FaultProxy(hub_port)
    hub_url = f"https://127.0.0.1:{proxy.port}"
    central = hubdb.create_hub_engine(cluster.url)

    data = tmp_path / "snmp"
    for n in (1, 2):
        make_recording(data, f"ups0{n}", base=RECORDINGS / "snmprec" / "deltaups.snmprec",
                       values={UPS_OUTPUT_SOURCE: ("2", 3), "1.3.6.1.2.1.33.1.3.3.1.3.1": ("2", 220),
                               "1.3.6.1.2.1.33.1.4.4.1.2.1": ("2", 220)},
                       writable={UPS_OUTPUT_SOURCE: f"wc{n}"})
    sim = SnmpsimAgent(data, writecache=["wc1", "wc2"], work_dir=tmp_path / "sim").start()
    services = [TcpService(), TcpService()]
    for s in services:
        s.up()
    stop = tmp_path / "stop-writing"
    offices: list[Proc] = []
    try:
        for n, office in enumerate(real):
            db = tmp_path / f"{office.id}.db"
            path = tmp_path / f"{office.id}.yaml"
            path.write_text(real_office_config(db, office, hub_url, tls, sim.port, f"ups0{n + 1}",
                                               services[n].port), encoding="utf-8")
            up = subprocess.run([str(BIN), "db", "upgrade", "-c", str(path)], capture_output=True, text=True,
                                timeout=120)
            assert up.returncode == 0, up.stderr
            offices.append(Proc(office.id, [str(BIN), "run", "-c", str(path)], tmp_path / f"{office.id}.log", db))
        for office in light:
            db = tmp_path / f"{office.id}.db"
            path = tmp_path / f"{office.id}.yaml"
            path.write_text(light_office_config(db, office, hub_url, tls), encoding="utf-8")
            offices.append(Proc(office.id, [sys.executable, "-m", "tests.hub.light_office", str(path), str(stop)],
                                tmp_path / f"{office.id}.log", db))
        for p in offices:
            p.start()

        def tails() -> str:
            return "\n".join(f"--- {p.name}\n{p.tail()[-1500:]}" for p in offices) + f"\n--- hub\n{hub.tail()}"

        def shipped(office_id: str) -> int:
            return hub_state(central, office_id)[0]

        until(lambda: all(shipped(p.name) > 0 for p in offices), 90, "every office's first batch", tails)
        report(f"{len(offices)} offices shipping after {time.monotonic() - t_start:.0f} s")

        # ---- the storm: the link is cut while outages open and close
        proxy.cut()
        cut_at = time.monotonic()
        sim.set("ups01", UPS_OUTPUT_SOURCE, 5)                       # on battery
        services[0].down()
        services[1].down()
        time.sleep(2.0)
        offices[2].kill9()                                           # a light office dies during the cut...
        time.sleep(3.5)                                              # ...long enough for a monitor gap
        offices[2].start()
        sim.set("ups01", UPS_OUTPUT_SOURCE, 3)
        services[0].up()
        sim.set("ups02", UPS_OUTPUT_SOURCE, 5)
        time.sleep(2.0)
        services[1].up()
        sim.set("ups02", UPS_OUTPUT_SOURCE, 3)
        time.sleep(1.0)
        backlog = sum(office_state(p.db)[2] for p in offices)
        report(f"link cut {time.monotonic() - cut_at:.0f} s: {backlog} records wait at the offices")
        assert backlog > 0

        # ---- the link returns; the drain is interrupted by a dead hub, a restarted database and a dead office
        proxy.heal()
        proxy.drop_replies = 0.3
        time.sleep(0.8)
        hub.kill9()
        time.sleep(1.0)
        hub.start()
        time.sleep(1.0)
        cluster.restart(crash=True)
        offices[3].kill9()
        time.sleep(0.5)
        offices[3].start()
        time.sleep(2.0)
        proxy.drop_replies = 0.0
        stop.touch()                                                 # the light offices stop failing devices
        report(f"drain interrupted: hub killed, PostgreSQL restarted, {proxy.dropped} replies lost")

        # ---- the end: every office's record, exactly, at the hub
        def equal(p: Proc) -> bool:
            last, local, waiting = office_state(p.db)
            acked, copy = hub_state(central, p.name)
            return waiting == 0 and acked == last and copy == local

        until(lambda: all(equal(p) for p in offices), 120, "the hub's copy to equal every office", tails)
        drained = time.monotonic() - cut_at
        time.sleep(2.0)                                              # quiet now: nothing more is written
        until(lambda: all(equal(p) for p in offices), 30, "the copy to stay equal", tails)
        totals = {"records": 0, "outages": 0, "gaps": 0}
        for p in offices:
            _last, local, _w = office_state(p.db)
            _acked, copy = hub_state(central, p.name)
            missing = set(local) - set(copy)
            extra = set(copy) - set(local)
            differing = [k for k in set(local) & set(copy) if local[k] != copy[k]]
            assert (len(missing), len(extra), len(differing)) == (0, 0, 0), p.name
            totals["records"] += len(local)
            totals["outages"] += sum(1 for k in local if k[0] == "outage")
            totals["gaps"] += sum(1 for k in local if k[0] == "monitor_gap")
        assert totals["gaps"] >= 1                                   # the SIGKILLed office's gap travelled
        assert all(any(k[0] == "outage" for k in office_state(p.db)[1]) for p in offices[:2])

        # the national commands
        out = subprocess.run([str(BIN), "hub", "outages", "-c", str(cfg), "--json"], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        rows = [json.loads(line) for line in out.stdout.splitlines()]
        assert len(rows) == totals["outages"]
        mura = [r for r in rows if r["office"] == "mura"]
        assert mura and all(r["site_code"] == "62.12" for r in mura)
        office_fields = subprocess.run([str(BIN), "outages", "-c", str(tmp_path / "mura.yaml"), "--json"],
                                       capture_output=True, text=True, timeout=60)
        local_rows = [json.loads(line) for line in office_fields.stdout.splitlines()]
        assert local_rows and set(local_rows[0]) | {"office", "site_code"} == set(mura[0])
        by_id = {r["id"]: r for r in mura}
        for r in local_rows:
            if not r["open"]:
                c = by_id[r["id"]]
                assert {k: c[k] for k in r if k not in ("duration_s",)} == {k: v for k, v in r.items()
                                                                            if k != "duration_s"}
        status = subprocess.run([str(BIN), "hub", "status", "-c", str(tmp_path / "mura.yaml"), "--json"],
                                capture_output=True, text=True, timeout=60)
        info = json.loads(status.stdout)
        assert info["backlog_records"] == 0 and info["last_contact_at"] and info["configured"]
        with central.connect() as conn:
            seen = {r.office_id: r.last_seen for r in conn.execute(select(HubOfficeStatus))}
        assert set(seen) == {p.name for p in offices}
        report(f"{len(offices)} offices, {totals['records']} records ({totals['outages']} outages, {totals['gaps']} "
               f"monitor gaps): central copy equal to every office (0 missing, 0 extra, 0 differing) "
               f"{drained:.0f} s after the cut; {sum(p.kills for p in offices)} offices and the hub killed -9, "
               f"PostgreSQL restarted, {proxy.dropped} replies lost; total {time.monotonic() - t_start:.0f} s")
    finally:
        codes = {p.name: p.stop() for p in offices}
        hub_code = hub.stop()
        proxy.close()
        sim.stop()
        for s in services:
            s.down()
        central.dispose()
    assert all(c == 0 for c in codes.values()), codes
    assert hub_code == 0, hub.tail()
