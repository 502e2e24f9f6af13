"""Promise 3 — bad input from devices: agents answering garbage are device problems (``unknown``, with the
reason), never a crash and never a reason for other checks to suffer; the SNMP value interpretation and the
trap handler survive fuzzing (10,000 cases in the long variant); a trap flood does not delay polling by
more than one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.profile import BoundProfile, Sample
from checks.profiles import ProfileCatalog
from checks.traps import TrapReceiver, TrapSource, TrapSources
from checks.values import SnmpValue, interpret
from monitor.domain import CheckResult, Device, DeviceKind, DeviceRef, Status, TrapEvent
from monitor.sandbox.snmpsim import SnmpsimAgent, make_recording
from monitor.settings import TrapUser
from tests.conftest import RECORDINGS

from .conftest import (
    Daemon,
    TcpService,
    flood_office,
    poll_lateness,
    query,
    report,
    size,
    upgrade,
    wait_until,
    write,
)

UPS_OUTPUT_SOURCE = "1.3.6.1.2.1.33.1.4.1.0"
UPS_BATTERY_STATUS = "1.3.6.1.2.1.33.1.2.1.0"

# ==================================================================== a raw responder: broken agents


class RawAgent:
    """An "SNMP agent" on loopback that answers every request badly, by ``mode``:

    ``wrong-address`` — a correct answer, but sent from 127.0.0.2 (another address); ``truncated`` — the
    first half of a correct answer; ``malformed`` — a correct answer with every byte scrambled;
    ``wrong-request-id`` — a correct answer to a request never made; ``wrong-type`` — OCTET STRING garbage
    for every value; ``huge`` — 3,000-byte strings for every value."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other.bind(("127.0.0.2", 0))
        self.sock.settimeout(0.2)
        self.requests = 0
        self._running = True
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while self._running:
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.requests += 1
            answer = self._answer(data)
            with contextlib.suppress(OSError):
                (self.other if self.mode == "wrong-address" else self.sock).sendto(answer, addr)

    def _answer(self, data: bytes) -> bytes:
        from pyasn1.codec.ber import decoder, encoder
        from pysnmp.proto import api, rfc1902

        try:
            p = api.PROTOCOL_MODULES[api.decodeMessageVersion(data)]
            msg, _ = decoder.decode(data, asn1Spec=p.Message())
        except Exception:
            return b"\x30\x06garbage"          # an SNMPv3 discovery probe, or anything else
        req = p.apiMessage.get_pdu(msg)
        rsp = p.apiPDU.get_response(req)
        value: Any = {"wrong-type": rfc1902.OctetString(b"\xff\xfe\x00 not a number"),
                      "huge": rfc1902.OctetString(b"A" * 3000)}.get(self.mode, rfc1902.Integer(3))
        p.apiPDU.set_varbinds(rsp, [(oid, value) for oid, _ in p.apiPDU.get_varbinds(req)])
        if self.mode == "wrong-request-id":
            p.apiPDU.set_request_id(rsp, (int(p.apiPDU.get_request_id(req)) + 7) % 2**31)
        out = p.apiMessage.get_response(msg)
        p.apiMessage.set_pdu(out, rsp)
        raw = bytes(encoder.encode(out))
        if self.mode == "truncated":
            return raw[: len(raw) // 2]
        if self.mode == "malformed":
            return bytes(b ^ 0x5A for b in raw)
        return raw

    def close(self) -> None:
        self._running = False
        self.sock.close()
        self.other.close()
        self._thread.join(2)


RAW_MODES = ("wrong-address", "truncated", "malformed", "wrong-request-id", "wrong-type", "huge")

# recordings served by snmpsim: community -> (profile, values)
GARBAGE_RECORDINGS: dict[str, tuple[str, dict[str, tuple[str, str | int]]]] = {
    "bad-types": ("ups-rfc1628", {UPS_OUTPUT_SOURCE: ("4", "normal"), UPS_BATTERY_STATUS: ("6", "1.3.6.1.4.1.1")}),
    "bad-values": ("ups-rfc1628", {
        "1.3.6.1.2.1.1.1.0": ("4", "broken UPS"), UPS_OUTPUT_SOURCE: ("2", 3), UPS_BATTERY_STATUS: ("2", 2),
        "1.3.6.1.2.1.33.1.2.4.0": ("2", 250),                       # charge 250 %
        "1.3.6.1.2.1.33.1.3.1.0": ("2", -5),                        # a negative counter
        "1.3.6.1.2.1.33.1.2.7.0": ("4", "x" * 100),                 # temperature as text
        "1.3.6.1.2.1.33.1.3.3.1.3.1": ("2", 230)}),
    "bad-string": ("ups-apc", {"1.3.6.1.4.1.318.1.1.1.4.1.1.0": ("2", 2),
                               "1.3.6.1.4.1.318.1.1.1.1.1.1.0": ("4", "A" * 2000),   # a 2,000-byte model name
                               "1.3.6.1.4.1.318.1.1.1.3.3.1.0": ("66", 2300)}),
    "missing": ("ups-rfc1628", {"1.3.6.1.2.1.1.1.0": ("4", "an agent without the UPS-MIB")}),
    # nothing essential can be read: the status objects themselves are out of their range
    "bad-status": ("ups-rfc1628", {"1.3.6.1.2.1.1.1.0": ("4", "broken UPS"), UPS_OUTPUT_SOURCE: ("2", 99),
                                   UPS_BATTERY_STATUS: ("2", 77)}),
}
# per-value trust (issue 14): these answer a few odd values among sane ones; the odd ones are dropped, the rest read
READ_DESPITE_ODD_VALUES = ("bad-values", "bad-string")


@pytest.fixture
def broken_agents(tmp_path: Path) -> Iterator[tuple[SnmpsimAgent, dict[str, RawAgent]]]:
    data = tmp_path / "snmp"
    for community, (_profile, values) in GARBAGE_RECORDINGS.items():
        make_recording(data, community, values=values)
    make_recording(data, "good-ups", base=RECORDINGS / "snmprec" / "riello.snmprec")
    raw = {mode: RawAgent(mode) for mode in RAW_MODES}
    try:
        with SnmpsimAgent(data, work_dir=tmp_path / "snmpsim") as sim:
            yield sim, raw
    finally:
        for agent in raw.values():
            agent.close()


def test_agents_answering_garbage_are_device_problems_and_never_crash_the_monitor(
        tmp_path: Path, broken_agents: tuple[SnmpsimAgent, dict[str, RawAgent]]) -> None:
    sim, raw = broken_agents
    svc = TcpService()
    devices = [f"""
              - {{id: {name}, name: "UPS {name}", kind: ups, address: 127.0.0.1,
                  checks: [{{type: snmp, profile: {profile}, snmp: {{community: {name}, port: {sim.port}}}}}]}}"""
               for name, (profile, _v) in GARBAGE_RECORDINGS.items()]
    devices += [f"""
              - {{id: raw-{mode}, name: "UPS raw {mode}", kind: ups, address: 127.0.0.1,
                  checks: [{{type: snmp, profile: ups-rfc1628, snmp: {{community: raw-agent-community,
                                                                     port: {agent.port}}}}}]}}"""
                for mode, agent in raw.items()]
    cfg = write(tmp_path / "office.yaml", f"""
        database: {{url: "sqlite:///{tmp_path}/monitor.db"}}
        telegram: {{enabled: false}}
        defaults: {{interval: 1s, timeout: 400ms, retries: 0, confirm_down: 2, confirm_up: 2}}
        monitor: {{heartbeat_interval: 1s, jitter: 200ms}}
        sites:
          - id: kantor
            name: "Kantor Uji"
            devices:
              - {{id: srv, name: "Server Perekaman", kind: recording_server, address: 127.0.0.1,
                  checks: [{{type: tcp, port: {svc.port}}}]}}
              - {{id: good-ups, name: "UPS baik", kind: ups, address: 127.0.0.1,
                  checks: [{{type: snmp, profile: ups-rfc1628, snmp: {{community: good-ups, port: {sim.port}}}}}]}}
              {"".join(devices)}
        """)
    upgrade(cfg)
    db = tmp_path / "monitor.db"
    broken = [*(d for d in GARBAGE_RECORDINGS if d not in READ_DESPITE_ODD_VALUES), *(f"raw-{m}" for m in RAW_MODES)]
    daemon = Daemon(cfg, tmp_path / "monitor.log").start()
    try:
        def states() -> dict[str, tuple[str, str | None]]:
            return {k: (s, r) for k, s, r in query(db, "SELECT d.key, s.status, s.reason FROM devices d "
                                                       "JOIN device_states s ON s.device_id = d.id")}

        def settled() -> bool:
            st_ = states()
            return (st_.get("srv", ("",))[0] == "up" and st_.get("good-ups", ("",))[0] != "unknown"
                    and all(st_.get(d, ("", None))[1] for d in broken)
                    and all(st_.get(d, ("",))[0] == "up" for d in READ_DESPITE_ODD_VALUES))

        wait_until(settled, 60, "every device judged", proc=daemon)
        time.sleep(3.0)                          # a few more rounds of garbage
        svc.down()                               # the good device still has its outage found and closed
        t_down = time.time()
        wait_until(lambda: query(db, "SELECT COUNT(*) FROM outages o JOIN devices d ON d.id = o.device_id "
                                     "WHERE d.key = 'srv'") == [(1,)], 20, "the server's outage", proc=daemon)
        detected = time.time() - t_down
        svc.up()
        wait_until(lambda: states()["srv"][0] == "up", 20, "the server back", proc=daemon)
        final = states()
        running_log = daemon.text()     # (at SIGTERM, APScheduler logs the checks it cancels with a traceback)
    finally:
        code = daemon.stop()
        svc.down()
    assert code == 0, daemon.tail()
    assert "Traceback" not in running_log, running_log[-3000:]
    outages = {k for (k,) in query(db, "SELECT d.key FROM outages o JOIN devices d ON d.id = o.device_id")}
    assert outages == {"srv"}                    # garbage never opened an outage
    expected = {                                 # device -> words its reason must contain
        "bad-types": "profile does not match", "missing": "profile does not match",
        "bad-status": "device answered garbage",
        "raw-wrong-address": "came from another address", "raw-truncated": "undecodable",
        "raw-malformed": "undecodable", "raw-wrong-request-id": "authentication failed",
        "raw-wrong-type": "profile does not match", "raw-huge": "profile does not match",
    }
    wrong = {d: final[d] for d, words in expected.items()
             if final[d][0] != "unknown" or words not in (final[d][1] or "")}
    assert not wrong, wrong
    assert final["good-ups"][0] in ("up", "degraded")
    assert all(final[d] == ("up", None) for d in READ_DESPITE_ODD_VALUES), final
    answered = sum(a.requests for a in raw.values())
    report(f"garbage agents: {len(broken)} broken devices ({len(GARBAGE_RECORDINGS)} snmpsim recordings, "
           f"{len(READ_DESPITE_ODD_VALUES)} of them read despite odd values, {len(raw)} raw responders, "
           f"{answered} bad answers served) all 'unknown' with the reason, 0 outages from them, no traceback; "
           f"the good server's outage found {detected:.1f} s after it began")


# ========================================================================= fuzzing SNMP interpretation

_TAGS = ["integer", "octets", "oid", "ipaddress", "counter32", "gauge32", "timeticks", "counter64", "opaque", "null",
         "nosuchobject", "nosuchinstance", "endofmibview"]
_CATALOG = ProfileCatalog()
_PARAMS: dict[str, dict[str, Any]] = {"spd-counter": {"oid": "1.3.6.1.4.1.99999.1.1.0"}, "spd-contact": {"contact": 1},
                                      "spd-contact-poseidon": {"contact": 1}, "if-uplink": {"interfaces": ["WAN"]}}


def _bound_profiles() -> list[BoundProfile]:
    out = []
    for name in _CATALOG.names:
        profile = _CATALOG.get(name)
        params = {k: v for k, v in _PARAMS.get(name, {}).items() if k in profile.definition.params}
        out.append(profile.bind(params))
    return out


_PROFILES = _bound_profiles()


def _value_strategy() -> st.SearchStrategy[SnmpValue]:
    ints = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 1, 2**31 - 1, 2**32, 2**64 - 1, 65535]))
    texts = st.one_of(st.binary(max_size=300), st.sampled_from([b"", b"230", b" 12.5 ", b"\x00\x00", b"NaN",
                                                                b"\xff" * 40, b"A" * 70000]))
    oids = st.lists(st.integers(0, 2**32), min_size=0, max_size=12).map(lambda p: ".".join(map(str, p)))

    def by_tag(tag: str) -> st.SearchStrategy[SnmpValue]:
        if tag in ("integer", "counter32", "gauge32", "timeticks", "counter64"):
            return ints.map(lambda v: SnmpValue(tag, v))  # type: ignore[arg-type]
        if tag in ("octets", "opaque"):
            return texts.map(lambda v: SnmpValue(tag, v))  # type: ignore[arg-type]
        if tag in ("oid", "ipaddress"):
            return oids.map(lambda v: SnmpValue(tag, v))  # type: ignore[arg-type]
        return st.just(SnmpValue(tag))  # type: ignore[arg-type]

    return st.sampled_from(_TAGS).flatmap(by_tag)


_DEVICE = Device.model_validate({"id": "fuzz", "name": "Fuzz <b>UPS</b>", "kind": "ups", "address": "127.0.0.1",
                                 "confirm_down": 2, "confirm_up": 2})
_FUZZ_CASES = {"interpret": 0, "evaluate": 0}


Reply = tuple[BoundProfile, dict[str, SnmpValue], dict[str, dict[str, SnmpValue]]]


@st.composite
def _replies(draw: st.DrawFn) -> Reply:
    bound = draw(st.sampled_from(_PROFILES))
    values = _value_strategy()
    scalars = {oid: draw(values) for oid in bound.scalar_oids.values() if draw(st.integers(0, 9)) > 0}
    columns: dict[str, dict[str, SnmpValue]] = {}
    for column in bound.column_oids.values():
        rows = draw(st.integers(0, 4))
        columns[column] = {draw(st.sampled_from(["1", "2", "3", "1.2", "999999", "0"])): draw(values)
                           for _ in range(rows)}
    return bound, scalars, columns


@settings(max_examples=size(1500, 10000), deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(_replies(), st.booleans(), st.integers(-10**6, 10**9))
def test_fuzz_snmp_value_interpretation(reply: Reply, twice: bool, seconds: int) -> None:
    """Any reply, through any built-in profile, twice in a row (counters, deltas, restarts): a result with a
    status and (unless up) a reason — never an exception, never a broken CheckResult invariant."""
    bound, scalars, columns = reply
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    for raw in scalars.values():
        for vtype in ("integer", "gauge", "counter32", "counter64", "timeticks", "string", "oid", "ip", "bool"):
            got = interpret(raw, vtype, absent=(-1, 65535, "n/a"), value_range=(0, 1000), max_length=255)
            assert got.problem in (None, "missing", "wrong_type", "garbage")
            assert (got.problem is None) == (got.value is not None)
            _FUZZ_CASES["interpret"] += 1
    previous: Sample | None = None
    for _ in range(2 if twice else 1):
        ev = bound.evaluate(scalars, columns, device=_DEVICE, previous=previous, now=now)
        _FUZZ_CASES["evaluate"] += 1
        assert isinstance(ev.status, Status)
        if ev.mismatch:
            assert ev.status is Status.UNKNOWN
            continue
        result = CheckResult(check="snmp:fuzz", type="snmp", status=ev.status, time=now, reason=ev.reason,
                             reason_code=ev.code, metrics=ev.metrics, units=ev.units, observations=ev.observations)
        assert (result.status is Status.UP) == (result.reason is None)
        previous = Sample(dict(ev.metrics), now)
        now += timedelta(seconds=seconds)


@pytest.mark.parametrize("raw", [b"\x1c0", b"\x1f12\x1e", "\u0660".encode(), b"1_000", b"0x1F", b"1e5",
                                 b" 230 ", b"-0", b"+7.5", b"\x0b5\x0c"])
def test_interpretation_of_text_numbers_found_by_the_long_fuzz(raw: bytes) -> None:
    """Cases the 10,000-case run found: a number sent as text with a Unicode separator (``\\x1c0``) crashed the
    check (``float()`` refused what the pattern had accepted)."""
    for vtype in ("integer", "gauge", "counter32"):
        got = interpret(SnmpValue("octets", raw), vtype)
        assert got.problem in (None, "wrong_type", "garbage")


def test_fuzz_snmp_value_interpretation_count() -> None:
    """Runs after the fuzz test above (same module, file order): reports how many cases it tried."""
    assert _FUZZ_CASES["evaluate"] >= size(1500, 10000)
    report(f"SNMP interpretation fuzz: {_FUZZ_CASES['evaluate']} profile evaluations over "
           f"{len(_PROFILES)} built-in profiles, {_FUZZ_CASES['interpret']} value interpretations, 0 exceptions")


# ============================================================================== fuzzing the trap handler

V3 = TrapUser(user="trapper", auth_protocol="sha256", auth_key="trap-auth-key", priv_protocol="aes128",
              priv_key="trap-priv-key", engine_id="80001f8880aabbccdd")
V3_ARGS = ["-v3", "-e", "0x80001f8880aabbccdd", "-u", "trapper", "-l", "authPriv", "-a", "SHA-256", "-A",
           "trap-auth-key", "-x", "AES", "-X", "trap-priv-key"]


def _captured(args: list[str], tool: str = "snmptrap") -> bytes:
    """One real datagram from net-snmp's snmptrap/snmpinform, caught on a loopback socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    proc = subprocess.Popen([tool, *args[:-1], f"127.0.0.1:{sock.getsockname()[1]}", *shlex.split(args[-1])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        data, _ = sock.recvfrom(65535)
        return data
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    if shutil.which("snmptrap") is None:
        pytest.skip("net-snmp's snmptrap is needed for real trap packets")
    varbinds = "'' 1.3.6.1.2.1.33.2.0.1 1.3.6.1.2.1.33.1.2.3.0 i 12 1.3.6.1.2.1.1.5.0 s <b>ups</b>"
    return [
        _captured(["-v2c", "-c", "trap-community", varbinds]),
        _captured(["-v1", "-c", "trap-community", "1.3.6.1.4.1.318 '' 6 5 '' 1.3.6.1.4.1.318.2.3.3.0 s on-battery"]),
        _captured(["-v2c", "-c", "trap-community", varbinds], tool="snmpinform"),
        _captured([*V3_ARGS, varbinds]),
        _captured(["-v2c", "-c", "wrong-community", varbinds]),
    ]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and b:                                      # flip a byte
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:                                    # truncate
            del b[rng.randrange(len(b)):]
        elif op == 2:                                          # insert junk
            pos = rng.randrange(len(b) + 1)
            b[pos:pos] = os.urandom(rng.randint(1, 20))
        elif op == 3 and len(b) > 2:                           # corrupt a length byte
            pos = rng.randrange(1, len(b))
            b[pos] = rng.choice([0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xFF])
        elif op == 4 and b:                                    # duplicate a slice
            i = rng.randrange(len(b))
            b[i:i] = b[i:i + rng.randint(1, 30)]
        else:                                                  # long form lengths everywhere
            b = bytearray(data[:2]) + b"\x84\xff\xff\xff\xff" + bytearray(data[2:])
    return bytes(b)


class _Traps:
    """A started receiver (v1/v2c community and a v3 user) fed datagrams directly, on its own loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.events: list[TrapEvent] = []
        ref = DeviceRef("kantor", "ups")

        async def on_event(e: TrapEvent) -> None:
            self.events.append(e)

        self.receiver = TrapReceiver(listen=("127.0.0.1", 0), communities=["trap-community"],
                                     sources=TrapSources([("127.0.0.1", TrapSource(ref, DeviceKind.UPS))]),
                                     on_event=on_event, v3_users=[V3], max_per_second=10**6)
        self.loop.run_until_complete(self.receiver.start())
        self.escaped: list[BaseException] = []
        self.cases = 0

    def feed(self, data: bytes) -> None:
        self.cases += 1
        try:
            self.loop.run_until_complete(self.receiver._handle(data, ("127.0.0.1", 40000)))
        except Exception as exc:  # an exception the handler did not turn into a counted refusal: a bug
            self.escaped.append(exc)

    def close(self) -> None:
        self.loop.run_until_complete(self.receiver.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def trap_harness() -> Iterator[_Traps]:
    harness = _Traps()
    try:
        yield harness
    finally:
        harness.close()


def test_fuzz_the_trap_handler(seeds: list[bytes], trap_harness: _Traps, caplog: pytest.LogCaptureFixture) -> None:
    """Mutated real traps (v1, v2c, inform, v3 authPriv, wrong community) and hypothesis' own bytes through
    the receiver's per-message handler: every case is accepted or counted as refused, none escapes."""
    h = trap_harness
    for s in seeds:
        h.feed(s)
    assert h.receiver.counters.accepted >= 4 and h.receiver.counters.bad_community >= 1   # the seeds are real
    n = size(1500, 10000)

    @settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.one_of(st.binary(max_size=600),
                     st.tuples(st.sampled_from(seeds), st.randoms(use_true_random=False)).map(
                         lambda sr: _mutate(sr[1], sr[0]))))
    def fuzz(data: bytes) -> None:
        h.feed(data)

    before = dict(h.receiver.counters.as_dict())
    with caplog.at_level(logging.ERROR, logger="checks.traps"):
        fuzz()
    c = h.receiver.counters.as_dict()
    handled = sum(c[k] - before[k] for k in ("accepted", "bad_community", "v3_unknown_user", "v3_auth_failed",
                                              "malformed"))
    assert h.escaped == [], h.escaped[:3]
    v3_refused = c["v3_unknown_user"] + c["v3_auth_failed"] - before["v3_unknown_user"] - before["v3_auth_failed"]
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records][:3]
    report(f"trap handler fuzz: {h.cases} datagrams ({n} hypothesis cases + seeds: mutated real v1/v2c/inform/v3 "
           f"traps and random bytes), 0 exceptions; accepted {c['accepted'] - before['accepted']}, malformed "
           f"{c['malformed'] - before['malformed']}, bad community {c['bad_community'] - before['bad_community']}, "
           f"v3 refused {v3_refused} (v3 report/discovery exchanges not counted: {h.cases - len(seeds) - handled})")


async def test_raw_malformed_packets_to_the_trap_port(seeds: list[bytes]) -> None:
    """The same mutations over UDP to a listening receiver: it keeps listening and still takes a good trap."""
    events: list[TrapEvent] = []

    async def on_event(e: TrapEvent) -> None:
        events.append(e)

    ups = TrapSource(DeviceRef("kantor", "ups"), DeviceKind.UPS)
    receiver = TrapReceiver(listen=("127.0.0.1", 0), communities=["trap-community"],
                            sources=TrapSources([("127.0.0.1", ups)]), on_event=on_event, v3_users=[V3],
                            max_per_second=10**6)
    await receiver.start()
    rng = random.Random(9)
    n = size(2000, 10000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert receiver.address is not None
        for i in range(n):
            data = _mutate(rng, rng.choice(seeds)) if i % 4 else os.urandom(rng.randint(0, 400))
            sock.sendto(data or b"\x00", receiver.address)
            if i % 50 == 0:                      # stay within the socket buffer: every datagram arrives
                waited = time.monotonic()
                while receiver.counters.received < i - 100 and time.monotonic() - waited < 5:
                    await asyncio.sleep(0.002)
        deadline = time.monotonic() + 20
        while receiver.counters.received < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        accepted = receiver.counters.accepted
        sock.sendto(seeds[0], receiver.address)  # a good trap after all that
        deadline = time.monotonic() + 10
        while receiver.counters.accepted == accepted and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        sock.close()
        await receiver.stop()
    c = receiver.counters
    assert c.received >= n * 0.99                 # loopback delivered them (nothing to do with us if not)
    assert c.accepted == accepted + 1 and c.callback_errors == 0
    report(f"raw trap port: {c.received} datagrams over UDP, {c.malformed} malformed, {c.accepted} accepted, "
           f"still taking good traps afterwards")


# ================================================================================ a trap flood vs polling

FLOODER = textwrap.dedent("""
    import socket, sys, time
    port, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    packet = bytes.fromhex(sys.argv[4])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    sent = dropped = 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate) - sent - dropped
        for _ in range(min(due, 1000)):
            try:
                s.sendto(packet, ("127.0.0.1", port)); sent += 1
            except BlockingIOError:
                dropped += 1
        time.sleep(0.001)
    print(sent, dropped, round(time.monotonic() - start, 2))
""")


def _udp_rcvbuf_errors() -> int:
    """The kernel's count of UDP datagrams dropped for a full receive buffer (all sockets)."""
    try:
        lines = [ln.split() for ln in Path("/proc/net/snmp").read_text().splitlines() if ln.startswith("Udp:")]
        return int(lines[1][lines[0].index("RcvbufErrors")])
    except (OSError, ValueError, IndexError):
        return 0


def test_a_trap_flood_does_not_delay_polling_by_more_than_one_interval(tmp_path: Path) -> None:
    rate, seconds = 10_000, (10.0 if os.environ.get("EKTP_LONG", "") not in ("", "0") else 3.0)
    office = flood_office(tmp_path)
    interval, services, trap_port, cfg, db = office.interval, office.services, office.trap_port, office.cfg, office.db
    # an accepted trap (right community, from the UPS's address) of a kind that changes nothing: the
    # heaviest path — decoded, attributed, queued and recorded — not a cheap refusal
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import api, rfc1902

    p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = p.SNMPv2TrapPDU()
    p.apiTrapPDU.set_defaults(pdu)
    p.apiTrapPDU.set_varbinds(pdu, [("1.3.6.1.2.1.1.3.0", rfc1902.TimeTicks(0)),
                                    ("1.3.6.1.6.3.1.1.4.1.0", rfc1902.ObjectName("1.3.6.1.4.1.99999.0.42"))])
    msg = p.Message()
    p.apiMessage.set_defaults(msg)
    p.apiMessage.set_community(msg, "flood-community")
    p.apiMessage.set_pdu(msg, pdu)
    packet = bytes(encoder.encode(msg))
    daemon = Daemon(cfg, tmp_path / "monitor.log").start()
    flooder: subprocess.Popen[str] | None = None
    try:
        wait_until(lambda: query(db, "SELECT COUNT(*) FROM device_states WHERE status = 'up'") == [(4,)], 60,
                   "all devices up", proc=daemon)
        time.sleep(2.0)
        kernel_drops = _udp_rcvbuf_errors()
        flood_start = time.time()
        flooder = subprocess.Popen([sys.executable, "-c", FLOODER, str(trap_port), str(rate), str(seconds),
                                    packet.hex()], stdout=subprocess.PIPE, text=True)
        out, _ = flooder.communicate(timeout=seconds + 30)
        flood_end = time.time()
        kernel_drops = _udp_rcvbuf_errors() - kernel_drops
        sent, dropped, took = out.split()
        time.sleep(2.0)
        assert daemon.alive()
    finally:
        if flooder is not None and flooder.poll() is None:
            flooder.kill()
            flooder.wait(10)
        code = daemon.stop()
        for svc in services:
            svc.down()
    assert code == 0, daemon.tail()
    lateness = poll_lateness(db, [f"srv-{i}" for i in range(1, 4)], flood_start, flood_end, interval)
    worst = max(lateness)
    traps = query(db, "SELECT COUNT(*) FROM evidence WHERE kind = 'trap'")[0][0]
    log = daemon.text()
    assert worst <= interval, f"a poll was {worst:.2f} s late (interval {interval} s)"
    assert "Traceback" not in log
    report(f"trap flood: {int(sent)} traps sent in {took} s ({int(sent) / float(took):.0f}/s, {dropped} not sent: "
           f"the sender's buffer; {kernel_drops} dropped by the kernel's UDP buffer while the monitor was busy, "
           f"system-wide count; receiver rate limit 2000/s hit: {'dropping the excess' in log}); "
           f"polling every {interval} s on 3 devices: worst lateness "
           f"{worst * 1000:.0f} ms, p99 {lateness[int(len(lateness) * 0.99) - 1] * 1000:.0f} ms "
           f"(bound: one interval); {traps} trap evidence rows recorded")

