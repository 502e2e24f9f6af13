"""Report test scenarios: configs, and rows written exactly the way the detection engine writes them.

* :class:`EngineWriter` inserts outages, incidents, acknowledgements, evidence, monitor gaps,
  maintenance rows and device states (the tables and JSON shapes of monitor/storage/models.py and
  monitor/events.py).
* :func:`write_showcase_week` is a realistic week at an office like Murung Raya (2026-W47, WIB): a
  lightning strike that kills the APBN recording server (still down at the end of the week), a central
  link outage, a monitor reboot, the weekly backup window, a UPS that wants a new battery, and a
  failure history that makes this "the third failure in 12 months of a 15-year-old server".
* :func:`write_synthetic_week` is the load case: 50 devices and 500 outages in one week.
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from monitor.domain import DeviceRef
from monitor.settings import Settings, load_settings
from monitor.storage import Database
from monitor.storage.inventory import sync_inventory
from monitor.storage.models import (
    AcknowledgementRow,
    DeviceRow,
    DeviceStateRow,
    EventRow,
    EvidenceRow,
    HeartbeatRow,
    IncidentRow,
    MaintenanceRow,
    MonitorGapRow,
    OutageRow,
)

WIB = 7  # hours


def wib(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A WIB wall-clock time as aware UTC."""
    return datetime(y, mo, d, h, mi, tzinfo=UTC) - timedelta(hours=WIB)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ev(time: datetime, device: str, kind: str, text: str, source: str = "poll", **values: Any) -> dict[str, Any]:
    """An evidence item as the engine stores it in outages.evidence / incidents.evidence."""
    return {"time": iso(time), "device": device, "kind": kind, "text": text, "source": source, "values": values}


def load(path: Path) -> Settings:
    return load_settings(path, environ={})


def write_yaml(tmp: Path, body: str, name: str = "config.yaml") -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


_REASONS = {"unreachable": "router is down: ping: no reply to 3 pings", "degraded": "snmp:ups-rfc1628: on battery"}
"""Reasons as the checks and the engine write them (English machine text)."""


class EngineWriter:
    """Writes report input rows like the engine does, inside one session."""

    def __init__(self, session: Session, settings: Settings, now: datetime) -> None:
        self.s = session
        self.settings = settings
        self.ids: dict[DeviceRef, int] = sync_inventory(session, settings, now)
        self.now = now

    def dev(self, site: str, device: str) -> int:
        return self.ids[DeviceRef(site, device)]

    def monitor_started(self, time: datetime) -> None:
        """The monitor's first start (the daemon adds the configured devices when it starts); it has been
        running since, its last heartbeat at the writer's ``now``."""
        self.s.add(EventRow(time=time, kind="monitor_started", payload={"version": "test", "pid": 1}))
        self.s.execute(update(DeviceRow).where(DeviceRow.added_at > time).values(added_at=time))
        self.heartbeat(self.now)

    def heartbeat(self, time: datetime) -> None:
        """The monitor's last sign of life (a running monitor's is a few seconds old)."""
        row = self.s.get(HeartbeatRow, "monitor")
        if row is None:
            self.s.add(HeartbeatRow(name="monitor", beat_at=time, started_at=time, boot_time=None, pid=1,
                                    version="test"))
        else:
            row.beat_at = time

    def incident(self, site: str, start: datetime, end: datetime | None, cause: str, *, status: str = "down",
                 title: str = "", planned: bool = False, evidence: Iterable[dict[str, Any]] = (),
                 ack_at: datetime | None = None, ack_by: str | None = None) -> int:
        row = IncidentRow(site_id=site, started_at=start, ended_at=end, cause=cause, worst_status=status,
                          planned=planned, title=title, evidence=list(evidence), acknowledged_at=ack_at,
                          acknowledged_by=ack_by, escalation={}, updated_at=self.now)
        self.s.add(row)
        self.s.flush()
        return row.id

    def outage(self, site: str, device: str, start: datetime, end: datetime | None, *, status: str = "down",
               cause: str = "unknown", incident: int | None = None, planned: bool = False,
               reason: str | None = None, evidence: Iterable[dict[str, Any]] = (),
               gaps: Iterable[dict[str, Any]] = ()) -> int:
        row = OutageRow(device_id=self.dev(site, device), incident_id=incident, started_at=start,
                        confirmed_at=start + timedelta(minutes=2), ended_at=end, status=status, cause=cause,
                        planned=planned, reason=reason or _REASONS.get(status, "ping: no reply to 3 pings"),
                        evidence=list(evidence),
                        gaps=list(gaps), updated_at=self.now)
        self.s.add(row)
        self.s.flush()
        return row.id

    def ack(self, incident: int, time: datetime, user: str, note: str | None = None, source: str = "button") -> None:
        self.s.add(AcknowledgementRow(incident_id=incident, time=time, user_id=5001, user_name=user, note=note,
                                      source=source))
        inc = self.s.get(IncidentRow, incident)
        if inc is not None and inc.acknowledged_at is None:
            inc.acknowledged_at, inc.acknowledged_by = time, user

    def gap(self, start: datetime, end: datetime, reason: str = "process_stopped") -> None:
        self.s.add(MonitorGapRow(started_at=start, ended_at=end, reason=reason, boot_time=None, detected_at=end))

    def maintenance(self, site: str, start: datetime, end: datetime, reason: str, *, device: str | None = None,
                    kind: str = "maintenance", cancelled_at: datetime | None = None) -> None:
        self.s.add(MaintenanceRow(site_id=site, device_id=self.dev(site, device) if device else None, kind=kind,
                                  starts_at=start, ends_at=end, reason=reason, created_by="Budi",
                                  created_at=start, cancelled_at=cancelled_at))

    def evidence(self, site: str, device: str | None, time: datetime, kind: str, text: str, *,
                 source: str = "poll", **values: Any) -> None:
        self.s.add(EvidenceRow(site_id=site, device_id=self.dev(site, device) if device else None, time=time,
                               kind=kind, source=source, text=text, values=values))

    def state(self, site: str, device: str, status: str, since: datetime, reason: str | None = None) -> None:
        self.s.add(DeviceStateRow(device_id=self.dev(site, device), status=status, since=since, flapping=False,
                                  reason=reason, last_check_at=self.now, metrics={}, data={}, updated_at=self.now))


# ------------------------------------------------------------------------------------------ showcase

SHOWCASE_YAML = """
telegram: {enabled: false}
reports: {out_dir: reports, formats: [pdf, html, csv]}
sites:
  - id: mura
    name: "Disdukcapil Kabupaten Murung Raya"
    timezone: Asia/Jakarta
    language: id
    expected_daily_recordings: 125
    letterhead:
      government: "PEMERINTAH KABUPATEN MURUNG RAYA"
      office: "DINAS KEPENDUDUKAN DAN PENCATATAN SIPIL"
      address: "Jl. Tumenggung Surapati No. 12, Puruk Cahu"
      city: "Puruk Cahu"
      phone: "(0528) 31012"
      email: "disdukcapil@murungrayakab.go.id"
      head_name: "Drs. Yohanes Saputra, M.Si."
      head_title: "Kepala Dinas Kependudukan dan Pencatatan Sipil"
      head_nip: "19700101 199003 1 004"
    devices:
      - {id: router, name: "Router VPN", kind: router, address: 127.0.0.1, checks: [{type: ping}]}
      - {id: switch, name: "Switch Ruang Server", kind: switch, address: 127.0.0.2, depends_on: [router],
         checks: [{type: ping}]}
      - {id: dc-pusat, name: "Data Center Dukcapil (VPN)", kind: upstream, address: 127.0.0.3, depends_on: [router],
         checks: [{type: ping}]}
      - {id: ups-1, name: "UPS Ruang Server", kind: ups, address: 127.0.0.4, depends_on: [switch], installed: 2019-03,
         funding: apbd, model: "APC Smart-UPS 3000", checks: [{type: ping}]}
      - {id: spd-1, name: "Arrester Petir Panel Listrik", kind: spd, address: 127.0.0.5, depends_on: [switch],
         installed: 2011-05, funding: apbn, checks: [{type: ping}]}
      - {id: rec-srv-1, name: "Server Perekaman 1", kind: recording_server, address: 127.0.0.6, depends_on: [switch],
         powered_by: ups-1, installed: 2011-05, funding: apbn, model: "HP ProLiant DL380 G7", serial: "CZJ1234ABC",
         checks: [{type: ping}]}
      - {id: ws-1, name: "Komputer Perekaman 1", kind: workstation, address: 127.0.0.7, depends_on: [switch],
         installed: 2013-08, funding: apbn, checks: [{type: ping}]}
      - {id: ws-2, name: "Komputer Perekaman 2", kind: workstation, address: 127.0.0.8, depends_on: [switch],
         installed: 2020-01, funding: apbd, checks: [{type: ping}]}
    services:
      - {id: perekaman, name: "Layanan Perekaman e-KTP", up_when: any, devices: [rec-srv-1]}
      - {id: siak, name: "Koneksi SIAK Terpusat", up_when: all, devices: [router, dc-pusat]}
    maintenance:
      - {id: backup, reason: "Backup mingguan", devices: [rec-srv-1], cron: "0 22 * * 5", duration: 2h}
"""

SHOWCASE_NOW = wib(2026, 11, 23, 7, 0)        # Monday 07:00 WIB: the weekly run


def write_showcase_week(db: Database, settings: Settings) -> dict[str, int]:
    """The showcase week (see the module docstring); returns the ids of its incidents."""
    ids: dict[str, int] = {}

    def fill(s: Session) -> None:
        w = EngineWriter(s, settings, SHOWCASE_NOW)
        w.monitor_started(wib(2024, 1, 10, 9))
        # history: two power failures of the server in the last 12 months, one lightning 2 years ago
        for start, hours, cause in ((wib(2024, 12, 3, 15, 20), 5, "lightning"), (wib(2026, 2, 11, 10), 3, "power"),
                                    (wib(2026, 6, 24, 13, 30), 2, "power")):
            inc = w.incident("mura", start, start + timedelta(hours=hours), cause, title=f"{cause} (riwayat)")
            w.outage("mura", "rec-srv-1", start, start + timedelta(hours=hours), cause=cause, incident=inc)
        # previous week (W46): a 35-minute power cut of the server on Wednesday
        inc = w.incident("mura", wib(2026, 11, 11, 10, 5), wib(2026, 11, 11, 10, 40), "power",
                         title="Listrik padam", ack_at=wib(2026, 11, 11, 10, 12), ack_by="Budi Santoso")
        w.outage("mura", "rec-srv-1", wib(2026, 11, 11, 10, 5), wib(2026, 11, 11, 10, 40), cause="power",
                 incident=inc, evidence=[ev(wib(2026, 11, 11, 10, 1), "ups-1", "on_battery", "UPS on battery")])
        # Monday: the recording application on workstation 1 hangs for 25 minutes
        inc = w.incident("mura", wib(2026, 11, 16, 10, 15), wib(2026, 11, 16, 10, 40), "service",
                         title="Aplikasi perekaman tidak merespons", ack_at=wib(2026, 11, 16, 10, 21),
                         ack_by="Rina Wulandari")
        w.outage("mura", "ws-1", wib(2026, 11, 16, 10, 15), wib(2026, 11, 16, 10, 40), cause="service",
                 incident=inc, reason="tcp 443 refused",
                 evidence=[ev(wib(2026, 11, 16, 10, 15), "ws-1", "trap", "ping ok, port 443 refused")])
        # Tuesday 14:02: lightning
        t = wib(2026, 11, 17, 14, 2)
        storm = [ev(t - timedelta(minutes=1), "spd-1", "strike", "strike counter +1", "poll", increment=1),
                 ev(t - timedelta(minutes=1), "spd-1", "spd_tripped", "SPD contact open", "trap"),
                 ev(t, "ups-1", "on_battery", "UPS on battery", "trap")]
        inc = w.incident("mura", t, None, "lightning", title="Sambaran petir: server dan jaringan mati",
                         evidence=storm)
        ids["lightning"] = inc
        w.ack(inc, t + timedelta(minutes=7), "Budi Santoso",
              "Server mati total setelah petir; sudah lapor Kepala Dinas")
        w.ack(inc, t + timedelta(hours=3), "Rina Wulandari", "Teknisi provinsi dihubungi, server tidak bisa menyala")
        w.outage("mura", "rec-srv-1", t + timedelta(minutes=1), None, cause="lightning", incident=inc,
                 evidence=[*storm, ev(t + timedelta(minutes=40), "rec-srv-1", "reboot", "no answer after power back")])
        w.outage("mura", "router", t + timedelta(minutes=1), t + timedelta(minutes=68), cause="lightning",
                 incident=inc, evidence=storm[:2])
        w.outage("mura", "switch", t + timedelta(minutes=1), t + timedelta(minutes=66), cause="lightning",
                 incident=inc, evidence=storm[:2])
        w.outage("mura", "dc-pusat", t + timedelta(minutes=1), t + timedelta(minutes=68), status="unreachable",
                 cause="lightning", incident=inc)
        w.outage("mura", "ws-1", t + timedelta(minutes=1), t + timedelta(minutes=66), status="unreachable",
                 cause="network", incident=inc)
        w.outage("mura", "ws-2", t + timedelta(minutes=1), t + timedelta(minutes=66), status="unreachable",
                 cause="network", incident=inc)
        w.outage("mura", "ups-1", t + timedelta(minutes=1), t + timedelta(minutes=66), status="degraded",
                 cause="power", incident=inc, evidence=storm[2:])
        for kind, text, vals in (("strike", "strike counter +1", {"increment": 1, "count": 14}),
                                 ("spd_tripped", "SPD contact open", {}),
                                 ("on_battery", "UPS on battery", {})):
            w.evidence("mura", "ups-1" if kind == "on_battery" else "spd-1", t - timedelta(minutes=1), kind, text,
                       **vals)
        # Wednesday: the UPS asks for a new battery
        w.evidence("mura", "ups-1", wib(2026, 11, 18, 8, 30), "replace_battery", "replace battery flag set")
        w.evidence("mura", "ups-1", wib(2026, 11, 18, 20, 30), "replace_battery", "replace battery flag set")
        w.evidence("mura", "ups-1", wib(2026, 11, 19, 11, 0), "voltage_abnormal", "input 176 V", voltage=176)
        # Thursday 09:30-11:45: the central data center is unreachable while the office is fine
        inc = w.incident("mura", wib(2026, 11, 19, 9, 30), wib(2026, 11, 19, 11, 45), "upstream",
                         title="Koneksi ke Data Center pusat terputus", ack_at=wib(2026, 11, 19, 9, 41),
                         ack_by="Budi Santoso")
        w.outage("mura", "dc-pusat", wib(2026, 11, 19, 9, 30), wib(2026, 11, 19, 11, 45), cause="upstream",
                 incident=inc, evidence=[ev(wib(2026, 11, 19, 9, 30), "router", "link_up", "office uplink up")])
        # Saturday 02:00-03:10: the monitor's host rebooted (a monitor gap)
        w.gap(wib(2026, 11, 21, 2, 0), wib(2026, 11, 21, 3, 10), "host_rebooted")
        w.state("mura", "rec-srv-1", "down", t + timedelta(minutes=1), "no answer")
        w.state("mura", "router", "up", t + timedelta(minutes=68))

    db.call(fill)
    return ids


SHOWCASE_LIGHTNING_INCIDENT = "lightning"


# ------------------------------------------------------------------------------------------ synthetic


def synthetic_yaml(n_devices: int = 50) -> str:
    kinds = ["recording_server", "workstation", "ups", "spd", "switch"]
    lines = ["telegram: {enabled: false}", "sites:", "  - id: big", '    name: "Disdukcapil Kota Besar"',
             "    timezone: Asia/Makassar", "    expected_daily_recordings: 400", "    letterhead:",
             '      government: "PEMERINTAH KOTA BESAR"', '      office: "DINAS KEPENDUDUKAN DAN PENCATATAN SIPIL"',
             '      city: "Kota Besar"', '      head_name: "Kepala Dinas"', "    devices:",
             '      - {id: router, name: "Router VPN", kind: router, address: 127.0.0.1, checks: [{type: ping}]}',
             '      - {id: dc, name: "Data Center Pusat", kind: upstream, address: 127.0.0.2, depends_on: [router], '
             "checks: [{type: ping}]}"]
    for i in range(n_devices - 2):
        kind = kinds[i % len(kinds)]
        lines.append(f'      - {{id: d{i:02d}, name: "Perangkat {i:02d} ({kind})", kind: {kind}, '
                     f"address: 127.0.1.{i + 1}, depends_on: [router], installed: {2010 + i % 14}-0{1 + i % 9}, "
                     f"funding: {'apbn' if i % 3 == 0 else 'apbd'}, checks: [{{type: ping}}]}}")
    servers = [f"d{i:02d}" for i in range(n_devices - 2) if i % len(kinds) == 0]
    lines += ["    services:",
              '      - {id: perekaman, name: "Layanan Perekaman e-KTP", up_when: any, '
              f'devices: [{", ".join(servers)}]}}',
              '      - {id: siak, name: "Koneksi SIAK Terpusat", up_when: all, devices: [router, dc]}']
    return "\n".join(lines) + "\n"


def write_synthetic_week(db: Database, settings: Settings, week_start: datetime, n_outages: int = 500,
                         seed: int = 7) -> int:
    """``n_outages`` outages spread evenly over the site's devices and the week starting at ``week_start``
    (never overlapping within one device, as the engine guarantees). Returns the number written."""
    rnd = random.Random(seed)
    causes = ["power", "lightning", "network", "upstream", "hardware", "service", "unknown"]
    devices = [d.id for d in settings.site("big").devices]
    per_device = -(-n_outages // len(devices))
    slot_h = 168.0 / per_device

    def fill(s: Session) -> int:
        w = EngineWriter(s, settings, week_start + timedelta(days=7, hours=1))
        w.monitor_started(week_start - timedelta(days=400))
        written = 0
        for i in range(n_outages):
            dev, k = devices[i % len(devices)], i // len(devices)
            start = week_start + timedelta(hours=k * slot_h + rnd.uniform(0, slot_h / 2))
            dur = timedelta(minutes=rnd.uniform(2, min(90.0, slot_h * 60 / 2 - 1)))
            cause = rnd.choice(causes)
            inc = w.incident("big", start, start + dur, cause, title=f"Gangguan {i}",
                             ack_at=start + timedelta(minutes=rnd.uniform(1, 30)) if i % 4 else None,
                             ack_by="Petugas TI" if i % 4 else None)
            status = "unreachable" if cause == "network" else ("degraded" if i % 11 == 0 else "down")
            w.outage("big", dev, start, start + dur, status=status, cause=cause, incident=inc,
                     evidence=[ev(start, dev, "on_battery" if cause == "power" else "trap", f"{cause} evidence")])
            written += 1
        w.gap(week_start + timedelta(days=3, hours=2), week_start + timedelta(days=3, hours=3), "process_stopped")
        return written

    return db.call(fill)
