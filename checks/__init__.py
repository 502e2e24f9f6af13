"""Check kinds: one module per kind, each exposing one class that implements ``monitor.domain.Check``.

``REGISTRY`` maps the config ``type`` (ping, snmp, tcp, host) to the class. Only the composition root
(``monitor/app.py``, the CLI) imports this package. Constructors differ by what a kind shares with the
others (see :class:`checks.resources.CheckResources`); ``monitor.app.build_checks`` builds them all.

Every check has ``kind``, ``async run(device, *, now) -> CheckResult`` (never raises for a device-side
failure) and, when it keeps state between runs (SNMP counters, the host's boot time),
``restore(metrics, *, at=None)`` to seed that state from the last persisted metrics.
"""

from __future__ import annotations

from typing import Any

from checks.host import HostCheck
from checks.ping import PingCheck
from checks.snmp import SnmpCheck
from checks.tcp import TcpCheck
from monitor.registry import Registry

REGISTRY: Registry[Any] = Registry("check kind")
REGISTRY.register(PingCheck.kind, PingCheck)
REGISTRY.register(SnmpCheck.kind, SnmpCheck)
REGISTRY.register(TcpCheck.kind, TcpCheck)
REGISTRY.register(HostCheck.kind, HostCheck)
