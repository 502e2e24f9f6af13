"""Issue 12, "Done when": a report built while the monitor is stopped, and the same report built 10 minutes
later, show identical availability and outage figures and a not-running tail 10 minutes longer; the summary and
the list of not-monitored time agree. Run for real: a SQLite record written as the engine writes it, the
``ektp-monitor report`` command (JSON for the figures, HTML for the words), a clock that moves on.

The story is the demo's and CONTEXT.md's: lightning at 07.00 WIB takes the recording server down; the monitor's
host is killed by the same storm, its last heartbeat at 07.26; the head of office asks for the report at 07.57,
and again at 08.07.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import build_parser
from monitor.commands import report as report_cmd
from monitor.reports.i18n import format_duration
from tests.fakes import FakeClock

from . import scenario as sc
from .test_job import open_db

STORM = sc.wib(2026, 11, 25, 7, 0)               # Wednesday of W48
LAST_BEAT = sc.wib(2026, 11, 25, 7, 26)
ASKED = sc.wib(2026, 11, 25, 7, 57)
LATER = ASKED + timedelta(minutes=10)
GAP = (sc.wib(2026, 11, 24, 22, 0), sc.wib(2026, 11, 24, 22, 11))   # a restart on Tuesday night: 11 minutes


def office(tmp: Path) -> Path:
    cfg = sc.write_yaml(tmp, sc.SHOWCASE_YAML)
    settings = sc.load(cfg)
    db = open_db(settings)

    def fill(s: Any) -> None:
        w = sc.EngineWriter(s, settings, LAST_BEAT)
        w.monitor_started(sc.wib(2026, 11, 24, 9, 0))        # installed on Tuesday morning: W48 began before
        w.gap(*GAP)
        inc = w.incident("mura", STORM, None, "lightning", title="Server Perekaman 1: down",
                         evidence=[sc.ev(STORM - timedelta(minutes=1), "spd-1", "spd_tripped", "SPD contact open",
                                         "trap")])
        w.outage("mura", "rec-srv-1", STORM, None, cause="lightning", incident=inc)
        w.outage("mura", "ups-1", STORM, STORM + timedelta(minutes=20), status="degraded", cause="power",
                 incident=inc)
        w.state("mura", "rec-srv-1", "down", STORM)
        w.heartbeat(LAST_BEAT)              # the storm killed the monitor's host: nothing after 07.26

    db.call(fill)
    db.close()
    return cfg


def build(cfg: Path, out: Path, now: datetime, *more: str) -> dict[str, Path]:
    args = build_parser().parse_args(["report", "-c", str(cfg), "--from", "2026-11-23", "--to", "2026-11-29",
                                      "--format", "json,html", "--out", str(out), *more])
    assert report_cmd.main(args, clock=FakeClock(now)) == 0
    return {p.suffix: p for p in out.glob("mura/*")}


def moving(parts: dict[str, Any]) -> dict[str, Any]:
    """A JSON figure without the two parts that move with ``now``."""
    return {**parts, "seconds": {k: v for k, v in parts["seconds"].items() if k not in ("not_running", "future")}}


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("lang", ["id", "en"])
def test_a_report_built_while_stopped_and_ten_minutes_later(tmp_path: Path, lang: str) -> None:
    cfg = office(tmp_path)
    first = build(cfg, tmp_path / "first", ASKED, "--language", lang)
    second = build(cfg, tmp_path / "second", LATER, "--language", lang)
    a, b = (json.loads(f[".json"].read_text(encoding="utf-8")) for f in (first, second))

    # the monitor is not running: the record ends at its last heartbeat
    assert a["monitor"] == b["monitor"] == {"running": False, "known_until": "2026-11-25T00:26:00Z",
                                            "monitoring_since": "2026-11-24T02:00:00Z"}
    # identical availability and outage figures
    assert a["figures"]["availability"] == b["figures"]["availability"] is not None
    assert a["outages"] == b["outages"]
    assert moving(a["figures"]) == moving(b["figures"])
    assert [moving(x) for x in a["services"]] == [moving(x) for x in b["services"]]
    assert [moving(x) for x in a["devices"]] == [moving(x) for x in b["devices"]]
    # only the tail grew, by the ten minutes between the two builds; the future shrank by as much
    assert b["figures"]["seconds"]["not_running"] - a["figures"]["seconds"]["not_running"] == 600
    assert a["figures"]["seconds"]["future"] - b["figures"]["seconds"]["future"] == 600
    for x, y in zip(a["devices"], b["devices"], strict=True):
        assert y["seconds"]["not_running"] - x["seconds"]["not_running"] == 600
    # the parts are the period; the tail is the monitor's silence, never up; the open outage stops at 07.26
    for built in (a, b):
        assert sum(built["figures"]["seconds"].values()) == pytest.approx(7 * 86400)
    tail = (ASKED - LAST_BEAT).total_seconds()
    assert a["figures"]["seconds"]["not_running"] == tail + (GAP[1] - GAP[0]).total_seconds()
    server = next(x for x in a["devices"] if x["id"] == "rec-srv-1")
    assert server["seconds"]["down"] == (LAST_BEAT - STORM).total_seconds()
    (open_outage,) = [o for o in a["outages"] if o["open_at_end"]]
    assert open_outage["downtime_s"] == (LAST_BEAT - STORM).total_seconds()

    # the summary and the list of not-monitored time agree, in words
    for built, now in ((a, ASKED), (b, LATER)):
        html = plain((first if now == ASKED else second)[".html"].read_text(encoding="utf-8"))
        not_running = built["figures"]["seconds"]["not_running"]
        tail = (now - LAST_BEAT).total_seconds()
        listed = [(GAP[1] - GAP[0]).total_seconds(), tail]
        assert sum(listed) == not_running
        if lang == "id":
            assert f"Monitor tidak berjalan selama {format_duration(not_running, 'id')}, termasuk " \
                   f"{format_duration(tail, 'id')} sejak tanda hidup terakhirnya (25 Nov 2026 07.26 WIB)" in html
            assert "Monitor tidak berjalan: 25 Nov 2026 07.26 WIB – " in html
            assert f"({format_duration(tail, 'id')}, monitor tidak berjalan sejak tanda hidup terakhirnya)" in html
            assert "Monitor tidak berjalan: 24 Nov 2026 22.00 WIB – 24 Nov 2026 22.11 WIB (11 menit" in html
            assert "Belum dipantau: 1 hari 9 jam (sebelum pemantauan dimulai, 24 Nov 2026 09.00 WIB)" in html
            assert "1 hari 9 jam belum dipantau (pemantauan dimulai 24 Nov 2026 09.00 WIB)" in html
            assert "Saat monitor terakhir berjalan (25 Nov 2026 07.26 WIB) Server Perekaman 1 masih mati" in html
        else:
            assert f"The monitor was not running for {format_duration(not_running, 'en')}, including " \
                   f"{format_duration(tail, 'en')} since its last sign of life (25 Nov 2026 07:26 WIB)" in html
            assert "When the monitor last ran (25 Nov 2026 07:26 WIB) Server Perekaman 1 was still down" in html


def test_while_the_monitor_runs_the_same_record_counts_up_to_now(tmp_path: Path) -> None:
    """The monitor's own weekly job and ``/laporan`` run inside it: no tail; an open outage is down until now."""
    from monitor.reports.period import day_range
    from monitor.reports.runner import load_figures

    cfg = office(tmp_path)
    settings = sc.load(cfg)
    db = open_db(settings)
    try:
        period = day_range(STORM.date(), STORM.date() + timedelta(days=1), "Asia/Jakarta")
        fig = db.call(lambda s: load_figures(s, settings, "mura", period, ASKED, running=True))
    finally:
        db.close()
    assert fig.running and fig.record_end == ASKED and fig.current.tail_s == 0
    server = fig.current.device("rec-srv-1")
    assert server is not None and server.availability.down_s == (ASKED - STORM).total_seconds()
