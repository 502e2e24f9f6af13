"""Cause inference scenarios (pure): each with the cause and the evidence a person would check."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from monitor.domain import Cause, DeviceKind, Status
from monitor.engine.causes import (
    Evidence,
    Gap,
    OtherOutage,
    OutageFacts,
    SiteFacts,
    Windows,
    incident_cause,
    infer,
)
from tests.fakes import T0

W = Windows(power=timedelta(minutes=15), lightning=timedelta(minutes=30), hardware_after=timedelta(minutes=30),
            settle=timedelta(minutes=10))
KINDS = {"router": DeviceKind.ROUTER, "srv": DeviceKind.RECORDING_SERVER, "ups": DeviceKind.UPS,
         "spd": DeviceKind.SPD, "dc": DeviceKind.UPSTREAM, "ws": DeviceKind.WORKSTATION}
UP_SITE = {d: Status.UP for d in KINDS}


def m(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(minutes: float, device: str | None, kind: str, source: str = "poll", **values: object) -> Evidence:
    return Evidence(m(minutes), device, kind, kind.replace("_", " "), source, values)  # type: ignore[arg-type]


def srv_down(start: float = 0, status: Status = Status.DOWN, **kw: object) -> OutageFacts:
    args: dict[str, object] = dict(device="srv", kind=DeviceKind.RECORDING_SERVER, started_at=m(start), status=status,
                                   worst=status, powered_by="ups", parents=("router",), reason="ping: timeout")
    args.update(kw)
    return OutageFacts(**args)  # type: ignore[arg-type]


def site(**kw: object) -> SiteFacts:
    statuses = dict(UP_SITE)
    statuses.update(kw.pop("statuses", {}))  # type: ignore[arg-type]
    return SiteFacts(statuses=statuses, kinds=KINDS, **kw)  # type: ignore[arg-type]


def kinds_of(v: object) -> list[tuple[str | None, str]]:
    return [(e.device, e.kind) for e in v.evidence]  # type: ignore[attr-defined]


def test_power_cut_ups_on_battery_then_server_down() -> None:
    evidence = [ev(-3, "ups", "voltage_abnormal", **{"input.voltage": 161}), ev(-2, "ups", "on_battery"),
                ev(1, "ups", "low_battery")]
    v = infer(srv_down(), evidence, site(statuses={"srv": Status.DOWN, "ups": Status.DEGRADED}), W, m(1))
    assert v.cause is Cause.POWER
    assert kinds_of(v) == [("ups", "voltage_abnormal"), ("ups", "on_battery"), ("ups", "low_battery")]
    assert v.evidence[0].values == {"input.voltage": 161}
    assert v.evidence_json()[1]["time"] == "2026-11-23T00:58:00Z"


def test_power_when_the_battery_lasted_longer_than_the_window() -> None:
    # mains failed 50 minutes before; the battery ran out now. No on-mains since: still a power outage.
    evidence = [ev(-50, "ups", "on_battery")]
    v = infer(srv_down(), evidence, site(), W, m(0))
    assert v.cause is Cause.POWER and kinds_of(v) == [("ups", "on_battery")]


def test_power_episode_that_ended_long_before_is_not_evidence() -> None:
    evidence = [ev(-50, "ups", "on_battery"), ev(-40, "ups", "on_mains")]
    assert infer(srv_down(), evidence, site(), W, m(1)).cause is Cause.UNKNOWN


def test_another_ups_is_not_this_servers_power() -> None:
    kinds = dict(KINDS, ups2=DeviceKind.UPS)
    s = SiteFacts(statuses=dict(UP_SITE, ups2=Status.DEGRADED), kinds=kinds)
    assert infer(srv_down(), [ev(-1, "ups2", "on_battery")], s, W, m(1)).cause is Cause.UNKNOWN
    # a device with no powered_by: any UPS of the site going on battery means the mains failed
    assert infer(srv_down(powered_by=None), [ev(-1, "ups2", "on_battery")], s, W, m(1)).cause is Cause.POWER


def test_abnormal_voltage_alone_before_the_failure_is_power() -> None:
    v = infer(srv_down(), [ev(-1, "ups", "voltage_abnormal", **{"input.voltage": 265})], site(), W, m(1))
    assert v.cause is Cause.POWER and kinds_of(v) == [("ups", "voltage_abnormal")]


def test_lightning_strike_ups_on_battery_server_and_router_down() -> None:
    evidence = [ev(-6, "spd", "strike", count=13), ev(-6, "spd", "spd_tripped", "trap"),
                ev(-5, "ups", "on_battery", "trap")]
    s = site(statuses={"srv": Status.DOWN, "router": Status.DOWN, "ups": Status.DEGRADED})
    v_srv = infer(srv_down(), evidence, s, W, m(1))
    router = OutageFacts("router", DeviceKind.ROUTER, m(0.5), Status.DOWN, Status.DOWN)
    v_router = infer(router, evidence, s, W, m(1))
    assert v_srv.cause is Cause.LIGHTNING and v_router.cause is Cause.LIGHTNING
    # lightning outranks power, and the power evidence is listed with it
    assert kinds_of(v_srv) == [("spd", "spd_tripped"), ("spd", "strike"), ("ups", "on_battery")]
    assert "strike" in v_srv.summary and "power failed with it" in v_srv.summary
    # the router has no powered_by: the site's UPS on battery says the mains failed
    assert kinds_of(v_router) == [("spd", "spd_tripped"), ("spd", "strike"), ("ups", "on_battery")]


def test_lightning_too_long_before_does_not_count() -> None:
    assert infer(srv_down(), [ev(-45, "spd", "strike")], site(), W, m(1)).cause is Cause.UNKNOWN


def test_network_router_down() -> None:
    s = site(statuses={"router": Status.DOWN, "srv": Status.UNREACHABLE},
             outages={"router": OtherOutage("router", m(-0.2), Status.DOWN, Cause.UNKNOWN)})
    v = infer(srv_down(status=Status.UNREACHABLE, hint=Cause.NETWORK), [], s, W, m(1))
    assert v.cause is Cause.NETWORK and kinds_of(v) == [("router", "outage")]
    assert v.evidence[0].time == m(-0.2)


def test_service_host_answers_but_service_does_not() -> None:
    v = infer(srv_down(hint=Cause.SERVICE, reason="tcp:443: refused (answering: ping)"), [], site(), W, m(1))
    assert v.cause is Cause.SERVICE and v.evidence[0].text == "tcp:443: refused (answering: ping)"


def test_upstream_central_link_down_while_the_office_answers() -> None:
    dc = OutageFacts("dc", DeviceKind.UPSTREAM, m(0), Status.DOWN, Status.DOWN, hint=Cause.UPSTREAM,
                     parents=("router",), reason="tcp:443: timeout")
    v = infer(dc, [], site(statuses={"dc": Status.DOWN}), W, m(1))
    assert v.cause is Cause.UPSTREAM
    assert kinds_of(v) == [("dc", "status"), ("router", "status")]
    assert v.evidence[1].values == {"status": "up"} and "5 of 5 local devices answer" in v.summary


@pytest.mark.parametrize(("minutes", "expected"), [(29, Cause.UNKNOWN), (30, Cause.HARDWARE), (600, Cause.HARDWARE)])
def test_hardware_after_the_threshold_with_power_normal(minutes: float, expected: Cause) -> None:
    v = infer(srv_down(), [], site(statuses={"srv": Status.DOWN}), W, m(minutes))
    assert v.cause is expected
    if expected is Cause.HARDWARE:
        assert kinds_of(v) == [("srv", "status"), ("ups", "status")] and v.evidence[1].values == {"status": "up"}


def test_degraded_is_never_hardware() -> None:
    assert infer(srv_down(status=Status.DEGRADED), [], site(), W, m(600)).cause is Cause.UNKNOWN


def test_monitor_reboot_means_the_site_lost_power() -> None:
    gap = Gap(m(-20), m(0), "host_rebooted", boot_time=m(-1))
    v = infer(srv_down(start=0.1), [], site(gaps=[gap]), W, m(1))
    assert v.cause is Cause.POWER and kinds_of(v) == [(None, "monitor_gap")]
    assert v.evidence[0].values["gap_s"] == 1200 and v.evidence[0].values["boot_time"] == "2026-11-23T00:59:00Z"
    # a plain process restart is not power evidence
    stopped = Gap(m(-20), m(0), "process_stopped")
    assert infer(srv_down(start=0.1), [], site(gaps=[stopped]), W, m(1)).cause is Cause.UNKNOWN


def test_ups_itself_down_is_power_for_what_it_feeds() -> None:
    s = site(outages={"ups": OtherOutage("ups", m(0.2), Status.DOWN, Cause.UNKNOWN)})
    v = infer(srv_down(), [], s, W, m(1))
    assert v.cause is Cause.POWER and kinds_of(v) == [("ups", "outage")]


def test_ups_on_battery_is_its_own_power_evidence() -> None:
    ups = OutageFacts("ups", DeviceKind.UPS, m(0), Status.DEGRADED, Status.DEGRADED, reason="on battery")
    assert infer(ups, [ev(0, "ups", "on_battery")], site(), W, m(1)).cause is Cause.POWER


def test_maintenance_when_planned_and_nothing_stronger() -> None:
    window = ev(-5, None, "maintenance")
    v = infer(srv_down(planned=True), [], site(maintenance=[window]), W, m(100))
    assert v.cause is Cause.MAINTENANCE and v.evidence == (window,)
    assert infer(srv_down(planned=True), [ev(-1, "ups", "on_battery")], site(), W, m(1)).cause is Cause.POWER


def test_evidence_json_round_trip() -> None:
    e = ev(-1, "ups", "on_battery", "trap", charge=80)
    assert Evidence.from_json(e.to_json()) == e
    assert set(e.to_json()) == {"time", "device", "kind", "text", "source", "values"}


def test_incident_cause_takes_the_root() -> None:
    assert incident_cause([Cause.NETWORK, Cause.NETWORK, Cause.POWER]) is Cause.POWER
    assert incident_cause([Cause.POWER, Cause.LIGHTNING]) is Cause.LIGHTNING
    assert incident_cause([Cause.NETWORK, Cause.HARDWARE]) is Cause.HARDWARE
    assert incident_cause([Cause.UNKNOWN, Cause.NETWORK]) is Cause.NETWORK
    assert incident_cause([]) is Cause.UNKNOWN


# ------------------------------------------------------------------------------------- environment (issue 14)

def test_an_overheating_room_is_environment() -> None:
    kinds = {**KINDS, "room": DeviceKind.ROOM_SENSOR}
    evidence = [ev(-5, "room", "temperature_high", temperature=41, limit=35)]
    v = infer(srv_down(), evidence, SiteFacts(statuses=dict(UP_SITE), kinds=kinds), W, m(1))
    assert v.cause is Cause.ENVIRONMENT
    assert kinds_of(v) == [("room", "temperature_high")]


@pytest.mark.parametrize(("kind", "values", "expected"), [
    ("water_leak", {}, Cause.ENVIRONMENT),
    ("smoke", {}, Cause.ENVIRONMENT),
    ("temperature_high", {"where": "room"}, Cause.ENVIRONMENT),    # a UPS card's ambient probe
    ("temperature_high", {}, Cause.UNKNOWN),                       # the UPS battery's own temperature: not the room
])
def test_room_facts_from_a_ups_card(kind: str, values: dict[str, object], expected: Cause) -> None:
    v = infer(srv_down(), [ev(-2, "ups", kind, **values)], site(), W, m(1))
    assert v.cause is expected


def test_power_outranks_the_room() -> None:
    evidence = [ev(-3, "ups", "on_battery"), ev(-2, "ups", "temperature_high", where="room")]
    assert infer(srv_down(), evidence, site(), W, m(1)).cause is Cause.POWER
    assert incident_cause([Cause.ENVIRONMENT, Cause.HARDWARE]) is Cause.ENVIRONMENT
