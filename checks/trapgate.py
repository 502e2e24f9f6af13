"""The trap port's gate: every datagram is judged here before anything decodes it.

An office LAN is not a trusted network: anyone on it can send the trap port any number of datagrams of any
size from any address (spoofing a source on UDP is trivial). Nothing of that may delay polling. So the
receiver does not use asyncio's datagram transport (which allocates a 256 KB buffer per datagram and hands
every one over) nor pysnmp's dispatcher (which decodes first): :class:`DatagramGate` reads its own
non-blocking socket into one preallocated buffer and, per datagram, in this order:

1. **size** — a datagram longer than ``max_bytes`` (default 8 KB; UPS and SPD traps are a few hundred
   bytes) is dropped and counted (``oversized``); the kernel copies at most ``max_bytes + 1`` of it;
2. **source** — the sender's address must be a configured device's or inside ``traps.allowed_sources``
   (:class:`SourceFilter`); anything else is dropped and counted (``unknown_source``), logged once per
   interval in one line, and reported once per interval as a refused event;
3. **rate** — a token bucket (``max_per_second``) shared by the allowed sources only, so a stranger's
   flood cannot use up the devices' budget;
4. a bounded queue for the receiver's worker, which decodes one message at a time.

At most :data:`READ_BATCH` datagrams are read per wake-up of the event loop, so the loop runs the checks'
callbacks between batches; what the gate cannot read in time the kernel drops from the socket's buffer.
The work per refused datagram is one ``recvfrom_into`` and a set lookup: bounded, and independent of the
datagram's content. (A stranger's flood can still fill the socket's receive buffer, so the kernel may drop a
device's trap among them: the next poll then finds what the trap said. A kernel-side filter — BPF on the
source address — would keep strangers out of the buffer too; see docs/decisions/0010.)
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
from collections import deque
from collections.abc import Callable, Container, Iterable
from typing import Any

__all__ = ["READ_BATCH", "DatagramGate", "SourceFilter", "norm_ip"]

READ_BATCH = 256
"""Datagrams read per wake-up of the event loop before other callbacks run."""
RCVBUF = 4 << 20
"""Receive buffer asked for (the kernel caps it at ``net.core.rmem_max``)."""
MIN_TRAP_BYTES = 484
"""RFC 3417: every SNMP entity must accept messages of at least 484 bytes."""


def norm_ip(address: str) -> str:
    """The canonical text of an IP address (IPv4-mapped IPv6 as IPv4); other text lower-cased."""
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address.strip().lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class SourceFilter:
    """Which sender addresses may reach the decoder: the devices' addresses (``devices``: anything holding
    normalized addresses, read live — the receiver's :class:`~checks.traps.TrapSources`) and
    ``traps.allowed_sources`` (addresses or networks such as ``10.20.0.0/24``)."""

    def __init__(self, devices: Container[str] = (), allowed: Iterable[str] = ()) -> None:
        self.devices = devices
        self._exact: set[str] = set()
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in allowed:
            net = ipaddress.ip_network(item.strip(), strict=False)
            if net.num_addresses == 1:
                self._exact.add(str(net.network_address))
            else:
                self._networks.append(net)

    def allows(self, ip: str) -> bool:
        if ip in self.devices or ip in self._exact:   # IPv4 as recvfrom gives it is already canonical
            return True
        if not self._networks and ":" not in ip:
            return False
        norm = norm_ip(ip)
        if norm in self.devices or norm in self._exact:
            return True
        try:
            addr = ipaddress.ip_address(norm)
        except ValueError:
            return False
        return any(addr in net for net in self._networks)


class DatagramGate:
    """Owns the trap socket (see the module docstring). ``counters`` is the receiver's
    :class:`~checks.traps.TrapCounters`; ``log_once(reason, source, message) -> bool`` its rate-limited log;
    ``wakeup`` is set when the queue gained a datagram; ``refusals`` holds ``(ip, why)`` to report."""

    def __init__(self, *, counters: Any, sources: SourceFilter, max_bytes: int, max_per_second: int,
                 queue_max: int, log_once: Callable[[str, str, str], bool], wakeup: asyncio.Event) -> None:
        self.counters = counters
        self.sources = sources
        self.max_bytes = max(MIN_TRAP_BYTES, max_bytes)
        self.max_per_second = max(1, max_per_second)
        self.queue: deque[tuple[bytes, tuple[str, int]]] = deque()
        self.queue_max = queue_max
        self.refusals: deque[tuple[str, str]] = deque(maxlen=64)
        self._log_once = log_once
        self._wakeup = wakeup
        self._buf = bytearray(self.max_bytes + 1)
        self._view = memoryview(self._buf)
        self._tokens = float(self.max_per_second)
        self._refill_at = time.monotonic()
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.address: tuple[str, int] | None = None

    # -- socket
    def open(self, host: str, port: int) -> tuple[str, int]:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _name, addr = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            if family == socket.AF_INET6:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            with contextlib.suppress(OSError):   # room for a burst of real traps while strangers flood
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.bind(addr)
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(sock.fileno(), self._readable)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        name = sock.getsockname()
        self.address = (str(name[0]), int(name[1]))
        return self.address

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None and not self._loop.is_closed():
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock.fileno())
            sock.close()

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        """Answer an inform or a v3 discovery; a full buffer or an unreachable sender is not our problem."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.sendto(data, address)

    # -- the hot path: no decoding here
    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(READ_BATCH):
            try:
                n, addr = sock.recvfrom_into(self._buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:   # an ICMP error for an inform response we sent: nothing to read
                continue
            self.judge(n, addr)

    def judge(self, n: int, addr: Any) -> None:
        """One datagram of ``n`` bytes (in the buffer) from ``addr``: drop it, or queue a copy."""
        c = self.counters
        c.received += 1
        if n > self.max_bytes:
            c.oversized += 1
            self._log_once("oversized", "*", f"datagrams longer than {self.max_bytes} bytes are dropped unread "
                                             "(traps.max_bytes)")
            return
        ip = str(addr[0])
        if not self.sources.allows(ip):
            c.unknown_source += 1
            if self._log_once("source", "*", f"datagrams from addresses that are no device's and not in "
                                             f"traps.allowed_sources are dropped unread (latest: {ip})"):
                self.refusals.append((ip, "unknown source"))
                self._wakeup.set()
            return
        now = time.monotonic()
        self._tokens = min(float(self.max_per_second), self._tokens + (now - self._refill_at) * self.max_per_second)
        self._refill_at = now
        if self._tokens < 1.0:
            c.rate_limited += 1
            self._log_once("rate", "*", f"more than {self.max_per_second} traps/s: dropping the excess")
            return
        self._tokens -= 1.0
        if n == 0:
            c.malformed += 1
            return
        if len(self.queue) >= self.queue_max:
            c.queue_full += 1
            self._log_once("queue", "*", "trap queue full: dropping")
            return
        self.queue.append((bytes(self._view[:n]), (ip, int(addr[1]))))
        self._wakeup.set()
