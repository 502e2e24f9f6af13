"""The trap receiver against net-snmp's snmptrap/snmpinform (v1, v2c, v3), bad communities, unknown
sources, malformed datagrams and a flood."""

from __future__ import annotations

import asyncio
import shlex
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.traps import (
    TrapReceiver,
    TrapRule,
    TrapSource,
    TrapSources,
    decode_community,
    map_trap,
)
from checks.values import SnmpValue
from monitor.domain import DeviceKind, DeviceRef, ObservationKind, TrapEvent
from monitor.settings import TrapUser

UPS = DeviceRef("kantor", "ups-1")
SPD = DeviceRef("kantor", "spd-1")
SERVER = DeviceRef("kantor", "srv")
V3 = TrapUser(user="trapper", auth_protocol="sha256", auth_key="trap-auth-key", priv_protocol="aes128",
              priv_key="trap-priv-key", engine_id="80001f8880aabbccdd")


@dataclass
class Harness:
    receiver: TrapReceiver
    events: list[TrapEvent] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.receiver.address is not None
        return self.receiver.address[1]

    async def send(self, *argv: str, tool: str = "snmptrap") -> None:
        proc = await asyncio.create_subprocess_exec(tool, *argv[:-1], f"127.0.0.1:{self.port}", *shlex.split(argv[-1]),
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()

    async def wait_for(self, count: int, seconds: float = 5.0) -> list[TrapEvent]:
        for _ in range(int(seconds / 0.02)):
            if len(self.events) >= count:
                break
            await asyncio.sleep(0.02)
        return self.events


@pytest.fixture
async def traps() -> AsyncIterator[Harness]:
    sources = TrapSources([
        ("127.0.0.1", TrapSource(UPS, DeviceKind.UPS)),
        ("127.0.0.1", TrapSource(SPD, DeviceKind.SPD, (TrapRule("1.3.6.1.4.1.99999.0.7", ObservationKind.STRIKE),))),
        ("127.0.0.1", TrapSource(SERVER, DeviceKind.RECORDING_SERVER)),
    ])
    events: list[TrapEvent] = []

    async def on_event(event: TrapEvent) -> None:
        events.append(event)

    receiver = TrapReceiver(listen=("127.0.0.1", 0), communities=["trap-community"], sources=sources,
                            on_event=on_event, v3_users=[V3])
    await receiver.start()
    try:
        yield Harness(receiver, events)
    finally:
        await receiver.stop()


def v2c_message(community: str, *, get: bool = False) -> bytes:
    """A v2c upsTrapOnBattery (or a GetRequest) encoded with pysnmp's protocol module."""
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import api, rfc1902

    p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    if get:
        pdu = p.GetRequestPDU()
        p.apiPDU.set_defaults(pdu)
        p.apiPDU.set_varbinds(pdu, [("1.3.6.1.2.1.1.1.0", p.Null(""))])
    else:
        pdu = p.SNMPv2TrapPDU()
        p.apiTrapPDU.set_defaults(pdu)
        p.apiTrapPDU.set_varbinds(pdu, [("1.3.6.1.2.1.1.3.0", rfc1902.TimeTicks(0)),
                                        ("1.3.6.1.6.3.1.1.4.1.0", rfc1902.ObjectName("1.3.6.1.2.1.33.2.0.1"))])
    msg = p.Message()
    p.apiMessage.set_defaults(msg)
    p.apiMessage.set_community(msg, community)
    p.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


# trap arguments for snmptrap (the address is inserted before the last argument group)
V2C = ["-v2c", "-c", "trap-community"]
V1 = ["-v1", "-c", "trap-community"]


async def test_v2c_ups_mib_on_battery_goes_to_the_ups(traps: Harness) -> None:
    await traps.send(*V2C, "'' 1.3.6.1.2.1.33.2.0.1 1.3.6.1.2.1.33.1.2.3.0 i 12 1.3.6.1.2.1.33.1.2.2.0 i 30")
    [event] = await traps.wait_for(1)
    assert event.accepted and event.device == UPS and event.version == "2c"
    assert event.name == "upsTrapOnBattery" and event.trap_oid == "1.3.6.1.2.1.33.2.0.1"
    [obs] = event.observations
    assert obs.kind is ObservationKind.ON_BATTERY and obs.source == "trap"
    assert obs.values["runtime_s"] == 720 and obs.values["seconds_on_battery"] == 30


async def test_v2c_alarm_entry_added_and_removed(traps: Harness) -> None:
    added = "'' 1.3.6.1.2.1.33.2.0.3 1.3.6.1.2.1.33.1.6.2.1.1.4 i 4 1.3.6.1.2.1.33.1.6.2.1.2.4 o 1.3.6.1.2.1.33.1.6.3.3"
    removed = "'' 1.3.6.1.2.1.33.2.0.4 1.3.6.1.2.1.33.1.6.2.1.2.2 o 1.3.6.1.2.1.33.1.6.3.2"
    bad_battery = "'' 1.3.6.1.2.1.33.2.0.3 1.3.6.1.2.1.33.1.6.2.1.2.5 o 1.3.6.1.2.1.33.1.6.3.1"
    for args in (added, removed, bad_battery):
        await traps.send(*V2C, args)
    events = await traps.wait_for(3)
    assert [(e.name, e.observations[0].kind, e.observations[0].values.get("alarm")) for e in events] == [
        ("upsTrapAlarmEntryAdded", ObservationKind.LOW_BATTERY, "upsAlarmLowBattery"),
        ("upsTrapAlarmEntryRemoved", ObservationKind.ON_MAINS, "upsAlarmOnBattery"),
        ("upsTrapAlarmEntryAdded", ObservationKind.REPLACE_BATTERY, "upsAlarmBatteryBad"),
    ]


async def test_v1_apc_traps(traps: Harness) -> None:
    await traps.send(*V1, "1.3.6.1.4.1.318 127.0.0.1 6 5 '' 1.3.6.1.4.1.318.2.3.3.0 s 'UPS: On battery power'")
    await traps.send(*V1, "1.3.6.1.4.1.318 127.0.0.1 6 9 ''")
    await traps.send(*V1, "1.3.6.1.4.1.318 127.0.0.1 6 17 ''")
    await traps.send(*V1, "1.3.6.1.4.1.318 127.0.0.1 6 18 '' 1.3.6.1.4.1.318.2.3.10.0 s 'Contact 1 fault'")
    events = await traps.wait_for(4)
    assert [(e.device, e.name, e.observations[0].kind, e.version) for e in events] == [
        (UPS, "upsOnBattery", ObservationKind.ON_BATTERY, "1"),
        (UPS, "powerRestored", ObservationKind.ON_MAINS, "1"),
        (UPS, "upsBatteryNeedsReplacement", ObservationKind.REPLACE_BATTERY, "1"),
        (SPD, "contactFault", ObservationKind.SPD_TRIPPED, "1"),        # the contact trap goes to the SPD
    ]
    assert events[0].trap_oid == "1.3.6.1.4.1.318.0.5"                  # RFC 3584 form of the v1 trap
    assert events[0].observations[0].values["var1"] == "UPS: On battery power"


async def test_inform_is_acknowledged(traps: Harness) -> None:
    await traps.send(*V2C, "-t", "2", "-r", "0", "'' 1.3.6.1.4.1.318.0.7", tool="snmpinform")   # rc 0 = acked
    [event] = await traps.wait_for(1)
    assert event.name == "lowBattery" and event.observations[0].kind is ObservationKind.LOW_BATTERY


async def test_profile_rule_maps_a_vendor_strike_trap(traps: Harness) -> None:
    await traps.send(*V2C, "'' 1.3.6.1.4.1.99999.0.7")
    events = await traps.wait_for(3)
    strike = [e for e in events if e.device == SPD]
    assert strike and strike[0].observations[0].kind is ObservationKind.STRIKE
    assert {e.device for e in events} == {UPS, SPD, SERVER}              # not a UPS/SPD trap: every device


async def test_v3_trap_accepted_and_wrong_key_counted(traps: Harness) -> None:
    good = ["-v3", "-e", "0x80001f8880aabbccdd", "-u", "trapper", "-l", "authPriv", "-a", "SHA-256",
            "-A", "trap-auth-key", "-x", "AES", "-X", "trap-priv-key"]
    await traps.send(*good, "'' 1.3.6.1.2.1.33.2.0.1")
    bad = [*good[:10], "wrong-auth-key", *good[11:]]
    await traps.send(*bad, "'' 1.3.6.1.2.1.33.2.0.1")
    unknown = [*good[:4], "someone", *good[5:]]
    await traps.send(*unknown, "'' 1.3.6.1.2.1.33.2.0.1")
    events = await traps.wait_for(1 + 3 + 3)
    accepted = [e for e in events if e.accepted]
    assert [(e.version, e.device, e.observations[0].kind) for e in accepted] == [("3", UPS, ObservationKind.ON_BATTERY)]
    c = traps.receiver.counters
    assert c.v3_auth_failed == 1 and c.v3_unknown_user == 1
    refused = {e.name for e in events if not e.accepted}
    assert refused == {"authentication failed", "unknown user"}


async def test_bad_community_is_counted_logged_once_and_reported(traps: Harness,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(3):
        await traps.send("-v2c", "-c", "guess", "'' 1.3.6.1.2.1.33.2.0.1")
    await traps.send(*V2C, "'' 1.3.6.1.2.1.33.2.0.2")                  # a good one after the bad ones
    events = await traps.wait_for(3 + 1)
    assert traps.receiver.counters.bad_community == 3
    refused = [e for e in events if not e.accepted]
    assert {e.device for e in refused} == {UPS, SPD, SERVER}           # once per device, not per packet
    assert all(e.name == "bad community" for e in refused)
    assert [e.name for e in events if e.accepted] == ["upsTrapTestCompleted"]
    warnings = [r for r in caplog.records if "wrong community" in r.getMessage()]
    assert len(warnings) == 1
    assert "guess" not in caplog.text


async def test_unknown_source_is_counted_and_reported_without_device() -> None:
    """A source that is no device's is refused before decoding (issue 13): counted, logged and reported once as
    refused; an address in ``allowed_sources`` that is no device's is decoded and reported without a device."""
    async def receive(allowed: list[str]) -> tuple[list[TrapEvent], TrapReceiver]:
        events: list[TrapEvent] = []

        async def on_event(event: TrapEvent) -> None:
            events.append(event)

        receiver = TrapReceiver(listen=("127.0.0.1", 0), communities=["c"], sources=TrapSources(), on_event=on_event,
                                allowed_sources=allowed)
        await receiver.start()
        try:
            assert receiver.address is not None
            for _ in range(2):
                proc = await asyncio.create_subprocess_exec("snmptrap", "-v2c", "-c", "c",
                                                            f"127.0.0.1:{receiver.address[1]}", "",
                                                            "1.3.6.1.2.1.33.2.0.1")
                assert await proc.wait() == 0
            for _ in range(200):
                if events and receiver.counters.received >= 2:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)
        finally:
            await receiver.stop()
        return events, receiver

    events, receiver = await receive([])
    assert [(e.device, e.accepted, e.name) for e in events] == [(None, False, "unknown source")]  # once, not twice
    assert receiver.counters.unknown_source == 2 and receiver.counters.accepted == 0
    events, receiver = await receive(["127.0.0.0/8"])
    assert len(events) == 2 and all(e.device is None and e.accepted for e in events)
    assert receiver.counters.unknown_source == 0 and receiver.counters.accepted == 2


MALFORMED = [b"", b"\x00", b"\x30", b"\x30\x03\x02\x01", b"\x30\x84\xff\xff\xff\xff", b"\x30\x82\x00\x05\x02\x01\x09",
             b"\x30\x0b\x02\x01\x01\x04\x06trap-c", b"\x30\x0a\x02\x01\x01\x04\x03abc\xa7\x00",
             b"GET / HTTP/1.1\r\n\r\n", bytes(range(256)) * 4]


async def test_malformed_datagrams_never_crash_the_receiver(traps: Harness) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for payload in MALFORMED:
            sock.sendto(payload, ("127.0.0.1", traps.port))
        # valid BER with the right community but a GetRequest instead of a trap
        sock.sendto(v2c_message("trap-community", get=True), ("127.0.0.1", traps.port))
    finally:
        sock.close()
    await asyncio.sleep(0.3)
    await traps.send(*V2C, "'' 1.3.6.1.2.1.33.2.0.1")                   # still alive and working
    events = await traps.wait_for(1)
    assert [e.name for e in events if e.accepted] == ["upsTrapOnBattery"]
    assert traps.receiver.counters.malformed >= len(MALFORMED) - 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_community_reader_never_raises_anything_but_malformed(data: bytes) -> None:
    try:
        version, community = decode_community(data)
    except Exception as exc:
        assert type(exc).__name__ == "Malformed"
    else:
        assert version in (0, 1, 3)
        assert community is None or isinstance(community, bytes)


async def test_a_flood_is_rate_limited_and_polling_keeps_running() -> None:
    events: list[TrapEvent] = []

    async def on_event(event: TrapEvent) -> None:
        events.append(event)

    receiver = TrapReceiver(listen=("127.0.0.1", 0), communities=["c"],
                            sources=TrapSources([("127.0.0.1", TrapSource(UPS, DeviceKind.UPS))]),
                            on_event=on_event, max_per_second=200)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await receiver.start()
    ticks = 0

    async def poller() -> None:                 # stands for the SNMP polls sharing the loop
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(poller())
    try:
        assert receiver.address is not None
        trap = v2c_message("c")                  # a valid upsTrapOnBattery, sent 3000 times as fast as possible
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        for i in range(3000):
            try:
                sock.sendto(trap, receiver.address)
            except BlockingIOError:
                pass
            if i % 100 == 0:
                await asyncio.sleep(0)
        sock.close()
        start = loop.time()
        while loop.time() - start < 1.5:
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await receiver.stop()
    elapsed = loop.time() - began
    c = receiver.counters
    assert c.received > 200
    assert c.rate_limited > 0                                        # the excess was counted, not processed
    assert c.accepted + c.malformed <= 200 * (elapsed + 1)           # the burst plus max_per_second × elapsed
    assert ticks > 20                                                # the loop kept serving other work


def test_map_trap_table() -> None:
    oid = {"1.3.6.1.2.1.33.1.6.2.1.2.1": SnmpValue("oid", "1.3.6.1.2.1.33.1.6.3.6")}
    name, category, facts = map_trap("1.3.6.1.2.1.33.2.0.3", oid)
    assert (name, category, facts[0][0]) == ("upsTrapAlarmEntryAdded", "ups", ObservationKind.LINE_BAD)
    assert map_trap("1.3.6.1.4.1.318.0.19", {})[2][0][0] is ObservationKind.SPD_OK
    assert map_trap("1.3.6.1.4.1.935.0.5", {})[0] == "upsOnBattery"          # Megatec XPPC, APC numbering
    assert map_trap("1.3.6.1.6.3.1.1.5.1", {})[2][0][0] is ObservationKind.REBOOT
    unknown = map_trap("1.3.6.1.4.1.12345.0.1", {})
    assert unknown[2][0][0] is ObservationKind.TRAP
