"""Property tests (hypothesis): whatever the results, traps, clock steps and restarts, there is never
more than one open outage per device and never an outage that ends before it starts — in the pure
engine, and in the database written through the real pipeline."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from monitor.daemon.core import load_world
from monitor.daemon.recorder import Recorder
from monitor.daemon.selfwatch import start_up
from monitor.domain import ObservationKind, Status
from monitor.engine.state import (
    OutageChanged,
    OutageClosed,
    OutageOpened,
    World,
    advance,
    apply_trap,
    mark_gap,
    state_from_data,
    state_to_data,
)
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.db import create_db_engine
from monitor.storage.inventory import sync_inventory
from monitor.storage.models import EventRow, OutageRow
from tests.engine.test_engine import ROUTER, SRV, UPS, WS, P
from tests.fakes import T0, FakeClock, result

from .conftest import CHECK, DC, Office, office_settings
from .conftest import ROUTER as O_ROUTER
from .conftest import SRV as O_SRV
from .conftest import UPS as O_UPS

STATUSES = st.sampled_from([Status.UP, Status.UP, Status.DOWN, Status.DOWN, Status.DEGRADED, Status.UNKNOWN])
ENGINE_CHECKS = {ROUTER: ["ping"], SRV: ["ping", "tcp:443"], UPS: ["snmp:ups"], WS: ["ping"]}
TRAP_KINDS = st.sampled_from([ObservationKind.ON_BATTERY, ObservationKind.ON_MAINS, ObservationKind.SPD_TRIPPED])

op = st.one_of(
    st.tuples(st.just("result"), st.sampled_from(sorted(ENGINE_CHECKS)), st.integers(0, 1), STATUSES,
              st.integers(-300, 900)),
    st.tuples(st.just("trap"), st.sampled_from(sorted(ENGINE_CHECKS)), TRAP_KINDS, st.integers(0, 60)),
    st.tuples(st.just("restart"), st.booleans()),
)


def _restart(world: World, gap: bool) -> World:
    states = {}
    for ref, s in world.devices.items():
        o = s.outage
        states[ref] = state_from_data(ref, status=s.status, since=s.since, reason=s.reason, flapping=s.flapping,
                                      data=state_to_data(s), metrics=s.metrics,
                                      outage=(o.started_at, o.confirmed_at, o.worst) if o else None)
    w = World(states)
    return mark_gap(w) if gap else w


@settings(max_examples=400, deadline=None)
@given(st.lists(op, max_size=80))
def test_engine_never_two_open_outages_nor_negative_ones(ops: list[tuple[Any, ...]]) -> None:
    world = World()
    t = T0
    open_: dict[Any, datetime] = {}
    for o in ops:
        if o[0] == "result":
            _, ref, ci, status, dt = o
            t = t + timedelta(seconds=dt)   # may step back: an NTP correction
            checks = ENGINE_CHECKS[ref]
            step = advance(world, ref, result(checks[ci % len(checks)], status, t), P)
        elif o[0] == "trap":
            _, ref, kind, dt = o
            t = t + timedelta(seconds=dt)
            step = apply_trap(world, ref, [kind], kind.value, t, P)
        else:
            world = _restart(world, o[1])
            continue
        for e in step.events:
            if isinstance(e, OutageOpened):
                assert e.ref not in open_, "a second open outage"
                assert e.started_at <= e.confirmed_at
                open_[e.ref] = e.started_at
            elif isinstance(e, OutageChanged):
                assert e.ref in open_
            elif isinstance(e, OutageClosed):
                assert e.ref in open_, "closing an outage that is not open"
                assert e.ended_at >= open_.pop(e.ref), "an outage that ends before it starts"
        world = step.world
        for ref, s in world.devices.items():
            assert (s.outage is not None) == (ref in open_)
            if s.outage is not None:
                assert s.outage.started_at == open_[ref]
        if any(e.new is Status.UNKNOWN for e in step.events if hasattr(e, "new")):
            assert not any(isinstance(e, OutageOpened) for e in step.events)


# --------------------------------------------------------------------------- through the database


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    d = tmp_path_factory.mktemp("prop")
    eng = create_db_engine(f"sqlite:///{d / 'template.db'}")
    dbmod.upgrade(eng)
    eng.dispose()
    yield d / "template.db", office_settings(d)


DEVICES = [O_ROUTER, O_SRV, O_UPS, DC]
db_op = st.one_of(
    st.tuples(st.just("result"), st.sampled_from(DEVICES), STATUSES, st.integers(-120, 300)),
    st.tuples(st.just("trap"), st.sampled_from([O_UPS]), TRAP_KINDS, st.integers(0, 60)),
    st.tuples(st.just("restart"), st.integers(5, 4000)),
)


async def _reboot(office: Office, settings_: Any, db: Database, minutes: float) -> Office:
    """Kill and start again the way the daemon does (load the world, record the start)."""
    await office.stop()
    clock = FakeClock(max(office.clock.now(), office.at(minutes)))
    world = db.call(load_world)
    ids = db.call(lambda s: sync_inventory(s, settings_, clock.now()))
    rec = Recorder(settings_, ids)
    world, _ = db.call(lambda s: start_up(s, rec, world, now=clock.now(), boot_time=None,
                                          interval=timedelta(seconds=15), version="t", pid=1))
    return await Office(settings_, db, clock).start(world)


async def _scenario(path: Path, settings_: Any, ops: list[tuple[Any, ...]]) -> None:
    eng = create_db_engine(f"sqlite:///{path}")
    db = Database(eng)
    clock = FakeClock(T0)
    office = await Office(settings_, db, clock).start()
    minutes = 0.0
    try:
        for o in ops:
            if o[0] == "result":
                _, ref, status, dt = o
                minutes += dt / 60
                await office.feed(ref, status, minutes, CHECK[ref])
            elif o[0] == "trap":
                _, ref, kind, dt = o
                minutes += dt / 60
                await office.trap(ref, kind, minutes)
            else:
                minutes += o[1] / 60
                office = await _reboot(office, settings_, db, minutes)
        assert office.pipeline is not None and office.pipeline.counters["write_failures"] == 0
        rows = db.call(lambda s: list(s.scalars(select(OutageRow))))
        events = db.call(lambda s: list(s.scalars(select(EventRow))))
        open_per_device: dict[int, int] = {}
        for r in rows:
            if r.ended_at is None:
                open_per_device[r.device_id] = open_per_device.get(r.device_id, 0) + 1
            else:
                assert r.ended_at >= r.started_at, "an outage that ends before it starts"
            assert r.confirmed_at is None or r.confirmed_at >= r.started_at
        assert all(n == 1 for n in open_per_device.values()), "two open outages for one device"
        opened = [e.outage_id for e in events if e.kind == "outage_opened"]
        closed = [e.outage_id for e in events if e.kind == "outage_closed"]
        assert sorted(opened) == sorted(r.id for r in rows), "each outage has exactly one outage_opened"
        assert sorted(closed) == sorted(r.id for r in rows if r.ended_at is not None)
        db_open = {office.recorder.refs[d] for d in open_per_device}
        engine_open = {ref for ref, s in office.world.devices.items() if s.outage is not None}
        assert db_open == engine_open
        n = db.call(lambda s: s.scalar(select(func.count()).select_from(OutageRow)))
        assert n == len(rows)
        event(f"outages: {'none' if not rows else 'some'}; gaps: {any(r.gaps for r in rows)}")
    finally:
        await office.stop()
        db.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(db_op, min_size=1, max_size=40))
def test_database_record_survives_any_sequence_of_results_and_restarts(template: tuple[Path, Any],
                                                                       ops: list[tuple[Any, ...]]) -> None:
    src, settings_ = template
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.db"
        shutil.copy(src, path)
        asyncio.run(_scenario(path, settings_, ops))
