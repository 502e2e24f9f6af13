"""Shared test doubles for pure logic (aesthetics-anchors §7): a fake clock, a scripted check, recording
and failing notifiers, and small builders for results and observations.

Fakes stand in only where the logic under test is pure; everything with I/O is tested against real
components (agents on loopback, real SQLite files).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from monitor.domain import (
    CheckResult,
    Delivery,
    Device,
    MetricValue,
    Observation,
    ObservationKind,
    OutgoingMessage,
    ReasonCode,
    Status,
)

T0 = datetime(2026, 11, 23, 1, 0, 0, tzinfo=UTC)
"""A Monday, 08:00 WIB."""

_DEFAULT_REASON = {
    Status.DEGRADED: ("packet loss 33%", ReasonCode.LOSS),
    Status.DOWN: ("timeout", ReasonCode.TIMEOUT),
    Status.UNKNOWN: ("authentication failed", ReasonCode.AUTH_FAILED),
}


class FakeClock:
    """A clock that only moves when told (or when something sleeps on it)."""

    def __init__(self, start: datetime = T0) -> None:
        self._now = start
        self._mono = 1000.0
        self._suspended = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def boottime(self) -> float:
        return self._mono + self._suspended

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        self._mono += max(0.0, seconds)
        return self._now

    def set(self, when: datetime) -> datetime:
        """Move to wall time ``when`` as time passing would (the monotonic clock moves along); moving back is
        a wall-clock step."""
        return self.advance((when - self._now).total_seconds())

    def jump(self, seconds: float) -> datetime:
        """Step the wall clock only (an NTP step); the monotonic clock does not move."""
        self._now += timedelta(seconds=seconds)
        return self._now

    def suspend(self, seconds: float) -> datetime:
        """The machine sleeps: the wall clock and boot time move on, the monotonic clock stands still."""
        self._now += timedelta(seconds=seconds)
        self._suspended += seconds
        return self._now


def obs(kind: ObservationKind, t: datetime, text: str = "", source: str = "poll",
        **values: MetricValue) -> Observation:
    return Observation(time=t, kind=kind, text=text or kind.value.replace("_", " "), source=source, values=values)


def result(check: str, status: Status, t: datetime, *, reason: str | None = None,
           code: ReasonCode | None = None, type: str | None = None,
           observations: Iterable[Observation] = (), metrics: Mapping[str, MetricValue] | None = None) -> CheckResult:
    """A CheckResult with a plausible reason when not up."""
    if status is not Status.UP and reason is None:
        reason, default_code = _DEFAULT_REASON.get(status, ("failed", ReasonCode.TIMEOUT))
        code = code or default_code
    return CheckResult(check=check, type=type or check.split(":")[0], status=status, time=t,
                       reason=reason if status is not Status.UP else None,
                       reason_code=code if status is not Status.UP else None,
                       observations=tuple(observations), metrics=dict(metrics or {}))


ScriptItem = Status | CheckResult | BaseException | str


class FakeCheck:
    """A check that plays a script: a Status (a result at ``now``), a ready CheckResult, an exception to
    raise, or ``"hang"`` (never returns, for the runner's timeout). The last item repeats."""

    kind: ClassVar[str] = "fake"

    def __init__(self, script: Sequence[ScriptItem], key: str = "fake") -> None:
        if not script:
            raise ValueError("FakeCheck needs at least one script item")
        self.script = list(script)
        self.key = key
        self.calls: list[datetime] = []
        self._i = itertools.count()
        self.restored: Mapping[str, MetricValue] | None = None

    def restore(self, metrics: Mapping[str, MetricValue]) -> None:
        self.restored = dict(metrics)

    async def run(self, device: Device, *, now: datetime) -> CheckResult:
        self.calls.append(now)
        i = next(self._i)
        item = self.script[min(i, len(self.script) - 1)]
        if isinstance(item, BaseException):
            raise item
        if item == "hang":
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")
        if isinstance(item, CheckResult):
            return item
        assert isinstance(item, Status)
        return result(self.key, item, now, type="fake")


@dataclass
class RecordingNotifier:
    """Records every message; returns increasing message ids."""

    name: ClassVar[str] = "recording"
    sent: list[OutgoingMessage] = field(default_factory=list)

    async def send(self, message: OutgoingMessage) -> Delivery:
        self.sent.append(message)
        return Delivery(message_id=len(self.sent), chat_id=message.chat_id)


@dataclass
class BoomNotifier:
    """Raises ``error`` on every send (after recording the attempt)."""

    error: BaseException
    name: ClassVar[str] = "boom"
    attempts: list[OutgoingMessage] = field(default_factory=list)

    async def send(self, message: OutgoingMessage) -> Delivery:
        self.attempts.append(message)
        raise self.error
