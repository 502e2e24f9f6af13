"""The escalation letter's figures (pure) and its builders (async for the alerting side, sync for the CLI)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from monitor.domain import Cause, Status
from monitor.errors import ReportError
from monitor.reports.data import AckRecord, EvidenceItem, IncidentRecord, ObservationRecord
from monitor.reports.escalation import escalation_figures
from monitor.reports.runner import ReportService, build_escalation_report
from monitor.settings import Settings
from monitor.storage.models import ReportRunRow
from tests.fakes import FakeClock

from . import scenario as sc
from .conftest import HOUR, data, outage, wib
from .test_job import open_db

T = wib(2026, 11, 17, 14, 2)


def incident(cause: Cause, end: object = None, **kw: object) -> IncidentRecord:
    return IncidentRecord(7, T, end, cause, Status.DOWN, title="uji", **kw)  # type: ignore[arg-type]


def test_lightning_on_national_budget_equipment_asks_for_replacement_and_protection(office: Settings) -> None:
    strike = EvidenceItem(T - timedelta(minutes=1), "spd", "strike", "strike +1", "poll", {"increment": 1})
    inc = incident(Cause.LIGHTNING, evidence=(strike,),
                   escalation={"told": {"it_staff": "2026-11-17T07:02:00Z",
                                        "ministry_liaison": "2026-11-18T07:02:00Z"}})
    outs = (outage("srv1", T + timedelta(minutes=1), None, cause=Cause.LIGHTNING, incident=7),
            outage("srv2", T + timedelta(minutes=1), T + timedelta(hours=1), cause=Cause.LIGHTNING, incident=7),
            outage("ws", T + timedelta(minutes=1), T + timedelta(hours=1), status=Status.UNREACHABLE,
                   cause=Cause.NETWORK, incident=7),
            outage("srv2", T - timedelta(days=3), T - timedelta(days=3, hours=-1), cause=Cause.POWER))  # other
    obs = (ObservationRecord(T - timedelta(minutes=1), "spd", "spd_tripped", "tripped"),
           ObservationRecord(T - timedelta(hours=2), "spd", "strike", "too early for this incident"))
    acks = (AckRecord(7, T + timedelta(minutes=7), "Budi", "sudah lapor"),)
    now = T + timedelta(days=1, hours=2)
    esc = escalation_figures(data(office, outages=outs, incidents=(inc,), observations=obs, acks=acks), 7, now)
    assert esc.ongoing and esc.end == now and esc.duration_s == 26 * HOUR
    assert [e.device.id for e in esc.equipment] == ["srv1", "srv2", "ws"]      # APBN first
    assert esc.equipment[0].age_years == 15 and esc.equipment[0].outage.open_at_end
    kinds = [(r.kind, [d.id for d in r.devices]) for r in esc.requests]
    assert kinds == [("replace", ["srv1"]), ("protection", ["spd"])]
    entries = [(e.time, e.kind) for e in esc.timeline]
    assert entries == sorted(entries, key=lambda x: x[0])
    assert entries[0] == (T - timedelta(minutes=1), "evidence")
    assert (T, "incident_start") in entries and (T + timedelta(minutes=7), "ack") in entries
    assert (wib(2026, 11, 18, 14, 2), "escalation") in entries
    assert sum(1 for _, k in entries if k == "outage_start") == 3
    assert sum(1 for _, k in entries if k == "outage_end") == 2
    assert not any(e.evidence and e.evidence.text == "too early for this incident" for e in esc.timeline)
    # impact: the "any" recording service was down while both servers were: 14:03 .. 15:03 (srv2 came back),
    # a Tuesday afternoon inside working hours -> 59 min of 8 h x 120 recordings a day = 14.75
    assert esc.impact is not None and esc.impact.lost_working_s == 59 * 60 and esc.impact.recordings == 15


def test_central_fault_asks_the_ministry_to_restore_the_link(office: Settings) -> None:
    inc = incident(Cause.UPSTREAM, end=T + timedelta(hours=2))
    outs = (outage("dc", T, T + timedelta(hours=2), cause=Cause.UPSTREAM, incident=7),)
    esc = escalation_figures(data(office, outages=outs, incidents=(inc,)), 7, T + timedelta(hours=3))
    assert [r.kind for r in esc.requests] == ["central"] and not esc.ongoing
    assert esc.figures.service("siak") is not None
    assert esc.figures.service("siak").availability.central_down_s == 2 * HOUR  # type: ignore[union-attr]


def test_anything_else_asks_for_technical_assistance(office: Settings) -> None:
    inc = incident(Cause.SERVICE, end=T + timedelta(hours=1))
    outs = (outage("srv2", T, T + timedelta(hours=1), cause=Cause.SERVICE, incident=7),)
    esc = escalation_figures(data(office, outages=outs, incidents=(inc,)), 7, T + timedelta(hours=3))
    assert [(r.kind, [d.id for d in r.devices]) for r in esc.requests] == [("assist", ["srv2"])]


def test_repeated_failures_of_apbn_equipment_ask_for_replacement(office: Settings) -> None:
    history = tuple(outage("srv1", wib(2026, m, 3, 9), wib(2026, m, 3, 10), cause=Cause.POWER) for m in (3, 7))
    cur = outage("srv1", T, T + timedelta(hours=1), cause=Cause.POWER, incident=7)
    inc = incident(Cause.POWER, end=T + timedelta(hours=1))
    esc = escalation_figures(data(office, outages=(cur,), history=(*history, cur), incidents=(inc,)), 7,
                             T + timedelta(hours=2))
    assert [r.kind for r in esc.requests] == ["replace"]
    rec = esc.equipment[0].recurrence
    assert rec is not None and rec.total_12 == 3 and rec.repeated


def test_an_unknown_incident_is_a_key_error(office: Settings) -> None:
    with pytest.raises(KeyError):
        escalation_figures(data(office), 99, T)


async def test_the_async_builder_and_the_report_service(tmp_path: Path) -> None:
    settings = sc.load(sc.write_yaml(tmp_path, sc.SHOWCASE_YAML.replace(
        "telegram: {enabled: false}", f'telegram: {{enabled: false}}\ndatabase: {{url: "sqlite:///{tmp_path}/m.db"}}')))
    db = open_db(settings)
    ids = sc.write_showcase_week(db, settings)
    try:
        now = sc.SHOWCASE_NOW
        path = await build_escalation_report(settings, db, ids["lightning"], now, tmp_path / "out")
        assert path == tmp_path / "out" / "mura" / f"Laporan-Eskalasi-mura-Insiden-{ids['lightning']}.pdf"
        text = " ".join(" ".join((p.extract_text() or "") for p in PdfReader(path).pages).split())
        assert "Server Perekaman 1" in text and "Permohonan" in text
        recorded = db.call(lambda s: [(r.kind, r.incident_id, r.status, r.period_start, r.period_end)
                                      for r in s.scalars(select(ReportRunRow))])
        # one document per incident and escalation step: never escalated, its step is its start (+ 1 s)
        start = sc.wib(2026, 11, 17, 14, 2)
        assert recorded == [("escalation", ids["lightning"], "built", start, start + timedelta(seconds=1))]
        with pytest.raises(ReportError, match="no incident #4242"):
            await build_escalation_report(settings, db, 4242, now, tmp_path / "out")

        service = ReportService(settings, db, FakeClock(sc.wib(2026, 11, 25, 10)), out_dir=tmp_path / "svc")
        esc_path = await service.escalation_report(ids["lightning"])
        assert esc_path == path                      # asked again for the same step: the same file
        assert (tmp_path / "svc" / "mura").exists() is False
        week_so_far = await service.report_now("mura")         # Wednesday of W48: the running week so far
        assert week_so_far is not None and week_so_far.name == "Laporan-Mingguan-mura-2026-W48.pdf"
        first = PdfReader(week_so_far).pages[0].extract_text() or ""
        assert "Periode belum selesai" in first
        await service.reload(settings)
    finally:
        db.close()
