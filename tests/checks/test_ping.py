"""Ping: loopback addresses from this process; up, silent, ignoring, lossy and unreachable hosts inside
two network namespaces created (and removed) by the test; datagram (unprivileged) ICMP; the start-up
error when ICMP is not permitted at all."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from checks.ping import PingCheck, icmp_mode
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
