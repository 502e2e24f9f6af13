"""Building reports: read the record, compute the figures, render the files, record the run.

The entry points (all take ``now``; nothing here reads the clock):

* :func:`build_report` (sync, for the CLI) and :func:`build_report_async` (daemon: database work on the
  database thread, rendering in a worker thread) — one site, one period, the requested formats;
* :func:`run_weekly` — the weekly job's unit of work: build (or reuse the files of an earlier attempt),
  deliver through the injected ``deliver`` callable, and record every step in ``report_runs``;
* :func:`build_escalation_report` — the Ministry letter for one incident (async; the alerting side
  receives it from the composition root as ``escalation_report(incident_id)`` via :class:`ReportService`);
* :class:`ReportService` — those callables bound to (settings, db, clock, out_dir) for the composition root.

``report_runs`` holds one row per (site, kind, period) — kind ``weekly`` (an ISO week), ``adhoc`` (any other
range, or this week so far) or ``escalation`` (one incident) — with the files, the status (``built``,
``sent``, ``failed``) and the last error. A run that was sent is never downgraded by a later rebuild.

Files go to ``<out_dir>/<site>/`` named ``Laporan-Mingguan-<site>-2026-W47.pdf`` (English:
``Weekly-Report-…``), ``Laporan-Gangguan-<site>-<from>_<to>.pdf``, ``Laporan-Eskalasi-<site>-Insiden-<id>.pdf``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.clock import Clock
from monitor.domain import Audience
from monitor.errors import ReportError
from monitor.reports import csvout, jsonout, narrative, render
from monitor.reports.data import ReportData, load_report_data, parse_time
from monitor.reports.escalation import EVIDENCE_BEFORE, escalation_figures
from monitor.reports.figures import ReportFigures, compute
from monitor.reports.i18n import Lang, lang_of
from monitor.reports.period import Period, week_of
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage.coverage import first_start
from monitor.storage.models import IncidentRow, ReportRunRow

log = logging.getLogger(__name__)

Deliver = Callable[[str, tuple[Audience, ...], Mapping[str, Path], str, Period], Awaitable[None]]
"""``deliver(site_id, audiences, files, caption, period)``: hand the built files to the audiences (the
composition root wires it to the outbox; see monitor/commands/report.py:outbox_deliver)."""

FORMATS = ("pdf", "html", "csv", "json")
BUILT, SENT, FAILED = "built", "sent", "failed"


@dataclass(frozen=True, slots=True)
class BuiltReport:
    site_id: str
    kind: str
    period: Period
    files: dict[str, Path]
    caption: str
    pages: int | None = None
    seconds: float = 0.0
    incident_id: int | None = None
    figures: ReportFigures | None = field(default=None, repr=False)


def run_kind(period: Period) -> str:
    return "weekly" if period.kind == "week" else "adhoc"


def basename(kind: str, site_id: str, period: Period, lang: Lang, incident_id: int | None = None) -> str:
    if kind == "escalation":
        return (f"Laporan-Eskalasi-{site_id}-Insiden-{incident_id}" if lang == "id"
                else f"Escalation-Report-{site_id}-Incident-{incident_id}")
    if period.kind == "week":
        prefix = "Laporan-Mingguan" if lang == "id" else "Weekly-Report"
    else:
        prefix = "Laporan-Gangguan" if lang == "id" else "Outage-Report"
    return f"{prefix}-{site_id}-{period.label}"


def report_dir(settings: Settings, out_dir: Path | None, site_id: str) -> Path:
    base = out_dir if out_dir is not None else settings.resolve_path(settings.reports.out_dir)
    return base / site_id


def parse_formats(text: str | Sequence[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    items = [x.strip().lower() for x in (text.split(",") if isinstance(text, str) else (text or default))]
    items = [x for x in items if x]
    bad = [x for x in items if x not in FORMATS]
    if bad or not items:
        raise ReportError(f"unknown report format {', '.join(bad) or '(none)'}: use pdf, html, csv, json",
                          permanent=True)
    return tuple(dict.fromkeys(items))


def report_language(settings: Settings, site_id: str, language: str | None) -> Lang:
    return lang_of(language or settings.site(site_id).language)


# ------------------------------------------------------------------------------------------- building


def load_figures(session: Session, settings: Settings, site_id: str, period: Period, now: datetime, *,
                 running: bool | None = None) -> ReportFigures:
    """Read what the report of ``period`` needs (this period and the previous one) and compute it.
    ``running``: the monitor runs at ``now`` (the daemon says so); None infers it from the heartbeat, so a
    report built while the monitor is stopped counts the time since its last heartbeat as not running."""
    data = load_report_data(session, settings, site_id, period.previous().start, period.end, now=now,
                            running=running)
    return compute(data, period, now)


def render_report(fig: ReportFigures, lang: Lang, out_dir: Path, name: str, formats: Sequence[str], *,
                  charts_in_child: bool = False) -> render.Rendered:
    """Write the files (slow: charts and PDF). The PDF lists the selected outages, the HTML all of them.
    ``charts_in_child``: draw the charts in a child process meanwhile (for the one-shot command, where
    loading WeasyPrint and matplotlib is most of the time; the daemon has both loaded already)."""
    child = render.ChartsInChild(fig, lang) if charts_in_child and "pdf" in formats else None
    charts: dict[str, str] = {}

    def get_charts() -> dict[str, str]:
        if not charts:
            charts.update(child.data_uris() if child is not None else render.weekly_charts(fig, lang))
        return charts

    def pdf_charts() -> Mapping[str, str]:   # the child's charts are fetched while WeasyPrint lays out
        return child.urls() if child is not None else get_charts()

    try:
        return render.write_files(out_dir, name, formats,
                                  pdf_html=lambda: render.weekly_html(fig, lang, pdf_charts()),
                                  html_file=lambda: render.weekly_html(fig, lang, get_charts(), full=True),
                                  csv_bytes=lambda: csvout.outage_csv(fig, lang),
                                  pdf_images=child.images() if child is not None else None,
                                  json_bytes=lambda: jsonout.report_json(fig))
    finally:
        if child is not None:
            child.close()


def _check_period(period: Period, now: datetime) -> None:
    if period.start >= now:
        raise ReportError(f"the period {period.label} has not started yet", permanent=True)


def build_report(settings: Settings, db: Database, site_id: str, period: Period, now: datetime, *,
                 out_dir: Path | None = None, formats: Sequence[str] | None = None,
                 language: str | None = None, charts_in_child: bool = False,
                 running: bool | None = None) -> BuiltReport:
    """Build one site's report for ``period`` (synchronously) and record it in ``report_runs``
    (``charts_in_child``: see :func:`render_report`; ``running``: see :func:`load_figures`)."""
    _check_period(period, now)
    t0 = time.perf_counter()
    lang = report_language(settings, site_id, language)
    fmts = parse_formats(formats, settings.reports.formats)
    fig = db.call(lambda s: load_figures(s, settings, site_id, period, now, running=running),
                  "reading the report data")
    kind = run_kind(period)
    rendered = render_report(fig, lang, report_dir(settings, out_dir, site_id), basename(kind, site_id, period, lang),
                             fmts, charts_in_child=charts_in_child)
    db.call(lambda s: record_run(s, site_id=site_id, kind=kind, period=period, now=now, files=rendered.files,
                                 status=BUILT), "recording the report run")
    return BuiltReport(site_id, kind, period, rendered.files, narrative.caption(fig, lang), rendered.pages,
                       time.perf_counter() - t0, figures=fig)


async def build_report_async(settings: Settings, db: Database, site_id: str, period: Period, now: datetime, *,
                             out_dir: Path | None = None, formats: Sequence[str] | None = None,
                             language: str | None = None, record: bool = True) -> BuiltReport:
    """:func:`build_report` for the daemon (which is running: its own time is monitored): the event loop
    never waits on rendering."""
    _check_period(period, now)
    t0 = time.perf_counter()
    lang = report_language(settings, site_id, language)
    fmts = parse_formats(formats, settings.reports.formats)
    fig = await db.run(lambda s: load_figures(s, settings, site_id, period, now, running=True),
                       "reading the report data")
    kind = run_kind(period)
    directory = report_dir(settings, out_dir, site_id)
    name = basename(kind, site_id, period, lang)
    rendered = await asyncio.to_thread(render_report, fig, lang, directory, name, fmts)
    if record:
        await db.run(lambda s: record_run(s, site_id=site_id, kind=kind, period=period, now=now,
                                          files=rendered.files, status=BUILT), "recording the report run")
    return BuiltReport(site_id, kind, period, rendered.files, narrative.caption(fig, lang), rendered.pages,
                       time.perf_counter() - t0, figures=fig)


# ------------------------------------------------------------------------------------------ report_runs


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    site_id: str
    kind: str
    period_start: datetime
    period_end: datetime
    status: str
    files: dict[str, str]
    error: str | None


def _snapshot(row: ReportRunRow) -> RunRecord:
    return RunRecord(row.id, row.site_id, row.kind, row.period_start, row.period_end, row.status,
                     {str(k): str(v) for k, v in (row.files or {}).items()}, row.error)


def get_run(session: Session, site_id: str, kind: str, start: datetime, end: datetime) -> RunRecord | None:
    row = session.scalars(select(ReportRunRow).where(
        ReportRunRow.site_id == site_id, ReportRunRow.kind == kind, ReportRunRow.period_start == start,
        ReportRunRow.period_end == end)).first()
    return _snapshot(row) if row is not None else None


def record_run(session: Session, *, site_id: str, kind: str, period: Period, now: datetime,
               files: Mapping[str, Path] | None, status: str, incident_id: int | None = None,
               error: str | None = None) -> int:
    """Insert or update the ``report_runs`` row of (site, kind, period). ``sent`` is never downgraded."""

    def find() -> ReportRunRow | None:
        return session.scalars(select(ReportRunRow).where(
            ReportRunRow.site_id == site_id, ReportRunRow.kind == kind, ReportRunRow.period_start == period.start,
            ReportRunRow.period_end == period.end)).first()

    row = find()
    if row is None:
        try:
            with session.begin_nested():
                row = ReportRunRow(site_id=site_id, kind=kind, incident_id=incident_id, period_start=period.start,
                                   period_end=period.end, created_at=now, status=status,
                                   files={k: str(v) for k, v in (files or {}).items()}, error=error)
                session.add(row)
        except IntegrityError:  # another process recorded it in the meantime
            row = find()
            if row is None:
                raise
        else:
            return row.id
    if files:
        row.files = {k: str(v) for k, v in files.items()}
    if not (row.status == SENT and status != SENT):
        row.status = status
    row.error = error
    if incident_id is not None:
        row.incident_id = incident_id
    return row.id


def finished_weekly(session: Session, statuses: Sequence[str]) -> set[tuple[str, datetime]]:
    """(site, period start) of weekly runs whose status is in ``statuses``."""
    rows = session.execute(select(ReportRunRow.site_id, ReportRunRow.period_start).where(
        ReportRunRow.kind == "weekly", ReportRunRow.status.in_(statuses)))
    return {(site, start) for site, start in rows}


def monitoring_since(session: Session) -> datetime | None:
    """The first monitor start on record (see ReportData.monitoring_since)."""
    return first_start(session)


# ------------------------------------------------------------------------------------------ weekly run


@dataclass(frozen=True, slots=True)
class WeeklyOutcome:
    site_id: str
    period: Period
    status: str                     # built | sent | skipped
    files: dict[str, Path]
    reused: bool = False


async def run_weekly(settings: Settings, db: Database, site_id: str, period: Period, now: datetime, *,
                     deliver: Deliver | None = None, out_dir: Path | None = None) -> WeeklyOutcome:
    """Build (once) and deliver the weekly report of ``period``, recording each step in ``report_runs``.

    Files built by an earlier attempt whose delivery failed are reused, not rebuilt. A failed build is
    recorded (``failed`` with the error) and raised as :class:`ReportError`; a failed delivery leaves the
    run ``built`` with the error, to be retried by the next due check.
    """
    kind = "weekly"
    existing = await db.run(lambda s: get_run(s, site_id, kind, period.start, period.end), "reading report runs")
    if existing is not None and existing.status == SENT:
        return WeeklyOutcome(site_id, period, "skipped", {k: Path(v) for k, v in existing.files.items()})
    lang = report_language(settings, site_id, None)
    files: dict[str, Path] = {}
    reused = False
    if existing is not None and existing.status == BUILT and existing.files and await asyncio.to_thread(
            lambda: all(Path(p).is_file() for p in existing.files.values())):
        files = {k: Path(v) for k, v in existing.files.items()}
        fig = await db.run(lambda s: load_figures(s, settings, site_id, period, now, running=True),
                           "reading the report data")
        caption = narrative.caption(fig, lang)
        reused = True
    else:
        try:
            built = await build_report_async(settings, db, site_id, period, now, out_dir=out_dir, record=False)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            await db.run(lambda s: record_run(s, site_id=site_id, kind=kind, period=period, now=now, files=None,
                                              status=FAILED, error=error), "recording the report run")
            raise ReportError(f"weekly report of {site_id} {period.label} failed: {error}") from exc
        files, caption = built.files, built.caption
        await db.run(lambda s: record_run(s, site_id=site_id, kind=kind, period=period, now=now, files=files,
                                          status=BUILT), "recording the report run")
    if deliver is None:
        return WeeklyOutcome(site_id, period, BUILT, files, reused)
    audiences = tuple(settings.weekly_report_for(site_id).audiences)
    try:
        await deliver(site_id, audiences, files, caption, period)
    except Exception as exc:
        error = f"delivery failed: {type(exc).__name__}: {exc}"[:1000]
        await db.run(lambda s: record_run(s, site_id=site_id, kind=kind, period=period, now=now, files=files,
                                          status=BUILT, error=error), "recording the report run")
        raise ReportError(f"weekly report of {site_id} {period.label}: {error}") from exc
    await db.run(lambda s: record_run(s, site_id=site_id, kind=kind, period=period, now=now, files=files,
                                      status=SENT), "recording the report run")
    return WeeklyOutcome(site_id, period, SENT, files, reused)


# ----------------------------------------------------------------------------------------- escalation


def _escalation_language(settings: Settings, site_id: str, language: str | None) -> Lang:
    if language:
        return lang_of(language)
    target = settings.audience_target(site_id, Audience.MINISTRY_LIAISON)
    return lang_of(target.language if target is not None and target.language else settings.site(site_id).language)


@dataclass(frozen=True, slots=True)
class _Letter:
    """What one escalation document is about: the incident, its site, and the escalation step it is for."""

    site_id: str
    incident_id: int
    started_at: datetime
    step: datetime          # the latest escalation step fired (the incident's start before any)
    period: Period          # the report_runs key: (incident start, step)
    existing: RunRecord | None
    earlier: int = 0        # documents of earlier steps of this incident


def escalation_step(escalation: Mapping[str, object] | None, started_at: datetime) -> datetime:
    """The time of the latest escalation step that sends the letter (``incidents.escalation``: ``fired``
    holds ``"<step>:<audience>": time``, ``reports`` the audiences a letter goes to — alerts/escalation.py), or
    the incident's start when none has fired: one document per incident and step."""
    fired = (escalation or {}).get("fired")
    reports = (escalation or {}).get("reports")
    with_letter = set(reports) if isinstance(reports, dict) else set()
    times = [t for key, value in (fired.items() if isinstance(fired, dict) else ())
             if str(key).partition(":")[2] in with_letter and (t := parse_time(value)) is not None]
    return max(times, default=started_at)


def _letter(settings: Settings, incident_id: int, session: Session) -> _Letter:
    row = session.get(IncidentRow, incident_id)
    if row is None:
        raise ReportError(f"no incident #{incident_id}", permanent=True)
    step = max(escalation_step(row.escalation, row.started_at), row.started_at + timedelta(seconds=1))
    period = Period(row.started_at, step, settings.site(row.site_id).timezone, "range", f"incident-{incident_id}")
    earlier = session.scalar(select(func.count()).select_from(ReportRunRow).where(
        ReportRunRow.kind == "escalation", ReportRunRow.incident_id == incident_id, ReportRunRow.period_end < step))
    return _Letter(row.site_id, incident_id, row.started_at, step, period,
                   get_run(session, row.site_id, "escalation", period.start, period.end), int(earlier or 0))


def _letter_data(settings: Settings, letter: _Letter, now: datetime, running: bool | None,
                 session: Session) -> ReportData:
    row = session.get(IncidentRow, letter.incident_id)
    end = row.ended_at if row is not None and row.ended_at is not None else now
    stop = max(end, letter.started_at + timedelta(seconds=1))
    return load_report_data(session, settings, letter.site_id, letter.started_at - EVIDENCE_BEFORE,
                            stop + timedelta(seconds=1), now=now, running=running)


def _file_key(fmt: str, lang: Lang, main: Lang) -> str:
    return fmt if lang == main else f"{lang}:{fmt}"


def _reusable(letter: _Letter, lang: Lang, main: Lang) -> dict[str, Path] | None:
    """The files of this incident and step already made in ``lang`` (None when there are none)."""
    if letter.existing is None:
        return None
    files = {fmt: Path(p) for fmt in ("pdf", "html") if (p := letter.existing.files.get(_file_key(fmt, lang, main)))}
    return files if files and all(p.is_file() for p in files.values()) else None


def _escalation_render(settings: Settings, letter: _Letter, data: ReportData, now: datetime, out_dir: Path | None,
                       lang: Lang) -> render.Rendered:
    esc = escalation_figures(data, letter.incident_id, now)
    html = render.escalation_html(esc, settings.site(letter.site_id), lang)
    name = basename("escalation", letter.site_id, letter.period, lang, letter.incident_id)
    if letter.earlier:   # a later step's letter never replaces an earlier step's file
        name += f"-{letter.earlier + 1}"
    return render.write_files(report_dir(settings, out_dir, letter.site_id), name, ("pdf", "html"),
                              pdf_html=lambda: html, html_file=lambda: html, csv_bytes=None)


def _record_escalation(letter: _Letter, lang: Lang, main: Lang, now: datetime, files: Mapping[str, Path],
                       session: Session) -> int:
    merged = {k: Path(v) for k, v in (letter.existing.files if letter.existing else {}).items()}
    merged.update({_file_key(fmt, lang, main): path for fmt, path in files.items()})
    return record_run(session, site_id=letter.site_id, kind="escalation", period=letter.period, now=now,
                      files=merged, status=BUILT, incident_id=letter.incident_id)


def _chosen(files: Mapping[str, Path], formats: Sequence[str]) -> dict[str, Path]:
    wanted = [f for f in formats if f != "csv"] or ["pdf"]
    return {f: files[f] for f in wanted if f in files}


async def build_escalation_report(settings: Settings, db: Database, incident_id: int, now: datetime,
                                  out_dir: Path | None = None, *, language: str | None = None,
                                  formats: Sequence[str] = ("pdf",)) -> Path:
    """The escalation letter for one incident (the PDF's path), for the daemon (which is running).

    **One document per incident and escalation step, whoever asks for it**: the first request after a step
    fired renders the letter (PDF and HTML, one rendering) and records it in ``report_runs`` (kind
    ``escalation``, period = incident start .. step time); every later request for the same step gets the same
    files. Rendering runs in a worker thread. The alerting side receives this from the composition root as
    ``escalation_report(incident_id)`` (see :class:`ReportService`). :class:`ReportError` for an unknown
    incident."""
    letter = await db.run(lambda s: _letter(settings, incident_id, s), "reading the incident")
    main = _escalation_language(settings, letter.site_id, None)
    lang = _escalation_language(settings, letter.site_id, language)
    files = await asyncio.to_thread(_reusable, letter, lang, main)
    if files is None:
        data = await db.run(lambda s: _letter_data(settings, letter, now, True, s), "reading the incident")
        rendered = await asyncio.to_thread(_escalation_render, settings, letter, data, now, out_dir, lang)
        files = rendered.files
        await db.run(lambda s: _record_escalation(letter, lang, main, now, files, s), "recording the run")
    chosen = _chosen(files, parse_formats(formats, ("pdf",)))
    return chosen.get("pdf") or next(iter(chosen.values()))


def build_escalation_files(settings: Settings, db: Database, incident_id: int, now: datetime,
                           out_dir: Path | None = None, *, language: str | None = None,
                           formats: Sequence[str] = ("pdf",), running: bool | None = None) -> dict[str, Path]:
    """Synchronous :func:`build_escalation_report` for the CLI (the same document for the same step);
    returns the requested files."""
    letter = db.call(lambda s: _letter(settings, incident_id, s), "reading the incident")
    main = _escalation_language(settings, letter.site_id, None)
    lang = _escalation_language(settings, letter.site_id, language)
    files = _reusable(letter, lang, main)
    if files is None:
        data = db.call(lambda s: _letter_data(settings, letter, now, running, s), "reading the incident")
        files = _escalation_render(settings, letter, data, now, out_dir, lang).files
        db.call(lambda s: _record_escalation(letter, lang, main, now, files, s), "recording the run")
    return _chosen(files, parse_formats(formats, ("pdf",)))


# ---------------------------------------------------------------------------------------- for wiring


class ReportService:
    """The report callables the composition root hands to other parts, bound to one configuration:

    * ``escalation_report(incident_id) -> Path | None`` for ``alerts.service.build_alert_components``;
    * ``report_now(site_id) -> Path | None`` (this ISO week so far) for the Telegram ``/laporan`` command.
    """

    def __init__(self, settings: Settings, db: Database, clock: Clock, *, out_dir: Path | None = None) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.out_dir = out_dir

    async def reload(self, settings: Settings) -> None:
        self.settings = settings

    async def escalation_report(self, incident_id: int) -> Path | None:
        return await build_escalation_report(self.settings, self.db, incident_id, self.clock.now(), self.out_dir)

    async def report_now(self, site_id: str) -> Path | None:
        """This ISO week's report so far (figures up to now; not recorded as a run)."""
        now = self.clock.now()
        site = self.settings.site(site_id)
        period = week_of(now.astimezone(ZoneInfo(site.timezone)).date(), site.timezone)
        built = await build_report_async(self.settings, self.db, site_id, period, now, out_dir=self.out_dir,
                                         formats=("pdf",), record=False)
        return built.files.get("pdf")
