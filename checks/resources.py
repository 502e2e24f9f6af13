"""What every check of one process shares: the SNMP backend (one socket, one engine), the ICMP socket
mode, and the profile catalogue. Built once by the composition root (``monitor.app.CheckResources``
re-exports it) and closed on shutdown.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from checks.profiles import ProfileCatalog
from checks.snmp_backend import PysnmpBackend, SnmpBackend

__all__ = ["CheckResources"]


class CheckResources:
    """Shared resources. ``snmp`` is created on first use inside the running event loop (pysnmp binds its
    dispatcher to the loop). ``icmp_privileged`` is decided once; it raises
    :class:`~monitor.errors.CheckSetupError` when ICMP is not possible at all."""

    def __init__(self, *, profiles: ProfileCatalog | None = None, snmp_concurrency: int = 100,
                 ping_privileged: bool | None = None, base_dir: Path | None = None,
                 snmp_backend: SnmpBackend | None = None) -> None:
        self.profiles = profiles or ProfileCatalog()
        self.snmp_concurrency = snmp_concurrency
        self.base_dir = base_dir
        self._ping_preference = ping_privileged
        self._icmp: bool | None = None
        self._snmp = snmp_backend

    @property
    def snmp(self) -> SnmpBackend:
        if self._snmp is None:
            self._snmp = PysnmpBackend(max_concurrency=min(max(self.snmp_concurrency, 1), 500))
        return self._snmp

    def icmp_privileged(self) -> bool:
        if self._icmp is None:
            from checks.ping import icmp_mode

            self._icmp = icmp_mode(self._ping_preference)
        return self._icmp

    async def close(self) -> None:
        """Release sockets (idempotent)."""
        if self._snmp is not None:
            await self._snmp.close()
            self._snmp = None

    async def __aenter__(self) -> CheckResources:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
