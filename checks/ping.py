"""ICMP echo check (icmplib).

Each probe sends ``spec.count`` echo requests ``spec.packet_interval`` apart on one socket and waits for
the replies *concurrently*: a dead host costs ``(count - 1) × interval + timeout``, not ``count ×
timeout`` as icmplib's own ``async_ping`` would. Many devices are probed at once by the runner; nothing
here blocks the loop.

Status: ``down`` at 100 % loss (``unreachable`` reason code when the network says so), ``degraded``
when loss reaches ``degraded_loss_pct`` or the average RTT exceeds ``degraded_rtt_ms``, else ``up``.
Metrics: ``ping.loss`` (%), ``ping.rtt.min/avg/max`` (ms), ``ping.sent``, ``ping.received``.

Sockets: datagram ICMP sockets when ``net.ipv4.ping_group_range`` allows them (cheaper: the kernel
routes each reply to its socket), else raw sockets as root. :func:`icmp_mode` decides once at start-up
and raises one :class:`~monitor.errors.CheckSetupError` that says how to fix it when neither works.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import ClassVar

from icmplib import ICMPRequest, ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import ICMPLibError, SocketPermissionError
from icmplib.sockets import AsyncSocket
from icmplib.utils import unique_identifier

from monitor.domain import CheckResult, Device, PingSpec, ReasonCode, Status
from monitor.errors import CheckSetupError

__all__ = ["PingCheck", "PingStats", "icmp_mode", "ping"]

_FIX = ("ICMP ping is not permitted for this user: run ektp-monitor as root, or allow datagram ICMP "
        "sockets for its group: sysctl -w net.ipv4.ping_group_range=\"0 2147483647\" (make it permanent "
        "in /etc/sysctl.d/60-ektp-monitor.conf)")


def icmp_mode(prefer: bool | None = None) -> bool:
    """The ``privileged`` flag to use: False (datagram sockets) when allowed, True (raw, root) otherwise.

    ``prefer`` forces one mode (and checks it works). Raises :class:`CheckSetupError` when no mode works.
    """
    order = [prefer] if prefer is not None else [False, True]
    for privileged in order:
        try:
            sock = ICMPv4Socket(privileged=privileged)
        except SocketPermissionError:
            continue
        except ICMPLibError:
            continue
        sock.close()
        return privileged
    raise CheckSetupError(_FIX)


class PingStats:
    """Outcome of one probe."""

    __slots__ = ("errors", "received", "rtts", "sent")

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.rtts: list[float] = []
        self.errors: list[str] = []

    @property
    def loss_pct(self) -> float:
        return 100.0 if self.sent == 0 else round(100.0 * (self.sent - self.received) / self.sent, 1)


async def ping(address: str, *, count: int, interval: float, reply_timeout: float, privileged: bool) -> PingStats:
    """Send ``count`` echo requests and collect replies until all answered or ``reply_timeout`` after the last."""
    stats = PingStats()
    sock_cls = ICMPv6Socket if ":" in address else ICMPv4Socket
    ident = unique_identifier()
    sent_at: dict[int, float] = {}
    answered: set[int] = set()
    loop_done = asyncio.Event()
    with AsyncSocket(sock_cls(None, privileged)) as sock:
        our_id: list[int] = [ident]

        async def sender() -> None:
            try:
                for seq in range(count):
                    if seq:
                        await asyncio.sleep(interval)
                    request = ICMPRequest(address, id=ident, sequence=seq)
                    try:
                        sock.send(request)
                    except ICMPLibError as exc:   # e.g. "Network is unreachable": nothing can come back
                        stats.errors.append(str(exc) or type(exc).__name__)
                        stats.sent += 1
                        continue
                    our_id[0] = request.id       # datagram sockets: the kernel picks the id
                    sent_at[seq] = request.time
                    stats.sent += 1
            finally:
                loop_done.set()

        send_task = asyncio.create_task(sender())
        deadline = time.time() + (count - 1) * interval + reply_timeout
        try:
            while time.time() < deadline:
                if loop_done.is_set() and len(answered) >= len(sent_at):
                    break
                if loop_done.is_set() and not sent_at:
                    break
                try:
                    reply = await sock.receive(None, max(0.001, min(deadline - time.time(), interval or reply_timeout)))
                except ICMPLibError:
                    continue                      # TimeoutExceeded: look again until the deadline
                seq = reply.sequence
                if reply.type in (8, 128):
                    continue                      # our own echo request, seen by a raw socket on loopback
                if reply.id != our_id[0] or seq not in sent_at or seq in answered:
                    continue                      # another probe's packet (raw sockets see every reply)
                answered.add(seq)
                try:
                    reply.raise_for_status()
                except ICMPLibError as exc:
                    stats.errors.append(type(exc).__name__)
                    continue
                stats.received += 1
                stats.rtts.append((reply.time - sent_at[seq]) * 1000.0)
        finally:
            if not send_task.done():
                send_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await send_task
    return stats


class PingCheck:
    """``type: ping`` — see the module docstring."""

    kind: ClassVar[str] = "ping"

    def __init__(self, spec: PingSpec, *, privileged: bool) -> None:
        self.spec = spec
        self.privileged = privileged

    async def run(self, device: Device, *, now: datetime) -> CheckResult:
        spec = self.spec
        address = spec.address or device.address
        start = time.monotonic()
        if not address:
            return self._result(now, start, Status.UNKNOWN, "no address configured", ReasonCode.CHECK_ERROR)
        timeout = spec.timeout.total_seconds()
        try:
            stats = await ping(address, count=spec.count, interval=spec.packet_interval.total_seconds(),
                               reply_timeout=timeout, privileged=self.privileged)
        except SocketPermissionError:
            return self._result(now, start, Status.UNKNOWN, _FIX, ReasonCode.CHECK_ERROR)
        except (ICMPLibError, OSError) as exc:
            return self._result(now, start, Status.UNKNOWN, f"ping failed on our side: {exc}",
                                ReasonCode.CHECK_ERROR)
        metrics: dict[str, float | int] = {"ping.sent": stats.sent, "ping.received": stats.received,
                                           "ping.loss": stats.loss_pct}
        units = {"ping.loss": "%", "ping.rtt.min": "ms", "ping.rtt.avg": "ms", "ping.rtt.max": "ms"}
        if stats.rtts:
            metrics["ping.rtt.min"] = round(min(stats.rtts), 3)
            metrics["ping.rtt.avg"] = round(sum(stats.rtts) / len(stats.rtts), 3)
            metrics["ping.rtt.max"] = round(max(stats.rtts), 3)
        if stats.received == 0:
            unreachable = any("nreachable" in e for e in stats.errors)
            if unreachable:
                why = "network unreachable" if any("Network" in e for e in stats.errors) else "host unreachable"
                return self._result(now, start, Status.DOWN, f"no reply to {stats.sent} pings ({why})",
                                    ReasonCode.UNREACHABLE, metrics, units)
            return self._result(now, start, Status.DOWN, f"no reply to {stats.sent} pings",
                                ReasonCode.TIMEOUT, metrics, units)
        reasons = []
        if stats.loss_pct >= spec.degraded_loss_pct and stats.loss_pct > 0:
            reasons.append(f"packet loss {stats.loss_pct:g}% ({stats.received}/{stats.sent} replies)")
        if metrics.get("ping.rtt.avg", 0) > spec.degraded_rtt_ms:
            reasons.append(f"slow replies: {metrics['ping.rtt.avg']:.0f} ms average")
        if reasons:
            return self._result(now, start, Status.DEGRADED, "; ".join(reasons), ReasonCode.LOSS, metrics, units)
        return self._result(now, start, Status.UP, None, None, metrics, units)

    def _result(self, now: datetime, start: float, status: Status, reason: str | None, code: ReasonCode | None,
                metrics: dict[str, float | int] | None = None, units: dict[str, str] | None = None) -> CheckResult:
        return CheckResult(check=self.spec.key, type=self.kind, status=status, time=now,
                           duration_s=round(time.monotonic() - start, 4), reason=reason, reason_code=code,
                           metrics=metrics or {}, units=units or {})
