"""Our own recordings of vendors and kinds (issue 14), written from the vendors' MIBs and NUT's snmp-ups
mappings — not copied from any capture. Each is one simulated device (community = the key), most in an
abnormal state: on battery, low battery, replace battery, overheating room, contact alarm, standby, ECO,
bypass, boost, output off, "not available" placeholders, 0.1 V voltages, `.1.0` row instances, an ISO image,
an empty CD-ROM row, Linux buffers and page cache.

Values are ``oid -> (snmprec tag, value)``: 2 INTEGER, 4 OCTET STRING, 6 OID, 65 Counter32, 66 Gauge32,
67 TimeTicks.
"""

from __future__ import annotations

Record = dict[str, tuple[str, str | int]]

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def system(oid: str, descr: str, uptime: int = 8_640_000) -> Record:
    return {SYS_DESCR: ("4", descr), SYS_OID: ("6", oid), SYS_UPTIME: ("67", uptime)}


UPS_MIB = "1.3.6.1.2.1.33.1"


def rfc1628(*, source: int = 3, battery: int = 2, minutes: int = 40, charge: int = 100, seconds_on_battery: int = 0,
            volts_in: int = 230, volts_out: int = 230, load: int = 30, temperature: int = 28, row: str = "1",
            alarms: int = 0) -> Record:
    """A UPS-MIB card; ``row`` is the instance its line tables use (``1``, or ``1.0`` like iStars)."""
    return {
        f"{UPS_MIB}.2.1.0": ("2", battery), f"{UPS_MIB}.2.2.0": ("2", seconds_on_battery),
        f"{UPS_MIB}.2.3.0": ("66" if minutes > 2**31 - 1 else "2", minutes), f"{UPS_MIB}.2.4.0": ("2", charge),
        f"{UPS_MIB}.2.5.0": ("2", 545),
        f"{UPS_MIB}.2.7.0": ("2", temperature), f"{UPS_MIB}.3.1.0": ("65", 3),
        f"{UPS_MIB}.3.3.1.2.{row}": ("2", 500), f"{UPS_MIB}.3.3.1.3.{row}": ("2", volts_in),
        f"{UPS_MIB}.4.1.0": ("2", source), f"{UPS_MIB}.4.2.0": ("2", 500),
        f"{UPS_MIB}.4.4.1.2.{row}": ("2", volts_out), f"{UPS_MIB}.4.4.1.5.{row}": ("2", load),
        f"{UPS_MIB}.6.1.0": ("66", alarms),
    }


MGE = "1.3.6.1.4.1.705.1"


def mge(*, on_battery: int = 2, low: int = 2, replace: int = 2, bypass: int = 2, off: int = 2) -> Record:
    """MG-SNMP-UPS-MIB: yes(1)/no(2) status flags; phase rows served as ``.1.0`` like a Galaxy."""
    return {
        f"{MGE}.1.1.0": ("4", "Galaxy 3500"), f"{MGE}.5.1.0": ("2", 1380), f"{MGE}.5.2.0": ("2", 62),
        f"{MGE}.5.5.0": ("2", 2280), f"{MGE}.5.7.0": ("2", 27), f"{MGE}.5.11.0": ("2", replace),
        f"{MGE}.5.14.0": ("2", low), f"{MGE}.5.16.0": ("2", low),
        f"{MGE}.6.2.1.2.1.0": ("2", 0 if on_battery == 1 else 2290),
        f"{MGE}.6.2.1.3.1.0": ("2", 500), f"{MGE}.6.4.0": ("2", 4 if on_battery == 1 else 1),
        f"{MGE}.7.2.1.2.1.0": ("2", 2300), f"{MGE}.7.2.1.4.1.0": ("2", 41), f"{MGE}.7.3.0": ("2", on_battery),
        f"{MGE}.7.4.0": ("2", bypass), f"{MGE}.7.7.0": ("2", off), f"{MGE}.7.8.0": ("2", 2), f"{MGE}.7.10.0": ("2", 2),
        f"{MGE}.7.12.0": ("2", 2),
    }


PPC = "1.3.6.1.4.1.935.10.1.1"


def ppc(*, status: int = 4, battery: int = 2, out_volts: int = 2300, minutes: int = 45, load: int = 16,
        env_temp: int = -1) -> Record:
    """EPPC-MIB (935.10): upsESystemStatus and 0.1 V / 0.1 °C values; -1 = not installed."""
    return {
        f"{PPC}.1.2.0": ("4", "VFI 2000 RT"), f"{PPC}.2.1.0": ("2", status), f"{PPC}.2.2.0": ("2", 305),
        f"{PPC}.2.16.1.2.1": ("2", 500), f"{PPC}.2.16.1.3.1": ("2", 0 if status == 5 else 2310),
        f"{PPC}.2.18.1.2.1": ("2", 500), f"{PPC}.2.18.1.3.1": ("2", out_volts), f"{PPC}.2.18.1.7.1": ("2", load),
        f"{PPC}.3.1.0": ("2", battery), f"{PPC}.3.2.0": ("2", 120 if status == 5 else 0),
        f"{PPC}.3.3.0": ("2", minutes),
        f"{PPC}.3.4.0": ("2", 35 if battery == 3 else 100), f"{PPC}.3.5.0": ("2", 1090), f"{PPC}.3.8.0": ("2", -1),
        f"{PPC}.6.1.1.0": ("2", env_temp), f"{PPC}.6.2.1.0": ("2", -1),
    }


XPPC = "1.3.6.1.4.1.935.1.1.1"


def xppc(*, status: int = 2, out_volts: int = 2360, load: int = 16) -> Record:
    """XPPC-MIB (NetAgent II/9): upsBaseOutputStatus, values in 0.1 units."""
    return {
        f"{XPPC}.2.1.1.0": ("2", 2), f"{XPPC}.2.2.1.0": ("2", 100), f"{XPPC}.2.2.3.0": ("2", 280),
        f"{XPPC}.2.2.4.0": ("2", 2400), f"{XPPC}.2.2.5.0": ("2", 1), f"{XPPC}.3.2.1.0": ("2", 2360),
        f"{XPPC}.3.2.4.0": ("2", 500), f"{XPPC}.4.1.1.0": ("2", status), f"{XPPC}.4.2.1.0": ("2", out_volts),
        f"{XPPC}.4.2.3.0": ("2", load), f"{XPPC}.9.1.1.0": ("2", 0), f"{XPPC}.9.1.3.0": ("2", 1),
        f"{XPPC}.9.1.4.0": ("2", 1),
    }


HUAWEI = "1.3.6.1.4.1.2011.6.174.1"


def huawei(supply: int) -> Record:
    return {f"{HUAWEI}.2.100.1.2.1": ("4", "UPS2000-G-3KRTS"), f"{HUAWEI}.2.101.1.1.1": ("2", supply),
            f"{HUAWEI}.2.101.1.3.1": ("2", 6 if supply in (4, 7) else 4),
            f"{HUAWEI}.3.100.1.1.1": ("2", 0 if supply in (4, 7) else 2310), f"{HUAWEI}.3.100.1.4.1": ("2", 5000),
            f"{HUAWEI}.4.100.1.1.1": ("2", 2300), f"{HUAWEI}.4.100.1.7.1": ("2", 5000),
            f"{HUAWEI}.6.100.1.1.1": ("2", 820), f"{HUAWEI}.6.100.1.3.1": ("2", 88),
            f"{HUAWEI}.6.100.1.4.1": ("66", 4294967295)}    # runtime "not available"


LIEBERT = "1.3.6.1.4.1.476.1.42.3"

# ------------------------------------------------------------------------------------------------- UPS
UPS: dict[str, Record] = {
    # MGE Galaxy on battery and low: only the MGE MIB has the status; UPS-MIB rows as .1.0 for the voltages
    "v-mge-onbattery": {**system("1.3.6.1.4.1.705.1.2", "Galaxy 3500 MGE UPS SYSTEMS"), **mge(on_battery=1, low=1),
                        f"{UPS_MIB}.3.3.1.3.1.0": ("2", 0), f"{UPS_MIB}.4.4.1.2.1.0": ("2", 230)},
    # MGE needing a battery, its environment probe reading a hot room (41.2 °C, 0.1 °C units)
    "v-mge-replace-hot": {**system("1.3.6.1.4.1.705.1.2", "Pulsar MX"), **mge(replace=1),
                          f"{MGE}.8.1.0": ("2", 412), f"{MGE}.8.2.0": ("2", 550)},
    "v-mge-off": {**system("1.3.6.1.4.1.705.1.2", "Comet"), **mge(off=1)},
    # PPC 935.10 (PowerWalker): standby feeding the load, ECO, on battery and low, a fault with no output
    "v-ppc-standby": {**system("1.3.6.1.4.1.935.10.1", "Network Management Card for UPS"), **ppc(status=2)},
    "v-ppc-eco": {**system("1.3.6.1.4.1.935.10.1", "Network Management Card for UPS"), **ppc(status=9, env_temp=265)},
    "v-ppc-lowbattery": {**system("1.3.6.1.4.1.935.10.1", "Network Management Card for UPS"),
                         **ppc(status=5, battery=3, minutes=4)},
    "v-ppc-shutdown": {**system("1.3.6.1.4.1.935.10.1", "Network Management Card for UPS"),
                       **ppc(status=10, out_volts=0, load=0)},
    # NetAgent (XPPC): standBy with 236 V out at 16 % load is on line; standBy with nothing on the output is off
    "v-xppc-standby": {**system("1.3.6.1.4.1.935", "NetAgent II"), **xppc(status=8)},
    "v-xppc-standby-off": {**system("1.3.6.1.4.1.935", "NetAgent II"), **xppc(status=8, out_volts=0, load=0)},
    # Tripp Lite in ECO mode: upsOutputSource other(1), voltage on the output, not on battery; -273 °C battery,
    # the card's own temperature in tenths
    "v-tripplite-eco": {**system("1.3.6.1.4.1.850.1", "Tripp Lite SNMPWEBCARD"), **rfc1628(source=1, temperature=-273),
                        "1.3.6.1.4.1.850.1.1.3.1.2.1.1.7.1": ("2", 240)},
    # a Delta mini-SNMP-style card: 0.1 V sent as volts, runtime 4294967295, battery -273 °C
    "v-rfc-placeholders": {**system("1.3.6.1.4.1.2254.2.4", "Delta UPS SNMP Agent"),
                           **rfc1628(volts_in=2313, volts_out=2302, minutes=4294967295, temperature=-273)},
    # Socomec-style UPS-MIB: runtime 65535 = not available (not 45 days)
    "v-rfc-65535": {**system("1.3.6.1.4.1.4555.1.1.1", "NET VISION v6.x"), **rfc1628(minutes=65535)},
    # iStars serves the line tables as .1.0
    "v-rfc-istars": {**system("1.3.6.1.4.1.8072.3.2.10", "iStars UPS"), **rfc1628(row="1.0", load=44)},
    "v-rfc-bypass": {**system("1.3.6.1.4.1.8072.3.2.10", "UPS"), **rfc1628(source=4)},
    "v-rfc-boost": {**system("1.3.6.1.4.1.8072.3.2.10", "UPS"), **rfc1628(source=6, volts_in=185)},
    "v-rfc-onbattery-low": {**system("1.3.6.1.4.1.8072.3.2.10", "UPS"),
                            **rfc1628(source=5, battery=3, minutes=3, charge=18, seconds_on_battery=600, volts_in=0)},
    # Huawei (sysObjectID of net-snmp): on battery; ECO on line
    "v-huawei-onbattery": {**system("1.3.6.1.4.1.8072.3.2.10", "Linux UPS2000"), **huawei(4)},
    "v-huawei-eco": {**system("1.3.6.1.4.1.8072.3.2.10", "Linux UPS2000"), **huawei(6)},
    # Liebert: failed battery test (replace), its supply-air sensor at 38 °C
    "v-liebert-rb": {**system("1.3.6.1.4.1.476.1.42", "Liebert GXT4"),
                     f"{LIEBERT}.5.1.8.0": ("2", 3), f"{LIEBERT}.5.1.18.0": ("2", 21),
                     f"{LIEBERT}.5.1.19.0": ("2", 100),
                     f"{LIEBERT}.5.1.26.0": ("2", 2), f"{LIEBERT}.5.3.55.0": ("2", 3),
                     f"{LIEBERT}.4.1.3.3.1.2.1": ("6", "1.3.6.1.4.1.476.1.42.3.4.1.1.3.1.1"),
                     f"{LIEBERT}.4.1.3.3.1.3.1": ("2", 38)},
    # Eaton card serving the UPS-MIB, its EMP probe (xupsEnvRemoteTemp) in a hot room
    "v-eaton-emp": {**system("1.3.6.1.4.1.534.1", "Eaton 9PX"), **rfc1628(),
                    "1.3.6.1.4.1.534.1.6.5.0": ("2", 39), "1.3.6.1.4.1.534.1.6.6.0": ("2", 85)},
    # CyberPower RMCARD205: envir2 sensor table in 1/100 °C, a contact abnormal
    "v-cyberpower-envir2": {**system("1.3.6.1.4.1.3808.1.1.1", "CyberPower RMCARD205"),
                            "1.3.6.1.4.1.3808.1.1.1.2.1.1.0": ("2", 2), "1.3.6.1.4.1.3808.1.1.1.2.2.1.0": ("2", 100),
                            "1.3.6.1.4.1.3808.1.1.1.4.1.1.0": ("2", 2), "1.3.6.1.4.1.3808.1.1.1.4.2.1.0": ("2", 2300),
                            "1.3.6.1.4.1.3808.1.1.1.3.2.1.0": ("2", 2310),
                            "1.3.6.1.4.1.3808.1.1.8.2.2.0": ("2", 1), "1.3.6.1.4.1.3808.1.1.8.2.3.1.3.1": ("2", 2650),
                            "1.3.6.1.4.1.3808.1.1.8.4.2.1.4.1": ("4", "Pintu"),
                            "1.3.6.1.4.1.3808.1.1.8.4.2.1.5.1": ("2", 2)},
    # APC with a Universal I/O probe at 37 °C and a contact in critical alarm
    "v-apc-uio": {**system("1.3.6.1.4.1.318.1.3.27", "APC Web/SNMP Management Card"),
                  "1.3.6.1.4.1.318.1.1.1.4.1.1.0": ("2", 2), "1.3.6.1.4.1.318.1.1.1.2.3.1.0": ("66", 1000),
                  "1.3.6.1.4.1.318.1.1.1.3.3.1.0": ("66", 2300),
                  "1.3.6.1.4.1.318.1.1.25.1.2.1.3.1.1": ("4", "Server Room"),
                  "1.3.6.1.4.1.318.1.1.25.1.2.1.6.1.1": ("2", 37), "1.3.6.1.4.1.318.1.1.25.1.2.1.7.1.1": ("2", 48),
                  "1.3.6.1.4.1.318.1.1.25.1.2.1.10.1.1": ("2", 2),
                  "1.3.6.1.4.1.318.1.1.25.2.2.1.3.1.1": ("4", "Arrester"),
                  "1.3.6.1.4.1.318.1.1.25.2.2.1.6.1.1": ("2", 3)},
}

# ---------------------------------------------------------------------------------------- room sensors
HWG_STE2 = "1.3.6.1.4.1.21796.4.9"
POSEIDON = "1.3.6.1.4.1.21796.3.3"
ROOM: dict[str, Record] = {
    # STE2: 38.5 °C, 45 %RH, the "Air" input (a water sensor) in alarm
    "v-ste2-water": {**system(HWG_STE2, "STE2"),
                     f"{HWG_STE2}.3.1.2.1": ("4", "Ruang server"), f"{HWG_STE2}.3.1.5.1": ("2", 385),
                     f"{HWG_STE2}.3.1.7.1": ("2", 1), f"{HWG_STE2}.3.1.2.2": ("4", "Kelembapan"),
                     f"{HWG_STE2}.3.1.5.2": ("2", 450), f"{HWG_STE2}.3.1.7.2": ("2", 4),
                     f"{HWG_STE2}.1.1.3.1": ("4", "Air"), f"{HWG_STE2}.1.1.4.1": ("2", 1),
                     f"{HWG_STE2}.1.1.3.2": ("4", "Pintu"), f"{HWG_STE2}.1.1.4.2": ("2", 0)},
    # Poseidon: 47 °C (critical for a room sensor), unit codes of its own branch (celsius 0)
    "v-poseidon-hot": {**system(f"{POSEIDON}", "Poseidon 3268"),
                       f"{POSEIDON}.3.1.2.1": ("4", "T.Servidores"), f"{POSEIDON}.3.1.6.1": ("2", 470),
                       f"{POSEIDON}.3.1.9.1": ("2", 0), f"{POSEIDON}.1.1.3.1": ("4", "Binary 1"),
                       f"{POSEIDON}.1.1.2.1": ("2", 0), f"{POSEIDON}.1.1.5.1": ("2", 0)},
    # STE (the first branch, 21796.4.1): a normal room
    "v-ste-normal": {**system("1.3.6.1.4.1.21796.4.1", "STE"),
                     "1.3.6.1.4.1.21796.4.1.3.1.2.1": ("4", "Sensor 1"), "1.3.6.1.4.1.21796.4.1.3.1.5.1": ("2", 243),
                     "1.3.6.1.4.1.21796.4.1.3.1.7.1": ("2", 1)},
    # APC EMU: an input in critical alarm (smoke detector wired there), probes in °F
    "v-emu-input": {**system("1.3.6.1.4.1.318.1.3.8.4", "APC Environmental Management System"),
                    "1.3.6.1.4.1.318.1.1.10.4.2.1.0": ("2", 2),
                    "1.3.6.1.4.1.318.1.1.10.4.2.3.1.5.0.1": ("2", 77),
                    "1.3.6.1.4.1.318.1.1.10.4.2.3.1.6.0.1": ("2", 50),
                    "1.3.6.1.4.1.318.1.1.10.4.2.3.1.7.0.1": ("2", 2),
                    "1.3.6.1.4.1.318.1.1.10.4.3.2.1.3.0.1": ("4", "Detektor asap"),
                    "1.3.6.1.4.1.318.1.1.10.4.3.2.1.7.0.1": ("2", 3),
                    "1.3.6.1.4.1.318.1.1.10.4.3.2.1.3.0.2": ("4", "Pintu"),
                    "1.3.6.1.4.1.318.1.1.10.4.3.2.1.7.0.2": ("2", 1)},
}

# --------------------------------------------------------------------------------------------------- PDU
RPDU2 = "1.3.6.1.4.1.318.1.1.26"
PDU: dict[str, Record] = {
    "v-rpdu2-overload": {**system("1.3.6.1.4.1.318.1.3.4.6", "APC Web/SNMP Management Card (Switched Rack PDU)"),
                         f"{RPDU2}.4.3.1.3.1": ("4", "PDU rak 1"), f"{RPDU2}.4.3.1.4.1": ("2", 4),
                         f"{RPDU2}.4.3.1.5.1": ("2", 371), f"{RPDU2}.6.3.1.4.1": ("2", 4),
                         f"{RPDU2}.6.3.1.5.1": ("2", 165),
                         f"{RPDU2}.6.3.1.6.1": ("2", 225)},
    "v-rpdu2-normal": {**system("1.3.6.1.4.1.318.1.3.4.6", "APC Web/SNMP Management Card (Switched Rack PDU)"),
                       f"{RPDU2}.4.3.1.4.1": ("2", 2), f"{RPDU2}.6.3.1.4.1": ("2", 2), f"{RPDU2}.6.3.1.5.1": ("2", 42),
                       f"{RPDU2}.6.3.1.6.1": ("2", 228)},
    "v-eaton-pdu-near": {**system("1.3.6.1.4.1.534.6.6.7", "Eaton ePDU"),
                         "1.3.6.1.4.1.534.6.6.7.3.2.1.3.0.1.1": ("2", 229500),
                         "1.3.6.1.4.1.534.6.6.7.3.3.1.4.0.1.1": ("2", 13800),
                         "1.3.6.1.4.1.534.6.6.7.3.3.1.5.0.1.1": ("2", 3),
                         "1.3.6.1.4.1.534.6.6.7.3.4.1.4.0.1.1": ("2", 3100)},
    "v-raritan-pdu": {**system("1.3.6.1.4.1.13742.6", "Raritan PX3"),
                      "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.1": ("66", 85),
                      "1.3.6.1.4.1.13742.6.3.3.4.1.7.1.1.1": ("66", 1),
                      "1.3.6.1.4.1.13742.6.5.2.3.1.3.1.1.1": ("2", 4),
                      "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.4": ("66", 230),
                      "1.3.6.1.4.1.13742.6.3.3.4.1.7.1.1.4": ("66", 0),
                      "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1.5": ("66", 1950)},
}

# ------------------------------------------------------------------------------------------------ servers
HR = "1.3.6.1.2.1.25"
FIXED, RAM = "1.3.6.1.2.1.25.2.1.4", "1.3.6.1.2.1.25.2.1.2"
OTHER, CDROM = "1.3.6.1.2.1.25.2.1.1", "1.3.6.1.2.1.25.2.1.7"


def storage(rows: list[tuple[int, str, str, int, int, int]]) -> Record:
    """hrStorageTable rows: (index, type, description, allocation units, size, used)."""
    out: Record = {}
    for index, kind, descr, units, size, used in rows:
        out |= {f"{HR}.2.3.1.1.{index}": ("2", index), f"{HR}.2.3.1.2.{index}": ("6", kind),
                f"{HR}.2.3.1.3.{index}": ("4", descr), f"{HR}.2.3.1.4.{index}": ("2", units),
                f"{HR}.2.3.1.5.{index}": ("2", size), f"{HR}.2.3.1.6.{index}": ("2", used)}
    return out


SERVERS: dict[str, Record] = {
    # Linux: 90 % "used" of which buffers and page cache are 40 points; an ISO image mounted read-only, 100 % full
    "v-linux-iso": {**system("1.3.6.1.4.1.8072.3.2.10", "Linux rekam-1 5.15.0 x86_64"),
                    f"{HR}.1.1.0": ("67", 123456789), f"{HR}.3.3.1.2.196608": ("2", 12),
                    **storage([(1, RAM, "Physical memory", 1024, 16000000, 14400000),
                               (6, OTHER, "Memory buffers", 1024, 16000000, 800000),
                               (7, OTHER, "Cached memory", 1024, 5600000, 5600000),
                               (31, FIXED, "/", 4096, 1000000, 500000),
                               (36, FIXED, "/mnt/installer", 2048, 350000, 350000)]),
                    f"{HR}.3.8.1.4.1": ("6", "1.3.6.1.2.1.25.3.9.23"), f"{HR}.3.8.1.5.1": ("2", 1),
                    f"{HR}.3.8.1.7.1": ("2", 31),
                    f"{HR}.3.8.1.4.2": ("6", "1.3.6.1.2.1.25.3.9.12"), f"{HR}.3.8.1.5.2": ("2", 2),
                    f"{HR}.3.8.1.7.2": ("2", 36)},
    # Windows: an empty CD-ROM drive (allocation units 0, size 0), C: nearly full
    "v-windows-cdrom": {**system("1.3.6.1.4.1.311.1.1.3.1.2", "Hardware: Intel64 - Software: Windows Version 6.3"),
                        f"{HR}.1.1.0": ("67", 5000000), f"{HR}.3.3.1.2.5": ("2", 20), f"{HR}.3.3.1.2.6": ("2", 30),
                        **storage([(1, FIXED, "C:\\ Label:  Serial Number 1a2b", 4096, 25000000, 23000000),
                                   (2, CDROM, "D:\\", 0, 0, 0),
                                   (3, "1.3.6.1.2.1.25.2.1.3", "Virtual Memory", 65536, 300000, 120000),
                                   (4, RAM, "Physical Memory", 65536, 250000, 150000)])},
    # Synology DSM: volumes under /volume1, USB disk mounted under /volumeUSB1, buffers and cache
    "v-synology": {**system("1.3.6.1.4.1.8072.3.2.10", "Linux DiskStation 4.4.59+ #25426 SMP x86_64"),
                   f"{HR}.1.1.0": ("67", 99999999), f"{HR}.3.3.1.2.196608": ("2", 5),
                   **storage([(1, RAM, "Physical memory", 1024, 2000000, 1800000),
                              (6, OTHER, "Memory buffers", 1024, 2000000, 100000),
                              (7, OTHER, "Cached memory", 1024, 1000000, 1000000),
                              (31, FIXED, "/", 4096, 600000, 300000),
                              (51, FIXED, "/volume1", 4096, 900000000, 450000000)])},
}

ALL: dict[str, Record] = {**UPS, **ROOM, **PDU, **SERVERS}
