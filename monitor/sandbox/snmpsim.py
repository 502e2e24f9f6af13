"""snmpsim on loopback: serve ``.snmprec`` recordings, one SNMP community (or v3 context) per file.

Usage (tests, the demo, benchmarks)::

    data = tmp / "data"
    make_recording(data, "ups01", base=RECORDINGS / "deltaups.snmprec",
                   writable={"1.3.6.1.2.1.33.1.4.1.0": "wc01"})        # upsOutputSource, SET-able
    with SnmpsimAgent(data, writecache=["wc01"]) as sim:
        sim.port                                                      # the free port it chose
        sim.set("ups01", "1.3.6.1.2.1.33.1.4.1.0", 5)                  # on battery

Pitfalls handled here (library-findings §2a): ``SNMPSIM_ALLOW_ROOT=true`` when run as root; writecache
state is per OID per process, so each device's writable values use their own alias
(``--variation-module-options=writecache=wc01:`` — the trailing ``:`` is required); a second snmpsim on a
taken port still "listens", so start-up is proven with a GET of a token only this instance serves,
retried on a fresh port if it never answers. Stopped by PID.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

from monitor.sandbox import (
    ChildProcess,
    SandboxError,
    free_udp_port,
    require_loopback,
    snmp_get,
    snmp_set,
    wait_until,
)

__all__ = ["SnmpsimAgent", "V3User", "make_recording", "oid_key", "write_snmprec"]

_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
_PROBE_OID = "1.3.6.1.2.1.1.1.0"


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 user snmpsim accepts; the v3 context name selects the recording file."""

    user: str
    auth_key: str | None = None
    auth_proto: str = "SHA"          # MD5, SHA, SHA224, SHA256, SHA384, SHA512, NONE
    priv_key: str | None = None
    priv_proto: str = "AES"          # DES, 3DES, AES, AES128, AES192, AES256, NONE


def oid_key(oid: str) -> tuple[int, ...]:
    """Numeric sort key of a dotted OID."""
    return tuple(int(p) for p in oid.strip(".").split(".") if p)


def write_snmprec(path: Path, records: Iterable[tuple[str, str, str | int]]) -> Path:
    """Write ``(oid, tag, value)`` records in ascending OID order (snmpsim needs the order)."""
    lines = sorted(((o.strip("."), str(t), str(v)) for o, t, v in records), key=lambda r: oid_key(r[0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{o}|{t}|{v}\n" for o, t, v in lines), encoding="utf-8")
    return path


def make_recording(data_dir: Path, name: str, *, base: Path | None = None,
                   values: Mapping[str, tuple[str, str | int]] | None = None,
                   writable: Mapping[str, str] | None = None,
                   drop: Iterable[str] = ()) -> Path:
    """Write ``data_dir/<name>.snmprec`` (community ``name``) from an optional ``base`` recording.

    ``values`` sets or adds records (``oid -> (tag, value)``); ``writable`` makes records SET-able
    through a writecache alias (``oid -> alias``; the record must exist in ``base`` or ``values``);
    ``drop`` removes records. The base file is never modified.
    """
    records: dict[str, tuple[str, str]] = {}
    if base is not None:
        for line in base.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("|", 2)
            if len(parts) == 3 and parts[0]:
                records[parts[0].strip(".")] = (parts[1], parts[2])
    for oid, (tag, value) in (values or {}).items():
        records[oid.strip(".")] = (str(tag), str(value))
    for oid in drop:
        records.pop(oid.strip("."), None)
    for oid, alias in (writable or {}).items():
        oid = oid.strip(".")
        if not _ALIAS.match(alias):
            raise ValueError(f"writecache alias {alias!r}: use letters, digits and _")
        if oid not in records:
            raise KeyError(f"{oid} is not in the recording {name!r}; give it in values=")
        tag, value = records[oid]
        base_tag = tag.split(":", 1)[0]
        if base_tag.endswith("x"):
            raise ValueError(f"{oid}: hex-encoded values cannot be made writable")
        if value.startswith("value="):
            value = value[len("value="):]
        records[oid] = (f"{base_tag}:{alias}", f"value={value}")
    return write_snmprec(data_dir / f"{name}.snmprec", ((o, t, v) for o, (t, v) in records.items()))


def _responder() -> str:
    here = Path(sys.executable).parent / "snmpsim-command-responder"
    if here.exists():
        return str(here)
    found = shutil.which("snmpsim-command-responder")
    if not found:
        raise SandboxError("snmpsim-command-responder not found: pip install 'ektp-monitor[demo]' "
                           "(snmpsim 1.2.2 and pysmi), or run scripts/demo")
    return found


class SnmpsimAgent:
    """One snmpsim process on ``host`` (loopback) serving every ``*.snmprec`` in ``data_dirs``."""

    def __init__(self, data_dirs: Path | Sequence[Path], *, host: str = "127.0.0.1", port: int | None = None,
                 writecache: Sequence[str] = (), v3_users: Sequence[V3User] = (),
                 work_dir: Path | None = None, startup_timeout: float = 30.0, attempts: int = 3) -> None:
        self.data_dirs = [Path(data_dirs)] if isinstance(data_dirs, str | Path) else [Path(d) for d in data_dirs]
        self.host = require_loopback(host)
        self._fixed_port = port
        self.port = port or 0
        for alias in writecache:
            if not _ALIAS.match(alias):
                raise ValueError(f"writecache alias {alias!r}: use letters, digits and _")
        self.writecache = list(dict.fromkeys(writecache))
        self.v3_users = list(v3_users)
        self.startup_timeout = startup_timeout
        self.attempts = max(1, attempts)
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="ektp-snmpsim-"))
        self._token = "probe-" + secrets.token_hex(8)
        self._proc: ChildProcess | None = None

    # -- lifecycle
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.host, self.port

    def start(self) -> SnmpsimAgent:
        """Start and wait until it serves; raises :class:`SandboxError` with the log tail otherwise."""
        if self._proc is not None:
            return self
        for d in self.data_dirs:
            if not d.is_dir():
                raise SandboxError(f"snmpsim data folder {d} does not exist")
        probe_dir = self.work_dir / "probe"
        write_snmprec(probe_dir / f"{self._token}.snmprec", [(_PROBE_OID, "4", self._token)])
        (self.work_dir / "cache").mkdir(parents=True, exist_ok=True)
        last = ""
        for attempt in range(self.attempts):
            self.port = self._fixed_port or free_udp_port(self.host)
            proc = ChildProcess(self._argv(probe_dir), env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
                                cwd=self.work_dir, log=self.work_dir / f"snmpsim-{attempt}.log")
            if wait_until(partial(self._ready, proc), self.startup_timeout, 0.2) and proc.alive():
                self._proc = proc
                return self
            last = proc.log_tail()
            proc.stop()
            if self._fixed_port:
                break
        raise SandboxError(f"snmpsim did not answer on {self.host}:{self.port}:\n{last}")

    def _argv(self, probe_dir: Path) -> list[str]:
        argv = [_responder(), f"--cache-dir={self.work_dir / 'cache'}",
                f"--agent-udpv4-endpoint={self.host}:{self.port}",
                f"--logging-method=file:{self.work_dir / 'snmpsim.log'}", "--log-level=error"]
        argv += [f"--data-dir={d.resolve()}" for d in [*self.data_dirs, probe_dir]]
        argv += [f"--variation-module-options=writecache={alias}:" for alias in self.writecache]
        for u in self.v3_users:
            argv += [f"--v3-user={u.user}"]
            if u.auth_key:
                argv += [f"--v3-auth-key={u.auth_key}", f"--v3-auth-proto={u.auth_proto}"]
                if u.priv_key:
                    argv += [f"--v3-priv-key={u.priv_key}", f"--v3-priv-proto={u.priv_proto}"]
                else:
                    argv += ["--v3-priv-proto=NONE"]
            else:
                argv += ["--v3-auth-proto=NONE", "--v3-priv-proto=NONE"]
        return argv

    def _ready(self, proc: ChildProcess) -> bool:
        return not proc.alive() or self._answers()

    def _answers(self) -> bool:
        return snmp_get(self.host, self.port, self._token, _PROBE_OID, timeout=0.3) == self._token

    def stop(self) -> None:
        """Stop the process by PID and remove its temporary folder (idempotent)."""
        if self._proc is not None:
            self._proc.stop()
            self._proc = None
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.alive() and self._answers()

    # -- conveniences for tests and the demo driver
    def get(self, community: str, oid: str) -> str | None:
        return snmp_get(self.host, self.port, community, oid, timeout=1.0)

    def set(self, community: str, oid: str, value: int | str, type_: str = "i") -> None:
        """SNMP SET on a writecache record; raises if the agent refused it."""
        if not snmp_set(self.host, self.port, community, oid, value, type_=type_):
            raise SandboxError(f"snmpsim refused SET {oid} = {value!r} for {community!r} "
                               "(is the record writecache-enabled?)")

    # -- context managers
    def __enter__(self) -> SnmpsimAgent:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> SnmpsimAgent:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)
