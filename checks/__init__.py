"""Check kinds: one module per kind, each exposing one class that implements ``monitor.domain.Check``.

``REGISTRY`` maps the config ``type`` (ping, snmp, tcp, host) to the class. Only the composition root
(``monitor/app.py``, the CLI) imports this package.
"""

from __future__ import annotations

from typing import Any

from monitor.registry import Registry

REGISTRY: Registry[Any] = Registry("check kind")
