"""Benchmark 3 — ping sweep: 10,000 targets, 10 % of them silent, 3 echo requests each, against ``fping``
with the same count, packet spacing and timeout.

Lab (library-findings §4, :class:`bench.common.PingLab`): the pinging side in its own namespace with no route
out; the device side answers for every address of 198.18.0.0/18 and silently drops 198.18.64.0/18 (it does
not forward) — 9,000 live and 1,000 silent addresses. Both namespaces are deleted on exit, also on Ctrl-C.

Ours is measured twice: through :class:`checks.ping.PingCheck` with the shared sweeper (the daemon's path: a
task and a CheckResult per device) and through the sweeper alone. ``fping -c 3 -p 200 -t 2000 -i 0 -q``
(``-i 0``: fping's fastest pacing; its default 10 ms per packet would take 5 minutes for 30,000 packets).
Figures: wall time, CPU per target (user + system, whole process); medians of ``--repeat`` interleaved runs.
Targets: wall ≤ fping's + 1 s; CPU per target ≤ 3× fping's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, Outcome, PingLab, med, python, sigterm_as_interrupt, tool_version

NAME = "ping_sweep"
COUNT, PERIOD_MS, TIMEOUT_MS = 3, 200, 2000


async def _worker(args: argparse.Namespace) -> dict[str, Any]:
    from datetime import UTC, datetime

    from checks.ping import IcmpSweeper, PingCheck, icmp_mode
    from monitor.domain import Device, DeviceKind, PingSpec, Status

    targets = Path(args.targets).read_text().split()
    privileged = icmp_mode()
    sweeper = IcmpSweeper(privileged)
    await sweeper.probe(targets[0], count=1, interval=0.1, reply_timeout=1.0)   # the socket exists before timing
    dev = Device(id="d", name="d", kind=DeviceKind.ROUTER, address=targets[0], confirm_down=1, confirm_up=1)
    checks = [PingCheck(PingSpec(address=a, interval="60s", timeout=f"{TIMEOUT_MS}ms", retries=0, count=COUNT,
                                 packet_interval=f"{PERIOD_MS}ms"), privileged=privileged, sweeper=sweeper)
              for a in targets]
    now = datetime.now(UTC)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    w0 = time.perf_counter()
    if args.mode == "check":
        results = await asyncio.gather(*(c.run(dev, now=now) for c in checks))
        up = sum(r.status is Status.UP for r in results)
        down = sum(r.status is Status.DOWN for r in results)
    else:
        stats = await asyncio.gather(*(sweeper.probe(a, count=COUNT, interval=PERIOD_MS / 1000,
                                                     reply_timeout=TIMEOUT_MS / 1000) for a in targets))
        up = sum(s.received > 0 for s in stats)
        down = sum(s.received == 0 for s in stats)
    wall = time.perf_counter() - w0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    counters = dict(sweeper.counters)
    await sweeper.close()
    return {"targets": len(targets), "wall": wall, "user": r1.ru_utime - r0.ru_utime,
            "sys": r1.ru_stime - r0.ru_stime, "up": up, "down": down, "privileged": privileged,
            "counters": counters}


def _fping(lab: PingLab, tfile: Path) -> dict[str, Any]:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    proc = subprocess.run(["ip", "netns", "exec", lab.mon, "fping", "-q", "-c", str(COUNT), "-p", str(PERIOD_MS),
                           "-t", str(TIMEOUT_MS), "-i", "0", "-r", "0", "-f", str(tfile)],
                          capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - w0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [ln for ln in proc.stderr.splitlines() if "xmt/rcv" in ln]
    up = sum(1 for ln in lines if "/0/100%" not in ln)
    return {"targets": len(lines), "wall": wall, "user": r1.ru_utime - r0.ru_utime, "sys": r1.ru_stime - r0.ru_stime,
            "up": up, "down": len(lines) - up, "rc": proc.returncode}


def run(opts: argparse.Namespace) -> Outcome:
    out = Outcome(NAME)
    alive, silent = (9000, 1000) if not opts.quick else (1800, 200)
    runs: dict[str, list[dict[str, Any]]] = {"fping": [], "check": [], "sweep": []}
    with sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix="ektp-bench-ping-") as tmp, PingLab() as lab:
        tfile = Path(tmp) / "targets.txt"
        tfile.write_text("\n".join(PingLab.targets(alive, silent)) + "\n")
        for _ in range(max(1, opts.repeat)):
            runs["fping"].append(_fping(lab, tfile))
            for mode in ("check", "sweep"):
                argv = ["ip", "netns", "exec", lab.mon, python(), str(Path(__file__)), "--worker", "--mode", mode,
                        "--targets", str(tfile)]
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT,
                                      env={"PYTHONPATH": str(ROOT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
                if proc.returncode != 0:
                    raise RuntimeError(f"ping worker failed: {proc.stderr[-2000:]}")
                runs[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            for k in runs:
                r = runs[k][-1]
                print(f"  {k:6s} wall {r['wall']:5.2f} s  CPU {1000 * (r['user'] + r['sys']) / r['targets']:.4f} "
                      f"ms/target (user {r['user']:.2f} s, sys {r['sys']:.2f} s)  up {r['up']} down {r['down']}",
                      flush=True)
    summary = {k: {"wall": med([r["wall"] for r in v]),
                   "cpu_ms": med([1000 * (r["user"] + r["sys"]) / r["targets"] for r in v]),
                   "correct": all(r["up"] == alive and r["down"] == silent for r in v)} for k, v in runs.items()}
    out.details["summary"] = summary
    out.details["runs"] = runs
    fp = summary["fping"]
    for mode, label in (("check", "PingCheck ×10,000 (daemon path)"), ("sweep", "IcmpSweeper alone")):
        s = summary[mode]
        wall_ok = s["wall"] <= fp["wall"] + 1.0
        cpu_ratio = s["cpu_ms"] / fp["cpu_ms"] if fp["cpu_ms"] else None
        out.add(f"{label}: wall", s["wall"], "s", "fping", fp["wall"], fp["wall"] / s["wall"] if s["wall"] else None,
                "≤ fping + 1 s", wall_ok and s["correct"],
                note=f"{alive:,} live + {silent:,} silent, {COUNT} packets, "
                     f"{'all correct' if s['correct'] else 'WRONG up/down counts'}")
        out.add(f"{label}: CPU per target", s["cpu_ms"], "ms", "fping", fp["cpu_ms"],
                fp["cpu_ms"] / s["cpu_ms"] if s["cpu_ms"] else None, "≤ 3× fping",
                cpu_ratio is not None and cpu_ratio <= 3.0,
                note=f"ours / fping = {cpu_ratio:.2f}×" if cpu_ratio else "")
    out.notes.append(f"peer: {tool_version(['fping', '--version'])}; fping -q -c {COUNT} -p {PERIOD_MS} "
                     f"-t {TIMEOUT_MS} -i 0 -r 0; ours: datagram ICMP sockets inside the namespace "
                     "(ping_group_range set there only)")
    return out


if __name__ == "__main__":
    if "--worker" in sys.argv:
        ap = argparse.ArgumentParser()
        ap.add_argument("--worker", action="store_true")
        ap.add_argument("--mode", choices=["check", "sweep"], default="check")
        ap.add_argument("--targets", required=True)
        print(json.dumps(asyncio.run(_worker(ap.parse_args()))))
    else:
        ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        ap.add_argument("--repeat", type=int, default=3)
        ap.add_argument("--quick", action="store_true")
        o = run(ap.parse_args())
        print(json.dumps(o.to_json(), indent=1, default=str))
