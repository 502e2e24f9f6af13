"""The monitor watching itself: heartbeat, the gaps when it was not running, and clock jumps.

The honest record needs to know when *we* were blind. A heartbeat row (``heartbeats``, one per
monitor name) is written every ``monitor.heartbeat_interval``. On start, the time since the last sign
of life — the later of the last heartbeat and the last check result — is a **monitor gap**
(``monitor_gaps``) when it is longer than two heartbeat intervals:

* ``host_rebooted`` when the machine booted after the last heartbeat (``psutil.boot_time()``): the
  monitor's own host lost power or was restarted — in an office that usually means the whole site lost
  power, which is itself evidence for the cause of the outages found afterwards;
* ``process_stopped`` otherwise (the service was stopped, crashed, or was killed).

Devices are *not monitored* during a gap: their status is shown ``unknown`` until their first result
after the start, never assumed up. An outage open before the gap keeps running (it is still one
outage) and the gap is written into it (``outages.gaps``); if the device is found up after the gap, the
outage closes at the first good check of the confirmed recovery — we did not see it recover earlier —
and its ``gaps``/``gap_s`` say how much of its duration was not monitored (see
docs/decisions/0003-detection-engine.md).

**Clock steps** are not this module's: the pipeline's :class:`~monitor.clock.StepWatch` finds them and
:mod:`monitor.daemon.clocksteps` keeps the record straight (a step re-expresses what spans it on the new
clock; only a suspend — time the monitor really did not watch — becomes a gap with reason ``clock_jump``,
through :func:`record_gap` here). The heartbeat always writes the current wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.clock import Clock, utc
from monitor.daemon.recorder import Recorder
from monitor.engine.causes import Gap
from monitor.engine.state import World, mark_gap
from monitor.events import EventKind
from monitor.lifecycle import TaskComponent
from monitor.storage.models import DeviceStateRow, EventRow, HeartbeatRow, MonitorGapRow

log = logging.getLogger(__name__)


def host_boot_time() -> datetime:
    """When the monitor's own machine booted (psutil)."""
    return datetime.fromtimestamp(psutil.boot_time(), UTC)


def gap_threshold(interval: timedelta) -> timedelta:
    """Silence longer than this is a gap: two missed heartbeats (and at least 3 s)."""
    return max(2 * interval, timedelta(seconds=3))


def detect_gap(last_beat: datetime | None, last_activity: datetime | None, boot_time: datetime | None,
               now: datetime, interval: timedelta) -> Gap | None:
    """The gap between the last sign of life and ``now`` (pure). None on a first start, for a silence
    shorter than :func:`gap_threshold`, or when the wall clock is behind the last heartbeat."""
    if last_beat is None:
        return None
    start = max(utc(last_beat), utc(last_activity)) if last_activity is not None else utc(last_beat)
    if now - start <= gap_threshold(interval):
        return None
    rebooted = boot_time is not None and utc(boot_time) > utc(last_beat)
    return Gap(start, utc(now), "host_rebooted" if rebooted else "process_stopped", boot_time)


def record_gap(session: Session, recorder: Recorder, gap: Gap, world: World, now: datetime) -> list[int]:
    """Write a gap (row, event, and into every outage open across it); returns the outages' ids."""
    session.add(MonitorGapRow(started_at=gap.started_at, ended_at=gap.ended_at, reason=gap.reason,
                              boot_time=gap.boot_time, detected_at=now))
    ids = recorder.add_gap(session, gap, world, now)
    session.add(EventRow(time=now, kind=EventKind.MONITOR_GAP.value, payload={
        "started_at": _z(gap.started_at), "ended_at": _z(gap.ended_at),
        "duration_s": round((gap.ended_at - gap.started_at).total_seconds(), 3), "reason": gap.reason,
        "boot_time": _z(gap.boot_time) if gap.boot_time else None,
        "probable_power_loss": gap.reason == "host_rebooted", "outage_ids": ids}))
    return ids


def _z(t: datetime | None) -> str | None:
    return None if t is None else utc(t).isoformat().replace("+00:00", "Z")


def start_up(session: Session, recorder: Recorder, world: World, *, now: datetime, boot_time: datetime | None,
             interval: timedelta, name: str = "monitor", version: str = "", pid: int | None = None) \
        -> tuple[World, Gap | None]:
    """On daemon start (one transaction): detect and record the gap since the last run, mark every
    device not monitored, write the first heartbeat and a ``monitor_started`` event."""
    hb = session.get(HeartbeatRow, name)
    last_activity = session.scalars(select(func.max(DeviceStateRow.last_check_at))).first()
    last_activity = utc(last_activity) if last_activity is not None else None
    gap = detect_gap(hb.beat_at if hb else None, last_activity, boot_time, now, interval)
    if hb is not None and hb.beat_at > now + gap_threshold(interval):
        log.warning("the wall clock (%s) is %.0fs behind the last heartbeat (%s): it was stepped back",
                    _z(now), (hb.beat_at - now).total_seconds(), _z(hb.beat_at))
    if gap is not None:
        ids = record_gap(session, recorder, gap, world, now)
        log.warning("monitor gap %s .. %s (%s, %.0fs)%s", _z(gap.started_at), _z(gap.ended_at), gap.reason,
                    (gap.ended_at - gap.started_at).total_seconds(),
                    f"; inside open outages {ids}" if ids else "")
        world = mark_gap(world)
        recorder.save_states(session, world.devices.values(), now)
    if hb is None:
        hb = HeartbeatRow(name=name)
        session.add(hb)
    hb.beat_at, hb.started_at, hb.boot_time = now, now, boot_time
    hb.pid, hb.version = pid if pid is not None else os.getpid(), version[:32]
    session.add(EventRow(time=now, kind=EventKind.MONITOR_STARTED.value,
                         payload={"version": version, "pid": hb.pid,
                                  "gap": None if gap is None else {"started_at": _z(gap.started_at),
                                                                   "ended_at": _z(gap.ended_at),
                                                                   "reason": gap.reason}}))
    return world, gap


def beat(session: Session, name: str, now: datetime) -> None:
    hb = session.get(HeartbeatRow, name)
    if hb is not None:
        hb.beat_at = now  # the current wall clock, even after a step back: the next start compares with it


class SelfWatch(TaskComponent):
    """The heartbeat task (a :class:`monitor.lifecycle.Component`): writes ``heartbeats`` every ``interval``.

    ``run_in_order`` runs a ``fn(session, world)`` in one transaction in order with the record (the
    pipeline's :meth:`~monitor.daemon.pipeline.Pipeline.call`, which also applies clock steps first).
    """

    name = "selfwatch"

    def __init__(self, run_in_order: Callable[[Callable[[Session, World], Any]], Any], clock: Clock, *,
                 interval: timedelta, monitor_name: str = "monitor") -> None:
        self._run = run_in_order
        self.clock = clock
        self.interval = interval
        self.monitor_name = monitor_name
        self._task: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        await super().stop()
        now = self.clock.now()
        with contextlib.suppress(Exception):
            await self._run(lambda s, _w: beat(s, self.monitor_name, now))

    async def _loop(self) -> None:
        while True:
            await self.clock.sleep(self.interval.total_seconds())
            try:
                await self.beat_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("heartbeat not written: %s", exc)

    async def beat_once(self) -> None:
        """Write the heartbeat (in order with the record: a clock step found meanwhile is applied first)."""
        await self._run(lambda s, _w: beat(s, self.monitor_name, self.clock.now()))
