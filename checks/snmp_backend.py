"""SNMP transport behind one small interface, so the check never depends on a library.

:class:`SnmpBackend` is what :class:`checks.snmp.SnmpCheck` uses: ``fetch`` GETs scalar OIDs and walks
table columns, returning backend-neutral :class:`~checks.values.SnmpValue` s or one classified
:class:`SnmpFailure`; ``probe_agent`` asks whether *any* SNMP agent answers at the address (used to tell
"wrong community" from "no answer"). :class:`checks.snmp_ezsnmp.EzsnmpBackend` implements the same two
methods on net-snmp.

:class:`PysnmpBackend` (pysnmp 7, asyncio), with the measured pitfalls of library-findings §1 and §11:

* **v1/v2c use v1arch** (one ``SnmpDispatcher`` for the process): no per-target engine state, so the first
  contact with 10,000 devices costs the same as the second. **v3 uses v3arch** (one ``SnmpEngine``), whose
  per-target set-up is cached by value — keep timeout/retries constant per device.
* Timeout and retries are always explicit (the library default costs 6 s per dead device).
* ``lookupMib`` is off; targets are built without ``.create()`` for IP literals (it would resolve every
  address in the default thread pool) and cached.
* Concurrency is capped by a semaphore; the shared socket's receive buffer is raised to 4 MiB (capped by
  ``net.core.rmem_max``) so bursts of replies are not dropped as "timeouts".
* v1 ``noSuchName`` drops the missing OID and asks again; ``tooBig`` splits the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any, Protocol

from checks.snmpclock import monotonic_dispatcher, restamp_v1arch
from checks.values import SnmpValue
from monitor.domain import SnmpCredentials

__all__ = ["FailureKind", "PysnmpBackend", "SnmpBackend", "SnmpFailure", "SnmpReply", "SnmpTarget"]

log = logging.getLogger(__name__)

_GET_CHUNK = 40            # varbinds per GET (well below common agent limits)
_MAX_WALK_REQUESTS = 200   # per fetch: bounds a walk of a huge or looping table
_RCVBUF = 4 << 20


class FailureKind(StrEnum):
    TIMEOUT = "timeout"            # no answer at all
    AUTH = "auth"                  # the agent answered and refused us (v3), or rejects the community
    REFUSED = "refused"            # ICMP port unreachable: no agent listening
    PROTOCOL = "protocol"          # the agent answered with an error (genErr...) or nonsense
    CONFIG = "config"              # our side: bad address, unsupported protocol, missing crypto


@dataclass(frozen=True, slots=True)
class SnmpFailure:
    kind: FailureKind
    message: str


@dataclass(frozen=True, slots=True)
class SnmpTarget:
    """Where and how to ask. ``timeout`` is per attempt, in seconds; ``retries`` extra attempts."""

    host: str
    credentials: SnmpCredentials
    timeout: float
    retries: int

    @property
    def port(self) -> int:
        return self.credentials.port

    @property
    def budget(self) -> float:
        """Worst-case seconds one request may take (every attempt timing out)."""
        return self.timeout * (self.retries + 1)


@dataclass(slots=True)
class SnmpReply:
    """What one fetch returned: ``scalars`` by OID, ``columns`` by column OID then row index."""

    scalars: dict[str, SnmpValue] = field(default_factory=dict)
    columns: dict[str, dict[str, SnmpValue]] = field(default_factory=dict)
    failure: SnmpFailure | None = None
    requests: int = 0


class SnmpBackend(Protocol):
    """The interface a check uses. Implementations never raise for device-side failures."""

    name: str

    async def fetch(self, target: SnmpTarget, scalars: Sequence[str], columns: Sequence[str], *,
                    max_rows: int = 256) -> SnmpReply: ...

    async def probe_agent(self, target: SnmpTarget) -> str:
        """Is any SNMP agent at the address? ``alive`` (it answered an SNMPv3 engine discovery),
        ``silent`` (no answer within ``target.timeout``), ``refused`` (ICMP port unreachable: no agent
        listening) or ``error`` (cannot tell)."""

    async def close(self) -> None: ...


# ------------------------------------------------------------------------------------- value mapping


def _convert(value: Any) -> SnmpValue:
    """pysnmp/pyasn1 value -> SnmpValue (by ASN.1 tag, most specific first)."""
    from pysnmp.proto import rfc1902, rfc1905

    if isinstance(value, rfc1905.NoSuchObject):
        return SnmpValue("nosuchobject")
    if isinstance(value, rfc1905.NoSuchInstance):
        return SnmpValue("nosuchinstance")
    if isinstance(value, rfc1905.EndOfMibView):
        return SnmpValue("endofmibview")
    tag = value.tagSet
    if tag == rfc1902.Counter32.tagSet:
        return SnmpValue("counter32", int(value))
    if tag == rfc1902.Gauge32.tagSet:
        return SnmpValue("gauge32", int(value))
    if tag == rfc1902.TimeTicks.tagSet:
        return SnmpValue("timeticks", int(value))
    if tag == rfc1902.Counter64.tagSet:
        return SnmpValue("counter64", int(value))
    if tag == rfc1902.IpAddress.tagSet:
        raw = bytes(value.asOctets())
        return SnmpValue("ipaddress", ".".join(str(b) for b in raw) if len(raw) == 4 else raw.hex())
    if tag == rfc1902.Opaque.tagSet:
        return SnmpValue("opaque", bytes(value.asOctets()))
    if tag == rfc1902.Integer32.tagSet or tag == rfc1902.Integer.tagSet:
        return SnmpValue("integer", int(value))
    if tag == rfc1902.OctetString.tagSet:
        return SnmpValue("octets", bytes(value.asOctets()))
    if tag == rfc1902.ObjectIdentifier.tagSet:
        return SnmpValue("oid", ".".join(str(x) for x in value))
    if tag == rfc1902.Null.tagSet:
        return SnmpValue("null")
    return SnmpValue("opaque", repr(value).encode()[:200])


def _oid_tuple(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.strip(".").split("."))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# -------------------------------------------------------------------------------- engine-ID discovery


def _discovery_message(msg_id: int, request_id: int) -> bytes:
    """An SNMPv3 noAuthNoPriv GET with empty user and engine ID (RFC 3414 §4): every v3-capable agent
    answers it with a Report, whatever its communities and users are."""
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import rfc1905
    from pysnmp.proto.mpmod.rfc3412 import HeaderData, ScopedPDU, ScopedPduData, SNMPv3Message
    from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

    sec = UsmSecurityParameters()
    for name, value in (("msgAuthoritativeEngineId", b""), ("msgAuthoritativeEngineBoots", 0),
                        ("msgAuthoritativeEngineTime", 0), ("msgUserName", b""),
                        ("msgAuthenticationParameters", b""), ("msgPrivacyParameters", b"")):
        sec.setComponentByName(name, value)
    from pysnmp.proto.api import v2c

    pdu = v2c.GetRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_varbinds(pdu, [])
    pdus = rfc1905.PDUs()
    pdus.setComponentByName("get-request", pdu)
    scoped = ScopedPDU()
    scoped.setComponentByName("contextEngineId", b"")
    scoped.setComponentByName("contextName", b"")
    scoped.setComponentByName("data", pdus)
    data = ScopedPduData()
    data.setComponentByName("plaintext", scoped)
    header = HeaderData()
    header.setComponentByName("msgID", msg_id)
    header.setComponentByName("msgMaxSize", 65507)
    header.setComponentByName("msgFlags", b"\x04")     # reportable, noAuthNoPriv
    header.setComponentByName("msgSecurityModel", 3)   # USM
    msg = SNMPv3Message()
    msg.setComponentByName("msgVersion", 3)
    msg.setComponentByName("msgGlobalData", header)
    msg.setComponentByName("msgSecurityParameters", encoder.encode(sec))
    msg.setComponentByName("msgData", data)
    return bytes(encoder.encode(msg))


class _Probe(asyncio.DatagramProtocol):
    def __init__(self, done: asyncio.Future[str]) -> None:
        self.done = done

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.done.done():
            self.done.set_result("alive")

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_result("refused" if isinstance(exc, ConnectionRefusedError) else "error")


async def discover_agent(host: str, port: int, wait_s: float, attempts: int = 1) -> str:
    """``alive`` (an SNMP agent answered), ``silent``, ``refused`` (ICMP port unreachable) or ``error``."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(max(1, attempts)):
        done: asyncio.Future[str] = loop.create_future()
        try:
            transport, _proto = await loop.create_datagram_endpoint(partial(_Probe, done),
                                                                    remote_addr=(host, port), family=family)
        except OSError:
            return "error"
        try:
            ids = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
            transport.sendto(_discovery_message(ids or 1, ids or 1))
            try:
                result = await asyncio.wait_for(done, wait_s)
            except TimeoutError:
                result = "silent"
        finally:
            transport.close()
        if result != "silent":
            return result
    return "silent"


# ----------------------------------------------------------------------------------------- pysnmp


_AUTH_PROTOCOLS = {"md5": "USM_AUTH_HMAC96_MD5", "sha": "USM_AUTH_HMAC96_SHA", "sha224": "USM_AUTH_HMAC128_SHA224",
                   "sha256": "USM_AUTH_HMAC192_SHA256", "sha384": "USM_AUTH_HMAC256_SHA384",
                   "sha512": "USM_AUTH_HMAC384_SHA512"}
_PRIV_PROTOCOLS = {"des": "USM_PRIV_CBC56_DES", "aes128": "USM_PRIV_CFB128_AES", "aes192": "USM_PRIV_CFB192_AES",
                   "aes256": "USM_PRIV_CFB256_AES"}
_AUTH_ERRORS = ("UnknownUserName", "WrongDigest", "UnknownSecurityName", "AuthenticationError",
                "AuthenticationFailure", "DecryptionError", "UnsupportedSecurityLevel", "UnknownCommunityName",
                "NotInTimeWindow", "UnknownEngineID")
_CONFIG_ERRORS = ("UnsupportedAuthProtocol", "UnsupportedPrivProtocol", "NoEncryption", "EncryptionError")


class PysnmpBackend:
    """The default backend. Create it inside the running event loop; :meth:`close` on shutdown."""

    name = "pysnmp"

    def __init__(self, *, max_concurrency: int = 100, max_repetitions: int = 25) -> None:
        self._limit = asyncio.Semaphore(max(1, max_concurrency))
        self.max_repetitions = max(1, max_repetitions)
        self._dispatcher: Any = None     # v1arch SnmpDispatcher (v1/v2c), lazily
        self._engine: Any = None         # v3arch SnmpEngine (v3), lazily
        self._targets: dict[tuple[Any, ...], Any] = {}
        self._resolved: dict[str, tuple[str, float]] = {}
        self._tuned: set[str] = set()
        self._names: dict[str, Any] = {}
        self.requests = 0
        self.closed = False

    # -- public
    async def fetch(self, target: SnmpTarget, scalars: Sequence[str], columns: Sequence[str], *,
                    max_rows: int = 256) -> SnmpReply:
        reply = SnmpReply()
        try:
            address = await self._address(target.host)
        except OSError as exc:
            reply.failure = SnmpFailure(FailureKind.CONFIG, f"cannot resolve {target.host!r}: {exc}")
            return reply
        try:
            if scalars:
                await self._get_all(target, address, list(dict.fromkeys(s.strip(".") for s in scalars)), reply)
            if columns and reply.failure is None:
                await self._walk(target, address, list(dict.fromkeys(c.strip(".") for c in columns)), max_rows,
                                 reply)
        except _Failed as failed:
            reply.failure = failed.failure
        return reply

    async def probe_agent(self, target: SnmpTarget) -> str:
        try:
            address = await self._address(target.host)
        except OSError:
            return "error"
        return await discover_agent(address, target.port, target.timeout, attempts=1)

    async def close(self) -> None:
        """Release the sockets (idempotent)."""
        self.closed = True
        if self._dispatcher is not None:
            with contextlib.suppress(Exception):
                self._dispatcher.transport_dispatcher.close_dispatcher()
            self._dispatcher = None
        if self._engine is not None:
            with contextlib.suppress(Exception):
                self._engine.close_dispatcher()
            self._engine = None
        self._targets.clear()

    # -- addresses and targets
    async def _address(self, host: str) -> str:
        if _is_ip(host):
            return host
        cached = self._resolved.get(host)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        if not infos:
            raise OSError(f"no address for {host}")
        address = str(infos[0][4][0])
        self._resolved[host] = (address, now + 300.0)
        return address

    def _target(self, arch: str, address: str, target: SnmpTarget) -> Any:
        key = (arch, address, target.port, target.timeout, target.retries)
        cached = self._targets.get(key)
        if cached is not None:
            return cached
        if arch == "v1":
            from pysnmp.hlapi.v1arch.asyncio import Udp6TransportTarget, UdpTransportTarget
        else:
            from pysnmp.hlapi.v3arch.asyncio import Udp6TransportTarget, UdpTransportTarget
        cls = Udp6TransportTarget if ":" in address else UdpTransportTarget
        # .create() would resolve through the default thread pool on every call; the address is resolved
        obj = cls.__new__(cls)
        obj.transport_address = (address, target.port)
        obj.__init__(timeout=target.timeout, retries=target.retries)
        if len(self._targets) > 50000:
            self._targets.clear()
        self._targets[key] = obj
        return obj

    # -- one request
    async def _request(self, target: SnmpTarget, address: str, kind: str, oids: Sequence[str],
                       reply: SnmpReply, reps: int = 0) -> tuple[int, int, list[tuple[str, SnmpValue]]]:
        """(errorStatus, errorIndex, varbinds); raises _Failed for a transport-level failure."""
        if self.closed:
            raise _Failed(SnmpFailure(FailureKind.CONFIG, "the SNMP backend is closed"))
        creds = target.credentials
        reply.requests += 1
        self.requests += 1
        guard = self._dispatcher if creds.version != "3" else None
        before = guard.oddities(address, target.port) if guard is not None else (0, 0)
        async with self._limit:
            if creds.version == "3":
                err_ind, err_status, err_index, varbinds = await self._v3(target, address, kind, oids, reps)
            else:
                err_ind, err_status, err_index, varbinds = await self._v1(target, address, kind, oids, reps)
        if err_ind:
            failure = _classify(err_ind, target)
            guard = self._dispatcher if creds.version != "3" else None
            if failure.kind is FailureKind.TIMEOUT and guard is not None:
                garbage, foreign = (a - b for a, b in zip(guard.oddities(address, target.port), before, strict=True))
                if garbage:
                    failure = SnmpFailure(FailureKind.PROTOCOL, f"{garbage} undecodable answer(s) (truncated or "
                                                                "malformed SNMP) and no valid one")
                elif foreign:
                    failure = SnmpFailure(FailureKind.PROTOCOL, f"{foreign} answer(s) came from another address "
                                          f"({guard.foreign_source(address, target.port)}) and were ignored "
                                          "(spoofed, or an agent answering from another interface)")
            raise _Failed(failure)
        self._tune(creds.version)
        out = [(".".join(str(x) for x in oid), _convert(val)) for oid, val in varbinds]
        return int(err_status or 0), int(err_index or 0), out

    async def _v1(self, target: SnmpTarget, address: str, kind: str, oids: Sequence[str], reps: int) -> Any:
        from pysnmp.hlapi.v1arch.asyncio import CommunityData, SnmpDispatcher, bulk_cmd, get_cmd, next_cmd
        from pysnmp.proto.rfc1902 import Null, ObjectName

        if self._dispatcher is None:
            self._dispatcher = _guarded(SnmpDispatcher)()
        creds = target.credentials
        community = creds.community.get_secret_value() if creds.community else ""
        auth = CommunityData(community, mpModel=0 if creds.version == "1" else 1)
        tgt = self._target("v1", address, target)
        varbinds = [(self._name(o, ObjectName), Null("")) for o in oids]
        if kind == "get":
            return await get_cmd(self._dispatcher, auth, tgt, *varbinds, lookupMib=False)
        if kind == "next":
            return await next_cmd(self._dispatcher, auth, tgt, *varbinds, lookupMib=False)
        reps = max(1, min(reps or self.max_repetitions, 60 // max(1, len(oids))))
        return await bulk_cmd(self._dispatcher, auth, tgt, 0, reps, *varbinds, lookupMib=False)

    async def _v3(self, target: SnmpTarget, address: str, kind: str, oids: Sequence[str], reps: int) -> Any:
        from pysnmp.hlapi.v3arch import asyncio as v3

        if self._engine is None:
            self._engine = v3.SnmpEngine()
            # before any transport is added: pysnmp's own dispatcher times retries on the wall clock
            self._engine.register_transport_dispatcher(monotonic_dispatcher()())
        creds = target.credentials
        auth_proto = getattr(v3, _AUTH_PROTOCOLS[creds.auth_protocol]) if creds.auth_protocol else v3.USM_AUTH_NONE
        priv_proto = getattr(v3, _PRIV_PROTOCOLS[creds.priv_protocol]) if creds.priv_protocol else v3.USM_PRIV_NONE
        user = v3.UsmUserData(creds.user or "",
                              authKey=creds.auth_key.get_secret_value() if creds.auth_key else None,
                              privKey=creds.priv_key.get_secret_value() if creds.priv_key else None,
                              authProtocol=auth_proto, privProtocol=priv_proto)
        tgt = self._target("v3", address, target)
        ctx = v3.ContextData(contextName=creds.context or "")
        varbinds = [v3.ObjectType(v3.ObjectIdentity(o)) for o in oids]
        if kind == "get":
            return await v3.get_cmd(self._engine, user, tgt, ctx, *varbinds, lookupMib=False)
        if kind == "next":
            return await v3.next_cmd(self._engine, user, tgt, ctx, *varbinds, lookupMib=False)
        reps = max(1, min(reps or self.max_repetitions, 60 // max(1, len(oids))))
        return await v3.bulk_cmd(self._engine, user, tgt, ctx, 0, reps, *varbinds, lookupMib=False)

    def _name(self, oid: str, cls: Any) -> Any:
        """Parsed OIDs are cached: parsing 25 dotted strings per poll is measurable at 10,000 devices."""
        name = self._names.get(oid)
        if name is None:
            if len(self._names) > 100000:
                self._names.clear()
            name = self._names[oid] = cls(oid)
        return name

    def _tune(self, version: str) -> None:
        """Raise the shared socket's receive buffer once it exists (pitfall 7)."""
        arch = "v3" if version == "3" else "v1"
        if arch in self._tuned:
            return
        try:
            from pysnmp.carrier.asyncio.dgram import udp

            if arch == "v1":
                transport = self._dispatcher.transport_dispatcher.get_transport(udp.DOMAIN_NAME)
            else:
                transport = self._engine.transport_dispatcher.get_transport(udp.DOMAIN_NAME)
            sock = transport.transport.get_extra_info("socket") if transport.transport else None
            if sock is None:
                return
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        except Exception:  # best effort: the default buffer still works at moderate concurrency
            pass
        self._tuned.add(arch)

    # -- GET with v1 noSuchName / tooBig handling
    async def _get_all(self, target: SnmpTarget, address: str, oids: list[str], reply: SnmpReply) -> None:
        chunks = [oids[i:i + _GET_CHUNK] for i in range(0, len(oids), _GET_CHUNK)]
        for chunk in chunks:
            await self._get_chunk(target, address, chunk, reply, depth=0)

    async def _get_chunk(self, target: SnmpTarget, address: str, oids: list[str], reply: SnmpReply,
                         depth: int) -> None:
        from pysnmp.proto.rfc1905 import NoSuchObject

        pending = list(oids)
        rounds = 0
        while pending:
            rounds += 1
            status, index, varbinds = await self._request(target, address, "get", pending, reply)
            if status == 0:
                for oid, (got_oid, value) in zip(pending, varbinds, strict=False):
                    reply.scalars[oid] = value if got_oid == oid else SnmpValue("nosuchobject")
                return
            name = _ERROR_NAMES.get(status, str(status))
            if name == "noSuchName" and 1 <= index <= len(pending) and rounds <= len(oids):
                reply.scalars[pending[index - 1]] = _convert(NoSuchObject(""))
                del pending[index - 1]
                continue
            if name == "tooBig" and len(pending) > 1 and depth < 6:
                half = len(pending) // 2
                await self._get_chunk(target, address, pending[:half], reply, depth + 1)
                await self._get_chunk(target, address, pending[half:], reply, depth + 1)
                return
            where = f" at {pending[index - 1]}" if 1 <= index <= len(pending) else ""
            raise _Failed(SnmpFailure(FailureKind.PROTOCOL, f"agent error {name}{where}"))

    # -- walk several columns at once (GETBULK; GETNEXT for v1)
    async def _walk(self, target: SnmpTarget, address: str, columns: list[str], max_rows: int,
                    reply: SnmpReply) -> None:
        roots = {c: _oid_tuple(c) for c in columns}
        last: dict[str, tuple[int, ...]] = dict(roots)
        for c in columns:
            reply.columns.setdefault(c, {})
        active = list(columns)
        kind = "next" if target.credentials.version == "1" else "bulk"
        requests = 0
        # Start small and double: an empty or short table costs one small reply, not 25 varbinds of
        # whatever follows it in the MIB (decoding them is most of a poll's CPU).
        reps = 8
        while active and requests < _MAX_WALK_REQUESTS:
            requests += 1
            status, _index, varbinds = await self._request(
                target, address, kind, [".".join(map(str, last[c])) for c in active], reply, reps)
            reps = min(reps * 2, self.max_repetitions)
            if status != 0:
                if _ERROR_NAMES.get(status) == "noSuchName":   # v1: end of the MIB
                    return
                raise _Failed(SnmpFailure(FailureKind.PROTOCOL,
                                          f"agent error {_ERROR_NAMES.get(status, status)} during a walk"))
            if not varbinds:
                return
            still = list(active)
            width = len(active)
            for pos, (oid, value) in enumerate(varbinds):
                column = active[pos % width]
                if column not in still:
                    continue
                oid_t = _oid_tuple(oid)
                root = roots[column]
                if (value.tag == "endofmibview" or oid_t[:len(root)] != root or len(oid_t) <= len(root)
                        or oid_t <= last[column]):
                    still.remove(column)
                    continue
                rows = reply.columns[column]
                rows[".".join(str(x) for x in oid_t[len(root):])] = value
                last[column] = oid_t
                if len(rows) >= max_rows:
                    still.remove(column)
            active = [c for c in active if c in still]


_ERROR_NAMES = {0: "noError", 1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
                6: "noAccess", 7: "wrongType", 8: "wrongLength", 9: "wrongEncoding", 10: "wrongValue",
                11: "noCreation", 12: "inconsistentValue", 13: "resourceUnavailable", 14: "commitFailed",
                15: "undoFailed", 16: "authorizationError", 17: "notWritable", 18: "inconsistentName"}


def _guarded(base: type) -> type:
    """pysnmp's v1arch ``SnmpDispatcher`` with two checks its receive path lacks (pysnmp 7.1):

    * an answer must come from the address and port the request went to — otherwise it is dropped and
      counted (a v1/v2c answer carries nothing else that ties it to the device; pysnmp matched on the
      request id alone, so anyone on the LAN could answer for a dead device);
    * a datagram that does not decode is dropped and counted — pysnmp let the decoder's exception escape
      into the event loop, a logged traceback per garbage packet;
    * timeouts and retries run on the monotonic clock (:mod:`checks.snmpclock`), not the wall clock.

    ``oddities(address, port)`` gives both counts for an agent, so a timed-out request can say why."""
    from pyasn1.codec.ber import decoder
    from pyasn1.error import PyAsn1Error
    from pysnmp.proto import api
    from pysnmp.proto import error as proto_error

    class GuardedDispatcher(base):  # type: ignore[misc]
        PROTO_DISPATCHER = monotonic_dispatcher()     # timeouts and retries on the monotonic clock

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._garbage: dict[tuple[str, int], int] = {}
            self._foreign: dict[tuple[str, int], tuple[int, str]] = {}

        def send_pdu(self, *args: Any, **kwargs: Any) -> Any:
            request_id = super().send_pdu(*args, **kwargs)
            restamp_v1arch(self._pendingReqs, request_id)
            return request_id

        def oddities(self, address: str, port: int) -> tuple[int, int]:
            return self._garbage.get((address, port), 0), self._foreign.get((address, port), (0, ""))[0]

        def foreign_source(self, address: str, port: int) -> str:
            return self._foreign.get((address, port), (0, "?"))[1]

        def _count(self, table: dict[Any, Any], key: tuple[str, int], value: Any) -> None:
            if len(table) > 10000:
                table.clear()
            table[key] = value

        def _recv_callback(self, snmp_engine: Any, domain: Any, address: Any, whole: bytes) -> bytes:
            source = (str(address[0]), int(address[1]))
            try:
                p_mod = api.PROTOCOL_MODULES[api.decodeMessageVersion(whole)]
                rsp_msg, _rest = decoder.decode(whole, asn1Spec=p_mod.Message())
                rsp_pdu = p_mod.apiMessage.get_pdu(rsp_msg)
                request_id = p_mod.apiPDU.get_request_id(rsp_pdu)
            except (PyAsn1Error, proto_error.ProtocolError, KeyError, ValueError, TypeError, AttributeError):
                self._count(self._garbage, source, self._garbage.get(source, 0) + 1)
                return b""
            state = self._pendingReqs.get(request_id)
            if state is None:
                return b""  # late (after its timeout) or not ours
            expected = (str(state["transportTarget"].transport_address[0]),
                        int(state["transportTarget"].transport_address[1]))
            if expected != source:
                count = self._foreign.get(expected, (0, ""))[0] + 1
                self._count(self._foreign, expected, (count, f"{source[0]}:{source[1]}"))
                return b""
            del self._pendingReqs[request_id]
            self.transport_dispatcher.job_finished(id(self))
            if state["cbFun"]:
                state["cbFun"](self, request_id, None, rsp_pdu, state["cbCtx"])
            return b""

    return GuardedDispatcher


class _Failed(Exception):  # internal control flow
    def __init__(self, failure: SnmpFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _classify(err_ind: Any, target: SnmpTarget) -> SnmpFailure:
    name = type(err_ind).__name__
    text = str(err_ind)
    if name == "RequestTimedOut" or "timed out" in text.lower():
        return SnmpFailure(FailureKind.TIMEOUT, f"no answer within {target.timeout:g}s × {target.retries + 1}")
    if name in _AUTH_ERRORS:
        return SnmpFailure(FailureKind.AUTH, text)
    if name in _CONFIG_ERRORS or "Ciphering services not available" in text:
        return SnmpFailure(FailureKind.CONFIG, text)
    return SnmpFailure(FailureKind.PROTOCOL, text)
