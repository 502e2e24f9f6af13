"""TCP connect check: the recording application's port, or the Ministry's data center over the VPN.

Outcomes: connected in time → ``up`` (``degraded`` when the connect took longer than
``degraded_connect_ms``); refused (RST: host up, nothing listening) → ``down`` with
:attr:`ReasonCode.REFUSED`; no answer within ``timeout`` (after ``retries`` more tries) → ``down``
with :attr:`ReasonCode.TIMEOUT`; no route → ``down`` with :attr:`ReasonCode.UNREACHABLE`.
Metric: ``tcp.connect`` (ms). The connection is closed at once; nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from datetime import datetime
from typing import ClassVar

from monitor.domain import CheckResult, Device, ReasonCode, Status, TcpSpec

__all__ = ["TcpCheck", "connect_time"]

_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN}


async def connect_time(host: str, port: int, limit_s: float) -> float:
    """Seconds to establish a TCP connection; raises OSError / TimeoutError like the socket does."""
    start = time.perf_counter()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit_s)
    elapsed = time.perf_counter() - start
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    del reader
    return elapsed


class TcpCheck:
    """``type: tcp`` — see the module docstring."""

    kind: ClassVar[str] = "tcp"

    def __init__(self, spec: TcpSpec) -> None:
        self.spec = spec

    async def run(self, device: Device, *, now: datetime) -> CheckResult:
        spec = self.spec
        host = spec.address or device.address
        start = time.monotonic()
        if not host:
            return self._result(now, start, Status.UNKNOWN, "no address configured", ReasonCode.CHECK_ERROR)
        timeout = spec.timeout.total_seconds()
        where = f"port {spec.port}"
        last: tuple[Status, str, ReasonCode] | None = None
        for _attempt in range(spec.retries + 1):
            try:
                seconds = await connect_time(host, spec.port, timeout)
            except TimeoutError:
                last = (Status.DOWN, f"{where}: no answer within {timeout:g}s", ReasonCode.TIMEOUT)
                continue
            except ConnectionRefusedError:
                return self._result(now, start, Status.DOWN, f"{where}: connection refused (service not running)",
                                    ReasonCode.REFUSED)
            except OSError as exc:
                if exc.errno in _UNREACHABLE:
                    return self._result(now, start, Status.DOWN, f"{where}: {exc.strerror or 'unreachable'}",
                                        ReasonCode.UNREACHABLE)
                if isinstance(exc, ConnectionError):
                    last = (Status.DOWN, f"{where}: {exc.strerror or exc}", ReasonCode.REFUSED)
                    continue
                return self._result(now, start, Status.UNKNOWN, f"{where}: cannot connect on our side: {exc}",
                                    ReasonCode.CHECK_ERROR)
            ms = round(seconds * 1000.0, 2)
            metrics = {"tcp.connect": ms}
            if ms > spec.degraded_connect_ms:
                return self._result(now, start, Status.DEGRADED,
                                    f"{where}: slow connect {ms:.0f} ms (limit {spec.degraded_connect_ms:g} ms)",
                                    ReasonCode.LOSS, metrics)
            return self._result(now, start, Status.UP, None, None, metrics)
        assert last is not None
        return self._result(now, start, *last)

    def _result(self, now: datetime, start: float, status: Status, reason: str | None, code: ReasonCode | None,
                metrics: dict[str, float] | None = None) -> CheckResult:
        return CheckResult(check=self.spec.key, type=self.kind, status=status, time=now,
                           duration_s=round(time.monotonic() - start, 4), reason=reason, reason_code=code,
                           metrics=metrics or {}, units={"tcp.connect": "ms"} if metrics else {})
