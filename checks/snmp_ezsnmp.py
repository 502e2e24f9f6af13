"""SNMP backend on ezsnmp: net-snmp's C library (its manylinux wheel bundles libnetsnmp) behind the same
:class:`~checks.snmp_backend.SnmpBackend` interface as the pysnmp backend.

Why: decoding BER in pure Python (pysnmp/pyasn1) costs ~2–3 ms CPU per 6-OID poll; net-snmp does the same
in ~0.2 ms. At a national scale (10,000 devices a minute) that is the difference between half a core and
a few percent of one (``docs/decisions/0006-performance.md``). Installed with the ``fast`` extra
(``pip install ektp-monitor[fast]``) and chosen with ``monitor.snmp_backend: ezsnmp`` (or ``auto``).

Contract, identical to :class:`~checks.snmp_backend.PysnmpBackend` (the same check tests run against
both):

* ``fetch`` GETs scalars (in chunks of 40 varbinds; v1 ``noSuchName`` → the OID is absent; ``tooBig`` →
  the request is split) and walks columns with GETBULK (GETNEXT for v1), returning backend-neutral
  :class:`~checks.values.SnmpValue` s or one classified :class:`~checks.snmp_backend.SnmpFailure`; it never
  raises for a device-side failure;
* ``probe_agent`` is the same asyncio SNMPv3 discovery probe (:func:`checks.snmp_backend.discover_agent`).

ezsnmp is synchronous: every request runs in a bounded thread pool owned by the backend (net-snmp
releases the GIL while it waits for the agent, so the threads overlap). The pool size is the backend's
concurrency: a dead device holds one thread for ``timeout × (retries + 1)``. A net-snmp session object is
made per request — it holds no socket between requests, costs microseconds, and is never shared between
threads. Values are read with numeric OIDs, numeric enums and TimeTicks, and OCTET STRINGs as hex, so no
MIB file or display hint on the machine can change what the profile sees. Secrets (community, keys) are
scrubbed from every message the library returns.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from checks.snmp_backend import (
    FailureKind,
    SnmpFailure,
    SnmpReply,
    SnmpTarget,
    discover_agent,
)
from checks.values import SnmpValue
from monitor.errors import CheckSetupError

__all__ = ["EzsnmpBackend", "ezsnmp_available"]

_GET_CHUNK = 40            # varbinds per GET, as the pysnmp backend
_MAX_WALK_REQUESTS = 200   # per fetch: bounds a walk of a huge or looping table
_MAX_THREADS = 256

_AUTH = {"md5": "MD5", "sha": "SHA", "sha224": "SHA-224", "sha256": "SHA-256", "sha384": "SHA-384",
         "sha512": "SHA-512"}
_PRIV = {"des": "DES", "aes128": "AES", "aes192": "AES-192", "aes256": "AES-256"}

_INT_IN_PARENS = re.compile(r"\((-?\d+)\)")
_AUTH_WORDS = ("authentication failure", "unknown user", "unknown security name", "unknown engine id",
               "decryption error", "not in time window", "unsupported security level", "authorizationerror",
               "usm", "wrong digest")
_CONFIG_WORDS = ("unsupported", "unknown host", "invalid", "parse", "not supported", "usage")


def ezsnmp_available() -> bool:
    """Whether the ``fast`` extra (ezsnmp) is installed."""
    try:
        import ezsnmp  # noqa: F401
    except Exception:  # ImportError, or a broken wheel (missing libc symbols)
        return False
    return True


class _Failed(Exception):  # internal control flow
    def __init__(self, failure: SnmpFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class EzsnmpBackend:
    """The C backend. Create it anywhere; :meth:`close` on shutdown (idempotent)."""

    name = "ezsnmp"

    def __init__(self, *, max_concurrency: int = 100, max_repetitions: int = 25) -> None:
        try:
            import ezsnmp
        except Exception as exc:
            raise CheckSetupError(f"monitor.snmp_backend is ezsnmp but it cannot be imported ({exc}); "
                                  "install it with: pip install 'ektp-monitor[fast]'") from None
        self._ez = ezsnmp
        self.threads = max(1, min(max_concurrency, _MAX_THREADS))
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="ezsnmp")
        self.max_repetitions = max(1, max_repetitions)
        self._resolved: dict[str, tuple[str, float]] = {}
        self.requests = 0
        self.closed = False

    # -- public
    async def fetch(self, target: SnmpTarget, scalars: Sequence[str], columns: Sequence[str], *,
                    max_rows: int = 256) -> SnmpReply:
        reply = SnmpReply()
        if self.closed:
            reply.failure = SnmpFailure(FailureKind.CONFIG, "the SNMP backend is closed")
            return reply
        try:
            address = await self._address(target.host)
        except OSError as exc:
            reply.failure = SnmpFailure(FailureKind.CONFIG, f"cannot resolve {target.host!r}: {exc}")
            return reply
        scalar_list = list(dict.fromkeys(s.strip(".") for s in scalars))
        column_list = list(dict.fromkeys(c.strip(".") for c in columns))
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool, self._fetch_sync, target, address, scalar_list, column_list,
                                       max_rows, reply)
        except RuntimeError as exc:  # the pool was shut down while this request waited for a thread
            reply.failure = SnmpFailure(FailureKind.CONFIG, f"the SNMP backend is closed ({exc})")
        return reply

    async def probe_agent(self, target: SnmpTarget) -> str:
        try:
            address = await self._address(target.host)
        except OSError:
            return "error"
        return await discover_agent(address, target.port, target.timeout, attempts=1)

    async def close(self) -> None:
        """Stop taking requests; threads still waiting on an agent end within their timeout."""
        if self.closed:
            return
        self.closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- addresses
    async def _address(self, host: str) -> str:
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        cached = self._resolved.get(host)
        now = time.monotonic()
        if cached and cached[1] > now:
            return cached[0]
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        if not infos:
            raise OSError(f"no address for {host}")
        address = str(infos[0][4][0])
        if len(self._resolved) > 50000:
            self._resolved.clear()
        self._resolved[host] = (address, now + 300.0)
        return address

    # -- the worker thread
    def _fetch_sync(self, target: SnmpTarget, address: str, scalars: list[str], columns: list[str],
                    max_rows: int, reply: SnmpReply) -> None:
        secrets = _secrets(target)
        try:
            if scalars:
                for i in range(0, len(scalars), _GET_CHUNK):
                    self._get_chunk(target, address, scalars[i:i + _GET_CHUNK], reply, 0, secrets)
            if columns and reply.failure is None:
                self._walk(target, address, columns, max_rows, reply, secrets)
        except _Failed as failed:
            reply.failure = failed.failure

    def _session(self, target: SnmpTarget, address: str, reps: int = 0) -> Any:
        creds = target.credentials
        host = f"udp6:[{address}]" if ":" in address else address
        kw: dict[str, Any] = {
            "hostname": host, "port_number": str(target.port), "timeout": f"{target.timeout:g}",
            "retries": str(target.retries), "print_oids_numerically": True, "print_full_oids": True,
            "print_enums_numerically": True, "print_timeticks_numerically": False, "print_hex_strings": True}
        if reps:
            kw["set_max_repeaters_to_num"] = str(reps)
        if creds.version == "3":
            level = "authPriv" if creds.priv_protocol else ("authNoPriv" if creds.auth_protocol else "noAuthNoPriv")
            kw.update(version="3", security_username=creds.user or "", security_level=level,
                      context=creds.context or "")
            if creds.auth_protocol:
                kw.update(auth_protocol=_AUTH[creds.auth_protocol],
                          auth_passphrase=creds.auth_key.get_secret_value() if creds.auth_key else "")
            if creds.priv_protocol:
                kw.update(privacy_protocol=_PRIV[creds.priv_protocol],
                          privacy_passphrase=creds.priv_key.get_secret_value() if creds.priv_key else "")
        else:
            kw.update(version="1" if creds.version == "1" else "2c",
                      community=creds.community.get_secret_value() if creds.community else "")
        return self._ez.Session(**kw)

    def _call(self, target: SnmpTarget, address: str, kind: str, oids: list[str], reply: SnmpReply,
              secrets: tuple[str, ...], reps: int = 0) -> list[tuple[str, SnmpValue]]:
        """One request; raises :class:`_Failed` for a transport-level failure, ``_AgentError`` for an
        error status the agent returned."""
        reply.requests += 1
        self.requests += 1
        ez = self._ez
        try:
            session = self._session(target, address, reps)
            if kind == "get":
                results = session.get(oids)
            elif kind == "next":
                results = session.get_next(oids)
            else:
                results = session.bulk_get(oids)
        except ez.TimeoutError:
            raise _Failed(SnmpFailure(FailureKind.TIMEOUT,
                                      f"no answer within {target.timeout:g}s × {target.retries + 1}")) from None
        except (ez.NoSuchNameError, ez.NoSuchObjectError, ez.NoSuchInstanceError) as exc:
            raise _AgentError("noSuchName", _scrub(str(exc), secrets)) from None
        except ez.PacketError as exc:
            raise _AgentError(_packet_error_name(str(exc)), _scrub(str(exc), secrets)) from None
        except ez.GenericError as exc:   # also ConnectionError, ParseError, UnknownObjectIDError...
            raise _Failed(_classify(exc, secrets)) from None
        except Exception as exc:  # the SWIG layer raising something unexpected: ours, reported as such
            raise _Failed(SnmpFailure(FailureKind.PROTOCOL, _scrub(f"{type(exc).__name__}: {exc}", secrets))) from None
        return [(_full_oid(r), _convert(r)) for r in results]

    def _get_chunk(self, target: SnmpTarget, address: str, oids: list[str], reply: SnmpReply, depth: int,
                   secrets: tuple[str, ...]) -> None:
        try:
            varbinds = self._call(target, address, "get", oids, reply, secrets)
        except _AgentError as err:
            if err.name == "tooBig" and len(oids) > 1 and depth < 6:
                half = len(oids) // 2
                self._get_chunk(target, address, oids[:half], reply, depth + 1, secrets)
                self._get_chunk(target, address, oids[half:], reply, depth + 1, secrets)
                return
            if err.name == "noSuchName":       # net-snmp already retried without the missing ones: none left
                for oid in oids:
                    reply.scalars.setdefault(oid, SnmpValue("nosuchobject"))
                return
            raise _Failed(SnmpFailure(FailureKind.PROTOCOL, f"agent error {err.name}")) from None
        got = dict(varbinds)
        for oid in oids:
            # v1: net-snmp drops a noSuchName varbind and asks again, so a missing OID is simply absent
            reply.scalars[oid] = got.get(oid, SnmpValue("nosuchobject"))

    def _walk(self, target: SnmpTarget, address: str, columns: list[str], max_rows: int, reply: SnmpReply,
              secrets: tuple[str, ...]) -> None:
        roots = {c: _oid_tuple(c) for c in columns}
        last: dict[str, tuple[int, ...]] = dict(roots)
        for c in columns:
            reply.columns.setdefault(c, {})
        active = list(columns)
        kind = "next" if target.credentials.version == "1" else "bulk"
        requests = 0
        reps = 8   # start small and double, as the pysnmp backend: a short table costs one small reply
        while active and requests < _MAX_WALK_REQUESTS:
            requests += 1
            asked = [".".join(map(str, last[c])) for c in active]
            width = len(active)
            ask_reps = max(1, min(reps, 60 // max(1, width)))
            try:
                varbinds = self._call(target, address, kind, asked, reply, secrets,
                                      reps=ask_reps if kind == "bulk" else 0)
            except _AgentError as err:
                if err.name == "noSuchName":   # v1: end of the MIB
                    return
                raise _Failed(SnmpFailure(FailureKind.PROTOCOL, f"agent error {err.name} during a walk")) from None
            reps = min(reps * 2, self.max_repetitions)
            if not varbinds:
                return
            still = list(active)
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


class _AgentError(Exception):
    """The agent answered with an error status (``name`` as in RFC 3416: tooBig, noSuchName, genErr...)."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name


# ------------------------------------------------------------------------------------------ helpers


def _secrets(target: SnmpTarget) -> tuple[str, ...]:
    c = target.credentials
    values = [s.get_secret_value() for s in (c.community, c.auth_key, c.priv_key) if s is not None]
    return tuple(v for v in values if v)


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for s in secrets:
        text = text.replace(s, "***")
    return text.strip()[:300]


def _packet_error_name(text: str) -> str:
    lowered = text.lower()
    for name in ("tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess", "authorizationError",
                 "resourceUnavailable"):
        if name.lower() in lowered:
            return name
    if "too big" in lowered or "toobig" in lowered:
        return "tooBig"
    if "generr" in lowered or "general failure" in lowered:
        return "genErr"
    return "error"


def _classify(exc: Exception, secrets: tuple[str, ...]) -> SnmpFailure:
    text = _scrub(str(exc), secrets)
    lowered = text.lower()
    if "timeout" in lowered or "no response" in lowered:
        return SnmpFailure(FailureKind.TIMEOUT, text)
    if any(w in lowered for w in _AUTH_WORDS):
        # keep pysnmp's vocabulary so the check words its reason the same way for both backends
        if "unknown user" in lowered:
            return SnmpFailure(FailureKind.AUTH, f"UnknownUserName: {text}")
        if "authentication failure" in lowered:
            return SnmpFailure(FailureKind.AUTH, f"WrongDigest: {text}")
        if "decrypt" in lowered:
            return SnmpFailure(FailureKind.AUTH, f"DecryptionError: {text}")
        return SnmpFailure(FailureKind.AUTH, text)
    if any(w in lowered for w in _CONFIG_WORDS):
        return SnmpFailure(FailureKind.CONFIG, text)
    return SnmpFailure(FailureKind.PROTOCOL, text)


def _oid_tuple(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.strip(".").split(".") if p)


def _full_oid(result: Any) -> str:
    oid = str(result.oid).strip(".")
    index = str(result.index)
    return f"{oid}.{index}" if index else oid


def _int(result: Any) -> int:
    value = result.converted_value
    if isinstance(value, int):
        return value
    text = str(result.value).strip()
    try:
        return int(text)
    except ValueError:
        m = _INT_IN_PARENS.search(text)   # "onBattery(5)" or "(12345) 0:02:03.45" if a MIB was loaded anyway
        if m:
            return int(m.group(1))
        raise


def _octets(result: Any) -> bytes:
    value = result.converted_value
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    text = str(result.value)
    if result.type == "Hex-STRING":
        return bytes.fromhex(text)
    if result.type in ('""', ""):
        return b""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return text.strip('"').encode("utf-8", "surrogateescape")


_NUMERIC: dict[str, str] = {"INTEGER": "integer", "Integer32": "integer", "Counter32": "counter32",
                            "Gauge32": "gauge32", "Unsigned32": "gauge32", "UInteger32": "gauge32",
                            "Timeticks": "timeticks", "Counter64": "counter64"}
_ABSENT: dict[str, str] = {"NOSUCHOBJECT": "nosuchobject", "NOSUCHINSTANCE": "nosuchinstance",
                           "ENDOFMIBVIEW": "endofmibview"}


def _convert(result: Any) -> SnmpValue:
    """One ezsnmp ``Result`` -> SnmpValue (by the type net-snmp names)."""
    kind = str(result.type)
    try:
        tag = _NUMERIC.get(kind)
        if tag is not None:
            return SnmpValue(tag, _int(result))  # type: ignore[arg-type]
        absent = _ABSENT.get(kind)
        if absent is not None:
            return SnmpValue(absent)  # type: ignore[arg-type]
        if kind in ("STRING", "Hex-STRING", '""', "BITS"):
            return SnmpValue("octets", _octets(result))
        if kind == "OID":
            return SnmpValue("oid", str(result.value).strip().strip("."))
        if kind in ("IpAddress", "Network Address"):
            return SnmpValue("ipaddress", str(result.value).strip())
        if kind == "NULL":
            return SnmpValue("null")
        if kind.startswith("Opaque"):
            return SnmpValue("opaque", _octets(result))
    except (ValueError, TypeError):
        pass
    return SnmpValue("opaque", str(result.value).encode("utf-8", "replace")[:200])
