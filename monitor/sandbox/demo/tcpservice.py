"""A tiny TCP service on a loopback address that can be switched off and on again on the same port.

The demo uses two: the e-KTP recording application on the recording server (the monitor's ``tcp`` check of
``rec-srv-1``) and the Ministry's data center as reached over the VPN (``dc-pusat``). Off means the port is
closed (connection refused), exactly what a stopped service or a dead link looks like to a TCP check.
It runs in a thread of the demo process, so there is no extra process to clean up.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from monitor.sandbox import SandboxError, require_loopback

__all__ = ["TcpService"]


class TcpService:
    """Accepts connections on ``host:port`` (answers ``banner`` and closes) while on."""

    def __init__(self, name: str, host: str, port: int = 0, banner: bytes = b"") -> None:
        self.name = name
        self.host = require_loopback(host)
        self.port = port
        self.banner = banner
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._sock is not None

    def start(self) -> TcpService:
        """Listen (on the same port as before once a port was chosen); idempotent."""
        with self._lock:
            if self._sock is not None:
                return self
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.port))
            except OSError as exc:
                sock.close()
                raise SandboxError(f"{self.name}: cannot listen on {self.host}:{self.port}: {exc}") from exc
            sock.listen(64)
            sock.settimeout(0.2)
            self.port = sock.getsockname()[1]
            self._sock = sock
            self._thread = threading.Thread(target=self._serve, args=(sock,), name=f"tcp-{self.name}", daemon=True)
            self._thread.start()
            return self

    def stop(self) -> None:
        """Close the listening socket (new connections are refused); idempotent."""
        with self._lock:
            sock, self._sock = self._sock, None
            thread, self._thread = self._thread, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        if thread is not None:
            thread.join(2.0)

    def _serve(self, sock: socket.socket) -> None:
        while self._sock is sock:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with contextlib.suppress(OSError), conn:
                if self.banner:
                    conn.sendall(self.banner)
