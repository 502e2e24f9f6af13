"""``/metrics`` of a running daemon (``metrics.listen``), read by ``promtool check metrics`` (Debian's
prometheus package) and checked against the real agent behind it: a UPS (the Riello recording, served by
snmpsim on loopback) in NUT names, a surge protector's strike counter, a server whose service is down (an
open outage and incident), the outbox, the daemon's own health."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.sandbox import free_tcp_port as free_port
from monitor.sandbox.snmpsim import SnmpsimAgent, make_recording

from .conftest import RECORDINGS, ROOT, stop_daemon

EXE = str(Path(sys.executable).with_name("ektp-monitor"))
STRIKES = "1.3.6.1.4.1.99999.7.1.0"
PROMTOOL = shutil.which("promtool")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[SnmpsimAgent]:
    data = tmp_path / "snmp"
    make_recording(data, "ups-m", base=RECORDINGS / "snmprec" / "riello.snmprec")
    make_recording(data, "spd-m", values={"1.3.6.1.2.1.1.1.0": ("4", "strike counter (test)"),
                                          "1.3.6.1.2.1.1.3.0": ("67", 500000), STRIKES: ("65", 7)})
    with SnmpsimAgent(data) as sim:
        yield sim


def _scrape(url: str, within: float = 30.0) -> str:
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:  # loopback only
                assert r.headers["Content-Type"].startswith("text/plain")
                return str(r.read().decode("utf-8"))
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} {labels} in the exposition")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: scripts/setup installs Debian's prometheus")
def test_metrics_of_a_running_daemon_pass_promtool_and_match_the_devices(tmp_path: Path, agent: SnmpsimAgent) -> None:
    port = free_port()
    cfg = tmp_path / "office.yaml"
    cfg.write_text(textwrap.dedent(f"""
        database: {{url: "sqlite:///{tmp_path}/monitor.db"}}
        defaults: {{interval: 1s, timeout: 500ms, retries: 0, confirm_down: 2, snmp: {{port: {agent.port}}}}}
        monitor: {{heartbeat_interval: 1s, jitter: 100ms}}
        metrics: {{listen: "127.0.0.1:{port}"}}
        reports: {{weekly: {{enabled: false}}}}
        sites:
          - id: uji
            name: "Kantor Uji"
            devices:
              - {{id: ups-1, name: "UPS", kind: ups, address: 127.0.0.1,
                 checks: [{{type: snmp, profile: ups-rfc1628, snmp: {{community: ups-m}}}}]}}
              - {{id: spd-1, name: "Arrester", kind: spd, address: 127.0.0.1,
                 checks: [{{type: snmp, profile: spd-counter, snmp: {{community: spd-m}},
                           params: {{oid: {STRIKES}}}}}]}}
              - {{id: srv, name: "Server", kind: recording_server, address: 127.0.0.1,
                 checks: [{{type: tcp, port: {free_port()}}}]}}
        """).lstrip())
    subprocess.run([EXE, "db", "upgrade", "-c", str(cfg)], check=True, capture_output=True)
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen([EXE, "run", "-c", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 40
        while True:   # until the UPS answered and the server's outage is open
            text = _scrape(url)
            if 'ektp_ups_battery_runtime_seconds{' in text and "ektp_outages_open{" in text:
                break
            assert time.monotonic() < deadline, text[-3000:]
            time.sleep(0.5)
        (tmp_path / "metrics.txt").write_text(text)
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,  # type: ignore[list-item]
                              timeout=60)
        assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), lint.stdout + lint.stderr
        # the Riello recording: 135 minutes left, 122.5 V battery, 242 V in, 231 V out, 8 % load, on line
        assert _value(text, "ektp_ups_battery_runtime_seconds", device="ups-1") == 135 * 60
        assert _value(text, "ektp_ups_battery_voltage_volts", device="ups-1") == pytest.approx(122.5)
        assert _value(text, "ektp_ups_input_voltage_volts", device="ups-1") == 242
        assert _value(text, "ektp_ups_output_voltage_volts", device="ups-1") == 231
        assert _value(text, "ektp_ups_load_ratio", device="ups-1") == pytest.approx(0.08)
        assert _value(text, "ektp_ups_status", device="ups-1", flag="OL") == 1
        assert _value(text, "ektp_device_status", device="ups-1", status="up") == 1
        assert _value(text, "ektp_spd_strikes_total", device="spd-1") == 7
        assert _value(text, "ektp_device_status", device="srv", status="down") == 1
        assert _value(text, "ektp_device_status", device="srv", status="up") == 0
        assert _value(text, "ektp_outages_open", site="uji", status="down") == 1
        assert _value(text, "ektp_incidents_open", site="uji", acknowledged="false") == 1
        assert _value(text, "ektp_outbox_messages", status="pending") == 0
        assert _value(text, "ektp_outbox_oldest_pending_age_seconds") == 0
        assert _value(text, "ektp_monitor_devices") == 3 and _value(text, "ektp_monitor_devices_late") == 0
        assert _value(text, "ektp_monitor_database_writable") == 1
        assert time.time() - _value(text, "ektp_monitor_heartbeat_timestamp_seconds") < 10
        for device in ("ups-1", "spd-1", "srv"):
            assert time.time() - _value(text, "ektp_check_last_run_timestamp_seconds", device=device) < 10
            assert 0 <= _value(text, "ektp_check_duration_seconds", device=device) < 2
        assert re.search(r'^process_resident_memory_bytes \d', text, re.M)
        # every ektp_ metric is documented and named by the conventions
        names = set(re.findall(r"^# TYPE (ektp_\w+) (\w+)", text, re.M))
        assert len(names) >= 20
        for name, _kind in names:
            assert f"# HELP {name} " in text
            assert not re.search(r"_(percent|minutes|milliseconds|hours)$", name), name
        # the example Grafana dashboard asks only for metrics that exist (the hub's appear once a hub is set)
        dashboard = (ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8")
        source = (ROOT / "monitor" / "daemon" / "metrics.py").read_text(encoding="utf-8")
        for name in set(re.findall(r"\b(ektp_\w+)", dashboard)):
            assert f"{name} " in text or f"{name}{{" in text or (name.startswith("ektp_hub_") and name in source), name
        # anything but /metrics is a plain 404
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)   # loopback
        assert err.value.code == 404
    finally:
        code = stop_daemon(proc)
        log.close()
    assert code == 0
    assert "Traceback" not in (tmp_path / "run.log").read_text()
