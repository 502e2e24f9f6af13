"""Benchmark 1 — SNMP poll throughput, steady state: a 6-OID UPS-MIB GET per device, v2c, 1,000 devices
served by Debian's snmpd on 1,000 loopback addresses.

Clients, each in its own process (clean CPU accounting), every device polled once before timing:

* ``ours-check/<backend>`` — the monitor's real path: :class:`checks.snmp.SnmpCheck` with the 6-OID
  profile (``bench/profiles/ups-6oid.yaml``: metrics, conditions, counters), C=100 like the scheduler;
  backends ``pysnmp`` (the default configuration) and ``ezsnmp`` (the best: the ``fast`` extra);
* ``ours-fetch/<backend>`` — the transport alone (``backend.fetch`` of the 6 OIDs, decoded values);
* ``snmpget`` — net-snmp's ``snmpget`` spawned once per device, 10 at a time (how Nagios-style checks and
  LibreNMS poll); CPU = the children's (the spawner's own CPU is reported apart);
* ``snmp_exporter`` — Debian's prometheus-snmp-exporter (Go) with a hand-written ``ups`` module, scraped
  over HTTP at C=100; CPU = the exporter's (the HTTP client's CPU is reported apart).

Figures: device-polls per second (wall), client CPU ms per poll, polls per CPU-second; medians of
``--repeat`` interleaved runs. ``--profile`` runs py-spy over the pysnmp and ezsnmp check runs and says
where the time goes. Bounded: at most ``--polls`` timed polls per run, every child under a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PROFILES,
    UPS6,
    Outcome,
    SnmpdFleet,
    cpu_children,
    cpu_of,
    cpu_self,
    device_hosts,
    med,
    python,
    ratio_higher,
    run_json,
    tool_version,
)

NAME = "snmp_throughput"
OIDS = [oid for oid, _k, _v in UPS6.values()]
EXPORTER_YML = """\
# hand-written for prometheus-snmp-exporter 0.21 (Debian ships no usable snmp.yml): the 6 UPS-MIB values
ups:
  version: 2
  auth:
    community: {community}
  timeout: 2s
  retries: 0
  get:
{gets}
  metrics:
{metrics}
"""


# ------------------------------------------------------------------------------------------- workers


async def _worker_ours(args: argparse.Namespace, targets: list[tuple[str, int]]) -> dict[str, Any]:
    from datetime import UTC, datetime

    from checks.profiles import ProfileCatalog
    from checks.resources import CheckResources
    from checks.snmp import SnmpCheck
    from checks.snmp_backend import SnmpTarget
    from monitor.domain import Device, DeviceKind, SnmpSpec, Status

    # the daemon's configuration: ezsnmp takes a device onto its lane after 3 answers (the warm-up rounds)
    resources = CheckResources(profiles=ProfileCatalog([PROFILES]), snmp_backend=args.backend,
                               snmp_concurrency=args.concurrency)
    limit = asyncio.Semaphore(args.concurrency)
    devices = [Device(id=f"d{i}", name=f"d{i}", kind=DeviceKind.UPS, address=h, confirm_down=1, confirm_up=1)
               for i, (h, _p) in enumerate(targets)]
    errors = collections.Counter[str]()
    if args.kind == "check":
        checks = [SnmpCheck(SnmpSpec(profile="ups-6oid", snmp={"version": "2c", "community": args.community,
                                                               "port": p},
                                     interval="60s", timeout="2s", retries=0), resources) for _h, p in targets]

        async def one(i: int) -> None:
            async with limit:
                r = await checks[i].run(devices[i], now=datetime.now(UTC))
            if r.status is not Status.UP:
                errors[r.reason or r.status.value] += 1
    else:
        from monitor.domain import SnmpCredentials

        backend = resources.snmp
        tg = [SnmpTarget(h, SnmpCredentials(version="2c", community=args.community, port=p), 2.0, 0)
              for h, p in targets]

        async def one(i: int) -> None:
            async with limit:
                reply = await backend.fetch(tg[i], OIDS, [])
            if reply.failure is not None or len(reply.scalars) != len(OIDS):
                errors[str(reply.failure)] += 1

    n = len(targets)
    for _ in range(3):                                               # warm-up: first contact excluded
        await asyncio.gather(*(one(i) for i in range(n)))
    errors.clear()
    backend_obj = resources.snmp
    agent0 = sum(cpu_of(p) for p in args.agent_pid)
    c0, w0 = cpu_self(), time.perf_counter()
    await asyncio.gather(*(one(i % n) for i in range(args.polls)))
    wall, cpu = time.perf_counter() - w0, cpu_self() - c0
    agent = sum(cpu_of(p) for p in args.agent_pid) - agent0
    counters = dict(getattr(backend_obj, "counters", {}))
    await resources.close()
    return {"polls": args.polls, "wall": wall, "cpu": cpu, "agent_cpu": agent, "errors": sum(errors.values()),
            "error_kinds": dict(errors.most_common(3)), "backend_counters": counters}


async def _worker_snmpget(args: argparse.Namespace, targets: list[tuple[str, int]]) -> dict[str, Any]:
    exe = shutil.which("snmpget") or "/usr/bin/snmpget"
    limit = asyncio.Semaphore(args.concurrency)
    errors = 0
    env = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}

    async def one(i: int) -> None:
        nonlocal errors
        host, port = targets[i % len(targets)]
        async with limit:
            proc = await asyncio.create_subprocess_exec(
                exe, "-v2c", "-c", args.community, "-On", "-t", "2", "-r", "0", f"{host}:{port}", *OIDS,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
            out, _err = await proc.communicate()
        if proc.returncode != 0 or out.count(b"\n") != len(OIDS):
            errors += 1

    await asyncio.gather(*(one(i) for i in range(min(50, len(targets)))))   # warm the page cache
    errors = 0
    agent0 = sum(cpu_of(p) for p in args.agent_pid)
    c0, k0, w0 = cpu_self(), cpu_children(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(args.polls)))
    wall = time.perf_counter() - w0
    return {"polls": args.polls, "wall": wall, "cpu": cpu_children() - k0, "spawner_cpu": cpu_self() - c0,
            "agent_cpu": sum(cpu_of(p) for p in args.agent_pid) - agent0, "errors": errors}


async def _worker_exporter(args: argparse.Namespace, targets: list[tuple[str, int]]) -> dict[str, Any]:
    import aiohttp

    limit = asyncio.Semaphore(args.concurrency)
    errors = 0
    base = f"http://127.0.0.1:{args.exporter_port}/snmp"
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def one(i: int) -> None:
            nonlocal errors
            host, port = targets[i % len(targets)]
            async with limit, http.get(base, params={"target": f"{host}:{port}", "module": "ups"}) as rsp:
                body = await rsp.text()
            if rsp.status != 200 or "\nupsOutputSource 3" not in body or "snmp_scrape_pdus_returned 6" not in body:
                errors += 1

        await asyncio.gather(*(one(i) for i in range(len(targets))))
        errors = 0
        agent0 = sum(cpu_of(p) for p in args.agent_pid)
        e0, c0, w0 = cpu_of(args.exporter_pid), cpu_self(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(args.polls)))
        wall = time.perf_counter() - w0
        return {"polls": args.polls, "wall": wall, "cpu": cpu_of(args.exporter_pid) - e0,
                "client_cpu": cpu_self() - c0, "agent_cpu": sum(cpu_of(p) for p in args.agent_pid) - agent0,
                "errors": errors}


def worker_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)           # check | fetch | snmpget | exporter
    ap.add_argument("--backend", default="pysnmp")
    ap.add_argument("--targets", type=Path, required=True)
    ap.add_argument("--community", default="public")
    ap.add_argument("--polls", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--agent-pid", type=int, action="append", default=[])
    ap.add_argument("--exporter-pid", type=int, default=0)
    ap.add_argument("--exporter-port", type=int, default=0)
    args = ap.parse_args(argv)
    args.polls = max(1, min(args.polls, 20000))
    args.kind = args.worker
    targets = [tuple(t) for t in json.loads(args.targets.read_text())]
    fn = {"check": _worker_ours, "fetch": _worker_ours, "snmpget": _worker_snmpget,
          "exporter": _worker_exporter}[args.worker]
    print(json.dumps(asyncio.run(fn(args, targets))))  # type: ignore[operator]


# ------------------------------------------------------------------------------------------- exporter


class Exporter:
    """prometheus-snmp-exporter on 127.0.0.1 with the hand-written module; stopped by its PID."""

    def __init__(self, work: Path, community: str) -> None:
        self.work = work
        self.yml = work / "snmp.yml"
        gets = "\n".join(f"  - {oid}" for oid in OIDS)
        metrics = "\n".join(f"  - name: {name}\n    oid: {oid.rsplit('.', 1)[0]}\n    type: gauge"
                            for name, (oid, _k, _v) in UPS6.items())
        self.yml.write_text(EXPORTER_YML.format(community=community, gets=gets, metrics=metrics))
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def dry_run(self) -> str:
        out = subprocess.run(["prometheus-snmp-exporter", f"--config.file={self.yml}", "--dry-run"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"snmp.yml refused by --dry-run: {out.stderr[-1000:]}")
        return (out.stderr or out.stdout).strip().splitlines()[-1] if (out.stderr or out.stdout).strip() else "ok"

    def start(self) -> Exporter:
        from monitor.sandbox import free_tcp_port, wait_until

        self.port = free_tcp_port()
        self.proc = subprocess.Popen(
            ["prometheus-snmp-exporter", f"--config.file={self.yml}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=error"], stdout=subprocess.DEVNULL, stderr=open(self.work / "exporter.log", "wb"))  # noqa: SIM115

        def up() -> bool:
            import urllib.request

            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        if not wait_until(up, 20, 0.1):
            self.stop()
            raise RuntimeError("snmp_exporter did not start: " + (self.work / "exporter.log").read_text()[-1000:])
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


# ------------------------------------------------------------------------------------------- profile


def summarize_profile(raw: Path) -> dict[str, Any]:
    """Self time by package and by function from py-spy's collapsed stacks."""
    by_pkg: collections.Counter[str] = collections.Counter()
    by_fn: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = stack.split(";")
        leaf = frames[-1] if frames else "?"
        total += count
        by_fn[leaf.split(" (")[0] + " (" + _short(leaf) + ")"] += count
        by_pkg[_package(leaf)] += count
    pct = {k: round(100.0 * v / total, 1) for k, v in by_pkg.most_common()} if total else {}
    top = [(k, round(100.0 * v / total, 1)) for k, v in by_fn.most_common(10)] if total else []
    return {"samples": total, "by_package": pct, "top_functions": top}


def _short(frame: str) -> str:
    inside = frame.split(" (", 1)[1].rstrip(")") if " (" in frame else ""
    path = inside.split(":")[0]
    return "/".join(path.split("/")[-2:])


def _package(frame: str) -> str:
    f = frame.lower()
    for key, label in (("pyasn1", "pyasn1 (BER codec)"), ("pysnmp", "pysnmp"), ("ezsnmp", "ezsnmp (net-snmp C)"),
                       ("asyncio", "asyncio event loop"), ("concurrent/futures", "thread pool"),
                       ("threading", "thread pool"), ("checks/expr", "profile evaluation"),
                       ("checks/profile", "profile evaluation"), ("checks/values", "profile evaluation"),
                       ("checks/snmp", "check + backend glue"), ("bench/", "benchmark harness"),
                       ("monitor/", "monitor core"), ("selectors", "asyncio event loop"), ("socket", "sockets")):
        if key in f:
            return label
    return "other (interpreter, stdlib)"


def profile_run(backend: str, targets_file: Path, agent_pids: list[int], polls: int, work: Path) -> dict[str, Any]:
    raw = work / f"profile-{backend}.txt"
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [spy, "record", "--rate", "200", "--format", "raw", "--output", str(raw), "--idle", "--",
            python(), __file__, "--worker", "check", "--backend", backend, "--targets", str(targets_file),
            "--polls", str(polls), *[a for p in agent_pids for a in ("--agent-pid", str(p))]]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    if proc.returncode != 0 or not raw.exists():
        return {"error": (proc.stderr or proc.stdout)[-500:]}
    summary = summarize_profile(raw)
    # idle samples (threads waiting) are kept out of the shares: what limits throughput is busy time
    return summary


# ------------------------------------------------------------------------------------------- main


def run(opts: argparse.Namespace) -> Outcome:
    out = Outcome(NAME)
    n = 1000
    polls = max(100, min(opts.polls, 20000))
    repeat = max(1, opts.repeat)
    with tempfile.TemporaryDirectory(prefix="ektp-bench-snmp-") as tmp:
        work = Path(tmp)
        hosts = device_hosts(n, second=2)
        with SnmpdFleet(hosts, full_ups=False, work_dir=work) as fleet:
            targets = [(h, fleet.port_of[h]) for h in hosts]
            tfile = work / "targets.json"
            tfile.write_text(json.dumps(targets))
            agents = [a for p in fleet.pids for a in ("--agent-pid", str(p))]
            exporter = Exporter(work, "public")
            out.details["exporter_dry_run"] = exporter.dry_run()
            exporter.start()
            try:
                runs: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
                plan = [("pysnmp check", ["--worker", "check", "--backend", "pysnmp"], polls),
                        ("ezsnmp check", ["--worker", "check", "--backend", "ezsnmp"], polls),
                        ("pysnmp fetch", ["--worker", "fetch", "--backend", "pysnmp"], polls),
                        ("ezsnmp fetch", ["--worker", "fetch", "--backend", "ezsnmp"], polls),
                        ("snmpget", ["--worker", "snmpget", "--concurrency", "10"], max(200, polls // 3)),
                        ("snmp_exporter", ["--worker", "exporter", "--exporter-pid", str(exporter.proc.pid),  # type: ignore[union-attr]
                                           "--exporter-port", str(exporter.port)], polls)]
                for _ in range(repeat):
                    for label, argv, count in plan:
                        res = run_json([python(), __file__, *argv, "--targets", str(tfile), "--polls", str(count),
                                        *agents], timeout=600)
                        runs[label].append(res)
                        print(f"  {label:14s} {res['polls'] / res['wall']:8.0f} polls/s  "
                              f"{1000 * res['cpu'] / res['polls']:6.3f} ms CPU/poll  errors {res['errors']}",
                              flush=True)
            finally:
                exporter.stop()
            if opts.profile:
                for backend in ("pysnmp", "ezsnmp"):
                    out.details[f"profile_{backend}"] = profile_run(backend, tfile, fleet.pids, polls, work)
    summary = {}
    for label, results in runs.items():
        pps = med([r["polls"] / r["wall"] for r in results])
        cpu_ms = med([1000 * r["cpu"] / r["polls"] for r in results])
        summary[label] = {"polls_s": pps, "cpu_ms": cpu_ms, "per_cpu_s": 1000.0 / cpu_ms if cpu_ms else None,
                          "errors": sum(r["errors"] for r in results),
                          "agent_ms": med([1000 * r["agent_cpu"] / r["polls"] for r in results]),
                          "extra_ms": med([1000 * r.get("spawner_cpu", r.get("client_cpu", 0.0)) / r["polls"]
                                           for r in results])}
    out.details["summary"] = summary
    out.details["runs"] = runs
    sg, ex = summary["snmpget"], summary["snmp_exporter"]
    for label in ("pysnmp check", "ezsnmp check", "pysnmp fetch", "ezsnmp fetch"):
        s = summary[label]
        out.add(f"{label}: polls/s", s["polls_s"], "polls/s", "snmpget", sg["polls_s"],
                ratio_higher(s["polls_s"], sg["polls_s"]), note=f"errors {s['errors']}")
        out.add(f"{label}: CPU per poll", s["cpu_ms"], "ms", "snmp_exporter", ex["cpu_ms"],
                ratio_higher(ex["cpu_ms"], s["cpu_ms"]),
                note=f"exporter + its HTTP client: {ex['cpu_ms'] + ex['extra_ms']:.3f} ms")
    default = summary["pysnmp check"]
    r1 = ratio_higher(default["per_cpu_s"], sg["per_cpu_s"])
    out.add("default (pysnmp) polls per CPU-second vs spawned snmpget", default["per_cpu_s"], "polls/CPU-s",
            "snmpget", sg["per_cpu_s"], r1, "≥ 3×", r1 is not None and r1 >= 3.0,
            note=f"snmpget spawner adds {sg['extra_ms']:.2f} ms/poll (not counted)")
    best = summary["ezsnmp check"]
    r2 = ratio_higher(best["per_cpu_s"], ex["per_cpu_s"])
    out.add("best (ezsnmp) polls per CPU-second vs snmp_exporter", best["per_cpu_s"], "polls/CPU-s",
            "snmp_exporter", ex["per_cpu_s"], r2, "≥ 1.0×", r2 is not None and r2 >= 1.0,
            note="exporter CPU only; with its HTTP client: "
                 f"{ratio_higher(best['per_cpu_s'], 1000.0 / (ex['cpu_ms'] + ex['extra_ms'])):.2f}×")
    fetch = summary["ezsnmp fetch"]
    r3 = ratio_higher(fetch["per_cpu_s"], ex["per_cpu_s"])
    out.add("ezsnmp transport alone (fetch) per CPU-second vs snmp_exporter", fetch["per_cpu_s"], "polls/CPU-s",
            "snmp_exporter", ex["per_cpu_s"], r3, note="the layer the exporter does: GET + decoded values")
    out.notes.append("snmpd agent CPU per poll (median): " + ", ".join(
        f"{k} {v['agent_ms']:.2f} ms" for k, v in summary.items()))
    out.notes.append(f"peers: {tool_version(['snmpget', '--version'])}; "
                     f"{tool_version(['prometheus-snmp-exporter', '--version'])}")
    return out


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--polls", type=int, default=3000, help="timed polls per client run (default 3000)")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker_main(sys.argv[1:])
    else:
        ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        add_arguments(ap)
        ap.add_argument("--repeat", type=int, default=3)
        ap.add_argument("--profile", action="store_true")
        o = run(ap.parse_args())
        print(json.dumps(o.to_json(), indent=1, default=str))
