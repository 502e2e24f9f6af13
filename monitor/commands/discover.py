"""``ektp-monitor discover -c FILE [--device ID] [--json]``: what is this device, and which profiles read it?

For every configured device (or ``--device``) that has an SNMP check, discover probes **the configured
address with the configured credentials** — never another address — as ``profile: auto`` does: it reads
sysObjectID, sysDescr and every candidate profile's probe objects, chooses the profiles, reads the device
with them once and prints what it found, the candidates with their scores and reasons, the values read
(and the values ignored as untrustworthy), and a YAML snippet that pins the choice in the config.

``--json`` prints one object per device::

    {"site": "mura", "device": "ups-1", "address": "192.0.2.10", "sys_object_id": "1.3.6.1.4.1.318.1.3.27",
     "sys_descr": "APC Web/SNMP Management Card ...", "profile": "ups-apc+env-apc", "why": "auto: ...",
     "candidates": [{"name": "ups-apc", "role": "primary", "fits": true, "score": 130, "why": "..."}, ...],
     "status": "up", "reason": null, "metrics": {...}, "units": {...}, "ignored": {...}, "adjusted": {...},
     "snippet": "checks:\\n  - {type: snmp, profile: ups-apc+env-apc}\\n"}

Exit codes: 0 every device answered (recognised or not); 1 a device did not answer or could not be probed;
2 bad config or an unknown ``--device``. No database is needed or touched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from monitor.app import build_check_resources, load_config
from monitor.commands.check import chosen_devices
from monitor.domain import AUTO_PROFILE, Device, DeviceRef, SnmpSpec, jsonable
from monitor.logs import setup_logging
from monitor.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def main(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    setup_logging("WARNING", settings.secrets)
    refs = chosen_devices(settings, args.device, "discover")
    if refs is None:
        return EXIT_CONFIG
    found = asyncio.run(discover(settings, refs))
    if args.json:
        for record in found:
            sys.stdout.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    else:
        write_text(found, sys.stdout)
    sys.stdout.flush()
    return EXIT_OK if all(r["answered"] for r in found if r["snmp"]) else EXIT_FAILED


def _snmp_spec(device: Device) -> SnmpSpec | None:
    """The device's first SNMP check (its address and credentials are what discover may use)."""
    return next((c for c in device.checks if isinstance(c, SnmpSpec)), None)


async def discover(settings: Settings, refs: list[DeviceRef]) -> list[dict[str, Any]]:
    from checks.snmp import SnmpCheck
    from checks.snmp_backend import SnmpTarget

    now = datetime.now(UTC).replace(microsecond=0)
    resources = build_check_resources(settings)
    out: list[dict[str, Any]] = []
    try:
        for ref in refs:
            device = settings.device(ref)
            spec = _snmp_spec(device)
            record: dict[str, Any] = {"site": ref.site, "device": ref.device, "kind": device.kind.value,
                                      "address": device.address, "snmp": spec is not None, "answered": False}
            out.append(record)
            if spec is None or not device.address:
                record["reason"] = "no SNMP check configured: discover uses only a configured address and credentials"
                continue
            auto = spec.model_copy(update={"profile": AUTO_PROFILE})
            check = SnmpCheck(auto, resources)
            target = SnmpTarget(device.address, spec.snmp, timeout=spec.timeout.total_seconds(), retries=spec.retries)
            choice, reply, _alive = await check.select(device, target)
            if choice is None:
                record["reason"] = f"no SNMP answer ({reply.failure.message if reply.failure else 'unknown'})"
                continue
            record["answered"] = True
            facts = choice.facts
            record.update(sys_object_id=facts.sys_object_id, sys_descr=facts.sys_descr,
                          configured=spec.profile, profile=choice.profile or None, why=choice.why,
                          candidates=[{"name": c.name, "role": c.role, "fits": c.fits, "score": c.score, "why": c.why}
                                      for c in sorted(choice.candidates, key=lambda c: (-c.fits, -c.score, c.name))])
            if choice.primary is None:
                record.update(status="unknown", reason=choice.why)
                continue
            check.choice = choice
            result = await check.run(device, now=now)
            # pin what really read the device (an extension chosen for the vendor but with no probe here is left out)
            pinned = result.profile or choice.profile
            record.update(profile=pinned, status=result.status.value, reason=result.reason,
                          metrics=jsonable(result.metrics), units=dict(result.units), ignored=dict(result.ignored),
                          adjusted=dict(result.adjusted), snippet=snippet(pinned, spec))
    finally:
        await resources.close()
    return out


def snippet(profile: str, spec: SnmpSpec) -> str:
    """The check to paste into the device in the config, pinning the chosen profiles."""
    params = f", params: {json.dumps(spec.params)}" if spec.params else ""
    ident = f"id: {spec.id}, " if spec.id else ""
    return f"checks:\n  - {{{ident}type: snmp, profile: {profile}{params}}}\n"


def write_text(found: list[dict[str, Any]], out: TextIO) -> None:
    for record in found:
        out.write(f"== {record['site']}/{record['device']} ({record['kind']}, {record['address'] or 'no address'})\n")
        if not record.get("answered"):
            out.write(f"   {record.get('reason')}\n\n")
            continue
        out.write(f"   sysObjectID {record.get('sys_object_id') or '?'}\n")
        out.write(f"   sysDescr    {record.get('sys_descr') or '?'}\n")
        out.write("   candidates:\n")
        for c in record.get("candidates", []):
            mark = "fits" if c["fits"] else "    "
            out.write(f"     {mark} {c['score']:>4}  {c['name']:<22} {c['role']:<9} {c['why']}\n")
        configured = record.get("configured")
        note = f" (configured: {configured})" if configured != AUTO_PROFILE else ""
        out.write(f"   chosen: {record.get('profile') or 'nothing fits'}{note}\n")
        if record.get("metrics") is not None:
            out.write(f"   status: {record['status']}{' — ' + record['reason'] if record.get('reason') else ''}\n")
            units = record.get("units", {})
            for name, value in record["metrics"].items():
                out.write(f"     {name} = {value}{' ' + units[name] if name in units else ''}\n")
            for name, why in record.get("ignored", {}).items():
                out.write(f"     {name}: ignored ({why})\n")
            for name, how in record.get("adjusted", {}).items():
                out.write(f"     {name}: {how}\n")
            out.write("   to pin it, in the device:\n")
            out.write("".join(f"     {line}\n" for line in record["snippet"].splitlines()))
        else:
            out.write(f"   {record.get('reason')}\n")
        out.write("\n")
