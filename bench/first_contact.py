"""Benchmark 2 — first contact: the first polling cycle over N devices the process has never asked before
(1,000 and 10,000), then the second cycle, through the monitor's SNMP check (6-OID UPS profile, C=100 as
the scheduler's default concurrency). Debian snmpd serves every device on its own loopback address.

The prototype saw pysnmp's v3arch engine spend ≈ 20 ms CPU per new target at 1,000 targets, growing with the
target count (library-findings §6, §11); the backend uses v1arch for v1/v2c, which keeps no per-target state.
Target: the first cycle over 10,000 devices finishes within one 60 s interval. Bounded: one cycle each, a
child process per run with a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PROFILES, Outcome, SnmpdFleet, cpu_self, device_hosts, peak_rss_self, python, run_json

NAME = "first_contact"


async def _worker(args: argparse.Namespace) -> dict[str, Any]:
    from datetime import UTC, datetime

    from checks.profiles import ProfileCatalog
    from checks.resources import CheckResources
    from checks.snmp import SnmpCheck
    from monitor.domain import Device, DeviceKind, SnmpSpec, Status

    targets = [tuple(t) for t in json.loads(Path(args.targets).read_text())]
    resources = CheckResources(profiles=ProfileCatalog([PROFILES]), snmp_backend=args.backend,
                               snmp_concurrency=args.concurrency)
    limit = asyncio.Semaphore(args.concurrency)
    devices = [Device(id=f"d{i}", name=f"d{i}", kind=DeviceKind.UPS, address=h, confirm_down=1, confirm_up=1)
               for i, (h, _p) in enumerate(targets)]
    checks = [SnmpCheck(SnmpSpec(profile="ups-6oid", snmp={"version": "2c", "community": "public", "port": p},
                                 interval="60s", timeout="2s", retries=1), resources) for _h, p in targets]
    cycles = []
    for _cycle in range(2):
        errors: collections.Counter[str] = collections.Counter()

        async def one(i: int, errors: collections.Counter[str] = errors) -> None:
            async with limit:
                r = await checks[i].run(devices[i], now=datetime.now(UTC))
            if r.status is not Status.UP:
                errors[(r.reason or r.status.value)[:80]] += 1

        c0, w0 = cpu_self(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(len(targets))))
        cycles.append({"wall": time.perf_counter() - w0, "cpu": cpu_self() - c0, "errors": sum(errors.values()),
                       "error_kinds": dict(errors.most_common(3))})
    await resources.close()
    return {"devices": len(targets), "cycles": cycles, "peak_rss": peak_rss_self()}


def run(opts: argparse.Namespace) -> Outcome:
    out = Outcome(NAME)
    sizes = [1000, 10000] if not opts.quick else [1000, 3000]
    backends = ["pysnmp", "ezsnmp"]
    results: dict[tuple[str, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ektp-bench-fc-") as tmp:
        work = Path(tmp)
        hosts = device_hosts(max(sizes), second=3)
        with SnmpdFleet(hosts, full_ups=False, work_dir=work) as fleet:
            for n in sizes:
                tfile = work / f"targets-{n}.json"
                tfile.write_text(json.dumps([(h, fleet.port_of[h]) for h in hosts[:n]]))
                for backend in backends:
                    res = run_json([python(), __file__, "--worker", "--backend", backend, "--targets", str(tfile)],
                                   timeout=600)
                    results[(backend, n)] = res
                    c1, c2 = res["cycles"]
                    print(f"  {backend:7s} {n:6d} devices: cycle 1 {c1['wall']:6.1f} s wall {c1['cpu']:6.1f} s CPU "
                          f"({1000 * c1['cpu'] / n:.2f} ms/device, errors {c1['errors']}); cycle 2 {c2['wall']:5.1f} s "
                          f"wall {c2['cpu']:5.1f} s CPU", flush=True)
    for (backend, n), res in results.items():
        c1, c2 = res["cycles"]
        ok = c1["wall"] <= 60.0 and c1["errors"] == 0 if n >= 10000 else None
        out.add(f"{backend}: first cycle, {n:,} new devices", c1["wall"], "s wall", "second cycle", c2["wall"],
                None, "≤ 60 s at 10,000" if n >= 10000 else "", ok,
                note=f"CPU {c1['cpu']:.1f} s ({1000 * c1['cpu'] / n:.2f} ms/device) vs {c2['cpu']:.1f} s "
                     f"({1000 * c2['cpu'] / n:.2f} ms/device); errors {c1['errors']}/{c2['errors']}; "
                     f"peak RSS {res['peak_rss'] / 1e6:.0f} MB")
    out.details["results"] = {f"{b}/{n}": r for (b, n), r in results.items()}
    out.notes.append("first contact = a fresh process polling every device once (SnmpCheck, retries 1, timeout 2 s, "
                     "C=100); ezsnmp's first contact goes through pysnmp by design (devices join its lane after "
                     "answering 3 times), so its cycle 1 equals pysnmp's and cycle 2 is still mostly pysnmp")
    return out


if __name__ == "__main__":
    if "--worker" in sys.argv:
        ap = argparse.ArgumentParser()
        ap.add_argument("--worker", action="store_true")
        ap.add_argument("--backend", default="pysnmp")
        ap.add_argument("--targets", required=True)
        ap.add_argument("--concurrency", type=int, default=100)
        print(json.dumps(asyncio.run(_worker(ap.parse_args()))))
    else:
        ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        ap.add_argument("--quick", action="store_true")
        o = run(ap.parse_args())
        print(json.dumps(o.to_json(), indent=1, default=str))
