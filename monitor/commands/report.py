"""``ektp-monitor report``: build the weekly (or any period's) report, or an incident's escalation letter.

::

    ektp-monitor report -c FILE [--site ID ...] [--week 2026-W47 | --from DATE [--to DATE]]
                        [--format pdf,html,csv] [--out DIR] [--language id|en] [--send]
    ektp-monitor report -c FILE --incident ID [--format pdf,html] [--out DIR] [--language id|en] [--send]

Without a period: the last complete ISO week in each site's zone. ``--from``/``--to`` are whole local
days (``--to`` defaults to today). Every file written is printed, one path per line. ``--send`` puts the
PDF into the outbox for the site's weekly-report audiences (default head_of_office, ministry_liaison;
for ``--incident``: ministry_liaison) and sends what is due at once when Telegram is enabled; a running
monitor would send it too (idempotency keys: no duplicates).

This module is part of the composition root, so it may import ``alerts``: :func:`outbox_deliver` is the
``deliver`` callable the daemon's :class:`monitor.reports.job.WeeklyReportJob` needs.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from monitor.app import load_config, open_database
from monitor.clock import Clock, SystemClock
from monitor.domain import Audience
from monitor.errors import ReportError, UsageError
from monitor.reports.period import Period, day_range, parse_day, parse_week, previous_week
from monitor.reports.runner import (
    SENT,
    BuiltReport,
    Deliver,
    build_escalation_files,
    build_report,
    parse_formats,
    record_run,
)
from monitor.settings import Settings
from monitor.storage import Database
from monitor.storage.db import require_current_schema
from monitor.storage.models import IncidentRow

log = logging.getLogger(__name__)

EXIT_OK = 0


def outbox_deliver(settings: Settings | Callable[[], Settings], db: Database, clock: Clock) -> Deliver:
    """``deliver`` for the weekly job: one outbox row (kind ``report``, the PDF as a document) per audience
    that has a chat, with the idempotency key ``report:<site>:<weekly|adhoc>:<period>:<audience>``.
    ``settings`` may be a zero-argument callable (e.g. ``lambda: job.settings``) so a reload is seen."""
    from alerts.outbox import enqueue

    def current() -> Settings:
        return settings() if callable(settings) else settings

    async def deliver(site_id: str, audiences: tuple[Audience, ...], files: Mapping[str, Path], caption: str,
                      period: Period) -> None:
        document = files.get("pdf") or files.get("html")
        if document is None:
            raise ReportError("nothing to send: the report has no PDF", permanent=True)
        kind = "weekly" if period.kind == "week" else "adhoc"
        now = clock.now()
        path = str(document.resolve())

        def write(session: Session) -> int:
            queued = 0
            for audience in audiences:
                if current().audience_target(site_id, audience) is None:
                    log.warning("report %s %s: no chat for %s; not sent there", site_id, period.label, audience.value)
                    continue
                enqueue(session, key=f"report:{site_id}:{kind}:{period.label}:{audience.value}",
                        audience=audience, site_id=site_id, kind="report", now=now,
                        payload={"text": caption, "parse_mode": "HTML", "buttons": [], "document": path,
                                 "photo": None, "filename": document.name, "silent": False})
                queued += 1
            return queued

        await db.run(write, "queueing the report")

    return deliver


async def _deliver(settings: Settings, db: Database, clock: Clock, site_id: str, files: Mapping[str, Path],
                   caption: str, period: Period) -> None:
    audiences = tuple(settings.weekly_report_for(site_id).audiences)
    await outbox_deliver(settings, db, clock)(site_id, audiences, files, caption, period)


async def _send_now(settings: Settings, db: Database, clock: Clock) -> None:
    """Send what is due in the outbox now (the report just queued), when Telegram is enabled."""
    if not settings.telegram.enabled:
        return
    from alerts.service import make_dispatcher
    from alerts.telegram import TelegramNotifier

    notifier = TelegramNotifier.from_settings(settings)
    try:
        dispatcher = make_dispatcher(settings, db, clock, notifier)
        for _ in range(10):
            result = await dispatcher.run_once()
            if not (result.sent or result.rows_sent or result.failed or result.recovered):
                break
    finally:
        await notifier.close()


def _periods(args: argparse.Namespace, zone: str, now: datetime) -> Period:
    if args.date_to and not args.date_from:
        raise UsageError("--to needs --from")
    try:
        if args.week:
            return parse_week(args.week, zone)
        if args.date_from:
            first = parse_day(args.date_from)
            last = parse_day(args.date_to) if args.date_to else now.astimezone(ZoneInfo(zone)).date()
            return day_range(first, last, zone)
    except ReportError as exc:          # a malformed week or date, a range that ends before it starts
        raise UsageError(str(exc)) from None
    return previous_week(now, zone)


def _formats(text: str | None, default: Sequence[str]) -> tuple[str, ...]:
    try:
        return parse_formats(text, default)
    except ReportError as exc:
        raise UsageError(str(exc)) from None


def _print(files: Mapping[str, Path]) -> None:
    for path in files.values():
        print(path)


@dataclass(frozen=True, slots=True)
class _Request:
    """What the command line asks for, checked before anything is read or written (a usage error exits 2)."""

    sites: tuple[tuple[str, Period], ...]
    formats: tuple[str, ...]


def _request(args: argparse.Namespace, settings: Settings, now: datetime) -> _Request:
    if args.incident is not None:
        if args.week or args.date_from or args.date_to or args.site:
            raise UsageError("--incident cannot be combined with --site, --week, --from or --to")
        formats = _formats(args.format, ("pdf",))
        if not {"pdf", "html"} & set(formats):
            raise UsageError("the escalation letter is a PDF or HTML file: use --format pdf or html")
        return _Request((), formats)
    site_ids: Sequence[str] = args.site or [s.id for s in settings.sites]
    known = {s.id for s in settings.sites}
    unknown = [s for s in site_ids if s not in known]
    if unknown:
        raise UsageError(f"unknown site {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    formats = _formats(args.format, settings.reports.formats)
    if args.send and "pdf" not in formats:
        formats = (*formats, "pdf")
    periods = tuple((site_id, _periods(args, settings.site(site_id).timezone, now)) for site_id in site_ids)
    for _, period in periods:
        if period.start >= now:
            raise UsageError(f"the period {period.label} has not started yet")
    return _Request(periods, formats)


def main(args: argparse.Namespace, *, clock: Clock | None = None) -> int:
    settings = load_config(args.config)
    clock = clock or SystemClock()
    now = clock.now()
    request = _request(args, settings, now)
    engine = open_database(settings, create=False)        # a report reads the record: it never creates one
    db = Database(engine)
    try:
        require_current_schema(engine, args.config)
        out_dir = Path(args.out).resolve() if args.out else None
        if args.incident is not None:
            if not db.call(lambda s: s.get(IncidentRow, args.incident) is not None, "reading the incident"):
                raise UsageError(f"no incident #{args.incident}")
            files = build_escalation_files(settings, db, args.incident, now, out_dir, language=args.language,
                                           formats=request.formats)
            _print(files)
            if args.send:
                asyncio.run(_send_escalation(settings, db, clock, args.incident, files))
            return EXIT_OK
        for site_id, period in request.sites:
            built = build_report(settings, db, site_id, period, now, out_dir=out_dir, formats=request.formats,
                                 language=args.language, charts_in_child=True)
            log.info("report %s %s: %d pages in %.2f s", site_id, period.label, built.pages or 0, built.seconds)
            _print(built.files)
            if args.send:
                asyncio.run(_deliver(settings, db, clock, site_id, built.files, built.caption, period))
                sent = built

                def mark(session: Session, b: BuiltReport = sent) -> int:
                    return record_run(session, site_id=b.site_id, kind=b.kind, period=b.period, now=now,
                                      files=b.files, status=SENT)

                db.call(mark, "recording the report run")
        if args.send:
            asyncio.run(_send_now(settings, db, clock))
        return EXIT_OK
    finally:
        db.close()


async def _send_escalation(settings: Settings, db: Database, clock: Clock, incident_id: int,
                           files: Mapping[str, Path]) -> None:
    from alerts.outbox import enqueue

    document = files.get("pdf")
    if document is None:
        raise ReportError("--send needs the PDF (add pdf to --format)", permanent=True)
    now = clock.now()

    def write(session: Session) -> None:
        inc = session.get(IncidentRow, incident_id)
        if inc is None:
            raise ReportError(f"no incident #{incident_id}", permanent=True)
        # one row per request (minute resolution): asking again later sends the updated letter again
        stamp = now.strftime("%Y%m%dT%H%M")
        site_name = html.escape(settings.site(inc.site_id).name)
        enqueue(session, key=f"report:{inc.site_id}:escalation:{incident_id}:{stamp}",
                audience=Audience.MINISTRY_LIAISON, site_id=inc.site_id, kind="report", now=now,
                incident_id=incident_id,
                payload={"text": f"<b>Laporan eskalasi insiden #{incident_id}</b> · {site_name}", "parse_mode": "HTML",
                         "buttons": [], "document": str(document.resolve()), "photo": None,
                         "filename": document.name, "silent": False})

    await db.run(write, "queueing the escalation report")
    await _send_now(settings, db, clock)
