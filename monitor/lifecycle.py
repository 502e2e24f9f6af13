"""How long-running parts plug into the daemon.

The daemon (``monitor/daemon.py``) starts a list of components built by the composition root — the
check scheduler, the trap receiver, the self-watch heartbeat, the alert router and outbox dispatcher,
the Telegram bot, the weekly report job — and stops them in reverse order on SIGTERM/SIGINT.
On SIGHUP it validates the new config first and, only if it is valid, hands it to every component
that can reload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

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
