"""Restarts, monitor gaps and clock jumps on a real database: the record continues, nothing is
reopened, lost or written twice; the time the monitor was off is recorded as not monitored."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select, text

from monitor.daemon.core import load_world
from monitor.daemon.recorder import Recorder
from monitor.daemon.selfwatch import detect_gap, start_up
from monitor.domain import Status
from monitor.storage import Database
from monitor.storage.db import create_db_engine
from monitor.storage.inventory import sync_inventory
from monitor.storage.models import DeviceStateRow, MonitorGapRow
from tests.fakes import T0, FakeClock

from .conftest import ROUTER, SRV, Office, office_settings

U, G, D, K = Status.UP, Status.DEGRADED, Status.DOWN, Status.UNKNOWN
INTERVAL = timedelta(seconds=15)


async def boot(office: Office, minutes: float, *, boot_time: datetime | None = None) -> Office:
    """Stop ``office`` (kill: nothing flushed beyond what is committed) and start a new one at T0+minutes
    the way the daemon does: load the world from the database, then record the start."""
    await office.stop()
    clock = FakeClock(office.at(minutes))
    db = office.db
    world = db.call(load_world)
    fresh = Office(office.settings, db, clock)
    ids = db.call(lambda s: sync_inventory(s, office.settings, clock.now()))
    rec = Recorder(office.settings, ids)
    world, _gap = db.call(lambda s: start_up(s, rec, world, now=clock.now(), boot_time=boot_time,
                                             interval=INTERVAL, version="test", pid=1))
    return await fresh.start(world)


async def beat_at(office: Office, minutes: float) -> None:
    """What the heartbeat task does: the last sign of life before the monitor dies."""
    office.db.call(lambda s: start_up(s, office.recorder, office.world, now=office.at(minutes), boot_time=None,
                                      interval=timedelta(days=365), version="test", pid=1))


async def test_restart_mid_outage_continues_it_without_duplicates(office: Office) -> None:
    await beat_at(office, 0)
    await office.series(SRV, [D, D, D], 0)
    office2 = await boot(office, 2.4)         # a quick restart (24 s after the last result): no gap
    await office2.series(SRV, [D, D], 4)
    assert len(office2.outages(SRV)) == 1 and len(office2.events("outage_opened")) == 1
    await office2.series(SRV, [U, U], 6)
    [o] = office2.outages(SRV)
    assert (o.started_at, o.ended_at) == (office.at(0), office.at(6))
    assert len(office2.events("outage_closed")) == 1 and o.gaps == []
    await office2.stop()


async def test_counters_survive_a_quick_restart(office: Office) -> None:
    await beat_at(office, 0)
    await office.series(SRV, [D, D], 0)
    office2 = await boot(office, 1.2)
    await office2.feed(SRV, D, 2)
    [o] = office2.outages(SRV)
    assert o.started_at == office.at(0)       # the first failure before the restart
    await office2.stop()


async def test_gap_inside_an_open_outage_is_one_outage_with_the_gap(office: Office) -> None:
    await beat_at(office, 0)
    await office.series(SRV, [D, D, D], 0)
    await beat_at(office, 2.5)
    office2 = await boot(office, 122.5)       # killed; back two hours later
    [gap] = office2.db.call(lambda s: list(s.scalars(select(MonitorGapRow))))
    assert (gap.started_at, gap.ended_at, gap.reason) == (office.at(2.5), office.at(122.5), "process_stopped")
    [ev] = office2.events("monitor_gap")
    assert ev.payload["duration_s"] == 7200.0 and ev.payload["outage_ids"] == [office2.outages(SRV)[0].id]
    # not monitored: shown unknown until the first result, never assumed up
    state = office2.db.call(lambda s: s.get(DeviceStateRow, office2.recorder.ids[SRV]))
    assert state is not None and state.status == "unknown"
    assert office2.db.call(lambda s: s.get(DeviceStateRow, office2.recorder.ids[ROUTER])).status == "unknown"
    # found up after the gap: closed at the first good check, the gap marked inside
    await office2.series(SRV, [U, U], 123)
    [o] = office2.outages(SRV)
    assert (o.started_at, o.ended_at) == (office.at(0), office.at(123))
    assert o.gaps == [{"started_at": "2026-11-23T01:02:30Z", "ended_at": "2026-11-23T03:02:30Z",
                       "reason": "process_stopped", "duration_s": 7200.0}]
    [closed] = office2.events("outage_closed")
    assert closed.payload["gap_s"] == 7200.0 and closed.payload["duration_s"] == 123 * 60
    assert len(office2.events("outage_opened")) == 1
    await office2.stop()


async def test_still_down_after_the_gap_stays_one_outage(office: Office) -> None:
    await beat_at(office, 0)
    await office.series(SRV, [D, D, D], 0)
    office2 = await boot(office, 60)
    await office2.series(SRV, [D, D, D, D], 61)
    assert len(office2.outages(SRV)) == 1 and office2.outages(SRV)[0].ended_at is None
    assert len(office2.outages(SRV)[0].gaps) == 1
    assert len(office2.events("outage_opened")) == 1 and office2.events("outage_changed") == []
    await office2.stop()


async def test_streaks_from_before_a_gap_do_not_count(office: Office) -> None:
    await beat_at(office, 0)
    await office.series(SRV, [D, D], 0)
    office2 = await boot(office, 60)
    await office2.feed(SRV, D, 61)
    assert office2.outages() == []
    await office2.stop()


async def test_host_reboot_is_power_evidence_for_what_is_found_down(office: Office) -> None:
    await beat_at(office, 0)
    await office.series(ROUTER, [U], 0)
    office2 = await boot(office, 30, boot_time=office.at(28))   # the monitor's host booted after the beat
    [gap] = office2.db.call(lambda s: list(s.scalars(select(MonitorGapRow))))
    assert gap.reason == "host_rebooted" and gap.boot_time == office.at(28)
    assert office2.events("monitor_gap")[0].payload["probable_power_loss"] is True
    await office2.feed(ROUTER, U, 30.1)
    await office2.series(SRV, [D, D, D], 30.2)
    [o] = office2.outages(SRV)
    assert o.cause == "power" and o.started_at == office.at(30.2)
    assert [(e["kind"], e["source"]) for e in o.evidence] == [("monitor_gap", "selfwatch")]
    opened = office2.events("outage_opened")[-1].payload
    assert opened["after_gap"] == {"started_at": "2026-11-23T01:00:00Z", "ended_at": "2026-11-23T01:30:00Z",
                                   "reason": "host_rebooted"}     # it may have begun while we were off
    await office2.stop()


def test_detect_gap_table() -> None:
    t = T0
    assert detect_gap(None, None, None, t, INTERVAL) is None                        # first start ever
    assert detect_gap(t, None, None, t + timedelta(seconds=29), INTERVAL) is None   # within 2 heartbeats
    g = detect_gap(t, t + timedelta(seconds=10), None, t + timedelta(minutes=5), INTERVAL)
    assert g is not None and g.started_at == t + timedelta(seconds=10) and g.reason == "process_stopped"
    g = detect_gap(t, None, t + timedelta(minutes=2), t + timedelta(minutes=5), INTERVAL)
    assert g is not None and g.reason == "host_rebooted"
    assert detect_gap(t, None, t - timedelta(days=3), t + timedelta(minutes=5), INTERVAL).reason == "process_stopped"  # type: ignore[union-attr]
    assert detect_gap(t + timedelta(hours=1), None, None, t, INTERVAL) is None        # clock behind: no negative gap


async def test_clock_steps_keep_durations_and_only_a_suspend_is_a_gap(office: Office) -> None:
    """Issue 13: an outage open across a wall-clock step lasts its monotonic span (the step is no gap, and the
    cause does not turn to hardware); a suspend — the monotonic clock stood still — is a gap."""
    assert office.pipeline is not None
    await office.series(SRV, [D, D, D], 0)               # open since minute 0; the clock is at minute 2
    office.clock.jump(3600)                              # NTP steps the wall clock one hour forward
    await office.pipeline.drain()                        # the next batch finds the step before anything else
    [o] = office.outages(SRV)
    assert o.started_at == office.at(60) and o.ended_at is None        # re-expressed on the new clock
    [ev] = office.events("clock_step")
    assert (ev.payload["size_s"], ev.payload["direction"], ev.payload["outage_ids"]) == (3600.0, "forward", [o.id])
    assert office.db.call(lambda s: list(s.scalars(select(MonitorGapRow)))) == []
    await office.series(SRV, [U, U], 63)                 # one minute (monotonic) after the step
    [o] = office.outages(SRV)
    assert (o.started_at, o.ended_at) == (office.at(60), office.at(63))
    [closed] = office.events("outage_closed")
    assert closed.payload["duration_s"] == 180.0 and closed.payload["gap_s"] == 0.0
    assert o.cause != "hardware"
    # a step back of a day across an open outage: still its monotonic span, never negative or clamped
    await office.series(SRV, [D, D, D], 65)
    office.clock.jump(-86400)
    await office.pipeline.drain()
    await office.series(SRV, [U, U], 67 - 1440 + 1)
    o2 = office.outages(SRV)[-1]
    assert (o2.started_at, o2.ended_at) == (office.at(65 - 1440), office.at(68 - 1440))
    assert [e.payload["size_s"] for e in office.events("clock_step")] == [3600.0, -86400.0]
    assert [s.size_s for s in office.pipeline.steps.steps] == [3600.0, -86400.0]
    # the machine sleeps ten minutes: that is time nobody watched
    office.clock.suspend(600)
    await office.pipeline.drain()
    [gap] = office.db.call(lambda s: list(s.scalars(select(MonitorGapRow))))
    assert gap.reason == "clock_jump" and (gap.ended_at - gap.started_at).total_seconds() == 600.0
    assert len(office.events("clock_step")) == 2 and len(office.events("monitor_gap")) == 1


async def test_a_locked_database_delays_the_record_but_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    from monitor.storage import db as dbmod
    eng = create_db_engine(url, busy_timeout_s=0.1)
    dbmod.upgrade(eng)
    db = Database(eng)
    office = await Office(office_settings(tmp_path), db, FakeClock(T0)).start()
    blocker: Engine = create_db_engine(url, busy_timeout_s=0.1)
    conn = blocker.connect()
    conn.execute(text("BEGIN EXCLUSIVE"))
    try:
        await office.series(SRV, [D, D, D], 0)               # cannot be written: kept in memory
        assert office.pipeline is not None and office.pipeline.counters["write_failures"] >= 1
    finally:
        conn.execute(text("ROLLBACK"))
        conn.close()
        blocker.dispose()
    await office.feed(SRV, D, 3)                              # the next batch writes everything
    [o] = office.outages(SRV)
    assert o.started_at == office.at(0) and len(office.events("outage_opened")) == 1
    assert office.world.get(SRV).status is D
    await office.stop()
    await asyncio.sleep(0)
    db.close()
