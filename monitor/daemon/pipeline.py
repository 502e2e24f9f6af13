"""The one path from check results and traps to the database.

Every check result (from the scheduler) and every trap (from the trap receiver) is put on one queue.
A single consumer task takes what has arrived — a round of results, a trap — feeds it through the
pure engine (:mod:`monitor.engine.state`) and writes the outcome with :class:`monitor.daemon.recorder.Recorder` in
ONE transaction on the database thread. One consumer means one order: the engine's in-memory
:class:`~monitor.engine.state.World` and the database never disagree about what happened first.

If the database cannot be written (locked, disk full), the batch is kept in memory and written,
merged with later ones, as soon as it can: an outage record is delayed, never lost. Samples of
unwritten batches are capped (they are the only thing that can be dropped, and it is logged).

Observations are deduplicated here: a condition a check keeps reporting (on battery, SPD tripped) is
recorded when it begins, not on every poll; events (a strike, a reboot) each time they happen; a trap
each time, except an identical one within :data:`TRAP_DEDUP`.

**Clock steps.** The pipeline owns the daemon's :class:`~monitor.clock.StepWatch`: before each batch it reads
the clocks and applies every wall-clock step (or suspend) found since the last batch, before anything of
the batch (:mod:`monitor.daemon.clocksteps`). A result carries the monotonic instant of its tick and a trap
the instant it was queued; a result or trap read on the old wall clock is re-expressed on the new one, so
nothing read on one clock is ever applied to state held on the other. (One limit: when the database cannot be
written at the moment of a step, results held in memory from before it are written with the times they
were read with.)

Device states (``device_states``) are written when something a restart or a reader needs changed — a
status, a confirmed or pending check status, a reason, an outage, flapping, a condition — and otherwise at
most every :data:`PERSIST_EVERY` (the latest metrics and check times; issue 8: rewriting 10,000 states a
minute was a tenth of a core). :meth:`Pipeline.stop` writes every state not yet written, so a clean restart
continues exactly; after a crash the metrics a check restores from may be up to that old (a counter delta
then spans the longer time, nothing is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from monitor.clock import STEP_TOLERANCE, Clock, ClockStep, StepWatch
from monitor.daemon.clocksteps import record_step, record_suspend
from monitor.daemon.recorder import NOTABLE_KINDS, NOTABLE_TRAP_KINDS, Batch, NewObservation, Recorder
from monitor.domain import CheckResult, DeviceRef, Observation, ObservationKind, TrapEvent
from monitor.engine.state import (
    EngineEvent,
    Policy,
    StatusChanged,
    World,
    advance,
    apply_trap,
    reconcile,
)
from monitor.engine.timeshift import shift_world
from monitor.errors import StorageError
from monitor.storage import Database

log = logging.getLogger("monitor.state")

_K = ObservationKind
EVENT_KINDS = frozenset({_K.STRIKE, _K.REBOOT, _K.TRANSFER, _K.LINE_BAD, _K.TRAP, _K.HOST_BOOT, _K.MONITOR_GAP})
"""Kinds a check reports once per occurrence (recorded every time); all others are conditions,
recorded when they begin."""
TRAP_DEDUP = timedelta(seconds=60)
PERSIST_EVERY = timedelta(minutes=5)
"""A device state whose persisted essentials did not change is written at most this often."""
MAX_UNWRITTEN_SAMPLES = 50_000
POLL_AFTER_TRAP = frozenset({_K.ON_BATTERY, _K.LOW_BATTERY, _K.ON_MAINS, _K.SPD_TRIPPED, _K.SPD_OK,
                             _K.REPLACE_BATTERY})


@dataclass(frozen=True, slots=True)
class _Result:
    ref: DeviceRef
    result: CheckResult
    mono: float | None = None      # monotonic instant of the tick


@dataclass(frozen=True, slots=True)
class _Trap:
    trap: TrapEvent
    mono: float | None = None      # monotonic instant it was queued


@dataclass(frozen=True, slots=True)
class _Call:
    """Run ``fn(session, world)`` in order with the batches, in its own transaction."""

    fn: Callable[[Session, World], Any]
    done: asyncio.Future[Any]
    flush_first: bool = True


@dataclass(frozen=True, slots=True)
class _Reconfigure:
    recorder: Recorder
    policy: Policy
    done: asyncio.Future[None]


_Item = _Result | _Trap | _Call | _Reconfigure


def describe(e: StatusChanged) -> str:
    """The one log line of a state change."""
    hint = f" [{e.hint.value}]" if e.hint else ""
    reason = f": {e.reason}" if e.reason else ""
    return f"{e.ref} {e.old.value} -> {e.new.value}{hint}{reason}"


class Pipeline:
    """The queue consumer. A :class:`monitor.lifecycle.Component`."""

    name = "pipeline"

    def __init__(self, db: Database, recorder: Recorder, policy: Policy, world: World, clock: Clock, *,
                 batch_delay: float = 0.2, max_batch: int = 1000,
                 poll_soon: Callable[[DeviceRef], None] | None = None,
                 on_events: Callable[[list[EngineEvent]], None] | None = None,
                 on_written: Callable[[], None] | None = None, steps: StepWatch | None = None) -> None:
        """``on_written()`` is called after a batch that carried engine events is committed (the daemon
        wakes the alert router with it). ``steps`` is the daemon's clock-step watch (one is made when
        None)."""
        self.db = db
        self.recorder = recorder
        self.policy = policy
        self.world = world
        self.clock = clock
        self.batch_delay = batch_delay
        self.max_batch = max_batch
        self.poll_soon = poll_soon
        self.on_events = on_events
        self.on_written = on_written
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._unwritten: Batch | None = None
        self._recent_traps: dict[tuple[DeviceRef, str, str], datetime] = {}
        self._persisted: dict[DeviceRef, tuple[tuple[Any, ...], datetime]] = {}
        self._by_site: dict[str, list[DeviceRef]] = {}
        self._by_site_policy: Policy | None = None
        self._dirty: set[DeviceRef] = set()
        self.steps = steps if steps is not None else StepWatch(clock)
        self._unrecorded: list[ClockStep] = []   # applied to the world, not yet to the database
        self.counters = {"results": 0, "traps": 0, "traps_ignored": 0, "batches": 0, "write_failures": 0,
                         "samples_dropped": 0, "states_written": 0, "states_deferred": 0, "clock_steps": 0,
                         "restamped": 0}

    # ------------------------------------------------------------------------------ input

    def submit_result(self, ref: DeviceRef, result: CheckResult, mono: float | None = None) -> None:
        """Queue one check result (never blocks). ``mono``: the monotonic instant of its tick."""
        self._queue.put_nowait(_Result(ref, result, mono))

    async def submit_trap(self, trap: TrapEvent) -> None:
        """The trap receiver's callback: queue a trap; it is handled within the batch delay."""
        if trap.device is None or not trap.accepted:
            self.counters["traps_ignored"] += 1
            return
        self._queue.put_nowait(_Trap(trap, self.clock.monotonic()))

    async def call(self, fn: Callable[[Session, World], Any]) -> Any:
        """Run ``fn(session, world)`` in one transaction, after everything queued before it is written."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Call(fn, fut))
        return await fut

    async def reconfigure(self, recorder: Recorder, policy: Policy) -> None:
        """Switch to a reloaded config in order with the queue (removed devices' outages are closed)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Reconfigure(recorder, policy, fut))
        await fut

    async def drain(self) -> None:
        """Wait until everything queued so far is processed and written (tests, shutdown)."""
        await self.call(lambda _s, _w: None)

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._consume(), name="pipeline")

    async def stop(self) -> None:
        if self._task is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), timeout=30)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        dirty = {r: self.world.get(r) for r in self._dirty if r in self.world.devices}
        self._dirty.clear()
        if dirty:  # states whose write was deferred: a clean restart continues from the latest
            await self._write(Batch(now=self.clock.now(), world=self.world, states=dirty))
        elif self._unwritten is not None:
            await self._write(None)

    # ------------------------------------------------------------------------------ consumer

    async def _consume(self) -> None:
        while True:
            item = await self._queue.get()
            items = [item]
            if isinstance(item, _Result | _Trap):
                await asyncio.sleep(self.batch_delay)  # let the rest of the round arrive
                while len(items) < self.max_batch and not self._queue.empty():
                    nxt = self._queue.get_nowait()
                    items.append(nxt)
                    if not isinstance(nxt, _Result | _Trap):
                        break
            try:
                await self._process(items)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one bad batch stop the record
                log.exception("pipeline: batch failed")

    async def _process(self, items: list[_Item]) -> None:
        await self._clock_steps()
        tail = items[-1] if not isinstance(items[-1], _Result | _Trap) else None
        work = [i for i in items if isinstance(i, _Result | _Trap)]
        if work:
            batch = self._advance(work)
            await self._write(batch)
        if isinstance(tail, _Call):
            try:
                if self._unwritten is not None:
                    await self._write(None)
                result = await self.db.run(lambda s: tail.fn(s, self.world), "pipeline call")
                if not tail.done.done():
                    tail.done.set_result(result)
            except Exception as exc:
                if not tail.done.done():
                    tail.done.set_exception(exc)
        elif isinstance(tail, _Reconfigure):
            try:
                self.recorder, self.policy = tail.recorder, tail.policy
                step = reconcile(self.world, self.policy, self.clock.now())
                self.world = step.world
                batch = Batch(now=self.clock.now(), world=self.world, events=list(step.events),
                              states={r: self.world.get(r) for r in self.world.devices})
                self._persisted.clear()
                self._dirty.clear()
                await self._write(batch)
                tail.done.set_result(None)
            except Exception as exc:
                tail.done.set_exception(exc)

    # ------------------------------------------------------------------------------ clock steps

    async def _clock_steps(self) -> None:
        """Apply every step found since the last batch (see the module docstring), before the batch."""
        self.steps.observe()
        for step in self.steps.take():
            self.counters["clock_steps"] += 1
            if step.stepped:
                self.world = shift_world(self.world, timedelta(seconds=step.size_s))
                self._persisted.clear()
                self._recent_traps.clear()
                log.warning("the wall clock was stepped %s by %.0f s (%s -> %s); open outages and what the engine "
                            "holds are re-expressed on the new clock", "forward" if step.size_s > 0 else "back",
                            abs(step.size_s), step.before.isoformat(), step.after.isoformat())
            if step.suspended:
                log.warning("the machine was suspended for %.0f s: recorded as not monitored", step.suspended_s)
            self._unrecorded.append(step)
        while self._unrecorded:
            step = self._unrecorded[0]
            if self._unwritten is not None:
                await self._write(None)   # what was read before the step is written before its correction
            fn = functools.partial(_record_clock_step, self.recorder, step, self.world, self.clock.now())
            try:
                await self.db.run(fn, "recording a clock step")
            except StorageError as exc:
                log.error("could not record the clock step yet (retried with the next batch): %s", exc)
                return
            self.steps.done(self._unrecorded.pop(0))
            if self.on_written is not None:
                self.on_written()

    def _restamp(self, item: _Result | _Trap, now: datetime, mono_now: float) -> _Result | _Trap:
        """A result or trap read on an older wall clock (a step was found after it was stamped), on the current
        one: its monotonic instant in today's wall time. Only after a step: a test (or a slow queue) may hand
        in times older than now on purpose."""
        steps = self.steps.steps
        if item.mono is None or not steps or steps[-1].mono < item.mono:
            return item
        at = now - timedelta(seconds=mono_now - item.mono)
        if isinstance(item, _Result):
            res = item.result
            delta = at - res.time
            if abs(delta.total_seconds()) < STEP_TOLERANCE:
                return item
            self.counters["restamped"] += 1
            return _Result(item.ref, replace(res, time=at, observations=tuple(
                replace(o, time=o.time + delta) for o in res.observations)), item.mono)
        trap = item.trap
        delta = at - trap.received_at
        if abs(delta.total_seconds()) < STEP_TOLERANCE:
            return item
        self.counters["restamped"] += 1
        return _Trap(replace(trap, received_at=at, observations=tuple(
            replace(o, time=o.time + delta) for o in trap.observations)), item.mono)

    def _site_world(self, world: World, site: str) -> World:
        """One site's devices: the engine reads a device, its parents, children and UPS — all in its own site
        (``depends_on``/``powered_by`` name devices of the same site) — so it can run on this small World and
        the batch is merged back once, instead of copying every device's state for every result (issue 8)."""
        if self._by_site_policy is not self.policy:
            by_site: dict[str, list[DeviceRef]] = {}
            for r in self.policy.devices:
                by_site.setdefault(r.site, []).append(r)
            self._by_site, self._by_site_policy = by_site, self.policy
        devices = world.devices
        return World({r: devices[r] for r in self._by_site.get(site, ()) if r in devices})

    def _advance(self, work: list[_Result | _Trap]) -> Batch:
        world = self.world
        now, mono_now = self.clock.now(), self.clock.monotonic()
        batch = Batch(now=now, world=world)
        touched: set[DeviceRef] = set()
        sites: dict[str, World] = {}
        for item in work:
            item = self._restamp(item, now, mono_now)
            if isinstance(item, _Result):
                ref, res = item.ref, item.result
                if ref not in self.policy.devices:
                    continue
                self.counters["results"] += 1
                site_world = sites.get(ref.site) or self._site_world(world, ref.site)
                prev = site_world.get(ref).checks.get(res.check)
                before = set(prev.conditions) if prev is not None else set()
                for o in res.observations:
                    if o.kind in EVENT_KINDS or o.kind.value not in before:
                        batch.observations.append(NewObservation(ref, o, o.kind in NOTABLE_KINDS))
                step = advance(site_world, ref, res, self.policy)
                batch.samples.append((ref, res))
            else:
                trap = item.trap
                ref = trap.device  # type: ignore[assignment]
                if ref not in self.policy.devices:
                    self.counters["traps_ignored"] += 1
                    continue
                self.counters["traps"] += 1
                observations = trap.observations or (Observation(
                    time=trap.received_at, kind=_K.TRAP, text=f"trap {trap.name or trap.trap_oid}", source="trap",
                    values={"oid": trap.trap_oid, **{k: v for k, v in trap.varbinds[:20]}}),)
                fresh = [o for o in observations if self._fresh_trap(ref, o, trap.received_at)]
                for o in fresh:
                    batch.observations.append(NewObservation(ref, o, o.kind in NOTABLE_TRAP_KINDS))
                text = "; ".join(o.text for o in observations) or trap.name
                site_world = sites.get(ref.site) or self._site_world(world, ref.site)
                step = apply_trap(site_world, ref, [o.kind for o in observations], text, trap.received_at,
                                  self.policy)
                if self.poll_soon is not None and any(o.kind in POLL_AFTER_TRAP for o in observations):
                    self.poll_soon(ref)
            sites[ref.site] = step.world
            batch.events.extend(step.events)
            touched.add(ref)
            touched.update(e.ref for e in step.events)
        merged: dict[DeviceRef, Any] = {}
        for site_world in sites.values():
            merged.update(site_world.devices)
        world = world.with_states(merged)
        self.world = world
        batch.world = world
        batch.states = self._states_to_write(world, touched, now)
        changes = [e for e in batch.events if isinstance(e, StatusChanged)]
        for e in changes:
            log.info("state %s", describe(e))
        if self.on_events is not None and batch.events:
            self.on_events(list(batch.events))
        return batch

    def _states_to_write(self, world: World, touched: set[DeviceRef], now: datetime) -> dict[DeviceRef, Any]:
        """The touched states worth writing now (see the module docstring); the others are remembered."""
        out = {}
        for ref in touched:
            if ref not in world.devices:
                continue
            state = world.get(ref)
            sig = _essentials(state)
            last = self._persisted.get(ref)
            if last is None or last[0] != sig or now - last[1] >= PERSIST_EVERY or now < last[1]:
                out[ref] = state
                self._persisted[ref] = (sig, now)
                self._dirty.discard(ref)
            else:
                self._dirty.add(ref)
        self.counters["states_written"] += len(out)
        self.counters["states_deferred"] += len(touched) - len(out)
        return out

    def _fresh_trap(self, ref: DeviceRef, o: Observation, at: datetime) -> bool:
        key = (ref, o.kind.value, o.text)
        last = self._recent_traps.get(key)
        if last is not None and abs(at - last) < TRAP_DEDUP:
            return False
        self._recent_traps[key] = at
        if len(self._recent_traps) > 10_000:
            cutoff = at - TRAP_DEDUP
            self._recent_traps = {k: v for k, v in self._recent_traps.items() if v >= cutoff}
        return True

    async def _write(self, batch: Batch | None) -> None:
        pending = self._merge(self._unwritten, batch)
        if pending is None:
            return
        recorder = self.recorder
        try:
            await self.db.run(lambda s: recorder.apply(s, pending), "recording a batch")
        except StorageError as exc:
            self.counters["write_failures"] += 1
            if exc.permanent:
                # a broken invariant (a bug): retrying the same rows cannot succeed and would block the record
                log.error("dropping a batch that cannot be written (%s): %s", exc,
                          "; ".join(type(e).__name__ + " " + str(e.ref) for e in pending.events)[:2000])
                self._unwritten = None
                return
            log.error("could not record %d results and %d events yet (kept in memory, retried): %s",
                      len(pending.samples), len(pending.events), exc)
            if len(pending.samples) > MAX_UNWRITTEN_SAMPLES:
                drop = len(pending.samples) - MAX_UNWRITTEN_SAMPLES
                self.counters["samples_dropped"] += drop
                pending.samples = pending.samples[drop:]
                log.warning("dropped the %d oldest raw samples while the database is unavailable", drop)
            self._unwritten = pending
            return
        self.counters["batches"] += 1
        self._unwritten = None
        if self.on_written is not None and (pending.events or pending.observations):
            try:
                self.on_written()
            except Exception:  # a listener's bug must not stop the record
                log.exception("pipeline: on_written failed")

    @staticmethod
    def _merge(old: Batch | None, new: Batch | None) -> Batch | None:
        if old is None:
            return new
        if new is None:
            return old
        merged = Batch(now=new.now, world=new.world, samples=[*old.samples, *new.samples],
                       observations=[*old.observations, *new.observations], events=[*old.events, *new.events],
                       states={**old.states, **new.states})
        return merged


def _record_clock_step(recorder: Recorder, step: ClockStep, world: World, now: datetime, session: Session) -> None:
    if step.stepped:
        record_step(session, recorder, step, world, now)
    if step.suspended:
        record_suspend(session, recorder, step, world, now)


def _essentials(state: Any) -> tuple[Any, ...]:
    """What of a device state must reach the database at once: everything but the latest metrics and the
    times of unremarkable results."""
    tracks = tuple(sorted((k, t.status, t.since, t.reason, t.reason_code, t.pending, t.pending_count,
                           t.pending_since, t.recheck, t.forced, t.conditions) for k, t in state.checks.items()))
    return (state.status, state.since, state.reason, state.hint, state.flapping, state.outage, state.stale,
            state.changes, tracks)
