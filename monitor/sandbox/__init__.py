"""Loopback-only simulators used by the tests, the demo (``ektp-monitor demo``) and the benchmarks.

Every simulator here binds to 127.0.0.0/8 only, picks a free port itself, proves it is really serving
(a GET that must return a token only this instance knows — snmpsim can log "listening" without
serving when a port is taken) and is stopped by the PID it started. Each is a context manager and an
async context manager.

* :mod:`monitor.sandbox.snmpsim` — snmpsim serving ``.snmprec`` recordings (one community per file),
  with per-device ``writecache`` state that a test changes by SNMP SET.
* :mod:`monitor.sandbox.snmpd` — Debian's net-snmp ``snmpd`` with a generated config (v2c
  communities, v3 users, ``override`` values).

This module holds the small pieces both share: free ports, a dependency-free synchronous SNMP
GET/SET used for probing, and a child process stopped by PID.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["ChildProcess", "SandboxError", "free_tcp_port", "free_udp_port", "require_loopback",
           "snmp_get", "snmp_set", "wait_until"]


class SandboxError(RuntimeError):
    """A simulator could not be started or did not answer."""


def require_loopback(host: str) -> str:
    """Return ``host`` if it is a loopback address; raise otherwise (network-safety rule)."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise SandboxError(f"simulators bind to a loopback IP address only, not {host!r}") from None
    if not addr.is_loopback:
        raise SandboxError(f"simulators bind to loopback only (127.0.0.0/8, ::1), not {host}")
    return host


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port that was free a moment ago (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


# ------------------------------------------------------------------------------------ tiny SNMP client


def _exchange(host: str, port: int, message: bytes, timeout: float) -> bytes | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((host, port))
            s.send(message)
            data: bytes = s.recv(65535)
            return data
        except OSError:  # timeout, ICMP port unreachable (ConnectionRefusedError)
            return None


def _request(host: str, port: int, community: str, pdu_kind: str, varbinds: Sequence[tuple[str, object]],
             timeout: float, version: str) -> list[tuple[str, object]] | None:
    from pyasn1.codec.ber import decoder, encoder
    from pysnmp.proto import api

    p_mod = api.PROTOCOL_MODULES[api.SNMP_VERSION_1 if version == "1" else api.SNMP_VERSION_2C]
    pdu = p_mod.GetRequestPDU() if pdu_kind == "get" else p_mod.SetRequestPDU()
    p_mod.apiPDU.set_defaults(pdu)
    p_mod.apiPDU.set_request_id(pdu, random.randint(1, 2**31 - 1))
    p_mod.apiPDU.set_varbinds(pdu, [(oid, p_mod.Null("") if value is None else value) for oid, value in varbinds])
    msg = p_mod.Message()
    p_mod.apiMessage.set_defaults(msg)
    p_mod.apiMessage.set_community(msg, community)
    p_mod.apiMessage.set_pdu(msg, pdu)
    raw = _exchange(host, port, encoder.encode(msg), timeout)
    if raw is None:
        return None
    try:
        rsp, _ = decoder.decode(raw, asn1Spec=p_mod.Message())
        rsp_pdu = p_mod.apiMessage.get_pdu(rsp)
        if p_mod.apiPDU.get_request_id(rsp_pdu) != p_mod.apiPDU.get_request_id(pdu):
            return None
        if int(p_mod.apiPDU.get_error_status(rsp_pdu)):
            return None
        return [(str(o), v) for o, v in p_mod.apiPDU.get_varbinds(rsp_pdu)]
    except Exception:
        return None


def snmp_get(host: str, port: int, community: str, oid: str, *, timeout: float = 0.5,
             version: str = "2c") -> str | None:
    """One SNMP GET without any engine state; the value as text, or None (no answer, error, no such
    object). Used to probe simulators; not part of the monitor's polling path."""
    from pysnmp.proto import rfc1905

    result = _request(host, port, community, "get", [(oid, None)], timeout, version)
    if not result:
        return None
    value = result[0][1]
    if isinstance(value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView):
        return None
    if hasattr(value, "asOctets"):
        return bytes(value.asOctets()).decode("utf-8", "replace")
    return str(value.prettyPrint()) if hasattr(value, "prettyPrint") else str(value)


def snmp_set(host: str, port: int, community: str, oid: str, value: int | str | bytes, *,
             type_: str = "i", timeout: float = 1.0) -> bool:
    """One SNMP v2c SET (``type_``: ``i`` Integer, ``c`` Counter32, ``g`` Gauge32, ``t`` TimeTicks,
    ``s`` OctetString). True when the agent accepted it. For tests and the demo's scenario driver."""
    from pysnmp.proto import rfc1902

    kinds = {"i": rfc1902.Integer32, "c": rfc1902.Counter32, "g": rfc1902.Gauge32, "t": rfc1902.TimeTicks,
             "s": rfc1902.OctetString, "u": rfc1902.Unsigned32}
    if type_ not in kinds:
        raise ValueError(f"unknown SNMP type {type_!r}: use one of {', '.join(kinds)}")
    from pysnmp.proto import rfc1905

    result = _request(host, port, community, "set", [(oid, kinds[type_](value))], timeout, "2c")
    # snmpsim answers a SET on a read-only record with noSuchInstance and no error status
    if not result:
        return False
    return not isinstance(result[0][1], rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView)


# ------------------------------------------------------------------------------------ child processes


class ChildProcess:
    """A process this program started, stopped by its own PID (never by name)."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 log: Path | None = None) -> None:
        self.argv = list(argv)
        self.log = log
        out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - closed in stop()
        self._out = out
        try:
            self.proc = subprocess.Popen(self.argv, env=dict(env) if env is not None else None, cwd=cwd,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        except OSError as exc:
            self._close_log()
            raise SandboxError(f"cannot start {self.argv[0]}: {exc}") from exc

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        if self.log is None or not self.log.exists():
            return ""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; idempotent."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        self._close_log()

    def _close_log(self) -> None:
        if hasattr(self._out, "close"):
            with contextlib.suppress(OSError):
                self._out.close()


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate()`` until true or ``timeout`` seconds pass (bounded loop)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
