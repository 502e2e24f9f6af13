"""Time, injected.

Pure logic never reads the clock: the scheduler tick's ``now`` flows down as a parameter
(Alertmanager: "the now time we retrieve from the ticker is the only reliable point of time
reference"). Components that must wait take a :class:`Clock`; tests pass a fake one.

All datetimes in the project are timezone-aware UTC. Local time exists only at the edges
(messages, reports), through :func:`to_local` and :func:`zone_label`.

**Two clocks, one rule.** ``now()`` is the wall clock: it says *when* something happened, and it can be
stepped (NTP correcting a monitor PC whose clock was wrong at boot). ``monotonic()`` never jumps: every
duration and timeout the daemon measures — check budgets, rate limits, retry back-off, lease and circuit
timers, SNMP retries — is measured on it. ``boottime()`` is monotonic time that keeps counting while the
machine sleeps. :class:`StepWatch` compares the three between readings and names what happened
(:class:`ClockStep`): the wall clock stepped (the daemon re-expresses what it holds in the new wall time,
so outage durations stay equal to the monotonic span), or the machine was suspended (the monitor was
blind: a gap).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
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

    def boottime(self) -> float:
        """Seconds on a clock that never jumps and also counts the time the machine was suspended."""

    async def sleep(self, seconds: float) -> None:
        """Wait; a fake clock advances instead."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def boottime(self) -> float:
        return time.clock_gettime(_BOOTTIME) if _BOOTTIME is not None else time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


_BOOTTIME: int | None = getattr(time, "CLOCK_BOOTTIME", None)


def wall_at(clock: Clock, mono: float) -> datetime:
    """The monotonic instant ``mono`` in today's wall-clock time: whatever steps happened since, the result
    and ``clock.now()`` are exactly ``monotonic() - mono`` apart."""
    return clock.now() - timedelta(seconds=clock.monotonic() - mono)


STEP_TOLERANCE = 2.0
"""Seconds by which wall and monotonic progress may differ between two readings before it is a step. NTP
slews smaller errors (and slews the monotonic clock with the wall clock), so only steps are seen; the
margin covers a process descheduled between reading the clocks."""


@dataclass(frozen=True, slots=True)
class ClockStep:
    """Between two readings the wall clock advanced ``size_s`` more than the monotonic clock (negative: it
    went back) — an NTP step — and/or the machine slept for ``suspended_s`` (the monotonic clock stood
    still, boot time and the wall clock did not).

    ``before`` is the wall time the old clock would show at the detection, ``after`` the wall time read
    (``after - before == size_s + suspended_s``); ``mono`` the monotonic time of the detection."""

    before: datetime
    after: datetime
    mono: float
    size_s: float
    suspended_s: float = 0.0

    @property
    def stepped(self) -> bool:
        return abs(self.size_s) >= STEP_TOLERANCE

    @property
    def suspended(self) -> bool:
        return self.suspended_s >= STEP_TOLERANCE


class StepWatch:
    """Finds wall-clock steps and suspends by comparing successive readings of a :class:`Clock` (see the
    module docstring). Every caller of :meth:`observe` shares one history, so the first reading after a step
    finds it, whoever takes it; found steps wait in :meth:`take` for the one consumer that applies them in
    order (the daemon's pipeline), which calls :meth:`done` once the record is corrected, and ``listeners``
    are told at once (the scheduler re-plans).

    Whoever decides by wall-clock times that the record also holds (the alert router, dispatcher and
    escalation tick) asks :meth:`settled` first, and waits while a step is found but not yet corrected in
    the record: between the two, "now" and the stored times are on different clocks — an incident would
    look three hours old and be escalated, a queued alert a day overdue and merged into a digest."""

    def __init__(self, clock: Clock, tolerance: float = STEP_TOLERANCE) -> None:
        self.clock = clock
        self.tolerance = tolerance
        self.steps: list[ClockStep] = []
        self.listeners: list[Callable[[ClockStep], None]] = []
        self._pending: list[ClockStep] = []
        self._applying: list[ClockStep] = []
        self._last: tuple[datetime, float, float] | None = None

    def observe(self) -> ClockStep | None:
        """Read the clocks; the step or suspend since the previous reading, or None."""
        mono, boot, wall = self.clock.monotonic(), self.clock.boottime(), self.clock.now()
        last, self._last = self._last, (wall, mono, boot)
        if last is None:
            return None
        step = compare(last, (wall, mono, boot), self.tolerance)
        if step is None:
            return None
        self.steps.append(step)
        self._pending.append(step)
        for listener in list(self.listeners):
            listener(step)
        return step

    def take(self) -> list[ClockStep]:
        """Steps found and not yet applied (oldest first); taking them empties the list."""
        out, self._pending = self._pending, []
        self._applying.extend(out)
        return out

    def done(self, step: ClockStep) -> None:
        """``step`` is corrected in the record."""
        if step in self._applying:
            self._applying.remove(step)

    def settled(self) -> bool:
        """True when every step found so far (this reading included) is corrected in the record."""
        self.observe()
        return not self._pending and not self._applying


def compare(last: tuple[datetime, float, float], now: tuple[datetime, float, float],
            tolerance: float = STEP_TOLERANCE) -> ClockStep | None:
    """The :class:`ClockStep` between two readings ``(wall, monotonic, boottime)``, or None (pure)."""
    (w1, m1, b1), (w2, m2, b2) = last, now
    mono_adv = m2 - m1
    suspended = max(0.0, (b2 - b1) - mono_adv)
    size = (w2 - w1).total_seconds() - mono_adv - suspended
    if abs(size) < tolerance and suspended < tolerance:
        return None
    return ClockStep(before=w1 + timedelta(seconds=mono_adv), after=w2, mono=m2, size_s=size,
                     suspended_s=suspended if suspended >= tolerance else 0.0)


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
