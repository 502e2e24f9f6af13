"""``ektp-monitor outages``: JSON lines and the human table, filters, site-local dates."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.app import load_config
from monitor.cli import main
from monitor.domain import DeviceRef, Status
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.db import create_db_engine
from tests.fakes import T0, FakeClock

from .conftest import Office

CONFIG = """
telegram: {{enabled: false}}
database: {{url: "sqlite:///{db}"}}
defaults: {{interval: 60s, confirm_down: 2, confirm_up: 2}}
sites:
  - id: wib
    name: "Kantor WIB"
    timezone: Asia/Jakarta
    devices:
      - {{id: srv, name: "Server Perekaman", kind: recording_server, address: 127.0.0.1,
         checks: [{{type: tcp, port: 9}}]}}
  - id: wit
    name: "Kantor WIT"
    timezone: Asia/Jayapura
    devices:
      - {{id: srv, name: "Server Jayapura", kind: recording_server, address: 127.0.0.1,
         checks: [{{type: tcp, port: 9}}]}}
"""
WIB, WIT = DeviceRef("wib", "srv"), DeviceRef("wit", "srv")


@pytest.fixture
async def recorded(tmp_path: Path) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(textwrap.dedent(CONFIG.format(db=tmp_path / "m.db")))
    settings = load_config(cfg, environ={})
    engine = create_db_engine(settings.database_url)
    dbmod.upgrade(engine)
    db = Database(engine)
    office = await Office(settings, db, FakeClock(T0 - timedelta(hours=10))).start()
    # WIB: 2026-11-22 17:30 UTC = 23-11 00:30 WIB, 1h30m, closed
    await office.series(WIB, [Status.DOWN, Status.DOWN], -450, check="tcp:9")
    await office.series(WIB, [Status.UP, Status.UP], -360, check="tcp:9")
    # WIT: 2026-11-23 01:00 UTC = 10:00 WIT, still open
    await office.series(WIT, [Status.DOWN, Status.DOWN], 0, check="tcp:9")
    await office.stop()
    db.close()
    return cfg


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["outages", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.splitlines()]


def test_json_lines_have_the_contract_fields(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-c", str(recorded), "--json")
    assert code == 0
    wib, wit = lines(out)
    assert {"site", "device", "start", "end", "duration_s", "status", "cause", "evidence"} <= set(wib)
    assert (wib["site"], wib["device"], wib["device_name"]) == ("wib", "srv", "Server Perekaman")
    assert (wib["start"], wib["end"], wib["duration_s"]) == ("2026-11-22T17:30:00Z", "2026-11-22T19:00:00Z", 5400.0)
    assert (wib["status"], wib["open"], wib["planned"], wib["gap_s"]) == ("down", False, False, 0.0)
    assert wib["start_local"] == "23-11-2026 00:30:00 WIB" and isinstance(wib["incident"], int)
    assert wit["end"] is None and wit["open"] and wit["start_local"] == "23-11-2026 10:00:00 WIT"
    assert wit["duration_s"] > 0


def test_filters(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "-c", str(recorded), "--json", "--open")
    assert [r["site"] for r in lines(out)] == ["wit"]
    _, out, _ = run(capsys, "-c", str(recorded), "--json", "--site", "wib")
    assert [r["site"] for r in lines(out)] == ["wib"]
    # --since is midnight in each site's own zone: 00:30 WIB on the 23rd counts, though it is the 22nd in UTC
    _, out, _ = run(capsys, "-c", str(recorded), "--json", "--since", "2026-11-23")
    assert [r["site"] for r in lines(out)] == ["wib", "wit"]
    _, out, _ = run(capsys, "-c", str(recorded), "--json", "--since", "2026-11-24")
    assert out == ""
    code, _, err = run(capsys, "-c", str(recorded), "--since", "23/11/2026")
    assert code == 2 and "--since" in err
    code, _, err = run(capsys, "-c", str(recorded), "--site", "nowhere")
    assert code == 2 and "no site 'nowhere'" in err and "wib, wit" in err


def test_human_table_in_site_time(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-c", str(recorded))
    assert code == 0
    header, wib, wit = out.splitlines()
    assert header.split()[:4] == ["ID", "SITE", "DEVICE", "START"]
    assert "23-11-2026 00:30:00 WIB" in wib and "23-11-2026 02:00:00 WIB" in wib and "1h30m" in wib
    assert "23-11-2026 10:00:00 WIT" in wit and "(open)" in wit
    _, out, _ = run(capsys, "-c", str(recorded), "--open", "--site", "wib")
    assert out.strip() == "no outages open"
