"""Report periods: an ISO week or a range of whole days, in a site's local time.

A :class:`Period` is a half-open interval ``[start, end)`` of aware UTC datetimes that starts and ends
at local midnight of the site's zone (WIB/WITA/WIT have no daylight saving, so every such week is
exactly 7 × 24 h long; the arithmetic below does not rely on that). Its ``label`` names it in file
names and in ``report_runs`` (``2026-W47``, or ``2026-11-01_2026-11-30`` for a range).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from monitor.errors import ReportError

PeriodKind = Literal["week", "range"]

_WEEK_RE = re.compile(r"^\s*(\d{4})-?[Ww](\d{1,2})\s*$")


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in UTC, aligned to local midnights of ``zone``."""

    start: datetime
    end: datetime
    zone: str
    kind: PeriodKind
    label: str

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("Period needs aware datetimes")
        if self.end <= self.start:
            raise ValueError("Period end must be after its start")

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def first_day(self) -> date:
        """The first local calendar day of the period."""
        return self.start.astimezone(ZoneInfo(self.zone)).date()

    @property
    def last_day(self) -> date:
        """The last local calendar day of the period (inclusive)."""
        return (self.end.astimezone(ZoneInfo(self.zone)) - timedelta(microseconds=1)).date()

    @property
    def iso_week(self) -> tuple[int, int] | None:
        """(year, week) for a week period, else None."""
        if self.kind != "week":
            return None
        iso = self.first_day.isocalendar()
        return iso.year, iso.week

    def previous(self) -> Period:
        """The period of the same kind and length immediately before this one (for the trend)."""
        if self.kind == "week":
            return week_of(self.first_day - timedelta(days=7), self.zone)
        days = (self.last_day - self.first_day).days + 1
        return day_range(self.first_day - timedelta(days=days), self.first_day - timedelta(days=1), self.zone)


def _local_midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def week_of(day: date, zone: str) -> Period:
    """The ISO week (Monday 00:00 to the next Monday 00:00, local) that contains ``day``."""
    monday = day - timedelta(days=day.weekday())
    iso = monday.isocalendar()
    return Period(_local_midnight(monday, zone), _local_midnight(monday + timedelta(days=7), zone), zone,
                  "week", f"{iso.year}-W{iso.week:02d}")


def parse_week(text: str, zone: str) -> Period:
    """``2026-W47`` (also ``2026W47``, ``2026-w47``) as a week of the site's zone."""
    m = _WEEK_RE.match(text)
    if not m:
        raise ReportError(f"invalid week {text!r}: use YYYY-Www, e.g. 2026-W47", permanent=True)
    try:
        monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise ReportError(f"invalid week {text!r}: year {m[1]} has no week {int(m[2])}", permanent=True) from None
    return week_of(monday, zone)


def day_range(first: date, last: date, zone: str) -> Period:
    """Whole local days ``first`` .. ``last`` inclusive."""
    if last < first:
        raise ReportError(f"the period ends ({last}) before it starts ({first})", permanent=True)
    label = f"{first.isoformat()}_{last.isoformat()}"
    return Period(_local_midnight(first, zone), _local_midnight(last + timedelta(days=1), zone), zone,
                  "range", label)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"invalid date {text!r}: use YYYY-MM-DD", permanent=True) from None


def previous_week(now: datetime, zone: str) -> Period:
    """The last complete ISO week before ``now`` in the site's zone."""
    today = now.astimezone(ZoneInfo(zone)).date()
    return week_of(today - timedelta(days=7), zone)
