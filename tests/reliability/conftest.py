"""Shared pieces of the reliability tests (issue 9): the installed daemon as a subprocess stopped by its
PID, loopback TCP services a test switches on and off, read-only looks into the SQLite record, bounded
waits, and the long-variant switch.

**Long variants.** ``EKTP_LONG=1`` (or ``pytest --reliability-long`` when this folder is on the command
line) runs every test at the size the issue names (100 kills, 10,000 fuzz cases, a 10 s flood of 10,000
traps/s); the default sizes keep ``tests/reliability`` within a few minutes of CI.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

EXE = str(Path(sys.executable).with_name("ektp-monitor"))
ROOT = Path(__file__).resolve().parents[2]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--reliability-long", action="store_true", default=False,
                     help="run the long variants of tests/reliability (same as EKTP_LONG=1)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--reliability-long", default=False):
        os.environ["EKTP_LONG"] = "1"


def long_run() -> bool:
    return os.environ.get("EKTP_LONG", "") not in ("", "0")


def size(ci: int, long: int) -> int:
    """The CI size of a loop, or the issue's size in the long variant."""
    return long if long_run() else ci


def report(line: str) -> None:
    """A figure for the report: printed (``pytest -s``) and appended to ``$EKTP_FIGURES`` when set."""
    print(line)
    path = os.environ.get("EKTP_FIGURES")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line.rstrip("\n") + "\n")


# ------------------------------------------------------------------------------------------- waiting


def wait_until(pred: Callable[[], object], within: float, what: str, *, proc: Daemon | None = None,
               every: float = 0.1) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = pred()
        if value:
            return value
        if proc is not None and not proc.alive():
            raise AssertionError(f"{what}: the monitor exited ({proc.returncode})\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}"
                                 + (f"\n{proc.tail()}" if proc is not None else ""))
        time.sleep(every)


async def await_until(pred: Callable[[], object], within: float, what: str, *, proc: Daemon | None = None,
                      every: float = 0.1) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = pred()
        if value:
            return value
        if proc is not None and not proc.alive():
            raise AssertionError(f"{what}: the monitor exited ({proc.returncode})\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}"
                                 + (f"\n{proc.tail()}" if proc is not None else ""))
        await asyncio.sleep(every)


# ------------------------------------------------------------------------------------------ database


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read the daemon's SQLite record beside it (WAL: readers never block the writer)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------- daemon


class Daemon:
    """``ektp-monitor run -c CONFIG`` as a child process, stopped (or killed) by its PID only."""

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.config, self.log = config, log
        self.env = dict(os.environ, **(env or {}))
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts: list[float] = []

    def start(self) -> Daemon:
        out = self.log.open("ab")
        try:
            self.proc = subprocess.Popen([EXE, "run", "-c", str(self.config)], stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env)
        finally:
            out.close()
        self.starts.append(time.time())
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill9(self) -> float:
        """SIGKILL; returns the wall time of the kill."""
        assert self.proc is not None
        t = time.time()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(15)
        return t

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM and wait; SIGKILL when it does not stop. Returns the exit code (None: it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)
            return None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, n: int = 4000) -> str:
        return self.text()[-n:]


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Every daemon a test registers here is stopped afterwards (also when the test fails)."""
    started: list[Daemon] = []
    yield started
    for d in started:
        d.stop(10)


def upgrade(config: Path, env: dict[str, str] | None = None) -> None:
    r = subprocess.run([EXE, "db", "upgrade", "-c", str(config)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **(env or {})))
    assert r.returncode == 0, r.stderr


def write(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    path.chmod(0o600)
    return path


# -------------------------------------------------------------------------------------- TCP services


class TcpService:
    """A loopback TCP listener the test switches off (connection refused: the service is down) and on.

    The port is chosen once (bound to 0) and reused; a background thread accepts and closes connections."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        probe = socket.socket()
        probe.bind((host, 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self.up()

    @property
    def is_up(self) -> bool:
        return self._sock is not None

    def up(self) -> None:
        with self._lock:
            if self._sock is not None:
                return
            deadline = time.monotonic() + 10
            while True:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((self.host, self.port))
                    break
                except OSError:
                    s.close()
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            s.listen(64)
            s.settimeout(0.2)
            self._sock = s
            threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            s, self._sock = self._sock, None
        if s is not None:
            s.close()

    def _accept(self, s: socket.socket) -> None:
        while self._sock is s:
            try:
                conn, _ = s.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()


@pytest.fixture
def tcp_services() -> Iterator[Callable[[], TcpService]]:
    made: list[TcpService] = []

    def make() -> TcpService:
        svc = TcpService()
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.down()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs the test mounts and removes (root only): a disk that can really fill up."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mnt)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# ------------------------------------------------------------------------------------ trap floods vs polling


@dataclass
class FloodOffice:
    """An office for trap-flood tests: three servers and a UPS polled over TCP every ``interval``, a trap port."""

    cfg: Path
    db: Path
    services: list[TcpService]
    trap_port: int
    interval: float


def flood_office(tmp_path: Path, interval: float = 0.5) -> FloodOffice:
    services = [TcpService() for _ in range(3)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        trap_port = int(probe.getsockname()[1])
    devices = "".join(f"""
              - {{id: srv-{i}, name: "Server {i}", kind: recording_server, address: 127.0.0.1,
                  checks: [{{type: tcp, port: {svc.port}}}]}}""" for i, svc in enumerate(services, 1))
    cfg = write(tmp_path / "office.yaml", f"""
        database: {{url: "sqlite:///{tmp_path}/monitor.db"}}
        telegram: {{enabled: false}}
        defaults: {{interval: {interval}s, timeout: 300ms, retries: 0, confirm_down: 2, confirm_up: 2}}
        monitor: {{heartbeat_interval: 1s, jitter: 100ms}}
        traps: {{enabled: true, listen: "127.0.0.1:{trap_port}", communities: ["flood-community"]}}
        sites:
          - id: kantor
            name: "Kantor Uji"
            devices:{devices}
              - {{id: ups, name: "UPS", kind: ups, address: 127.0.0.1,
                  checks: [{{type: tcp, port: {services[0].port}}}]}}
        """)
    upgrade(cfg)
    return FloodOffice(cfg, tmp_path / "monitor.db", services, trap_port, interval)


def poll_lateness(db: Path, keys: Sequence[str], start: float, end: float, interval: float) -> list[float]:
    """Sorted gaps between consecutive check ticks (``check_samples.time``) minus ``interval``, for the
    devices ``keys`` between the wall times ``start`` and ``end``; every device polled at least 80 % of the
    time."""
    lateness: list[float] = []
    for key in keys:
        times = [datetime.fromisoformat(t).replace(tzinfo=UTC).timestamp() for (t,) in query(
            db, "SELECT s.time FROM check_samples s JOIN devices d ON d.id = s.device_id WHERE d.key = ? "
                "ORDER BY s.time", key)]
        during = [t for t in times if start - interval <= t <= end + interval]
        assert len(during) >= (end - start) / interval * 0.8, (key, len(during))
        lateness += [b - a - interval for a, b in pairwise(during)]
    return sorted(lateness)
