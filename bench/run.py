"""The benchmark suite (issue 8): ``python bench/run.py [NAME ...] [--full] [--quick] [--repeat N]``.

Runs the named benchmarks (default: all, in the order below, about 15 minutes on 2 cores), prints one
table — our figure, the peer's figure in the same run, the ratio (> 1 = we are better), the target and
whether it is met — and writes it with the machine, the load average and the details to
``bench/results/latest.md`` (and ``latest.json``). Benchmarks are not tests: nothing here asserts.
Network safety: loopback and namespaces the benchmarks create (and delete) only.

Names: engine_round, snmp_throughput, first_contact, ping_sweep, soak, detection, reports, backlog, trap_flood,
hub_ingest.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH, Outcome, Row, loadavg, machine, tool_version

ORDER = ["engine_round", "snmp_throughput", "first_contact", "ping_sweep", "soak", "detection", "reports",
         "backlog", "trap_flood", "hub_ingest"]
TITLES = {
    "engine_round": "0. Engine + recorder round (no peer)",
    "snmp_throughput": "1. SNMP poll throughput (6-OID GET, v2c, 1,000 devices on snmpd)",
    "first_contact": "2. First contact (first cycle over new devices)",
    "ping_sweep": "3. Ping sweep (10,000 targets, 10 % silent, 3 packets)",
    "soak": "4. Scale soak through `ektp-monitor run`",
    "detection": "5. Detection latency (to the local Bot API server)",
    "reports": "6. Weekly report PDF",
    "backlog": "7. Backlog after a day offline (20 msg/min per chat enforced)",
    "trap_flood": "8. Trap flood from strangers vs polling (10,000 × 60 KB datagrams/s)",
    "hub_ingest": "9. National hub: a backlog drained into PostgreSQL over HTTPS (no peer)",
}


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "–"
    if abs(v) >= 1000:
        text = f"{v:,.0f}"
    elif abs(v) >= 100:
        text = f"{v:.0f}"
    elif abs(v) >= 10:
        text = f"{v:.1f}"
    elif abs(v) >= 1:
        text = f"{v:.2f}"
    else:
        text = f"{v:.3f}"
    return f"{text} {unit}".strip()


def _verdict(ok: bool | None) -> str:
    return {True: "✅ met", False: "❌ NOT met", None: ""}[ok]


def table(rows: list[Row]) -> list[str]:
    lines = ["| benchmark | figure | ours | peer | peer's figure | ratio | target | |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else ""
        lines.append(f"| {r.bench} | {r.metric} | {_fmt(r.ours, r.unit)} | {r.peer} | "
                     f"{_fmt(r.peer_value, r.unit) if r.peer_value is not None else ''} | {ratio} | {r.target} | "
                     f"{_verdict(r.ok)} |")
    return lines


def console(rows: list[Row]) -> str:
    out = []
    for r in rows:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        peer = f"{r.peer} {_fmt(r.peer_value, r.unit)}" if r.peer else ""
        out.append(f"{r.bench:16.16s} {r.metric[:62]:62s} {_fmt(r.ours, r.unit):>16s}  {peer:28.28s} {ratio:>7s}  "
                   f"{r.target:22.22s} {_verdict(r.ok)}")
    return "\n".join(out)


def write_results(outcomes: list[Outcome], meta: dict[str, Any], path: Path) -> None:
    rows = [r for o in outcomes for r in o.rows]
    m = meta["machine"]
    lines = ["# Benchmark results", "",
             f"Run {meta['started']} – {meta['finished']} (UTC): "
             f"`{' '.join(['python bench/run.py', *meta['argv']])}`",
             "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_mb'] / 1024:.0f} GiB, {m['os']}, kernel "
             f"{m['kernel']}, Python {m['python']}. Shared with other developers: load average (1/5/15 min) "
             f"{' / '.join(f'{x:.2f}' for x in meta['load_start'])} at the start, "
             f"{' / '.join(f'{x:.2f}' for x in meta['load_end'])} at the end "
             "(per benchmark below). Medians of repeated interleaved runs where it says so.", "",
             f"Peers: {meta['peers']}", "", "## Summary", "", *table(rows), ""]
    for o in outcomes:
        lines += [f"## {TITLES.get(o.name, o.name)}", ""]
        load = o.details.get("_load")
        if load:
            lines.append(f"Load average during this benchmark: {load[0]:.2f} → {load[1]:.2f}; "
                         f"{o.details.get('_seconds', 0):.0f} s.")
            lines.append("")
        lines += [*table(o.rows), ""]
        for note in o.notes:
            lines.append(f"* {note}")
        for key in ("profile_pysnmp", "profile_ezsnmp"):
            prof = o.details.get(key)
            if prof and prof.get("by_package"):
                shares = ", ".join(f"{k} {v}%" for k, v in list(prof["by_package"].items())[:8])
                top = "; ".join(f"{k} {v}%" for k, v in prof.get("top_functions", [])[:6])
                lines.append(f"* py-spy, {key.split('_')[1]} check run ({prof['samples']} samples, self time): "
                             f"{shares}. Top functions: {top}")
        nat = o.details.get("national", {})
        if nat.get("profile", {}).get("by_package"):
            prof = nat["profile"]
            lines.append("* py-spy on the national daemon, 60 s of steady state (self time): " + ", ".join(
                f"{k} {v}%" for k, v in list(prof["by_package"].items())[:8]) + ". Top functions: " + "; ".join(
                f"{k} {v}%" for k, v in prof.get("top_functions", [])[:6]))
        lines.append("")
    full = meta.get("soak_full")
    if full:
        lines += ["## 4b. Full-length soak (`python bench/soak.py --full`, the last one run)", "",
                  f"Run at {time.strftime('%Y-%m-%d %H:%M', time.gmtime(full.get('when', 0)))} UTC; load average at "
                  f"its end {' / '.join(f'{x:.2f}' for x in full.get('load_end', []))}.", "",
                  *table([Row(**r) for r in full["rows"]]), ""]
        for note in full.get("notes", []):
            lines.append(f"* {note}")
        prof = full.get("details", {}).get("national", {}).get("profile", {})
        if prof.get("by_package"):
            lines.append("* py-spy on the national daemon, 60 s of steady state (self time): " + ", ".join(
                f"{k} {v}%" for k, v in list(prof["by_package"].items())[:8]) + ". Top functions: " + "; ".join(
                f"{k} {v}%" for k, v in prof.get("top_functions", [])[:6]))
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(ORDER)}")
    ap.add_argument("--full", action="store_true", help="the soak at full length (10 + 10 minutes)")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run, not the issue's figures)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repetitions where a benchmark repeats (3)")
    ap.add_argument("--no-profile", dest="profile", action="store_false", help="skip the py-spy profiles")
    ap.add_argument("--polls", type=int, default=2000, help="timed polls per SNMP client run")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "latest.md")
    args = ap.parse_args(argv)
    names = args.names or ORDER
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    meta: dict[str, Any] = {"argv": argv if argv is not None else sys.argv[1:], "machine": machine(),
                            "load_start": loadavg(),
                            "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                            "peers": "; ".join([tool_version(["snmpget", "--version"]),
                                                tool_version(["prometheus-snmp-exporter", "--version"]).split(" (")[0],
                                                tool_version(["fping", "--version"])])}
    outcomes: list[Outcome] = []
    failed: list[str] = []
    for name in names:
        print(f"== {TITLES[name]}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        load0, t0 = loadavg()[0], time.monotonic()
        try:
            outcome: Outcome = module.run(args)
        except KeyboardInterrupt:
            print("interrupted: clean-ups ran (namespaces and child processes are gone)", file=sys.stderr)
            return 130
        except Exception as exc:
            traceback.print_exc()
            failed.append(name)
            outcome = Outcome(name)
            outcome.add("benchmark failed", None, note=f"{type(exc).__name__}: {str(exc)[:300]}", ok=False)
        outcome.details["_load"] = (load0, loadavg()[0])
        outcome.details["_seconds"] = time.monotonic() - t0
        outcomes.append(outcome)
        print(console(outcome.rows), flush=True)
    meta["load_end"] = loadavg()
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    full_path = BENCH / "results" / "soak-full.json"
    if full_path.exists():
        meta["soak_full"] = json.loads(full_path.read_text())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_results(outcomes, meta, args.out)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "outcomes": [o.to_json() for o in outcomes]},
                                                        indent=1, default=str))
    print("\n== summary\n" + console([r for o in outcomes for r in o.rows]))
    print(f"\nwritten: {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
