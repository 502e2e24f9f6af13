"""SNMPv3 (and v2c) against Debian's net-snmp snmpd started by the test: authPriv with SHA and SHA-256 and
AES-128, authNoPriv; wrong keys and unknown users are "authentication failed" (unknown), never down."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from checks.snmp import SnmpCheck
from monitor.domain import ReasonCode, Status
from monitor.sandbox import snmp_set
from monitor.sandbox.snmpd import SnmpdAgent

from .conftest import UPS_OUTPUT_SOURCE, backend_resources, device, snmp_spec

NOW = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

V3_OK = [
    {"user": "sha-aes", "auth_protocol": "sha", "auth_key": "authpass-sha1", "priv_protocol": "aes128",
     "priv_key": "privpass-sha1"},
    {"user": "sha256-aes", "auth_protocol": "sha256", "auth_key": "authpass-sha256", "priv_protocol": "aes128",
     "priv_key": "privpass-sha256"},
    {"user": "sha256-auth", "auth_protocol": "sha256", "auth_key": "authonly-sha256"},
]


async def run(snmpd: SnmpdAgent, backend: str, *, timeout: str = "1s", retries: int = 0, **creds: Any) -> Any:
    resources = backend_resources(backend)
    try:
        check = SnmpCheck(snmp_spec("ups-rfc1628", snmpd.port, timeout=timeout, retries=retries, **creds), resources)
        return await check.run(device(), now=NOW)
    finally:
        await resources.close()


@pytest.mark.parametrize("creds", V3_OK, ids=lambda c: c["user"])
async def test_v3_reads_the_ups(creds: dict[str, Any], snmpd: SnmpdAgent, snmp_backend: str) -> None:
    result = await run(snmpd, snmp_backend, version="3", **creds)
    assert result.status is Status.UP, result.reason
    assert result.metrics["battery.charge"] == 97
    assert result.metrics["battery.runtime"] == 45 * 60
    assert result.metrics["input.voltage"] == 225
    assert result.metrics["ups.status"] == "OL"


async def test_v2c_on_snmpd_and_a_set_that_puts_the_ups_on_battery(snmpd: SnmpdAgent, snmp_backend: str) -> None:
    assert (await run(snmpd, snmp_backend, community="ups-v2")).status is Status.UP
    assert snmp_set(snmpd.host, snmpd.port, "ups-rw", UPS_OUTPUT_SOURCE, 5)
    try:
        result = await run(snmpd, snmp_backend, version="3", **V3_OK[1])
        assert result.status is Status.DEGRADED and result.reason == "on battery"
    finally:
        assert snmp_set(snmpd.host, snmpd.port, "ups-rw", UPS_OUTPUT_SOURCE, 3)


@pytest.mark.parametrize(("creds", "words"), [
    ({**V3_OK[1], "auth_key": "wrong-auth-key"}, "wrong authentication key"),             # WrongDigest
    ({**V3_OK[0], "user": "nobody-here"}, "does not know user"),                           # UnknownUserName
    ({**V3_OK[1], "priv_key": "wrong-priv-key"}, "privacy"),                               # silently dropped
    ({**V3_OK[0], "auth_protocol": "sha256"}, "authentication"),                           # wrong protocol
], ids=["wrong-auth-key", "unknown-user", "wrong-priv-key", "wrong-auth-protocol"])
async def test_v3_misconfiguration_is_authentication_failed(creds: dict[str, Any], words: str,
                                                            snmpd: SnmpdAgent, snmp_backend: str) -> None:
    result = await run(snmpd, snmp_backend, version="3", timeout="500ms", **creds)
    assert result.status is Status.UNKNOWN, result.reason
    assert result.reason_code is ReasonCode.AUTH_FAILED
    assert (result.reason or "").startswith("authentication failed")
    assert words in (result.reason or "")
    for secret in (creds.get("auth_key"), creds.get("priv_key")):
        assert secret not in (result.reason or "")


async def test_wrong_v2c_community_on_snmpd(snmpd: SnmpdAgent, snmp_backend: str) -> None:
    result = await run(snmpd, snmp_backend, community="not-the-community", timeout="500ms")
    assert result.status is Status.UNKNOWN and result.reason_code is ReasonCode.AUTH_FAILED


async def test_v3_timeout_is_down(tmp_path: Any, snmp_backend: str) -> None:
    agent = SnmpdAgent(communities=["x"], work_dir=tmp_path)
    agent.start()
    port = agent.port
    agent.stop()                                                     # the port is now dead
    resources = backend_resources(snmp_backend)
    try:
        check = SnmpCheck(snmp_spec("ups-rfc1628", port, timeout="300ms", retries=1, version="3", **V3_OK[0]),
                          resources)
        check._answered = True                                       # it answered before; now it is gone
        result = await check.run(device(), now=NOW)
    finally:
        await resources.close()
    assert result.status is Status.DOWN and result.reason_code is ReasonCode.TIMEOUT
