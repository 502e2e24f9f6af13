"""Alert channels (one module each), routing, escalation and the durable outbox.

``REGISTRY`` maps a channel name to its notifier class (``monitor.domain.Notifier``).
"""

from __future__ import annotations

from typing import Any

from monitor.registry import Registry

REGISTRY: Registry[Any] = Registry("alert channel")


def _register_channels() -> None:
    from alerts.telegram import TelegramNotifier

    REGISTRY.register(TelegramNotifier.name, TelegramNotifier)


_register_channels()
