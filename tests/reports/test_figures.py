"""Report figures against hand-computed fixtures (pure: ReportData built in the test, fixed ``now``).

The office (tests/reports/conftest.py): WIB; services perekaman = any(srv1, srv2), siak = all(router, dc);
a config backup window every Friday 22:00–24:00 WIB on srv1. The week is 2026-W47:
Mon 16 Nov 00:00 WIB .. Mon 23 Nov 00:00 WIB = 604 800 s.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.domain import Cause, Status
from monitor.reports import figures as F
from monitor.reports import selection as S
from monitor.reports.data import AckRecord, GapRecord, IncidentRecord, MaintenanceRecord, ObservationRecord
from monitor.reports.figures import Slot
from monitor.settings import Settings

from .conftest import HOUR, NOW, WEEK, data, outage, wib

WEEK_S = 7 * 24 * HOUR
BACKUP_S = 2 * HOUR      # the Friday backup window of srv1 (config cron)


def dev(fig: F.ReportFigures, device: str) -> F.Availability:
    found = fig.current.device(device)
    assert found is not None
    return found.availability


def svc(fig: F.ReportFigures, service: str) -> F.Availability:
    found = fig.current.service(service)
    assert found is not None
    return found.availability


def test_week_geometry() -> None:
    assert WEEK.start == wib(2026, 11, 16) and WEEK.end == wib(2026, 11, 23)
    assert WEEK.seconds == WEEK_S and WEEK.label == "2026-W47"
    assert WEEK.previous().label == "2026-W46" and WEEK.previous().end == WEEK.start


def test_zero_outages_is_100_percent_with_mtbf_undefined(office: Settings) -> None:
    fig = F.compute(data(office, maintenance=()), WEEK, NOW)
    a = dev(fig, "srv1")
    assert a.availability == 100.0 and a.failures == 0 and a.down_s == 0
    assert a.mttr_s is None and a.mtbf_s is None and a.longest is None
    assert a.observed_s == WEEK_S
    assert fig.current.site.availability == 100.0
    assert svc(fig, "perekaman").availability == 100.0
    assert fig.outages == () and fig.central_actions == () and fig.local_actions == ()


def test_outage_across_the_week_boundary_is_clipped_exactly(office: Settings) -> None:
    # Sun 15 Nov 22:00 WIB (previous week) .. Mon 16 Nov 02:00 WIB: 2 h in each week
    o = outage("srv1", wib(2026, 11, 15, 22), wib(2026, 11, 16, 2), cause=Cause.POWER)
    fig = F.compute(data(office, outages=(o,)), WEEK, NOW)
    a = dev(fig, "srv1")
    assert a.down_s == 2 * HOUR and a.failures == 1
    assert a.availability == pytest.approx(100 * (WEEK_S - BACKUP_S - 2 * HOUR) / (WEEK_S - BACKUP_S))
    assert a.maintenance_s == BACKUP_S
    line = fig.outages[0]
    assert line.started_before and not line.open_at_end
    assert line.duration_s == 4 * HOUR and line.in_period_s == 2 * HOUR and line.downtime_s == 2 * HOUR
    prev = fig.previous.device("srv1")
    assert prev is not None and prev.availability.down_s == 2 * HOUR
    # one server of an "any" service: the service stayed up
    assert svc(fig, "perekaman").down_s == 0


def test_outage_still_open_at_the_end_with_its_age(office: Settings) -> None:
    o = outage("srv2", wib(2026, 11, 22, 20), None, cause=Cause.HARDWARE)
    fig = F.compute(data(office, outages=(o,)), WEEK, NOW)
    assert dev(fig, "srv2").down_s == 4 * HOUR
    (line,) = fig.open_at_end
    assert line.open_at_end and line.end is None and line.duration_s == 4 * HOUR
    action = next(a for a in fig.local_actions if a.kind == "open_outage")
    assert action.device is not None and action.device.id == "srv2" and action.seconds == 4 * HOUR


def test_an_outage_that_ended_after_the_period_is_open_at_its_end(office: Settings) -> None:
    o = outage("srv2", wib(2026, 11, 22, 20), wib(2026, 11, 23, 1), cause=Cause.HARDWARE)
    fig = F.compute(data(office, outages=(o,)), WEEK, NOW)
    (line,) = fig.open_at_end
    assert line.end == wib(2026, 11, 23, 1) and line.duration_s == 4 * HOUR


def test_the_running_week_counts_only_until_now(office: Settings) -> None:
    now = wib(2026, 11, 18, 12)                         # Wednesday noon: 2.5 days elapsed
    o = outage("srv2", wib(2026, 11, 18, 10), None)
    fig = F.compute(data(office, outages=(o,)), WEEK, now)
    assert not fig.current.complete and fig.window_end == now
    a = dev(fig, "srv2")
    assert a.elapsed_s == 2.5 * 24 * HOUR and a.down_s == 2 * HOUR


def test_monitor_gap_inside_an_outage_is_not_monitored_and_not_downtime(office: Settings) -> None:
    o = outage("srv1", wib(2026, 11, 17, 10), wib(2026, 11, 17, 14), cause=Cause.POWER)
    gap = GapRecord(wib(2026, 11, 17, 11), wib(2026, 11, 17, 12), "host_rebooted")
    fig = F.compute(data(office, outages=(o,), gaps=(gap,)), WEEK, NOW)
    a = dev(fig, "srv1")
    assert a.down_s == 3 * HOUR and a.unmonitored_s == HOUR
    assert a.failures == 1                      # one outage, interrupted only by the gap
    assert a.observed_s == WEEK_S - HOUR - BACKUP_S
    # every device and the site: the gap is the monitor's, not one device's
    assert dev(fig, "ws").unmonitored_s == HOUR and fig.current.site.unmonitored_s == HOUR
    assert dev(fig, "ws").availability == 100.0
    line = fig.outages[0]
    assert line.unmonitored_s == HOUR and line.downtime_s == 3 * HOUR
    assert fig.gaps == (gap,)


def test_maintenance_window_is_excluded_and_the_overrun_counts(office: Settings) -> None:
    # srv1 down Fri 21:00 .. Fri 23:30 WIB; the backup window is Fri 22:00 .. 24:00
    o = outage("srv1", wib(2026, 11, 20, 21), wib(2026, 11, 20, 23, 30), cause=Cause.SERVICE)
    fig = F.compute(data(office, outages=(o,)), WEEK, NOW)
    a = dev(fig, "srv1")
    assert a.down_s == HOUR and a.maintenance_s == BACKUP_S
    assert a.availability == pytest.approx(100 * (WEEK_S - BACKUP_S - HOUR) / (WEEK_S - BACKUP_S))
    line = fig.outages[0]
    assert line.maintenance_s == 1.5 * HOUR and line.downtime_s == HOUR


def test_a_planned_outage_running_past_its_window_counts_after_the_window(office: Settings) -> None:
    o = outage("srv1", wib(2026, 11, 20, 22, 30), wib(2026, 11, 21, 1), planned=True, cause=Cause.MAINTENANCE)
    fig = F.compute(data(office, outages=(o,)), WEEK, NOW)
    assert dev(fig, "srv1").down_s == HOUR          # 00:00 .. 01:00 Saturday
    assert dev(fig, "srv1").maintenance_s == BACKUP_S


def test_two_outages_of_one_device_mttr_mtbf_longest(office: Settings) -> None:
    a1 = outage("ws", wib(2026, 11, 16, 10), wib(2026, 11, 16, 10, 30), cause=Cause.SERVICE)
    a2 = outage("ws", wib(2026, 11, 18, 10), wib(2026, 11, 18, 11), cause=Cause.POWER)
    fig = F.compute(data(office, outages=(a1, a2)), WEEK, NOW)
    a = dev(fig, "ws")
    assert a.failures == 2 and a.down_s == 1.5 * HOUR
    assert a.mttr_s == 0.75 * HOUR
    assert a.mtbf_s == (WEEK_S - 1.5 * HOUR) / 2
    assert a.longest is not None and a.longest.down_s == HOUR and a.longest.cause is Cause.POWER
    assert dict(a.down_by_cause) == {Cause.POWER: HOUR, Cause.SERVICE: 0.5 * HOUR}
    # availability is MTBF / (MTBF + MTTR)
    assert a.availability == pytest.approx(100 * a.mtbf_s / (a.mtbf_s + a.mttr_s))


def test_overlapping_outages_of_one_device_are_merged(office: Settings) -> None:
    a1 = outage("ws", wib(2026, 11, 17, 10), wib(2026, 11, 17, 11), status=Status.DEGRADED, cause=Cause.POWER)
    a2 = outage("ws", wib(2026, 11, 17, 10, 30), wib(2026, 11, 17, 11, 30), cause=Cause.LIGHTNING)
    a3 = outage("ws", wib(2026, 11, 17, 11), wib(2026, 11, 17, 12), cause=Cause.HARDWARE)
    fig = F.compute(data(office, outages=(a1, a2, a3)), WEEK, NOW)
    a = dev(fig, "ws")
    # down 10:30 .. 12:00 (a2 then a3, touching), degraded 10:00 .. 10:30
    assert a.failures == 1 and a.down_s == 1.5 * HOUR and a.degraded_s == 0.5 * HOUR
    assert a.degraded_periods == 1
    # worst status wins while they overlap; ties go to the earlier outage
    assert dict(a.down_by_cause) == {Cause.LIGHTNING: HOUR, Cause.HARDWARE: 0.5 * HOUR}
    assert a.elapsed_s == WEEK_S
    assert a.availability == pytest.approx(100 * (WEEK_S - 1.5 * HOUR) / WEEK_S)


def test_service_any_stays_up_with_one_of_two_servers_and_falls_with_both(office: Settings) -> None:
    s1 = outage("srv1", wib(2026, 11, 17, 8), wib(2026, 11, 17, 10), cause=Cause.HARDWARE)
    s2 = outage("srv2", wib(2026, 11, 17, 9), wib(2026, 11, 17, 11), cause=Cause.POWER)
    only_one = F.compute(data(office, outages=(s1,)), WEEK, NOW)
    assert svc(only_one, "perekaman").availability == 100.0
    assert svc(only_one, "perekaman").failures == 0
    both = F.compute(data(office, outages=(s1, s2)), WEEK, NOW)
    p = svc(both, "perekaman")
    assert p.down_s == HOUR and p.failures == 1          # both down 09:00 .. 10:00
    assert dict(p.down_by_cause) == {Cause.POWER: HOUR}  # root-cause priority: power before hardware
    assert p.availability == pytest.approx(100 * (WEEK_S - HOUR) / WEEK_S)
    # the site is all of its services
    assert both.current.site.down_s == HOUR


def test_service_all_falls_with_any_device(office: Settings) -> None:
    r = outage("router", wib(2026, 11, 19, 8), wib(2026, 11, 19, 9), cause=Cause.HARDWARE)
    fig = F.compute(data(office, outages=(r,)), WEEK, NOW)
    assert svc(fig, "siak").down_s == HOUR and svc(fig, "perekaman").down_s == 0


def test_unreachable_is_unavailable_with_cause_network_unless_power_or_lightning(office: Settings) -> None:
    u1 = outage("ws", wib(2026, 11, 17, 8), wib(2026, 11, 17, 9), status=Status.UNREACHABLE, cause=Cause.HARDWARE)
    u2 = outage("ws", wib(2026, 11, 18, 8), wib(2026, 11, 18, 9), status=Status.UNREACHABLE, cause=Cause.POWER)
    u3 = outage("dc", wib(2026, 11, 19, 8), wib(2026, 11, 19, 9), status=Status.UNREACHABLE, cause=Cause.UPSTREAM)
    fig = F.compute(data(office, outages=(u1, u2, u3)), WEEK, NOW)
    a = dev(fig, "ws")
    assert a.down_s == 2 * HOUR and a.unreachable_s == 2 * HOUR
    assert dict(a.down_by_cause) == {Cause.NETWORK: HOUR, Cause.POWER: HOUR}
    # an unreachable central link is the office network's problem, not the Ministry's
    assert dict(svc(fig, "siak").down_by_cause) == {Cause.NETWORK: HOUR}
    assert svc(fig, "siak").central_down_s == 0 and fig.central_actions == ()


def test_upstream_downtime_is_central_and_not_blamed_on_the_office(office: Settings) -> None:
    o = outage("dc", wib(2026, 11, 19, 9, 30), wib(2026, 11, 19, 11, 45), cause=Cause.UPSTREAM)
    fig = F.compute(data(office, outages=(o,)), WEEK, NOW)
    s = svc(fig, "siak")
    assert s.down_s == 2.25 * HOUR and s.central_down_s == 2.25 * HOUR
    assert s.availability == pytest.approx(100 * (WEEK_S - 2.25 * HOUR) / WEEK_S)
    assert s.local_availability == 100.0
    assert fig.central_down_s == 2.25 * HOUR
    (action,) = [a for a in fig.central_actions if a.kind == "upstream"]
    assert action.seconds == 2.25 * HOUR and action.count == 1 and not action.ongoing


def test_degraded_counts_as_available_but_is_listed(office: Settings) -> None:
    o = outage("srv1", wib(2026, 11, 17, 8), wib(2026, 11, 17, 12), status=Status.DEGRADED, cause=Cause.POWER)
    fig = F.compute(data(office, outages=(o,)), WEEK, NOW)
    a = dev(fig, "srv1")
    assert a.down_s == 0 and a.degraded_s == 4 * HOUR and a.failures == 0 and a.degraded_periods == 1
    assert fig.outages[0].outage.status is Status.DEGRADED and fig.outages[0].downtime_s == 0
    assert fig.unavailable_outages == ()


def test_an_outage_counts_each_stretch_with_the_status_it_had(office: Settings) -> None:
    # the UPS ran on battery (degraded) 08:00-09:00, then its output went off (down) until 09:05
    from dataclasses import replace
    o = replace(outage("srv1", wib(2026, 11, 17, 8), wib(2026, 11, 17, 9, 5), status=Status.DOWN,
                       cause=Cause.POWER),
                timeline=((wib(2026, 11, 17, 8), Status.DEGRADED), (wib(2026, 11, 17, 9), Status.DOWN)))
    fig = F.compute(data(office, outages=(o,)), WEEK, NOW)
    a = dev(fig, "srv1")
    assert a.down_s == 5 * 60 and a.degraded_s == HOUR and a.failures == 1
    assert fig.outages[0].downtime_s == 5 * 60 and fig.outages[0].duration_s == HOUR + 5 * 60
    # without a timeline (rows from before it existed) the worst status counts all along
    fig_old = F.compute(data(office, outages=(replace(o, timeline=()),)), WEEK, NOW)
    assert dev(fig_old, "srv1").down_s == HOUR + 5 * 60


def test_an_unknown_status_outage_is_not_monitored_time(office: Settings) -> None:
    o = outage("ws", wib(2026, 11, 17, 8), wib(2026, 11, 17, 10), status=Status.UNKNOWN)
    fig = F.compute(data(office, outages=(o,)), WEEK, NOW)
    a = dev(fig, "ws")
    assert a.unmonitored_s == 2 * HOUR and a.down_s == 0 and a.observed_s == WEEK_S - 2 * HOUR


def test_time_before_monitoring_began_is_not_monitored(office: Settings) -> None:
    fig = F.compute(data(office, monitoring_since=wib(2026, 11, 18)), WEEK, NOW)
    assert fig.current.site.unmonitored_s == 2 * 24 * HOUR
    assert fig.previous.site.availability is None          # nothing observed: undefined, not 100 %


def test_previous_period_trend(office: Settings) -> None:
    prev = outage("srv1", wib(2026, 11, 11, 10), wib(2026, 11, 11, 11), cause=Cause.POWER)
    prev2 = outage("srv2", wib(2026, 11, 11, 10), wib(2026, 11, 11, 10, 30), cause=Cause.POWER)
    cur = outage("srv1", wib(2026, 11, 17, 10), wib(2026, 11, 17, 10, 15), cause=Cause.POWER)
    fig = F.compute(data(office, outages=(prev, prev2, cur)), WEEK, NOW)
    p_prev = fig.previous.service("perekaman")
    assert p_prev is not None and p_prev.availability.down_s == 0.5 * HOUR
    assert p_prev.availability.availability == pytest.approx(100 * (WEEK_S - 1800) / WEEK_S)
    assert svc(fig, "perekaman").availability == 100.0
    assert fig.previous.device("srv1") is not None
    assert fig.previous.device("srv1").availability.down_s == HOUR  # type: ignore[union-attr]


def test_recurrence_third_power_failure_of_a_15_year_old_server(office: Settings) -> None:
    history = (
        outage("srv1", wib(2023, 5, 2, 9), wib(2023, 5, 2, 10), cause=Cause.POWER),         # > 36 months ago
        outage("srv1", wib(2024, 3, 5, 9), wib(2024, 3, 5, 12), cause=Cause.LIGHTNING),
        outage("srv1", wib(2025, 12, 1, 9), wib(2025, 12, 1, 11), cause=Cause.POWER),
        outage("srv1", wib(2026, 6, 24, 13), wib(2026, 6, 24, 15), cause=Cause.POWER),
        outage("srv1", wib(2026, 8, 1, 9), wib(2026, 8, 1, 9, 10), status=Status.UNREACHABLE, cause=Cause.NETWORK),
        outage("srv1", wib(2026, 9, 4, 22, 10), wib(2026, 9, 4, 23), planned=True, cause=Cause.MAINTENANCE),
    )
    now_o = outage("srv1", wib(2026, 11, 17, 14), wib(2026, 11, 17, 18), cause=Cause.POWER)
    fig = F.compute(data(office, outages=(now_o,), history=(*history, now_o)), WEEK, NOW)
    (rec,) = [r for r in fig.recurrence if r.device.id == "srv1"]
    assert rec.age_years == 15
    assert rec.ordinal == 3                                  # the third power failure in 36 months
    assert dict(rec.last_36) == {Cause.POWER: 3, Cause.LIGHTNING: 1}
    assert dict(rec.last_12) == {Cause.POWER: 3}             # Dec 2025, Jun 2026, this week
    assert rec.repeated and rec.total_12 == 3
    # APBN equipment failing repeatedly: the Ministry is asked
    (action,) = [a for a in fig.central_actions if a.kind == "recurrence"]
    assert action.device is not None and action.device.id == "srv1"
    from monitor.reports.narrative import recurrence_sentence
    assert recurrence_sentence("id", rec) == (
        "Ini adalah kegagalan daya ketiga dalam 36 bulan pada Server Perekaman 1 berusia 15 tahun "
        "(3 kegagalan dalam 12 bulan terakhir).")
    assert recurrence_sentence("en", rec) == (
        "This is the third power failure in 36 months of Server Perekaman 1, 15 years old "
        "(3 failures in the last 12 months).")


def test_lightning_damage_to_apbn_equipment_goes_to_the_ministry(office: Settings) -> None:
    o = outage("srv1", wib(2026, 11, 17, 14, 3), None, cause=Cause.LIGHTNING)
    o2 = outage("srv2", wib(2026, 11, 17, 14, 3), wib(2026, 11, 17, 16), cause=Cause.LIGHTNING)  # APBD
    fig = F.compute(data(office, outages=(o, o2)), WEEK, NOW)
    damage = [a for a in fig.central_actions if a.kind == "apbn_damage"]
    assert [a.device.id for a in damage if a.device] == ["srv1"]
    assert damage[0].ongoing and damage[0].cause is Cause.LIGHTNING


def test_impact_counts_working_hours_of_the_recording_service(office: Settings) -> None:
    # both servers down Tue 08:00 .. 14:00 (6 working hours) and Sat 09:00 .. 12:00 (not a working day)
    outs = tuple(outage(d, s, e, cause=Cause.POWER) for d in ("srv1", "srv2") for s, e in (
        (wib(2026, 11, 17, 8), wib(2026, 11, 17, 14)), (wib(2026, 11, 21, 9), wib(2026, 11, 21, 12))))
    fig = F.compute(data(office, outages=outs), WEEK, NOW)
    assert fig.impact is not None
    assert fig.impact.lost_working_s == 6 * HOUR and fig.impact.working_day_s == 8 * HOUR
    assert fig.impact.recordings == 90                        # 120 a day x 6/8
    assert fig.impact.service_name == "Layanan Perekaman e-KTP"


def test_acknowledgement_times_and_who(office: Settings) -> None:
    i1 = IncidentRecord(1, wib(2026, 11, 17, 14), wib(2026, 11, 17, 16), Cause.POWER, Status.DOWN)
    i2 = IncidentRecord(2, wib(2026, 11, 18, 9), wib(2026, 11, 18, 9, 20), Cause.SERVICE, Status.DOWN,
                        acknowledged_at=wib(2026, 11, 18, 9, 3), acknowledged_by="Rina")
    i3 = IncidentRecord(3, wib(2026, 11, 19, 9), None, Cause.HARDWARE, Status.DOWN)   # open, unacknowledged
    acks = (AckRecord(1, wib(2026, 11, 17, 14, 12), "Budi", "sedang dicek"),
            AckRecord(1, wib(2026, 11, 17, 15), "Rina", "teknisi dihubungi"))
    o = outage("srv1", wib(2026, 11, 17, 14), wib(2026, 11, 17, 16), incident=1, cause=Cause.POWER)
    fig = F.compute(data(office, outages=(o,), incidents=(i1, i2, i3), acks=acks), WEEK, NOW)
    by_id = {a.incident.id: a for a in fig.acknowledgements}
    assert by_id[1].by == "Budi" and by_id[1].time_to_ack_s == 12 * 60 and len(by_id[1].notes) == 2
    assert by_id[2].by == "Rina" and by_id[2].time_to_ack_s == 3 * 60
    assert by_id[3].acknowledged_at is None
    assert fig.mean_time_to_ack_s == pytest.approx(7.5 * 60)
    assert fig.outages[0].ack is by_id[1]
    unacked = [a for a in fig.local_actions if a.kind == "unacknowledged"]
    assert len(unacked) == 1 and unacked[0].since == wib(2026, 11, 19, 9)
    stats = S.ack_stats(fig.acknowledgements)
    assert (stats.incidents, stats.acknowledged, stats.median_s, stats.slowest_s) == (3, 2, 450.0, 720.0)


def test_equipment_warnings_grouped_with_strike_increments(office: Settings) -> None:
    obs = (ObservationRecord(wib(2026, 11, 17, 14), "spd", "strike", "strike", values={"increment": 2}),
           ObservationRecord(wib(2026, 11, 17, 15), "spd", "strike", "strike", values={"increment": 1}),
           ObservationRecord(wib(2026, 11, 17, 14), "spd", "spd_tripped", "tripped"),
           ObservationRecord(wib(2026, 11, 18, 8), "ws", "disk_full", "disk 95 %", values={"used_pct": 95}),
           ObservationRecord(wib(2026, 11, 18, 8), "ws", "on_battery", "not a warning"),
           ObservationRecord(wib(2026, 11, 10, 8), "ws", "disk_full", "last week: not in this report"))
    fig = F.compute(data(office, observations=obs), WEEK, NOW)
    got = {(w.device.id if w.device else None, w.kind): (w.count, w.strikes) for w in fig.warnings}
    assert got == {("spd", "spd_tripped"): (1, 0), ("spd", "strike"): (2, 3), ("ws", "disk_full"): (1, 0)}
    # the APBN surge protector's wear goes to the Ministry (one item per device); the disk to the office
    (central,) = [a for a in fig.central_actions if a.kind == "apbn_warning"]
    assert dict(central.items) == {"strike": 3, "spd_tripped": 1}
    assert [a.device.id for a in fig.local_actions if a.kind == "warning" and a.device] == ["ws"]


def test_outage_detail_keeps_the_important_ones_and_sums_up_the_rest(office: Settings) -> None:
    outs = [outage("ws", wib(2026, 11, 16, 8) + timedelta(hours=3 * i), wib(2026, 11, 16, 8) + timedelta(
        hours=3 * i, minutes=5 + i), cause=Cause.SERVICE) for i in range(30)]
    outs.append(outage("srv1", wib(2026, 11, 22, 20), None, cause=Cause.LIGHTNING))
    fig = F.compute(data(office, outages=tuple(outs)), WEEK, NOW)
    shown, rest = S.outage_detail(fig, limit=10)
    assert len(shown) == 10 and list(shown) == sorted(shown, key=lambda x: x.start)
    assert any(x.device.id == "srv1" for x in shown)                  # the open, APBN-damage outage
    longest = sorted((x for x in fig.outages if x.device.id == "ws"), key=lambda x: -x.downtime_s)[:9]
    assert {id(x) for x in longest} <= {id(x) for x in shown}
    assert sum(g.count for g in rest) == 21 and rest[0].device.id == "ws"
    assert S.outage_detail(fig, None) == (fig.outages, ())


def test_mute_is_not_maintenance_and_windows_cover_only_their_devices(office: Settings) -> None:
    win = MaintenanceRecord(wib(2026, 11, 17, 8), wib(2026, 11, 17, 10), "ganti UPS", frozenset({"ws"}), "adhoc")
    o = outage("srv2", wib(2026, 11, 17, 8), wib(2026, 11, 17, 9))
    fig = F.compute(data(office, outages=(o,), maintenance=(win,)), WEEK, NOW)
    assert dev(fig, "ws").maintenance_s == 2 * HOUR and dev(fig, "srv2").maintenance_s == 0
    assert dev(fig, "srv2").down_s == HOUR


# -------------------------------------------------------------------------------------------- properties

_T0 = WEEK.start
_times = st.integers(min_value=-2 * 24 * 60, max_value=9 * 24 * 60).map(lambda m: _T0 + timedelta(minutes=m))


@st.composite
def _outages(draw: st.DrawFn) -> tuple:
    n = draw(st.integers(0, 6))
    out = []
    for _ in range(n):
        s = draw(_times)
        length = draw(st.integers(1, 3 * 24 * 60))
        open_ = draw(st.booleans()) and draw(st.booleans())
        status = draw(st.sampled_from([Status.DOWN, Status.UNREACHABLE, Status.DEGRADED, Status.UNKNOWN]))
        cause = draw(st.sampled_from(list(Cause)))
        out.append(outage(draw(st.sampled_from(["srv1", "srv2", "ws"])), s,
                          None if open_ else s + timedelta(minutes=length), status=status, cause=cause))
    return tuple(out)


@settings(max_examples=60, deadline=None)
@given(outs=_outages(), gap_at=st.integers(0, 7 * 24 * 60), gap_len=st.integers(0, 300))
def test_accounting_invariants(office: Settings, outs: tuple, gap_at: int, gap_len: int) -> None:
    gaps = (GapRecord(_T0 + timedelta(minutes=gap_at), _T0 + timedelta(minutes=gap_at + gap_len + 1),
                      "process_stopped"),)
    fig = F.compute(data(office, outages=outs, gaps=gaps), WEEK, NOW)
    timelines = [d.timeline for d in fig.current.devices] + [s.timeline for s in fig.current.services]
    for tl, a in zip(timelines, [d.availability for d in fig.current.devices]
                     + [s.availability for s in fig.current.services], strict=True):
        # the timeline tiles the window exactly
        assert tl[0].start == WEEK.start and tl[-1].end == WEEK.end
        assert all(x.end == y.start for x, y in pairwise(tl))
        assert a.observed_s + a.maintenance_s + a.unmonitored_s == pytest.approx(WEEK_S)
        assert a.down_s <= a.observed_s + 1e-6
        if a.failures:
            assert a.availability == pytest.approx(100 * a.mtbf_s / (a.mtbf_s + a.mttr_s))  # type: ignore[operator]
        else:
            assert a.mttr_s is None and a.mtbf_s is None and a.down_s == 0
        assert sum(s for _, s in a.down_by_cause) == pytest.approx(a.down_s)
        assert a.unmonitored_s >= min(gap_len + 1, 7 * 24 * 60 - gap_at) * 60   # the gap, clipped to the week
    for line in fig.outages:
        assert 0 <= line.downtime_s <= line.in_period_s <= line.duration_s + 1e-6
    assert all(seg.part in Slot for d in fig.current.devices for seg in d.timeline)
