"""The coverage model (monitor/engine/coverage.py): its laws over random timelines, gaps and ``now``s
(hypothesis), and a few hand-computed cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.domain import Cause, Status
from monitor.engine.coverage import (
    ZERO,
    Coverage,
    DeviceInput,
    Gap,
    OutageInput,
    Part,
    ServiceInput,
    SiteCoverage,
    SiteInput,
    Watch,
    Window,
    cover,
)

T0 = datetime(2026, 11, 15, 17, 0, tzinfo=UTC)       # Mon 16 Nov 00:00 WIB
START, END = T0, T0 + timedelta(days=3)
DEVICES = ("srv1", "srv2", "router")
MIN = timedelta(minutes=1)


def at(minutes: int) -> datetime:
    return T0 + minutes * MIN


_minutes = st.integers(min_value=-1 * 24 * 60, max_value=4 * 24 * 60)
_times = _minutes.map(at)


@st.composite
def outages(draw: st.DrawFn) -> tuple[OutageInput, ...]:
    out = []
    for i in range(draw(st.integers(0, 6))):
        s = draw(_minutes)
        length = draw(st.integers(1, 2 * 24 * 60))
        status = draw(st.sampled_from([Status.DOWN, Status.UNREACHABLE, Status.DEGRADED, Status.UNKNOWN]))
        timeline: tuple[tuple[datetime, Status], ...] = ()
        if draw(st.booleans()):
            mid = s + draw(st.integers(0, length))
            timeline = ((at(s), Status.DEGRADED), (at(mid), status))
        out.append(OutageInput(draw(st.sampled_from(DEVICES)), at(s),
                               None if draw(st.booleans()) and draw(st.booleans()) else at(s + length),
                               status, draw(st.sampled_from(list(Cause))), timeline, id=i + 1))
    return tuple(out)


@st.composite
def windows(draw: st.DrawFn) -> tuple[Window, ...]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        s = draw(_minutes)
        devs = draw(st.sets(st.sampled_from(DEVICES), max_size=2))
        out.append(Window(at(s), at(s + draw(st.integers(1, 600))), frozenset(devs)))
    return tuple(out)


@st.composite
def watches(draw: st.DrawFn) -> Watch:
    if draw(st.integers(0, 9)) == 0:
        return Watch(None, None, draw(st.booleans()))
    first = draw(_minutes)
    last = first + draw(st.integers(0, 4 * 24 * 60))
    gaps = []
    for _ in range(draw(st.integers(0, 3))):
        g = draw(st.integers(first, last))
        gaps.append(Gap(at(g), at(g + draw(st.integers(1, 300))), "process_stopped"))
    return Watch(at(first), at(last), draw(st.booleans()), tuple(gaps))


@st.composite
def sites(draw: st.DrawFn) -> SiteInput:
    devices = tuple(DeviceInput(d, draw(st.none() | _times)) for d in DEVICES)
    services = (ServiceInput("perekaman", "any", ("srv1", "srv2")), ServiceInput("siak", "all", ("router", "srv1")))
    return SiteInput(devices, draw(watches()), draw(outages()), draw(windows()),
                     services if draw(st.booleans()) else ())


def entities(c: SiteCoverage) -> list[Coverage]:
    return [*c.devices, *c.services, c.site]


def part_at(tl: tuple, t: datetime) -> Part | None:
    return next((s.part for s in tl if s.start <= t < s.end), None)


@settings(max_examples=200, deadline=None)
@given(site=sites(), now=_times)
def test_parts_tile_the_period_and_sum_to_it_exactly(site: SiteInput, now: datetime) -> None:
    c = cover(site, START, END, now)
    for e in entities(c):
        tl = e.timeline
        assert tl[0].start == START and tl[-1].end == END
        assert all(x.end == y.start and x.start < x.end for x, y in pairwise(tl))
        assert e.parts.total == END - START                      # exact: timedelta arithmetic
        assert sum((e.parts[p] for p in Part), ZERO) == END - START
        assert sum((d for _, d in e.parts.down_by_cause), ZERO) == e.parts.unavailable
        cut = max(START, min(now, END))
        assert e.parts[Part.FUTURE] == END - cut                # future is exactly [now, end)
        a = e.parts.availability
        assert (a is None) == (e.parts.monitored == ZERO)
        assert a is None or 0.0 <= a <= 1.0
    assert START <= c.known_until <= max(START, min(now, END))


@settings(max_examples=200, deadline=None)
@given(site=sites(), now=_times, later=st.integers(1, 3 * 24 * 60))
def test_rebuilding_later_changes_no_monitored_figure_only_the_tail_grows(site: SiteInput, now: datetime,
                                                                         later: int) -> None:
    watch = site.watch
    if watch.first_heartbeat is None or watch.last_heartbeat is None:
        return
    # the monitor stopped at its last heartbeat, before now; devices were added while it ran
    now = max(now, watch.last_heartbeat)
    site = replace(site, watch=replace(watch, running=False), devices=tuple(
        replace(d, added_at=None if d.added_at is None or d.added_at > watch.last_heartbeat else d.added_at)
        for d in site.devices))
    now2 = now + later * MIN
    a, b = cover(site, START, END, now), cover(site, START, END, now2)
    grown = max(START, min(now2, END)) - max(START, min(now, END))
    assert a.known_until == b.known_until
    for x, y in zip(entities(a), entities(b), strict=True):
        for p in Part:
            if p not in (Part.NOT_RUNNING, Part.FUTURE):
                assert x.parts[p] == y.parts[p], p
        assert x.parts.down_by_cause == y.parts.down_by_cause
        assert x.parts.availability == y.parts.availability
        assert y.parts[Part.NOT_RUNNING] - x.parts[Part.NOT_RUNNING] == grown
        assert x.parts[Part.FUTURE] - y.parts[Part.FUTURE] == grown


@settings(max_examples=200, deadline=None)
@given(site=sites(), now=_times)
def test_maintenance_and_time_not_monitored_are_never_up_or_down(site: SiteInput, now: datetime) -> None:
    c = cover(site, START, END, now)
    watch = site.watch
    for d, dc in zip(site.devices, c.devices, strict=True):
        excluded: list[tuple[datetime, datetime]] = [(w.start, w.end) for w in site.maintenance if w.covers(d.id)]
        excluded += [(g.start, g.end) for g in watch.gaps]
        tail = watch.tail_start()
        if tail is not None:
            excluded.append((tail, END + timedelta(days=9)))
        began = watch.first_heartbeat
        excluded.append((START - timedelta(days=9), began if began is not None else END + timedelta(days=9)))
        if d.added_at is not None:
            excluded.append((START - timedelta(days=9), d.added_at))
        for seg in dc.timeline:
            for s, e in excluded:
                if seg.start < e and s < seg.end:
                    assert seg.part.excluded, (seg, s, e)


@settings(max_examples=150, deadline=None)
@given(site=sites(), now=_times, extra=windows(), gap=st.tuples(_minutes, st.integers(1, 600)))
def test_windows_gaps_and_outages_never_add_up_time(site: SiteInput, now: datetime, extra: tuple[Window, ...],
                                                    gap: tuple[int, int]) -> None:
    base = cover(site, START, END, now)
    more_windows = cover(replace(site, maintenance=site.maintenance + extra), START, END, now)
    more_gaps = cover(replace(site, watch=replace(site.watch, gaps=(*site.watch.gaps, Gap(at(gap[0]),
                                                                                          at(sum(gap)))))),
                      START, END, now)
    outage = OutageInput("srv1", at(gap[0]), at(sum(gap)), Status.DOWN, Cause.POWER, id=999)
    more_outages = cover(replace(site, outages=(*site.outages, outage)), START, END, now)
    for variant in (more_windows, more_gaps, more_outages):
        for x, y in zip(entities(base), entities(variant), strict=True):
            assert y.parts[Part.UP] <= x.parts[Part.UP]
    for x, y in zip(entities(base), entities(more_outages), strict=True):
        if x.parts.availability is not None and y.parts.availability is not None:
            assert y.parts.availability <= x.parts.availability + 1e-12


@settings(max_examples=100, deadline=None)
@given(site=sites(), now=_times)
def test_services_follow_their_rule(site: SiteInput, now: datetime) -> None:
    services = (ServiceInput("one", "any", ("srv1",)), ServiceInput("both", "all", ("srv1", "router")))
    c = cover(replace(site, services=services), START, END, now)
    one, both = c.service("one"), c.service("both")
    srv1, router = c.device("srv1"), c.device("router")
    assert one is not None and both is not None and srv1 is not None and router is not None
    # a service of one device is that device (down and unreachable both count as down for a service)
    for p in (Part.UP, Part.DEGRADED, Part.MAINTENANCE, Part.NOT_RUNNING, Part.FUTURE):
        assert one.parts[p] == srv1.parts[p]
    assert one.parts.unavailable == srv1.parts.unavailable
    # "all" is unavailable whenever one of its devices is
    assert both.parts.unavailable >= max(srv1.parts.unavailable, router.parts.unavailable)
    for seg in both.timeline:
        if part_at(srv1.timeline, seg.start) in (Part.DOWN, Part.UNREACHABLE):
            assert seg.part is Part.DOWN


# ----------------------------------------------------------------------------------------- by hand

H = timedelta(hours=1)


def test_a_stopped_monitor_counts_its_silence_as_not_running() -> None:
    """The lightning that broke the server also broke the monitor: its last heartbeat is 07:26; a report built
    at 07:57 and again at 08:07 shows the same figures, and 31 then 41 minutes not running."""
    last = at(60 * 7 + 26)
    site = SiteInput((DeviceInput("srv1"),), Watch(T0, last, running=False),
                     (OutageInput("srv1", at(60 * 7), None, Status.DOWN, Cause.LIGHTNING, id=1),))
    a = cover(site, START, END, at(60 * 7 + 57))
    b = cover(site, START, END, at(60 * 8 + 7))
    da, db = a.devices[0].parts, b.devices[0].parts
    assert da[Part.DOWN] == db[Part.DOWN] == 26 * MIN
    assert da[Part.UP] == db[Part.UP] == 7 * H
    assert da[Part.NOT_RUNNING] == 31 * MIN and db[Part.NOT_RUNNING] == 41 * MIN
    assert da.availability == db.availability == (7 * H) / (7 * H + 26 * MIN)
    assert a.known_until == b.known_until == last
    # the same record while the monitor runs: the open outage is down until now
    running = cover(replace(site, watch=Watch(T0, last, running=True)), START, END, at(60 * 7 + 57))
    assert running.devices[0].parts[Part.DOWN] == 57 * MIN and running.devices[0].parts[Part.NOT_RUNNING] == ZERO


def test_before_monitoring_began_and_before_a_device_was_added() -> None:
    site = SiteInput((DeviceInput("srv1"), DeviceInput("srv2", added_at=at(36 * 60))),
                     Watch(at(24 * 60), None, running=True),
                     services=(ServiceInput("perekaman", "any", ("srv1", "srv2")),))
    c = cover(site, START, END, END)
    assert c.device("srv1").parts[Part.NOT_YET_MONITORED] == 24 * H  # type: ignore[union-attr]
    assert c.device("srv2").parts[Part.NOT_YET_MONITORED] == 36 * H  # type: ignore[union-attr]
    assert c.service("perekaman").parts[Part.UP] == 48 * H            # type: ignore[union-attr]
    never = cover(replace(site, watch=Watch(None)), START, END, at(60))
    assert never.site.parts[Part.NOT_YET_MONITORED] == H and never.site.parts.availability is None


def test_unreachable_is_attributed_to_the_network_unless_power_or_lightning() -> None:
    outs = (OutageInput("srv1", at(0), at(60), Status.UNREACHABLE, Cause.HARDWARE, id=1),
            OutageInput("srv1", at(120), at(180), Status.UNREACHABLE, Cause.POWER, id=2))
    c = cover(SiteInput((DeviceInput("srv1"),), Watch(T0 - H), outs), START, END, END)
    assert dict(c.devices[0].parts.down_by_cause) == {Cause.NETWORK: H, Cause.POWER: H}
    assert c.devices[0].parts.to_json()["seconds"]["down"] == 7200.0
    assert c.devices[0].parts.to_json()["unreachable_s"] == 7200.0
