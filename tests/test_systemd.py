"""Running under systemd, without a running systemd (CI is a container):

* the unit files pass ``systemd-analyze verify`` and ``systemd-analyze security --offline`` rates them at
  most 2.0 ("OK"); the ExecStart path is pointed at this venv's ``ektp-monitor`` (verify checks that the
  program exists), nothing else is changed;
* the daemon speaks sd_notify to a socket the test binds, as systemd would: READY=1 with a STATUS= line once
  it runs, WATCHDOG=1 at half WATCHDOG_USEC, READY=1 again after a SIGHUP reload, STOPPING=1 on SIGTERM;
* with ``$JOURNAL_STREAM`` naming its stderr, log lines carry the syslog priority and no timestamp of their
  own (the journal stamps them); without it, the usual UTC timestamp.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import ROOT

EXE = str(Path(sys.executable).with_name("ektp-monitor"))
UNITS = ROOT / "packaging" / "systemd"
ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze missing: scripts/setup installs systemd")


def _unit_here(name: str, tmp_path: Path) -> Path:
    text = (UNITS / name).read_text(encoding="utf-8")
    assert "/opt/ektp-monitor/bin/ektp-monitor" in text
    path = tmp_path / name
    path.write_text(text.replace("/opt/ektp-monitor/bin/ektp-monitor", EXE), encoding="utf-8")
    return path


@needs_systemd
@pytest.mark.parametrize("name", ["ektp-monitor.service", "ektp-monitor-hub.service"])
def test_units_verify_and_rate_ok(name: str, tmp_path: Path) -> None:
    unit = _unit_here(name, tmp_path)
    verify = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60)  # type: ignore[list-item]
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    security = subprocess.run([ANALYZE, "security", "--offline=yes", "--threshold=20", str(unit)],  # type: ignore[list-item]
                              capture_output=True, text=True, timeout=60)
    exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert exposure, security.stdout + security.stderr
    print(f"{name}: exposure {exposure.group(1)}")
    assert security.returncode == 0 and float(exposure.group(1)) <= 2.0, security.stdout


def test_units_say_what_the_issue_asks() -> None:
    office = (UNITS / "ektp-monitor.service").read_text(encoding="utf-8")
    for line in ("Type=notify", "WatchdogSec=", "User=ektp-monitor", "StateDirectory=ektp-monitor",
                 "ConfigurationDirectory=ektp-monitor", "UMask=0077", "Restart=on-failure", "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID", "WantedBy=multi-user.target"):
        assert line in office, line
    hub = (UNITS / "ektp-monitor-hub.service").read_text(encoding="utf-8")
    assert "hub serve -c /etc/ektp-monitor/hub.yaml" in hub and "UMask=0077" in hub
    example = (ROOT / "config" / "office.example.yaml").read_text(encoding="utf-8")
    assert 'url: "sqlite:////var/lib/ektp-monitor/ektp-monitor.db"' in example
    assert "out_dir: /var/lib/ektp-monitor/reports" in example


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "office.yaml"
    cfg.write_text(textwrap.dedent(f"""
        database: {{url: "sqlite:///{tmp_path}/monitor.db"}}
        defaults: {{interval: 1s, timeout: 300ms, retries: 0}}
        monitor: {{heartbeat_interval: 1s, jitter: 100ms}}
        reports: {{weekly: {{enabled: false}}}}
        sites:
          - id: uji
            name: "Kantor Uji"
            devices:
              - {{id: mon, name: "Komputer Monitor", kind: monitor_host, checks: [{{type: host, paths: ["/"]}}]}}
        """).lstrip())
    subprocess.run([EXE, "db", "upgrade", "-c", str(cfg)], check=True, capture_output=True)
    return cfg


def _receive(sock: socket.socket, until: str, within: float) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in got[-1]:
            return got
    raise AssertionError(f"no {until!r} within {within} s; got {got}")


def test_sd_notify_ready_watchdog_reload_stopping(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        env = dict(os.environ, NOTIFY_SOCKET=str(path), WATCHDOG_USEC="1000000")   # WatchdogSec=1s
        env.pop("WATCHDOG_PID", None)
        proc = subprocess.Popen([EXE, "run", "-c", str(cfg)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            ready = _receive(sock, "READY=1", 60)[-1].splitlines()
            assert f"MAINPID={proc.pid}" in ready
            assert any(line.startswith("STATUS=watching 1 devices") for line in ready), ready
            started = time.monotonic()
            _receive(sock, "WATCHDOG=1", 3)
            _receive(sock, "WATCHDOG=1", 3)
            assert time.monotonic() - started < 3      # every half second, not once a minute
            proc.send_signal(signal.SIGHUP)
            _receive(sock, "READY=1", 20)                # reloaded
            proc.send_signal(signal.SIGTERM)
            _receive(sock, "STOPPING=1", 20)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_no_notify_socket_no_notifications_and_the_daemon_runs(tmp_path: Path) -> None:
    from monitor.daemon.notify import notify, watchdog_interval

    assert notify("READY=1", {}) is False
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None   # meant for another
    assert watchdog_interval({}) is None


@pytest.mark.parametrize("journal", [True, False])
def test_logs_under_the_journal_have_priority_and_no_timestamp(tmp_path: Path, journal: bool) -> None:
    cfg = _config(tmp_path)
    err = (tmp_path / "stderr.log").open("w")
    st = os.fstat(err.fileno())
    env = dict(os.environ)
    env.pop("JOURNAL_STREAM", None)
    if journal:
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    proc = subprocess.Popen([EXE, "run", "-c", str(cfg)], env=env, stdout=err, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while "started" not in (tmp_path / "stderr.log").read_text():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        err.close()
    lines = [x for x in (tmp_path / "stderr.log").read_text().splitlines() if x.strip()]
    started = next(x for x in lines if "ektp-monitor" in x and "started" in x)
    if journal:
        assert started.startswith("<6>INFO monitor.daemon.core: ektp-monitor "), started
        assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", started)
        assert all(re.match(r"<[0-7]>", x) for x in lines), lines
    else:
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO monitor.daemon.core: ektp-monitor ", started), started
