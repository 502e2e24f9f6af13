"""Benchmark 4 — scale soak through the real daemon (``ektp-monitor run``) on SQLite.

* **national scale**: 10,000 devices (200 offices × 50), each with a ping and an SNMP check (the 6-OID UPS
  profile of benchmark 1) every 60 s, on 10,000 loopback addresses served by Debian snmpd; the best
  configuration (``monitor.snmp_backend: ezsnmp``, ``concurrency: 500``, first runs spread over the whole
  interval: ``jitter: 60s``). Targets: every device checked every interval (lateness p99 < 5 s), CPU ≤ 30 %
  of one core after the first cycle, RSS ≤ 500 MB; database growth per day extrapolated.
* **small office**: 50 devices (router, switch, UPS units on the RFC 1628 profile, servers and workstations)
  with the default configuration and Telegram on (the local Bot API server), so the alert components run
  too. Targets: RSS ≤ 150 MB, CPU ≤ 1 %.

The daemon is a child process (started and stopped by its PID); CPU and RSS are sampled from /proc every
5 s; lateness, missed intervals and growth come from the database afterwards. Lateness of a run k of a
check = its tick time − (its first tick + k × interval): the scheduler keeps each job on its own grid, so
anything but 0 is delay. Default length: 3 min (national) and 2 min (office); ``--full`` runs 10 minutes
each (and keeps its result in bench/results/soak-full.json for bench/run.py). ``--profile`` attaches
py-spy to the national daemon for a minute of its steady state.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PROFILES,
    ROOT,
    Outcome,
    SnmpdFleet,
    bot_api_server,
    cpu_of,
    device_hosts,
    rss_of,
    stop_process,
)

NAME = "soak"
INTERVAL = 60.0


# ------------------------------------------------------------------------------------------------ configs


def national_config(db: Path, fleet: SnmpdFleet, hosts: list[str], per_site: int = 50) -> str:
    lines = [f'database: {{url: "sqlite:///{db}"}}', "telegram: {enabled: false}",
             f"profile_dirs: [{json.dumps(str(PROFILES))}]",
             "defaults: {interval: 60s, timeout: 2s, retries: 1, confirm_down: 3, confirm_up: 2}",
             "monitor: {snmp_backend: ezsnmp, concurrency: 500, jitter: 60s, log_level: WARNING}",
             "sites:"]
    for s in range(0, len(hosts), per_site):
        lines.append(f"  - id: kab-{s // per_site:03d}\n    name: \"Disdukcapil {s // per_site:03d}\"\n    devices:")
        for i, host in enumerate(hosts[s:s + per_site]):
            lines.append(f"      - {{id: ups-{i:02d}, name: UPS {i:02d}, kind: ups, address: {host}, checks: "
                         f"[{{type: ping}}, {{type: snmp, profile: ups-6oid, snmp: {{community: public, "
                         f"port: {fleet.port_of[host]}}}}}]}}")
    return "\n".join(lines) + "\n"


def office_config(db: Path, fleet: SnmpdFleet, hosts: list[str], api_url: str) -> str:
    """A 50-device office: the default configuration (pysnmp, concurrency 100), Telegram on."""
    devs = [f"      - {{id: router, name: Router VPN, kind: router, address: {hosts[0]}, checks: [{{type: ping}}]}}",
            f"      - {{id: switch, name: Switch, kind: switch, address: {hosts[1]}, depends_on: [router], "
            f"checks: [{{type: ping}}]}}"]
    for i in range(2, 6):
        devs.append(f"      - {{id: ups-{i}, name: UPS {i}, kind: ups, address: {hosts[i]}, depends_on: [switch], "
                    f"checks: [{{type: ping}}, {{type: snmp, profile: ups-rfc1628, snmp: {{community: public, "
                    f"port: {fleet.port_of[hosts[i]]}}}}}]}}")
    for i in range(6, 10):
        devs.append(f"      - {{id: srv-{i}, name: Server {i}, kind: recording_server, address: {hosts[i]}, "
                    f"depends_on: [switch], powered_by: ups-2, checks: [{{type: ping}}]}}")
    for i in range(10, 50):
        devs.append(f"      - {{id: ws-{i}, name: Workstation {i}, kind: workstation, address: {hosts[i]}, "
                    f"depends_on: [switch], checks: [{{type: ping}}]}}")
    return (f'database: {{url: "sqlite:///{db}"}}\n'
            f'telegram:\n  bot_token: "100000001:bench-token-local-sandbox"\n  api_base_url: "{api_url}"\n'
            "  audiences: {ministry_liaison: {chat_id: -1009000000003}}\n"
            "monitor: {log_level: WARNING}\n"
            "sites:\n  - id: kantor\n    name: Disdukcapil Kab. Contoh\n"
            "    audiences: {it_staff: {chat_id: -1001001}, head_of_office: {chat_id: -1001002}}\n"
            "    devices:\n" + "\n".join(devs) + "\n")


# ------------------------------------------------------------------------------------------------ run


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "monitor.cli", *args]


def _db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def soak(cfg: Path, db: Path, seconds: float, *, steady_after: float, profile: Path | None = None,
         log: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(_cli("db", "upgrade", "-c", str(cfg)), check=True, capture_output=True, timeout=120, env=env,
                   cwd=ROOT)
    with open(log, "wb") as out:
        proc = subprocess.Popen(_cli("run", "-c", str(cfg)), stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=ROOT)
    samples: list[tuple[float, float, int, int]] = []   # (t, cpu s, rss B, db B)
    spy: subprocess.Popen[bytes] | None = None
    t0 = time.monotonic()
    started_wall = time.time()
    try:
        while True:
            t = time.monotonic() - t0
            if proc.poll() is not None:
                raise RuntimeError(f"the daemon exited early (rc {proc.returncode}):\n"
                                   + log.read_text(errors="replace")[-3000:])
            samples.append((t, cpu_of(proc.pid), rss_of(proc.pid), _db_bytes(db)))
            if profile is not None and spy is None and t >= steady_after + 5:
                spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(proc.pid),
                                        "--duration", "60",
                                        "--rate", "100", "--format", "raw", "--output", str(profile), "--nonblocking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if t >= seconds:
                break
            time.sleep(min(5.0, seconds - t + 0.01))
    finally:
        stop_process(proc, 60)
        if spy is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(70)
            if spy.poll() is None:
                spy.terminate()
    steady = [s for s in samples if s[0] >= steady_after]
    cpu_pct = None
    growth = None
    if len(steady) >= 2:
        (ta, ca, _ra, da), (tb, cb, _rb, dbb) = steady[0], steady[-1]
        cpu_pct = 100.0 * (cb - ca) / (tb - ta)
        growth = (dbb - da) / (tb - ta) * 86400.0
    return {"samples": samples, "cpu_pct_steady": cpu_pct, "rss_max": max(s[2] for s in samples),
            "rss_end": samples[-1][2], "db_growth_per_day": growth, "db_end": _db_bytes(db),
            "started_wall": started_wall, "seconds": seconds, "steady_after": steady_after,
            "log_tail": log.read_text(errors="replace")[-1500:]}


def lateness(db: Path, *, end_wall: float, skip_first: bool = True) -> dict[str, Any]:
    """Per (device, check) series: runs that are late against the series' own grid, and missed runs."""
    con = sqlite3.connect(str(db))
    try:
        rows = con.execute("SELECT device_id, \"check\", time FROM check_samples ORDER BY device_id, \"check\", time")
        series: dict[tuple[int, str], list[float]] = {}
        for dev, check, t in rows:
            series.setdefault((dev, check), []).append(datetime.fromisoformat(str(t)).replace(tzinfo=UTC).timestamp())
        counts = dict(con.execute("SELECT status, count(*) FROM check_samples GROUP BY status").fetchall())
        reasons = dict(con.execute("SELECT substr(coalesce(reason, ''), 1, 60), count(*) FROM check_samples "
                                   "WHERE status != 'up' GROUP BY 1 ORDER BY 2 DESC LIMIT 5").fetchall())
        n_rows = con.execute("SELECT count(*) FROM check_samples").fetchone()[0]
    finally:
        con.close()
    late: list[float] = []
    missed = 0
    expected_total = 0
    for times in series.values():
        first = times[0]
        # each job runs on its own grid (start + k × interval); its offset on that grid is the earliest run
        # seen (a late first run must not make the punctual later ones look early)
        offsets = [t - round((t - first) / INTERVAL) * INTERVAL for t in times]
        grid = min(offsets)
        late.extend(o - grid for o in (offsets[1:] if skip_first else offsets))
        expected = int((end_wall - 5.0 - grid) // INTERVAL) + 1
        expected_total += max(expected, 1)
        missed += max(0, expected - len(times))
    late.sort()
    def p(q: float) -> float | None:   # nearest rank
        return late[max(0, math.ceil(q * len(late)) - 1)] if late else None
    return {"series": len(series), "samples": n_rows, "by_status": counts, "not_up_reasons": reasons,
            "late_n": len(late),
            "late_p50": p(0.50), "late_p99": p(0.99), "late_max": late[-1] if late else None,
            "missed": missed, "expected": expected_total}


def _summarize_profile(raw: Path) -> dict[str, Any]:
    from bench.snmp_throughput import summarize_profile

    if not raw.exists():
        return {}
    return summarize_profile(raw)


def run(opts: argparse.Namespace) -> Outcome:
    out = Outcome(NAME)
    full = getattr(opts, "full", False)
    n = 10000 if not opts.quick else 2000
    big_s = 600.0 if full else 180.0
    office_s = 600.0 if full else 120.0
    if getattr(opts, "seconds", None):
        big_s = office_s = float(opts.seconds)
    with tempfile.TemporaryDirectory(prefix="ektp-bench-soak-") as tmp:
        work = Path(tmp)
        hosts = device_hosts(n, second=4)
        with SnmpdFleet(hosts, full_ups=True, work_dir=work) as fleet:
            db = work / "national.db"
            cfg = work / "national.yaml"
            cfg.write_text(national_config(db, fleet, hosts))
            prof = work / "soak-profile.txt" if opts.profile else None
            print(f"  national: {n:,} devices × (ping + SNMP) for {big_s / 60:.0f} min …", flush=True)
            agent0 = fleet.cpu()
            big = soak(cfg, db, big_s, steady_after=90.0, profile=prof, log=work / "national.log")
            big["agent_cpu_pct"] = 100.0 * (fleet.cpu() - agent0) / big_s
            big["lateness"] = lateness(db, end_wall=big["started_wall"] + big_s)
            if prof is not None:
                big["profile"] = _summarize_profile(prof)
            _print(big, "national")
            # the small office
            with bot_api_server(work) as info:
                odb = work / "office.db"
                ocfg = work / "office.yaml"
                ocfg.write_text(office_config(odb, fleet, hosts[:50], info["url"]))
                print(f"  office: 50 devices for {office_s / 60:.0f} min …", flush=True)
                office = soak(ocfg, odb, office_s, steady_after=75.0, log=work / "office.log")
                office["lateness"] = lateness(odb, end_wall=office["started_wall"] + office_s)
                _print(office, "office")
    lat = big["lateness"]
    every = lat["missed"] == 0
    out.add(f"national {n:,} devices: lateness p99", lat["late_p99"], "s", target="< 5 s, none missed",
            ok=lat["late_p99"] is not None and lat["late_p99"] < 5.0 and every,
            note=f"p50 {lat['late_p50']:.2f} s, max {lat['late_max']:.2f} s; {lat['late_n']:,} runs after the "
                 f"first; missed {lat['missed']} of {lat['expected']:,} expected")
    out.add(f"national {n:,} devices: CPU after the first cycle", big["cpu_pct_steady"], "% of one core",
            target="≤ 30 %", ok=big["cpu_pct_steady"] is not None and big["cpu_pct_steady"] <= 30.0,
            note=f"snmpd agents used {big['agent_cpu_pct']:.1f} % (not counted)")
    out.add(f"national {n:,} devices: RSS (max)", big["rss_max"] / 1e6, "MB", target="≤ 500 MB",
            ok=big["rss_max"] <= 500e6)
    growth = big["db_growth_per_day"]
    out.add(f"national {n:,} devices: database growth", growth / 1e9 if growth else None, "GB/day",
            note=f"{lat['samples']:,} samples in {big_s / 60:.0f} min; database {big['db_end'] / 1e6:.0f} MB at the "
                 "end; raw samples kept sample_retention_days (30) then rolled up hourly")
    olat = office["lateness"]
    out.add("office 50 devices: RSS (max)", office["rss_max"] / 1e6, "MB", target="≤ 150 MB",
            ok=office["rss_max"] <= 150e6)
    out.add("office 50 devices: CPU", office["cpu_pct_steady"], "% of one core", target="≤ 1 %",
            ok=office["cpu_pct_steady"] is not None and office["cpu_pct_steady"] <= 1.0,
            note=f"lateness p99 {olat['late_p99'] or 0:.2f} s, missed {olat['missed']}; Telegram on (local server)")
    out.details["national"] = {k: v for k, v in big.items() if k != "samples"}
    out.details["national_samples"] = big["samples"][::3]
    out.details["office"] = {k: v for k, v in office.items() if k != "samples"}
    out.notes.append(f"length: national {big_s / 60:.0f} min, office {office_s / 60:.0f} min "
                     f"({'--full' if full else 'default; --full runs 10 min each'}); steady state from 90 s / 75 s")
    return out


def _print(res: dict[str, Any], label: str) -> None:
    lat = res["lateness"]
    print(f"  {label}: CPU {res['cpu_pct_steady']:.1f} % | RSS max {res['rss_max'] / 1e6:.0f} MB | lateness p50 "
          f"{lat['late_p50'] or 0:.2f} s p99 {lat['late_p99'] or 0:.2f} s max {lat['late_max'] or 0:.2f} s | missed "
          f"{lat['missed']}/{lat['expected']} | db growth {(res['db_growth_per_day'] or 0) / 1e9:.2f} GB/day | "
          f"statuses {lat['by_status']}", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="10 minutes each (default 3 + 2)")
    ap.add_argument("--quick", action="store_true", help="2,000 devices instead of 10,000")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--seconds", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    o = run(args)
    from bench.common import BENCH, loadavg, machine

    doc = {**o.to_json(), "machine": machine(), "load_end": loadavg(), "full": args.full, "when": time.time()}
    if args.full:   # kept for bench/run.py, which shows the last full-length soak next to the suite's short one
        (BENCH / "results").mkdir(exist_ok=True)
        (BENCH / "results" / "soak-full.json").write_text(json.dumps(doc, indent=1, default=str))
    print(json.dumps(doc, indent=1, default=str))
    _ = statistics
