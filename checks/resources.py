"""What every check of one process shares: the SNMP backend (one socket, one engine — or ezsnmp's thread
pool), the ICMP sweeper (one socket for every ping), and the profile catalogue. Built once by the composition root
(``monitor.app.CheckResources`` re-exports it) and closed on shutdown.

SNMP backends (``monitor.snmp_backend``): ``pysnmp`` (the default, pure Python, asyncio), ``ezsnmp``
(net-snmp's C library from the ``fast`` extra: ~10x less CPU per poll, for thousands of devices) and
``auto`` (ezsnmp when it is installed, else pysnmp). Both pass the same check tests.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from checks.profiles import ProfileCatalog
from checks.snmp_backend import PysnmpBackend, SnmpBackend
from monitor.errors import CheckSetupError

if TYPE_CHECKING:
    from checks.ping import IcmpSweeper

__all__ = ["SNMP_BACKENDS", "CheckResources", "resolve_snmp_backend"]

SNMP_BACKENDS = ("auto", "pysnmp", "ezsnmp")


def resolve_snmp_backend(choice: str) -> str:
    """``auto`` -> ``ezsnmp`` when installed, else ``pysnmp``. Raises :class:`CheckSetupError` when
    ``ezsnmp`` is asked for but cannot be imported (the message says how to install it)."""
    if choice not in SNMP_BACKENDS:
        raise CheckSetupError(f"unknown SNMP backend {choice!r}: use one of {', '.join(SNMP_BACKENDS)}")
    if choice == "pysnmp":
        return choice
    from checks.snmp_ezsnmp import ezsnmp_available

    if ezsnmp_available():
        return "ezsnmp"
    if choice == "auto":
        return "pysnmp"
    raise CheckSetupError("monitor.snmp_backend is ezsnmp but ezsnmp is not installed; "
                          "install it with: pip install 'ektp-monitor[fast]' (or use snmp_backend: pysnmp)")


class CheckResources:
    """Shared resources. ``snmp`` is created on first use inside the running event loop (pysnmp binds its
    dispatcher to the loop). ``icmp_privileged`` is decided once; it raises
    :class:`~monitor.errors.CheckSetupError` when ICMP is not possible at all."""

    def __init__(self, *, profiles: ProfileCatalog | None = None, snmp_concurrency: int = 100,
                 ping_privileged: bool | None = None, base_dir: Path | None = None,
                 snmp_backend: SnmpBackend | str | None = None) -> None:
        """``snmp_backend``: a backend object, or ``pysnmp`` (default) / ``ezsnmp`` / ``auto``; a backend
        that cannot be used raises :class:`CheckSetupError` here, not at the first poll."""
        self.profiles = profiles or ProfileCatalog()
        self.snmp_concurrency = snmp_concurrency
        self.base_dir = base_dir
        self._ping_preference = ping_privileged
        self._icmp: bool | None = None
        self._sweeper: IcmpSweeper | None = None
        self._snmp: SnmpBackend | None = None
        if snmp_backend is None or isinstance(snmp_backend, str):
            self.snmp_backend_name = resolve_snmp_backend(snmp_backend or "pysnmp")
        else:
            self._snmp = snmp_backend
            self.snmp_backend_name = snmp_backend.name

    @property
    def snmp(self) -> SnmpBackend:
        if self._snmp is None:
            concurrency = min(max(self.snmp_concurrency, 1), 500)
            if self.snmp_backend_name == "ezsnmp":
                from checks.snmp_ezsnmp import EzsnmpBackend

                self._snmp = EzsnmpBackend(max_concurrency=concurrency)
            else:
                self._snmp = PysnmpBackend(max_concurrency=concurrency)
        return self._snmp

    def icmp_privileged(self) -> bool:
        if self._icmp is None:
            from checks.ping import icmp_mode

            self._icmp = icmp_mode(self._ping_preference)
        return self._icmp

    def icmp_sweeper(self) -> IcmpSweeper:
        """The process's one ICMP sweeper (every ping check's packets through one socket per family).
        Raises :class:`CheckSetupError` when ICMP is not permitted (see :meth:`icmp_privileged`)."""
        if self._sweeper is None:
            from checks.ping import IcmpSweeper

            self._sweeper = IcmpSweeper(self.icmp_privileged())
        return self._sweeper

    async def close(self) -> None:
        """Release sockets (idempotent)."""
        if self._sweeper is not None:
            await self._sweeper.close()
            self._sweeper = None
        if self._snmp is not None:
            await self._snmp.close()
            self._snmp = None

    async def __aenter__(self) -> CheckResources:
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
