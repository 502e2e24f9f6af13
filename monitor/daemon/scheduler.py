"""Running every check at its interval: APScheduler 3.x ``AsyncIOScheduler``, one job per
(device, check).

* First runs are spread over ``monitor.jitter`` (at most one interval) so a hundred devices are not
  polled in the same millisecond; then each job keeps its own regular interval.
* ``coalesce=True`` and ``max_instances=1``: a check that is still running, or runs that were missed
  while the loop was busy, never pile up — one run happens, late. ``misfire_grace_time`` comes from
  ``monitor.misfire_grace`` (APScheduler's default of 1 s silently drops runs when the loop is busy).
* A global :class:`asyncio.Semaphore` of ``monitor.concurrency`` caps checks running at once; the
  tick time a result carries is taken when its check actually starts.
* :meth:`CheckScheduler.poll_soon` runs a device's checks within a second (after a trap);
  :meth:`CheckScheduler.replan` re-plans every job (after a wall-clock step — the daemon's
  :class:`~monitor.clock.StepWatch` calls it within a second: APScheduler plans in wall time, so a step back
  would otherwise stall every job for the length of the step).
* The job store is in memory and rebuilt from the config at start and on reload: the schedule is
  configuration, not state (nothing to pickle, nothing stale).

Each result goes to ``sink(ref, result, mono)`` — the pipeline — and nowhere else; ``mono`` is the monotonic
instant of the tick, from which the pipeline re-expresses the tick time if the wall clock was stepped
meanwhile. The timeout of a run is the runner's (:mod:`monitor.daemon.runner`), on the event loop's
monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.clock import Clock
from monitor.daemon.runner import run_check
from monitor.domain import Check, CheckResult, Device, DeviceRef

log = logging.getLogger(__name__)

CheckKey = tuple[DeviceRef, str]
Sink = Callable[[DeviceRef, CheckResult, float], None]


def _job_id(ref: DeviceRef, key: str) -> str:
    return f"check:{ref.site}/{ref.device}:{key}"


class CheckScheduler:
    """A :class:`monitor.lifecycle.Component` that runs the checks."""

    name = "scheduler"

    def __init__(self, settings: Any, checks: Mapping[CheckKey, Check], sink: Sink, clock: Clock, *,
                 rng: random.Random | None = None) -> None:
        self.sink = sink
        self.clock = clock
        self.rng = rng or random.Random()
        self._sched: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._configure(settings, checks)

    def _configure(self, settings: Any, checks: Mapping[CheckKey, Check]) -> None:
        self.settings = settings
        self.checks = dict(checks)
        self.specs: dict[CheckKey, tuple[Device, Any]] = {}
        for site, dev in settings.iter_devices():
            for spec in dev.checks:
                key = (DeviceRef(site.id, dev.id), spec.key)
                if spec.enabled and key in self.checks:
                    self.specs[key] = (dev, spec)
        missing = [f"{r}:{k}" for r, k in self.checks if (r, k) not in self.specs]
        if missing:
            log.warning("checks without a configured spec are not scheduled: %s", ", ".join(missing[:10]))
        self._sem = asyncio.Semaphore(settings.monitor.concurrency)
        self._secrets = tuple(settings.secrets)

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._sched is not None:
            return
        self._stopping = False
        m = self.settings.monitor
        self._sched = AsyncIOScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": max(1, int(m.misfire_grace.total_seconds()))})
        self._add_jobs(self.specs)
        self._sched.start()
        log.info("scheduler: %d checks of %d devices", len(self.specs), len({r for r, _ in self.specs}))

    async def stop(self) -> None:
        """Stop at once: no new runs, and the running checks are cancelled — a stopping monitor records no more
        results, so waiting for them would only delay SIGTERM. A cancelled check ends quietly (no job error in
        the log); its sockets are closed by its own ``finally``/context managers."""
        self._stopping = True
        if self._sched is not None:
            self._sched.shutdown(wait=False)   # APScheduler's asyncio executor cancels the running jobs' tasks
            self._sched = None
        tasks = [t for t in self._running if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)

    async def reload(self, settings: Any, checks: Mapping[CheckKey, Check]) -> None:
        """Replace the checks: unchanged (device, check) pairs keep their place in time."""
        old = {k: spec for k, (_d, spec) in self.specs.items()}
        self._configure(settings, checks)
        if self._sched is None:
            return
        for key in old:
            if key not in self.specs:
                with contextlib.suppress(Exception):
                    self._sched.remove_job(_job_id(*key))
        changed = {k: v for k, v in self.specs.items() if k not in old or old[k] != v[1]}
        for key in changed:
            with contextlib.suppress(Exception):
                self._sched.remove_job(_job_id(*key))
        self._add_jobs(changed)

    def _add_jobs(self, specs: Mapping[CheckKey, tuple[Device, Any]]) -> None:
        assert self._sched is not None
        now = self.clock.now()
        spread = self.settings.monitor.jitter.total_seconds()
        for (ref, key), (_dev, spec) in sorted(specs.items()):
            interval = max(spec.interval.total_seconds(), 0.1)
            first = now + timedelta(seconds=self.rng.uniform(0, min(spread, interval)))
            self._sched.add_job(self._run, IntervalTrigger(seconds=interval, start_date=first, timezone=UTC),
                                args=(ref, key), id=_job_id(ref, key), name=f"{ref} {key}",
                                replace_existing=True, next_run_time=first)

    # ------------------------------------------------------------------------------ control

    def poll_soon(self, ref: DeviceRef, delay: float = 1.0) -> None:
        """Run every check of ``ref`` within ``delay`` seconds (e.g. after a trap)."""
        if self._sched is None:
            return
        when = self.clock.now() + timedelta(seconds=delay)
        for (r, key) in self.specs:
            if r == ref:
                job = self._sched.get_job(_job_id(r, key))
                if job is not None and (job.next_run_time is None or job.next_run_time > when):
                    job.modify(next_run_time=when)

    def replan(self, refs: Iterable[DeviceRef] | None = None) -> None:
        """Re-plan jobs from the current wall clock (after a clock jump), spread over the jitter."""
        if self._sched is None:
            return
        wanted = set(refs) if refs is not None else None
        now = self.clock.now()
        spread = self.settings.monitor.jitter.total_seconds()
        for (ref, key), (_dev, spec) in self.specs.items():
            if wanted is not None and ref not in wanted:
                continue
            job = self._sched.get_job(_job_id(ref, key))
            if job is not None:
                when = now + timedelta(seconds=self.rng.uniform(0, min(spread, spec.interval.total_seconds())))
                job.modify(next_run_time=when)

    # ------------------------------------------------------------------------------ the job

    @property
    def stopping(self) -> bool:
        return self._stopping

    def _cut_short(self) -> bool:
        return self._stopping   # a call, so the type checker does not keep its narrowing across an await

    async def _run(self, ref: DeviceRef, key: str) -> None:
        if self._stopping:
            return
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            check = self.checks.get((ref, key))
            entry = self.specs.get((ref, key))
            if check is None or entry is None:
                return
            dev, spec = entry
            async with self._sem:
                if self.stopping:  # stop() may have begun while this job waited for a slot
                    return
                now, mark = self.clock.now(), self.clock.monotonic()
                try:
                    res = await run_check(check, dev, spec, now=now, secrets=self._secrets)
                except asyncio.CancelledError:
                    if self._cut_short():  # by stop(): an unfinished check has no result, and is no error
                        return
                    raise
            if not self.stopping:
                self.sink(ref, res, mark)
        finally:
            if task is not None:
                self._running.discard(task)
