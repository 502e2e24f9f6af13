"""``ektp-monitor check -c FILE [--device ID] [--json]``: one round of every check, now.

No database is needed or touched. Every check runs concurrently (bounded by ``monitor.concurrency``),
each under an overall time limit. Output is a table, or with ``--json`` one object per line::

    {"site": "mura", "device": "ups-1", "check": "snmp:auto", "profile": "ups-rfc1628+env-xups",
     "status": "degraded", "reason": "on battery", "metrics": {"ups.status": "OB", ...},
     "time": "2026-11-28T08:00:00Z", "type": "snmp", "reason_code": "condition", "units": {...},
     "duration_s": 0.02, "observations": [{"kind": "on_battery", "text": "...", "values": {...}}],
     "profile_why": "auto: ups-rfc1628 (upsBatteryStatus, upsOutputSource answer) + env-xups (...)",
     "ignored": {"battery.runtime": "not available (the device's placeholder 4294967295)"},
     "adjusted": {"input.voltage": "2313 read as 231.3 V (...)"}}

``profile`` is the profile(s) that read the device (``base+extension``); ``profile_why`` how they were
chosen; ``ignored`` the values dropped as untrustworthy (metric -> reason); ``adjusted`` unit corrections.

The first eight fields are the contract; the others may grow. Exit codes: 0 every check ran (whatever
the statuses), 1 a check could not run (our side failed or ICMP is not permitted), 2 bad config or an
unknown ``--device``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from monitor.app import build_check_resources, build_checks, load_config
from monitor.domain import (
    Check,
    CheckResult,
    CheckSpec,
    Device,
    DeviceRef,
    ReasonCode,
    Status,
    jsonable,
)
from monitor.errors import CheckSetupError
from monitor.logs import setup_logging
from monitor.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def main(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    setup_logging("WARNING", settings.secrets)
    refs = chosen_devices(settings, args.device, "check")
    if refs is None:
        return EXIT_CONFIG
    rows, ran_all = asyncio.run(run_round(settings, refs))
    if args.json:
        write_json(rows, sys.stdout)
    else:
        write_table(rows, sys.stdout)
    return EXIT_OK if ran_all else EXIT_FAILED


def chosen_devices(settings: Settings, wanted: list[str], command: str) -> list[DeviceRef] | None:
    """The devices ``--device`` names (all when none), or None after telling stderr which names match nothing."""
    refs, unknown = select_devices(settings, wanted)
    for name in unknown:
        print(f"ektp-monitor {command}: no device {name!r} in {settings.source} "
              "(use ID, or SITE/ID when several sites have it)", file=sys.stderr)
    return None if unknown else refs


def select_devices(settings: Settings, wanted: list[str]) -> tuple[list[DeviceRef], list[str]]:
    """``--device`` values (ID or SITE/ID) -> refs, and the names that match nothing."""
    every = [DeviceRef(site.id, dev.id) for site, dev in settings.iter_devices()]
    if not wanted:
        return every, []
    chosen: list[DeviceRef] = []
    unknown: list[str] = []
    for name in wanted:
        site, _, dev = name.rpartition("/")
        found = [r for r in every if r.device == dev and (not site or r.site == site)]
        if not found:
            unknown.append(name)
        chosen += [r for r in found if r not in chosen]
    return chosen, unknown


def _limit(spec: CheckSpec) -> float:
    """Overall seconds one check may take here (the daemon's runner owns this in the daemon)."""
    per_try = spec.timeout.total_seconds()
    return per_try * (spec.retries + 1) * 3 + 5.0


async def run_round(settings: Settings, refs: list[DeviceRef]) -> tuple[list[tuple[DeviceRef, CheckResult]], bool]:
    """Run every enabled check of ``refs`` once; results in config order. True when all of them ran."""
    now = datetime.now(UTC).replace(microsecond=0)
    resources = build_check_resources(settings)
    setup_errors: dict[tuple[DeviceRef, str], CheckSetupError] = {}
    ran_all = True
    try:
        checks = build_checks(settings, resources, devices=refs,
                              on_setup_error=lambda ref, key, exc: setup_errors.__setitem__((ref, key), exc))
        if setup_errors:
            print(f"ektp-monitor check: {next(iter(setup_errors.values()))}", file=sys.stderr)
            ran_all = False
        limit = asyncio.Semaphore(max(1, settings.monitor.concurrency))
        jobs: list[tuple[DeviceRef, CheckSpec, Device]] = []
        for ref in refs:
            dev = settings.device(ref)
            jobs += [(ref, spec, dev) for spec in dev.checks if spec.enabled]

        async def one(ref: DeviceRef, spec: CheckSpec, dev: Device) -> tuple[CheckResult, bool]:
            error = setup_errors.get((ref, spec.key))
            if error is not None:
                return _failed(spec, now, str(error)), False
            check: Check = checks[(ref, spec.key)]
            async with limit:
                start = time.monotonic()
                try:
                    return await asyncio.wait_for(check.run(dev, now=now), _limit(spec)), True
                except TimeoutError:
                    return _failed(spec, now, f"the check did not finish within {_limit(spec):.0f}s",
                                   time.monotonic() - start), False
                except Exception as exc:  # a bug on our side must not hide the other results
                    return _failed(spec, now, f"the check failed on our side: {type(exc).__name__}: {exc}",
                                   time.monotonic() - start), False

        outcomes = await asyncio.gather(*(one(ref, spec, dev) for ref, spec, dev in jobs))
    finally:
        await resources.close()
    rows = []
    for (ref, _spec, _dev), (result, ok) in zip(jobs, outcomes, strict=True):
        rows.append((ref, result))
        ran_all = ran_all and ok
    return rows, ran_all


def _failed(spec: CheckSpec, now: datetime, reason: str, duration: float = 0.0) -> CheckResult:
    return CheckResult(check=spec.key, type=spec.type, status=Status.UNKNOWN, time=now, duration_s=round(duration, 3),
                       reason=reason, reason_code=ReasonCode.CHECK_ERROR,
                       profile=getattr(spec, "profile", None))


def result_record(ref: DeviceRef, result: CheckResult) -> dict[str, Any]:
    """The JSON object of one result (contract fields first)."""
    return {
        "site": ref.site,
        "device": ref.device,
        "check": result.check,
        "profile": result.profile,
        "status": result.status.value,
        "reason": result.reason,
        "metrics": jsonable(result.metrics),
        "time": jsonable(result.time),
        "type": result.type,
        "reason_code": result.reason_code.value if result.reason_code else None,
        "units": dict(result.units),
        "duration_s": result.duration_s,
        "observations": [{"kind": o.kind.value, "text": o.text, "source": o.source, "time": jsonable(o.time),
                          "values": jsonable(o.values)} for o in result.observations],
        "profile_why": result.profile_why,
        "ignored": dict(result.ignored),
        "adjusted": dict(result.adjusted),
    }


def write_json(rows: list[tuple[DeviceRef, CheckResult]], out: TextIO) -> None:
    for ref, result in rows:
        out.write(json.dumps(result_record(ref, result), ensure_ascii=False, separators=(",", ":")) + "\n")
    out.flush()


_KEY_METRICS = ("ups.status", "battery.charge", "battery.runtime", "input.voltage", "ups.load", "ping.loss",
                "ping.rtt.avg", "tcp.connect", "spd.contact", "spd.strikes", "cpu.load", "uptime")


def _summary(result: CheckResult, width: int = 70) -> str:
    parts = []
    for name in _KEY_METRICS:
        if name in result.metrics:
            unit = result.units.get(name, "")
            parts.append(f"{name}={result.metrics[name]}{unit if unit in ('%', 'V', 'ms', 's') else ''}")
    for name, value in result.metrics.items():
        if len(parts) >= 6:
            break
        if name not in _KEY_METRICS and (name.startswith(("disk.", "iface.")) and name.endswith((".used", ".status"))):
            parts.append(f"{name}={value}{result.units.get(name, '')}")
    text = " ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def write_table(rows: list[tuple[DeviceRef, CheckResult]], out: TextIO) -> None:
    if not rows:
        out.write("no checks configured\n")
        return
    table = [("SITE", "DEVICE", "CHECK", "STATUS", "DETAILS")]
    for ref, r in rows:
        detail = r.reason or ""
        summary = _summary(r)
        if summary:
            detail = f"{detail} — {summary}" if detail else summary
        if r.ignored:
            shown = "; ".join(f"{k}: {v}" for k, v in list(r.ignored.items())[:2])
            detail += f" [ignored {shown}{' …' if len(r.ignored) > 2 else ''}]"
        table.append((ref.site, ref.device, r.check, r.status.value, detail))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] + "\n")
    counts: dict[str, int] = {}
    for _ref, r in rows:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    order = [s.value for s in (Status.UP, Status.DEGRADED, Status.DOWN, Status.UNREACHABLE, Status.UNKNOWN)]
    out.write(f"\n{len(rows)} checks: " + ", ".join(f"{counts[s]} {s}" for s in order if s in counts) + "\n")
    out.flush()
