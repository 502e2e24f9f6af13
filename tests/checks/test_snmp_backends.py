"""The two SNMP backends (pysnmp, ezsnmp) against Debian's snmpd: the same values for every SNMP type,
correct answers under concurrency (ezsnmp runs in a thread pool), the same failure kinds, and the
configuration switch (``monitor.snmp_backend``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checks.resources import CheckResources, resolve_snmp_backend
from checks.snmp_backend import FailureKind, PysnmpBackend, SnmpTarget
from checks.snmp_ezsnmp import EzsnmpBackend, ezsnmp_available
from checks.values import SnmpValue
from monitor.domain import SnmpCredentials
from monitor.errors import CheckSetupError
from monitor.sandbox import free_udp_port
from monitor.sandbox.snmpd import Override, SnmpdAgent

ENT = "1.3.6.1.4.1.99999.8"
TYPED = [
    Override(f"{ENT}.1.0", "integer", -2),
    Override(f"{ENT}.2.0", "counter", 4294967295),
    Override(f"{ENT}.3.0", "uinteger", 45),
    Override(f"{ENT}.4.0", "octet_str", "Gedung B lantai 2 — ruang server"),
    Override(f"{ENT}.5.0", "octet_str", ""),
    Override(f"{ENT}.6.0", "object_id", ".1.3.6.1.4.1.318.1"),
]
OIDS = [o.oid for o in TYPED] + [
    "1.3.6.1.2.1.1.3.0",              # sysUpTime: TimeTicks
    "1.3.6.1.2.1.1.2.0",              # sysObjectID: OID
    "1.3.6.1.2.1.31.1.1.1.6.1",       # ifHCInOctets.1: Counter64
    "1.3.6.1.2.1.4.20.1.1.127.0.0.1",  # ipAdEntAddr: IpAddress
    "1.3.6.1.2.1.99.99.0",            # absent: noSuchObject
]
EXPECTED = {
    f"{ENT}.1.0": SnmpValue("integer", -2),
    f"{ENT}.2.0": SnmpValue("counter32", 4294967295),
    f"{ENT}.3.0": SnmpValue("gauge32", 45),
    f"{ENT}.4.0": SnmpValue("octets", "Gedung B lantai 2 — ruang server".encode()),
    f"{ENT}.5.0": SnmpValue("octets", b""),
    f"{ENT}.6.0": SnmpValue("oid", "1.3.6.1.4.1.318.1"),
    "1.3.6.1.2.1.1.2.0": SnmpValue("oid", "1.3.6.1.4.1.8072.3.2.10"),
    "1.3.6.1.2.1.4.20.1.1.127.0.0.1": SnmpValue("ipaddress", "127.0.0.1"),
    "1.3.6.1.2.1.99.99.0": SnmpValue("nosuchobject"),
}


@pytest.fixture(scope="module")
def two_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SnmpdAgent, SnmpdAgent]]:
    """Two snmpd processes that answer the same OID differently (and the typed values on the first)."""
    a = SnmpdAgent(communities=["pub"], overrides=[*TYPED, Override(f"{ENT}.9.0", "integer", 111)],
                   hosts=["127.0.0.1", "127.0.0.2"], work_dir=tmp_path_factory.mktemp("snmpd-a"))
    b = SnmpdAgent(communities=["pub"], overrides=[Override(f"{ENT}.9.0", "integer", 222)],
                   work_dir=tmp_path_factory.mktemp("snmpd-b"))
    with a, b:
        yield a, b


def make(name: str) -> Any:
    return EzsnmpBackend(promote_after=0) if name == "ezsnmp" else PysnmpBackend()


def target(agent: SnmpdAgent, host: str | None = None, *, community: str = "pub", version: str = "2c",
           timeout: float = 1.0, retries: int = 0) -> SnmpTarget:
    creds = SnmpCredentials(version=version, community=community, port=agent.port)
    return SnmpTarget(host or agent.host, creds, timeout=timeout, retries=retries)


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_every_snmp_type_reads_the_same_on_both_backends(two_agents: tuple[SnmpdAgent, SnmpdAgent],
                                                               version: str) -> None:
    agent, _ = two_agents
    replies = {}
    for name in ("pysnmp", "ezsnmp"):
        backend = make(name)
        try:
            replies[name] = await backend.fetch(target(agent, version=version), OIDS, [])
        finally:
            await backend.close()
    for name, reply in replies.items():
        assert reply.failure is None, (name, reply.failure)
        for oid, want in EXPECTED.items():
            assert reply.scalars[oid] == want, (name, oid, reply.scalars[oid])
        uptime = reply.scalars["1.3.6.1.2.1.1.3.0"]
        assert uptime.tag == "timeticks" and isinstance(uptime.value, int) and uptime.value >= 0
        counter64 = reply.scalars["1.3.6.1.2.1.31.1.1.1.6.1"]
        assert counter64.tag in ("counter64", "nosuchinstance", "nosuchobject")  # v1 cannot carry Counter64
    assert replies["pysnmp"].scalars.keys() == replies["ezsnmp"].scalars.keys()


async def test_walks_read_the_same_rows_on_both_backends(two_agents: tuple[SnmpdAgent, SnmpdAgent]) -> None:
    agent, _ = two_agents
    columns = ["1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.8"]    # ifDescr, ifOperStatus
    rows = {}
    for name in ("pysnmp", "ezsnmp"):
        backend = make(name)
        try:
            reply = await backend.fetch(target(agent), [], columns, max_rows=64)
        finally:
            await backend.close()
        assert reply.failure is None
        rows[name] = reply.columns
    assert rows["pysnmp"] == rows["ezsnmp"]
    assert rows["ezsnmp"]["1.3.6.1.2.1.2.2.1.2"]["1"] == SnmpValue("octets", b"lo")


@pytest.mark.parametrize("name", ["pysnmp", "ezsnmp"])
async def test_concurrent_polls_of_different_agents_never_mix_answers(two_agents: tuple[SnmpdAgent, SnmpdAgent],
                                                                      name: str) -> None:
    a, b = two_agents
    backend = make(name)
    oid = f"{ENT}.9.0"
    targets = [target(a), target(a, "127.0.0.2"), target(b)]
    want = [111, 111, 222]
    try:
        replies = await asyncio.wait_for(asyncio.gather(
            *(backend.fetch(targets[i % 3], [oid, "1.3.6.1.2.1.1.3.0"], []) for i in range(300))), 60)
    finally:
        await backend.close()
    for i, reply in enumerate(replies):
        assert reply.failure is None, reply.failure
        assert reply.scalars[oid] == SnmpValue("integer", want[i % 3])


@pytest.mark.parametrize("name", ["pysnmp", "ezsnmp"])
async def test_failure_kinds_match(two_agents: tuple[SnmpdAgent, SnmpdAgent], name: str) -> None:
    agent, _ = two_agents
    backend = make(name)
    try:
        silent = await backend.fetch(target(agent, community="wrong", timeout=0.3), ["1.3.6.1.2.1.1.3.0"], [])
        nobody = SnmpCredentials(version="2c", community="pub", port=free_udp_port())
        dead = await backend.fetch(SnmpTarget("127.0.0.1", nobody, 0.2, 1), ["1.3.6.1.2.1.1.3.0"], [])
        unresolvable = await backend.fetch(SnmpTarget("no-such-host.invalid", target(agent).credentials, 0.2, 0),
                                           ["1.3.6.1.2.1.1.3.0"], [])
    finally:
        await backend.close()
    assert silent.failure is not None and silent.failure.kind is FailureKind.TIMEOUT
    assert "pub" not in silent.failure.message and "wrong" not in silent.failure.message
    assert dead.failure is not None and dead.failure.kind is FailureKind.TIMEOUT
    assert unresolvable.failure is not None and unresolvable.failure.kind is FailureKind.CONFIG
    assert backend.requests >= 2


async def test_a_closed_backend_refuses_requests() -> None:
    backend = EzsnmpBackend(promote_after=0)
    await backend.close()
    await backend.close()
    creds = SnmpCredentials(version="2c", community="pub", port=161)
    reply = await backend.fetch(SnmpTarget("127.0.0.1", creds, 0.1, 0), ["1.3.6.1.2.1.1.3.0"], [])
    assert reply.failure is not None and reply.failure.kind is FailureKind.CONFIG


def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ezsnmp_available()                       # the test extra installs the fast extra
    assert resolve_snmp_backend("pysnmp") == "pysnmp"
    assert resolve_snmp_backend("ezsnmp") == "ezsnmp"
    assert resolve_snmp_backend("auto") == "ezsnmp"
    assert CheckResources().snmp_backend_name == "pysnmp"
    with pytest.raises(CheckSetupError, match="unknown SNMP backend"):
        resolve_snmp_backend("netsnmp")
    monkeypatch.setattr("checks.snmp_ezsnmp.ezsnmp_available", lambda: False)
    assert resolve_snmp_backend("auto") == "pysnmp"
    with pytest.raises(CheckSetupError, match=r"pip install 'ektp-monitor\[fast\]'"):
        CheckResources(snmp_backend="ezsnmp")


async def test_the_config_key_selects_the_backend(write_config: Any, tmp_path: Path) -> None:
    from monitor.app import build_check_resources, load_config

    cfg = write_config("""
        telegram: {enabled: false}
        monitor: {snmp_backend: ezsnmp, concurrency: 40}
        sites:
          - id: s
            name: S
            devices:
              - {id: u, name: U, kind: ups, address: 127.0.0.1,
                 checks: [{type: snmp, profile: ups-rfc1628, snmp: {community: c}}]}
        """)
    resources = build_check_resources(load_config(cfg, environ={}))
    try:
        assert resources.snmp_backend_name == "ezsnmp"
        backend = resources.snmp
        assert isinstance(backend, EzsnmpBackend) and backend.fallback._limit._value == 40
    finally:
        await resources.close()


async def test_the_ezsnmp_lane_takes_devices_that_answer_and_gives_back_those_that_stop(
        two_agents: tuple[SnmpdAgent, SnmpdAgent]) -> None:
    agent, _ = two_agents
    backend = EzsnmpBackend(promote_after=2)
    live = target(agent)
    nobody = SnmpTarget("127.0.0.1", SnmpCredentials(version="2c", community="pub", port=free_udp_port()), 0.3, 0)
    try:
        for _ in range(2):                                   # first contact: through pysnmp
            assert (await backend.fetch(live, OIDS[:2], [])).failure is None
        assert backend.counters["fallback"] == 2 and backend.counters["promoted"] == 1
        on_lane = await backend.fetch(live, OIDS, [])         # now on the net-snmp lane
        assert backend.counters["lane"] == 1
        assert on_lane.scalars[f"{ENT}.1.0"] == SnmpValue("integer", -2)
        dead = await backend.fetch(nobody, OIDS[:1], [])      # never answered: never on the lane
        assert dead.failure is not None and dead.failure.kind is FailureKind.TIMEOUT
        assert backend.counters["lane"] == 1
    finally:
        await backend.close()


async def test_a_device_that_dies_on_the_lane_is_asked_again_with_its_full_budget(tmp_path: Path) -> None:
    agent = SnmpdAgent(communities=["pub"], work_dir=tmp_path)
    agent.start()
    backend = EzsnmpBackend(promote_after=0)
    try:
        tgt = SnmpTarget("127.0.0.1", SnmpCredentials(version="2c", community="pub", port=agent.port), 0.5, 1)
        assert (await backend.fetch(tgt, ["1.3.6.1.2.1.1.3.0"], [])).failure is None
        agent.stop()
        started = asyncio.get_running_loop().time()
        gone = await backend.fetch(tgt, ["1.3.6.1.2.1.1.3.0"], [])
        took = asyncio.get_running_loop().time() - started
        assert gone.failure is not None and gone.failure.kind is FailureKind.TIMEOUT
        assert backend.counters["lane_timeouts"] == 1 and backend.counters["demoted"] == 1
        assert took >= 0.25 + 2 * 0.5 - 0.05                     # the lane's short wait, then the full budget
    finally:
        agent.stop()
        await backend.close()
