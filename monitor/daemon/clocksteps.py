"""Keeping the record straight when the wall clock is stepped or the machine sleeps (issue 13).

The pipeline owns a :class:`monitor.clock.StepWatch` and, before each batch it writes, applies every step
found since the last one — in order with the record, so no result is ever applied against state read on
another clock. For each :class:`~monitor.clock.ClockStep`:

* **a wall-clock step** (NTP) of ``delta`` is not time the monitor missed: it was running all along. So
  nothing becomes a gap; instead everything that spans the step is re-expressed on the new clock — the
  engine's state (:func:`monitor.engine.timeshift.shift_world`) and, in one transaction
  (:func:`record_step`), the rows that mirror it: open outages (start, confirmation, timeline, the gaps
  inside them), open incidents, device states, the evidence of the last :data:`EVIDENCE_LOOKBACK` (cause
  inference compares it with outage starts), the outbox rows still waiting (their due time, event time and
  claims keep their meaning), the events not yet routed, and active ad-hoc mutes (a "2 h" mute stays 2 h).
  Until that transaction is committed the alerting side waits (:meth:`monitor.clock.StepWatch.settled`).
  An outage open across the step then lasts exactly its monotonic span; one ``clock_step`` event records the
  step with its size and what was corrected.
* **a suspend** (the monotonic clock stood still while boot time ran on) *is* time the monitor was blind:
  a monitor gap with reason ``clock_jump``, as before.

History that no longer spans anything (closed outages, sent messages, gaps) keeps the times it was
recorded with: which clock was right is not knowable here, and the event says when and by how much it moved.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.clock import ClockStep, StepWatch, utc
from monitor.daemon.recorder import Recorder
from monitor.daemon.selfwatch import record_gap
from monitor.engine.causes import Gap
from monitor.engine.state import World
from monitor.events import EventKind
from monitor.lifecycle import TaskComponent
from monitor.storage.models import EventRow, EvidenceRow, IncidentRow, MaintenanceRow, OutageRow, OutboxRow

log = logging.getLogger(__name__)

__all__ = ["EVIDENCE_LOOKBACK", "ClockWatch", "record_step", "record_suspend"]

EVIDENCE_LOOKBACK = timedelta(days=1)
"""Evidence this recent is moved with a step: cause inference looks back at most a day (condition
episodes), less for everything else."""
_WAITING = ("pending", "retry")


def _z(t: datetime | None) -> str | None:
    return None if t is None else utc(t).isoformat().replace("+00:00", "Z")


def _shift_iso(value: Any, delta: timedelta) -> Any:
    if not isinstance(value, str) or not value:
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return _z(parsed + delta)


def _shift_items(items: list[dict[str, Any]] | None, keys: tuple[str, ...], delta: timedelta) -> list[dict[str, Any]]:
    return [{**item, **{k: _shift_iso(item.get(k), delta) for k in keys if k in item}} for item in items or []]


def record_step(session: Session, recorder: Recorder, step: ClockStep, world: World, now: datetime) -> dict[str, Any]:
    """Re-express the rows that span ``step`` (a wall-clock step) on the new clock and write the
    ``clock_step`` event; ``world`` is the engine state already shifted. Returns the event's payload."""
    delta = timedelta(seconds=step.size_s)
    before = step.before
    outages: list[int] = []
    for row in session.scalars(select(OutageRow).where(OutageRow.ended_at.is_(None))):
        row.started_at = row.started_at + delta
        if row.confirmed_at is not None:
            row.confirmed_at = row.confirmed_at + delta
        row.timeline = _shift_items(row.timeline, ("at",), delta)
        row.gaps = _shift_items(row.gaps, ("started_at", "ended_at"), delta)
        row.evidence = _shift_items(row.evidence, ("time",), delta)
        row.updated_at = now
        outages.append(row.id)
    incidents: list[int] = []
    for inc in session.scalars(select(IncidentRow).where(IncidentRow.ended_at.is_(None))):
        inc.started_at = inc.started_at + delta
        inc.evidence = _shift_items(inc.evidence, ("time",), delta)
        inc.updated_at = now
        incidents.append(inc.id)
    recorder.save_states(session, world.devices.values(), now)
    evidence = 0
    for ev in session.scalars(select(EvidenceRow).where(EvidenceRow.time > before - EVIDENCE_LOOKBACK,
                                                        EvidenceRow.time <= before)):
        ev.time = ev.time + delta
        evidence += 1
    waiting = 0
    for out in session.scalars(select(OutboxRow).where(OutboxRow.status.in_((*_WAITING, "sending")))):
        if out.status == "sending":
            if out.claimed_at is not None:
                out.claimed_at = out.claimed_at + delta   # a claim in flight is not stale because of the step
        else:
            out.next_attempt_at = out.next_attempt_at + delta
        out.event_time = out.event_time + delta
        waiting += 1
    events = 0
    for ev_row in session.scalars(select(EventRow).where(EventRow.claimed_at.is_(None))):
        ev_row.time = ev_row.time + delta   # not routed yet: its outbox rows' event time on the new clock
        events += 1
    mutes = 0
    for m in session.scalars(select(MaintenanceRow).where(MaintenanceRow.cancelled_at.is_(None),
                                                          MaintenanceRow.ends_at > before,
                                                          MaintenanceRow.created_at <= before)):
        m.starts_at, m.ends_at = m.starts_at + delta, m.ends_at + delta
        mutes += 1
    payload: dict[str, Any] = {
        "size_s": round(step.size_s, 3), "before": _z(before), "after": _z(step.after),
        "direction": "forward" if step.size_s > 0 else "back", "outage_ids": outages, "incident_ids": incidents,
        "evidence_moved": evidence, "outbox_moved": waiting, "events_moved": events, "mutes_moved": mutes}
    session.add(EventRow(time=now, kind=EventKind.CLOCK_STEP.value, payload=payload))
    return payload


def record_suspend(session: Session, recorder: Recorder, step: ClockStep, world: World, now: datetime) -> list[int]:
    """The machine slept for ``step.suspended_s``: a monitor gap (``clock_jump``) ending now."""
    gap = Gap(step.after - timedelta(seconds=step.suspended_s), step.after, "clock_jump")
    return record_gap(session, recorder, gap, world, now)


class ClockWatch(TaskComponent):
    """Reads the clocks every ``interval`` seconds (of the event loop's monotonic clock), so a step is found
    within a second even when no check result arrives (APScheduler plans in wall time: after a step back
    nothing would run until the scheduler is re-planned — the watch's listeners do that). ``apply`` has the
    pipeline apply what was found, in order with the record."""

    name = "clockwatch"

    def __init__(self, steps: StepWatch, apply: Callable[[], Awaitable[Any]], interval: float = 1.0) -> None:
        self.steps = steps
        self.apply = apply
        self.interval = interval

    async def _loop(self) -> None:
        self.steps.observe()
        while True:
            await asyncio.sleep(self.interval)
            try:
                if self.steps.observe() is not None:
                    await self.apply()
            except asyncio.CancelledError:
                raise
            except Exception as exc:   # a database hiccup: the pipeline retries the correction itself
                log.error("applying a clock step failed (retried with the next batch): %s", exc)
