"""The weekly report job: a daemon component (:class:`monitor.lifecycle.Component`, also Reloadable).

On start it makes up a missed run at once (the monitor was off at Monday 07:00), then sleeps until the
next site's fire time (at most ``max_sleep`` at a time, so a clock change or a reload is noticed) and
runs whatever :func:`monitor.reports.schedule.due_runs` says is due. Each run is
:func:`monitor.reports.runner.run_weekly`: build once, deliver through the injected ``deliver``, record
in ``report_runs``. A run that failed (a build error, the outbox unreachable) is tried again on the next
wake-up, never more often than ``retry_after``.

``deliver`` is injected by the composition root (this package must not import ``alerts``); without it
(Telegram disabled) reports are built and recorded, and a run counts as done once built.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

from monitor.clock import Clock
from monitor.lifecycle import TaskComponent
from monitor.reports import schedule
from monitor.reports.runner import BUILT, SENT, Deliver, WeeklyOutcome, finished_weekly, monitoring_since, run_weekly
from monitor.settings import Settings
from monitor.storage import Database

log = logging.getLogger(__name__)


class WeeklyReportJob(TaskComponent):
    """Builds and delivers each site's weekly report at its local time (see the module docstring)."""

    name = "reports.weekly"

    def __init__(self, settings: Settings, db: Database, clock: Clock, *, deliver: Deliver | None = None,
                 out_dir: Path | None = None, max_sleep: float = 3600.0,
                 retry_after: timedelta = timedelta(minutes=15)) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.deliver = deliver
        self.out_dir = out_dir
        self.max_sleep = max_sleep
        self.retry_after = retry_after
        self._task: asyncio.Task[None] | None = None
        self._failed_at: dict[tuple[str, datetime], datetime] = {}

    async def reload(self, settings: Settings) -> None:
        self.settings = settings

    async def run_due(self, now: datetime) -> list[WeeklyOutcome]:
        """Run every weekly report due at ``now`` (one at a time: rendering is CPU-bound)."""
        done_statuses = (SENT,) if self.deliver is not None else (BUILT, SENT)
        done = await self.db.run(lambda s: finished_weekly(s, done_statuses), "reading report runs")
        since = await self.db.run(monitoring_since, "reading the first monitor start")
        out: list[WeeklyOutcome] = []
        for due in schedule.due_runs(schedule.schedules(self.settings), done, now, monitoring_since=since):
            key = (due.site_id, due.period.start)
            failed = self._failed_at.get(key)
            if failed is not None and now - failed < self.retry_after:
                continue
            try:
                outcome = await run_weekly(self.settings, self.db, due.site_id, due.period, now,
                                           deliver=self.deliver, out_dir=self.out_dir)
            except Exception as exc:  # one site's failure never stops the others, nor the job
                self._failed_at[key] = now
                log.error("weekly report %s %s failed: %s", due.site_id, due.period.label, exc)
                continue
            self._failed_at.pop(key, None)
            log.info("weekly report %s %s %s: %s", due.site_id, due.period.label, outcome.status,
                     ", ".join(str(p) for p in outcome.files.values()))
            out.append(outcome)
        return out

    def seconds_until_next(self, now: datetime) -> float:
        wake = schedule.next_wakeup(schedule.schedules(self.settings), now)
        delay = self.max_sleep if wake is None else (wake - now).total_seconds()
        if self._failed_at:
            delay = min(delay, self.retry_after.total_seconds())
        return max(1.0, min(delay, self.max_sleep))

    async def _loop(self) -> None:
        while True:
            now = self.clock.now()
            try:
                await self.run_due(now)
            except Exception as exc:  # the database is unavailable: try again later
                log.error("weekly reports: %s", exc)
            await self.clock.sleep(self.seconds_until_next(self.clock.now()))
