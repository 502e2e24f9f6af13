"""Real agents for the check tests, all on loopback (or inside network namespaces the tests create).

* ``sim`` (session): one snmpsim serving every LibreNMS recording (community = file name) plus
  test-made recordings whose values a test changes by SNMP SET (writecache, one alias per value);
* ``snmpd`` (session): Debian's snmpd with v2c communities and v3 users (SHA/SHA-256, AES-128);
* ``netns`` (function): the two-namespace recipe of library-findings §4, unique names, always removed;
* ``checks``: :class:`SnmpCheck` s against ``sim`` sharing one resources object — once per SNMP backend
  (``snmp_backend``: pysnmp and ezsnmp), so both pass the same tests.

Every process is started and stopped by PID through ``monitor.sandbox``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from checks.resources import CheckResources
from checks.snmp import SnmpCheck
from monitor.domain import Device, DeviceKind, PowerQuality, SnmpSpec
from monitor.sandbox.snmpd import Override, SnmpdAgent, SnmpdUser
from monitor.sandbox.snmpsim import SnmpsimAgent, make_recording
from tests.checks.vendor_recordings import ALL as VENDOR_RECORDINGS
from tests.checks.vendor_recordings import rfc1628, system
from tests.conftest import RECORDINGS, ROOT

AUTO_UPS = {**system("1.3.6.1.4.1.8072.3.2.10", "UPS with a restarting card", uptime=9_000_000), **rfc1628()}

SNMPREC = RECORDINGS / "snmprec"
EXPECTED = RECORDINGS / "expected"

UPS_OUTPUT_SOURCE = "1.3.6.1.2.1.33.1.4.1.0"
UPS_BATTERY_STATUS = "1.3.6.1.2.1.33.1.2.1.0"
UPS_LINE_BADS = "1.3.6.1.2.1.33.1.3.1.0"
UPS_INPUT_VOLTAGE = "1.3.6.1.2.1.33.1.3.3.1.3.1"
APC_OUTPUT_STATUS = "1.3.6.1.4.1.318.1.1.1.4.1.1.0"
APC_REPLACE = "1.3.6.1.4.1.318.1.1.1.2.2.4.0"
APC_BATTERY_STATUS = "1.3.6.1.4.1.318.1.1.1.2.1.1.0"
APC_FAIL_CAUSE = "1.3.6.1.4.1.318.1.1.1.3.2.5.0"
APC_CONTACT1 = "1.3.6.1.4.1.318.1.1.10.2.3.4.1.3.1"
POSEIDON_ALARM1 = "1.3.6.1.4.1.21796.3.3.1.1.5.1"
POSEIDON_VALUE1 = "1.3.6.1.4.1.21796.3.3.1.1.2.1"
STRIKES = "1.3.6.1.4.1.99999.7.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
HR_UPTIME = "1.3.6.1.2.1.25.1.1.0"
HR_DISK_USED = "1.3.6.1.2.1.25.2.3.1.6.131072"
IF_OPER_WAN = "1.3.6.1.2.1.2.2.1.8.3"

# test-made writable devices: community -> (base recording, extra/changed records, writable OID -> alias)
WRITABLE: dict[str, tuple[str | None, dict[str, tuple[str, str | int]], dict[str, str]]] = {
    "wc-rfc1628": ("deltaups", {UPS_LINE_BADS: ("65", 10)},
                   {UPS_OUTPUT_SOURCE: "wc01", UPS_BATTERY_STATUS: "wc02", UPS_LINE_BADS: "wc03",
                    UPS_INPUT_VOLTAGE: "wc04", SYS_UPTIME: "wc05"}),
    "wc-apc": ("apc_surt3000xl", {APC_BATTERY_STATUS: ("2", 2)},
               {APC_OUTPUT_STATUS: "wc10", APC_REPLACE: "wc11", APC_BATTERY_STATUS: "wc12", APC_FAIL_CAUSE: "wc13",
                APC_CONTACT1: "wc14"}),
    "wc-poseidon": ("hwg-poseidon", {}, {POSEIDON_ALARM1: "wc20", POSEIDON_VALUE1: "wc21"}),
    "wc-counter": (None, {"1.3.6.1.2.1.1.1.0": ("4", "strike counter (test)"), SYS_UPTIME: ("67", 500000),
                          STRIKES: ("65", 5)},
                   {STRIKES: "wc30", SYS_UPTIME: "wc31"}),
    "wc-host": ("routeros", {}, {HR_UPTIME: "wc40", HR_DISK_USED: "wc41", IF_OPER_WAN: "wc42"}),
    # profile: auto on a UPS whose agent restarts (sysUpTime goes back) -> probed again
    "wc-auto": (None, {**AUTO_UPS}, {SYS_UPTIME: "wc50", UPS_OUTPUT_SOURCE: "wc51"}),
}

# deliberately broken devices
GARBAGE: dict[str, dict[str, tuple[str, str | int]]] = {
    # every required object has the wrong type -> the profile does not fit this device
    "bad-types": {UPS_OUTPUT_SOURCE: ("4", "normal"), UPS_BATTERY_STATUS: ("6", "1.3.6.1.4.1.1")},
    # a UPS that answers, but with nonsense values
    "bad-values": {"1.3.6.1.2.1.1.1.0": ("4", "broken UPS"), UPS_OUTPUT_SOURCE: ("2", 3), UPS_BATTERY_STATUS: ("2", 2),
                   "1.3.6.1.2.1.33.1.2.4.0": ("2", 250),               # charge 250 %
                   UPS_LINE_BADS: ("2", -5),                          # negative counter
                   "1.3.6.1.2.1.33.1.2.7.0": ("4", "x" * 100),        # temperature as text
                   UPS_INPUT_VOLTAGE: ("2", 230)},
    # the status objects themselves are nonsense: nothing essential can be read
    "bad-status": {"1.3.6.1.2.1.1.1.0": ("4", "broken UPS"), UPS_OUTPUT_SOURCE: ("2", 99),
                   UPS_BATTERY_STATUS: ("2", 77), "1.3.6.1.2.1.33.1.2.4.0": ("2", 250)},
    # a huge string where the profile expects a model name
    "bad-string": {"1.3.6.1.4.1.318.1.1.1.4.1.1.0": ("2", 2), "1.3.6.1.4.1.318.1.1.1.1.1.1.0": ("4", "A" * 2000),
                   "1.3.6.1.4.1.318.1.1.1.3.3.1.0": ("66", 2300)},
}


# RFC 1628 alarm table: upsAlarmDescr is walked only when upsAlarmsPresent says there is something to see
_ALARM_BASE = {UPS_OUTPUT_SOURCE: ("2", 3), UPS_BATTERY_STATUS: ("2", 2), UPS_INPUT_VOLTAGE: ("2", 225),
               "1.3.6.1.2.1.33.1.6.2.1.2.1": ("6", "1.3.6.1.2.1.33.1.6.3.1")}   # upsAlarmBatteryBad
STATIC: dict[str, dict[str, tuple[str, str | int]]] = {
    "alarm-ups": {**_ALARM_BASE, "1.3.6.1.2.1.33.1.6.1.0": ("66", 1)},
    "alarm-ups-stale": {**_ALARM_BASE, "1.3.6.1.2.1.33.1.6.1.0": ("66", 0)},   # count 0: the table is not read
}


def writecache_aliases() -> list[str]:
    return [alias for _base, _values, writable in WRITABLE.values() for alias in writable.values()]


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpsimAgent]:
    """snmpsim with the real recordings and the test-made devices."""
    data = tmp_path_factory.mktemp("simdata")
    for community, (base, values, writable) in WRITABLE.items():
        make_recording(data, community, base=SNMPREC / f"{base}.snmprec" if base else None, values=values,
                       writable=writable)
    for community, values in (GARBAGE | STATIC | VENDOR_RECORDINGS).items():
        make_recording(data, community, values=values)
    with SnmpsimAgent([SNMPREC, data], writecache=writecache_aliases(),
                      work_dir=tmp_path_factory.mktemp("simwork")) as agent:
        yield agent


@pytest.fixture
def restore_values(sim: SnmpsimAgent) -> Iterator[Callable[[str, str, int, str], None]]:
    """``set_value(community, oid, value, type)`` on the shared simulator; the original values come back
    after the test (the simulator is shared by the session)."""
    changed: list[tuple[str, str, int, str]] = []

    def set_value(community: str, oid: str, value: int, type_: str = "i") -> None:
        base, values, _writable = WRITABLE[community]
        original = values.get(oid)
        if original is None and base is not None:
            for line in (SNMPREC / f"{base}.snmprec").read_text().splitlines():
                if line.startswith(oid + "|"):
                    original = (line.split("|")[1], line.split("|")[2])
        assert original is not None, oid
        if not any(c[0] == community and c[1] == oid for c in changed):
            changed.append((community, oid, int(original[1]), type_))
        sim.set(community, oid, value, type_)

    yield set_value
    for community, oid, value, type_ in reversed(changed):
        sim.set(community, oid, value, type_)


SNMPD_USERS = [
    SnmpdUser("sha-aes", "sha", "authpass-sha1", "aes", "privpass-sha1"),
    SnmpdUser("sha256-aes", "sha256", "authpass-sha256", "aes", "privpass-sha256"),
    SnmpdUser("sha256-auth", "sha256", "authonly-sha256"),
]
SNMPD_OVERRIDES = [
    Override(UPS_OUTPUT_SOURCE, "integer", 3, writable=True),
    Override(UPS_BATTERY_STATUS, "integer", 2),
    Override("1.3.6.1.2.1.33.1.2.3.0", "integer", 45),
    Override("1.3.6.1.2.1.33.1.2.4.0", "integer", 97),
    Override(UPS_LINE_BADS, "counter", 0),
    Override(UPS_INPUT_VOLTAGE, "integer", 225),
]


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpdAgent]:
    with SnmpdAgent(communities=["ups-v2"], rw_community="ups-rw", users=SNMPD_USERS, overrides=SNMPD_OVERRIDES,
                    work_dir=tmp_path_factory.mktemp("snmpd")) as agent:
        yield agent


def device(kind: DeviceKind = DeviceKind.UPS, *, address: str = "127.0.0.1", band: tuple[float, float] | None = None,
           low_runtime: timedelta | None = None, device_id: str = "dev") -> Device:
    pq: dict[str, Any] = {}
    if band is not None:
        pq.update(input_voltage_min=band[0], input_voltage_max=band[1])
    if low_runtime is not None:
        pq["low_runtime"] = low_runtime
    return Device(id=device_id, name=device_id, kind=kind, address=address, confirm_down=1, confirm_up=1,
                  power_quality=PowerQuality(**pq))


def snmp_spec(profile: str, port: int, *, community: str | None = None, params: dict[str, Any] | None = None,
              timeout: str = "1s", retries: int = 0, **snmp: Any) -> SnmpSpec:
    creds: dict[str, Any] = {"version": "2c", "port": port, **snmp}
    if community is not None:
        creds["community"] = community
    return SnmpSpec(profile=profile, snmp=creds, interval="60s", timeout=timeout, retries=retries,
                    params=params or {})


@dataclass
class Checks:
    """Builds checks that share one CheckResources (like the daemon), closed after the test."""

    resources: CheckResources
    port: int
    made: list[SnmpCheck] = field(default_factory=list)

    def snmp(self, community: str, profile: str = "auto", params: dict[str, Any] | None = None,
             **kw: Any) -> SnmpCheck:
        check = SnmpCheck(snmp_spec(profile, kw.pop("port", self.port), community=community, params=params, **kw),
                          self.resources)
        self.made.append(check)
        return check


SNMP_BACKENDS = ["pysnmp", "ezsnmp"]


@pytest.fixture(params=SNMP_BACKENDS)
def snmp_backend(request: pytest.FixtureRequest) -> str:
    """Every SNMP check test runs against both backends (same agents, same expectations)."""
    return str(request.param)


def backend_resources(name: str) -> CheckResources:
    """Shared resources on ``name``; ezsnmp with every device on its lane at once (in the daemon a device
    joins the lane after answering a few times through pysnmp), so these tests exercise net-snmp."""
    if name == "ezsnmp":
        from checks.snmp_ezsnmp import EzsnmpBackend

        return CheckResources(snmp_backend=EzsnmpBackend(promote_after=0))
    return CheckResources(snmp_backend=name)


@pytest.fixture
async def checks(sim: SnmpsimAgent, snmp_backend: str) -> AsyncIterator[Checks]:
    resources = backend_resources(snmp_backend)
    try:
        yield Checks(resources, sim.port)
    finally:
        await resources.close()


# -------------------------------------------------------------------------------- network namespaces


@dataclass
class Netns:
    """Two namespaces joined by a veth pair: ``mon`` (198.18.0.1, the pinging side, no default route)
    and ``dev`` (198.18.0.2). 198.18.0.3 belongs to nobody (a silent host)."""

    mon: str
    dev: str
    veth_mon: str
    veth_dev: str

    def run(self, ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, check=check,
                              timeout=60)

    def python(self, ns: str, payload: dict[str, Any], *, user: int | None = None) -> Any:
        """Run tests/checks/ns_helper.py inside ``ns`` and return its JSON output."""
        argv = ["ip", "netns", "exec", ns]
        if user is not None:
            argv += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        argv += [sys.executable, "-m", "tests.checks.ns_helper", json.dumps(payload)]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def netns() -> Iterator[Netns]:
    tag = secrets.token_hex(3)
    ns = Netns(f"ektp-mon-{tag}", f"ektp-dev-{tag}", f"ekm{tag}", f"ekd{tag}")
    created: list[str] = []
    try:
        for name in (ns.mon, ns.dev):
            subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
            created.append(name)
        subprocess.run(["ip", "link", "add", ns.veth_mon, "type", "veth", "peer", "name", ns.veth_dev],
                       check=True, timeout=10)
        subprocess.run(["ip", "link", "set", ns.veth_mon, "netns", ns.mon], check=True, timeout=10)
        subprocess.run(["ip", "link", "set", ns.veth_dev, "netns", ns.dev], check=True, timeout=10)
        for name, dev, addr in ((ns.mon, ns.veth_mon, "198.18.0.1/24"), (ns.dev, ns.veth_dev, "198.18.0.2/24")):
            subprocess.run(["ip", "-n", name, "addr", "add", addr, "dev", dev], check=True, timeout=10)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=10)
            subprocess.run(["ip", "-n", name, "link", "set", dev, "up"], check=True, timeout=10)
        # proves there is no way out of the monitor namespace
        route = subprocess.run(["ip", "-n", ns.mon, "route", "get", "8.8.8.8"], capture_output=True, text=True)
        assert route.returncode != 0
        yield ns
    finally:
        for name in created:   # deleting the namespaces deletes the veth pair
            subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)
