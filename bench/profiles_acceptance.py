"""Acceptance of the device profiles on recordings the project has never seen (issue 14).

    python bench/profiles_acceptance.py --librenms PATH [--json OUT] [--only NAME ...]

PATH is a checkout of LibreNMS (``tests/snmpsim/*.snmprec`` and ``tests/data/*.json``) fetched by whoever runs
this; nothing of it is copied into the project. Each recording of the set below is served by one snmpsim on
loopback (community = file name); ``ektp-monitor check --json`` runs on a config naming **no profile**
(``profile: auto``), and its results are compared with the values LibreNMS derives from the same recordings
(the ``sensors`` and ``mempools`` modules of ``tests/data/<name>.json``):

* UPS: recognised (a profile chose itself and ``ups.status`` was read); the core values — charge, runtime,
  input and output voltage, load, UPS temperature, power source (on battery or not), low battery, replace
  battery — where LibreNMS has them: a value matches when ours equals any LibreNMS sensor of that quantity
  (within 2 % or the rounding of the unit); a value we do not report counts as a miss;
* ambient temperature: read wherever LibreNMS finds a room probe on the card;
* no device ``unknown`` (garbage) because of one value; no standby / ECO unit ``down``;
* servers: memory used as ``free`` shows it (LibreNMS's "Physical memory" pool excludes buffers and cache),
  within 2 points; no ISO image or CD-ROM reported full;
* contact units and the PDU: read (recognised, not unknown), ambient temperature where present.

LibreNMS's derived values are regression data, not ground truth: every mismatch is listed so a person can
judge which side is right. Network safety: snmpsim listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# name -> (kind, vendor group). Recordings the project ships (../shared/devices/librenms) are left out.
UPS = {
    "apc_smx750i": "APC", "apc_sua1500rmi2u": "APC", "apc_smtl1000-nmc3": "APC", "apc_symmetralx": "APC",
    "apc-mgeups_galaxy7000": "Eaton/MGE", "eaton-mgeups_9px": "Eaton/MGE", "eaton-mgeups_93ps": "Eaton/MGE",
    "eatonupsm2_9px+empg2": "Eaton/MGE", "eatonups": "Eaton/MGE",
    "netagent2_1": "PPC/NetAgent", "powerwalker": "PPC/NetAgent", "powerwalker-vfi_500r1u": "PPC/NetAgent",
    "powerwalker-vfi_20kcpgpf133": "PPC/NetAgent", "eaton-matrix": "Eaton Matrix (PPC NMC)",
    "liebert_apm": "Vertiv/Liebert", "poweralert_ups": "Tripp Lite", "poweralert_2": "Tripp Lite",
    "cyberpower_pr2200rt2uc": "CyberPower", "cyberpower_cp1000pfclcd": "CyberPower",
    "huaweiups_ups2000": "Huawei", "netvision-rfc": "Socomec", "generex-ups_cs141": "Generex",
    "generex-ups_cs121": "Generex", "deltaups_mini-snmp": "Delta", "deltaups_rfc1628string": "Delta",
    "netmanplus_204": "Riello", "istars": "iStars", "dell-ups_tower1000w": "Dell", "marathonups": "Marathon",
    "orvaldi-ups": "Orvaldi",
}
SERVERS = {"linux_icecast": "Linux", "linux_lsi": "Linux", "linux_opensips": "Linux", "linux_powermon": "Linux",
           "dsm": "Synology", "dsm_ds214se-dsm7": "Synology", "windows_svr_2019_1809": "Windows"}
CONTACTS = {"hwg-ste": "HW group STE", "hwg-ste2": "HW group STE2", "apc_emu": "APC EMU"}
PDUS = {"apc_ap8853": "APC rPDU2"}

CORE = ("charge", "runtime", "input.voltage", "output.voltage", "load", "ups.temperature", "power source",
        "low battery", "replace battery")
_PROBE = re.compile(r"ambient|probe|environ|room|remote|port \d|supply air|external|humid", re.I)
# where cards keep their room probes (APC iem/ems/uio, XUPS env, MGE env, CyberPower envir, PPC env, Liebert env)
_PROBE_OIDS = (".1.3.6.1.4.1.318.1.1.10.", ".1.3.6.1.4.1.318.1.1.25.", ".1.3.6.1.4.1.534.1.6.",
               ".1.3.6.1.4.1.705.1.8.", ".1.3.6.1.4.1.3808.1.1.4.", ".1.3.6.1.4.1.3808.1.1.8.",
               ".1.3.6.1.4.1.935.10.1.1.6.", ".1.3.6.1.4.1.935.1.1.1.9.", ".1.3.6.1.4.1.476.1.42.3.4.")
# LibreNMS values no physical UPS has: the card's "not available" placeholders, or a unit read ten times too big
_SENTINELS = {65535.0, 65534.0, 4294967295.0, 2147483647.0, -273.0, -1.0}
_PHYSICAL = {"charge": (0, 100), "runtime": (0, 10000), "input.voltage": (0, 480), "output.voltage": (0, 480),
             "load": (0, 200), "ups.temperature": (-40, 100)}


# objects whose MIB says they measure the UPS itself, whatever LibreNMS calls them: EPPC-MIB upsESystemTemperature
# ("The temperature of UPS"), LibreNMS "Ambient Temperature"
_UPS_ITSELF = (".1.3.6.1.4.1.935.10.1.1.2.2.",)


def is_probe(s: Sensor) -> bool:
    if s.oid.startswith(_UPS_ITSELF) or re.search(r"batt|cabinet", s.descr, re.I):
        return False
    return s.oid.startswith(_PROBE_OIDS) or bool(_PROBE.search(s.descr))
_SOURCE = re.compile(r"output source|output status|ups state|system status|supply|power source|ups status"
                     r"|basic output|input status|operating mode|output mode|ups mode", re.I)


@dataclass
class Sensor:
    cls: str
    descr: str
    oid: str
    value: float | None
    state: str = ""
    generic: int | None = None


@dataclass
class Outcome:
    name: str
    kind: str
    group: str
    status: str = "?"
    reason: str | None = None
    reason_code: str | None = None
    profile: str | None = None
    why: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)
    compared: dict[str, tuple[bool, Any, Any]] = field(default_factory=dict)   # quantity -> (match, ours, theirs)
    notes: list[str] = field(default_factory=list)

    @property
    def recognised(self) -> bool:
        return self.profile not in (None, "auto") and self.reason_code != "profile_mismatch" and (
            self.kind != "ups" or "ups.status" in self.metrics)


def sensors_of(data: dict[str, Any]) -> list[Sensor]:
    module = data.get("sensors") or {}
    disc = module.get("discovery") if isinstance(module.get("discovery"), dict) else {}
    poll = module.get("poller") if isinstance(module.get("poller"), dict) else {}
    rows = (poll or {}).get("sensors") or disc.get("sensors") or []
    states: dict[str, dict[int, tuple[str, int]]] = {}
    for st in disc.get("state_indexes") or []:
        states.setdefault(st["state_name"], {})[int(st["state_value"])] = (st["state_descr"],
                                                                            int(st["state_generic_value"]))
    out = []
    for row in rows:
        value = row.get("sensor_current")
        value = float(value) if value is not None else None
        state, generic = "", None
        if row["sensor_class"] == "state" and value is not None:
            state, generic = states.get(row.get("state_name") or "", {}).get(int(value), ("", None))
        out.append(Sensor(row["sensor_class"], row.get("sensor_descr") or "", row.get("sensor_oid") or "", value,
                          state, generic))
    return out


def close(ours: Any, theirs: float, unit_step: float = 0.1) -> bool:
    if not isinstance(ours, int | float) or isinstance(ours, bool):
        return False
    return abs(float(ours) - theirs) <= max(unit_step, abs(theirs) * 0.02)


def compare_ups(out: Outcome, sensors: list[Sensor]) -> None:
    m = out.metrics
    status = set(str(m.get("ups.status", "")).split())

    def numeric(quantity: str, ours: Any, candidates: list[float], step: float = 0.6) -> None:
        lo, hi = _PHYSICAL[quantity]
        implausible = [c for c in candidates if c in _SENTINELS or not lo <= c <= hi]
        candidates = [c for c in candidates if c not in implausible]
        if implausible and not candidates:
            out.notes.append(f"LibreNMS implausible {quantity}: {implausible} (ours {ours!r})")
        if candidates:
            ok = any(close(ours, c, step) for c in candidates)
            out.compared[quantity] = (ok, ours, candidates if len(candidates) > 1 else candidates[0])

    num = [s for s in sensors if s.value is not None]
    numeric("charge", m.get("battery.charge"), [s.value for s in num if s.cls == "charge"][:1], 1.0)  # type: ignore[misc]
    runtimes = [s.value for s in num if s.cls == "runtime" and not re.search(r"on battery|time on", s.descr, re.I)]
    runtimes += [s.value / 60 for s in num if s.cls == "delay" and re.search(r"remain", s.descr, re.I)]
    ours_rt = m.get("battery.runtime")
    numeric("runtime", ours_rt / 60 if isinstance(ours_rt, int | float) else None, runtimes[:2], 1.0)  # type: ignore[arg-type]
    volts = [s for s in num if s.cls == "voltage" and not re.search(r"batt|bypass|dc|bus", s.descr, re.I)]
    numeric("input.voltage", m.get("input.voltage"),
            [s.value for s in volts if re.search(r"input|in\b|line|ac rms", s.descr, re.I)])  # type: ignore[misc]
    numeric("output.voltage", m.get("output.voltage"),
            [s.value for s in volts if re.search(r"output|out\b", s.descr, re.I)])  # type: ignore[misc]
    numeric("load", m.get("ups.load"), [s.value for s in num if s.cls == "load"], 1.0)  # type: ignore[misc]
    temps = [s for s in num if s.cls == "temperature"]
    numeric("ups.temperature", m.get("ups.temperature"),
            [s.value for s in temps if not is_probe(s)])  # type: ignore[misc]
    probes = [s.value for s in temps if is_probe(s)]
    if probes:
        ours = m.get("ambient.temperature")
        out.compared["ambient"] = (any(close(ours, p, 1.0) for p in probes if p is not None), ours, probes)
    states = [s for s in sensors if s.cls == "state" and s.state]
    source = [s for s in states if _SOURCE.search(s.descr) and not re.search(r"bypass|input", s.descr, re.I)]
    if source:
        word = source[0].state.lower()
        on_battery = bool(re.search(r"batt|discharg", word)) and "test" not in word and "normal" not in word
        off = bool(re.search(r"^(off|none|no supply|shutdown|sleep)", word))
        if off:
            ok = "OFF" in status
        elif re.search(r"bypass", word):
            ok = "BYPASS" in status and "OB" not in status
        else:
            ok = ("OB" in status) == on_battery and "OFF" not in status and bool(status & {"OL", "OB"})
        out.compared["power source"] = (ok, m.get("ups.status"), source[0].state)
        if re.search(r"standby|stand-by|eco|high efficiency|green", word) and out.status == "down":
            out.notes.append(f"standby/ECO unit down ({source[0].state})")
    battery = [s for s in states if re.search(r"battery (status|capacity)|capacity status|batterystatus", s.descr,
                                              re.I)]
    if battery:
        low = bool(re.search(r"low|deplet", battery[0].state, re.I))
        out.compared["low battery"] = (("LB" in status) == low and "ups.status" in m, m.get("ups.status"),
                                       battery[0].state)
    replace = [s for s in states if re.search(r"replace", s.descr, re.I)]
    if replace:
        needs = replace[0].generic not in (None, 0) if replace[0].generic is not None else bool(
            re.search(r"^(yes|batteryNeedsReplacing|replace)", replace[0].state, re.I))
        out.compared["replace battery"] = (("RB" in status) == needs and "ups.status" in m, m.get("ups.status"),
                                           replace[0].state)


def compare_server(out: Outcome, data: dict[str, Any]) -> None:
    module = data.get("mempools") or {}
    disc = module.get("discovery") if isinstance(module.get("discovery"), dict) else {}
    pools = (module.get("poller") if isinstance(module.get("poller"), dict) else {}) or disc
    system = [p for p in (pools or {}).get("mempools") or [] if p.get("mempool_class") == "system"]
    if system:
        theirs = float(system[0]["mempool_perc"])
        ours = out.metrics.get("memory.used")
        out.compared["memory"] = (isinstance(ours, int | float) and abs(float(ours) - theirs) <= 2.0, ours, theirs)
    full = [k for k, v in out.metrics.items() if k.startswith("disk.") and k.endswith(".used") and v >= 98]
    iso = [k for k in full if re.search(r"cd|dvd|iso|media|rom", k, re.I)]
    out.compared["no iso/cd-rom full"] = (not iso and out.status != "down", iso or out.status, "none full")


def compare_env(out: Outcome, sensors: list[Sensor]) -> None:
    temps = [s.value for s in sensors if s.cls == "temperature" and s.value is not None]
    if temps:
        ours = out.metrics.get("ambient.temperature")
        out.compared["ambient"] = (any(close(ours, t, 1.0) for t in temps), ours, temps)


def config(path: Path, port: int, devices: dict[str, str]) -> None:
    lines = ["sites:", "  - id: acc", "    name: Acceptance", "    timezone: Asia/Jakarta", "    devices:"]
    for name, kind in devices.items():
        ident = re.sub(r"[^a-z0-9_.-]", "-", name.lower())[:60]
        lines += [f"      - id: {ident}", f"        name: {json.dumps(name)}", f"        kind: {kind}",
                  "        address: 127.0.0.1",
                  f"        checks: [{{type: snmp, timeout: 3s, retries: 1, "
                  f"snmp: {{version: 2c, port: {port}, community: {json.dumps(name)}}}}}]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(librenms: Path, only: list[str], keep: Path | None) -> list[Outcome]:
    from monitor.sandbox.snmpsim import SnmpsimAgent

    sets = {**{n: ("ups", g) for n, g in UPS.items()}, **{n: ("recording_server", g) for n, g in SERVERS.items()},
            **{n: ("room_sensor", g) for n, g in CONTACTS.items()}, **{n: ("pdu", g) for n, g in PDUS.items()}}
    if only:
        sets = {n: v for n, v in sets.items() if n in only}
    work = Path(tempfile.mkdtemp(prefix="ektp-acceptance-"))
    data = work / "data"
    data.mkdir()
    for name in sets:
        source = librenms / "tests" / "snmpsim" / f"{name}.snmprec"
        if not source.is_file():
            raise SystemExit(f"{source} is missing: give --librenms a LibreNMS checkout")
        shutil.copy(source, data / source.name)
    outcomes: dict[str, Outcome] = {n: Outcome(n, k, g) for n, (k, g) in sets.items()}
    try:
        with SnmpsimAgent([data], work_dir=work / "sim", startup_timeout=120) as sim:
            cfg = work / "acceptance.yaml"
            config(cfg, sim.port, {n: k for n, (k, _) in sets.items()})
            started = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "monitor.cli", "check", "-c", str(cfg), "--json"],
                                  capture_output=True, text=True, timeout=900, cwd=ROOT)
            elapsed = time.monotonic() - started
            if proc.returncode not in (0, 1):
                raise SystemExit(f"check failed ({proc.returncode}): {proc.stderr[-2000:]}")
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    by_id = {re.sub(r"[^a-z0-9_.-]", "-", n.lower())[:60]: n for n in sets}
    for line in proc.stdout.splitlines():
        rec = json.loads(line)
        out = outcomes[by_id[rec["device"]]]
        out.status, out.reason, out.reason_code = rec["status"], rec["reason"], rec.get("reason_code")
        out.profile, out.why, out.metrics = rec.get("profile"), rec.get("profile_why"), rec.get("metrics") or {}
        out.ignored = rec.get("ignored") or {}
    for name, out in outcomes.items():
        json_path = librenms / "tests" / "data" / f"{name}.json"
        data_json = json.loads(json_path.read_text()) if json_path.is_file() else {}
        if out.kind == "ups":
            compare_ups(out, sensors_of(data_json))
        elif out.kind == "recording_server":
            compare_server(out, data_json)
        else:
            compare_env(out, sensors_of(data_json))
    print(f"(one `check` round over {len(sets)} recordings took {elapsed:.1f} s)", file=sys.stderr)
    return list(outcomes.values())


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    ups = [o for o in outcomes if o.kind == "ups"]
    core = [(o.name, q, c) for o in ups for q, c in o.compared.items() if q in CORE]
    ambient = [(o.name, c) for o in outcomes if o.kind == "ups" for q, c in o.compared.items() if q == "ambient"]
    servers = [o for o in outcomes if o.kind == "recording_server"]
    memory = [(o.name, o.compared["memory"]) for o in servers if "memory" in o.compared]
    return {
        "ups_recognised": f"{sum(o.recognised for o in ups)}/{len(ups)}",
        "ups_groups": len({o.group for o in ups}),
        "core_values_match": f"{sum(c[0] for _, _, c in core)}/{len(core)}",
        "core_values_match_pct": round(100 * sum(c[0] for _, _, c in core) / max(len(core), 1), 1),
        "ambient_read": f"{sum(c[0] for _, c in ambient)}/{len(ambient)}",
        "garbage_unknown": [o.name for o in outcomes if o.reason_code == "garbage"],
        "standby_eco_down": [o.name for o in outcomes if any("standby/ECO" in n for n in o.notes)],
        "server_memory_match": f"{sum(c[0] for _, c in memory)}/{len(memory)}",
        "servers_iso_full": [o.name for o in servers if not o.compared.get("no iso/cd-rom full", (True,))[0]],
        "others_read": {o.name: (o.status, o.profile, o.metrics.get("ambient.temperature"),
                                 o.metrics.get("ambient.contacts.alarm"))
                        for o in outcomes if o.kind in ("room_sensor", "pdu")},
        "unknown": {o.name: o.reason for o in outcomes if o.status == "unknown"},
        "librenms_implausible": [f"{o.name}: {n}" for o in outcomes for n in o.notes if "implausible" in n],
        "mismatches": [f"{n}: {q}: ours {c[1]!r}, LibreNMS {c[2]!r}" for n, q, c in core if not c[0]]
                      + [f"{n}: ambient: ours {c[1]!r}, LibreNMS {c[2]!r}" for n, c in ambient if not c[0]]
                      + [f"{n}: memory: ours {c[1]!r}, LibreNMS {c[2]!r}" for n, c in memory if not c[0]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--librenms", type=Path, required=True, help="a LibreNMS checkout (not committed)")
    parser.add_argument("--json", type=Path, help="write every outcome here")
    parser.add_argument("--only", nargs="*", default=[], help="only these recordings")
    parser.add_argument("--keep", type=Path, help="keep the work folder (config, data) for a look")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every device")
    args = parser.parse_args(argv)
    outcomes = run(args.librenms, args.only, args.keep)
    if args.verbose:
        for o in outcomes:
            print(f"{o.name:30} {o.kind:16} {o.status:9} {o.profile or '-':30} {o.reason or ''}")
            for q, (ok, ours, theirs) in o.compared.items():
                print(f"    {'ok ' if ok else 'BAD'} {q:18} ours={ours!r} librenms={theirs!r}")
            if o.ignored:
                print(f"    ignored: {o.ignored}")
    result = summary(outcomes)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps({"summary": result, "outcomes": [o.__dict__ for o in outcomes]},
                                        indent=1, default=str, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
