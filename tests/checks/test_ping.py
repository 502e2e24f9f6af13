"""Ping: loopback addresses from this process; up, silent, ignoring, lossy and unreachable hosts inside
two network namespaces created (and removed) by the test; datagram (unprivileged) ICMP; the start-up
error when ICMP is not permitted at all; many probes through the shared sweeper (one socket), in both
socket modes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from checks.ping import IcmpSweeper, PingCheck, icmp_mode
from checks.resources import CheckResources
from monitor.domain import DeviceKind, PingSpec, ReasonCode, Status

from .conftest import Netns, device

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def spec(**kw: object) -> PingSpec:
    base: dict[str, object] = {"interval": "60s", "timeout": "1s", "retries": 0, "count": 3,
                               "packet_interval": "50ms"}
    return PingSpec(**{**base, **kw})


async def test_loopback_addresses_are_up_concurrently() -> None:
    privileged = icmp_mode()
    addresses = [f"127.0.0.{i}" for i in range(1, 21)]
    checks = [PingCheck(spec(address=a), privileged=privileged) for a in addresses]
    results = await asyncio.gather(*(c.run(device(DeviceKind.ROUTER), now=NOW) for c in checks))
    for result in results:
        assert result.status is Status.UP, result.reason
        assert result.check == "ping" and result.type == "ping"
        assert result.metrics["ping.sent"] == 3 and result.metrics["ping.received"] == 3   # no cross-talk
        assert result.metrics["ping.loss"] == 0
        assert 0 <= result.metrics["ping.rtt.min"] <= result.metrics["ping.rtt.avg"] <= result.metrics["ping.rtt.max"]
        assert result.units["ping.rtt.avg"] == "ms"


async def test_slow_replies_threshold() -> None:
    check = PingCheck(spec(address="127.0.0.1", degraded_rtt_ms=0.0001), privileged=icmp_mode())
    result = await check.run(device(DeviceKind.ROUTER), now=NOW)
    assert result.status is Status.DEGRADED and result.reason_code is ReasonCode.LOSS
    assert "slow replies" in (result.reason or "")


def _mac(netns: Netns, ns: str, dev: str) -> str:
    info = json.loads(netns.run(ns, "ip", "-j", "link", "show", "dev", dev).stdout)
    return str(info[0]["address"])


def test_up_silent_and_ignoring_hosts_in_namespaces(netns: Netns) -> None:
    netns.run(netns.dev, "ip", "addr", "add", "198.18.0.4/24", "dev", netns.veth_dev)
    netns.run(netns.dev, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=0")
    results = netns.python(netns.mon, {"checks": [
        {"type": "ping", "address": "198.18.0.2", "timeout": "1s", "count": 4, "packet_interval": "200ms"},
        {"type": "ping", "address": "198.18.0.3", "timeout": "1s", "count": 4, "packet_interval": "200ms"},
    ]})
    up, silent = results
    assert up["status"] == "up" and up["metrics"]["ping.received"] == 4
    assert silent["status"] == "down" and silent["reason_code"] == "timeout"
    assert silent["reason"] == "no reply to 4 pings"
    # replies are awaited concurrently: (count - 1) × interval + timeout ≈ 1.6 s, where one-by-one waiting
    # (icmplib's async_ping) would take count × timeout + (count - 1) × interval ≈ 4.6 s
    assert silent["wall_s"] < 3.5
    netns.run(netns.dev, "sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=1")
    [ignoring] = netns.python(netns.mon, {"checks": [
        {"type": "ping", "address": "198.18.0.2", "timeout": "500ms", "count": 2}]})
    assert ignoring["status"] == "down"


def test_packet_loss_is_degraded(netns: Netns) -> None:
    # static neighbours (no ARP through the shaper), then a token bucket on the device's side that lets a
    # burst of ~2 replies through and then almost nothing
    netns.run(netns.mon, "ip", "neigh", "replace", "198.18.0.2", "lladdr", _mac(netns, netns.dev, netns.veth_dev),
              "dev", netns.veth_mon, "nud", "permanent")
    netns.run(netns.dev, "ip", "neigh", "replace", "198.18.0.1", "lladdr", _mac(netns, netns.mon, netns.veth_mon),
              "dev", netns.veth_dev, "nud", "permanent")
    netns.run(netns.dev, "tc", "qdisc", "add", "dev", netns.veth_dev, "root", "tbf", "rate", "1kbit", "burst", "300",
              "latency", "1ms")
    [lossy] = netns.python(netns.mon, {"checks": [
        {"type": "ping", "address": "198.18.0.2", "timeout": "500ms", "count": 10, "packet_interval": "20ms"}]})
    assert lossy["status"] == "degraded", lossy
    assert lossy["reason_code"] == "loss"
    assert 0 < lossy["metrics"]["ping.loss"] < 100
    assert "packet loss" in lossy["reason"]


def test_datagram_sockets_when_ping_group_range_allows(netns: Netns) -> None:
    netns.run(netns.mon, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
    [result] = netns.python(netns.mon, {"checks": [{"type": "ping", "address": "198.18.0.2", "count": 2,
                                                    "timeout": "1s"}]})
    assert result["privileged"] is False                   # the cheaper unprivileged mode was chosen
    assert result["status"] == "up"
    # and as an ordinary user, which is what the setting is for
    [as_user] = netns.python(netns.mon, {"checks": [{"type": "ping", "address": "198.18.0.2", "count": 2,
                                                     "timeout": "1s"}]}, user=65534)
    assert as_user["status"] == "up" and as_user["privileged"] is False


def test_no_icmp_permission_is_one_clear_setup_error(netns: Netns) -> None:
    netns.run(netns.mon, "sysctl", "-qw", "net.ipv4.ping_group_range=1 0")
    answer = netns.python(netns.mon, {"setup": True}, user=65534)
    assert "sysctl -w net.ipv4.ping_group_range" in answer["error"]
    assert "root" in answer["error"]


def test_monitor_link_down_is_network_unreachable(netns: Netns) -> None:
    netns.run(netns.mon, "ip", "link", "set", netns.veth_mon, "down")
    [result] = netns.python(netns.mon, {"checks": [{"type": "ping", "address": "198.18.0.2", "count": 2,
                                                    "timeout": "500ms"}]})
    assert result["status"] == "down"
    assert result["reason_code"] == "unreachable"
    assert "unreachable" in result["reason"]


async def test_many_probes_share_one_socket_without_cross_talk() -> None:
    resources = CheckResources()
    try:
        sweeper = resources.icmp_sweeper()
        assert resources.icmp_sweeper() is sweeper
        addresses = [f"127.0.{i // 200}.{1 + i % 200}" for i in range(300)]
        checks = [PingCheck(spec(address=a, count=2, packet_interval="20ms"), privileged=sweeper.privileged,
                            sweeper=sweeper) for a in addresses]
        results = await asyncio.gather(*(c.run(device(DeviceKind.ROUTER), now=NOW) for c in checks))
        for result in results:
            assert result.status is Status.UP, result.reason
            assert result.metrics["ping.sent"] == 2 and result.metrics["ping.received"] == 2
        assert sweeper.counters["sent"] == 600 and sweeper.counters["received"] == 600
        assert sweeper.counters["stray"] == 0 and len(sweeper._families) == 1
        # a second round on the same socket
        again = await checks[0].run(device(DeviceKind.ROUTER), now=NOW)
        assert again.status is Status.UP and sweeper.counters["sent"] == 602
    finally:
        await resources.close()
    await resources.close()


async def test_a_cancelled_probe_is_forgotten() -> None:
    sweeper = IcmpSweeper(icmp_mode())
    try:
        task = asyncio.ensure_future(sweeper.probe("127.0.0.1", count=5, interval=0.5, reply_timeout=1.0))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not sweeper._waiting
        stats = await sweeper.probe("127.0.0.2", count=1, interval=0.1, reply_timeout=1.0)
        assert stats.received == 1
    finally:
        await sweeper.close()


@pytest.mark.parametrize("mode", [False, True], ids=["datagram", "raw"])
def test_a_sweep_of_live_and_silent_hosts_through_one_socket(netns: Netns, mode: bool) -> None:
    # 120 live addresses (a local route on the device side) and 30 that nobody answers (not routed there)
    netns.run(netns.dev, "ip", "route", "add", "local", "198.18.2.0/24", "dev", "lo")
    netns.run(netns.mon, "ip", "route", "add", "198.18.2.0/23", "via", "198.18.0.2")
    if not mode:
        netns.run(netns.mon, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
    live = [f"198.18.2.{i}" for i in range(1, 121)]
    silent = [f"198.18.3.{i}" for i in range(1, 31)]
    results = netns.python(netns.mon, {"mode": mode, "shared": True, "checks": [
        {"type": "ping", "address": a, "timeout": "1s", "count": 3, "packet_interval": "100ms"}
        for a in live + silent]})
    assert all(r["privileged"] is mode for r in results)
    assert [r["status"] for r in results] == ["up"] * 120 + ["down"] * 30
    assert all(r["metrics"]["ping.received"] == 3 for r in results[:120])
    assert all(r["reason_code"] == "timeout" for r in results[120:])
    # concurrently: about (count - 1) × interval + timeout, not one host after the other
    assert results[0]["wall_s"] < 10
