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

**ezsnmp 2.5 is not thread-safe** (measured here: segmentation faults and answers with the wrong OID
format when requests run in several threads — it drives net-snmp's global session list and global
output options per request). So every ezsnmp request runs in ONE worker thread (the event loop never
blocks), one after the other, and the backend keeps that lane for devices that answer fast:

* a device goes through ezsnmp while it answers within ``FAST_RTT`` (20 ms: a LAN or loopback device);
  the lane asks with a short timeout (``LANE_TIMEOUT``, at most the device's own) and no retries, so a
  device that dies holds the lane for a quarter of a second once;
* everything else — first contact, a device that did not answer or answered slowly (a WAN link), SNMPv3
  engine discovery aside — goes through the asyncio :class:`~checks.snmp_backend.PysnmpBackend`, which
  waits for thousands of devices concurrently; a timed-out lane request is asked again there with the
  device's full ``timeout × (retries + 1)``, so the outcome never depends on the lane;
* a device on the pysnmp side is tried on the lane again after it answered ``PROMOTE_AFTER`` times.

A net-snmp session object (argument list only: no socket between requests) is kept per target by the
lane's thread. Values are read with numeric OIDs, numeric enums and hex OCTET STRINGs, so no MIB file or
display hint on the machine can change what the profile sees. Secrets (community, keys) are scrubbed from
every message the library returns.

Two measured pitfalls of ezsnmp 2.5 are handled here (``docs/decisions/0006-performance.md``):

* it initialises net-snmp when the first session of the process is made and shuts it down when the last
  one goes: a session per request therefore re-read every config file and *wrote and fsync'ed a
  persistent state file per request* (1 ms CPU and thousands of ``/var/lib/net-snmp/ezsnmp_*.conf``
  files). The backend keeps one idle session for its lifetime, so the library is initialised once;
* net-snmp reads ``snmp.conf`` from ``SNMPCONFPATH`` and saves state under ``SNMP_PERSISTENT_DIR``: the
  backend points both at a private directory whose ``snmp.conf`` turns persistence off and loads no MIB
  (process-wide environment variables; nothing else in the monitor uses net-snmp in-process).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import queue
import re
import shutil
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from checks.snmp_backend import (
    FailureKind,
    PysnmpBackend,
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
FAST_RTT = 0.020          # seconds: a device answering within this stays on the ezsnmp lane
LANE_TIMEOUT = 0.25       # seconds: the lane's timeout (no retries); the full budget is then asked elsewhere
PROMOTE_AFTER = 1         # answers on the pysnmp side before a device is tried on the lane (again)

_AUTH = {"md5": "MD5", "sha": "SHA", "sha224": "SHA-224", "sha256": "SHA-256", "sha384": "SHA-384",
         "sha512": "SHA-512"}
_PRIV = {"des": "DES", "aes128": "AES", "aes192": "AES-192", "aes256": "AES-256"}

_NETSNMP_CONF = """\
# written by ektp-monitor (checks/snmp_ezsnmp.py): net-snmp as a library, nothing persisted, no MIBs
dontPersistState yes
noPersistentLoad yes
noPersistentSave yes
mibs :
"""

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

    def __init__(self, *, max_concurrency: int = 100, max_repetitions: int = 25,
                 promote_after: int = PROMOTE_AFTER) -> None:
        """``promote_after=0`` puts every device on the ezsnmp lane at once (tests, benchmarks)."""
        try:
            import ezsnmp
        except Exception as exc:
            raise CheckSetupError(f"monitor.snmp_backend is ezsnmp but it cannot be imported ({exc}); "
                                  "install it with: pip install 'ektp-monitor[fast]'") from None
        self._ez = ezsnmp
        self._conf_dir = _private_netsnmp_dir()
        # an idle session held for the backend's lifetime: net-snmp is initialised once, not per request
        self._keeper = ezsnmp.Session(hostname="127.0.0.1", port_number="1", version="2c", community="-",
                                      timeout="1", retries="0")
        # one thread, one request at a time (ezsnmp is not thread-safe); the lock guards other callers
        self.threads = 1
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._sessions: dict[tuple[Any, ...], Any] = {}
        self._answers: deque[tuple[Any, asyncio.Future[float], Any]] = deque()
        self._wake_lock = threading.Lock()
        self._wake_pending = False
        self.fallback = PysnmpBackend(max_concurrency=max_concurrency, max_repetitions=max_repetitions)
        self.max_repetitions = max(1, max_repetitions)
        self.promote_after = max(0, promote_after)
        self._resolved: dict[str, tuple[str, float]] = {}
        self._lane: dict[tuple[str, int], int] = {}   # (address, port) -> answers seen off the lane (< 0: on it)
        self.requests = 0
        self.counters = {"lane": 0, "lane_timeouts": 0, "fallback": 0, "demoted": 0, "promoted": 0}
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
        key = (address, target.port)
        if self.promote_after and self._lane.get(key, 0) >= 0:   # not on the lane (yet): the asyncio backend
            self.counters["fallback"] += 1
            reply = await self.fallback.fetch(target, scalars, columns, max_rows=max_rows)
            if reply.failure is None:
                seen = self._lane.get(key, 0) + 1
                if seen >= self.promote_after:
                    self._lane[key] = -1
                    self.counters["promoted"] += 1
                else:
                    self._lane[key] = seen
            else:
                self._lane[key] = 0
            self._bound_lanes()
            return reply
        scalar_list = list(dict.fromkeys(s.strip(".") for s in scalars))
        column_list = list(dict.fromkeys(c.strip(".") for c in columns))
        lane_target = SnmpTarget(target.host, target.credentials, timeout=min(target.timeout, LANE_TIMEOUT),
                                 retries=0)
        loop = asyncio.get_running_loop()
        self.counters["lane"] += 1
        done: asyncio.Future[float] = loop.create_future()
        self._start_lane()
        self._jobs.put((loop, done, (lane_target, address, scalar_list, column_list, max_rows, reply)))
        try:
            elapsed = await done
        except RuntimeError as exc:  # the lane stopped while this request waited for it
            reply.failure = SnmpFailure(FailureKind.CONFIG, f"the SNMP backend is closed ({exc})")
            return reply
        if reply.failure is not None and reply.failure.kind is FailureKind.TIMEOUT:
            # the lane's short wait ran out: ask again with the device's own budget, concurrently
            self.counters["lane_timeouts"] += 1
            self._lane[key] = 0
            self.counters["demoted"] += 1
            again = await self.fallback.fetch(target, scalars, columns, max_rows=max_rows)
            again.requests += reply.requests
            return again
        if reply.failure is None and elapsed > FAST_RTT * max(1, reply.requests):
            self._lane[key] = 0                   # a slow link: its waiting belongs on the asyncio side
            self.counters["demoted"] += 1
        return reply

    def _start_lane(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._lane_loop, name="ezsnmp-lane", daemon=True)
            self._thread.start()

    def _lane_loop(self) -> None:
        """The lane's thread: requests one after the other; answers go back to the event loop in batches
        (one wake-up of the loop for up to 64 answers rather than one each)."""
        jobs = self._jobs
        while True:
            job = jobs.get()
            batch: list[tuple[Any, asyncio.Future[float], Any]] = []
            while job is not None:
                loop, fut, args = job
                try:
                    batch.append((loop, fut, self._fetch_sync(*args)))
                except BaseException as exc:  # a bug in the conversion: reported to that request only
                    batch.append((loop, fut, exc))
                if len(batch) >= 64:
                    break
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    job = None
            for loop, fut, result in batch:
                self._answers.append((loop, fut, result))
            # one wake-up of the event loop for everything answered while it has not run the last one
            with self._wake_lock:
                wake, self._wake_pending = not self._wake_pending, True
            if wake:
                for loop in {item[0] for item in batch}:
                    try:
                        loop.call_soon_threadsafe(self._deliver)
                    except RuntimeError:  # the loop is closed: nobody waits any more
                        pass
            if job is None and self.closed and jobs.empty():
                return

    def _deliver(self) -> None:
        """On the event loop: hand every answer that arrived to its request."""
        with self._wake_lock:
            self._wake_pending = False
        answers = self._answers
        while answers:
            _loop, fut, result = answers.popleft()
            if fut.done():
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    def _bound_lanes(self) -> None:
        if len(self._lane) > 200_000:
            self._lane.clear()

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
        self._jobs.put(None)                      # wakes the lane thread, which ends once the queue is empty
        await self.fallback.close()
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            # the last session closes net-snmp; threads still in a request keep it open until they finish
            await asyncio.get_running_loop().run_in_executor(None, _close_quietly, keeper)

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
                    max_rows: int, reply: SnmpReply) -> float:
        """Runs in the lane's thread; returns the seconds the requests took (the lane's RTT measure)."""
        secrets = _secrets(target)
        with self._lock:
            started = time.perf_counter()
            try:
                if scalars:
                    for i in range(0, len(scalars), _GET_CHUNK):
                        self._get_chunk(target, address, scalars[i:i + _GET_CHUNK], reply, 0, secrets)
                if columns and reply.failure is None:
                    self._walk(target, address, columns, max_rows, reply, secrets)
            except _Failed as failed:
                reply.failure = failed.failure
            return time.perf_counter() - started

    def _session(self, target: SnmpTarget, address: str, reps: int = 0) -> Any:
        """A net-snmp session for the target (cached: only the lane's thread uses them)."""
        key = (address, target.port, target.timeout, target.retries, reps, target.credentials)
        cached = self._sessions.get(key)
        if cached is None:
            if len(self._sessions) > 50_000:
                self._sessions.clear()
            cached = self._sessions[key] = self._new_session(target, address, reps)
        return cached

    def _new_session(self, target: SnmpTarget, address: str, reps: int) -> Any:
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


def _private_netsnmp_dir() -> str:
    """A directory with our ``snmp.conf`` (no persistence, no MIBs) for this process; set as
    ``SNMPCONFPATH`` and ``SNMP_PERSISTENT_DIR`` (kept if an earlier backend of the process made one)."""
    current = os.environ.get("SNMPCONFPATH", "")
    if current and Path(current).name.startswith("ektp-netsnmp-") and Path(current).is_dir():
        return current
    path = tempfile.mkdtemp(prefix="ektp-netsnmp-")
    (Path(path) / "snmp.conf").write_text(_NETSNMP_CONF, encoding="ascii")
    os.environ["SNMPCONFPATH"] = path
    os.environ["SNMP_PERSISTENT_DIR"] = path
    import atexit

    atexit.register(shutil.rmtree, path, True)
    return path


def _close_quietly(session: Any) -> None:
    try:
        session.close()
    except Exception:  # closing an idle session cannot fail in a way that matters
        pass


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


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        m = _INT_IN_PARENS.search(value)  # "(12345) 0:02:03.45" (TimeTicks), "onBattery(5)" if a MIB was loaded
        if m:
            return int(m.group(1))
        raise


def _octets(kind: str, value: str) -> bytes:
    if kind == "Hex-STRING":
        return bytes.fromhex(value)
    if kind in ('""', ""):
        return b""
    return value.encode("utf-8", "surrogateescape")   # printed as text (another thread's output options)


_NUMERIC: dict[str, str] = {"INTEGER": "integer", "Integer32": "integer", "Counter32": "counter32",
                            "Gauge32": "gauge32", "Unsigned32": "gauge32", "UInteger32": "gauge32",
                            "Timeticks": "timeticks", "Counter64": "counter64"}
_ABSENT: dict[str, str] = {"NOSUCHOBJECT": "nosuchobject", "NOSUCHINSTANCE": "nosuchinstance",
                           "ENDOFMIBVIEW": "endofmibview"}


def _convert(result: Any) -> SnmpValue:
    """One ezsnmp ``Result`` -> SnmpValue (by the type net-snmp names). Reads the printed value, not
    ezsnmp's ``converted_value`` (one SWIG round trip less per value)."""
    kind = str(result.type)
    value = str(result.value)
    try:
        tag = _NUMERIC.get(kind)
        if tag is not None:
            return SnmpValue(tag, _int(value.strip()))  # type: ignore[arg-type]
        absent = _ABSENT.get(kind)
        if absent is not None:
            return SnmpValue(absent)  # type: ignore[arg-type]
        if kind in ("STRING", "Hex-STRING", '""', "BITS"):
            return SnmpValue("octets", _octets(kind, value))
        if kind == "OID":
            return SnmpValue("oid", value.strip().strip("."))
        if kind in ("IpAddress", "Network Address"):
            return SnmpValue("ipaddress", value.strip())
        if kind == "NULL":
            return SnmpValue("null")
        if kind.startswith("Opaque"):
            return SnmpValue("opaque", _octets("Hex-STRING" if "Hex" in kind else kind, value))
    except (ValueError, TypeError):
        pass
    return SnmpValue("opaque", value.encode("utf-8", "replace")[:200])
