"""Real recordings (LibreNMS snmprec files) served by snmpsim, read through the built-in profiles.

Expected values come from tests/data/librenms/expected/*.sensors.json (LibreNMS's own derived
values), looked up by OID — the test maps each sensor OID to our metric, it does not restate numbers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from monitor.domain import DeviceKind, ObservationKind, ReasonCode, Status

from .conftest import EXPECTED, SNMPREC, Checks, device

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
US_BAND = (108.0, 132.0)   # 120 V ±10 %: the US recordings are not PLN mains


def expected_sensors(name: str) -> dict[str, float]:
    data = json.loads((EXPECTED / f"{name}.sensors.json").read_text())
    return {s["oid"].lstrip("."): float(s["current"]) for s in data["sensors"]}


def raw(name: str, oid: str) -> str:
    for line in (SNMPREC / f"{name}.snmprec").read_text().splitlines():
        if line.startswith(oid + "|"):
            return line.split("|", 2)[2]
    raise KeyError(oid)


MINUTES = 1 / 60   # our battery.runtime is in seconds; LibreNMS shows minutes

# recording -> (configured profile, profile that must answer, band, status, [(sensor OID, metric, factor)], flags)
UPS_CASES: dict[str, tuple[str, str, tuple[float, float] | None, Status, list[tuple[str, str, float]], set[str]]] = {
    "deltaups": ("ups-rfc1628", "ups-rfc1628", US_BAND, Status.UP, [
        ("1.3.6.1.2.1.33.1.2.4.0", "battery.charge", 1), ("1.3.6.1.2.1.33.1.2.3.0", "battery.runtime", MINUTES),
        ("1.3.6.1.2.1.33.1.2.5.0", "battery.voltage", 1), ("1.3.6.1.2.1.33.1.2.7.0", "ups.temperature", 1),
        ("1.3.6.1.2.1.33.1.3.3.1.3.1", "input.voltage", 1), ("1.3.6.1.2.1.33.1.3.3.1.2.1", "input.frequency", 1),
        ("1.3.6.1.2.1.33.1.4.4.1.2.1", "output.voltage", 1), ("1.3.6.1.2.1.33.1.4.4.1.3.1", "output.current", 1),
        ("1.3.6.1.2.1.33.1.4.4.1.5.1", "ups.load", 1), ("1.3.6.1.2.1.33.1.4.4.1.4.1", "ups.realpower", 1)], {"OL"}),
    "abbups_abbups": ("ups-rfc1628", "ups-rfc1628", None, Status.UP, [
        ("1.3.6.1.2.1.33.1.2.4.0", "battery.charge", 1), ("1.3.6.1.2.1.33.1.2.3.0", "battery.runtime", MINUTES),
        ("1.3.6.1.2.1.33.1.2.5.0", "battery.voltage", 1), ("1.3.6.1.2.1.33.1.3.3.1.3.1", "input.voltage", 1),
        ("1.3.6.1.2.1.33.1.4.4.1.2.1", "output.voltage", 1), ("1.3.6.1.2.1.33.1.4.4.1.5.1", "ups.load", 1),
        ("1.3.6.1.2.1.33.1.4.2.0", "output.frequency", 1)], {"OL"}),
    "riello": ("ups-rfc1628", "ups-rfc1628", None, Status.UP, [
        ("1.3.6.1.2.1.33.1.2.3.0", "battery.runtime", MINUTES), ("1.3.6.1.2.1.33.1.2.5.0", "battery.voltage", 1),
        ("1.3.6.1.2.1.33.1.2.7.0", "ups.temperature", 1), ("1.3.6.1.2.1.33.1.3.3.1.3.1", "input.voltage", 1),
        ("1.3.6.1.2.1.33.1.4.4.1.2.1", "output.voltage", 1), ("1.3.6.1.2.1.33.1.4.4.1.4.1", "ups.realpower", 1)],
        {"OL"}),
    # NetAgent II has no upsOutputSource: ups-rfc1628 must fall back to the vendor MIB (XPPC)
    "netagent2": ("ups-rfc1628", "ups-xppc", None, Status.UP, [
        ("1.3.6.1.4.1.935.1.1.1.2.2.3.0", "ups.temperature", 1), ("1.3.6.1.4.1.935.1.1.1.8.2.2.0", "input.voltage", 1),
        ("1.3.6.1.4.1.935.1.1.1.8.2.3.0", "input.L2.voltage", 1),
        ("1.3.6.1.4.1.935.1.1.1.8.2.4.0", "input.L3.voltage", 1),
        ("1.3.6.1.4.1.935.1.1.1.8.3.2.0", "output.voltage", 1), ("1.3.6.1.2.1.33.1.2.5.0", "battery.voltage", 1)],
        {"OL", "TRIM"}),
    "eatonups_eaton-connectups": ("ups-rfc1628", "ups-xups", None, Status.UP, [
        ("1.3.6.1.4.1.534.1.4.1.0", "ups.load", 1), ("1.3.6.1.4.1.534.1.4.4.1.4.1", "ups.realpower", 1),
        ("1.3.6.1.4.1.534.1.2.1.0", "battery.runtime", MINUTES), ("1.3.6.1.4.1.534.1.2.2.0", "battery.voltage", 1),
        ("1.3.6.1.4.1.534.1.3.4.1.2.1", "input.voltage", 1), ("1.3.6.1.4.1.534.1.4.4.1.2.1", "output.voltage", 1),
        ("1.3.6.1.4.1.534.1.6.1.0", "ambient.temperature", 1)], {"OL"}),
    "apc_smt750x-nmc2": ("ups-apc", "ups-apc", US_BAND, Status.UP, [
        ("1.3.6.1.4.1.318.1.1.1.2.3.1.0", "battery.charge", 1),
        ("1.3.6.1.4.1.318.1.1.1.2.2.3.0", "battery.runtime", MINUTES),
        ("1.3.6.1.4.1.318.1.1.1.2.3.2.0", "ups.temperature", 1),
        ("1.3.6.1.4.1.318.1.1.1.2.3.4.0", "battery.voltage", 1),
        ("1.3.6.1.4.1.318.1.1.1.3.3.4.0", "input.frequency", 1),
        ("1.3.6.1.4.1.318.1.1.1.4.3.2.0", "output.frequency", 1), ("1.3.6.1.4.1.318.1.1.1.4.3.3.0", "ups.load", 1),
        ("1.3.6.1.4.1.318.1.1.1.4.3.4.0", "output.current", 1)], {"OL"}),
    "apc_surt3000xl": ("ups-apc", "ups-apc", None, Status.UP, [
        ("1.3.6.1.4.1.318.1.1.1.2.3.1.0", "battery.charge", 1),
        ("1.3.6.1.4.1.318.1.1.1.2.2.3.0", "battery.runtime", MINUTES),
        ("1.3.6.1.4.1.318.1.1.1.2.3.2.0", "ups.temperature", 1),
        ("1.3.6.1.4.1.318.1.1.1.2.3.4.0", "battery.voltage", 1), ("1.3.6.1.4.1.318.1.1.1.3.3.1.0", "input.voltage", 1),
        ("1.3.6.1.4.1.318.1.1.1.4.3.1.0", "output.voltage", 1), ("1.3.6.1.4.1.318.1.1.1.4.3.4.0", "output.current", 1)],
        {"OL"}),
    "cyberpower": ("ups-cyberpower", "ups-cyberpower", US_BAND, Status.UP, [
        ("1.3.6.1.4.1.3808.1.1.4.2.1.0", "ambient.temperature", 1),
        ("1.3.6.1.4.1.3808.1.1.1.2.2.3.0", "ups.temperature", 1),
        ("1.3.6.1.4.1.3808.1.1.1.3.2.1.0", "input.voltage", 1),
        ("1.3.6.1.4.1.3808.1.1.1.4.2.1.0", "output.voltage", 1)], {"OL"}),
    # Socomec: battery status 3 is "charging" and output source 3 "on inverter" — normal, not low battery
    "socomec-ups": ("ups-socomec", "ups-socomec", None, Status.UP, [
        ("1.3.6.1.4.1.4555.1.1.7.1.2.7.0", "ups.temperature", 1),
        ("1.3.6.1.4.1.4555.1.1.7.1.2.5.0", "battery.voltage", 1),
        ("1.3.6.1.4.1.4555.1.1.7.1.3.3.1.2.1", "input.voltage", 1),
        ("1.3.6.1.4.1.4555.1.1.7.1.4.4.1.2.1", "output.voltage", 1)], {"OL", "CHRG"}),
    # Sinetica reports 0 minutes of runtime: with the default 10 min limit that is degraded (see below)
    "sinetica": ("ups-sinetica", "ups-sinetica", None, Status.UP, [
        ("1.3.6.1.4.1.13891.101.2.3.0", "battery.runtime", MINUTES),
        ("1.3.6.1.4.1.13891.101.2.5.0", "battery.voltage", 1)], {"OL"}),
}


@pytest.mark.parametrize("name", sorted(UPS_CASES))
async def test_every_ups_recording_reads_the_expected_values(name: str, checks: Checks) -> None:
    profile, answering, band, status, mapping, flags = UPS_CASES[name]
    low_runtime = timedelta(0) if name == "sinetica" else None
    check = checks.snmp(name, profile)
    result = await check.run(device(band=band, low_runtime=low_runtime), now=NOW)
    assert result.status is status, result.reason
    assert result.profile == answering
    assert result.check == f"snmp:{profile}" and result.type == "snmp"
    expected = expected_sensors(name)
    for oid, metric, factor in mapping:
        assert metric in result.metrics, (metric, result.metrics)
        ours = float(result.metrics[metric]) * factor
        assert ours == pytest.approx(expected[oid], abs=0.01), (name, metric, ours, expected[oid])
    assert flags <= set(str(result.metrics["ups.status"]).split())
    assert not {"OB", "LB", "RB"} & set(str(result.metrics["ups.status"]).split())
    for metric in ("battery.voltage", "input.voltage", "output.voltage"):
        if metric in result.metrics:
            assert result.units[metric] == "V"


async def test_sinetica_voltages_are_whole_volts_not_librenms_tenths(checks: Checks) -> None:
    result = await checks.snmp("sinetica", "ups-sinetica").run(device(low_runtime=timedelta(0)), now=NOW)
    assert result.metrics["input.voltage"] == int(raw("sinetica", "1.3.6.1.4.1.13891.101.3.3.1.3.1"))
    assert expected_sensors("sinetica")["1.3.6.1.4.1.13891.101.3.3.1.3.1"] != result.metrics["input.voltage"]
    # uptime above 2^31 ticks (a signed 32-bit parse would make it negative)
    assert result.metrics["uptime"] == pytest.approx(int(raw("sinetica", "1.3.6.1.2.1.1.3.0")) / 100)


async def test_sinetica_zero_runtime_is_degraded_with_the_default_limit(checks: Checks) -> None:
    result = await checks.snmp("sinetica", "ups-sinetica").run(device(), now=NOW)
    assert result.status is Status.DEGRADED and result.reason_code is ReasonCode.CONDITION
    assert "runtime" in (result.reason or "")
    assert [o.kind for o in result.observations] == [ObservationKind.LOW_RUNTIME]


@pytest.mark.parametrize("name", ["deltaups", "cyberpower", "apc_smt750x-nmc2"])
async def test_120v_recordings_are_abnormal_voltage_on_the_indonesian_default_band(name: str, checks: Checks) -> None:
    profile = UPS_CASES[name][0]
    result = await checks.snmp(name, profile).run(device(), now=NOW)
    assert result.status is Status.DEGRADED
    assert "outside 198–242 V" in (result.reason or "")
    obs = [o for o in result.observations if o.kind is ObservationKind.VOLTAGE_ABNORMAL]
    assert len(obs) == 1
    assert obs[0].values["min"] == 198 and obs[0].values["max"] == 242
    assert obs[0].values["voltage"] == result.metrics["input.voltage"]


async def test_apc_last_transfer_cause_is_reported(checks: Checks) -> None:
    result = await checks.snmp("apc_surt3000xl", "ups-apc").run(device(), now=NOW)
    assert expected_sensors("apc_surt3000xl")["1.3.6.1.4.1.318.1.1.1.3.2.5.0"] == 9
    assert result.metrics["input.transfer.reason"] == "selfTest"   # upsAdvInputLineFailCause 9


# -------------------------------------------------------------------------------- no profile fits

@pytest.mark.parametrize(("name", "profile"), [
    ("windows", "ups-rfc1628"),        # tries every UPS fallback too
    ("aos-emu2_ap9320", "ups-apc"),    # an APC environmental monitor, not a UPS
    ("deltaups", "ups-apc"),
    ("routeros", "ups-cyberpower"),
    ("windows", "host-resources"),     # identification only: no HOST-RESOURCES data
    ("deltaups", "spd-contact"),
])
async def test_a_device_no_profile_covers_is_unknown_profile_mismatch(name: str, profile: str, checks: Checks) -> None:
    result = await checks.snmp(name, profile).run(device(), now=NOW)
    assert result.status is Status.UNKNOWN
    assert result.reason_code is ReasonCode.PROFILE_MISMATCH
    assert (result.reason or "").startswith("profile does not match device")
    assert result.metrics == {}


# ------------------------------------------------------------------------------ servers and routers

async def test_openwrt_host_resources(checks: Checks) -> None:
    result = await checks.snmp("openwrt", "host-resources").run(device(DeviceKind.RECORDING_SERVER), now=NOW)
    assert result.status is Status.UP, result.reason
    ticks = int(raw("openwrt", "1.3.6.1.2.1.25.1.1.0"))
    assert ticks > 2**31
    assert result.metrics["uptime"] == pytest.approx(ticks / 100)
    assert result.metrics["cpu.count"] == 2
    assert result.metrics["cpu.load"] == pytest.approx(2.5)
    used = int(raw("openwrt", "1.3.6.1.2.1.25.2.3.1.6.34")) / int(raw("openwrt", "1.3.6.1.2.1.25.2.3.1.5.34"))
    assert result.metrics["disk./.used"] == pytest.approx(100 * used, abs=0.05)
    assert result.units["disk./.used"] == "%"
    assert "disk./rom.used" not in result.metrics            # a read-only image is always full: ignored
    assert "disk./sys/fs/cgroup.used" not in result.metrics  # size 0
    # memory used as free(1) shows it: "Physical memory" used minus the "Memory buffers" and "Cached memory" rows
    hr = "1.3.6.1.2.1.25.2.3.1"
    used_kb = int(raw("openwrt", f"{hr}.6.1")) - int(raw("openwrt", f"{hr}.6.6")) - int(raw("openwrt", f"{hr}.6.7"))
    assert result.metrics["memory.used"] == pytest.approx(100 * used_kb / int(raw("openwrt", f"{hr}.5.1")), abs=0.05)
    assert result.metrics["memory.Physical_memory.used"] == result.metrics["memory.used"]


async def test_routeros_host_resources(checks: Checks) -> None:
    result = await checks.snmp("routeros", "host-resources").run(device(DeviceKind.ROUTER), now=NOW)
    assert result.status is Status.UP
    assert result.metrics["uptime"] == int(raw("routeros", "1.3.6.1.2.1.25.1.1.0")) / 100
    assert result.metrics["cpu.load"] == int(raw("routeros", "1.3.6.1.2.1.25.3.3.1.2.1"))
    assert result.metrics["disk.system_disk.used"] == pytest.approx(100 * 11568 / 16384, abs=0.05)


async def test_routeros_uplink_up(checks: Checks) -> None:
    result = await checks.snmp("routeros", "if-uplink", {"interfaces": ["WAN"]}).run(device(DeviceKind.ROUTER), now=NOW)
    assert result.status is Status.UP
    assert result.metrics["iface.WAN.status"] == "up"


@pytest.mark.parametrize(("iface", "words"), [("ether3", "is down"), ("ether5", "administratively down")])
async def test_routeros_uplink_down(iface: str, words: str, checks: Checks) -> None:
    result = await checks.snmp("routeros", "if-uplink", {"interfaces": ["WAN", iface]}).run(
        device(DeviceKind.ROUTER), now=NOW)
    assert result.status is Status.DOWN and result.reason_code is ReasonCode.CONDITION
    assert iface in (result.reason or "") and words in (result.reason or "")
    assert [(o.kind, o.values["interface"]) for o in result.observations] == [(ObservationKind.LINK_DOWN, iface)]


async def test_uplink_that_does_not_exist_is_named_with_the_alternatives(checks: Checks) -> None:
    result = await checks.snmp("routeros", "if-uplink", {"interfaces": ["ether1"]}).run(
        device(DeviceKind.ROUTER), now=NOW)
    assert result.status is Status.UNKNOWN and result.reason_code is ReasonCode.PROFILE_MISMATCH
    assert "'ether1'" in (result.reason or "") and "WAN" in (result.reason or "")


# ------------------------------------------------------------------------------------ dry contacts

@pytest.mark.parametrize("contact", [1, 2])
async def test_apc_card_contacts_that_are_disabled_cannot_be_watched(contact: int, checks: Checks) -> None:
    result = await checks.snmp("apc_surt3000xl", "spd-contact", {"contact": contact}).run(
        device(DeviceKind.SPD), now=NOW)
    assert result.status is Status.UNKNOWN
    assert "disabled" in (result.reason or "") and f"Int Contact {contact}" in (result.reason or "")
    assert result.profile == "spd-contact"
    assert result.metrics["spd.contact"] == "disabled"


async def test_poseidon_binary_input_normal(checks: Checks) -> None:
    result = await checks.snmp("hwg-poseidon", "spd-contact", {"contact": 1}).run(device(DeviceKind.SPD), now=NOW)
    assert result.status is Status.UP
    assert result.profile == "spd-contact-poseidon"        # the APC contact table is absent: fallback
    assert result.metrics["spd.contact.name"] == "Binary 1"
    assert result.metrics["spd.tripped"] is False

