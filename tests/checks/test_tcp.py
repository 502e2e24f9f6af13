"""TCP connect check against real listeners on loopback, and a silent host in a test namespace."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

from checks.tcp import TcpCheck
from monitor.domain import DeviceKind, ReasonCode, Status, TcpSpec

from .conftest import Netns, device

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def spec(port: int, **kw: object) -> TcpSpec:
    return TcpSpec(**{"interval": "60s", "timeout": "2s", "retries": 0, "port": port, **kw})


async def test_open_port_is_up() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await TcpCheck(spec(port)).run(device(DeviceKind.RECORDING_SERVER), now=NOW)
    finally:
        server.close()
        await server.wait_closed()
    assert result.status is Status.UP and result.reason is None
    assert result.check == f"tcp:{port}" and result.units["tcp.connect"] == "ms"
    assert result.metrics["tcp.connect"] >= 0


async def test_closed_port_is_down_refused() -> None:
    with socket.socket() as s:          # a port that was free a moment ago and has no listener now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await TcpCheck(spec(port, retries=2)).run(device(DeviceKind.RECORDING_SERVER), now=NOW)
    assert result.status is Status.DOWN and result.reason_code is ReasonCode.REFUSED
    assert "refused" in (result.reason or "")


async def test_slow_connect_is_degraded() -> None:
    # A listener whose accept queue is full drops new SYNs; the client retransmits after ~1 s (the kernel's
    # initial RTO), by which time the queue has room: a real slow connect, without shaping the network.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))     # fills the one-entry accept queue
    loop = asyncio.get_running_loop()

    def drain() -> None:
        conn, _ = listener.accept()
        conn.close()

    loop.call_later(0.3, drain)
    try:
        result = await TcpCheck(spec(port, timeout="5s", degraded_connect_ms=500)).run(
            device(DeviceKind.UPSTREAM), now=NOW)
    finally:
        filler.close()
        listener.close()
    assert result.status is Status.DEGRADED, result.reason
    assert result.reason_code is ReasonCode.LOSS and "slow connect" in (result.reason or "")
    assert result.metrics["tcp.connect"] > 500


def test_silent_host_times_out_and_costs_its_timeout(netns: Netns) -> None:
    results = netns.python(netns.mon, {"checks": [
        {"type": "tcp", "address": "198.18.0.3", "port": 443, "timeout": "1s", "retries": 1},
        {"type": "tcp", "address": "198.18.0.2", "port": 443, "timeout": "1s"},
    ]})
    silent, closed = results
    assert silent["status"] == "down" and silent["reason_code"] == "timeout"
    assert closed["status"] == "down" and closed["reason_code"] == "refused"   # host up, nothing listening
    assert silent["wall_s"] < 4.0                  # timeout × (retries + 1), both checks at the same time
