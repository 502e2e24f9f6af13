"""The monitor watched from outside: a dead man's switch, and a reference for the monitor's own clock.

A monitor that dies silently is the worst failure it can have: nobody is told that nobody is told.
:class:`DeadMansSwitch` requests ``monitor.heartbeat_url`` (e.g. a healthchecks.io check, an Uptime Kuma
push monitor) every ``monitor.heartbeat_url_interval`` while the monitor is healthy; the external service
alerts when the requests stop. "Healthy" is a callable from the composition root (the database can be
written): a monitor that runs but cannot keep its record stops pinging, so the outside world hears about
it even when Telegram cannot be reached through the outbox.

**The URL is a secret** (whoever has it can ping on our behalf, or read it as "the office is fine"): it is
never logged, never put in an exception message and never shown by ``config show`` (the config loader
lists it among the secrets). Failures are logged by kind only (``HTTP 503``, ``ClientConnectorError``),
once when they start and once when pings get through again.

**Clock reference.** Every answer carries an HTTP ``Date`` header from a server that keeps good time.
:func:`skew_from_date` turns it into the monitor's clock error (wall clock minus reference, corrected by
half the round trip). :class:`TimeReference` asks the Telegram Bot API's base URL (a HEAD request without
the token, by default hourly) for the same header, so an office without a dead man's switch still learns
that its clock is wrong — the classic case is a computer whose clock battery died and that booted after a
power cut on 1 January. Readings go to ``on_reading(ClockReading)``; the self-warnings decide what to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from monitor.clock import Clock, utc
from monitor.lifecycle import TaskComponent

if TYPE_CHECKING:
    from monitor.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["ClockReading", "DeadMansSwitch", "TimeReference", "skew_from_date"]


@dataclass(frozen=True, slots=True)
class ClockReading:
    """One comparison of our wall clock with a reference: ``skew_s`` > 0 means our clock is ahead."""

    at: datetime
    skew_s: float
    source: str          # "heartbeat_url" or "telegram" (never the URL itself)
    uncertainty_s: float


def skew_from_date(date_header: str | None, sent: datetime, received: datetime) -> tuple[float, float] | None:
    """``(skew_s, uncertainty_s)`` of our clock against an HTTP ``Date`` header (pure).

    The server stamped its answer somewhere between our send and our receive; we compare with the midpoint.
    ``Date`` has whole seconds, so the uncertainty is half the round trip plus one second. None when the
    header is missing or unreadable."""
    if not date_header:
        return None
    try:
        server = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if server is None or server.tzinfo is None:
        return None
    sent, received = utc(sent), utc(received)
    midpoint = sent + (received - sent) / 2
    # the header truncates to the second: the server's true time is in [server, server + 1 s)
    skew = (midpoint - (utc(server) + timedelta(seconds=0.5))).total_seconds()
    return round(skew, 3), round(abs((received - sent).total_seconds()) / 2 + 0.5, 3)


class _HttpLoop(TaskComponent):
    """Requests ``url`` every ``interval`` seconds (the first at once); subclasses decide what to do."""

    name = "http-loop"

    def __init__(self, url: str | None, interval: timedelta, clock: Clock, *, method: str, timeout: float,
                 source: str, on_reading: Callable[[ClockReading], None] | None) -> None:
        self.url = url
        self.interval = interval
        self.clock = clock
        self.method = method
        self.timeout = timeout
        self.source = source
        self.on_reading = on_reading
        self._task: asyncio.Task[None] | None = None
        self._session: object | None = None
        self.requests = 0
        self.failures = 0

    async def stop(self) -> None:
        await super().stop()
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()  # type: ignore[attr-defined]

    def _wanted(self) -> bool:
        return True

    async def _loop(self) -> None:
        while True:
            if self._wanted():
                try:
                    await self.request_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # never let this loop die: it is how the outside hears from us
                    log.error("%s: unexpected %s", self.name, type(exc).__name__)
            await self.clock.sleep(max(0.05, self.interval.total_seconds()))

    async def request_once(self) -> int | None:
        """One request. Returns the HTTP status, or None when no answer came (the error kind is logged)."""
        import aiohttp

        if not self.url:
            return None

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        session: aiohttp.ClientSession = self._session  # type: ignore[assignment]
        self.requests += 1
        started = self.clock.monotonic()   # the round trip is a duration: monotonic, whatever the wall clock does
        try:
            async with session.request(self.method, self.url, allow_redirects=False,
                                       headers={"User-Agent": "ektp-monitor"}) as rsp:
                await rsp.read()
                status, date = rsp.status, rsp.headers.get("Date")
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            # str(exc) of aiohttp errors can contain the URL: log the kind only
            self.failures += 1
            self._failed(type(exc).__name__)
            return None
        received = self.clock.now()
        sent = received - timedelta(seconds=max(0.0, self.clock.monotonic() - started))
        reading = skew_from_date(date, sent, received)
        if reading is not None and self.on_reading is not None:
            self.on_reading(ClockReading(received, reading[0], self.source, reading[1]))
        self._answered(status)
        return status

    def _failed(self, kind: str) -> None:
        pass

    def _answered(self, status: int) -> None:
        pass


class DeadMansSwitch(_HttpLoop):
    """Pings ``monitor.heartbeat_url`` while ``healthy()`` says the monitor works (a Component).

    GET, ``interval`` apart, the first one at start. A 2xx/3xx answer is a ping received; anything else is
    logged once (by status) until pings get through again. ``pings`` counts the successful ones. Without a
    URL it idles (a reload may add one)."""

    name = "monitor.heartbeat_url"

    def __init__(self, url: str | None, interval: timedelta, clock: Clock, *,
                 healthy: Callable[[], bool] = lambda: True, timeout: float = 10.0,
                 on_reading: Callable[[ClockReading], None] | None = None) -> None:
        super().__init__(url, interval, clock, method="GET", timeout=timeout, source="heartbeat_url",
                         on_reading=on_reading)
        self.healthy = healthy
        self.pings = 0
        self._problem: str | None = None
        self._skipping = False

    def _wanted(self) -> bool:
        if not self.url:
            return False
        ok = self.healthy()
        if not ok and not self._skipping:
            log.warning("heartbeat URL: not pinged while the monitor cannot write its record (the external "
                        "dead man's switch will raise the alarm)")
        elif ok and self._skipping:
            log.info("heartbeat URL: pinging again")
        self._skipping = not ok
        return ok

    def _failed(self, kind: str) -> None:
        self._report(f"not reached ({kind})")

    def _answered(self, status: int) -> None:
        if status < 400:
            self.pings += 1
            if self._problem is not None:
                log.info("heartbeat URL: pings get through again")
                self._problem = None
        else:
            self._report(f"answered HTTP {status}")

    def _report(self, problem: str) -> None:
        if problem != self._problem:
            log.warning("heartbeat URL %s; retrying every %.0f s", problem, self.interval.total_seconds())
            self._problem = problem

    async def reload(self, settings: Settings) -> None:
        """A reloaded config: the new URL (or none) and interval apply from the next ping."""
        self.url, self.interval = settings.monitor.heartbeat_url, settings.monitor.heartbeat_url_interval



class TimeReference(_HttpLoop):
    """HEAD ``base_url`` (no token, no redirects) every ``interval`` just to read its ``Date`` header."""

    name = "monitor.time_reference"

    def __init__(self, base_url: str, clock: Clock, *, interval: timedelta = timedelta(hours=1),
                 timeout: float = 10.0, on_reading: Callable[[ClockReading], None] | None = None,
                 source: str = "telegram") -> None:
        super().__init__(base_url.rstrip("/") + "/", interval, clock, method="HEAD", timeout=timeout,
                         source=source, on_reading=on_reading)

    async def reload(self, settings: Settings) -> None:
        self.url = settings.telegram.api_base_url.rstrip("/") + "/" if settings.telegram.enabled else None
