"""The state engine, row by row of the tables in monitor/engine/state.py's docstring, with fake time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from monitor.domain import Cause, DeviceKind, DeviceRef, ObservationKind, Status
from monitor.engine.state import (
    TRAP_TRACK,
    CheckTrack,
    DevicePolicy,
    DeviceState,
    FlappingStarted,
    FlappingStopped,
    OutageChanged,
    OutageClosed,
    OutageOpened,
    Policy,
    StatusChanged,
    World,
    advance,
    apply_trap,
    confirm,
    derive,
    mark_gap,
    reconcile,
    state_from_data,
    state_to_data,
)
from tests.fakes import T0, obs, result

U, G, D, K = Status.UP, Status.DEGRADED, Status.DOWN, Status.UNKNOWN
STEP = timedelta(seconds=60)


def t(i: float) -> datetime:
    return T0 + i * STEP


def feed(track: CheckTrack, statuses: Sequence[Status], *, n_down: int = 3, n_up: int = 2,
         start: int = 0) -> CheckTrack:
    for i, s in enumerate(statuses):
        track = confirm(track, result("ping", s, t(start + i)), t(start + i), n_down, n_up)
    return track


def seen(status: Status, since: int = -10) -> CheckTrack:
    return CheckTrack(status=status, since=t(since), reason=None if status is U else "x", last_at=t(-1),
                      last_status=status)


NEVER = CheckTrack()

# ------------------------------------------------------------------------------ per check: T1–T11

TRACK_ROWS = [
    # row, initial, results, expected status, expected since (index into results, None = unchanged)
    ("T1 same status", seen(U), [U, U], U, None),
    ("T2 never seen, up at once", NEVER, [U], U, 0),
    ("T3 up, failures below N↓ are silent", seen(U), [D, D], U, None),
    ("T3 one lost packet", seen(U), [D, U, U], U, None),
    ("T3 a success interrupts the streak", seen(U), [D, D, U, D, D], U, None),
    ("T4 up, N↓ failures confirm; since = first failure", seen(U), [D, D, D], D, 0),
    ("T4 mixed degraded/down confirm the latest", seen(U), [G, D, D], D, 0),
    ("T4 degraded confirmed", seen(U), [G, G, G], G, 0),
    ("T5 down, one success is not a recovery", seen(D), [U], D, None),
    ("T6 down, N↑ successes recover; since = first good", seen(D), [D, U, U], U, 1),
    ("T7 degraded to down needs N↓ downs", seen(G), [D, D, D], D, 0),
    ("T7 below N↓ stays degraded", seen(G), [D, D], G, None),
    ("T8 down to degraded needs N↑", seen(D), [G, G], G, 0),
    ("T9 unknown needs N↓ in a row", seen(U), [K, K, K], K, 0),
    ("T9 below N↓ stays up", seen(U), [K, K], U, None),
    ("T9 unknown interrupts a failure streak", seen(U), [D, K, D, D], U, None),
    ("T10 unknown to up needs N↑", seen(K), [U, U], U, 0),
    ("T10 below N↑ stays unknown", seen(K), [U], K, None),
    ("T11 never seen, N↓ failures", NEVER, [D, D, D], D, 0),
    ("T11 never seen, below N↓", NEVER, [D, D], K, None),
]


@pytest.mark.parametrize(("row", "initial", "results", "expected", "since_index"), TRACK_ROWS,
                         ids=[r[0] for r in TRACK_ROWS])
def test_check_confirmation_table(row: str, initial: CheckTrack, results: list[Status], expected: Status,
                                  since_index: int | None) -> None:
    track = feed(initial, results)
    assert track.status is expected
    if since_index is None:
        assert track.since == initial.since
    else:
        assert track.since == t(since_index)
    assert track.last_at == t(len(results) - 1)


def test_confirm_down_of_one_is_immediate() -> None:
    assert feed(seen(U), [D], n_down=1).status is D
    assert feed(seen(D), [U], n_up=1).status is U


def test_pending_streak_keeps_first_failure_time_and_reason() -> None:
    track = feed(seen(U), [D, D])
    assert (track.pending, track.pending_count, track.pending_since, track.pending_reason) == (D, 2, t(0), "timeout")


# ---------------------------------------------------------------------------- topology for devices

S = "s"
ROUTER, SRV, UPS, DC, WS = (DeviceRef(S, x) for x in ("router", "srv", "ups", "dc", "ws"))


def policy(confirm_down: int = 3, confirm_up: int = 2, flap_max: int = 6,
           flap_window: timedelta = timedelta(minutes=30)) -> Policy:
    def dev(ref: DeviceRef, kind: DeviceKind, checks: dict[str, str], parents: tuple[DeviceRef, ...] = (),
            powered_by: DeviceRef | None = None) -> DevicePolicy:
        return DevicePolicy(ref, kind, confirm_down, confirm_up, parents, powered_by, checks)
    return Policy.build([
        dev(ROUTER, DeviceKind.ROUTER, {"ping": "ping"}),
        dev(SRV, DeviceKind.RECORDING_SERVER, {"ping": "ping", "tcp:443": "tcp"}, (ROUTER,), UPS),
        dev(UPS, DeviceKind.UPS, {"snmp:ups": "snmp"}, (ROUTER,)),
        dev(DC, DeviceKind.UPSTREAM, {"tcp:443": "tcp"}, (ROUTER,)),
        dev(WS, DeviceKind.WORKSTATION, {"ping": "ping"}, (SRV,)),
    ], flap_window=flap_window, flap_max_changes=flap_max)


P = policy()


def up_world(at: int = -5) -> World:
    """Every check of every device confirmed up since t(at)."""
    states = {}
    for ref, dp in P.devices.items():
        checks = {k: CheckTrack(status=U, since=t(at), last_at=t(at), last_status=U) for k in dp.checks}
        states[ref] = DeviceState(ref, status=U, since=t(at), checks=checks, last_at=t(at))
    return World(states)


class Run:
    """Feeds results into a world and collects the events."""

    def __init__(self, world: World | None = None, pol: Policy = P) -> None:
        self.world = world if world is not None else up_world()
        self.policy = pol
        self.events: list[object] = []

    def __call__(self, ref: DeviceRef, check: str, status: Status, at: float, **kw: object) -> Run:
        step = advance(self.world, ref, result(check, status, t(at), **kw), self.policy)  # type: ignore[arg-type]
        self.world = step.world
        self.events.extend(step.events)
        return self

    def many(self, ref: DeviceRef, check: str, statuses: Sequence[Status], start: float) -> Run:
        for i, s in enumerate(statuses):
            self(ref, check, s, start + i)
        return self

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]

    def status(self, ref: DeviceRef) -> Status:
        return self.world.get(ref).status


# --------------------------------------------------------------------------- per device: D1–D7

def _state(ref: DeviceRef, **tracks: CheckTrack) -> DeviceState:
    return DeviceState(ref, checks={k.replace("_", ":"): v for k, v in tracks.items()})


DERIVE_ROWS = [
    ("D1 no check known", _state(SRV), up_world(), K, None),
    ("D1 all unknown", _state(SRV, ping=seen(K), tcp_443=seen(K)), up_world(), K, None),
    ("D2 every known check up", _state(SRV, ping=seen(U), tcp_443=seen(K)), up_world(), U, None),
    ("D3 degraded, none down", _state(SRV, ping=seen(G), tcp_443=seen(U)), up_world(), G, None),
    ("D4 every known check down", _state(SRV, ping=seen(D), tcp_443=seen(D)), up_world(), D, None),
    ("D4 down and unknown (auth) is down", _state(SRV, ping=seen(D), tcp_443=seen(K)), up_world(), D, None),
    ("D5 ping up, service refused", _state(SRV, ping=seen(U), tcp_443=seen(D)), up_world(), D, Cause.SERVICE),
    ("D4 the other check's latest result failed too (host dying)",
     _state(SRV, ping=seen(D), tcp_443=replace(seen(U), last_status=D, pending=D, pending_count=1)),
     up_world(), D, None),
    ("D6 parent down", _state(SRV, ping=seen(D), tcp_443=seen(D)),
     up_world().with_states({ROUTER: DeviceState(ROUTER, status=D)}), Status.UNREACHABLE, Cause.NETWORK),
    ("D6 parent unreachable", _state(WS, ping=seen(D)),
     up_world().with_states({SRV: DeviceState(SRV, status=Status.UNREACHABLE)}), Status.UNREACHABLE, Cause.NETWORK),
    ("D6 parent degraded is not failing", _state(SRV, ping=seen(D), tcp_443=seen(D)),
     up_world().with_states({ROUTER: DeviceState(ROUTER, status=G)}), D, None),
    ("D7 held after parent recovery", _state(SRV, ping=replace(seen(D), recheck=True),
                                              tcp_443=replace(seen(D), recheck=True)),
     up_world(), Status.UNREACHABLE, Cause.NETWORK),
    ("upstream down while router up", _state(DC, tcp_443=seen(D)), up_world(), D, Cause.UPSTREAM),
    ("upstream with router down is network", _state(DC, tcp_443=seen(D)),
     up_world().with_states({ROUTER: DeviceState(ROUTER, status=D)}), Status.UNREACHABLE, Cause.NETWORK),
]


@pytest.mark.parametrize(("row", "state", "world", "expected", "hint"), DERIVE_ROWS, ids=[r[0] for r in DERIVE_ROWS])
def test_device_derivation_table(row: str, state: DeviceState, world: World, expected: Status,
                                 hint: Cause | None) -> None:
    d = derive(world, state, P.devices[state.ref])
    assert (d.status, d.hint) == (expected, hint)


def test_checks_not_configured_are_ignored() -> None:
    st = _state(SRV, ping=seen(U), tcp_443=seen(U), snmp_old=seen(D))
    assert derive(up_world(), st, P.devices[SRV]).status is U


# ------------------------------------------------------------------------------- outages: O1–O5


def test_O1_outage_opens_at_the_first_failed_check_not_the_confirming_one() -> None:
    r = Run().many(SRV, "ping", [D, D], 0)
    assert r.of(OutageOpened) == [] and r.status(SRV) is U          # single/double failures are silent
    r.many(SRV, "tcp:443", [D, D, D], 0.5)
    r(SRV, "ping", D, 2)
    opened = r.of(OutageOpened)
    assert len(opened) == 1
    o = opened[0]
    assert (o.started_at, o.confirmed_at, o.status) == (t(0), t(2.5), D)
    assert r.world.get(SRV).outage is not None and r.world.get(SRV).outage.started_at == t(0)
    assert r.of(StatusChanged)[0].old is U and r.of(StatusChanged)[0].new is D


def test_single_failures_are_ignored() -> None:
    r = Run()
    for i in range(20):
        r(ROUTER, "ping", D if i % 3 == 0 else U, i)
    assert r.events == [] and r.status(ROUTER) is U


def test_O2_changed_between_non_up_statuses_and_worst_kept() -> None:
    r = Run().many(UPS, "snmp:ups", [G, G, G], 0)
    assert [e.status for e in r.of(OutageOpened)] == [G]
    r.many(UPS, "snmp:ups", [D, D, D], 3)
    ch = r.of(OutageChanged)
    assert len(ch) == 1 and (ch[0].status, ch[0].previous_status, ch[0].worst) == (D, G, D)
    r.many(UPS, "snmp:ups", [G, G], 6)
    assert r.of(OutageChanged)[-1].worst is D and r.status(UPS) is G


def test_O3_closed_at_the_first_good_check_of_the_confirmed_recovery() -> None:
    r = Run().many(ROUTER, "ping", [D, D, D, D, U, D, U, U, U], 0)
    closed = r.of(OutageClosed)
    assert len(closed) == 1
    assert (closed[0].ended_at, closed[0].at, closed[0].worst) == (t(6), t(7), D)
    assert r.world.get(ROUTER).outage is None and r.world.get(ROUTER).since == t(6)


def test_O4_unknown_inside_an_outage_keeps_it_open_and_O3_closes_from_unknown() -> None:
    r = Run().many(ROUTER, "ping", [D, D, D], 0)
    r.many(ROUTER, "ping", [K, K, K], 3)
    assert r.status(ROUTER) is K and r.world.get(ROUTER).outage is not None
    assert r.of(OutageClosed) == [] and r.of(OutageChanged) == []
    r.many(ROUTER, "ping", [D, D, D], 6)      # back to down: same outage, no "changed" noise
    assert r.of(OutageChanged) == [] and len(r.of(OutageOpened)) == 1
    r.many(ROUTER, "ping", [K, K, K, U, U], 9)
    assert len(r.of(OutageClosed)) == 1 and r.of(OutageClosed)[0].ended_at == t(12)


def test_O5_unknown_never_opens_an_outage() -> None:
    r = Run().many(SRV, "ping", [K] * 10, 0).many(SRV, "tcp:443", [K] * 10, 0.5)
    assert r.status(SRV) is K and r.of(OutageOpened) == []
    r.many(SRV, "ping", [U, U], 11).many(SRV, "tcp:443", [U, U], 11.5)
    assert r.status(SRV) is U and r.of(OutageClosed) == []


def test_auth_failure_with_ping_up_is_not_an_outage() -> None:
    r = Run().many(SRV, "tcp:443", [K] * 5, 0)
    assert r.status(SRV) is U and r.of(OutageOpened) == []
    assert r.world.get(SRV).checks["tcp:443"].status is K


def test_service_down_while_ping_answers() -> None:
    r = Run().many(SRV, "tcp:443", [D, D, D], 0, )
    o = r.of(OutageOpened)[0]
    assert (o.status, o.hint) == (D, Cause.SERVICE) and "tcp:443" in (o.reason or "")


def test_upstream_hint() -> None:
    o = Run().many(DC, "tcp:443", [D, D, D], 0).of(OutageOpened)[0]
    assert (o.status, o.hint) == (D, Cause.UPSTREAM)


# ------------------------------------------------------------------------------ dependencies


def test_dependency_children_become_unreachable_not_down() -> None:
    r = Run().many(ROUTER, "ping", [D, D, D], 0)
    # children whose own checks fail while the router is down
    r.many(SRV, "ping", [D, D, D], 0.2).many(SRV, "tcp:443", [D, D, D], 0.3)
    r.many(DC, "tcp:443", [D, D, D], 0.4)
    assert r.status(SRV) is Status.UNREACHABLE and r.status(DC) is Status.UNREACHABLE
    opened = {e.ref: e for e in r.of(OutageOpened)}
    assert opened[SRV].status is Status.UNREACHABLE and opened[SRV].hint is Cause.NETWORK
    assert opened[SRV].started_at == t(0.2)
    # the workstation behind the (unreachable) server: unreachable too
    r.many(WS, "ping", [D, D, D], 0.5)
    assert r.status(WS) is Status.UNREACHABLE


def test_child_confirmed_down_before_its_parent_is_reclassified() -> None:
    r = Run().many(SRV, "ping", [D, D, D], 0).many(SRV, "tcp:443", [D, D, D], 0)
    assert r.status(SRV) is D
    r.many(ROUTER, "ping", [D, D], 0.5)
    r(ROUTER, "ping", D, 2.8)  # router's outage starts at t(0.5), before the server's confirmation t(2)
    assert r.status(SRV) is Status.UNREACHABLE
    ch = [e for e in r.of(OutageChanged) if e.ref == SRV]
    assert len(ch) == 1 and ch[0].reclassified and ch[0].worst is Status.UNREACHABLE and ch[0].hint is Cause.NETWORK


def test_parent_recovery_holds_children_until_their_own_checks_decide() -> None:
    r = Run().many(ROUTER, "ping", [D, D, D], 0)
    r.many(SRV, "ping", [D, D, D], 0.2).many(SRV, "tcp:443", [D, D, D], 0.3)
    r.many(ROUTER, "ping", [U, U], 3)
    assert r.status(ROUTER) is U
    assert r.status(SRV) is Status.UNREACHABLE                      # held (D7), no spurious "down"
    assert not [e for e in r.of(OutageChanged) if e.ref == SRV]
    # the server answers again: its outage closes at the first good check
    r.many(SRV, "ping", [U, U], 5).many(SRV, "tcp:443", [U, U], 5.1)
    closed = [e for e in r.of(OutageClosed) if e.ref == SRV]
    assert len(closed) == 1 and closed[0].ended_at == t(5.1) and closed[0].worst is Status.UNREACHABLE


def test_child_still_dead_after_parent_recovery_becomes_down_on_fresh_failures() -> None:
    r = Run().many(ROUTER, "ping", [D, D, D], 0)
    r.many(SRV, "ping", [D, D, D], 0.2).many(SRV, "tcp:443", [D, D, D], 0.3)
    r.many(ROUTER, "ping", [U, U], 3)
    r.many(SRV, "ping", [D, D], 5)
    assert r.status(SRV) is Status.UNREACHABLE
    r(SRV, "ping", D, 7)
    assert r.status(SRV) is D
    ch = [e for e in r.of(OutageChanged) if e.ref == SRV]
    assert len(ch) == 1 and (ch[0].previous_status, ch[0].status) == (Status.UNREACHABLE, D)
    assert len([e for e in r.of(OutageOpened) if e.ref == SRV]) == 1   # still one outage


# ----------------------------------------------------------------------------------- flapping


def test_flapping_is_one_event_not_a_stream_and_stops_when_stable() -> None:
    pol = policy(confirm_down=1, confirm_up=1, flap_max=4, flap_window=timedelta(minutes=10))
    r = Run(pol=pol)
    for i in range(12):
        r(ROUTER, "ping", D if i % 2 == 0 else U, i)
    started = r.of(FlappingStarted)
    assert len(started) == 1 and started[0].changes == 5 and r.world.get(ROUTER).flapping
    assert r.of(FlappingStopped) == []
    assert all(e.flapping for e in r.of(OutageOpened)[3:])               # outages still recorded, marked
    assert len(r.of(OutageOpened)) == 6 and len(r.of(OutageClosed)) == 6
    for i in range(12, 30):                                               # stable: up every minute
        r(ROUTER, "ping", U, i)
    stopped = r.of(FlappingStopped)
    assert len(stopped) == 1 and stopped[0].status is U and not r.world.get(ROUTER).flapping
    assert len(r.of(FlappingStarted)) == 1


# ------------------------------------------------------------------------------------ traps


def test_on_battery_trap_makes_the_ups_degraded_at_once() -> None:
    w = up_world()
    step = apply_trap(w, UPS, [ObservationKind.ON_BATTERY], "on battery", t(1), P)
    assert step.world.get(UPS).status is G
    opened = [e for e in step.events if isinstance(e, OutageOpened)]
    assert len(opened) == 1 and opened[0].started_at == t(1) and "trap" in (opened[0].reason or "")
    # the next polls agree (still on battery): nothing new; then mains is back: N↑ polls close it
    r = Run(step.world)
    r.many(UPS, "snmp:ups", [G, G], 2)
    assert r.events == []
    r.many(UPS, "snmp:ups", [U, U], 4)
    assert [e.ended_at for e in r.of(OutageClosed)] == [t(4)]


def test_trap_on_a_device_without_snmp_uses_the_pseudo_check_until_restored() -> None:
    w = up_world()
    step = apply_trap(w, ROUTER, [ObservationKind.SPD_TRIPPED], "SPD tripped", t(1), P)
    assert TRAP_TRACK in step.world.get(ROUTER).checks and step.world.get(ROUTER).status is G
    step2 = apply_trap(step.world, ROUTER, [ObservationKind.SPD_OK], "SPD ok", t(2), P)
    assert step2.world.get(ROUTER).status is U
    assert [type(e) for e in step2.events if not isinstance(e, StatusChanged)] == [OutageClosed]


def test_other_traps_change_nothing() -> None:
    w = up_world()
    assert apply_trap(w, UPS, [ObservationKind.STRIKE], "strike", t(1), P).world is w


# ------------------------------------------------------------------------------------ time


def test_wall_clock_going_back_never_makes_time_run_backwards() -> None:
    r = Run().many(ROUTER, "ping", [D, D, D], 0)
    # NTP steps the clock back 30 minutes: results now carry earlier times
    r.many(ROUTER, "ping", [U, U], -30)
    closed = r.of(OutageClosed)[0]
    opened = r.of(OutageOpened)[0]
    assert closed.ended_at >= opened.started_at
    assert closed.ended_at == t(2)


# ------------------------------------------------------------------------------- gaps, reload, persistence


def test_mark_gap_drops_streaks_and_shows_unknown_until_the_next_result() -> None:
    r = Run().many(ROUTER, "ping", [D, D], 0)
    w = mark_gap(r.world)
    assert w.get(ROUTER).stale and w.get(ROUTER).shown_status is K and w.get(ROUTER).status is U
    assert w.get(ROUTER).checks["ping"].pending is None
    r2 = Run(w)(ROUTER, "ping", D, 100)
    assert not r2.world.get(ROUTER).stale and r2.status(ROUTER) is U   # one failure after a gap is not 3


def test_reconcile_adds_drops_and_closes_outages_of_removed_devices() -> None:
    r = Run().many(WS, "ping", [D, D, D], 0)
    smaller = Policy.build([d for ref, d in P.devices.items() if ref != WS], flap_window=P.flap_window,
                           flap_max_changes=P.flap_max_changes)
    step = reconcile(r.world, smaller, t(10))
    assert WS not in step.world.devices
    closed = [e for e in step.events if isinstance(e, OutageClosed)]
    assert len(closed) == 1 and closed[0].removed and closed[0].ended_at == t(10)
    bigger = Policy.build([*P.devices.values(), DevicePolicy(DeviceRef(S, "new"), DeviceKind.SWITCH, 3, 2)],
                          flap_window=P.flap_window, flap_max_changes=6)
    assert reconcile(r.world, bigger, t(10)).world.get(DeviceRef(S, "new")).status is K


def test_state_round_trips_through_json() -> None:
    r = Run().many(SRV, "tcp:443", [D, D, D], 0).many(SRV, "ping", [D], 3)
    r(SRV, "tcp:443", D, 4, metrics={"connect_ms": 3.5}, observations=[obs(ObservationKind.REBOOT, t(4))])
    s = r.world.get(SRV)
    assert s.outage is not None
    back = state_from_data(SRV, status=s.status, since=s.since, reason=s.reason, flapping=s.flapping,
                           data=state_to_data(s), metrics=s.metrics,
                           outage=(s.outage.started_at, s.outage.confirmed_at, s.outage.worst))
    assert back == s
