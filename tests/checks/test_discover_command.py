"""``ektp-monitor discover`` and ``check --json`` with no profile named (issue 14), as subprocesses of the
installed console script, against snmpsim on loopback. No database is created."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.sandbox.snmpsim import SnmpsimAgent

EXE = Path(sys.executable).parent / "ektp-monitor"


@pytest.fixture
def office(write_config: Callable[..., Path], sim: SnmpsimAgent, tmp_path: Path) -> Path:
    return write_config(f"""
        telegram: {{enabled: false}}
        database: {{url: "sqlite:///{tmp_path}/must-not-exist.db"}}
        defaults:
          timeout: 1s
          retries: 0
          snmp: {{version: 2c, port: {sim.port}}}
        sites:
          - id: kantor
            name: Kantor Uji
            devices:
              - {{id: ups-ppc, name: UPS PowerWalker, kind: ups, address: 127.0.0.1,
                 checks: [{{type: snmp, snmp: {{community: v-ppc-standby}}}}]}}
              - {{id: ups-delta, name: UPS Delta, kind: ups, address: 127.0.0.1,
                 checks: [{{type: snmp, snmp: {{community: v-rfc-placeholders}}}}]}}
              - {{id: ruang, name: Sensor ruang, kind: room_sensor, address: 127.0.0.1,
                 checks: [{{type: snmp, snmp: {{community: v-ste2-water}}}}]}}
              - {{id: pdu, name: PDU rak, kind: pdu, address: 127.0.0.1,
                 checks: [{{type: snmp, snmp: {{community: v-rpdu2-overload}}}}]}}
              - {{id: srv, name: Server, kind: recording_server, address: 127.0.0.1,
                 checks: [{{type: snmp, snmp: {{community: v-linux-iso}}}}]}}
              - {{id: pinned, name: UPS pinned, kind: ups, address: 127.0.0.1,
                 checks: [{{type: snmp, profile: ups-rfc1628+env-tripplite, snmp: {{community: v-tripplite-eco}}}}]}}
              - {{id: dc, name: Data center, kind: upstream, address: 127.0.0.1, checks: [{{type: tcp, port: 9}}]}}
        """)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *argv], capture_output=True, text=True, timeout=120)


def test_check_json_names_the_chosen_profiles_and_why(office: Path) -> None:
    proc = run("check", "-c", str(office), "--json", "--device", "ups-ppc", "--device", "ups-delta",
               "--device", "ruang", "--device", "pdu", "--device", "srv", "--device", "pinned")
    assert proc.returncode == 0, proc.stderr
    rows = {r["device"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert rows["ups-ppc"]["check"] == "snmp:auto"
    assert rows["ups-ppc"]["profile"] == "ups-ppc" and rows["ups-ppc"]["status"] == "up"   # standby, 236 V out
    assert rows["ups-ppc"]["profile_why"].startswith("auto: ups-ppc (sysObjectID 1.3.6.1.4.1.935.10.1 is under")
    delta = rows["ups-delta"]
    assert delta["status"] == "up" and set(delta["ignored"]) == {"battery.runtime", "ups.temperature"}
    assert "231.3" in delta["adjusted"]["input.voltage"]
    assert rows["ruang"]["profile"] == "env-hwg" and rows["ruang"]["status"] == "degraded"
    assert rows["pdu"]["profile"] == "pdu-apc" and rows["pdu"]["metrics"]["input.current"] == 16.5
    assert rows["srv"]["profile"] == "host-resources" and rows["srv"]["metrics"]["memory.used"] == 50
    assert rows["pinned"]["profile"] == "ups-rfc1628+env-tripplite"
    assert rows["pinned"]["profile_why"] == "configured: ups-rfc1628+env-tripplite"


def test_check_table_shows_ignored_values(office: Path) -> None:
    proc = run("check", "-c", str(office), "--device", "ups-delta")
    assert proc.returncode == 0, proc.stderr
    assert "[ignored battery.runtime: not available" in proc.stdout


def test_discover_prints_candidates_values_and_the_lines_to_pin_the_choice(office: Path) -> None:
    proc = run("discover", "-c", str(office), "--device", "ups-ppc")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "sysObjectID 1.3.6.1.4.1.935.10.1" in out
    assert "fits  " in out and "ups-ppc" in out and "ups-rfc1628" in out
    assert "chosen: ups-ppc" in out
    assert "output.voltage = 230 V" in out
    assert "- {type: snmp, profile: ups-ppc}" in out


def test_discover_json_and_devices_without_snmp(office: Path) -> None:
    proc = run("discover", "-c", str(office), "--json", "--device", "ups-delta", "--device", "dc")
    assert proc.returncode == 0, proc.stderr
    rows = {r["device"]: r for r in map(json.loads, proc.stdout.splitlines())}
    delta = rows["ups-delta"]
    assert delta["answered"] and delta["profile"] == "ups-rfc1628"
    assert delta["sys_descr"] == "Delta UPS SNMP Agent"
    assert any(c["name"] == "ups-rfc1628" and c["fits"] for c in delta["candidates"])
    assert delta["ignored"]["battery.runtime"].startswith("not available")
    assert delta["snippet"] == "checks:\n  - {type: snmp, profile: ups-rfc1628}\n"
    assert not rows["dc"]["snmp"] and "no SNMP check" in rows["dc"]["reason"]


def test_discover_an_unknown_device_is_a_config_error(office: Path) -> None:
    proc = run("discover", "-c", str(office), "--device", "nope")
    assert proc.returncode == 2 and "no device 'nope'" in proc.stderr


@pytest.mark.parametrize(("yaml_check", "message"), [
    ("{type: snmp}", "no profile chooses itself for a device of kind 'upstream'"),
    ("{type: snmp, profile: ups-rfc1628+env-nope}", "unknown profile 'env-nope'"),
    ("{type: snmp, profile: env-apc+ups-apc}", "'env-apc' is an extension"),
])
def test_profile_config_errors(write_config: Callable[..., Path], yaml_check: str, message: str) -> None:
    cfg = write_config(f"""
        telegram: {{enabled: false}}
        defaults: {{snmp: {{community: public}}}}
        sites:
          - id: kantor
            name: Kantor Uji
            devices:
              - {{id: dc, name: Data center, kind: {'upstream' if 'upstream' in message else 'ups'},
                 address: 127.0.0.1, checks: [{yaml_check}]}}
        """)
    proc = run("config", "validate", str(cfg))
    assert proc.returncode == 2
    assert message in proc.stderr, proc.stderr
