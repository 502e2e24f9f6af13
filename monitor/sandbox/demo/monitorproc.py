"""The real monitor, as a subprocess: ``ektp-monitor db upgrade``, ``run``, ``report``, ``outages``.

The demo runs exactly what an office runs (the installed ``ektp-monitor`` command with ``config/demo.yaml``);
it never calls the monitor's internals. The daemon's output goes to ``monitor.log`` in the demo's folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from monitor.sandbox import SandboxError

__all__ = ["MonitorProcess", "ektp_monitor_argv"]


def ektp_monitor_argv() -> list[str]:
    """The installed ``ektp-monitor`` console script next to this Python (else on PATH, else ``-m``)."""
    here = Path(sys.executable).with_name("ektp-monitor")
    if here.exists():
        return [str(here)]
    found = shutil.which("ektp-monitor")
    return [found] if found else [sys.executable, "-m", "monitor.cli"]


class MonitorProcess:
    """``ektp-monitor run -c CONFIG`` started, SIGKILLed, restarted and stopped by its PID."""

    def __init__(self, config: Path, env: Mapping[str, str], log: Path) -> None:
        self.config = config
        self.env = {**os.environ, **env}
        self.log = log
        self.argv = ektp_monitor_argv()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def cli(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Run ``ektp-monitor ARGS -c CONFIG`` once and return its result (killed on timeout or Ctrl-C)."""
        return subprocess.run([*self.argv, *args, "-c", str(self.config)], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)

    def command_line(self, *args: str) -> str:
        """The shell form of ``ektp-monitor ARGS -c CONFIG`` (for the printed instructions)."""
        return " ".join(["ektp-monitor", *args, "-c", str(self.config)])

    def upgrade(self) -> None:
        result = self.cli("db", "upgrade", timeout=120)
        if result.returncode != 0:
            raise SandboxError(f"ektp-monitor db upgrade failed ({result.returncode}):\n{result.stderr[-2000:]}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def start(self) -> None:
        if self.alive():
            return
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([*self.argv, "run", "-c", str(self.config)], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1

    def kill9(self) -> None:
        """SIGKILL: no clean shutdown, no last heartbeat, exactly like the monitor PC losing power."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (a clean stop), SIGKILL after ``timeout``; the exit code (None when it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def split_paths(output: str) -> Sequence[Path]:
    """The file paths ``ektp-monitor report`` printed (one per line)."""
    return [Path(line.strip()) for line in output.splitlines() if line.strip().startswith("/")]
