"""Fixtures for the report tests: a small office config (WIB) for hand-computed figures, the showcase
week written into a real SQLite file (rendered once per module where PDFs are slow), and helpers that
build :class:`ReportData` directly for the pure figure tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from monitor.domain import Cause, Status
from monitor.reports.data import (
    AckRecord,
    GapRecord,
    IncidentRecord,
    MaintenanceRecord,
    ObservationRecord,
    OutageRecord,
    ReportData,
    config_maintenance,
    device_infos,
)
from monitor.reports.period import Period, parse_week
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.db import create_db_engine

from . import scenario as sc

OFFICE_YAML = """
telegram: {enabled: false}
sites:
  - id: kantor
    name: "Disdukcapil Kabupaten Uji"
    timezone: Asia/Jakarta
    expected_daily_recordings: 120
    letterhead: {government: "PEMERINTAH KABUPATEN UJI", office: "DINAS KEPENDUDUKAN DAN PENCATATAN SIPIL",
                 city: "Uji", head_name: "Kepala Uji", head_nip: "19800101 200501 1 001"}
    devices:
      - {id: router, name: "Router VPN", kind: router, address: 127.0.0.1, checks: [{type: ping}]}
      - {id: dc, name: "Data Center Pusat", kind: upstream, address: 127.0.0.2, depends_on: [router],
         checks: [{type: ping}]}
      - {id: srv1, name: "Server Perekaman 1", kind: recording_server, address: 127.0.0.3, depends_on: [router],
         installed: 2011-05, funding: apbn, model: "HP ProLiant DL380 G7", checks: [{type: ping}]}
      - {id: srv2, name: "Server Perekaman 2", kind: recording_server, address: 127.0.0.4, depends_on: [router],
         installed: 2020, funding: apbd, checks: [{type: ping}]}
      - {id: ws, name: "Komputer Perekaman", kind: workstation, address: 127.0.0.5, depends_on: [router],
         checks: [{type: ping}]}
      - {id: spd, name: "Arrester Petir", kind: spd, address: 127.0.0.6, funding: apbn, checks: [{type: ping}]}
    services:
      - {id: perekaman, name: "Layanan Perekaman e-KTP", up_when: any, devices: [srv1, srv2]}
      - {id: siak, name: "Koneksi SIAK Terpusat", up_when: all, devices: [router, dc]}
    maintenance:
      - {id: backup, reason: "Backup mingguan", devices: [srv1], cron: "0 22 * * 5", duration: 2h}
"""

ZONE = "Asia/Jakarta"
WEEK = parse_week("2026-W47", ZONE)          # Mon 16 Nov 00:00 WIB .. Mon 23 Nov 00:00 WIB
NOW = sc.wib(2026, 11, 23, 7, 0)             # the weekly run
wib = sc.wib
HOUR = 3600.0
MONITORING_SINCE = sc.wib(2024, 1, 10, 9)     # the monitor's first start on record


@pytest.fixture(scope="session")
def office(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return sc.load(sc.write_yaml(tmp_path_factory.mktemp("office"), OFFICE_YAML))


_ids = iter(range(1, 10**6))


def outage(device: str, start: datetime, end: datetime | None, *, status: Status = Status.DOWN,
           cause: Cause = Cause.UNKNOWN, incident: int | None = None, planned: bool = False) -> OutageRecord:
    return OutageRecord(id=next(_ids), device=device, started_at=start, ended_at=end, status=status, cause=cause,
                        incident_id=incident, planned=planned)


def data(settings: Settings, *, outages: tuple[OutageRecord, ...] = (), history: tuple[OutageRecord, ...] | None = None,
         gaps: tuple[GapRecord, ...] = (), maintenance: tuple[MaintenanceRecord, ...] | None = None,
         incidents: tuple[IncidentRecord, ...] = (), acks: tuple[AckRecord, ...] = (),
         observations: tuple[ObservationRecord, ...] = (), period: Period = WEEK,
         monitoring_since: datetime | None = MONITORING_SINCE, last_heartbeat: datetime | None = None,
         running: bool = True) -> ReportData:
    """ReportData for the office as the loader would produce it (config maintenance expanded); by default the
    monitor has run since long before the period and runs at ``now``."""
    site = settings.site("kantor")
    start = period.previous().start
    maint = config_maintenance(site, start, period.end) if maintenance is None else maintenance
    return ReportData(site=site, start=start, end=period.end, devices=device_infos(site), outages=outages,
                      history=outages if history is None else history, incidents=incidents, acks=acks,
                      maintenance=maint, gaps=gaps, observations=observations, monitoring_since=monitoring_since,
                      last_heartbeat=last_heartbeat, running=running)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'report.db'}")
    dbmod.upgrade(engine)
    db = Database(engine)
    try:
        yield db
    finally:
        db.close()
