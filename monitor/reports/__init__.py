"""Reports: the weekly downtime report and the Ministry escalation letter.

Built from the record only — outages, incidents, maintenance, monitor gaps, evidence, acknowledgements
(never raw samples) — in four steps, each in its own module:

1. :mod:`~monitor.reports.data` reads a site's record into frozen values (the only database access);
2. :mod:`~monitor.reports.figures` (weekly) and :mod:`~monitor.reports.escalation` (one incident) compute
   every figure as pure functions of (data, period, now); the rules are in figures.py's docstring;
3. :mod:`~monitor.reports.charts` (matplotlib, Agg) and :mod:`~monitor.reports.render` (Jinja2 with
   StrictUndefined → HTML → PDF with WeasyPrint, offline) draw them, in Bahasa Indonesia or English
   (:mod:`~monitor.reports.i18n`, :mod:`~monitor.reports.narrative`); :mod:`~monitor.reports.csvout` writes
   the outage table for Excel;
4. :mod:`~monitor.reports.runner` builds files and records ``report_runs``; :mod:`~monitor.reports.schedule`
   (pure) says which weekly runs are due; :mod:`~monitor.reports.job` is the daemon component.

This package never imports ``alerts``: delivery is an injected ``deliver`` callable (the composition
root wires it to the outbox: ``monitor.commands.report.outbox_deliver``).

Wiring in the composition root::

    from monitor.commands.report import outbox_deliver
    from monitor.reports.job import WeeklyReportJob
    from monitor.reports.runner import ReportService

    reports = ReportService(settings, db, clock)
    alert_components = build_alert_components(settings, db, clock, notifier,
                                              escalation_report=reports.escalation_report,
                                              report_now=reports.report_now)
    weekly = WeeklyReportJob(settings, db, clock)            # a Component and Reloadable: pass it as an extra
    if settings.telegram.enabled:
        weekly.deliver = outbox_deliver(lambda: weekly.settings, db, clock)
"""

from __future__ import annotations

from monitor.reports.period import Period, day_range, parse_week, previous_week, week_of

__all__ = ["Period", "day_range", "parse_week", "previous_week", "week_of"]
