"""The composition-root helpers the daemon uses (build_checks, build_trap_receiver) and the loopback
simulators themselves (per-device writecache state, stop by PID, probe tokens)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from checks.snmp import SnmpCheck
from checks.tcp import TcpCheck
from monitor.app import build_check_resources, build_checks, build_trap_receiver, build_trap_sources, load_config
from monitor.domain import DeviceRef, ObservationKind, TrapEvent
from monitor.sandbox import SandboxError, snmp_get
from monitor.sandbox.snmpd import SnmpdAgent
from monitor.sandbox.snmpsim import SnmpsimAgent, make_recording

from .conftest import SNMPREC, UPS_OUTPUT_SOURCE


@pytest.fixture
def settings_path(write_config: Callable[..., Path]) -> Path:
    return write_config("""
        telegram: {enabled: false}
        defaults: {snmp: {community: c}}
        traps: {enabled: true, listen: "127.0.0.1:0", communities: [trap-c]}
        sites:
          - id: k
            name: K
            devices:
              - {id: ups, name: UPS, kind: ups, address: 127.0.0.5, checks: [{type: snmp, profile: ups-apc}]}
              - {id: spd, name: SPD, kind: spd, address: 127.0.0.5,
                 checks: [{type: snmp, profile: spd-counter,
                           params: {oid: 1.3.6.1.4.1.99999.1.0, trap_oid: 1.3.6.1.4.1.99999.0.3}}]}
              - {id: srv, name: Server, kind: recording_server, address: 127.0.0.6,
                 checks: [{type: tcp, port: 9}, {type: tcp, port: 10, enabled: false}]}
        """)


async def test_build_checks_keys_and_kinds(settings_path: Path) -> None:
    settings = load_config(settings_path, environ={})
    resources = build_check_resources(settings)
    try:
        checks = build_checks(settings, resources)
        assert set(checks) == {(DeviceRef("k", "ups"), "snmp:ups-apc"), (DeviceRef("k", "spd"), "snmp:spd-counter"),
                               (DeviceRef("k", "srv"), "tcp:9")}
        assert isinstance(checks[DeviceRef("k", "ups"), "snmp:ups-apc"], SnmpCheck)
        assert isinstance(checks[DeviceRef("k", "srv"), "tcp:9"], TcpCheck)
        only = build_checks(settings, resources, devices=[DeviceRef("k", "srv")])
        assert list(only) == [(DeviceRef("k", "srv"), "tcp:9")]
    finally:
        await resources.close()


async def test_trap_receiver_from_settings_attributes_by_kind(settings_path: Path) -> None:
    settings = load_config(settings_path, environ={})
    sources = build_trap_sources(settings)
    assert {s.device.device for s in sources.lookup("127.0.0.5")} == {"ups", "spd"}
    got: list[TrapEvent] = []

    async def on_event(event: TrapEvent) -> None:
        got.append(event)

    receiver = build_trap_receiver(settings, on_event)
    # the test's traps come from 127.0.0.1: map the configured devices to it for this test
    for source in sources.lookup("127.0.0.5"):
        receiver.sources.add("127.0.0.1", source)
    await receiver.start()
    try:
        assert receiver.address is not None
        port = receiver.address[1]
        for args in (["1.3.6.1.4.1.318.0.5"], ["1.3.6.1.4.1.99999.0.3"]):
            proc = await asyncio.create_subprocess_exec("snmptrap", "-v2c", "-c", "trap-c", f"127.0.0.1:{port}", "",
                                                        *args)
            assert await proc.wait() == 0
        for _ in range(250):
            if len(got) >= 3:
                break
            await asyncio.sleep(0.02)
    finally:
        await receiver.stop()
    assert [(e.device.device if e.device else None, e.observations[0].kind) for e in got[:1]] == [
        ("ups", ObservationKind.ON_BATTERY)]                       # a UPS trap goes to the UPS only
    strike = [e for e in got if e.device and e.device.device == "spd"]
    assert strike and strike[0].observations[0].kind is ObservationKind.STRIKE   # the profile's trap rule


def test_writecache_state_is_per_device(tmp_path: Path) -> None:
    data = tmp_path / "data"
    base = SNMPREC / "deltaups.snmprec"
    make_recording(data, "ups01", base=base, writable={UPS_OUTPUT_SOURCE: "wa1"})
    make_recording(data, "ups02", base=base, writable={UPS_OUTPUT_SOURCE: "wa2"})
    with SnmpsimAgent(data, writecache=["wa1", "wa2"]) as sim:
        pid = sim.pid
        assert pid is not None
        sim.set("ups01", UPS_OUTPUT_SOURCE, 5)
        assert sim.get("ups01", UPS_OUTPUT_SOURCE) == "5"
        assert sim.get("ups02", UPS_OUTPUT_SOURCE) == "3"
        with pytest.raises(SandboxError):
            sim.set("ups01", "1.3.6.1.2.1.33.1.2.4.0", 1)         # not writable
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)                                         # stopped by its PID


def test_snmpd_answers_only_while_running(tmp_path: Path) -> None:
    agent = SnmpdAgent(communities=["pub"], work_dir=tmp_path)
    with agent:
        port = agent.port
        assert snmp_get("127.0.0.1", port, "pub", "1.3.6.1.2.1.1.3.0") is not None
        assert "rocommunity pub 127.0.0.0/8" in agent.config_text()
    assert snmp_get("127.0.0.1", port, "pub", "1.3.6.1.2.1.1.3.0", timeout=0.3) is None


def test_simulators_refuse_non_loopback_addresses(tmp_path: Path) -> None:
    with pytest.raises(SandboxError):
        SnmpsimAgent(tmp_path, host="192.0.2.1")
    with pytest.raises(SandboxError):
        SnmpdAgent(hosts=["0.0.0.0"])
