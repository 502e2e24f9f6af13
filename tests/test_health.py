"""The pure part of ``ektp-monitor status`` (monitor/daemon/health.py): figures → findings → Nagios state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.app import load_config
from monitor.daemon.health import Finding, HealthFigures, HubLink, State, evaluate, overall, summary

from .conftest import MINIMAL

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.fixture
def settings(write_config: Any) -> Any:
    # heartbeat 15 s; router ping and server tcp every 60 s, timeout 2 s, 1 retry, jitter 5 s: grace 2m11s
    return load_config(Path(write_config(MINIMAL)), environ={})


def figures(heartbeat: float | None = 5, last: tuple[float | None, float | None] = (10, 10),
            **kw: Any) -> HealthFigures:
    f = HealthFigures(heartbeat=NOW - heartbeat * S if heartbeat is not None else None,
                      started=NOW - 3600 * S, pid=None,
                      last_checks={("test", "router"): NOW - last[0] * S if last[0] is not None else None,
                                   ("test", "srv"): NOW - last[1] * S if last[1] is not None else None},
                      database_ok=True, database_detail="ok")
    for k, v in kw.items():
        setattr(f, k, v)
    return f


def states(findings: list[Finding]) -> dict[str, State]:
    return {f.name: f.state for f in findings}


@pytest.mark.parametrize(("f", "want"), [
    (figures(), {"heartbeat": State.OK, "checks": State.OK, "outbox": State.OK, "database": State.OK}),
    (figures(heartbeat=44), {"heartbeat": State.OK}),                         # 3 intervals
    (figures(heartbeat=46), {"heartbeat": State.WARNING}),
    (figures(heartbeat=151), {"heartbeat": State.CRITICAL, "checks": State.CRITICAL}),
    (figures(heartbeat=None), {"heartbeat": State.CRITICAL, "checks": State.UNKNOWN}),
    (figures(pid_alive=False), {"heartbeat": State.CRITICAL, "checks": State.CRITICAL}),
    (figures(last=(10, 200)), {"checks": State.WARNING}),                     # one device late
    (figures(last=(200, 200)), {"checks": State.CRITICAL}),                   # all late: scheduler stopped
    (figures(last=(None, 10)), {"checks": State.WARNING}),                    # never checked in an hour
    (figures(oldest_waiting=NOW - 300 * S, outbox={"pending": 3}), {"outbox": State.OK}),
    (figures(oldest_waiting=NOW - 700 * S, outbox={"pending": 3}), {"outbox": State.WARNING}),  # > digest_after
    (figures(oldest_waiting=NOW - 7 * 3600 * S, outbox={"retry": 9}), {"outbox": State.CRITICAL}),
    (figures(outbox={"dead": 1, "sent": 40}), {"outbox": State.WARNING}),
    (figures(database_ok=False, database_detail="no space"), {"database": State.CRITICAL}),
    (figures(hub=HubLink(12, NOW - 7200 * S, NOW - 60 * S)), {"hub": State.WARNING}),
    (figures(hub=HubLink(0, None, NOW - 60 * S)), {"hub": State.OK}),
])
def test_findings(settings: Any, f: HealthFigures, want: dict[str, State]) -> None:
    got = states(evaluate(f, settings, NOW))
    assert {k: got[k] for k in want} == want, got
    assert ("hub" in got) == (f.hub is not None)


@pytest.mark.parametrize(("found", "want"), [
    ([State.OK, State.OK], State.OK),
    ([State.OK, State.UNKNOWN], State.UNKNOWN),
    ([State.UNKNOWN, State.WARNING], State.WARNING),
    ([State.WARNING, State.CRITICAL, State.UNKNOWN], State.CRITICAL),
])
def test_overall_ranks_critical_above_warning_above_unknown(found: list[State], want: State) -> None:
    assert overall([Finding(str(i), s, "") for i, s in enumerate(found)]) is want


def test_the_summary_is_a_nagios_plugin_line(settings: Any) -> None:
    line = summary(evaluate(figures(heartbeat=2), settings, NOW))
    assert line.startswith("EKTP-MONITOR OK - heartbeat: last heartbeat 2s ago, running; checks: ")
    assert line.endswith("| heartbeat=2 checks=0 outbox=0")
