"""``ektp-monitor hub serve -c HUB.yaml``: the ingest on uvicorn, plus the hub's background parts.

Start-up refuses to serve on a database whose schema is not the code's, or whose ingest role would bypass
row-level security; it then syncs the offices and their sites from HUB.yaml into the database (the rules
RLS checks). SIGTERM/SIGINT stop it cleanly (exit 0); SIGHUP re-reads HUB.yaml and takes the new offices
and tokens without a restart (a broken file is refused and the running rules kept).

``components`` are :class:`monitor.lifecycle.Component` s started before the server listens and stopped
after it closed: the place for the hub's scheduled work (silent offices, the national weekly report —
issue 15 part B). ``routes`` are extra Starlette routes (the Ministry's board, issue 16).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Generator, Sequence
from typing import Any

import uvicorn
from starlette.routing import BaseRoute

from monitor.clock import Clock, SystemClock
from monitor.errors import ConfigError
from monitor.hub import db as hubdb
from monitor.hub.app import build_app
from monitor.hub.config import HubConfig, load_hub_config
from monitor.hub.ingest import Ingest
from monitor.lifecycle import Component

log = logging.getLogger("monitor.hub.serve")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: it would re-raise SIGTERM after shutting down (the process
    would die by the signal instead of exiting 0 after our parts stopped). :class:`HubServer` handles them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HubServer:
    """The running hub (see the module docstring). ``await run()`` until a signal."""

    def __init__(self, config: HubConfig, *, config_path: str | None = None, clock: Clock | None = None,
                 components: Sequence[Component] = (), routes: Sequence[BaseRoute] = (),
                 loader: Callable[[str], HubConfig] = load_hub_config) -> None:
        self.config = config
        self.config_path = config_path
        self.clock: Clock = clock or SystemClock()
        self.components = list(components)
        self.loader = loader
        self.engine = hubdb.engine_for(config)
        self.ingest = Ingest(config, self.engine, clock=self.clock)
        self.app = build_app(self.ingest, routes=routes)
        self.server: _Server | None = None

    def prepare(self) -> None:
        """Checks and office sync before listening (synchronous; raises a MonitorError to refuse)."""
        hubdb.require_current_schema(self.engine, self.config_path or "HUB.yaml")
        hubdb.check_ingest_role(self.engine, self.config.database.ingest_role)
        hubdb.sync_offices(self.engine, self.config, self.clock.now())

    def _uvicorn_config(self) -> uvicorn.Config:
        host, port = self.config.address
        kwargs: dict[str, Any] = {}
        if self.config.tls is not None:
            kwargs.update(ssl_certfile=self.config.tls.cert_file, ssl_keyfile=self.config.tls.key_file)
        return uvicorn.Config(self.app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
                              proxy_headers=self.config.behind_proxy,
                              forwarded_allow_ips=list(self.config.forwarded_allow_ips),
                              timeout_graceful_shutdown=10, server_header=False, **kwargs)

    async def reload(self) -> bool:
        """SIGHUP: re-read HUB.yaml; take the new offices and tokens only when the file is valid."""
        if not self.config_path:
            return False
        try:
            new = await asyncio.to_thread(self.loader, self.config_path)
            await asyncio.to_thread(hubdb.sync_offices, self.engine, new, self.clock.now())
        except ConfigError as exc:
            log.error("HUB.yaml reload refused, still running on the previous rules:\n%s", exc)
            return False
        except Exception as exc:
            log.error("HUB.yaml reload refused, still running on the previous rules: %s", exc)
            return False
        self.config = new
        self.ingest.reload(new)
        log.info("HUB.yaml reloaded: %d offices, %d sites", len(new.offices), sum(len(o.sites) for o in new.offices))
        return True

    def request_stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True

    async def run(self) -> int:
        await asyncio.to_thread(self.prepare)
        self.server = _Server(self._uvicorn_config())
        loop = asyncio.get_running_loop()
        started: list[Component] = []
        installed = []
        for sig, handler in ((signal.SIGTERM, self.request_stop), (signal.SIGINT, self.request_stop),
                             (signal.SIGHUP, lambda: loop.create_task(self.reload()))):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, handler)
                installed.append(sig)
        try:
            for c in self.components:
                await c.start()
                started.append(c)
            host, port = self.config.address
            log.info("hub listening on %s://%s:%d (%d offices)", "https" if self.config.tls else "http", host, port,
                     len(self.config.offices))
            await self.server.serve()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            while started:
                c = started.pop()
                try:
                    await c.stop()
                except Exception as exc:
                    log.error("stopping %s: %s", getattr(c, "name", c), exc)
            self.engine.dispose()
        return 0 if self.server.started else 1
