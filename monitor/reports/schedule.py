"""Which weekly reports are due (pure: every function takes ``now``).

Each site has a weekly fire time in its own zone (``reports.weekly`` or the site's ``weekly_report``:
default Monday 07:00). A fire builds the report of the **last complete ISO week** before it (for the
default, the week that ended 7 hours earlier) and delivers it.

Rules:

* A run is *due* for a site when the latest fire time at or before ``now`` has passed and the report of
  its week is not yet done (``done`` holds ``(site_id, period_start)`` of finished runs; the job counts a
  run finished once it is sent, or once built when nothing is to be sent).
* **Missed runs are made up once**: the monitor was off at Monday 07:00 and starts on Tuesday → the latest
  fire (Monday 07:00) is in the past and its week not done → due now, once; after it is recorded in
  ``report_runs`` it is never due again (``report_runs`` is unique per (site, kind, period), so it is also
  never built twice). Only the latest missed week is made up (after a month off the office gets last
  week's report, not four stale ones; older weeks can be built with ``ektp-monitor report --week``).
* A week that ended before monitoring began (a new installation) is never due: its report would be
  entirely "not monitored".
* ``enabled: false`` turns a site's weekly report off.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.reports.period import Period, previous_week
from monitor.settings import Settings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """One site's weekly report time: ``weekday`` (0 = Monday) at ``at``, local to ``zone``."""

    site_id: str
    zone: str
    weekday: int
    at: time
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class DueRun:
    site_id: str
    period: Period
    fire: datetime          # the scheduled time it belongs to (aware UTC)


def schedules(settings: Settings) -> list[WeeklySchedule]:
    """The weekly schedule of every configured site."""
    out = []
    for site in settings.sites:
        cfg = settings.weekly_report_for(site.id)
        out.append(WeeklySchedule(site.id, site.timezone, DAYS.index(cfg.day), cfg.time, cfg.enabled))
    return out


def last_fire(s: WeeklySchedule, now: datetime) -> datetime:
    """The latest scheduled time at or before ``now`` (aware UTC)."""
    tz = ZoneInfo(s.zone)
    local = now.astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - s.weekday) % 7)
    fire = datetime.combine(day, s.at, tzinfo=tz)
    if fire > local:
        fire -= timedelta(days=7)
    return fire.astimezone(UTC)


def next_fire(s: WeeklySchedule, now: datetime) -> datetime:
    """The first scheduled time strictly after ``now`` (aware UTC)."""
    fire = last_fire(s, now)
    tz = ZoneInfo(s.zone)
    local = fire.astimezone(tz)
    return datetime.combine(local.date() + timedelta(days=7), s.at, tzinfo=tz).astimezone(UTC)


def period_of_fire(s: WeeklySchedule, fire: datetime) -> Period:
    """The ISO week a fire reports on: the last complete week before it."""
    return previous_week(fire, s.zone)


def due_runs(scheds: Iterable[WeeklySchedule], done: Collection[tuple[str, datetime]], now: datetime, *,
             monitoring_since: datetime | None = None) -> list[DueRun]:
    """The weekly runs to make now (see the module docstring)."""
    out = []
    for s in scheds:
        if not s.enabled:
            continue
        fire = last_fire(s, now)
        period = period_of_fire(s, fire)
        if monitoring_since is not None and period.end <= monitoring_since:
            continue
        if (s.site_id, period.start) not in done:
            out.append(DueRun(s.site_id, period, fire))
    return out


def next_wakeup(scheds: Iterable[WeeklySchedule], now: datetime) -> datetime | None:
    """When the next fire of any enabled site is due (None when none is enabled)."""
    fires = [next_fire(s, now) for s in scheds if s.enabled]
    return min(fires) if fires else None
