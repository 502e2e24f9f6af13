"""Which weekly runs are due: table-driven with fake time, in the three Indonesian zones.

Monday 07:00 local is 00:00 UTC in WIB (UTC+7), Sunday 23:00 UTC in WITA (UTC+8) and Sunday 22:00 UTC
in WIT (UTC+9).
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from monitor.reports.period import parse_week
from monitor.reports.schedule import WeeklySchedule, due_runs, last_fire, next_fire, next_wakeup, schedules
from monitor.settings import Settings

from . import scenario as sc

WIB = WeeklySchedule("jkt", "Asia/Jakarta", 0, time(7, 0))
WITA = WeeklySchedule("mks", "Asia/Makassar", 0, time(7, 0))
WIT = WeeklySchedule("jyp", "Asia/Jayapura", 0, time(7, 0))
ALL = (WIB, WITA, WIT)


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)  # type: ignore[misc]


def start_of(label: str, zone: str) -> datetime:
    return parse_week(label, zone).start


@pytest.mark.parametrize(("now", "done", "expected"), [
    # Sunday 21:59 UTC: no zone has reached Monday 07:00 yet -> last week's runs (W46) are due if not done
    (utc(2026, 11, 22, 21, 59), set(), {("jkt", "2026-W46"), ("mks", "2026-W46"), ("jyp", "2026-W46")}),
    (utc(2026, 11, 22, 21, 59), {("jkt", "2026-W46"), ("mks", "2026-W46"), ("jyp", "2026-W46")}, set()),
    # 22:00 UTC = Monday 07:00 WIT: Jayapura's W47 report is due, the others not yet
    (utc(2026, 11, 22, 22, 0), {("jkt", "2026-W46"), ("mks", "2026-W46"), ("jyp", "2026-W46")}, {("jyp", "2026-W47")}),
    # 23:00 UTC = Monday 07:00 WITA
    (utc(2026, 11, 22, 23, 0), {("jkt", "2026-W46"), ("mks", "2026-W46"), ("jyp", "2026-W47")}, {("mks", "2026-W47")}),
    # 00:00 UTC Monday = 07:00 WIB
    (utc(2026, 11, 23, 0, 0), {("jkt", "2026-W46"), ("mks", "2026-W47"), ("jyp", "2026-W47")}, {("jkt", "2026-W47")}),
    # the monitor was off over the weekend and starts on Tuesday: each site's W47 is made up, once
    (utc(2026, 11, 24, 3, 0), {("jkt", "2026-W46"), ("mks", "2026-W46"), ("jyp", "2026-W46")},
     {("jkt", "2026-W47"), ("mks", "2026-W47"), ("jyp", "2026-W47")}),
    (utc(2026, 11, 24, 3, 5), {("jkt", "2026-W47"), ("mks", "2026-W47"), ("jyp", "2026-W47")}, set()),
    # off for three weeks: only the latest week is made up
    (utc(2026, 12, 15, 3, 0), {("jkt", "2026-W47"), ("mks", "2026-W47"), ("jyp", "2026-W47")},
     {("jkt", "2026-W50"), ("mks", "2026-W50"), ("jyp", "2026-W50")}),
    # across the year: 2026 has 53 ISO weeks; Monday 4 Jan 2027 07:00 WIB reports on 2026-W53
    (utc(2027, 1, 4, 0, 30), set(), {("jkt", "2026-W53"), ("mks", "2026-W53"), ("jyp", "2026-W53")}),
])
def test_due_runs(now: datetime, done: set[tuple[str, str]], expected: set[tuple[str, str]]) -> None:
    zones = {s.site_id: s.zone for s in ALL}
    done_keys = {(site, start_of(label, zones[site])) for site, label in done}
    got = due_runs(ALL, done_keys, now)
    assert {(d.site_id, d.period.label) for d in got} == expected
    for d in got:
        assert d.period == parse_week(d.period.label, zones[d.site_id])
        assert d.fire <= now and d.period.end <= d.fire


def test_last_and_next_fire_in_each_zone() -> None:
    now = utc(2026, 11, 25, 12, 0)   # Wednesday
    assert last_fire(WIB, now) == utc(2026, 11, 23, 0, 0)
    assert last_fire(WITA, now) == utc(2026, 11, 22, 23, 0)
    assert last_fire(WIT, now) == utc(2026, 11, 22, 22, 0)
    assert next_fire(WIB, now) == utc(2026, 11, 30, 0, 0)
    assert next_fire(WIT, utc(2026, 11, 22, 22, 0)) == utc(2026, 11, 29, 22, 0)   # strictly after
    assert last_fire(WIT, utc(2026, 11, 22, 22, 0)) == utc(2026, 11, 22, 22, 0)   # at the fire itself
    assert next_wakeup(ALL, now) == utc(2026, 11, 29, 22, 0)


def test_another_day_and_time() -> None:
    friday = WeeklySchedule("jkt", "Asia/Jakarta", 4, time(16, 30))
    assert last_fire(friday, utc(2026, 11, 27, 9, 29)) == utc(2026, 11, 20, 9, 30)
    (run,) = due_runs([friday], set(), utc(2026, 11, 27, 9, 30))
    assert run.period.label == "2026-W47"       # the last complete ISO week before Friday 27 Nov


def test_disabled_sites_and_new_installations_are_never_due() -> None:
    off = WeeklySchedule("jkt", "Asia/Jakarta", 0, time(7, 0), enabled=False)
    assert due_runs([off], set(), utc(2026, 11, 24)) == []
    assert next_wakeup([off], utc(2026, 11, 24)) is None
    # monitoring began on Wednesday 25 Nov: W47 (ended 23 Nov) would be entirely "not monitored"
    assert due_runs([WIB], set(), utc(2026, 11, 26), monitoring_since=utc(2026, 11, 25)) == []
    # began in the middle of W47: W47's report is made (it says how much was not monitored)
    assert [d.period.label for d in due_runs([WIB], set(), utc(2026, 11, 24), monitoring_since=utc(2026, 11, 19))] \
        == ["2026-W47"]


def test_schedules_from_the_config(tmp_path: object) -> None:
    from pathlib import Path
    body = sc.SHOWCASE_YAML.replace("reports: {out_dir: reports, formats: [pdf, html, csv]}",
                                    "reports: {weekly: {day: tue, time: '08:30'}}")
    body += """
  - id: papua
    name: "Kantor Papua"
    timezone: WIT
    weekly_report: {enabled: false}
"""
    settings: Settings = sc.load(sc.write_yaml(Path(str(tmp_path)), body))
    got = {s.site_id: s for s in schedules(settings)}
    assert got["mura"] == WeeklySchedule("mura", "Asia/Jakarta", 1, time(8, 30), True)
    assert got["papua"].zone == "Asia/Jayapura" and not got["papua"].enabled
