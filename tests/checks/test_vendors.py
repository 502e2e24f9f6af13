"""Every vendor and kind of issue 14 through the real SNMP check on snmpsim, with ``profile: auto`` (no profile
named), on our own recordings (tests/checks/vendor_recordings.py), abnormal states included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.domain import DeviceKind, ObservationKind, ReasonCode, Status

from .conftest import SYS_UPTIME, UPS_OUTPUT_SOURCE, Checks, device

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
K = ObservationKind


def words(result: object) -> set[str]:
    return set(str(result.metrics.get("ups.status", "")).split())  # type: ignore[attr-defined]


def observed(result: object) -> set[ObservationKind]:
    return {o.kind for o in result.observations}  # type: ignore[attr-defined]


# community -> (profile chosen, status, NUT status words that must be there, words that must not, observations)
UPS_CASES: dict[str, tuple[str, Status, set[str], set[str], set[ObservationKind]]] = {
    "v-mge-onbattery": ("ups-mge", Status.DEGRADED, {"OB", "LB"}, {"OL", "OFF"}, {K.ON_BATTERY, K.LOW_BATTERY}),
    "v-mge-replace-hot": ("ups-mge+env-mge", Status.DEGRADED, {"OL", "RB"}, {"OB"},
                          {K.REPLACE_BATTERY, K.TEMPERATURE_HIGH}),
    "v-mge-off": ("ups-mge", Status.DOWN, {"OFF"}, {"OL"}, set()),
    "v-ppc-standby": ("ups-ppc", Status.UP, {"OL"}, {"OFF", "OB"}, set()),
    "v-ppc-eco": ("ups-ppc+env-ppc", Status.UP, {"OL", "ECO"}, {"OFF", "OB"}, set()),
    "v-ppc-lowbattery": ("ups-ppc", Status.DEGRADED, {"OB", "LB"}, {"OL"}, {K.ON_BATTERY, K.LOW_BATTERY}),
    "v-ppc-shutdown": ("ups-ppc", Status.DOWN, {"OFF"}, {"OL"}, set()),
    "v-xppc-standby": ("ups-xppc+env-ppc", Status.UP, {"OL"}, {"OFF"}, set()),
    "v-xppc-standby-off": ("ups-xppc+env-ppc", Status.DOWN, {"OFF"}, {"OL"}, set()),
    "v-tripplite-eco": ("ups-rfc1628+env-tripplite", Status.UP, {"OL", "ECO"}, {"OB", "OFF"}, set()),
    "v-rfc-placeholders": ("ups-rfc1628", Status.UP, {"OL"}, set(), set()),
    "v-rfc-65535": ("ups-rfc1628", Status.UP, {"OL"}, set(), set()),
    "v-rfc-istars": ("ups-rfc1628", Status.UP, {"OL"}, set(), set()),
    "v-rfc-bypass": ("ups-rfc1628", Status.DEGRADED, {"BYPASS"}, {"OB"}, {K.BYPASS}),
    "v-rfc-boost": ("ups-rfc1628", Status.DEGRADED, {"OL", "BOOST"}, {"OB"}, {K.VOLTAGE_ABNORMAL}),
    "v-rfc-onbattery-low": ("ups-rfc1628", Status.DEGRADED, {"OB", "LB"}, {"OL"},
                            {K.ON_BATTERY, K.LOW_BATTERY, K.LOW_RUNTIME}),
    "v-huawei-onbattery": ("ups-huawei", Status.DEGRADED, {"OB", "DISCHRG"}, {"OL"}, {K.ON_BATTERY}),
    "v-huawei-eco": ("ups-huawei", Status.UP, {"OL", "ECO"}, {"OB"}, set()),
    "v-liebert-rb": ("ups-liebert+env-liebert", Status.DEGRADED, {"OL", "RB"}, {"OB"},
                     {K.REPLACE_BATTERY, K.TEMPERATURE_HIGH}),
    "v-eaton-emp": ("ups-rfc1628+env-xups", Status.DEGRADED, {"OL"}, {"OB"},
                    {K.TEMPERATURE_HIGH, K.HUMIDITY_ABNORMAL}),
    "v-cyberpower-envir2": ("ups-cyberpower+env-cyberpower", Status.DEGRADED, {"OL"}, {"OB"}, {K.CONTACT_ALARM}),
    "v-apc-uio": ("ups-apc+env-apc", Status.DEGRADED, {"OL"}, {"OB"}, {K.TEMPERATURE_HIGH, K.CONTACT_ALARM}),
}


@pytest.mark.parametrize("community", sorted(UPS_CASES))
async def test_ups_vendors_choose_their_profiles_and_read_their_state(community: str, checks: Checks) -> None:
    profile, status, present, absent, observations = UPS_CASES[community]
    result = await checks.snmp(community).run(device(), now=NOW)
    assert result.profile == profile, result.profile_why
    assert result.check == "snmp:auto"
    assert (result.profile_why or "").startswith("auto: ")
    assert result.status is status, (result.reason, result.metrics)
    assert present <= words(result), result.metrics.get("ups.status")
    assert not absent & words(result), result.metrics.get("ups.status")
    assert observations <= observed(result), observed(result)
    assert result.reason_code is not ReasonCode.GARBAGE


async def test_standby_and_eco_units_are_never_down(checks: Checks) -> None:
    """Issue 14: a NetAgent card in standBy with 236 V on its output at 16 % load was reported down."""
    for community in ("v-xppc-standby", "v-ppc-standby", "v-ppc-eco", "v-tripplite-eco", "v-huawei-eco"):
        result = await checks.snmp(community).run(device(), now=NOW)
        assert result.status is Status.UP, (community, result.reason)
    netagent = await checks.snmp("v-xppc-standby").run(device(), now=NOW)
    assert netagent.metrics["output.voltage"] == 236 and netagent.metrics["ups.load"] == 16


async def test_placeholders_drop_only_their_metric_and_0_1_volts_are_corrected(checks: Checks) -> None:
    result = await checks.snmp("v-rfc-placeholders").run(device(), now=NOW)
    assert result.status is Status.UP
    assert "battery.runtime" not in result.metrics and "4294967295" in result.ignored["battery.runtime"]
    assert "ups.temperature" not in result.metrics and "-273" in result.ignored["ups.temperature"]
    assert result.metrics["input.voltage"] == 231.3 and result.metrics["output.voltage"] == 230.2
    assert "2313 read as 231.3 V" in result.adjusted["input.voltage"]
    assert result.metrics["battery.charge"] == 100


async def test_socomec_65535_minutes_is_not_45_days(checks: Checks) -> None:
    result = await checks.snmp("v-rfc-65535").run(device(), now=NOW)
    assert "battery.runtime" not in result.metrics
    assert "65535" in result.ignored["battery.runtime"]
    assert K.LOW_RUNTIME not in observed(result)


async def test_rows_served_as_dot_1_dot_0_are_read(checks: Checks) -> None:
    result = await checks.snmp("v-rfc-istars").run(device(), now=NOW)
    assert result.metrics["input.voltage"] == 230 and result.metrics["output.voltage"] == 230
    assert result.metrics["ups.load"] == 44
    galaxy = await checks.snmp("v-mge-onbattery").run(device(), now=NOW)
    assert galaxy.metrics["output.voltage"] == 230 and galaxy.metrics["ups.load"] == 41


async def test_an_extension_fills_what_the_base_lacks(checks: Checks) -> None:
    """Tripp Lite: the UPS-MIB battery temperature is -273 (dropped); the card's own temperature, sent in
    tenths, fills ups.temperature and the correction is recorded."""
    result = await checks.snmp("v-tripplite-eco").run(device(), now=NOW)
    assert result.metrics["ups.temperature"] == 24
    assert "ups.temperature" not in result.ignored
    assert "240 read as 24" in result.adjusted["ups.temperature"]


async def test_room_probes_on_ups_cards(checks: Checks) -> None:
    emp = await checks.snmp("v-eaton-emp").run(device(), now=NOW)
    assert emp.metrics["ambient.temperature"] == 39 and emp.metrics["ambient.humidity"] == 85
    hot = [o for o in emp.observations if o.kind is K.TEMPERATURE_HIGH]
    assert hot and hot[0].values["where"] == "room"
    apc = await checks.snmp("v-apc-uio").run(device(), now=NOW)
    assert apc.metrics["ambient.temperature"] == 37 and apc.metrics["ambient.contacts.names"] == "Arrester"
    cps = await checks.snmp("v-cyberpower-envir2").run(device(), now=NOW)
    assert cps.metrics["ambient.temperature"] == 26.5 and "Pintu" in str(cps.metrics["ambient.contacts.names"])
    mge = await checks.snmp("v-mge-replace-hot").run(device(), now=NOW)
    assert mge.metrics["ambient.temperature"] == 41.2 and mge.metrics["ambient.humidity"] == 55


# -------------------------------------------------------------------------------------------- room sensors

@pytest.mark.parametrize(("community", "status", "temperature", "observations"), [
    ("v-ste2-water", Status.DEGRADED, 38.5, {K.TEMPERATURE_HIGH, K.CONTACT_ALARM}),
    ("v-poseidon-hot", Status.DOWN, 47, {K.TEMPERATURE_HIGH}),
    ("v-ste-normal", Status.UP, 24.3, set()),
    ("v-emu-input", Status.DEGRADED, 25, {K.CONTACT_ALARM}),
])
async def test_room_sensors(community: str, status: Status, temperature: float, observations: set[ObservationKind],
                            checks: Checks) -> None:
    result = await checks.snmp(community).run(device(DeviceKind.ROOM_SENSOR), now=NOW)
    assert result.status is status, result.reason
    assert result.metrics["ambient.temperature"] == pytest.approx(temperature, abs=0.05)
    assert observations <= observed(result)
    if status is Status.UP:
        assert not observed(result)


async def test_a_contact_in_alarm_names_the_input(checks: Checks) -> None:
    result = await checks.snmp("v-emu-input").run(device(DeviceKind.ROOM_SENSOR), now=NOW)
    assert result.reason == "1 dry contact(s) in alarm: Detektor asap"
    assert result.metrics["ambient.humidity"] == 50
    ste2 = await checks.snmp("v-ste2-water").run(device(DeviceKind.ROOM_SENSOR), now=NOW)
    assert ste2.metrics["ambient.contacts.names"] == "Air" and ste2.metrics["ambient.humidity"] == 45


# ---------------------------------------------------------------------------------------------------- PDU

@pytest.mark.parametrize(("community", "profile", "status", "current"), [
    ("v-rpdu2-overload", "pdu-apc", Status.DEGRADED, 16.5),
    ("v-rpdu2-normal", "pdu-apc", Status.UP, 4.2),
    ("v-eaton-pdu-near", "pdu-eaton", Status.DEGRADED, 13.8),
    ("v-raritan-pdu", "pdu-raritan", Status.UP, 8.5),
])
async def test_pdus(community: str, profile: str, status: Status, current: float, checks: Checks) -> None:
    result = await checks.snmp(community).run(device(DeviceKind.PDU), now=NOW)
    assert result.profile.split("+")[0] == profile
    assert result.status is status, result.reason
    assert result.metrics["input.current"] == pytest.approx(current)
    if status is Status.DEGRADED:
        assert K.OVERLOAD in observed(result)


# ------------------------------------------------------------------------------------------------ servers

async def test_linux_memory_is_what_free_shows_and_an_iso_image_is_never_full(checks: Checks) -> None:
    result = await checks.snmp("v-linux-iso").run(device(DeviceKind.RECORDING_SERVER), now=NOW)
    assert result.profile == "host-resources"
    assert result.status is Status.UP, result.reason
    assert result.metrics["memory.used"] == 50            # (14.4 − 0.8 buffers − 5.6 cache) / 16 GB, not 90 %
    assert result.metrics["disk./.used"] == 50
    assert not any("installer" in name for name in result.metrics)


async def test_windows_cdrom_row_is_not_a_disk_and_does_not_blind_the_server(checks: Checks) -> None:
    result = await checks.snmp("v-windows-cdrom").run(device(DeviceKind.WORKSTATION), now=NOW)
    assert result.reason_code is not ReasonCode.GARBAGE
    assert result.status is Status.DEGRADED and "92% full" in (result.reason or "")   # C: is nearly full
    assert not any(name.startswith("disk.D") for name in result.metrics)
    assert result.metrics["memory.used"] == 60
    assert not result.ignored


async def test_synology_volumes_and_memory(checks: Checks) -> None:
    result = await checks.snmp("v-synology").run(device(DeviceKind.RECORDING_SERVER), now=NOW)
    assert result.status is Status.UP
    assert result.metrics["memory.used"] == 35
    assert result.metrics["disk./volume1.used"] == 50


# ---------------------------------------------------------------------------------- choice and its cache

async def test_the_choice_is_kept_and_made_again_when_the_agent_restarts(checks: Checks, restore_values) -> None:  # type: ignore[no-untyped-def]
    check = checks.snmp("wc-auto")
    first = await check.run(device(), now=NOW)
    assert first.profile == "ups-rfc1628" and check.choice is not None
    choice = check.choice
    resources = checks.resources.snmp
    before = resources.requests                                                 # type: ignore[attr-defined]
    again = await check.run(device(), now=NOW + timedelta(minutes=1))
    assert check.choice is choice                                               # cached: no probe
    assert resources.requests - before == 1                                     # one GET, nothing else
    assert again.status is Status.UP
    restore_values("wc-auto", SYS_UPTIME, 500, "t")                             # the card restarted
    restore_values("wc-auto", UPS_OUTPUT_SOURCE, 5)                             # ...and it is on battery now
    after = await check.run(device(), now=NOW + timedelta(minutes=2))
    assert check.choice is not choice                                           # probed again
    assert after.profile == "ups-rfc1628" and "OB" in words(after)


async def test_nothing_fits_is_unknown_not_down(checks: Checks) -> None:
    result = await checks.snmp("bad-types").run(device(), now=NOW)
    assert result.status is Status.UNKNOWN and result.reason_code is ReasonCode.PROFILE_MISMATCH
    assert (result.reason or "").startswith("profile does not match device")
