"""``ektp-monitor check -c FILE [--device ID] [--json]`` run as a subprocess (the installed console
script) against agents this test starts on loopback. No database is created."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.sandbox.snmpsim import SnmpsimAgent

CONTRACT = ("site", "device", "check", "profile", "status", "reason", "metrics", "time")
EXE = Path(sys.executable).parent / "ektp-monitor"


@pytest.fixture
def tcp_listener() -> Iterator[int]:
    """A listening socket: the kernel completes connections from its backlog without accept()."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


@pytest.fixture
def office(write_config: Callable[..., Path], sim: SnmpsimAgent, tcp_listener: int, tmp_path: Path) -> Path:
    return write_config(f"""
        telegram: {{enabled: false}}
        database: {{url: "sqlite:///{tmp_path}/must-not-exist.db"}}
        defaults:
          timeout: 1s
          retries: 0
          snmp: {{version: 2c, port: {sim.port}, community: deltaups}}
          power_quality: {{input_voltage_min: 108, input_voltage_max: 132}}
        sites:
          - id: kantor
            name: Kantor Uji
            devices:
              - {{id: router, name: Router, kind: router, address: 127.0.0.1,
                 checks: [{{type: ping}}, {{type: snmp, profile: if-uplink, snmp: {{community: routeros}},
                           params: {{interfaces: [WAN]}}}}]}}
              - {{id: ups-1, name: UPS, kind: ups, address: 127.0.0.1, depends_on: [router],
                 checks: [{{type: snmp, profile: ups-rfc1628}}]}}
              - {{id: ups-2, name: UPS NetAgent, kind: ups, address: 127.0.0.1,
                 checks: [{{type: snmp, profile: ups-rfc1628, snmp: {{community: netagent2}}}}]}}
              - {{id: spd-1, name: Arrester, kind: spd, address: 127.0.0.1,
                 checks: [{{type: snmp, profile: spd-contact, snmp: {{community: hwg-poseidon}},
                           params: {{contact: 1}}}}]}}
              - {{id: srv, name: Server, kind: recording_server, address: 127.0.0.1,
                 checks: [{{type: snmp, profile: host-resources, snmp: {{community: openwrt}}}},
                          {{type: tcp, port: {tcp_listener}}}]}}
              - {{id: win, name: Workstation, kind: workstation, address: 127.0.0.1,
                 checks: [{{type: snmp, profile: host-resources, snmp: {{community: windows}}}}]}}
              - {{id: typo, name: Wrong community, kind: ups, address: 127.0.0.1,
                 checks: [{{type: snmp, profile: ups-rfc1628, timeout: 500ms, snmp: {{community: not-configured}}}}]}}
              - {{id: monitor, name: Monitor, kind: monitor_host, checks: [{{type: host, paths: ["/"]}}]}}
        """)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=120)


def test_json_lines_have_the_contract_fields(office: Path, tmp_path: Path) -> None:
    proc = run("check", "-c", str(office), "--json")
    lines = proc.stdout.strip().splitlines()
    records = [json.loads(line) for line in lines]
    # the Nagios convention: worst of down (2), degraded (1), else 3 — two devices cannot be decided (below)
    statuses = {r["status"] for r in records}
    assert proc.returncode == (2 if statuses & {"down", "unreachable"} else 1 if "degraded" in statuses else 3)
    assert len(records) == 10
    for record in records:
        assert tuple(record)[:8] == CONTRACT
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["time"])
        assert record["status"] in ("up", "degraded", "down", "unreachable", "unknown")
        assert (record["reason"] is None) == (record["status"] == "up")
        assert isinstance(record["metrics"], dict)
    by_key = {(r["device"], r["check"]): r for r in records}
    assert by_key["router", "ping"]["status"] == "up" and by_key["router", "ping"]["profile"] is None
    assert by_key["router", "snmp:if-uplink"]["metrics"]["iface.WAN.status"] == "up"
    ups = by_key["ups-1", "snmp:ups-rfc1628"]
    assert ups["status"] == "up" and ups["profile"] == "ups-rfc1628"
    assert ups["metrics"]["ups.status"] == "OL" and ups["metrics"]["battery.charge"] == 100
    assert ups["units"]["battery.runtime"] == "s"
    assert by_key["ups-2", "snmp:ups-rfc1628"]["profile"] == "ups-xppc"      # fallback shown
    assert by_key["spd-1", "snmp:spd-contact"]["status"] == "up"
    assert by_key["srv", "snmp:host-resources"]["status"] == "up"
    assert by_key["srv", next(k for d, k in by_key if d == "srv" and k.startswith("tcp:"))]["status"] == "up"
    win = by_key["win", "snmp:host-resources"]
    assert win["status"] == "unknown" and win["reason_code"] == "profile_mismatch"
    typo = by_key["typo", "snmp:ups-rfc1628"]
    assert typo["status"] == "unknown" and typo["reason"].startswith("authentication failed")
    assert "not-configured" not in proc.stdout + proc.stderr
    assert by_key["monitor", "host"]["metrics"]["disk./.used"] > 0
    assert not (tmp_path / "must-not-exist.db").exists()                       # no database needed


def test_table_output_and_device_filter(office: Path) -> None:
    proc = run("check", "-c", str(office), "--device", "ups-1", "--device", "kantor/router")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.splitlines()[0].split()[:5] == ["SITE", "DEVICE", "CHECK", "STATUS", "DETAILS"]
    assert "ups.status=OL" in out and "snmp:if-uplink" in out
    assert "spd-1" not in out
    assert "3 checks: 3 up" in out


def test_unknown_device_and_bad_config_exit_2(office: Path, write_config: Callable[..., Path]) -> None:
    proc = run("check", "-c", str(office), "--device", "nope")
    assert proc.returncode == 2 and "no device 'nope'" in proc.stderr
    bad = write_config("""
        telegram: {enabled: false}
        sites:
          - id: s
            name: S
            devices:
              - {id: u, name: U, kind: ups, address: 127.0.0.1,
                 checks: [{type: snmp, profile: ups-rfc1629, snmp: {community: x}}]}
        """, name="bad.yaml")
    proc = run("check", "-c", str(bad), "--json")
    assert proc.returncode == 2
    assert "bad.yaml:7" in proc.stderr and "did you mean 'ups-rfc1628'" in proc.stderr
