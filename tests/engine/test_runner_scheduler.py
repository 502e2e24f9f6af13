"""The runner (timeout owned by it; our failures become ``unknown`` with the reason) and the scheduler
(real APScheduler: jitter, max_instances=1, the concurrency cap, poll soon, re-plan)."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from monitor.clock import SystemClock
from monitor.daemon.runner import budget, run_check
from monitor.daemon.scheduler import CheckScheduler
from monitor.domain import CheckResult, Device, DeviceRef, PingSpec, ReasonCode, Status
from monitor.settings import load_settings
from tests.fakes import T0, FakeCheck

from .conftest import office_settings


def _device_and_spec(tmp_path: Path, **spec: Any) -> tuple[Device, Any]:
    settings = office_settings(tmp_path)
    dev = settings.site("mura").device("srv")
    return dev, dev.checks[0].model_copy(update=spec)


async def test_runner_passes_results_through_with_tick_time_and_key(tmp_path: Path) -> None:
    dev, spec = _device_and_spec(tmp_path)
    check = FakeCheck([Status.DOWN], key="whatever")
    res = await run_check(check, dev, spec, now=T0)
    assert (res.check, res.time, res.status, res.reason_code) == ("ping", T0, Status.DOWN, ReasonCode.TIMEOUT)


async def test_runner_turns_an_exception_into_unknown_with_the_reason_and_no_secret(tmp_path: Path) -> None:
    dev, spec = _device_and_spec(tmp_path)
    check = FakeCheck([RuntimeError("boom with s3cr3t-community inside")])
    res = await run_check(check, dev, spec, now=T0, secrets=["s3cr3t-community"])
    assert res.status is Status.UNKNOWN and res.reason_code is ReasonCode.CHECK_ERROR
    assert res.reason == "check error: RuntimeError: boom with *** inside"


async def test_runner_owns_the_timeout(tmp_path: Path) -> None:
    dev, spec = _device_and_spec(tmp_path, timeout=timedelta(milliseconds=50), retries=0, count=1,
                                 packet_interval=timedelta(0))
    res = await run_check(FakeCheck(["hang"]), dev, spec, now=T0, margin=0.05)
    assert res.status is Status.UNKNOWN and res.reason_code is ReasonCode.CHECK_ERROR
    assert "did not finish within 0.1s" in (res.reason or "")


def test_budget_covers_the_checks_own_worst_case() -> None:
    spec = PingSpec(interval=timedelta(seconds=60), timeout=timedelta(seconds=2), retries=1, count=3,
                    packet_interval=timedelta(milliseconds=200))
    assert budget(spec, margin=2.0) == pytest.approx(2 * 2 + 0.6 + 2.0)


async def test_runner_rejects_a_check_that_breaks_its_contract(tmp_path: Path) -> None:
    class Bad:
        kind: ClassVar[str] = "bad"

        async def run(self, device: Device, *, now: datetime) -> Any:
            return True

    dev, spec = _device_and_spec(tmp_path)
    res = await run_check(Bad(), dev, spec, now=T0)  # type: ignore[arg-type]
    assert res.status is Status.UNKNOWN and "not a CheckResult" in (res.reason or "")


# ------------------------------------------------------------------------------------------ scheduler

CONFIG = """
telegram: {{enabled: false}}
defaults: {{interval: {interval}, timeout: 1s, retries: 0}}
monitor: {{concurrency: {concurrency}, jitter: {jitter}, misfire_grace: 5s}}
sites:
  - id: s
    name: "S"
    devices:
{devices}
"""


def settings_for(tmp_path: Path, n: int, *, interval: str = "200ms", concurrency: int = 100,
                 jitter: str = "100ms") -> Any:
    devices = "\n".join(f"      - {{id: d{i}, name: D{i}, kind: workstation, address: 127.0.0.1, "
                        f"checks: [{{type: tcp, port: 9}}]}}" for i in range(n))
    p = tmp_path / "s.yaml"
    p.write_text(CONFIG.format(interval=interval, concurrency=concurrency, jitter=jitter, devices=devices))
    return load_settings(p, environ={})


class Slow:
    """Sleeps, counting how many run at once."""

    kind: ClassVar[str] = "tcp"
    running = 0
    peak = 0

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    async def run(self, device: Device, *, now: datetime) -> CheckResult:
        cls = type(self)
        cls.running += 1
        cls.peak = max(cls.peak, cls.running)
        self.calls += 1
        try:
            await asyncio.sleep(self.seconds)
        finally:
            cls.running -= 1
        return CheckResult("tcp:9", "tcp", Status.UP, now)


async def _run_for(sched: CheckScheduler, seconds: float) -> None:
    await sched.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        await sched.stop()


async def test_every_check_runs_at_its_interval_with_spread_first_runs(tmp_path: Path) -> None:
    s = settings_for(tmp_path, 5, interval="200ms", jitter="150ms")
    checks = {(DeviceRef("s", f"d{i}"), "tcp:9"): FakeCheck([Status.UP], key="tcp:9") for i in range(5)}
    got: list[tuple[DeviceRef, CheckResult]] = []
    sched = CheckScheduler(s, checks, lambda r, res, _mono: got.append((r, res)), SystemClock(), rng=random.Random(4))
    await _run_for(sched, 1.5)
    per_device = {ref: sum(1 for r, _ in got if r == ref) for ref, _ in checks}
    assert all(n >= 3 for n in per_device.values()), per_device
    firsts = sorted(min(c.calls) for c in checks.values())  # type: ignore[attr-defined]
    assert firsts[-1] > firsts[0]                               # not all at the same instant
    assert all(res.check == "tcp:9" for _, res in got)


async def test_the_concurrency_cap_holds(tmp_path: Path) -> None:
    s = settings_for(tmp_path, 8, interval="100ms", concurrency=2, jitter="10ms")
    Slow.running = Slow.peak = 0
    checks = {(DeviceRef("s", f"d{i}"), "tcp:9"): Slow(0.2) for i in range(8)}
    sched = CheckScheduler(s, checks, lambda r, res, _mono: None, SystemClock())
    await _run_for(sched, 1.0)
    assert Slow.peak == 2


async def test_a_slow_check_never_runs_twice_at_once(tmp_path: Path) -> None:
    s = settings_for(tmp_path, 1, interval="100ms", jitter="10ms")
    Slow.running = Slow.peak = 0
    slow = Slow(0.5)
    sched = CheckScheduler(s, {(DeviceRef("s", "d0"), "tcp:9"): slow}, lambda r, res, _mono: None, SystemClock())
    await _run_for(sched, 1.3)
    assert Slow.peak == 1 and 1 <= slow.calls <= 3               # max_instances=1, no pile-up


async def test_poll_soon_runs_a_device_now_and_replan_after_a_clock_step(tmp_path: Path) -> None:
    s = settings_for(tmp_path, 2, interval="1h", jitter="10ms")
    checks = {(DeviceRef("s", f"d{i}"), "tcp:9"): FakeCheck([Status.UP], key="tcp:9") for i in range(2)}
    got: list[DeviceRef] = []
    sched = CheckScheduler(s, checks, lambda r, res, _mono: got.append(r), SystemClock())
    await sched.start()
    try:
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert sorted(got) == [DeviceRef("s", "d0"), DeviceRef("s", "d1")]   # first runs within the jitter
        sched.poll_soon(DeviceRef("s", "d1"), delay=0.1)
        while len(got) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert got[2:] == [DeviceRef("s", "d1")]                             # not waiting the hour
        sched.replan()
        while len(got) < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert sorted(got[3:]) == [DeviceRef("s", "d0"), DeviceRef("s", "d1")]
    finally:
        await sched.stop()


async def test_a_check_cut_short_by_stop_gives_no_result_and_logs_no_error(tmp_path: Path,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    """stop() cancels running checks at once (their results would be dropped): that is shutdown, not a failed
    job, so nothing is logged as an error and no result reaches the sink."""
    p = tmp_path / "s.yaml"
    p.write_text(CONFIG.replace("timeout: 1s", "timeout: 30s").format(
        interval="1h", concurrency=10, jitter="10ms",
        devices="      - {id: d0, name: D0, kind: workstation, address: 127.0.0.1, checks: [{type: tcp, port: 9}]}"))
    s = load_settings(p, environ={})
    Slow.running = Slow.peak = 0
    slow = Slow(60)
    got: list[CheckResult] = []
    sched = CheckScheduler(s, {(DeviceRef("s", "d0"), "tcp:9"): slow}, lambda r, res, _mono: got.append(res),
                           SystemClock())
    caplog.set_level("WARNING")
    await sched.start()
    deadline = time.monotonic() + 5
    while slow.calls == 0:
        assert time.monotonic() < deadline, "the check never started"
        await asyncio.sleep(0.02)
    started = time.monotonic()
    await sched.stop()
    assert time.monotonic() - started < 1.0                 # SIGTERM is not delayed by a 60 s check
    assert Slow.running == 0 and got == []
    assert [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
