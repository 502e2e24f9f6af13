"""Benchmark: one polling round through the detection engine and the recorder on a SQLite file.

    python bench/engine_round.py [--devices 500] [--rounds 20]

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from monitor.domain import CheckResult, DeviceRef, ReasonCode, Status
from monitor.engine import Policy, World, advance
from monitor.pipeline import Pipeline
from monitor.recorder import Recorder
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


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    n, rounds = min(args.devices, 5000), min(args.rounds, 200)
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
    print(f"{n} devices x 2 checks, {rounds} rounds, {outages} outages recorded")
    print(f"engine only   : median {statistics.median(pure) * 1000:.1f} ms per round "
          f"({statistics.median(pure) / (2 * n) * 1e6:.0f} us per result)")
    print(f"engine+record : median {statistics.median(full) * 1000:.1f} ms per round (one transaction), "
          f"max {max(full) * 1000:.1f} ms")
    print(f"database      : {size / 1e6:.1f} MB")


if __name__ == "__main__":
    asyncio.run(main())
