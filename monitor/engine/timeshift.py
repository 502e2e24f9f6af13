"""Re-expressing what the engine holds after a wall-clock step (pure).

When NTP steps the monitor's wall clock by ``delta`` (a PC whose clock was three hours slow at boot), every
time the engine holds — when a check was last run, since when a device is down, when its open outage
started, when its confirmation streak began, its recent status changes — was read on the old clock. Left
as they are, an outage open across a +3 h step would close 3 h "long" (and be called ``hardware``), and one
open across a step back would be clamped to nearly nothing. :func:`shift_world` moves every one of them by
``delta``: afterwards ``now - started_at`` is again the time the outage has really lasted (its monotonic
span), and everything new is recorded on the new clock. The daemon applies the same shift to the rows that
mirror this state (``monitor/daemon/clocksteps.py``) in the same transaction.

Invariant (tested): ``shift_world(shift_world(w, d), -d) == w``; differences between held times never change.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from monitor.engine.state import CheckTrack, DeviceState, OutageState, World

__all__ = ["shift_state", "shift_world"]


def _t(value: datetime | None, delta: timedelta) -> datetime | None:
    return None if value is None else value + delta


def _track(t: CheckTrack, delta: timedelta) -> CheckTrack:
    return replace(t, since=_t(t.since, delta), pending_since=_t(t.pending_since, delta), last_at=_t(t.last_at, delta))


def _outage(o: OutageState | None, delta: timedelta) -> OutageState | None:
    if o is None:
        return None
    return replace(o, started_at=o.started_at + delta, confirmed_at=o.confirmed_at + delta)


def shift_state(state: DeviceState, delta: timedelta) -> DeviceState:
    """One device's state with every held time moved by ``delta``."""
    return replace(state, since=_t(state.since, delta), last_at=_t(state.last_at, delta),
                   changes=tuple(c + delta for c in state.changes), outage=_outage(state.outage, delta),
                   checks={k: _track(t, delta) for k, t in state.checks.items()})


def shift_world(world: World, delta: timedelta) -> World:
    """Every device's state re-expressed on a wall clock stepped by ``delta`` (see the module docstring)."""
    if not delta:
        return world
    return World({ref: shift_state(s, delta) for ref, s in world.devices.items()})
