"""Clock steps, pure parts (issue 13): telling a step from a suspend from noise, and re-expressing the engine's
state on a stepped clock without changing any duration it holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.clock import STEP_TOLERANCE, StepWatch, compare, wall_at
from monitor.domain import DeviceRef, Status
from monitor.engine.state import CheckTrack, DeviceState, OutageState, World
from monitor.engine.timeshift import shift_world
from tests.fakes import T0, FakeClock

H = 3600.0


@pytest.mark.parametrize(("wall_s", "mono_s", "boot_s", "size", "suspended"), [
    (10.0, 10.0, 10.0, None, None),                 # time passing
    (11.5, 10.0, 10.0, None, None),                 # within the tolerance (a descheduled reader, slewing)
    (10.0 + 3 * H, 10.0, 10.0, 3 * H, 0.0),         # NTP steps forward 3 h
    (10.0 - 3 * H, 10.0, 10.0, -3 * H, 0.0),        # and back
    (10.0 - 24 * H, 10.0, 10.0, -24 * H, 0.0),      # a day back
    (610.0, 10.0, 610.0, 0.0, 600.0),               # suspended 10 minutes: a gap, not a step
    (610.0 + H, 10.0, 610.0, H, 600.0),             # both at once
])
def test_compare_table(wall_s: float, mono_s: float, boot_s: float, size: float | None,
                       suspended: float | None) -> None:
    step = compare((T0, 100.0, 100.0), (T0 + timedelta(seconds=wall_s), 100.0 + mono_s, 100.0 + boot_s))
    if size is None:
        assert step is None
        return
    assert step is not None
    assert step.size_s == pytest.approx(size) and step.suspended_s == pytest.approx(suspended)
    assert step.before == T0 + timedelta(seconds=mono_s) and step.after == T0 + timedelta(seconds=wall_s)
    assert step.stepped == (abs(size) >= STEP_TOLERANCE) and step.suspended == (suspended >= STEP_TOLERANCE)


def test_step_watch_shares_one_history_and_tells_listeners() -> None:
    clock = FakeClock()
    watch = StepWatch(clock)
    heard: list[float] = []
    watch.listeners.append(lambda s: heard.append(s.size_s))
    assert watch.observe() is None                  # the reference reading
    clock.advance(5)
    assert watch.observe() is None
    clock.jump(-3 * H)
    step = watch.observe()
    assert step is not None and step.size_s == -3 * H and heard == [-3 * H]
    assert watch.observe() is None                  # found once, by whoever read first
    clock.advance(1)
    clock.jump(86400)
    clock.suspend(120)
    watch.observe()
    assert [s.size_s for s in watch.take()] == [-3 * H, 86400.0] and watch.take() == []
    assert watch.steps[-1].suspended_s == 120.0 and len(watch.steps) == 2


def test_wall_at_re_expresses_a_monotonic_instant_on_the_current_wall_clock() -> None:
    clock = FakeClock()
    tick = clock.monotonic()
    clock.advance(30)
    clock.jump(-3 * H)
    assert wall_at(clock, tick) == clock.now() - timedelta(seconds=30)


_times = st.integers(min_value=-10**6, max_value=10**6).map(lambda s: T0 + timedelta(seconds=s))


@st.composite
def worlds(draw: st.DrawFn) -> World:
    states = {}
    for i in range(draw(st.integers(1, 4))):
        ref = DeviceRef("s", f"d{i}")
        checks = {f"c{j}": CheckTrack(status=draw(st.sampled_from(list(Status))), since=draw(st.none() | _times),
                                      pending_since=draw(st.none() | _times), last_at=draw(st.none() | _times))
                  for j in range(draw(st.integers(0, 3)))}
        outage = None
        if draw(st.booleans()):
            start = draw(_times)
            outage = OutageState(start, start + timedelta(seconds=draw(st.integers(0, 600))), Status.DOWN, Status.DOWN)
        states[ref] = DeviceState(ref, draw(st.sampled_from(list(Status))), since=draw(st.none() | _times),
                                  checks=checks, changes=tuple(draw(st.lists(_times, max_size=4))), outage=outage,
                                  last_at=draw(st.none() | _times))
    return World(states)


@settings(max_examples=200, deadline=None)
@given(worlds(), st.integers(min_value=-2 * 86400, max_value=2 * 86400))
def test_shift_world_moves_every_held_time_and_keeps_every_duration(world: World, seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    shifted = shift_world(world, delta)
    assert shift_world(shifted, -delta) == world
    for ref, state in world.devices.items():
        new = shifted.get(ref)
        assert new.status is state.status and new.checks.keys() == state.checks.keys()
        if state.outage is not None:
            assert new.outage is not None and new.outage.started_at == state.outage.started_at + delta
            held = state.outage.confirmed_at - state.outage.started_at
            assert new.outage.confirmed_at - new.outage.started_at == held
        assert new.changes == tuple(c + delta for c in state.changes)
        for key, track in state.checks.items():
            assert new.checks[key] == replace(track, since=track.since and track.since + delta,
                                              pending_since=track.pending_since and track.pending_since + delta,
                                              last_at=track.last_at and track.last_at + delta)
