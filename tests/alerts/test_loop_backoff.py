"""The alert loops back off while idle and react at once when woken (issue 8: an idle office polled its
database twice a second; the daemon now wakes the router when the record has new events)."""

from __future__ import annotations

import asyncio

from alerts.service import LoopComponent


async def test_an_idle_loop_backs_off_and_a_wake_brings_it_back() -> None:
    runs: list[str] = []
    busy = {"value": False}

    async def step() -> bool:
        runs.append("busy" if busy["value"] else "idle")
        return busy["value"]

    loop = LoopComponent("test", step, interval=0.01, idle_interval=0.2)
    await loop.start()
    try:
        await asyncio.sleep(0.6)
        idle_runs = len(runs)
        assert 2 <= idle_runs <= 15          # a fixed 10 ms loop would have run ~60 times
        assert loop._idle_delay == 0.2        # backed off to the idle interval
        busy["value"] = True
        loop.wake()
        for _ in range(100):                  # bounded: at most 5 s
            if "busy" in runs:
                break
            await asyncio.sleep(0.05)
        assert "busy" in runs
        await asyncio.sleep(0.1)
        assert loop._idle_delay == 0.01       # work found: back to the short interval
    finally:
        await loop.stop()


async def test_a_wake_during_a_step_is_not_lost() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    runs = 0

    async def step() -> bool:
        nonlocal runs
        runs += 1
        if runs == 1:
            started.set()
            await release.wait()
        return False

    loop = LoopComponent("test", step, interval=10.0, idle_interval=10.0)
    await loop.start()
    try:
        await asyncio.wait_for(started.wait(), 5)
        loop.wake()                           # new work arrives while the first step runs
        release.set()
        for _ in range(100):
            if runs >= 2:
                break
            await asyncio.sleep(0.05)
        assert runs >= 2                      # ran again at once, not after 10 s
    finally:
        await loop.stop()
