"""The weekly job: builds each due report once, delivers it, records every run — and the real delivery path
(outbox → dispatcher → python-telegram-bot → the local Bot API server) carries the PDF as a document."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from alerts.service import make_dispatcher
from alerts.telegram import TelegramNotifier
from monitor.commands.report import outbox_deliver
from monitor.domain import Audience
from monitor.reports.job import WeeklyReportJob
from monitor.reports.period import Period
from monitor.sandbox.telegram_api import TelegramApiServer
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.models import OutboxRow, ReportRunRow
from tests.fakes import FakeClock

from . import scenario as sc

TOKEN = "123456789:AAHreportTokenForTheLocalSandbox_0123"
HEAD, MINISTRY, IT = -1002001, -1002002, -1002003


def telegram_config(tmp: Path, api_url: str) -> Settings:
    body = sc.SHOWCASE_YAML.replace("telegram: {enabled: false}", f"""
database: {{url: "sqlite:///{tmp / 'monitor.db'}"}}
telegram:
  bot_token: "{TOKEN}"
  api_base_url: "{api_url}"
  request_timeout: 5s
  polling: false
  audiences:
    ministry_liaison: {{chat_id: {MINISTRY}}}""").replace("""    expected_daily_recordings: 125
""", f"""    expected_daily_recordings: 125
    audiences:
      it_staff: {{chat_id: {IT}}}
      head_of_office: {{chat_id: {HEAD}}}
""")
    return sc.load(sc.write_yaml(tmp, body))


def open_db(settings: Settings) -> Database:
    from monitor.app import open_database
    engine = open_database(settings)
    dbmod.upgrade(engine)
    return Database(engine)


class Recorder:
    """A ``deliver`` that records its calls (and can be told to fail)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Audience, ...], dict[str, Path], str, Period]] = []
        self.fail = False

    async def __call__(self, site: str, audiences: tuple[Audience, ...], files: Mapping[str, Path], caption: str,
                       period: Period) -> None:
        self.calls.append((site, audiences, dict(files), caption, period))
        if self.fail:
            raise ConnectionError("outbox unreachable")


def runs(db: Database) -> list[tuple[str, str, str, str | None]]:
    return db.call(lambda s: [(r.site_id, r.kind, r.status, r.error) for r in s.scalars(select(ReportRunRow))])


async def test_the_weekly_job_sends_the_pdf_through_the_local_bot_api_as_a_document(tmp_path: Path) -> None:
    async with TelegramApiServer(TOKEN) as api:
        settings = telegram_config(tmp_path, api.url)
        db = open_db(settings)
        sc.write_showcase_week(db, settings)
        clock = FakeClock(sc.SHOWCASE_NOW)                      # Monday 07:00 WIB
        job = WeeklyReportJob(settings, db, clock, deliver=outbox_deliver(settings, db, clock),
                              out_dir=tmp_path / "reports")
        notifier = TelegramNotifier.from_settings(settings)
        try:
            (outcome,) = await job.run_due(clock.now())
            assert outcome.status == "sent" and outcome.period.label == "2026-W47"
            pdf = outcome.files["pdf"]
            assert pdf == tmp_path / "reports" / "mura" / "Laporan-Mingguan-mura-2026-W47.pdf"
            rows = db.call(lambda s: [(r.idempotency_key, r.kind, r.audience) for r in s.scalars(select(OutboxRow))])
            assert sorted(rows) == [("report:mura:weekly:2026-W47:head_of_office", "report", "head_of_office"),
                                    ("report:mura:weekly:2026-W47:ministry_liaison", "report", "ministry_liaison")]
            dispatcher = make_dispatcher(settings, db, clock, notifier)
            for _ in range(20):                                  # bounded
                await dispatcher.run_once()
                if len(api.messages) >= 2:
                    break
                clock.advance(5)
            docs = [m for m in api.messages if m.method.lower() == "senddocument"]
            assert sorted(m.chat_id for m in docs) == sorted([HEAD, MINISTRY])
            for m in docs:
                assert m.document == pdf.read_bytes()
                assert m.filename == "Laporan-Mingguan-mura-2026-W47.pdf"
                assert m.parse_mode == "HTML" and m.text is not None
                assert "Laporan Mingguan Gangguan" in m.text and "23,0 %" in m.text
                assert "Kementerian" in m.text
            assert runs(db) == [("mura", "weekly", "sent", None)]
            # never built or sent twice: the next check (and a restart's) finds nothing due
            assert await job.run_due(clock.now() + timedelta(hours=1)) == []
            assert len(db.call(lambda s: list(s.scalars(select(OutboxRow))))) == 2
        finally:
            await notifier.close()
            db.close()


async def test_a_failed_delivery_is_retried_with_the_same_files(tmp_path: Path) -> None:
    settings = sc.load(sc.write_yaml(tmp_path, sc.SHOWCASE_YAML.replace(
        "telegram: {enabled: false}", f'telegram: {{enabled: false}}\ndatabase: {{url: "sqlite:///{tmp_path}/m.db"}}')))
    db = open_db(settings)
    sc.write_showcase_week(db, settings)
    clock = FakeClock(sc.SHOWCASE_NOW + timedelta(minutes=1))
    deliver = Recorder()
    deliver.fail = True
    job = WeeklyReportJob(settings, db, clock, deliver=deliver, out_dir=tmp_path / "out",
                          retry_after=timedelta(minutes=15))
    try:
        assert await job.run_due(clock.now()) == []
        assert runs(db) == [("mura", "weekly", "built", "delivery failed: ConnectionError: outbox unreachable")]
        pdf = deliver.calls[0][2]["pdf"]
        built_at = pdf.stat().st_mtime_ns
        # within retry_after: not tried again
        assert await job.run_due(clock.now() + timedelta(minutes=5)) == []
        assert len(deliver.calls) == 1
        deliver.fail = False
        (outcome,) = await job.run_due(clock.now() + timedelta(minutes=16))
        assert outcome.status == "sent" and outcome.reused
        assert pdf.stat().st_mtime_ns == built_at                # the files of the first attempt, not rebuilt
        site, audiences, files, caption, period = deliver.calls[-1]
        assert (site, audiences, period.label) == ("mura", (Audience.HEAD_OF_OFFICE, Audience.MINISTRY_LIAISON),
                                                   "2026-W47")
        assert set(files) == {"pdf", "html", "csv"} and "<b>Laporan Mingguan Gangguan</b>" in caption
        assert runs(db) == [("mura", "weekly", "sent", None)]
    finally:
        db.close()


class _WaitingClock(FakeClock):
    """Sleeping blocks until the test ends (the job's loop then waits, as it would for days)."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.slept: list[float] = []
        self.gate = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await self.gate.wait()


async def test_the_component_makes_up_a_missed_run_on_start(tmp_path: Path) -> None:
    settings = sc.load(sc.write_yaml(tmp_path, sc.SHOWCASE_YAML.replace(
        "telegram: {enabled: false}", f'telegram: {{enabled: false}}\ndatabase: {{url: "sqlite:///{tmp_path}/m.db"}}')))
    db = open_db(settings)
    sc.write_showcase_week(db, settings)
    # the monitor was off on Monday at 07:00 and starts on Tuesday 09:00 WIB
    clock = _WaitingClock(sc.SHOWCASE_NOW + timedelta(days=1, hours=2))
    job = WeeklyReportJob(settings, db, clock, deliver=None, out_dir=tmp_path / "out", max_sleep=3600)
    try:
        await job.start()
        for _ in range(400):                                    # bounded: up to ~40 s on a slow machine
            if clock.slept:
                break
            await asyncio.sleep(0.1)
        assert clock.slept == [3600]                            # next fire is days away: wakes hourly
        assert runs(db) == [("mura", "weekly", "built", None)]  # no deliver: built counts as done
        assert (tmp_path / "out" / "mura" / "Laporan-Mingguan-mura-2026-W47.pdf").is_file()
        assert await job.run_due(clock.now()) == []             # made up once
    finally:
        await job.stop()
        await job.stop()                                        # idempotent
        db.close()


async def test_a_disabled_weekly_report_is_never_built(tmp_path: Path) -> None:
    settings = sc.load(sc.write_yaml(tmp_path, sc.SHOWCASE_YAML.replace(
        "reports: {out_dir: reports, formats: [pdf, html, csv]}",
        f'reports: {{weekly: {{enabled: false}}}}\ndatabase: {{url: "sqlite:///{tmp_path}/m.db"}}')))
    db = open_db(settings)
    try:
        job = WeeklyReportJob(settings, db, FakeClock(sc.SHOWCASE_NOW), deliver=Recorder())
        assert await job.run_due(sc.SHOWCASE_NOW) == [] and runs(db) == []
    finally:
        db.close()
