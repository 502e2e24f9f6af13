"""How long-running parts plug into the daemon.

The daemon (``monitor/daemon/core.py``) starts a list of components built by the composition root — the
check scheduler, the trap receiver, the self-watch heartbeat, the alert router and outbox dispatcher,
the Telegram bot, the weekly report job — and stops them in reverse order on SIGTERM/SIGINT.
On SIGHUP it validates the new config first and, only if it is valid, hands it to every component
that can reload.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from monitor.settings import Settings


@runtime_checkable
class Component(Protocol):
    """A long-running part of the daemon."""

    name: str

    async def start(self) -> None:
        """Begin background work and return promptly (spawn tasks; do not block)."""

    async def stop(self) -> None:
        """Stop background work, flush what must be kept, release sockets. Idempotent."""


@runtime_checkable
class Reloadable(Protocol):
    """A component that can take a new, already validated config without restarting."""

    async def reload(self, settings: Settings) -> None: ...


async def cancel_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has ended; its CancelledError stays here."""
    if task is not None and not task.done():
        task.cancel()
    if task is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await task


class TaskComponent:
    """A component whose whole work is one background coroutine, :meth:`_loop`: ``start`` spawns it once,
    ``stop`` cancels it and waits for it (idempotent). Subclasses that must flush on stop extend ``stop``."""

    name: str = "task"
    _task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_task(task)
