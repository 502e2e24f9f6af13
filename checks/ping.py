"""ICMP echo check, and the sweeper that sends every probe of the process through one socket.

:class:`IcmpSweeper` (one per process, shared through :class:`~checks.resources.CheckResources`) owns one
ICMP socket per address family, created with icmplib (which decides raw or datagram and maps permission
errors). Every :class:`PingCheck` hands its probe to it, so 10,000 devices a minute cost 10,000 probes on
one socket — not 10,000 sockets, each of which (as a raw socket) would also receive a copy of every other
probe's replies. The sweeper:

* keeps each probe's packets in a time wheel (5 ms slots) and sends what is due in bursts of at most
  ``burst`` packets per event-loop turn, so replies are read between bursts and never overflow the
  receive buffer (raised to 8 MiB, ``SO_RCVBUFFORCE`` when root);
* matches replies by (source address, sequence number) — datagram sockets get only their own replies
  from the kernel; raw sockets check the identifier too;
* waits for a probe's replies *concurrently*: a dead host costs ``(count - 1) × interval + timeout``,
  not ``count × timeout`` as icmplib's own ``async_ping`` would;
* ends a probe as soon as every packet is answered, or at its deadline (deadlines sit in the same heap:
  one timer for the whole sweeper).

``ping()`` without a sweeper makes a private one for that probe (one socket, as before): used by callers
that ping once (``ektp-monitor check``, tests).

Status: ``down`` at 100 % loss (``unreachable`` reason code when the network says so), ``degraded``
when loss reaches ``degraded_loss_pct`` or the average RTT exceeds ``degraded_rtt_ms``, else ``up``.
Metrics: ``ping.loss`` (%), ``ping.rtt.min/avg/max`` (ms), ``ping.sent``, ``ping.received``.

Sockets: datagram ICMP sockets when ``net.ipv4.ping_group_range`` allows them (cheaper: the kernel
routes each reply to its socket and computes the checksum), else raw sockets as root. :func:`icmp_mode`
decides once at start-up and raises one :class:`~monitor.errors.CheckSetupError` that says how to fix it
when neither works.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import ipaddress
import math
import os
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from icmplib import ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import ICMPLibError, SocketPermissionError

from monitor.domain import CheckResult, Device, PingSpec, ReasonCode, Status
from monitor.errors import CheckSetupError

__all__ = ["IcmpSweeper", "PingCheck", "PingStats", "icmp_mode", "ping"]

_FIX = ("ICMP ping is not permitted for this user: run ektp-monitor as root, or allow datagram ICMP "
        "sockets for its group: sysctl -w net.ipv4.ping_group_range=\"0 2147483647\" (make it permanent "
        "in /etc/sysctl.d/60-ektp-monitor.conf)")

_PAYLOAD = b"ektp-monitor ping " + bytes(range(38))      # 56 bytes, like ping(8)
_ECHO = struct.Struct("!BBHHH")
_BUF = 8 << 20
_READ_BATCH = 2048                                        # packets read per readiness callback at most
_SLOT = 0.005                                             # time-wheel resolution, seconds
_UNSENT, _FAILED = -2, -1                                 # sequence slots of a probe not (yet) on the wire
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


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


# ------------------------------------------------------------------------------------------- sweeper


def _payload_sum(payload: bytes) -> int:
    data = payload + b"\x00" if len(payload) % 2 else payload
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


_PAYLOAD_SUM = _payload_sum(_PAYLOAD)


def _literal(address: str) -> str | None:
    """The normal form of an IP literal (``fe80::1%eth0`` loses its scope), or None for a name."""
    host = address.split("%", 1)[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, host))
        except OSError:
            continue
    return None


def _echo_v4(ident: int, seq: int) -> bytes:
    """An ICMPv4 echo request with its checksum (RFC 1071: the payload's part is precomputed)."""
    s = 0x0800 + ident + seq + _PAYLOAD_SUM
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return _ECHO.pack(8, 0, ~s & 0xFFFF, ident, seq) + _PAYLOAD


_V4_ERRORS = {3: "Destination unreachable", 11: "Time exceeded"}
_V4_UNREACH = {0: "Network is unreachable", 1: "Host unreachable", 9: "Network is unreachable (prohibited)",
               10: "Host unreachable (prohibited)", 13: "Host unreachable (prohibited)"}
_V6_UNREACH = {0: "Network is unreachable (no route)", 1: "Host unreachable (prohibited)",
               3: "Host unreachable (address unreachable)"}


@dataclass(slots=True, eq=False)
class _Probe:
    address: str
    fam: _Family
    count: int
    stats: PingStats
    future: asyncio.Future[PingStats]
    sent_at: list[float]
    seqs: list[int]
    deadline: float
    answered: int = 0
    expected: int = 0                   # packets on the wire (their reply or error is awaited)
    scheduled: int = 0                  # packets sent or failed so far
    done: bool = False


class _Family:
    """One ICMP socket of the sweeper (per address family)."""

    __slots__ = ("icmp", "ident", "raw", "seq", "sock", "v6")

    def __init__(self, v6: bool, privileged: bool) -> None:
        self.v6 = v6
        self.raw = privileged
        # icmplib creates the socket and maps EPERM/EACCES to SocketPermissionError
        self.icmp = (ICMPv6Socket if v6 else ICMPv4Socket)(None, privileged)
        sock = self.icmp.sock
        assert sock is not None
        sock.setblocking(False)
        for force, plain in ((_SO_RCVBUFFORCE, socket.SO_RCVBUF), (_SO_SNDBUFFORCE, socket.SO_SNDBUF)):
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, _BUF)     # root: beyond net.core.rmem_max
            except OSError:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, plain, _BUF)
        self.sock = sock
        self.ident = (os.getpid() ^ int.from_bytes(os.urandom(2), "big")) & 0xFFFF
        self.seq = int.from_bytes(os.urandom(2), "big")

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFF
        return self.seq

    def packet(self, seq: int) -> bytes:
        if self.v6:
            # the kernel computes ICMPv6 checksums (and fills the id of datagram sockets)
            return _ECHO.pack(128, 0, 0, self.ident, seq) + _PAYLOAD
        if not self.raw:
            return _ECHO.pack(8, 0, 0, 0, seq) + _PAYLOAD   # datagram: the kernel sets id and checksum
        return _echo_v4(self.ident, seq)

    def close(self) -> None:
        self.icmp.close()


class IcmpSweeper:
    """Every ICMP probe of the process through one socket per family (see the module docstring).

    Use inside one running event loop; :meth:`close` releases the sockets (idempotent)."""

    def __init__(self, privileged: bool, *, burst: int = 256) -> None:
        self.privileged = privileged
        self.burst = max(1, burst)
        self._families: dict[bool, _Family] = {}
        # a time wheel: packets (and deadlines, k = -1) due in slot n of _SLOT seconds; one heap entry per
        # slot, not per packet — probes registered together share their slots
        self._slots: dict[int, deque[tuple[_Probe, int]]] = {}
        self._slot_heap: list[int] = []
        self._waiting: dict[tuple[str, int], tuple[_Probe, int]] = {}
        self._pump_handle: asyncio.Handle | None = None
        self._pump_at = float("inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._resolved: dict[str, tuple[str, float]] = {}
        self.counters = {"probes": 0, "sent": 0, "received": 0, "send_errors": 0, "stray": 0}

    # ------------------------------------------------------------------------------ public

    async def probe(self, address: str, *, count: int, interval: float, reply_timeout: float) -> PingStats:
        """Send ``count`` echo requests ``interval`` apart; collect replies until all answered or
        ``reply_timeout`` after the last. Raises ``SocketPermissionError``/``ICMPLibError``/``OSError``
        when our side cannot ping at all (no permission, unresolvable name)."""
        loop = asyncio.get_running_loop()
        ip = _literal(address) or await self._resolve(address)
        fam = self._families.get(":" in ip) or self._family(ip, loop)   # created on first use (may raise)
        now = loop.time()
        stats = PingStats()
        count = max(1, count)
        probe = _Probe(ip, fam, count, stats, loop.create_future(), [0.0] * count, [_UNSENT] * count,
                       now + (count - 1) * interval + reply_timeout)
        self.counters["probes"] += 1
        for k in range(count):
            self._at(now + k * interval, probe, k)
        self._at(probe.deadline, probe, -1)   # the deadline: one timer for the whole sweeper, not one per probe
        self._schedule(loop, now)
        try:
            return await probe.future
        finally:
            if not probe.done:          # cancelled (runner timeout, shutdown): forget it
                self._finish(probe)

    async def close(self) -> None:
        loop = self._loop
        for fam in self._families.values():
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(Exception):
                    loop.remove_reader(fam.sock.fileno())
            fam.close()
        self._families.clear()
        if self._pump_handle is not None:
            self._pump_handle.cancel()
            self._pump_handle = None
        for slot in self._slots.values():
            for probe, _k in slot:
                if not probe.done:
                    self._finish(probe)
        self._slots.clear()
        self._slot_heap.clear()

    # ------------------------------------------------------------------------------ set-up

    async def _resolve(self, address: str) -> str:
        cached = self._resolved.get(address)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        infos = await asyncio.get_running_loop().getaddrinfo(address, None, type=socket.SOCK_DGRAM)
        if not infos:
            raise OSError(f"no address for {address}")
        ip = ipaddress.ip_address(str(infos[0][4][0]).split("%", 1)[0]).compressed
        if len(self._resolved) > 50000:
            self._resolved.clear()
        self._resolved[address] = (ip, now + 300.0)
        return ip

    def _family(self, ip: str, loop: asyncio.AbstractEventLoop) -> _Family:
        v6 = ":" in ip
        fam = self._families.get(v6)
        if fam is None:
            if self._loop is not None and self._loop is not loop:
                raise RuntimeError("an IcmpSweeper is bound to the event loop that first used it")
            self._loop = loop
            fam = _Family(v6, self.privileged)
            loop.add_reader(fam.sock.fileno(), self._on_readable, fam)
            self._families[v6] = fam
        return fam

    # ------------------------------------------------------------------------------ sending

    def _at(self, due: float, probe: _Probe, k: int) -> None:
        n = math.ceil(due / _SLOT)           # never early
        slot = self._slots.get(n)
        if slot is None:
            self._slots[n] = deque(((probe, k),))
            heapq.heappush(self._slot_heap, n)
        else:
            slot.append((probe, k))

    def _schedule(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        """Make sure the pump runs when the earliest packet is due (at once: on the next loop turn)."""
        if not self._slot_heap:
            return
        due = self._slot_heap[0] * _SLOT
        if self._pump_handle is not None:
            if due >= self._pump_at:
                return
            self._pump_handle.cancel()
        self._pump_at = due
        self._pump_handle = loop.call_soon(self._pump) if due <= now else loop.call_at(due, self._pump)

    def _pump(self) -> None:
        """Send what is due, at most ``burst`` packets; then let the loop read replies and come back."""
        loop = self._loop
        assert loop is not None
        self._pump_handle = None
        self._pump_at = float("inf")
        heap, slots = self._slot_heap, self._slots
        now = loop.time()
        sent = 0
        full = False
        while heap and heap[0] * _SLOT <= now and sent < self.burst and not full:
            slot = slots[heap[0]]
            while slot and sent < self.burst:
                probe, k = slot.popleft()
                if probe.done:
                    continue
                if k < 0:
                    self._finish(probe)          # its deadline: whatever did not answer is lost
                    continue
                if not self._send(probe, k, loop):
                    slot.appendleft((probe, k))   # send buffer full: again on the next turn
                    full = True
                    break
                sent += 1
            if not slot:
                del slots[heapq.heappop(heap)]
        self._schedule(loop, now)

    def _send(self, probe: _Probe, k: int, loop: asyncio.AbstractEventLoop) -> bool:
        fam = probe.fam
        seq = fam.next_seq()
        try:
            fam.sock.sendto(fam.packet(seq), (probe.address, 0))
        except BlockingIOError:
            return False
        except OSError as exc:   # e.g. "Network is unreachable": nothing can come back
            self.counters["send_errors"] += 1
            probe.stats.errors.append(exc.strerror or str(exc))
            probe.stats.sent += 1
            probe.scheduled += 1
            probe.seqs[k] = _FAILED
            self._maybe_done(probe)
            return True
        probe.sent_at[k] = time.monotonic()
        probe.seqs[k] = seq
        probe.expected += 1
        probe.stats.sent += 1
        probe.scheduled += 1
        self._waiting[(probe.address, seq)] = (probe, k)
        self.counters["sent"] += 1
        return True

    # ------------------------------------------------------------------------------ receiving

    def _on_readable(self, fam: _Family) -> None:
        sock = fam.sock
        now = time.monotonic()
        waiting = self._waiting
        fast = not fam.v6 and not fam.raw
        for _ in range(_READ_BATCH):
            try:
                data, addr = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if fast and len(data) >= 8 and data[0] == 0:
                # the common case (datagram socket, IPv4 echo reply): no parsing beyond the sequence number
                self._answered(waiting.pop((addr[0], (data[6] << 8) | data[7]), None), now)
            elif fam.v6:
                self._reply_v6(fam, data, addr[0].split("%", 1)[0], now, waiting)
            elif fam.raw:
                ihl = (data[0] & 0x0F) * 4 if data else 0
                self._reply_v4(fam, data[ihl:], addr[0], now, waiting, check_id=True)
            else:
                self._reply_v4(fam, data, addr[0], now, waiting, check_id=False)

    def _reply_v4(self, fam: _Family, icmp: bytes, source: str, now: float,
                  waiting: dict[tuple[str, int], tuple[_Probe, int]], *, check_id: bool) -> None:
        if len(icmp) < 8:
            return
        kind = icmp[0]
        if kind == 0:
            ident, seq = struct.unpack_from("!HH", icmp, 4)
            if check_id and ident != fam.ident:
                return                   # another program's reply (raw sockets see every ICMP packet)
            self._answered(waiting.pop((source, seq), None), now)
        elif kind in _V4_ERRORS and len(icmp) >= 8 + 20 + 8:
            inner = icmp[8:]
            ihl = (inner[0] & 0x0F) * 4
            if len(inner) < ihl + 8 or inner[ihl] != 8:
                return
            ident, seq = struct.unpack_from("!HH", inner, ihl + 4)
            if check_id and ident != fam.ident:
                return
            target = socket.inet_ntoa(inner[16:20])
            text = _V4_UNREACH.get(icmp[1], f"{_V4_ERRORS[kind]} (code {icmp[1]})") if kind == 3 else _V4_ERRORS[kind]
            self._failed(waiting.pop((target, seq), None), text)

    def _reply_v6(self, fam: _Family, icmp: bytes, source: str, now: float,
                  waiting: dict[tuple[str, int], tuple[_Probe, int]]) -> None:
        if len(icmp) < 8:
            return
        kind = icmp[0]
        if kind == 129:
            ident, seq = struct.unpack_from("!HH", icmp, 4)
            if fam.raw and ident != fam.ident:
                return
            self._answered(waiting.pop((ipaddress.ip_address(source).compressed, seq), None), now)
        elif kind in (1, 3) and len(icmp) >= 8 + 40 + 8:
            inner = icmp[8:]
            if inner[40] != 128:
                return
            ident, seq = struct.unpack_from("!HH", inner, 44)
            if fam.raw and ident != fam.ident:
                return
            target = ipaddress.IPv6Address(inner[24:40]).compressed
            text = _V6_UNREACH.get(icmp[1], f"Destination unreachable (code {icmp[1]})") if kind == 1 \
                else "Time exceeded"
            self._failed(waiting.pop((target, seq), None), text)

    def _answered(self, entry: tuple[_Probe, int] | None, now: float) -> None:
        if entry is None:
            self.counters["stray"] += 1
            return
        probe, k = entry
        if probe.done:
            return
        stats = probe.stats
        stats.received += 1
        stats.rtts.append((now - probe.sent_at[k]) * 1000.0)
        probe.answered += 1
        self.counters["received"] += 1
        self._maybe_done(probe)

    def _failed(self, entry: tuple[_Probe, int] | None, text: str) -> None:
        if entry is None or entry[0].done:
            return
        probe = entry[0]
        probe.stats.errors.append(text)
        probe.answered += 1
        self._maybe_done(probe)

    # ------------------------------------------------------------------------------ completion

    def _maybe_done(self, probe: _Probe) -> None:
        if probe.scheduled >= probe.count and probe.answered >= probe.expected:
            self._finish(probe)

    def _finish(self, probe: _Probe) -> None:
        if probe.done:
            return
        probe.done = True
        for seq in probe.seqs:
            if seq >= 0:
                self._waiting.pop((probe.address, seq), None)
        if not probe.future.done():
            probe.future.set_result(probe.stats)


async def ping(address: str, *, count: int, interval: float, reply_timeout: float, privileged: bool,
               sweeper: IcmpSweeper | None = None) -> PingStats:
    """One probe: through ``sweeper`` (shared socket), or through a private one closed afterwards."""
    if sweeper is not None:
        return await sweeper.probe(address, count=count, interval=interval, reply_timeout=reply_timeout)
    own = IcmpSweeper(privileged)
    try:
        return await own.probe(address, count=count, interval=interval, reply_timeout=reply_timeout)
    finally:
        await own.close()


class PingCheck:
    """``type: ping`` — see the module docstring. ``sweeper``: the process's shared
    :class:`IcmpSweeper` (``CheckResources.icmp_sweeper()``); without it each run uses its own socket."""

    kind: ClassVar[str] = "ping"

    def __init__(self, spec: PingSpec, *, privileged: bool, sweeper: IcmpSweeper | None = None) -> None:
        self.spec = spec
        self.privileged = privileged
        self.sweeper = sweeper

    async def run(self, device: Device, *, now: datetime) -> CheckResult:
        spec = self.spec
        address = spec.address or device.address
        start = time.monotonic()
        if not address:
            return self._result(now, start, Status.UNKNOWN, "no address configured", ReasonCode.CHECK_ERROR)
        timeout = spec.timeout.total_seconds()
        try:
            stats = await ping(address, count=spec.count, interval=spec.packet_interval.total_seconds(),
                               reply_timeout=timeout, privileged=self.privileged, sweeper=self.sweeper)
        except SocketPermissionError:
            return self._result(now, start, Status.UNKNOWN, _FIX, ReasonCode.CHECK_ERROR)
        except (ICMPLibError, OSError) as exc:
            return self._result(now, start, Status.UNKNOWN, f"ping failed on our side: {exc}",
                                ReasonCode.CHECK_ERROR)
        metrics: dict[str, float | int] = {"ping.sent": stats.sent, "ping.received": stats.received,
                                           "ping.loss": stats.loss_pct}
        if stats.rtts:
            rtts = stats.rtts
            metrics["ping.rtt.min"] = round(min(rtts), 3)
            metrics["ping.rtt.avg"] = round(sum(rtts) / len(rtts), 3)
            metrics["ping.rtt.max"] = round(max(rtts), 3)
        if stats.received == 0:
            unreachable = any("nreachable" in e for e in stats.errors)
            if unreachable:
                why = "network unreachable" if any("Network" in e for e in stats.errors) else "host unreachable"
                return self._result(now, start, Status.DOWN, f"no reply to {stats.sent} pings ({why})",
                                    ReasonCode.UNREACHABLE, metrics, _UNITS)
            return self._result(now, start, Status.DOWN, f"no reply to {stats.sent} pings",
                                ReasonCode.TIMEOUT, metrics, _UNITS)
        reasons = []
        if stats.loss_pct >= spec.degraded_loss_pct and stats.loss_pct > 0:
            reasons.append(f"packet loss {stats.loss_pct:g}% ({stats.received}/{stats.sent} replies)")
        if metrics.get("ping.rtt.avg", 0) > spec.degraded_rtt_ms:
            reasons.append(f"slow replies: {metrics['ping.rtt.avg']:.0f} ms average")
        if reasons:
            return self._result(now, start, Status.DEGRADED, "; ".join(reasons), ReasonCode.LOSS, metrics, _UNITS)
        return self._result(now, start, Status.UP, None, None, metrics, _UNITS)

    def _result(self, now: datetime, start: float, status: Status, reason: str | None, code: ReasonCode | None,
                metrics: dict[str, float | int] | None = None, units: dict[str, str] | None = None) -> CheckResult:
        return CheckResult(check=self.spec.key, type=self.kind, status=status, time=now,
                           duration_s=round(time.monotonic() - start, 4), reason=reason, reason_code=code,
                           metrics=metrics or {}, units=units or {})


_UNITS = {"ping.loss": "%", "ping.rtt.min": "ms", "ping.rtt.avg": "ms", "ping.rtt.max": "ms"}
