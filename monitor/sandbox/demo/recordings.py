"""The demo devices' SNMP data: real LibreNMS recordings, adapted at run time (origin: ``data/librenms/NOTICE.txt``).

The shipped ``.snmprec`` files are byte-for-byte the LibreNMS test fixtures (GPL-3.0, notice kept); every
change the demo makes is here, in :data:`ADAPTATIONS`, applied when an agent's data folder is written into the
demo's ``--out`` folder:

* **static adaptations** — what an installer would have configured on the real card (the APC card's dry
  contact 1 enabled and named after the surge protector wired to it);
* **writable objects** — the objects the scripted storm changes by SNMP SET (snmpsim ``writecache``); they
  start at their recorded values;
* **boot values** — after a simulated power loss a device "boots": its uptime objects start from a few
  seconds (so the monitor sees a real reboot) instead of the recorded uptime.

The strike counter has no real recording (LibreNMS holds none for an SPD counter): it is a minimal simulated
agent under the placeholder enterprise OID 1.3.6.1.4.1.99999.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitor.sandbox.snmpsim import make_recording

__all__ = ["ADAPTATIONS", "LIBRENMS_DIR", "OID", "Adaptation", "write_agent_data"]

LIBRENMS_DIR = Path(__file__).resolve().parent / "data" / "librenms"
"""The unmodified LibreNMS recordings (with NOTICE.txt)."""


class OID:
    """The objects the storm reads or changes (numeric; the MIB names are in the attribute names)."""

    sysUpTime = "1.3.6.1.2.1.1.3.0"
    hrSystemUptime = "1.3.6.1.2.1.25.1.1.0"
    # RFC 1628 UPS-MIB
    upsBatteryStatus = "1.3.6.1.2.1.33.1.2.1.0"              # 2 normal, 3 low, 4 depleted
    upsSecondsOnBattery = "1.3.6.1.2.1.33.1.2.2.0"
    upsEstimatedMinutesRemaining = "1.3.6.1.2.1.33.1.2.3.0"
    upsEstimatedChargeRemaining = "1.3.6.1.2.1.33.1.2.4.0"
    upsInputFrequency1 = "1.3.6.1.2.1.33.1.3.3.1.2.1"       # 0.1 Hz
    upsInputVoltage1 = "1.3.6.1.2.1.33.1.3.3.1.3.1"
    upsOutputSource = "1.3.6.1.2.1.33.1.4.1.0"               # 2 none, 3 normal, 5 battery
    upsTrapOnBattery = "1.3.6.1.2.1.33.2.0.1"
    upsTrapAlarmEntryRemoved = "1.3.6.1.2.1.33.2.0.4"
    upsAlarmDescr = "1.3.6.1.2.1.33.1.6.2.1.2"
    upsAlarmOnBattery = "1.3.6.1.2.1.33.1.6.3.2"
    # APC PowerNet-MIB
    upsAdvBatteryRunTimeRemaining = "1.3.6.1.4.1.318.1.1.1.2.2.3.0"   # TimeTicks
    upsHighPrecBatteryCapacity = "1.3.6.1.4.1.318.1.1.1.2.3.1.0"      # Gauge32, 0.1 %
    upsAdvInputLineFailCause = "1.3.6.1.4.1.318.1.1.1.3.2.5.0"        # 4 blackout, 8 largeMomentarySpike
    upsHighPrecInputLineVoltage = "1.3.6.1.4.1.318.1.1.1.3.3.1.0"     # Gauge32, 0.1 V
    upsHighPrecInputFrequency = "1.3.6.1.4.1.318.1.1.1.3.3.4.0"       # Gauge32, 0.1 Hz
    upsBasicOutputStatus = "1.3.6.1.4.1.318.1.1.1.4.1.1.0"           # 2 onLine, 3 onBattery, 11 sleeping
    iemConfigContactName1 = "1.3.6.1.4.1.318.1.1.10.2.2.4.1.2.1"
    iemStatusContactName1 = "1.3.6.1.4.1.318.1.1.10.2.3.4.1.2.1"
    iemStatusContactStatus1 = "1.3.6.1.4.1.318.1.1.10.2.3.4.1.3.1"   # 1 noFault, 2 fault, 3 disabled
    mtrapargsString = "1.3.6.1.4.1.318.2.3.3.0"
    apcUpsOnBattery = "1.3.6.1.4.1.318.0.5"
    apcPowerRestored = "1.3.6.1.4.1.318.0.9"
    apcContactFault = "1.3.6.1.4.1.318.0.18"
    apcContactFaultResolved = "1.3.6.1.4.1.318.0.19"
    # IF-MIB (the router's WAN is ifIndex 3 in the RouterOS recording)
    ifOperStatusWan = "1.3.6.1.2.1.2.2.1.8.3"
    # the simulated strike counter
    strikes = "1.3.6.1.4.1.99999.1.1.0"


@dataclass(frozen=True)
class Adaptation:
    """How one simulated device's data is made from its recording."""

    community: str                                   # the data file's base name = the SNMP community
    base: str | None                                 # LibreNMS file in LIBRENMS_DIR (None: simulated)
    alias: str                                       # snmpsim writecache alias of this device's SET-able objects
    values: Mapping[str, tuple[str, str | int]] = field(default_factory=dict)
    writable: tuple[str, ...] = ()
    uptime_oids: tuple[str, ...] = ()               # reset on a simulated boot (TimeTicks)
    why: str = ""


ADAPTATIONS: dict[str, Adaptation] = {
    "router": Adaptation(
        "demo-router", "routeros.snmprec", "wcrouter", writable=(OID.ifOperStatusWan,),
        uptime_oids=(OID.sysUpTime, OID.hrSystemUptime),
        why="unchanged; WAN ifOperStatus SET-able"),
    "ups-1": Adaptation(
        "demo-ups", "riello.snmprec", "wcups",
        writable=(OID.upsOutputSource, OID.upsBatteryStatus, OID.upsSecondsOnBattery,
                  OID.upsEstimatedMinutesRemaining, OID.upsEstimatedChargeRemaining, OID.upsInputVoltage1,
                  OID.upsInputFrequency1),
        why="unchanged; output source, battery and input objects SET-able"),
    "ups-apc": Adaptation(
        "demo-apc", "apc_surt3000xl.snmprec", "wcapc",
        values={OID.iemStatusContactStatus1: ("2", 1),          # recorded 3 (disabled): the SPD is wired to it
                OID.iemConfigContactName1: ("4", "Arrester Petir (SPD)"),
                OID.iemStatusContactName1: ("4", "Arrester Petir (SPD)")},
        writable=(OID.upsBasicOutputStatus, OID.upsAdvBatteryRunTimeRemaining, OID.upsHighPrecBatteryCapacity,
                  OID.upsAdvInputLineFailCause, OID.upsHighPrecInputLineVoltage, OID.upsHighPrecInputFrequency,
                  OID.iemStatusContactStatus1),
        why="dry contact 1 enabled and named for the surge protector; output, battery, input and contact SET-able"),
    "spd-count": Adaptation(
        "demo-strikes", None, "wcstrikes",
        values={"1.3.6.1.2.1.1.1.0": ("4", "Lightning strike counter (simulated: no real recording exists)"),
                "1.3.6.1.2.1.1.2.0": ("6", "1.3.6.1.4.1.99999.1"),
                OID.sysUpTime: ("67", 36_000_000),
                OID.strikes: ("65", 12)},
        writable=(OID.strikes,), why="simulated"),
    "rec-srv-1": Adaptation(
        "demo-server", "openwrt.snmprec", "wcserver", uptime_oids=(OID.hrSystemUptime,),
        why="unchanged (net-snmp's HOST-RESOURCES-MIB, as on a Linux recording server)"),
}


def write_agent_data(data_dir: Path, device: str, *, boot: int = 1, boot_uptime_s: float = 20.0) -> Path:
    """Write ``data_dir/<community>.snmprec`` for ``device`` (a key of :data:`ADAPTATIONS`).

    ``boot`` 1 serves the recorded uptime; a later boot serves ``boot_uptime_s`` seconds (the device just
    came back after a power loss). Returns the file written."""
    a = ADAPTATIONS[device]
    values = dict(a.values)
    if boot > 1:
        for oid in a.uptime_oids:
            values[oid] = ("67", int(boot_uptime_s * 100))
    base = LIBRENMS_DIR / a.base if a.base else None
    return make_recording(data_dir, a.community, base=base, values=values,
                          writable=dict.fromkeys(a.writable, a.alias))
