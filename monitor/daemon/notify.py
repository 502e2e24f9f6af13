"""systemd readiness and watchdog (``Type=notify``, ``WatchdogSec=``), by the documented socket protocol.

sd_notify(3) is one datagram of ``KEY=VALUE`` lines sent to the AF_UNIX socket named by ``$NOTIFY_SOCKET``
(a leading ``@`` means the abstract namespace). systemd documents this protocol as stable and meant to be
implemented directly; it is about twenty lines, so it is written here rather than taken from a library
(``sdnotify`` on PyPI has not been released since 2017; ``systemd-python`` needs libsystemd headers to build).

Outside systemd (no ``$NOTIFY_SOCKET``) every call is a no-op, so the same daemon runs in a terminal, in the
demo and in tests. A send that fails is logged once and never stops the daemon.

:class:`SystemdNotifier` is a daemon component: started last, it says ``READY=1`` (the record is loaded and
every check is scheduled) with a ``STATUS=`` line; while running it sends ``WATCHDOG=1`` every half
``$WATCHDOG_USEC`` and refreshes ``STATUS=``; on reload it says ``READY=1`` again; on stop ``STOPPING=1``.
The watchdog proves the event loop still turns (a blocking call or a deadlock stops it, and systemd restarts
the service); it deliberately does not depend on the database, so a full disk is reported (selfwarn,
``ektp-monitor status``, ``/metrics``) instead of turned into a restart loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping

from monitor.lifecycle import TaskComponent

log = logging.getLogger(__name__)


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (``KEY=VALUE`` lines) to systemd; False when not under systemd or the send failed."""
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):  # vsock: and other forms (systemd 254+) are not used by Debian 12
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8", "replace"))
    except OSError as exc:
        log.warning("sd_notify to %s failed: %s", env.get("NOTIFY_SOCKET"), exc)
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds (systemd's advice), when the watchdog is meant for this process."""
    env = os.environ if environ is None else environ
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 2e6


def _status_line(text: str) -> str:
    return "STATUS=" + " ".join(text.split())[:200]


class SystemdNotifier(TaskComponent):
    """Readiness, status and watchdog for systemd (see the module docstring)."""

    name = "systemd-notify"

    def __init__(self, status: Callable[[], str], *, environ: Mapping[str, str] | None = None,
                 status_every: float = 30.0) -> None:
        self.status = status
        self.environ = dict(os.environ if environ is None else environ)
        self.status_every = status_every
        self.watchdog = watchdog_interval(self.environ)

    @property
    def active(self) -> bool:
        return bool(self.environ.get("NOTIFY_SOCKET"))

    def _send(self, *lines: str) -> bool:
        return notify("\n".join(lines), self.environ)

    def _status(self) -> str:
        try:
            return _status_line(self.status())
        except Exception as exc:  # a status line is a courtesy: never let it stop readiness
            return _status_line(f"running ({exc.__class__.__name__} while summarising)")

    async def start(self) -> None:
        if not self.active:
            return
        self._send("READY=1", self._status(), f"MAINPID={os.getpid()}")
        await super().start()

    async def _loop(self) -> None:
        period = min(self.watchdog or self.status_every, self.status_every)
        since_status = 0.0
        while True:
            await asyncio.sleep(period)
            since_status += period
            lines = ["WATCHDOG=1"] if self.watchdog else []
            if since_status >= self.status_every:
                lines.append(self._status())
                since_status = 0.0
            if lines:
                self._send(*lines)

    async def reload(self, settings: object) -> None:
        if self.active:
            self._send("READY=1", self._status())

    async def stop(self) -> None:
        if self.active and self._task is not None:
            self._send("STOPPING=1", _status_line("stopping"))
        await super().stop()
