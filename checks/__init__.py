"""Check kinds: one module per kind, each exposing one class that implements ``monitor.domain.Check``.

``REGISTRY`` maps the config ``type`` (ping, snmp, tcp, host) to the class. Only the composition root
(``monitor/app.py``, the CLI) imports this package. Constructors differ by what a kind shares with the
others (see :class:`checks.resources.CheckResources`); ``monitor.app.build_checks`` builds them all.

Every check has ``kind``, ``async run(device, *, now) -> CheckResult`` (never raises for a device-side
failure) and, when it keeps state between runs (SNMP counters, the host's boot time),
``restore(metrics, *, at=None)`` to seed that state from the last persisted metrics.

The registry is built on first use, so importing ``checks.profiles`` (config validation) does not pay
for pysnmp, icmplib and psutil.
"""

from __future__ import annotations

from typing import Any

from monitor.registry import Registry

__all__ = ["REGISTRY"]

_registry: Registry[Any] | None = None


def _build() -> Registry[Any]:
    from checks.host import HostCheck
    from checks.ping import PingCheck
    from checks.snmp import SnmpCheck
    from checks.tcp import TcpCheck

    registry: Registry[Any] = Registry("check kind")
    for cls in (PingCheck, SnmpCheck, TcpCheck, HostCheck):
        registry.register(cls.kind, cls)
    return registry


def __getattr__(name: str) -> Any:
    global _registry
    if name == "REGISTRY":
        if _registry is None:
            _registry = _build()
        return _registry
    raise AttributeError(f"module 'checks' has no attribute {name!r}")
