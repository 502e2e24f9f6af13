"""Loading the report inputs from a real database (SQLite, and PostgreSQL when available), with rows written
exactly as the engine writes them; then the figures from what was loaded, against hand-computed values."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from monitor.domain import Cause, Status
from monitor.reports import figures as F
from monitor.reports.data import load_report_data
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.inventory import sync_inventory

from . import scenario as sc
from .conftest import HOUR, NOW, OFFICE_YAML, WEEK, wib


@pytest.fixture
def db(engine: Engine) -> Iterator[Database]:
    dbmod.upgrade(engine)
    database = Database(engine)
    yield database
    database.close()


def test_loader_reads_what_the_engine_wrote(db: Database, office: Settings) -> None:
    def fill(s: object) -> None:
        w = sc.EngineWriter(s, office, NOW)  # type: ignore[arg-type]
        w.monitor_started(wib(2026, 1, 5, 9))
        inc = w.incident("kantor", wib(2026, 11, 15, 22), wib(2026, 11, 16, 2), "power", title="Listrik padam",
                         evidence=[sc.ev(wib(2026, 11, 15, 21, 58), "ups", "on_battery", "UPS on battery", "trap")])
        w.outage("kantor", "srv1", wib(2026, 11, 15, 22), wib(2026, 11, 16, 2), cause="power", incident=inc,
                 evidence=[sc.ev(wib(2026, 11, 15, 21, 58), "srv1", "on_battery", "UPS on battery", "trap",
                                 voltage=0)])
        w.ack(inc, wib(2026, 11, 15, 22, 9), "Budi", "genset dinyalakan")
        w.outage("kantor", "srv2", wib(2026, 11, 22, 20), None, cause="hardware")        # open
        w.outage("kantor", "ws", wib(2026, 11, 1, 8), wib(2026, 11, 1, 9), cause="service")  # old: history only
        w.outage("kantor", "ws", wib(2023, 1, 1, 8), wib(2023, 1, 1, 9))                    # > 36 months ago
        w.outage("kantor", "dc", wib(2026, 11, 19, 9), wib(2026, 11, 19, 10), cause="a-new-cause",
                 status="weird")                                                          # a newer version's values
        w.gap(wib(2026, 11, 17, 11), wib(2026, 11, 17, 12), "host_rebooted")
        w.gap(wib(2026, 10, 1, 11), wib(2026, 10, 1, 12))                                    # outside the window
        w.maintenance("kantor", wib(2026, 11, 18, 8), wib(2026, 11, 18, 10), "ganti baterai UPS", device="ws")
        w.maintenance("kantor", wib(2026, 11, 18, 8), wib(2026, 11, 18, 12), "diam", kind="mute")
        w.maintenance("kantor", wib(2026, 11, 19, 8), wib(2026, 11, 19, 12), "batal", cancelled_at=wib(2026, 11, 19, 9))
        w.maintenance("kantor", wib(2026, 11, 20, 8), wib(2026, 11, 20, 12), "batal sebelum mulai",
                      cancelled_at=wib(2026, 11, 19, 9))
        w.evidence("kantor", "spd", wib(2026, 11, 17, 14), "strike", "strike +1", increment=1)
        w.evidence("kantor", None, wib(2026, 11, 17, 14), "host_boot", "monitor host booted", source="selfwatch")
        w.state("kantor", "ws", "unknown", wib(2026, 11, 21, 8), "auth_failed")

    db.call(fill)
    d = db.call(lambda s: load_report_data(s, office, "kantor", WEEK.previous().start, WEEK.end))
    assert [x.id for x in d.devices] == ["router", "dc", "srv1", "srv2", "ws", "spd"]
    assert all(x.db_id is not None for x in d.devices)
    assert {(o.device, o.ended_at is None) for o in d.outages} == {("srv1", False), ("srv2", True), ("dc", False)}
    weird = next(o for o in d.outages if o.device == "dc")
    assert weird.status is Status.UNKNOWN and weird.cause is Cause.UNKNOWN
    srv1 = next(o for o in d.outages if o.device == "srv1")
    assert srv1.evidence[0].kind == "on_battery" and srv1.evidence[0].time == wib(2026, 11, 15, 21, 58)
    assert srv1.evidence[0].values == {"voltage": 0}
    assert {o.device for o in d.history} == {"srv1", "srv2", "ws", "dc"}
    assert all(o.started_at >= wib(2023, 11, 23) for o in d.history)
    assert [i.title for i in d.incidents] == ["Listrik padam"]
    assert [(a.user_name, a.note) for a in d.acks] == [("Budi", "genset dinyalakan")]
    assert [(g.start, g.reason) for g in d.gaps] == [(wib(2026, 11, 17, 11), "host_rebooted")]
    adhoc = sorted((m.reason, m.start, m.end, m.devices) for m in d.maintenance if m.source == "adhoc")
    assert adhoc == [("batal", wib(2026, 11, 19, 8), wib(2026, 11, 19, 9), frozenset()),
                     ("ganti baterai UPS", wib(2026, 11, 18, 8), wib(2026, 11, 18, 10), frozenset({"ws"}))]
    backups = [(m.start, m.end) for m in d.maintenance if m.source == "config"]
    assert backups == [(wib(2026, 11, 13, 22), wib(2026, 11, 14)), (wib(2026, 11, 20, 22), wib(2026, 11, 21))]
    assert {(o.device, o.kind) for o in d.observations} == {("spd", "strike"), (None, "host_boot")}
    assert [(st.device, st.status) for st in d.states] == [("ws", Status.UNKNOWN)]
    assert d.monitoring_since == wib(2026, 1, 5, 9)

    fig = F.compute(d, WEEK, NOW)
    srv1_fig = fig.current.device("srv1")
    assert srv1_fig is not None
    assert srv1_fig.availability.down_s == 2 * HOUR                  # clipped at the week start
    assert srv1_fig.availability.unmonitored_s == HOUR               # the host reboot
    assert srv1_fig.availability.maintenance_s == 3 * HOUR           # Friday backup + the site-wide hour
    ws = fig.current.device("ws")
    # its own ad-hoc window (2 h) and the site-wide one until it was cancelled (1 h); the mute is not maintenance
    assert ws is not None and ws.availability.maintenance_s == 3 * HOUR
    assert fig.current.site.maintenance_s == HOUR                    # the site-wide window, cancelled at 09:00
    assert fig.outages[0].ack is not None and fig.outages[0].ack.by == "Budi"
    assert any(a.kind == "unknown_state" for a in fig.local_actions)


def test_a_device_removed_from_the_config_keeps_its_history(db: Database, office: Settings,
                                                             tmp_path: Path) -> None:
    def fill(s: object) -> None:
        w = sc.EngineWriter(s, office, NOW)  # type: ignore[arg-type]
        w.monitor_started(wib(2026, 1, 5, 9))
        w.outage("kantor", "ws", wib(2026, 11, 17, 8), wib(2026, 11, 17, 9), cause="power")

    db.call(fill)
    smaller = sc.load(sc.write_yaml(tmp_path, OFFICE_YAML.replace(
        '      - {id: ws, name: "Komputer Perekaman", kind: workstation, address: 127.0.0.5, depends_on: [router],\n'
        '         checks: [{type: ping}]}\n', "")))
    db.call(lambda s: sync_inventory(s, smaller, NOW + timedelta(hours=1)))
    d = db.call(lambda s: load_report_data(s, smaller, "kantor", WEEK.previous().start, WEEK.end))
    removed = d.device("ws")
    assert not removed.in_config and removed.name == "Komputer Perekaman"
    fig = F.compute(d, WEEK, NOW)
    assert fig.outages[0].device.id == "ws"
    ws = fig.current.device("ws")
    assert ws is not None and ws.availability.down_s == HOUR
    # a removed device is not part of the site's figure when the site has no services of its own
    assert fig.current.site.down_s == 0


def test_another_sites_rows_are_not_read(db: Database, tmp_path: Path) -> None:
    two = sc.load(sc.write_yaml(tmp_path, OFFICE_YAML + """
  - id: lain
    name: "Kantor Lain"
    timezone: Asia/Makassar
    devices:
      - {id: srv1, name: "Server Lain", kind: recording_server, address: 127.0.0.9, checks: [{type: ping}]}
"""))

    def fill(s: object) -> None:
        w = sc.EngineWriter(s, two, NOW)  # type: ignore[arg-type]
        w.outage("lain", "srv1", wib(2026, 11, 17, 8), wib(2026, 11, 17, 9), cause="power")
        w.maintenance("lain", wib(2026, 11, 17, 8), wib(2026, 11, 17, 9), "lain", device="srv1")
        w.evidence("lain", "srv1", wib(2026, 11, 17, 8), "strike", "other site")

    db.call(fill)
    d = db.call(lambda s: load_report_data(s, two, "kantor", WEEK.previous().start, WEEK.end))
    assert d.outages == () and d.observations == ()
    assert [m for m in d.maintenance if m.source == "adhoc"] == []
