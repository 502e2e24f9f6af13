"""Benchmark 0 — one polling round through the detection engine and the recorder on a SQLite file (no peer:
the figure behind the soak's "engine + recorder" share).

    python bench/engine_round.py [--devices 500] [--rounds 20]     (or: python bench/run.py engine_round)

Each device has a ping and a TCP check (2 results per device per round); in one round in ten, 5 % of the
devices fail (outages open and close). Prints the median time per round for the pure engine and for the
whole pipeline write (samples, states, outages, events in one transaction), and the database size.
Bounded: at most ``--rounds`` rounds of ``--devices`` devices. No network.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from monitor.daemon.pipeline import Pipeline
from monitor.daemon.recorder import Recorder
from monitor.domain import CheckResult, DeviceRef, ReasonCode, Status
from monitor.engine.state import Policy, World, advance
from monitor.settings import load_settings
from monitor.storage import Database
from monitor.storage import db as dbmod
from monitor.storage.inventory import sync_inventory


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 23, tzinfo=UTC)

    def now(self) -> datetime:
        return self.t

    def monotonic(self) -> float:
        return time.monotonic()

    def boottime(self) -> float:
        return time.monotonic()

    async def sleep(self, s: float) -> None:
        await asyncio.sleep(s)


def config(n: int, db: Path) -> str:
    devs = "\n".join(f"      - {{id: d{i}, name: D{i}, kind: workstation, address: 127.0.0.1, depends_on: [router],"
                     f" checks: [{{type: ping}}, {{type: tcp, port: 9}}]}}" for i in range(n))
    return (f"telegram: {{enabled: false}}\ndatabase: {{url: \"sqlite:///{db}\"}}\n"
            "defaults: {confirm_down: 2, confirm_up: 2}\nsites:\n  - id: s\n    name: S\n    devices:\n"
            "      - {id: router, name: R, kind: router, address: 127.0.0.1, checks: [{type: ping}]}\n" + devs + "\n")


def round_results(n: int, r: int, t: datetime) -> list[tuple[DeviceRef, CheckResult]]:
    out = []
    failing = set(range(0, n, 20)) if r % 10 in (3, 4) else set()
    for i in range(n):
        ref = DeviceRef("s", f"d{i}")
        for key, kind in (("ping", "ping"), ("tcp:9", "tcp")):
            if i in failing:
                out.append((ref, CheckResult(key, kind, Status.DOWN, t, reason="timeout",
                                             reason_code=ReasonCode.TIMEOUT)))
            else:
                out.append((ref, CheckResult(key, kind, Status.UP, t, metrics={"rtt_avg_ms": 1.5})))
    out.append((DeviceRef("s", "router"), CheckResult("ping", "ping", Status.UP, t)))
    return out


async def measure(n: int, rounds: int) -> dict[str, float]:
    n, rounds = min(n, 5000), min(rounds, 200)
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "c.yaml"
        cfg.write_text(config(n, Path(d) / "m.db"))
        settings = load_settings(cfg, environ={})
        engine = dbmod.create_db_engine(settings.database_url)
        dbmod.upgrade(engine)
        db = Database(engine)
        clock = Clock()
        ids = db.call(lambda s: sync_inventory(s, settings, clock.now()))
        policy = Policy.from_settings(settings)
        pipeline = Pipeline(db, Recorder(settings, ids), policy, World(), clock, batch_delay=0, max_batch=100_000)
        await pipeline.start()
        await pipeline.reconfigure(pipeline.recorder, policy)
        pure, full = [], []
        world = World()
        for r in range(rounds):
            clock.t += timedelta(seconds=60)
            results = round_results(n, r, clock.t)
            t0 = time.perf_counter()
            for ref, res in results:
                world = advance(world, ref, res, policy).world
            pure.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for ref, res in results:
                pipeline.submit_result(ref, res)
            await pipeline.drain()
            full.append(time.perf_counter() - t0)
        await pipeline.stop()
        outages = db.call(lambda s: s.execute(text("select count(*) from outages")).scalar())
        size = (Path(d) / "m.db").stat().st_size
        db.close()
    return {"devices": n, "rounds": rounds, "outages": float(outages or 0),
            "engine_round_s": statistics.median(pure), "engine_us_per_result": statistics.median(pure) / (2 * n) * 1e6,
            "round_s": statistics.median(full), "round_max_s": max(full), "db_mb": size / 1e6}


def run(opts: argparse.Namespace) -> Any:
    from bench.common import Outcome

    out = Outcome("engine_round")
    for n in (500, 1000, 5000):
        m = asyncio.run(measure(n, 20 if n < 5000 else 6))
        print(f"  {n} devices × 2 checks: engine {m['engine_round_s'] * 1000:.0f} ms/round "
              f"({m['engine_us_per_result']:.0f} µs/result); engine + record {m['round_s'] * 1000:.0f} ms/round",
              flush=True)
        out.add(f"engine + recorder, one round of {n:,} devices × 2 checks", m["round_s"] * 1000, "ms",
                note=f"engine alone {m['engine_round_s'] * 1000:.0f} ms ({m['engine_us_per_result']:.0f} µs per "
                     f"result); max {m['round_max_s'] * 1000:.0f} ms; one transaction per round")
        out.details[str(n)] = m
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    m = await measure(args.devices, args.rounds)
    print(f"{m['devices']} devices x 2 checks, {m['rounds']} rounds, {m['outages']:.0f} outages recorded")
    print(f"engine only   : median {m['engine_round_s'] * 1000:.1f} ms per round "
          f"({m['engine_us_per_result']:.0f} us per result)")
    print(f"engine+record : median {m['round_s'] * 1000:.1f} ms per round (one transaction), "
          f"max {m['round_max_s'] * 1000:.1f} ms")
    print(f"database      : {m['db_mb']:.1f} MB")


if __name__ == "__main__":
    asyncio.run(main())
