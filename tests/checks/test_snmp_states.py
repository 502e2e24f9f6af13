"""State changes on simulated devices (snmpsim writecache, switched by SNMP SET from the test), garbage
answers, and the failure reasons of the SNMP check. Time is passed in (``now``), never read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from monitor.domain import DeviceKind, ObservationKind, ReasonCode, Status
from monitor.sandbox import free_udp_port

from .conftest import (
    APC_BATTERY_STATUS,
    APC_CONTACT1,
    APC_FAIL_CAUSE,
    APC_OUTPUT_STATUS,
    APC_REPLACE,
    HR_DISK_USED,
    HR_UPTIME,
    IF_OPER_WAN,
    POSEIDON_ALARM1,
    POSEIDON_VALUE1,
    STRIKES,
    SYS_UPTIME,
    UPS_BATTERY_STATUS,
    UPS_INPUT_VOLTAGE,
    UPS_LINE_BADS,
    UPS_OUTPUT_SOURCE,
    Checks,
    device,
)

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
US = (108.0, 132.0)
SetValue = Callable[..., None]


def kinds(result: object) -> list[ObservationKind]:
    return [o.kind for o in result.observations]  # type: ignore[attr-defined]


async def test_ups_on_battery_then_back_on_mains(checks: Checks, restore_values: SetValue) -> None:
    check = checks.snmp("wc-rfc1628", "ups-rfc1628")
    dev = device(band=US)
    first = await check.run(dev, now=T0)
    assert first.status is Status.UP and first.metrics["ups.status"] == "OL"

    restore_values("wc-rfc1628", UPS_OUTPUT_SOURCE, 5)               # battery(5)
    on_battery = await check.run(dev, now=T0 + timedelta(minutes=1))
    assert on_battery.status is Status.DEGRADED
    assert on_battery.reason == "on battery" and on_battery.reason_code is ReasonCode.CONDITION
    assert on_battery.metrics["ups.status"] == "OB"
    obs = on_battery.observations[0]
    assert obs.kind is ObservationKind.ON_BATTERY and obs.source == "poll"
    assert obs.values["charge"] == 100 and obs.values["runtime_s"] == 22 * 60

    restore_values("wc-rfc1628", UPS_OUTPUT_SOURCE, 3)               # normal(3)
    back = await check.run(dev, now=T0 + timedelta(minutes=2))
    assert back.status is Status.UP and back.reason is None
    assert kinds(back) == [ObservationKind.ON_MAINS]                  # once, on the edge
    again = await check.run(dev, now=T0 + timedelta(minutes=3))
    assert kinds(again) == []


async def test_ups_low_battery_on_battery(checks: Checks, restore_values: SetValue) -> None:
    check = checks.snmp("wc-rfc1628", "ups-rfc1628")
    restore_values("wc-rfc1628", UPS_OUTPUT_SOURCE, 5)
    restore_values("wc-rfc1628", UPS_BATTERY_STATUS, 3)              # batteryLow(3)
    result = await check.run(device(band=US), now=T0)
    assert result.status is Status.DEGRADED
    assert set(str(result.metrics["ups.status"]).split()) == {"OB", "LB"}
    assert "battery low" in (result.reason or "") and "on battery" in (result.reason or "")
    assert kinds(result) == [ObservationKind.LOW_BATTERY, ObservationKind.ON_BATTERY]


async def test_apc_replace_battery_low_battery_and_off(checks: Checks, restore_values: SetValue) -> None:
    check = checks.snmp("wc-apc", "ups-apc")
    dev = device()
    assert (await check.run(dev, now=T0)).status is Status.UP

    restore_values("wc-apc", APC_REPLACE, 2)                          # batteryNeedsReplacing(2)
    rb = await check.run(dev, now=T0 + timedelta(minutes=1))
    assert rb.status is Status.DEGRADED and "replacement" in (rb.reason or "")
    assert "RB" in str(rb.metrics["ups.status"]).split()
    assert ObservationKind.REPLACE_BATTERY in kinds(rb)

    restore_values("wc-apc", APC_OUTPUT_STATUS, 3)                    # onBattery(3)
    restore_values("wc-apc", APC_BATTERY_STATUS, 3)                   # batteryLow(3)
    lb = await check.run(dev, now=T0 + timedelta(minutes=2))
    assert {"OB", "LB", "RB"} <= set(str(lb.metrics["ups.status"]).split())
    assert {ObservationKind.ON_BATTERY, ObservationKind.LOW_BATTERY, ObservationKind.REPLACE_BATTERY} <= set(kinds(lb))

    restore_values("wc-apc", APC_OUTPUT_STATUS, 7)                    # off(7)
    off = await check.run(dev, now=T0 + timedelta(minutes=3))
    assert off.status is Status.DOWN and "output is off" in (off.reason or "")


async def test_apc_transfer_cause_change_is_a_power_quality_event(checks: Checks, restore_values: SetValue) -> None:
    check = checks.snmp("wc-apc", "ups-apc")
    first = await check.run(device(), now=T0)
    assert ObservationKind.TRANSFER not in kinds(first)              # no history yet: not an event
    restore_values("wc-apc", APC_FAIL_CAUSE, 4)                       # blackout(4)
    result = await check.run(device(), now=T0 + timedelta(minutes=1))
    transfer = [o for o in result.observations if o.kind is ObservationKind.TRANSFER]
    assert len(transfer) == 1
    assert transfer[0].values == {"cause": "blackout", "previous": "selfTest"}
    assert result.metrics["input.transfer.reason"] == "blackout"


async def test_line_bads_increment_and_abnormal_voltage(checks: Checks, restore_values: SetValue) -> None:
    check = checks.snmp("wc-rfc1628", "ups-rfc1628")
    first = await check.run(device(), now=T0)
    assert first.metrics["input.line_bads"] == 10
    restore_values("wc-rfc1628", UPS_LINE_BADS, 12, "c")
    restore_values("wc-rfc1628", UPS_INPUT_VOLTAGE, 260)
    result = await check.run(device(), now=T0 + timedelta(minutes=1))
    line_bad = next(o for o in result.observations if o.kind is ObservationKind.LINE_BAD)
    assert line_bad.values == {"increase": 2, "total": 12, "previous": 10}
    voltage = next(o for o in result.observations if o.kind is ObservationKind.VOLTAGE_ABNORMAL)
    assert voltage.values == {"voltage": 260, "min": 198, "max": 242}
    assert result.status is Status.DEGRADED and "260 V outside 198–242 V" in (result.reason or "")


async def test_apc_spd_contact_trips_and_recovers(checks: Checks, restore_values: SetValue) -> None:
    check = checks.snmp("wc-apc", "spd-contact", {"contact": 1})
    spd = device(DeviceKind.SPD)
    restore_values("wc-apc", APC_CONTACT1, 1)                         # noFault(1)
    assert (await check.run(spd, now=T0)).status is Status.UP
    restore_values("wc-apc", APC_CONTACT1, 2)                         # fault(2)
    tripped = await check.run(spd, now=T0 + timedelta(minutes=1))
    assert tripped.status is Status.DEGRADED and "surge protector" in (tripped.reason or "")
    assert tripped.observations[0].kind is ObservationKind.SPD_TRIPPED
    assert tripped.observations[0].values["name"] == "Int Contact 1"
    restore_values("wc-apc", APC_CONTACT1, 1)
    ok = await check.run(spd, now=T0 + timedelta(minutes=2))
    assert ok.status is Status.UP and kinds(ok) == [ObservationKind.SPD_OK]


async def test_poseidon_input_alarm_and_raw_value(checks: Checks, restore_values: SetValue) -> None:
    by_alarm = checks.snmp("wc-poseidon", "spd-contact", {"contact": 1})
    by_value = checks.snmp("wc-poseidon", "spd-contact", {"contact": 1, "tripped_value": 1})
    spd = device(DeviceKind.SPD)
    restore_values("wc-poseidon", POSEIDON_ALARM1, 1)
    assert (await by_alarm.run(spd, now=T0)).status is Status.DEGRADED
    assert (await by_value.run(spd, now=T0)).status is Status.UP      # raw input still 0
    restore_values("wc-poseidon", POSEIDON_VALUE1, 1)
    result = await by_value.run(spd, now=T0 + timedelta(minutes=1))
    assert result.status is Status.DEGRADED and result.profile == "spd-contact-poseidon"
    assert result.metrics["spd.contact"] == "closed"


async def test_strike_counter_increments_and_survives_a_restart(checks: Checks, restore_values: SetValue) -> None:
    params = {"oid": STRIKES}
    check = checks.snmp("wc-counter", "spd-counter", params)
    spd = device(DeviceKind.SPD)
    first = await check.run(spd, now=T0)
    assert first.status is Status.UP and first.metrics["spd.strikes"] == 5 and kinds(first) == []

    restore_values("wc-counter", STRIKES, 7, "c")
    struck = await check.run(spd, now=T0 + timedelta(minutes=1))
    strike = struck.observations[0]
    assert strike.kind is ObservationKind.STRIKE
    assert strike.values == {"increase": 2, "old": 5, "new": 7}
    assert struck.status is Status.UP                                  # an event, not a state

    # the monitor restarts; the engine seeds the new check with the last persisted metrics
    restarted = checks.snmp("wc-counter", "spd-counter", params)
    restarted.restore(struck.metrics, at=T0 + timedelta(minutes=1))
    restore_values("wc-counter", STRIKES, 8, "c")                     # a strike while we were away
    after = await restarted.run(spd, now=T0 + timedelta(minutes=5))
    assert [(o.kind, o.values["old"], o.values["new"]) for o in after.observations] == [(ObservationKind.STRIKE, 7, 8)]


async def test_strike_counter_wraps_at_2_32(checks: Checks, restore_values: SetValue) -> None:
    check = checks.snmp("wc-counter", "spd-counter", {"oid": STRIKES, "max_strikes": 100})
    restore_values("wc-counter", STRIKES, 2**32 - 3, "c")
    near_top = await check.run(device(DeviceKind.SPD), now=T0)
    assert near_top.status is Status.DEGRADED                          # way past max_strikes
    restore_values("wc-counter", STRIKES, 4, "c")
    wrapped = await check.run(device(DeviceKind.SPD), now=T0 + timedelta(minutes=1))
    assert wrapped.observations[0].values["increase"] == 7              # 3 to the top, then 0..4
    assert wrapped.status is Status.UP


async def test_uptime_going_back_is_a_reboot(checks: Checks, restore_values: SetValue) -> None:
    check = checks.snmp("wc-rfc1628", "ups-rfc1628")
    dev = device(band=US)
    await check.run(dev, now=T0)
    restore_values("wc-rfc1628", SYS_UPTIME, 1500, "t")                # 15 s of uptime
    result = await check.run(dev, now=T0 + timedelta(minutes=1))
    assert kinds(result) == [ObservationKind.REBOOT]
    assert result.observations[0].values["uptime_s"] == 15


async def test_reboot_while_the_monitor_was_off_is_seen_from_restored_metrics(checks: Checks,
                                                                              restore_values: SetValue) -> None:
    check = checks.snmp("wc-host", "host-resources")
    check.restore({"uptime": 1000}, at=T0 - timedelta(days=1))         # a day ago it had been up 1000 s
    restore_values("wc-host", HR_UPTIME, 200000, "t")                  # now 2000 s: it booted since
    result = await check.run(device(DeviceKind.RECORDING_SERVER), now=T0)
    assert kinds(result) == [ObservationKind.REBOOT]


async def test_timeticks_wrap_is_not_a_reboot(checks: Checks, restore_values: SetValue) -> None:
    check = checks.snmp("wc-host", "host-resources")
    dev = device(DeviceKind.RECORDING_SERVER)
    restore_values("wc-host", HR_UPTIME, 2**32 - 3000, "t")            # 30 s before the 497-day wrap
    await check.run(dev, now=T0)
    restore_values("wc-host", HR_UPTIME, 3000, "t")                    # 60 s later: wrapped, +30 s
    result = await check.run(dev, now=T0 + timedelta(seconds=60))
    assert kinds(result) == []


async def test_disk_full_and_uplink_down_up(checks: Checks, restore_values: SetValue) -> None:
    host = checks.snmp("wc-host", "host-resources")
    restore_values("wc-host", HR_DISK_USED, 16300)                     # of 16384 units: 99.5 %
    full = await host.run(device(DeviceKind.RECORDING_SERVER), now=T0)
    assert full.status is Status.DOWN and "system disk" in (full.reason or "")
    assert full.observations[0].kind is ObservationKind.DISK_FULL
    assert full.observations[0].values["path"] == "system disk"

    uplink = checks.snmp("wc-host", "if-uplink", {"interfaces": ["WAN"]})
    router = device(DeviceKind.ROUTER)
    assert (await uplink.run(router, now=T0)).status is Status.UP
    restore_values("wc-host", IF_OPER_WAN, 2)
    down = await uplink.run(router, now=T0 + timedelta(minutes=1))
    assert down.status is Status.DOWN and kinds(down) == [ObservationKind.LINK_DOWN]
    restore_values("wc-host", IF_OPER_WAN, 1)
    up = await uplink.run(router, now=T0 + timedelta(minutes=2))
    assert up.status is Status.UP and kinds(up) == [ObservationKind.LINK_UP]


async def test_rfc1628_alarm_table_replace_battery(checks: Checks) -> None:
    with_alarm = await checks.snmp("alarm-ups", "ups-rfc1628").run(device(), now=T0)
    assert with_alarm.status is Status.DEGRADED and "replacement" in (with_alarm.reason or "")
    assert with_alarm.metrics["ups.status"] == "OL RB"
    assert kinds(with_alarm) == [ObservationKind.REPLACE_BATTERY]
    resources = checks.resources.snmp
    stale = checks.snmp("alarm-ups-stale", "ups-rfc1628")
    await stale.run(device(), now=T0)          # first contact also learns the instance forms it serves
    before = resources.requests                                        # type: ignore[attr-defined]
    no_alarms = await stale.run(device(), now=T0)
    assert no_alarms.status is Status.UP and no_alarms.metrics["ups.status"] == "OL"
    assert resources.requests - before == 1                            # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------- garbage

async def test_wrong_types_for_every_required_object_is_a_profile_mismatch(checks: Checks) -> None:
    result = await checks.snmp("bad-types", "ups-rfc1628").run(device(), now=T0)
    assert result.status is Status.UNKNOWN and result.reason_code is ReasonCode.PROFILE_MISMATCH
    assert "wrong type" in (result.reason or "")


async def test_absurd_values_drop_only_their_metrics(checks: Checks) -> None:
    """Per-value trust (issue 14): charge 250 %, a negative counter and a temperature sent as text drop those
    metrics — with the reason in ``ignored`` — and the UPS is still read from its sane values."""
    result = await checks.snmp("bad-values", "ups-rfc1628").run(device(), now=T0)
    assert result.status is Status.UP, result.reason
    assert "battery.charge" not in result.metrics and "input.line_bads" not in result.metrics
    assert "250" in result.ignored["battery.charge"] and "negative counter" in result.ignored["input.line_bads"]
    assert "ups.temperature" in result.ignored
    assert result.metrics["input.voltage"] == 230                       # the sane values are still there
    assert result.metrics["ups.status"] == "OL"


async def test_a_huge_string_drops_the_model_name_only(checks: Checks) -> None:
    result = await checks.snmp("bad-string", "ups-apc").run(device(), now=T0)
    assert result.status is Status.UP
    assert "2000 bytes" in result.ignored["ups.model"]
    assert result.metrics["input.voltage"] == 230


async def test_garbage_in_every_essential_value_is_garbage_not_down(checks: Checks) -> None:
    result = await checks.snmp("bad-status", "ups-rfc1628").run(device(), now=T0)
    assert result.status is Status.UNKNOWN and result.reason_code is ReasonCode.GARBAGE
    assert (result.reason or "").startswith("device answered garbage")
    assert "ups.status" not in result.metrics


# ---------------------------------------------------------------------------------------- failures

async def test_wrong_community_is_authentication_failed_not_down(checks: Checks) -> None:
    result = await checks.snmp("no-such-community", "ups-rfc1628", timeout="500ms").run(device(), now=T0)
    assert result.status is Status.UNKNOWN
    assert result.reason_code is ReasonCode.AUTH_FAILED
    assert (result.reason or "").startswith("authentication failed")
    assert "no-such-community" not in (result.reason or "")             # secrets never in reasons


async def test_no_agent_is_down(checks: Checks) -> None:
    port = free_udp_port()                                              # nothing listens: ICMP port unreachable
    result = await checks.snmp("public", "ups-rfc1628", port=port, timeout="500ms", retries=1).run(device(), now=T0)
    assert result.status is Status.DOWN
    assert result.reason_code in (ReasonCode.REFUSED, ReasonCode.TIMEOUT)
    assert result.duration_s < 5                                        # bounded by timeout × (retries + 1)


async def test_a_device_that_answered_then_stops_is_down(checks: Checks, sim: object) -> None:
    check = checks.snmp("deltaups", "ups-rfc1628", timeout="300ms", retries=0)
    assert (await check.run(device(band=US), now=T0)).status is Status.UP
    moved = checks.snmp("deltaups", "ups-rfc1628", timeout="300ms", retries=0, port=free_udp_port())
    moved._answered = True                                               # as if it had answered before
    result = await moved.run(device(band=US), now=T0)
    assert result.status is Status.DOWN and result.reason_code is ReasonCode.TIMEOUT
    assert (result.reason or "").startswith("no SNMP answer")


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_snmp_v1_and_v2c(version: str, checks: Checks) -> None:
    check = checks.snmp("routeros", "host-resources", version=version)
    result = await check.run(device(DeviceKind.ROUTER), now=T0)
    assert result.status is Status.UP, result.reason
    assert result.metrics["disk.system_disk.used"] > 0
