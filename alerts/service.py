"""Composition helper: the alerting side as daemon components, plus a one-shot :func:`drain`.

The composition root (``monitor/app.py`` / the daemon) builds the notifier and calls::

    components = build_alert_components(settings, db, clock, notifier,
                                        escalation_report=..., report_now=...)

and starts them in order (stops them in reverse). Each is a :class:`monitor.lifecycle.Component`:

* ``alerts.router`` — claims new ``events`` rows and writes their outbox rows (same transaction); wakes the
  dispatcher when it wrote any;
* ``alerts.dispatcher`` — sends due outbox rows (:class:`alerts.outbox.Dispatcher`);
* ``alerts.escalation`` — every ``tick_interval``: due escalation steps, reminders, escalation report PDFs
  (through the injected ``escalation_report(incident_id)``), the daily "still alive" line;
* ``alerts.bot`` — long-polls Telegram for buttons and commands (when ``telegram.polling`` and the notifier
  can receive updates).

The notifier belongs to the caller (close it after stopping the components). ``python -m alerts.service
dispatch -c FILE`` runs the router and dispatcher alone (used by the crash test and handy for an operator).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from alerts import escalation
from alerts import router as router_mod
from alerts.bot import BotApi, ReportNow, TelegramBot
from alerts.compose import AlertComposer
from alerts.mutes import mute_check
from alerts.outbox import Dispatcher, DispatchResult
from alerts.router import Router
from monitor.errors import StorageError
from monitor.lifecycle import Component

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from monitor.clock import Clock, StepWatch
    from monitor.domain import Notifier
    from monitor.settings import Settings
    from monitor.storage import Database

log = logging.getLogger(__name__)

EscalationReport = Callable[[int], Awaitable[Path | None]]
"""``escalation_report(incident_id)`` → the escalation report PDF (None when it cannot be made)."""


class LoopComponent:
    """Runs ``step()`` every ``interval`` seconds (sooner when :meth:`wake` is called) until stopped. With
    ``idle_interval``, a step that returns a falsy value (nothing to do) doubles the wait, up to
    ``idle_interval``; a truthy result or a :meth:`wake` goes back to ``interval`` — an idle office does not
    query the database twice a second, and a woken loop still reacts at once (issue 8).

    A failing step is logged and retried; a :class:`StorageError` waits its ``retry_after``. ``stop`` lets the
    running step finish for ``grace`` seconds, then cancels it (a send cut off there is resent after the
    outbox lease: at most one duplicate)."""

    def __init__(self, name: str, step: Callable[[], Awaitable[object]], *, interval: float,
                 grace: float = 5.0, on_reload: Callable[[Settings], None] | None = None,
                 idle_interval: float | None = None) -> None:
        self.name = name
        self._step = step
        self._on_reload = on_reload
        self.interval = interval
        self.idle_interval = idle_interval
        self._idle_delay = interval
        self.grace = grace
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def reload(self, settings: Settings) -> None:
        """Take a new, already validated config (SIGHUP): the next step uses it."""
        if self._on_reload is not None:
            self._on_reload(settings)
        self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while not self._stop.is_set():
            delay = self.interval
            try:
                did = await self._step()
                if self.idle_interval is not None:
                    self._idle_delay = (min(self._idle_delay * 2, self.idle_interval) if not did
                                        else self.interval)
                    delay = self._idle_delay
            except StorageError as exc:
                delay = max(delay, exc.retry_after or 5.0)
                log.warning("%s: database unavailable (%s); retrying in %.0f s", self.name, exc, delay)
            except Exception:
                log.exception("%s: step failed; retrying", self.name)
                delay = max(delay, 5.0)
            if self._stop.is_set():
                break
            if self._wake.is_set():             # woken while the step ran: new work, at once
                self._wake.clear()
                self._idle_delay = self.interval
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            if self._wake.is_set():
                self._wake.clear()
                self._idle_delay = self.interval


class BotComponent:
    """The two-way bot's long-polling loop as a component."""

    def __init__(self, bot: TelegramBot, name: str = "alerts.bot") -> None:
        self.name = name
        self.bot = bot
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def reload(self, settings: Settings) -> None:
        """New allowed users, chats and languages apply to the next update."""
        self.bot.settings = settings

    async def start(self) -> None:
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self.bot.run(self._stop), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        task.cancel()  # a long poll may take up to its timeout; the offset is stored per update
        with contextlib.suppress(asyncio.CancelledError):
            await task


# ---------------------------------------------------------------------------------------------- rounds


async def route_pending(db: Database, router: Router, clock: Clock, *, limit: int = 500) -> int:
    """Route every unclaimed event (one transaction each); returns how many were routed here."""
    ids = await db.run(lambda s: router.pending(s, limit), "reading new events")
    routed = 0
    for event_id in ids:
        now = clock.now()
        try:
            result = await db.run(functools.partial(_route, router, event_id, now), "routing an event")
        except StorageError:
            raise
        except Exception as exc:
            err = f"{type(exc).__name__}: {exc}"
            log.exception("router: event %s failed", event_id)
            await db.run(functools.partial(_fallback, router, event_id, now, err), "routing fallback")
            routed += 1
            continue
        if result is not None:
            routed += 1
    return routed


def _route(router: Router, event_id: int, now: datetime, session: Session) -> int | None:
    return router.route_one(session, event_id, now)


def _fallback(router: Router, event_id: int, now: datetime, error: str, session: Session) -> None:
    router.fallback(session, event_id, now, error)


def _record(settings: Settings, req: escalation.ReportRequest, path: Path | None, when: datetime,
            error: str | None, session: Session) -> bool:
    return escalation.record_report(session, settings, req, str(path) if path is not None else None, when, error)


async def escalation_round(db: Database, settings: Settings, clock: Clock,
                           escalation_report: EscalationReport | None = None) -> int:
    """Due escalation steps and reminders, escalation report PDFs, the daily line. Returns rows touched."""
    now = clock.now()
    requests = await db.run(lambda s: escalation.tick(s, settings, now, reports=escalation_report is not None),
                            "escalation tick")
    for req in requests:
        path: Path | None = None
        error: str | None = None
        if escalation_report is not None:
            try:
                path = await escalation_report(req.incident_id)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.error("escalation: report for incident #%s failed: %s", req.incident_id, error)
        await db.run(functools.partial(_record, settings, req, path, clock.now(), error),
                     "recording an escalation report")
    alive = await db.run(lambda s: router_mod.daily_alive(s, settings, clock.now()), "daily line")
    return len(requests) + alive


@dataclass(frozen=True, slots=True)
class DrainResult:
    routed: int
    sent: int
    rows_sent: int
    failed: int
    suppressed: int


def make_dispatcher(settings: Settings, db: Database, clock: Clock, notifier: Notifier, *, name: str | None = None,
                    lease: timedelta = timedelta(minutes=5)) -> Dispatcher:
    """The dispatcher with the alert composer and the mute/maintenance/inhibition check."""
    return Dispatcher(settings, db, clock, notifier, composer=AlertComposer(settings), mute_check=mute_check(settings),
                      name=name, lease=lease)


async def drain(settings: Settings, db: Database, clock: Clock, notifier: Notifier, *,
                escalation_report: EscalationReport | None = None, dispatcher: Dispatcher | None = None,
                router: Router | None = None, rounds: int = 20) -> DrainResult:
    """Route every new event, run one escalation tick, and dispatch until nothing is due *now* (bounded by
    ``rounds``). For tests and one-shot CLI use; rows waiting for a later time stay queued."""
    router = router or Router(settings, reports=escalation_report is not None)
    dispatcher = dispatcher or make_dispatcher(settings, db, clock, notifier)
    routed = await route_pending(db, router, clock)
    await escalation_round(db, settings, clock, escalation_report)
    sent = rows = failed = suppressed = 0
    for _ in range(rounds):
        result: DispatchResult = await dispatcher.run_once()
        sent, rows = sent + result.sent, rows + result.rows_sent
        failed, suppressed = failed + result.failed, suppressed + result.suppressed
        if not (result.sent or result.suppressed or result.rows_sent or result.recovered):
            break
    return DrainResult(routed, sent, rows, failed, suppressed)


def build_alert_components(settings: Settings, db: Database, clock: Clock, notifier: Notifier, *,
                           escalation_report: EscalationReport | None = None, report_now: ReportNow | None = None,
                           name: str | None = None, poll_interval: float = 1.0,
                           tick_interval: float = 15.0, steps: StepWatch | None = None) -> list[Component]:
    """The alerting components in start order (see the module docstring). Each can :meth:`reload` a new
    config (``monitor.lifecycle.Reloadable``). ``steps`` is the daemon's clock-step watch: while a wall-clock
    step is not yet corrected in the record, the router, dispatcher and escalation tick wait a round."""
    router = Router(settings, reports=escalation_report is not None)
    dispatcher = make_dispatcher(settings, db, clock, notifier, name=name)
    current = {"settings": settings}

    def unsettled() -> bool:
        return steps is not None and not steps.settled()

    async def dispatch_step() -> bool:
        if unsettled():
            return True
        r = await dispatcher.run_once()
        return bool(r.sent or r.rows_sent or r.failed or r.suppressed or r.recovered or r.waiting)

    def reload_dispatcher(new: Settings) -> None:
        dispatcher.settings = new
        dispatcher.composer = AlertComposer(new)
        dispatcher.mute_check = mute_check(new)

    # idle loops back off to a few seconds; the daemon wakes them as soon as the record has new events
    dispatch = LoopComponent("alerts.dispatcher", dispatch_step, interval=poll_interval, on_reload=reload_dispatcher,
                             idle_interval=max(poll_interval, 4.0))

    async def route_step() -> int:
        if unsettled():
            return 1
        routed = await route_pending(db, router, clock)
        if routed:
            dispatch.wake()
        return routed

    async def tick_step() -> None:
        if unsettled():
            return
        if await escalation_round(db, current["settings"], clock, escalation_report):
            dispatch.wake()

    def reload_router(new: Settings) -> None:
        router.settings = new

    def reload_tick(new: Settings) -> None:
        current["settings"] = new

    components: list[Component] = [
        LoopComponent("alerts.router", route_step, interval=min(poll_interval, 0.5), on_reload=reload_router,
                      idle_interval=4.0),
        dispatch,
        LoopComponent("alerts.escalation", tick_step, interval=tick_interval, on_reload=reload_tick),
    ]
    if settings.telegram.polling and hasattr(notifier, "get_updates"):
        api: BotApi = notifier  # type: ignore[assignment]
        bot = TelegramBot(settings, db, clock, api, report_now=report_now, limiter=dispatcher.limiter)
        components.append(BotComponent(bot))
    return components


# ---------------------------------------------------------------------------------------------- __main__


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m alerts.service", description="Run the alert router and dispatcher.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dispatch", help="route new events and send the outbox until stopped (or once)")
    d.add_argument("-c", "--config", required=True, type=Path)
    d.add_argument("--name", default=None, help="dispatcher name recorded in claimed_by")
    d.add_argument("--lease", type=float, default=300.0, help="seconds before a stale claim is resent")
    d.add_argument("--interval", type=float, default=0.2)
    d.add_argument("--once", action="store_true", help="drain what is due now and exit")
    return p.parse_args(list(argv) if argv is not None else None)


async def _dispatch(args: argparse.Namespace) -> int:
    from alerts.telegram import TelegramNotifier
    from monitor.clock import SystemClock
    from monitor.logs import setup_logging
    from monitor.settings import load_settings
    from monitor.storage import Database
    from monitor.storage.db import create_db_engine

    settings = load_settings(args.config)
    setup_logging(settings.monitor.log_level, settings.secrets)
    db = Database(create_db_engine(settings.database_url,
                                   busy_timeout_s=settings.database.busy_timeout.total_seconds()))
    notifier = TelegramNotifier.from_settings(settings)
    clock = SystemClock()
    router = Router(settings)
    dispatcher = make_dispatcher(settings, db, clock, notifier, name=args.name,
                                 lease=timedelta(seconds=args.lease))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if args.once:
            await drain(settings, db, clock, notifier, dispatcher=dispatcher, router=router)
            return 0
        while not stop.is_set():
            try:
                await route_pending(db, router, clock)
                await dispatcher.run_once()
            except StorageError as exc:
                log.warning("dispatch: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.interval)
        return 0
    finally:
        await notifier.close()
        db.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    return asyncio.run(_dispatch(args))


if __name__ == "__main__":
    sys.exit(main())
