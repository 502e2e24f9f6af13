"""Maintenance windows: when an outage is planned (pure; ``t`` is always passed in).

Three sources, one question — "is device D of site S inside a maintenance window at time t?":

* **one-off** windows from the config (``start``/``end``; a time without an offset is the site's
  local time);
* **recurring** windows from the config: a standard 5-field crontab expression evaluated in the
  site's zone (``0 22 * * fri`` = every Friday 22:00 WIB for a Jakarta site), each occurrence lasting
  ``duration``. Weekday numbers follow crontab (0 or 7 = Sunday), not APScheduler 3's 0 = Monday;
  as in APScheduler, a day-of-month and a weekday restriction must both hold;
* **ad hoc** rows of the ``maintenance`` table with ``kind = "maintenance"`` (set from Telegram or the
  CLI; not cancelled). Rows with ``kind = "mute"`` only silence alerts; they do not make an outage
  planned, and are ignored here.

An outage is *planned* when its first failed check lies inside a window that covers the device (a
window without devices covers the whole site). It stops being planned when the window ends and the
device is still down (see :mod:`monitor.daemon.recorder`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.clock import utc

_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Window:
    """One concrete maintenance period."""

    site: str
    devices: frozenset[str]         # empty: the whole site
    starts_at: datetime
    ends_at: datetime
    reason: str
    source: str                     # "config:<id or index>" or "adhoc:<row id>"

    def covers(self, device: str, t: datetime) -> bool:
        return (not self.devices or device in self.devices) and self.starts_at <= utc(t) < self.ends_at


@dataclass(frozen=True, slots=True)
class ConfigWindow:
    """A window from the config, compiled (cron parsed) for one site."""

    site: str
    devices: frozenset[str]
    reason: str
    source: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    trigger: Any = None             # apscheduler CronTrigger for recurring windows
    duration: timedelta | None = None

    def occurrence_at(self, t: datetime) -> Window | None:
        """The occurrence of this window that contains ``t``, if any."""
        t = utc(t)
        if self.trigger is None:
            assert self.starts_at is not None and self.ends_at is not None
            if self.starts_at <= t < self.ends_at:
                return Window(self.site, self.devices, self.starts_at, self.ends_at, self.reason, self.source)
            return None
        assert self.duration is not None
        fire = self.trigger.get_next_fire_time(None, t - self.duration + timedelta(microseconds=1))
        if fire is None:
            return None
        start = utc(fire)
        if start <= t < start + self.duration:
            return Window(self.site, self.devices, start, start + self.duration, self.reason, self.source)
        return None


def crontab_weekdays(field: str) -> str:
    """Translate crontab weekday numbers (0/7 = Sunday) into names APScheduler 3 reads unambiguously."""
    return re.sub(r"\d+", lambda m: _DOW_NAMES[int(m.group())] if int(m.group()) <= 7 else m.group(), field)


def parse_cron(expr: str, zone: str) -> Any:
    """A CronTrigger for a 5-field crontab expression in ``zone``; ValueError with a readable message."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expr!r} must have 5 fields: minute hour day month weekday")
    minute, hour, day, month, dow = fields
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=crontab_weekdays(dow),
                           timezone=ZoneInfo(zone))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid cron {expr!r}: {exc}") from None


def _aware(dt: datetime, zone: str) -> datetime:
    return utc(dt.replace(tzinfo=ZoneInfo(zone)) if dt.tzinfo is None else dt)


def compile_site(site: Any) -> list[ConfigWindow]:
    """The config windows of one :class:`monitor.settings.Site` (raises ValueError on a bad cron)."""
    out: list[ConfigWindow] = []
    for i, win in enumerate(site.maintenance):
        source = f"config:{win.id or i}"
        devices = frozenset(win.devices)
        if win.cron is not None:
            out.append(ConfigWindow(site.id, devices, win.reason, source, trigger=parse_cron(win.cron, site.timezone),
                                    duration=win.duration))
        else:
            out.append(ConfigWindow(site.id, devices, win.reason, source, starts_at=_aware(win.start, site.timezone),
                                    ends_at=_aware(win.end, site.timezone)))
    return out


def validate_settings(settings: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Config check for :func:`monitor.settings.load_settings` ``extra_checks``: every cron parses."""
    for si, site in enumerate(settings.sites):
        for mi, win in enumerate(site.maintenance):
            if win.cron is not None:
                try:
                    parse_cron(win.cron, site.timezone)
                except ValueError as exc:
                    yield ("sites", si, "maintenance", mi, "cron"), str(exc)


class Calendar:
    """All maintenance windows of a configuration plus the current ad-hoc ones."""

    def __init__(self, settings: Any) -> None:
        self._config: dict[str, list[ConfigWindow]] = {s.id: compile_site(s) for s in settings.sites}

    def active(self, site: str, device: str, t: datetime, adhoc: Iterable[Window] = ()) -> list[Window]:
        """Windows covering ``device`` at ``t`` (config first, then ad hoc)."""
        found: list[Window] = []
        for cw in self._config.get(site, ()):
            if cw.devices and device not in cw.devices:
                continue
            occ = cw.occurrence_at(t)
            if occ is not None:
                found.append(occ)
        found.extend(w for w in adhoc if w.site == site and w.covers(device, t))
        return found

    def planned(self, site: str, device: str, t: datetime, adhoc: Sequence[Window] = ()) -> Window | None:
        """The window that makes an outage starting at ``t`` planned, or None."""
        windows = self.active(site, device, t, adhoc)
        return windows[0] if windows else None
