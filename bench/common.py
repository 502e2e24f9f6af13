"""Shared pieces of the benchmarks: result rows, CPU and memory measurement, the machine description,
loopback SNMP agents for thousands of devices, and the two-namespace ping lab.

Network safety: everything here talks to 127.0.0.0/8 or to namespaces it creates (198.18.0.0/15 inside
them, the pinging side in its own namespace with no route out — library-findings §4). Namespaces are
always deleted, also on Ctrl-C or SIGTERM. Processes are stopped by the PID we started.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import resource
import secrets
import signal
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PROFILES = BENCH / "profiles"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The 6 UPS-MIB values a poll reads (library-findings §1), with the values the loopback agents serve.
UPS6 = {
    "upsOutputSource": ("1.3.6.1.2.1.33.1.4.1.0", "integer", 3),
    "upsBatteryStatus": ("1.3.6.1.2.1.33.1.2.1.0", "integer", 2),
    "upsEstimatedChargeRemaining": ("1.3.6.1.2.1.33.1.2.4.0", "integer", 100),
    "upsEstimatedMinutesRemaining": ("1.3.6.1.2.1.33.1.2.3.0", "integer", 45),
    "upsInputLineBads": ("1.3.6.1.2.1.33.1.3.1.0", "counter", 0),
    "sysUpTime": ("1.3.6.1.2.1.1.3.0", None, None),
}
# what the full RFC 1628 profile (checks/profiles/ups-rfc1628.yaml) also reads, so devices look healthy
UPS_EXTRA = [
    ("1.3.6.1.2.1.33.1.3.3.1.3.1", "integer", 225),    # input voltage
    ("1.3.6.1.2.1.33.1.3.3.1.2.1", "integer", 500),    # input frequency (0.1 Hz)
    ("1.3.6.1.2.1.33.1.4.4.1.2.1", "integer", 225),    # output voltage
    ("1.3.6.1.2.1.33.1.4.4.1.5.1", "integer", 35),     # output load %
    ("1.3.6.1.2.1.33.1.2.2.0", "integer", 0),          # seconds on battery
    ("1.3.6.1.2.1.33.1.2.5.0", "integer", 270),        # battery voltage (0.1 V)
    ("1.3.6.1.2.1.33.1.2.7.0", "integer", 28),         # battery temperature
    ("1.3.6.1.2.1.33.1.6.1.0", "uinteger", 0),         # alarms present
    ("1.3.6.1.2.1.33.1.1.1.0", "octet_str", "Bench UPS"),
    ("1.3.6.1.2.1.33.1.1.2.0", "octet_str", "BX-1500"),
]


# ---------------------------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One line of the results table."""

    bench: str
    metric: str
    ours: float | None
    unit: str = ""
    peer: str = ""                 # the peer's name
    peer_value: float | None = None
    ratio: float | None = None     # ours vs peer, "higher is better" already applied (>1 = we win)
    target: str = ""
    ok: bool | None = None         # target met? None = no target on this row
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Outcome:
    """What one benchmark returns: rows plus free text (profiles, details) for the results file."""

    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, *args: Any, **kw: Any) -> Row:
        row = Row(self.name, *args, **kw)
        self.rows.append(row)
        return row

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "rows": [r.to_json() for r in self.rows], "notes": self.notes,
                "details": self.details}


def ratio_higher(ours: float | None, peer: float | None) -> float | None:
    """Ratio for "more is better" figures (polls/s)."""
    if ours is None or not peer:
        return None
    return ours / peer


def ratio_lower(ours: float | None, peer: float | None) -> float | None:
    """Ratio for "less is better" figures (CPU ms): peer / ours, so > 1 means we use less."""
    if not ours or peer is None:
        return None
    return peer / ours


def med(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


# ------------------------------------------------------------------------------------------ measurement


def cpu_self() -> float:
    """CPU seconds (user + system) of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children() -> float:
    """CPU seconds of waited-for children."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a running process (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / ticks


def rss_of(pid: int) -> int:
    """Resident set size in bytes of a running process."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def peak_rss_self() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    return {"cpu": model, "cores": os.cpu_count(), "memory_mb": mem, "kernel": platform.release(),
            "python": platform.python_version(), "os": _os_name()}


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.system()


def tool_version(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "?"


# ------------------------------------------------------------------------------------------ SNMP agents


def device_hosts(n: int, second: int = 1) -> list[str]:
    """``n`` loopback addresses 127.<second>.x.y (250 per /24), all routed to ``lo`` already."""
    if n > 250 * 256:
        raise ValueError("at most 64,000 loopback devices")
    return [f"127.{second}.{i // 250}.{1 + i % 250}" for i in range(n)]


class SnmpdFleet:
    """Debian snmpd serving ``hosts`` (loopback), as few processes as the kernel's argument limit allows
    (one comma-separated endpoint argument each — library-findings §2b — at most 4,000 endpoints per
    process). ``port_of[host]`` says where a host is served. Every host serves the same UPS values."""

    PER_AGENT = 4000

    def __init__(self, hosts: Sequence[str], *, community: str = "public", full_ups: bool = True,
                 work_dir: Path | None = None) -> None:
        from monitor.sandbox.snmpd import Override, SnmpdAgent

        overrides = [Override(oid, kind, value) for oid, kind, value in UPS6.values() if kind is not None]
        if full_ups:
            overrides += [Override(oid, kind, value) for oid, kind, value in UPS_EXTRA]
        self.community = community
        self.agents: list[Any] = []
        self.port_of: dict[str, int] = {}
        chunks = [list(hosts[i:i + self.PER_AGENT]) for i in range(0, len(hosts), self.PER_AGENT)]
        for n, chunk in enumerate(chunks):
            agent = SnmpdAgent(communities=[community], hosts=chunk, overrides=overrides, startup_timeout=60,
                               work_dir=(work_dir / f"snmpd{n}") if work_dir else None)
            self.agents.append(agent)

    def start(self) -> SnmpdFleet:
        try:
            for agent in self.agents:
                agent.start()
                for h in agent.hosts:
                    self.port_of[h] = agent.port
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for agent in self.agents:
            with contextlib.suppress(Exception):
                agent.stop()

    @property
    def pids(self) -> list[int]:
        return [a.pid for a in self.agents if a.pid]

    def cpu(self) -> float:
        total = 0.0
        for pid in self.pids:
            with contextlib.suppress(OSError):
                total += cpu_of(pid)
        return total

    def __enter__(self) -> SnmpdFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------------------------------ namespaces


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt inside the block, so ``finally`` clean-ups run."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class PingLab:
    """Two namespaces joined by a veth pair (library-findings §4): ``mon`` (the pinging side: 198.19.255.1,
    no default route, only 198.18.0.0/16 via the device side) and ``dev`` (198.19.255.2, which answers
    for every address of ``live`` — 198.18.0.0/18 as a local route — and silently drops the rest, since it
    does not forward). Addresses in 198.18.64.0/18 are therefore silent hosts. Deleted on exit, always."""

    LIVE = "198.18.0.0/18"
    SILENT = "198.18.64.0/18"

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.mon = f"ektpb-mon-{tag}"
        self.dev = f"ektpb-dev-{tag}"
        self.veth_mon = f"ebm{tag}"
        self.veth_dev = f"ebd{tag}"
        self._created: list[str] = []

    def _ip(self, *argv: str) -> None:
        subprocess.run(["ip", *argv], check=True, timeout=20, capture_output=True)

    def __enter__(self) -> PingLab:
        try:
            for ns in (self.mon, self.dev):
                self._ip("netns", "add", ns)
                self._created.append(ns)
            self._ip("link", "add", self.veth_mon, "type", "veth", "peer", "name", self.veth_dev)
            self._ip("link", "set", self.veth_mon, "netns", self.mon)
            self._ip("link", "set", self.veth_dev, "netns", self.dev)
            self._ip("-n", self.mon, "addr", "add", "198.19.255.1/30", "dev", self.veth_mon)
            self._ip("-n", self.dev, "addr", "add", "198.19.255.2/30", "dev", self.veth_dev)
            for ns, dev in ((self.mon, self.veth_mon), (self.dev, self.veth_dev)):
                self._ip("-n", ns, "link", "set", "lo", "up")
                self._ip("-n", ns, "link", "set", dev, "up")
            self._ip("-n", self.mon, "route", "add", "198.18.0.0/16", "via", "198.19.255.2")
            self._ip("-n", self.dev, "route", "add", "local", self.LIVE, "dev", "lo")
            # datagram ICMP sockets inside our own namespace only (the host's setting is untouched)
            self.exec(self.mon, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
            route = subprocess.run(["ip", "-n", self.mon, "route", "get", "8.8.8.8"], capture_output=True, text=True)
            if route.returncode == 0:
                raise RuntimeError("the monitor namespace has a route out; refusing to run")
        except BaseException:
            self.close()
            raise
        return self

    def exec(self, ns: str, *argv: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout,
                              check=check)

    def close(self) -> None:
        for ns in reversed(self._created):   # deleting the namespaces deletes the veth pair
            subprocess.run(["ip", "netns", "del", ns], check=False, timeout=20, capture_output=True)
        self._created.clear()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def targets(alive: int, silent: int) -> list[str]:
        import ipaddress

        live = ipaddress.ip_network(PingLab.LIVE)
        dead = ipaddress.ip_network(PingLab.SILENT)
        return ([str(live.network_address + 1 + i) for i in range(alive)]
                + [str(dead.network_address + 1 + i) for i in range(silent)])


# ------------------------------------------------------------------------------------------ subprocesses


def run_json(argv: Sequence[str], *, timeout: float, env: dict[str, str] | None = None,
             cwd: Path = ROOT) -> Any:
    """Run a child that prints one JSON document as its last stdout line; return it (bounded in time)."""
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)})
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise RuntimeError(f"{argv[0]} {' '.join(argv[1:4])} … did not finish within {timeout:.0f}s:\n"
                           f"{err[-2000:]}") from None
    except BaseException:
        proc.terminate()
        with contextlib.suppress(Exception):
            proc.wait(10)
        raise
    lines = [ln for ln in out.strip().splitlines() if ln.startswith("{") or ln.startswith("[")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(argv[:4])} … failed (exit {proc.returncode}):\n{err[-3000:]}")
    return json.loads(lines[-1])


def python() -> str:
    return sys.executable


def stop_process(proc: subprocess.Popen[Any], grace: float) -> None:
    """End a process this benchmark started, by its PID: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def bot_api_server(work: Path, *args: str) -> Iterator[dict[str, Any]]:
    """The loopback Telegram Bot API server (``python -m monitor.sandbox.telegram_api``) as a child process;
    yields what it wrote to its port file (``url``, ``control_url``, …) and stops it on exit."""
    port_file = work / "tg.json"
    proc = subprocess.Popen([sys.executable, "-m", "monitor.sandbox.telegram_api", "--port-file", str(port_file),
                             *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local Bot API server did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        yield json.loads(port_file.read_text())
    finally:
        stop_process(proc, 10)


# ------------------------------------------------------------------------------------------- small helpers


class ClosingListener(socketserver.ThreadingTCPServer):
    """A loopback TCP service that accepts and closes at once (a "service port" a check finds open); shut it
    down to make the port refuse connections."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _CloseHandler)

    def serve_in_thread(self) -> ClosingListener:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


class _CloseHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.close()


def pct(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of sorted ``values`` (nearest rank); None when empty."""
    return values[max(0, min(len(values), math.ceil(q * len(values))) - 1)] if values else None


def start_daemon(cfg: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``db upgrade`` then ``run`` for ``cfg`` (``python -m monitor.cli``), its output in ``log``; stop it with
    :func:`stop_process` by the returned process."""
    subprocess.run([sys.executable, "-m", "monitor.cli", "db", "upgrade", "-c", str(cfg)], check=True,
                   capture_output=True, timeout=120, env=env, cwd=ROOT)
    with open(log, "wb") as f:
        return subprocess.Popen([sys.executable, "-m", "monitor.cli", "run", "-c", str(cfg)], stdout=f,
                                stderr=subprocess.STDOUT, env=env, cwd=ROOT)
