"""The record on real databases (SQLite files; PostgreSQL when available): outages, incidents, causes,
events for the alerting side, maintenance, samples — written through the real pipeline."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from monitor.domain import ObservationKind, Status
from monitor.storage.models import CheckSample, DeviceStateRow, EvidenceRow, IncidentRow, MaintenanceRow

from .conftest import DC, ROUTER, SPD, SRV, UPS, Office, ups_result

U, G, D, K = Status.UP, Status.DEGRADED, Status.DOWN, Status.UNKNOWN
OK_ = ObservationKind


async def test_outage_opened_at_first_failure_and_closed_at_first_good_check(office: Office) -> None:
    await office.series(SRV, [U, D, D], 0)
    assert office.outages() == []                                   # two failures: silent
    await office.feed(SRV, D, 3)
    [o] = office.outages(SRV)
    assert (o.started_at, o.confirmed_at, o.ended_at, o.status) == (office.at(1), office.at(3), None, "down")
    [ev] = office.events("outage_opened")
    p = ev.payload
    assert (p["site"], p["device"], p["device_name"], p["kind"]) == ("mura", "srv", "Server Perekaman",
                                                                      "recording_server")
    assert (p["started_at"], p["confirmed_at"], p["status"]) == ("2026-11-23T01:01:00Z", "2026-11-23T01:03:00Z", "down")
    assert p["planned"] is False and p["incident_id"] == o.incident_id and p["cause"] == "unknown"
    assert p["reason"] == "ping: timeout" and p["ups"]["device"] == "ups"
    [inc] = office.events("incident_opened")
    assert inc.payload["devices"] == ["srv"]
    await office.series(SRV, [D, U, D, U, U], 4)
    [o] = office.outages(SRV)
    assert o.ended_at == office.at(7) and o.status == "down"          # first good check of the recovery
    [closed] = office.events("outage_closed")
    assert closed.payload["duration_s"] == 360.0 and closed.payload["ended_at"] == "2026-11-23T01:07:00Z"
    [ic] = office.events("incident_closed")
    assert ic.payload["duration_s"] == 360.0 and ic.payload["devices"] == ["srv"]
    state = office.db.call(lambda s: s.get(DeviceStateRow, office.recorder.ids[SRV]))
    assert state is not None and state.status == "up" and state.since == office.at(7)
    samples = office.db.call(lambda s: list(s.scalars(select(CheckSample))))
    assert len(samples) == 9 and {x.status for x in samples} == {"up", "down"}


async def test_power_cut_is_one_incident_with_power_evidence(office: Office) -> None:
    pl = office.pipeline
    assert pl is not None
    for i in range(3):  # the UPS goes on battery (the check reports the condition every poll)
        t = office.at(i)
        office.clock.set(t)
        pl.submit_result(UPS, ups_result(G, t, OK_.ON_BATTERY, **{"battery.charge": 90 - i, "battery.runtime": 900}))
        await pl.drain()
    await office.series(SRV, [D, D, D], 5)
    ups_o, = office.outages(UPS)
    srv_o, = office.outages(SRV)
    assert (ups_o.cause, ups_o.status, ups_o.started_at) == ("power", "degraded", office.at(0))
    assert srv_o.cause == "power" and srv_o.incident_id == ups_o.incident_id
    assert [(e["device"], e["kind"]) for e in srv_o.evidence] == [("ups", "on_battery")]
    assert srv_o.evidence[0]["time"] == "2026-11-23T01:00:00Z"
    evidence_rows = office.db.call(lambda s: list(s.scalars(select(EvidenceRow))))
    assert [r.kind for r in evidence_rows] == ["on_battery"]          # a condition is recorded once, not per poll
    [opened] = [e for e in office.events("outage_opened") if e.payload["device"] == "srv"]
    assert opened.payload["ups"]["metrics"]["battery.charge"] == 88 and opened.payload["cause"] == "power"
    [inc] = office.db.call(lambda s: list(s.scalars(select(IncidentRow))))
    assert inc.cause == "power" and inc.started_at == office.at(0)
    changed = office.events("incident_changed")
    assert changed and changed[-1].payload["devices"] == ["ups", "srv"]


async def test_service_upstream_and_network(office: Office) -> None:
    await office.series(DC, [D, D, D], 0)
    await office.feed(SRV, U, 0)                                      # ping answers
    await office.series(SRV, [D, D, D], 0, check="tcp:443", reason="connection refused")
    dc, = office.outages(DC)
    srv, = office.outages(SRV)
    assert dc.cause == "upstream" and srv.cause == "service"
    await office.series(ROUTER, [D, D, D], 10)
    await office.series(SRV, [D, D, D], 10.5)   # ping now fails too, behind the dead router
    srv, = office.outages(SRV)
    assert office.world.get(SRV).status is Status.UNREACHABLE
    assert office.world.get(DC).status is Status.UNREACHABLE
    changed = [e.payload for e in office.events("outage_changed") if e.payload["device"] == "dc"]
    assert changed[0]["status"] == "unreachable" and changed[0]["previous_status"] == "down"


async def test_lightning_storm_ups_on_battery_server_down(office: Office) -> None:
    await office.trap(SPD, OK_.SPD_TRIPPED, 0, "SPD tripped")
    await office.trap(UPS, OK_.ON_BATTERY, 0.2, "on battery")
    assert office.world.get(UPS).status is G and office.polled == [SPD, UPS]
    await office.series(SRV, [D, D, D], 2)
    srv, = office.outages(SRV)
    assert srv.cause == "lightning"
    assert [(e["device"], e["kind"], e["source"]) for e in srv.evidence] == [
        ("spd", "spd_tripped", "trap"), ("ups", "on_battery", "trap")]
    obs = [e.payload for e in office.events("observation")]
    assert [(p["device"], p["kind"], p["source"]) for p in obs] == [("spd", "spd_tripped", "trap"),
                                                                    ("ups", "on_battery", "trap")]
    await office.trap(UPS, OK_.ON_BATTERY, 0.5, "on battery")        # a repeated trap: no second event
    assert len(office.events("observation")) == 2


async def test_unknown_never_opens_an_outage_and_is_recorded_honestly(office: Office) -> None:
    await office.series(UPS, [K] * 5, 0, reason="authentication failed")
    assert office.outages() == []
    state = office.db.call(lambda s: s.get(DeviceStateRow, office.recorder.ids[UPS]))
    assert state is not None and state.status == "unknown" and "authentication failed" in (state.reason or "")


async def test_hardware_after_the_threshold_via_the_sweep(office: Office) -> None:
    await office.series(ROUTER, [U], 0)
    await office.series(SRV, [D, D, D], 1)
    srv, = office.outages(SRV)
    assert srv.cause == "unknown"
    office.clock.set(office.at(25))
    assert office.db.call(lambda s: office.recorder.sweep(s, office.world, office.clock.now())) == 0
    office.clock.set(office.at(31))
    assert office.db.call(lambda s: office.recorder.sweep(s, office.world, office.clock.now())) == 1
    srv, = office.outages(SRV)
    assert srv.cause == "hardware" and srv.evidence[0]["text"].startswith("down for 30m")
    ch = office.events("outage_changed")[-1].payload
    assert (ch["cause"], ch["previous_cause"], ch["change"]) == ("hardware", "unknown", "cause")


async def test_maintenance_outage_is_planned_until_the_window_ends(office: Office) -> None:
    sid = office.recorder.ids[SRV]
    office.db.call(lambda s: s.add(MaintenanceRow(site_id="mura", device_id=sid, kind="maintenance",
                                                  starts_at=office.at(0), ends_at=office.at(30),
                                                  reason="ganti hardisk", created_by="it", created_at=office.at(0))))
    office.db.call(lambda s: s.add(MaintenanceRow(site_id="mura", device_id=None, kind="mute",
                                                  starts_at=office.at(0), ends_at=office.at(300),
                                                  reason="mute only", created_by="it", created_at=office.at(0))))
    await office.series(SRV, [D, D, D], 1)
    srv, = office.outages(SRV)
    assert srv.planned and srv.cause == "maintenance"
    opened = office.events("outage_opened")[-1].payload
    assert opened["planned"] is True and opened["maintenance"]["reason"] == "ganti hardisk"
    office.clock.set(office.at(31))
    office.db.call(lambda s: office.recorder.sweep(s, office.world, office.clock.now()))
    srv, = office.outages(SRV)
    assert not srv.planned and "after the maintenance window" in (srv.reason or "")
    ch = office.events("outage_changed")[-1].payload
    assert ch["planned"] is False and ch["change"] == "planned" and ch["previous_cause"] == "maintenance"


async def test_config_recurring_window_makes_it_planned(office: Office) -> None:
    # Friday 2026-11-27 22:00 WIB = 15:00 UTC: the weekly backup window of the server
    base = (office.at(0).replace(day=27, hour=15) - office.at(0)).total_seconds() / 60
    await office.series(SRV, [D, D, D], base + 5)
    srv, = office.outages(SRV)
    assert srv.planned and srv.cause == "maintenance"


async def test_observation_events_are_deduplicated(office: Office) -> None:
    pl = office.pipeline
    assert pl is not None
    for i in range(4):
        t = office.at(i)
        office.clock.set(t)
        kinds = [OK_.VOLTAGE_ABNORMAL] if i < 3 else []
        pl.submit_result(UPS, ups_result(U, t, *kinds, **{"input.voltage": 250 + i}))
        await pl.drain()
    t = office.at(5)
    office.clock.set(t)
    pl.submit_result(UPS, ups_result(U, t, OK_.VOLTAGE_ABNORMAL))   # a new episode
    await pl.drain()
    for i, n in enumerate((13, 14)):   # every strike is an event
        t = office.at(6 + i)
        office.clock.set(t)
        from monitor.domain import CheckResult, Observation
        pl.submit_result(SPD, CheckResult(check="snmp:spd-counter", type="snmp", status=U, time=t,
                                          observations=(Observation(t, OK_.STRIKE, "strike counted", "poll",
                                                                    {"count": n}),)))
        await pl.drain()
    kinds = [(e.payload["device"], e.payload["kind"]) for e in office.events("observation")]
    assert kinds == [("ups", "voltage_abnormal"), ("ups", "voltage_abnormal"), ("spd", "strike"), ("spd", "strike")]


async def test_flapping_is_one_event_pair(office: Office) -> None:
    for i in range(16):   # a status change every 4 minutes: more than 6 in 30 minutes
        await office.series(ROUTER, [D, D, D] if i % 2 == 0 else [U, U], i * 4)
    started = office.events("flapping_started")
    assert len(started) == 1 and started[0].payload["device"] == "router"
    opened = office.events("outage_opened")
    assert any(e.payload["flapping"] for e in opened) and "after_gap" not in opened[0].payload
    assert any(e.payload["flapping"] for e in office.events("incident_opened") + office.events("incident_closed"))
    await office.series(ROUTER, [U] * 20, 70, step=2)
    assert len(office.events("flapping_stopped")) == 1


async def test_samples_roll_up_and_prune(office: Office) -> None:
    from monitor.daemon.recorder import prune_samples, rollup_samples
    for i in range(6):
        await office.feed(ROUTER, U if i != 2 else D, i * 20, metrics={"rtt_avg_ms": 1.0 + i})
    hours = office.db.call(lambda s: rollup_samples(s, office.at(0) + timedelta(hours=3)))
    assert hours == 2   # 01:00 and 02:00; the hour 03:00 is not over
    from monitor.storage.models import SampleRollup
    rolls = office.db.call(lambda s: list(s.scalars(select(SampleRollup).order_by(SampleRollup.hour))))
    assert [(r.samples, r.status_counts) for r in rolls] == [(3, {"up": 2, "down": 1}), (3, {"up": 3})]
    assert rolls[0].metrics["rtt_avg_ms"] == {"min": 1.0, "avg": 2.0, "max": 3.0, "n": 3}
    assert office.db.call(lambda s: rollup_samples(s, office.at(0) + timedelta(hours=3))) == 0   # done once
    deleted = office.db.call(lambda s: prune_samples(s, office.at(0) + timedelta(days=30, minutes=30), 30))
    assert deleted == 2   # older than 30 days and rolled up
    left = office.db.call(lambda s: len(list(s.scalars(select(CheckSample)))))
    assert left == 4


async def test_service_and_upstream_outages_keep_their_cause_when_they_close(office: Office) -> None:
    """The engine's hint (service, upstream) is gone once the device answers again; the closed outage, its
    incident and the outage_closed event must still say why it was down (found by the demo, issue 7)."""
    await office.feed(SRV, U, 0)                                      # ping answers
    await office.series(SRV, [D, D, D], 0, check="tcp:443", reason="connection refused")
    await office.series(DC, [D, D, D], 0)
    await office.series(SRV, [U, U], 4, check="tcp:443")
    await office.series(DC, [U, U], 4)
    srv, = office.outages(SRV)
    dc, = office.outages(DC)
    assert srv.ended_at is not None and dc.ended_at is not None
    assert (srv.cause, dc.cause) == ("service", "upstream")
    closed = {e.payload["device"]: e.payload["cause"] for e in office.events("outage_closed")}
    assert closed == {"srv": "service", "dc": "upstream"}


async def test_an_outage_keeps_the_timeline_of_its_statuses(office: Office) -> None:
    # degraded (packet loss) from minute 1, down from minute 4, back up at minute 8
    await office.series(SRV, [U, G, G, G], 0)
    await office.series(SRV, [D, D, D], 4)
    await office.series(SRV, [U, U], 8)
    [o] = office.outages(SRV)
    assert (o.started_at, o.ended_at, o.status) == (office.at(1), office.at(8), "down")
    assert o.timeline == [{"at": "2026-11-23T01:01:00Z", "status": "degraded"},
                          {"at": "2026-11-23T01:04:00Z", "status": "down"}]
