"""Time, injected.

Pure logic never reads the clock: the scheduler tick's ``now`` flows down as a parameter
(Alertmanager: "the now time we retrieve from the ticker is the only reliable point of time
reference"). Components that must wait take a :class:`Clock`; tests pass a fake one.

All datetimes in the project are timezone-aware UTC. Local time exists only at the edges
(messages, reports), through :func:`to_local` and :func:`zone_label`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

_ZONE_LABELS = {
    "Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB",
    "Asia/Makassar": "WITA", "Asia/Ujung_Pandang": "WITA",
    "Asia/Jayapura": "WIT",
}


class Clock(Protocol):
    """Source of time for everything that is not pure."""

    def now(self) -> datetime:
        """Current wall-clock time, aware, UTC."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (for timeouts and rate limits)."""

    async def sleep(self, seconds: float) -> None:
        """Wait; a fake clock advances instead."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as aware UTC; a naive value is taken to be UTC already (database convention)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def to_local(dt: datetime, zone: str) -> datetime:
    """``dt`` in the site's zone (e.g. ``Asia/Makassar``)."""
    return utc(dt).astimezone(ZoneInfo(zone))


def zone_label(zone: str) -> str:
    """Indonesian zone abbreviation (WIB/WITA/WIT) for a tz name, else the UTC offset like ``UTC+07:00``."""
    label = _ZONE_LABELS.get(zone)
    if label:
        return label
    offset = datetime.now(ZoneInfo(zone)).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def format_local(dt: datetime, zone: str, fmt: str = "%d-%m-%Y %H:%M") -> str:
    """``dt`` formatted in the site's zone followed by its label, e.g. ``28-11-2026 15:02 WIB``."""
    return f"{to_local(dt, zone).strftime(fmt)} {zone_label(zone)}"
