"""The distribution as a new office gets it: ``python -m build`` makes the sdist and, from it, the wheel (so the
sdist is complete) with no setuptools deprecation banner; the wheel carries its data (device profiles,
message and report templates, migrations, the demo's recordings and notice, the example configs and systemd
units under ``share/ektp-monitor``) and PEP 639 licence metadata; installed with plain ``pip install`` into a
fresh venv outside the checkout, its ``ektp-monitor`` answers ``--help``, validates the packaged example,
creates a database from the packaged migrations and checks a UPS served by Debian's snmpd on loopback.

pip fetches the dependencies from the package index (through pip's local cache when it has them), as a new
machine would; ``EKTP_WHEELHOUSE=DIR`` makes it install offline from a folder of wheels instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.sandbox.snmpd import Override, SnmpdAgent

from .conftest import ROOT

UPS = "1.3.6.1.2.1.33.1"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    print(f"build: {time.monotonic() - started:.1f} s")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    banner = [line for line in (r.stdout + r.stderr).splitlines() if "deprecat" in line.lower()]
    assert not banner, "\n".join(banner)
    wheel = next(out.glob("ektp_monitor-*.whl"))
    sdist = next(out.glob("ektp_monitor-*.tar.gz"))
    yield wheel, sdist


def test_wheel_and_sdist_carry_the_data_and_the_licence(dist: tuple[Path, Path]) -> None:
    wheel, sdist = dist
    names = set(zipfile.ZipFile(wheel).namelist())
    for wanted in ("checks/profiles/ups-rfc1628.yaml", "checks/profiles/spd-counter.yaml",
                   "alerts/templates/incident.html.j2", "monitor/reports/templates/weekly.html.j2",
                   "monitor/reports/templates/report.css", "monitor/storage/migrations/env.py",
                   "monitor/storage/migrations/script.py.mako",
                   "monitor/storage/migrations/versions/0001_initial_schema.py",
                   "monitor/sandbox/demo/data/librenms/NOTICE.txt",
                   "monitor/sandbox/demo/data/librenms/riello.snmprec", "monitor/py.typed"):
        assert wanted in names, wanted
    data = {n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n}
    assert {"share/ektp-monitor/config/office.example.yaml", "share/ektp-monitor/config/office.example.env",
            "share/ektp-monitor/config/demo.yaml", "share/ektp-monitor/systemd/ektp-monitor.service",
            "share/ektp-monitor/systemd/ektp-monitor-hub.service", "share/doc/ektp-monitor/install.md"} <= data
    assert not any(n.startswith("tests/") for n in names)
    meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = zipfile.ZipFile(wheel).read(meta_name).decode()
    assert "License-Expression: GPL-3.0-or-later" in meta
    assert "License-File: LICENSE" in meta and "License-File: monitor/sandbox/demo/data/librenms/NOTICE.txt" in meta
    assert not any(line.startswith("License: ") for line in meta.splitlines())
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    assert {"LICENSE", "pyproject.toml", "config/office.example.yaml", "packaging/systemd/ektp-monitor.service",
            "docs/install.md", "checks/profiles/ups-rfc1628.yaml"} <= members


def _pip_install(venv: Path, wheel: Path) -> None:
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    wheelhouse = os.environ.get("EKTP_WHEELHOUSE")
    if wheelhouse:
        cmd += ["--no-index", "--find-links", wheelhouse]
    started = time.monotonic()
    r = subprocess.run([*cmd, str(wheel)], capture_output=True, text=True, timeout=900)
    print(f"pip install into a fresh venv: {time.monotonic() - started:.1f} s")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_the_installed_wheel_works_outside_the_checkout(dist: tuple[Path, Path], tmp_path: Path) -> None:
    wheel, _sdist = dist
    venv = tmp_path / "opt" / "ektp-monitor"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    _pip_install(venv, wheel)
    exe = venv / "bin" / "ektp-monitor"
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "EKTP_MONITOR_CONFIG")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(exe), *args], cwd=work, env=env, capture_output=True, text=True, timeout=120)

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import monitor, checks; print(monitor.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0 and Path(where.stdout.strip()).is_relative_to(venv), where
    assert not Path(where.stdout.strip()).is_relative_to(ROOT)

    r = run("--help")
    assert r.returncode == 0 and "ektp-monitor" in r.stdout and "status" in r.stdout, r.stderr
    example = venv / "share" / "ektp-monitor" / "config" / "office.example.yaml"
    r = run("config", "validate", str(example))
    assert r.returncode == 0 and "OK" in r.stdout, r.stdout + r.stderr
    unit = (venv / "share" / "ektp-monitor" / "systemd" / "ektp-monitor.service").read_text()
    assert "ExecStart=/opt/ektp-monitor/bin/ektp-monitor run -c /etc/ektp-monitor/config.yaml" in unit

    overrides = [Override(f"{UPS}.4.1.0", "integer", 3), Override(f"{UPS}.2.1.0", "integer", 2),
                 Override(f"{UPS}.2.3.0", "integer", 45), Override(f"{UPS}.2.4.0", "integer", 97),
                 Override(f"{UPS}.3.3.1.3.1", "integer", 225)]
    with SnmpdAgent(communities=["wheel-ups"], overrides=overrides, work_dir=tmp_path / "snmpd") as agent:
        cfg = work / "office.yaml"
        cfg.write_text(textwrap.dedent(f"""
            database: {{url: "sqlite:///{work}/monitor.db"}}
            defaults: {{timeout: 1s, retries: 1, snmp: {{community: wheel-ups, port: {agent.port}}}}}
            sites:
              - id: uji
                name: "Kantor Uji"
                devices:
                  - {{id: ups-1, name: "UPS Ruang Server", kind: ups, address: 127.0.0.1,
                     checks: [{{type: snmp, profile: ups-rfc1628}}]}}
            """).lstrip())
        r = run("check", "-c", str(cfg), "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        results = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        assert [(x["device"], x["status"]) for x in results] == [("ups-1", "up")], results
        assert results[0]["metrics"]["battery.charge"] == 97 and results[0]["metrics"]["battery.runtime"] == 45 * 60
    r = run("db", "upgrade", "-c", str(cfg))                   # the packaged migrations
    assert r.returncode == 0, r.stdout + r.stderr
    r = run("status", "-c", str(cfg), "--json")                # never ran: critical, but it reads the record
    assert r.returncode == 2 and json.loads(r.stdout)["findings"][0]["name"] == "heartbeat", r.stdout + r.stderr
